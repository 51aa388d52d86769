"""The book builds with warnings as errors, and shows no solution code and no hidden test."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import notebooks, paths
from course import release

ROOT = paths.course_root()


@pytest.fixture(scope="module")
def html():
    exe = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(exe), "build", str(ROOT), "-W", "--keep-going"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = ROOT / "_build" / "html"
    assert (out / "index.html").is_file()
    return {p: p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()
            and p.suffix in (".html", ".txt", ".ipynb", ".js", ".json", ".md")}


def secret_lines(chapter: str) -> set[str]:
    """Lines of solution code and hidden tests that the released notebook does not contain."""
    nb = notebooks.read_notebook(paths.solutions_notebook(chapter))
    released = "\n".join(notebooks.source(c) for c in notebooks.read_notebook(
        paths.release_notebook(chapter))["cells"])
    lines = set()
    for cell in notebooks.code_cells(nb):
        src = notebooks.source(cell)
        for block in re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END", src, re.S):
            lines |= {ln.strip() for ln in block[1].splitlines()
                      if len(ln.strip()) >= 16 and ln.strip() not in released}
    return lines


def test_every_chapter_has_a_page(html):
    for chapter in release.chapters():
        page = ROOT / "_build" / "html" / "chapters" / chapter / f"{chapter}.html"
        assert page in html, f"{chapter} is not in the book (_toc.yml)"
        assert "<img" in html[page] or "<svg" in html[page] or "data:image" in html[page], \
            f"{chapter}'s page shows no figure"


def test_no_solution_code_or_hidden_test_in_the_book(html):
    import html as htmllib
    text = "\n".join(htmllib.unescape(re.sub(r"<[^>]+>", "", t)) for t in html.values())
    for chapter in release.chapters():
        lines = secret_lines(chapter)
        assert lines, f"{chapter}: found no solution lines to look for"
        leaked = [ln for ln in lines if ln in text]
        assert not leaked, f"{chapter}: solution or hidden-test lines in _build/html: {leaked[:3]}"
    assert "autograder.inline" not in text


def test_instructor_guide_and_intro_are_pages(html):
    assert ROOT / "_build/html/book/instructor_guide.html" in html
    assert ROOT / "_build/html/book/intro.html" in html
