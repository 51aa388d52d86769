"""Charts as inline SVG: the feedback page's training curves and the class report's score
distributions.

Written by hand rather than with matplotlib: a page stays one self-contained file, the
charts stay sharp at any zoom and can be read by a screen reader (``role='img'``, a
``<title>``), and drawing them costs microseconds — matplotlib's PNGs took 0.4–1.4 s each
(with 0.7 s to import it), a few seconds at the end of every grading run.
"""
from __future__ import annotations

import math
from html import escape

COLORS = {"reference": "#8c8c8c", "student": "#1f77b4", "bar": "#4c72b0", "grid": "#e3e3e3", "axis": "#444"}
TEXT = "font-family='sans-serif' fill='#222'"
MAX_POINTS = 600  # a longer curve is thinned to this many points (its ends kept)


def _num(value: float) -> str:
    """A coordinate with two decimals (enough at this size, and short)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) spanning ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        lo, hi = lo - (abs(lo) or 1) * 0.5, hi + (abs(hi) or 1) * 0.5
    raw = (hi - lo) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if raw <= step * m)
    first = math.floor(lo / step + 1e-9) * step
    ticks, k = [], 0
    while first + k * step <= hi + step * 1e-9 or len(ticks) < 2:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Round values for a logarithmic axis over ``[lo, hi]`` (both > 0): evenly spaced ones
    within a decade, else 1, 2 and 5 times powers of ten (at most six)."""
    if hi / lo < 10:
        return [t for t in nice_ticks(lo, hi, 4) if t > 0]
    ticks = [m * 10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0 ** k <= hi]
    if len(ticks) > 6:
        ticks = [t for t in ticks if math.isclose(math.log10(t) % 1, 0, abs_tol=1e-9)] or ticks[::3]
    return ticks[:: max(1, -(-len(ticks) // 6))]


def _svg(width: int, height: int, alt: str, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' role='img' aria-label='{escape(alt)}' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}'><title>{escape(alt)}</title>"
            + "".join(body) + "</svg>")


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def line_chart(series: list[tuple[str, list, str]], alt: str, xlabel: str, ylabel: str,
               first: float = 0, log: bool = False, width: int = 440, height: int = 250) -> str:
    """Lines of ``(label, values, color)``, the i-th value at x = ``first + i``. Values that
    are not finite numbers (or not positive, on a log scale) are left out, and the line
    breaks there. ``log``: the y axis is logarithmic."""
    left, right, top, bottom = 62, 12, 26, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def usable(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not log)

    ty = (lambda v: math.log10(v)) if log else (lambda v: float(v))
    runs = []  # per series: its unbroken stretches of (x, transformed y)
    for label, values, color in series:
        pieces, current = [], []
        for i, v in enumerate(list(values)[:100_000]):
            if usable(v):
                current.append((first + i, ty(v)))
            elif current:
                pieces.append(current)
                current = []
        pieces += [current] if current else []
        runs.append((label, color, [_thin(p) for p in pieces]))
    xs = [x for _, _, pieces in runs for p in pieces for x, _ in p]
    ys = [y for _, _, pieces in runs for p in pieces for _, y in p]
    body = [f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='white' "
            f"stroke='{COLORS['axis']}' stroke-width='1'/>"]
    if not xs:
        body.append(f"<text x='{left + plot_w / 2}' y='{top + plot_h / 2}' text-anchor='middle' {TEXT} "
                    "font-size='12'>no finite values to plot</text>")
        return _svg(width, height, alt, body)
    x0, x1 = min(xs), max(xs)
    x1 = x1 if x1 > x0 else x0 + 1
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.06 or (abs(y0) * 0.1 or 0.5)
    y0, y1 = y0 - pad, y1 + pad

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    for value in (log_ticks(10 ** y0, 10 ** y1) if log else nice_ticks(y0, y1, 4)):
        t = math.log10(value) if log else value
        if y0 <= t <= y1:
            body.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{_num(py(t))}' y2='{_num(py(t))}' "
                        f"stroke='{COLORS['grid']}'/><text x='{left - 5}' y='{_num(py(t) + 4)}' "
                        f"text-anchor='end' {TEXT} font-size='10'>{_label(value)}</text>")
    xticks = [t for t in nice_ticks(x0, x1, 6) if x0 <= t <= x1 and float(t).is_integer()]
    for t in xticks:
        body.append(f"<line x1='{_num(px(t))}' x2='{_num(px(t))}' y1='{top + plot_h}' y2='{top + plot_h + 4}' "
                    f"stroke='{COLORS['axis']}'/><text x='{_num(px(t))}' y='{top + plot_h + 15}' "
                    f"text-anchor='middle' {TEXT} font-size='10'>{int(t)}</text>")
    for label, color, pieces in runs:
        for p in pieces:
            coords = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in p)
            if len(p) == 1:
                body.append(f"<circle cx='{_num(px(p[0][0]))}' cy='{_num(py(p[0][1]))}' r='2.5' fill='{color}'/>")
            else:
                body.append(f"<polyline points='{coords}' fill='none' stroke='{color}' stroke-width='1.8'/>")
    legend_x = left
    for label, color, _ in runs:
        body.append(f"<line x1='{legend_x}' x2='{legend_x + 18}' y1='13' y2='13' stroke='{color}' stroke-width='2.5'/>"
                    f"<text x='{legend_x + 23}' y='17' {TEXT} font-size='11'>{escape(label)}</text>")
        legend_x += 30 + 7 * len(label)
    scale = " (log scale)" if log else ""
    body.append(f"<text x='{left + plot_w / 2}' y='{height - 6}' text-anchor='middle' {TEXT} "
                f"font-size='11'>{escape(xlabel)}</text>"
                f"<text transform='translate(13,{top + plot_h / 2}) rotate(-90)' text-anchor='middle' {TEXT} "
                f"font-size='11'>{escape(ylabel + scale)}</text>")
    return _svg(width, height, alt, body)


def bar_chart(labels: list[str], counts: list[int], title: str, xlabel: str, unit: str,
              width: int = 230, height: int = 170) -> str:
    """One bar per label, its count written above it; hovering a bar names it."""
    left, right, top, bottom = 30, 8, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    most = max(counts, default=0) or 1
    body = [f"<text x='{width / 2}' y='14' text-anchor='middle' {TEXT} font-size='11'>{escape(title)}</text>",
            f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' y2='{top + plot_h}' stroke='{COLORS['axis']}'/>"]
    slot = plot_w / max(len(labels), 1)
    for i, (label, count) in enumerate(zip(labels, counts)):
        h = count / most * (plot_h - 12)
        x, y = left + i * slot + slot * 0.15, top + plot_h - h
        body.append(f"<rect x='{_num(x)}' y='{_num(y)}' width='{_num(slot * 0.7)}' height='{_num(h)}' "
                    f"fill='{COLORS['bar']}'><title>{count} {unit}{'s' if count != 1 else ''}: "
                    f"{escape(label)} {escape(xlabel[:-1] if label == '1' and xlabel.endswith('s') else xlabel)}</title></rect>"
                    f"<text x='{_num(x + slot * 0.35)}' y='{_num(y - 3)}' text-anchor='middle' {TEXT} "
                    f"font-size='10'>{count}</text>"
                    f"<text x='{_num(x + slot * 0.35)}' y='{top + plot_h + 13}' text-anchor='middle' {TEXT} "
                    f"font-size='10'>{escape(label)}</text>")
    body.append(f"<text x='{left + plot_w / 2}' y='{height - 4}' text-anchor='middle' {TEXT} "
                f"font-size='10'>{escape(xlabel)}</text>")
    return _svg(width, height, f"{title}: " + ", ".join(f"{c} at {l}" for l, c in zip(labels, counts)), body)
