"""What the accessibility tests share (issue 20): axe-core in Chromium through Playwright, a
static server on 127.0.0.1, and readings of matplotlib's SVG figures (font sizes, series
colours and styles) for tests/test_a11y.py and tests/test_book.py.

Chromium is Debian's package and axe-core is npm's, pinned in ``.a11y/package-lock.json``;
``./run.sh setup`` installs both. Where either is missing the tests fail with one line that
says what to install; they never skip.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import itertools
import re
import shutil
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AXE_JS = ROOT / ".a11y" / "node_modules" / "axe-core" / "axe.min.js"
# The rules of WCAG 2.0 and 2.1, levels A and AA, as axe-core tags them.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MIN_TEXT_PX = 9  # the smallest text in a figure, in CSS pixels at 100% zoom
MIN_DELTA_E = 15  # CAM02-UCS distance between two series that share an axes and a style
CVD = ("deuteranomaly", "protanomaly", "tritanomaly")  # severity 100: the dichromacies
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    """Debian's Chromium, or the test fails with what to install."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: apt-get install chromium (./run.sh setup does it where apt is present)",
                    pytrace=False)
    return path


def axe_source() -> str:
    """axe-core's script, or the test fails with how to install it."""
    if not AXE_JS.is_file():
        pytest.fail("axe-core is not installed: npm ci --prefix .a11y (./run.sh setup does it; needs npm)",
                    pytrace=False)
    return AXE_JS.read_text()


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 (a free port) for the ``with`` block; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Browser:
    """One Chromium for a test module. Every request that would leave 127.0.0.1 is refused
    and recorded in ``left``, so that a test can assert that nothing did."""

    def __init__(self):
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            pytest.fail("Playwright is not installed: pip install -r requirements.txt -c constraints.txt",
                        pytrace=False)
        self.axe_js = axe_source()
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=chromium_path(),
                                                args=["--no-sandbox", "--disable-gpu"])
        self.left: list[str] = []

    def page(self, viewport=DESKTOP, block: str | None = None):
        """A new page with the given viewport; requests off the loopback are refused, and
        so are those whose URL contains ``block`` (e.g. "/mathjax/" where a test needs none)."""
        page = self.browser.new_page(viewport=viewport)
        page.route("**/*", functools.partial(self._only_loopback, block=block))
        return page

    def _only_loopback(self, route, block: str | None = None) -> None:
        url = route.request.url
        if block and block in url:
            route.abort()
        elif re.match(r"(https?|wss?)://127\.0\.0\.1[:/]", url) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.left.append(url)
            route.abort()

    def axe(self, page) -> list[str]:
        """axe-core's WCAG 2.0/2.1 A and AA violations on ``page``, one line per rule."""
        page.add_script_tag(content=self.axe_js)
        found = page.evaluate("""async tags => (await axe.run(document, {runOnly: {type: 'tag', values: tags},
                resultTypes: ['violations'], preload: false, performanceTimer: false}))
            .violations.map(v => `${v.id} (${v.impact}, ${v.nodes.length}x): ${v.help} — `
                                 + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join('; '))""", WCAG_TAGS)
        return found

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


# -- matplotlib's SVG figures ------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


def svg_width_px(svg: str) -> float:
    """The figure's own width in CSS pixels (matplotlib writes it in points)."""
    root = ET.fromstring(svg.encode())
    width = root.get("width", "")
    value = float(re.match(r"[\d.]+", width).group())
    return value * 4 / 3 if width.endswith("pt") else value


def svg_font_points(svg: str) -> list[float]:
    """The size in points of every text in a matplotlib SVG (text drawn as paths: each text
    is a group scaled by size/100)."""
    return [float(s) * 100 for s in re.findall(r'<g [^>]*transform="[^"]*scale\(([\d.]+) -[\d.]+\)"', svg)]


def _style(element) -> dict:
    return {k.strip(): v.strip() for k, v in (item.split(":", 1) for item in
                                              (element.get("style") or "").split(";") if ":" in item)}


def series(svg: str) -> list[list[dict]]:
    """Per axes, its series: the lines and scatter collections drawn on it (not ticks, grid
    or legend), each as ``{"id", "color", "dash", "marker"}``."""
    root = ET.fromstring(svg.encode())
    shapes = {p.get("id"): p.get("d") for p in root.iter(f"{SVG}path") if p.get("id")}
    found = []
    for axes in root.iter(f"{SVG}g"):
        if not (axes.get("id") or "").startswith("axes_"):
            continue
        items = []
        for child in axes:
            gid = child.get("id") or ""
            if not gid.startswith(("line2d_", "PathCollection_")):
                continue
            path = next((p for p in child.iter(f"{SVG}path") if not p.get("id")), None)
            use = next(child.iter(f"{SVG}use"), None)
            line, mark = _style(path) if path is not None else {}, _style(use) if use is not None else {}
            color = line.get("stroke") if line.get("stroke", "none") != "none" else mark.get("fill") or mark.get("stroke")
            if not color or color == "none":
                continue
            items.append({"id": gid, "color": color,
                          "dash": line.get("stroke-dasharray", "solid") if path is not None else "none",
                          "marker": shapes.get((use.get(XLINK) or "").lstrip("#")) if use is not None else None})
        found.append(items)
    return found


def _rgb(color: str) -> tuple[float, float, float]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) / 255 for i in (0, 2, 4))


def delta_e(a: str, b: str, cvd: str | None = None) -> float:
    """The CAM02-UCS distance between two colours, as seen with ``cvd`` (None: normal vision)."""
    from colorspacious import cspace_convert, deltaE
    rgb = [_rgb(a), _rgb(b)]
    if cvd:
        space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
        rgb = [tuple(min(max(c, 0.0), 1.0) for c in cspace_convert(x, space, "sRGB1")) for x in rgb]
    return float(deltaE(rgb[0], rgb[1], input_space="sRGB1", uniform_space="CAM02-UCS"))


def series_conflicts(svg: str) -> list[str]:
    """Pairs of series in one axes that share line style and marker and whose colours come
    closer than MIN_DELTA_E for some colour-vision deficiency. Series of the very same colour
    and style are one series drawn in pieces (residual segments…), not a pair."""
    problems = []
    for axes in series(svg):
        for a, b in itertools.combinations(axes, 2):
            if (a["dash"], a["marker"]) != (b["dash"], b["marker"]) or a["color"] == b["color"]:
                continue
            for cvd in (None, *CVD):
                d = delta_e(a["color"], b["color"], cvd)
                if d < MIN_DELTA_E:
                    problems.append(f"{a['id']} {a['color']} and {b['id']} {b['color']}, same style: "
                                    f"ΔE {d:.1f} under {cvd or 'normal vision'}")
                    break
    return problems
