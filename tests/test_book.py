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
    # --all: Sphinx does not see a change of _templates/ as a reason to write a page again
    proc = subprocess.run([str(exe), "build", str(ROOT), "-W", "--keep-going", "--all"],
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

MATHJAX_DONE = "async () => { if (window.MathJax?.startup?.promise) await MathJax.startup.promise; }"
FOCUS_PAGE = "chapters/07_softmax_regression/07_softmax_regression.html"  # many formulas
PHONE_AXE_PAGE = "chapters/08_fashion_mnist/08_fashion_mnist.html"  # image grids
CONTROLS = ("Toggle primary sidebar", "Launch interactive content", "Download this page",
            "Search", "Color mode")
# Each stop of the Tab walk: what it is, its name, whether it shows an outline, whether it is a formula.
TAB_STOP = """() => { const e = document.activeElement, s = getComputedStyle(e);
    if (e.dataset.tabbed) return null;
    e.dataset.tabbed = '1';
    return {tag: e.tagName, html: e.outerHTML.slice(0, 120),
            name: (e.getAttribute('aria-label') || e.title || e.getAttribute('data-bs-original-title')
                   || e.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60),
            outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
            math: !!e.closest('mjx-container')}; }"""
FIGURES = """[...document.querySelectorAll('article img[src*="_images/"]')]
    .map(i => ({src: i.getAttribute('src'), alt: i.alt, width: i.getBoundingClientRect().width,
                grid: i.classList.contains('figure-scroll')}))"""
WIDE_HEADINGS = """[...document.querySelectorAll('article h1, article h2, article h3, article h4')]
    .filter(h => h.scrollWidth > h.clientWidth + 1 || h.getBoundingClientRect().right > innerWidth + 1)
    .map(h => h.textContent.trim())"""

HEADING_LEVELS = """[...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .filter(h => h.checkVisibility()).map(h => +h.tagName[1])"""  # the print-only copies are hidden


def book_pages(html) -> list[str]:
    """Every HTML page of the book, relative to _build/html; a page that only redirects
    (index.html) is audited where it leads, and the theme's _static/ holds no pages."""
    out = ROOT / "_build" / "html"
    return sorted(p.relative_to(out).as_posix() for p, text in html.items()
                  if p.suffix == ".html" and 'http-equiv="Refresh"' not in text
                  and p.relative_to(out).parts[0] != "_static")


@pytest.fixture(scope="module")
def audit(html):
    """The book served on 127.0.0.1 and read by one Chromium, each page once: at 1280 px
    every page (axe-core, the figures, and on chapter 07 a walk with Tab), then at 390 px each
    chapter (headings, image grids; without MathJax, which they do not need) and axe-core
    once more on chapter 08, whose image grids scroll sideways there."""
    from tests import a11y
    found = {"axe": {}, "levels": {}, "figures": [], "wide": [], "tabs": [], "math": None}
    browser = a11y.Browser()
    try:
        with a11y.serve(ROOT / "_build" / "html") as base:
            page = browser.page(a11y.DESKTOP)
            for name in book_pages(html):
                page.goto(base + name)
                page.evaluate(MATHJAX_DONE)
                found["axe"][name] = browser.axe(page)
                found["levels"][name] = page.evaluate(HEADING_LEVELS)
                if name.startswith("chapters/"):
                    found["figures"] += [dict(img, page=name, viewport="1280 px") for img in page.evaluate(FIGURES)]
                if name == FOCUS_PAGE:
                    found["math"] = page.evaluate("""[...document.querySelectorAll('mjx-container')].map(m =>
                        ({mml: !!m.querySelector('mjx-assistive-mml math'), stop: m.tabIndex >= 0}))""")
                    found["tabs"] = tab_walk(page)
            phone = browser.page(a11y.PHONE, block="/mathjax/")
            for chapter in release.chapters():
                name = f"chapters/{chapter}/{chapter}.html"
                phone.goto(base + name)
                found["wide"] += [f"{chapter}: {h}" for h in phone.evaluate(WIDE_HEADINGS)]
                found["figures"] += [dict(img, page=name, viewport="390 px") for img in phone.evaluate(FIGURES)
                                     if img["grid"]]
            phone = browser.page(a11y.PHONE)  # where image grids scroll sideways: axe again
            phone.goto(base + PHONE_AXE_PAGE)
            phone.evaluate(MATHJAX_DONE)
            found["axe"][PHONE_AXE_PAGE + " at 390 px"] = browser.axe(phone)
    finally:
        browser.close()
    found["left"] = browser.left
    return found


def tab_walk(page) -> list[dict]:
    """Press Tab until focus comes round (or 150 times); what each stop was."""
    stops = []
    for _ in range(150):
        page.keyboard.press("Tab")
        stop = page.evaluate(TAB_STOP)
        if stop is None or stop["tag"] == "BODY":
            break
        stops.append(stop)
    return stops


def test_every_page_passes_axe(html, audit):
    """0 violations of WCAG 2.0/2.1 A and AA rules on every page; nothing leaves 127.0.0.1."""
    assert len(audit["axe"]) >= len(release.chapters()) + 2
    failed = [f"{name}: {v}" for name, vs in audit["axe"].items() for v in vs]
    assert not failed, "\n".join(failed)
    assert audit["left"] == [], f"requests left 127.0.0.1: {audit['left'][:3]}"


def test_one_h1_and_no_skipped_heading_levels(audit):
    """What held before issue 20 and must keep holding, on every page."""
    for name, levels in audit["levels"].items():
        assert levels.count(1) == 1 and levels[0] == 1, f"{name}: headings {levels}"
        skipped = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
        assert not skipped, f"{name}: a heading level is skipped: {skipped}"


def test_focus_is_visible_on_every_control_and_formulas_are_no_tab_stops(audit):
    """Tab through chapter 07: each stop shows an outline and the theme's buttons are among
    them; no formula is a stop, and every formula keeps its assistive MathML."""
    math = audit["math"]
    assert math and len(math) > 100, "chapter 07 shows no formulas"
    assert all(m["mml"] for m in math), f"{sum(not m['mml'] for m in math)} formulas have no assistive MathML"
    assert not any(m["stop"] for m in math), f"{sum(m['stop'] for m in math)} formulas are Tab stops"
    stops = audit["tabs"]
    assert not [s for s in stops if s["math"]], "a formula is a Tab stop"
    invisible = [s["html"] for s in stops if not s["outline"]]
    assert not invisible, f"focus not visible on: {invisible[:3]}"
    names = " | ".join(s["name"] for s in stops)
    for control in CONTROLS:
        assert control in names, f"{control!r} is not reached by Tab: {names[:300]}"


def test_figure_text_is_at_least_9_px_and_figures_are_described(audit):
    """The smallest text of every figure, its SVG's size scaled to its displayed width, in
    the book's column at 1280 px, and for image grids on a 390 px phone too."""
    from tests import a11y
    small = []
    for img in audit["figures"]:
        assert "_images/" not in img["alt"] and len(img["alt"]) >= 80, f"{img['page']}: {img['src']} alt {img['alt']!r}"
        svg = (ROOT / "_build" / "html" / img["page"]).parent.joinpath(img["src"]).resolve().read_text()
        px = min(a11y.svg_font_points(svg)) * 4 / 3 * img["width"] / a11y.svg_width_px(svg)
        if px < a11y.MIN_TEXT_PX:
            small.append(f"{img['page']} {img['src'].rsplit('/', 1)[-1][:12]} at {img['viewport']}: {px:.1f} px")
    assert sum(img["viewport"] == "1280 px" for img in audit["figures"]) >= 47, "figures missing from the book"
    assert sum(img["viewport"] == "390 px" for img in audit["figures"]) >= 5, "image grids missing from the book"
    assert not small, "text below 9 px:\n" + "\n".join(small)


def test_headings_fit_a_phone(audit):
    """At 390 px no heading runs off the screen (chapter 07's `cross_entropy_from_logits`)."""
    assert not audit["wide"], f"headings wider than a 390 px screen: {audit['wide']}"
