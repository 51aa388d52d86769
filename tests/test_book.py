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


# -- Accessibility (issue 20): the built book in Chromium, with axe-core (tests/a11y.py) ----

@pytest.fixture(scope="module")
def site(html):
    """The book built above, served on 127.0.0.1, and one Chromium for every page."""
    from tests import a11y
    browser = a11y.Browser()
    try:
        with a11y.serve(ROOT / "_build" / "html") as base:
            yield base, browser
    finally:
        browser.close()


MATHJAX_DONE = "async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise; }"


def book_pages(html) -> list[str]:
    """Every HTML page of the book, relative to _build/html."""
    out = ROOT / "_build" / "html"
    return sorted(p.relative_to(out).as_posix() for p in html if p.suffix == ".html")


def test_every_page_passes_axe(html, site):
    """0 violations of WCAG 2.0/2.1 A and AA rules, on every page; nothing leaves 127.0.0.1."""
    base, browser = site
    found = {}
    for name in book_pages(html):
        page = browser.page()
        page.goto(base + name, wait_until="load")
        page.evaluate(MATHJAX_DONE)
        violations = browser.axe(page)
        if violations:
            found[name] = violations
        page.close()
    assert not found, "\n".join(f"{name}: {v}" for name, vs in found.items() for v in vs)
    assert browser.left == [], f"requests left 127.0.0.1: {browser.left[:3]}"


CONTROLS = ("Toggle primary sidebar", "Launch interactive content", "Download this page",
            "Search", "Color mode")


def test_focus_is_visible_on_every_control_and_formulas_are_no_tab_stops(site):
    """Tab through chapter 07 (many formulas): each stop shows an outline; the theme's
    buttons are among them; no formula is a stop, and every formula keeps its MathML."""
    base, browser = site
    page = browser.page()
    page.goto(base + "chapters/07_softmax_regression/07_softmax_regression.html")
    page.evaluate(MATHJAX_DONE)
    formulas = page.evaluate("document.querySelectorAll('mjx-container').length")
    bare = page.evaluate("[...document.querySelectorAll('mjx-container')]"
                         ".filter(m => !m.querySelector('mjx-assistive-mml math')).length")
    assert formulas > 100 and bare == 0, f"{bare} of {formulas} formulas have no assistive MathML"
    stops, seen = [], set()
    for _ in range(120):
        page.keyboard.press("Tab")
        stop = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
            return {tag: e.tagName, name: (e.getAttribute('aria-label') || e.title || e.getAttribute('data-bs-original-title')
                          || e.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60),
                    html: e.outerHTML.slice(0, 120), outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
                    math: !!e.closest('mjx-container')}; }""")
        if stop["html"] in seen or stop["tag"] == "BODY":
            break
        seen.add(stop["html"])
        stops.append(stop)
    assert not [s for s in stops if s["math"]], "a formula is a Tab stop"
    invisible = [s["html"] for s in stops if not s["outline"]]
    assert not invisible, f"focus not visible on: {invisible[:3]}"
    names = " | ".join(s["name"] for s in stops)
    for control in CONTROLS:
        assert control in names, f"{control!r} is not reached by Tab: {names[:300]}"
    page.close()


def test_figure_text_is_at_least_9_px_and_described(html, site):
    """In the book's column at 1280 px, and for image grids on a 390 px phone too: the
    smallest text of every figure, its SVG size scaled to its displayed width."""
    from tests import a11y
    base, browser = site
    small, figures = [], 0
    for viewport in (a11y.DESKTOP, a11y.PHONE):
        page = browser.page(viewport)
        for chapter in release.chapters():
            page.goto(base + f"chapters/{chapter}/{chapter}.html")
            shown = page.evaluate("""[...document.querySelectorAll('article img[src*="_images/"]')]
                .map(i => ({src: i.getAttribute('src'), alt: i.alt, width: i.getBoundingClientRect().width,
                            grid: i.classList.contains('figure-scroll')}))""")
            for img in shown:
                if viewport is a11y.PHONE and not img["grid"]:
                    continue
                figures += viewport is a11y.DESKTOP
                assert "_images/" not in img["alt"] and len(img["alt"]) >= 80, f"{chapter}: {img['src']} alt {img['alt']!r}"
                svg = (ROOT / "_build/html/chapters" / chapter / img["src"]).resolve().read_text()
                scale = img["width"] / a11y.svg_width_px(svg)
                px = min(a11y.svg_font_points(svg)) * 4 / 3 * scale
                if px < a11y.MIN_TEXT_PX:
                    small.append(f"{chapter} {img['src'].rsplit('/', 1)[-1][:12]} at {viewport['width']} px: {px:.1f} px")
        page.close()
    assert figures >= 47, f"only {figures} figures found in the chapters"
    assert not small, "text below 9 px:\n" + "\n".join(small)


def test_headings_fit_a_phone(site):
    """At 390 px no heading runs off the screen (chapter 07's `cross_entropy_from_logits`)."""
    from tests import a11y
    base, browser = site
    page = browser.page(a11y.PHONE)
    wide = []
    for chapter in release.chapters():
        page.goto(base + f"chapters/{chapter}/{chapter}.html")
        wide += [f"{chapter}: {h}" for h in page.evaluate(
            "[...document.querySelectorAll('article h1, article h2, article h3, article h4')]"
            ".filter(h => h.scrollWidth > h.clientWidth + 1 || h.getBoundingClientRect().right > innerWidth + 1)"
            ".map(h => h.textContent.trim())")]
    page.close()
    assert not wide, f"headings wider than a 390 px screen: {wide}"
