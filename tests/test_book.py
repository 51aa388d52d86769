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


def secret_blocks(chapter: str) -> list[list[str]]:
    """Per solution or hidden-test block, its distinctive lines (not in the released notebook)."""
    nb = notebooks.read_notebook(paths.solutions_notebook(chapter))
    released = "\n".join(notebooks.source(c) for c in notebooks.read_notebook(
        paths.release_notebook(chapter))["cells"])
    blocks = []
    for cell in notebooks.code_cells(nb):
        for _, body in re.findall(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END", notebooks.source(cell), re.S):
            lines = sorted({ln.strip() for ln in body.splitlines()
                            if len(ln.strip()) >= 16 and ln.strip() not in released})
            if lines:
                blocks.append(lines)
    return blocks


def leaked(block: list[str], text: str) -> bool:
    """A block leaks when most of its lines appear (one generic line is not a leak)."""
    found = [ln for ln in block if ln in text]
    if len(block) == 1:
        return bool(found) and len(block[0]) >= 30
    return len(found) >= 2 and 2 * len(found) >= len(block)


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
        blocks = secret_blocks(chapter)
        assert blocks, f"{chapter}: found no solution lines to look for"
        shown = [b for b in blocks if leaked(b, text)]
        assert not shown, f"{chapter}: solution or hidden-test code in _build/html: {shown[:2]}"
    assert "autograder.inline" not in text


def test_instructor_guide_and_intro_are_pages(html):
    assert ROOT / "_build/html/book/instructor_guide.html" in html
    assert ROOT / "_build/html/book/intro.html" in html
