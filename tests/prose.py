"""Reading a released chapter as a reader sees it: the prose, the printed outputs under it,
and how wide its display equations are.

Used by the chapter tests that compare each number the prose quotes with the output it
quotes it from, and that keep display equations within a phone's width.
"""
from __future__ import annotations

import re

from autograder import notebooks, paths

# A phone's column (about 340 px of a 375 px screen) holds about this many glyphs of display
# math at MathJax's size, counting as :func:`math_width` does.
PHONE_GLYPHS = 24


def _cells(chapter: str) -> list[dict]:
    return notebooks.read_notebook(paths.release_notebook(chapter))["cells"]


def markdown(chapter: str) -> str:
    """All the chapter's prose, one string."""
    return "\n\n".join(notebooks.source(c) for c in _cells(chapter) if c.get("cell_type") == "markdown")


def output(chapter: str, marker: str) -> str:
    """What the code cell whose source contains ``marker`` printed (its text outputs), in the
    released notebook; fails when no cell, or more than one, contains it."""
    found = [c for c in _cells(chapter) if c.get("cell_type") == "code" and marker in notebooks.source(c)]
    assert len(found) == 1, f"{chapter}: {len(found)} code cells contain {marker!r}"
    parts = []
    for out in found[0].get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def number_after(text: str, label: str) -> float:
    """The first number printed after ``label`` in ``text``."""
    match = re.search(re.escape(label) + r"\s*[:=]?\s*([-+]?\d[\d,]*\.?\d*(?:e[-+]?\d+)?)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1).replace(",", ""))


# -- display equations --------------------------------------------------------------------
def display_equations(chapter: str) -> list[str]:
    """Every ``$$...$$`` block of the chapter's prose."""
    return re.findall(r"\$\$(.+?)\$\$", markdown(chapter), re.S)


def too_wide(chapter: str, limit: float = PHONE_GLYPHS) -> dict[str, float]:
    """The rows of display equations wider than ``limit`` glyphs: row → width."""
    rows = [row for eq in display_equations(chapter) for row in re.split(r"\\\\", eq)]
    return {row.strip(): round(math_width(row), 1) for row in rows if math_width(row) > limit}


_ZERO = {"left", "right", "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "mathbf", "boldsymbol",
         "mathcal", "mathrm", "mathit", "operatorname", "begin", "end", "displaystyle",
         "textstyle", "limits", "nolimits", "top", "phantom"}
_SPACE = {"qquad": 2.0, "quad": 1.0, ",": 0.2, ";": 0.3, ":": 0.25, "!": 0.0, " ": 0.3}
_FRACTIONS = {"frac", "tfrac", "dfrac"}
_WIDE = {"leftarrow": 1.5, "rightarrow": 1.5, "Leftarrow": 1.5, "Rightarrow": 1.5,
         "longrightarrow": 2.0, "mapsto": 1.5, "approx": 1.3, "le": 1.3, "ge": 1.3, "leq": 1.3,
         "geq": 1.3, "sim": 1.3, "in": 1.3, "cdot": 0.6, "ldots": 1.5, "cdots": 1.5}


def math_width(tex: str) -> float:
    """A rough width of one row of LaTeX math, in glyphs: letters and digits count 1,
    brackets and punctuation ½; binary operators and relations 1.3 (their spacing); sub- and
    superscripts 0.7 of their content; a fraction its wider part; font commands nothing but
    their content."""
    width, _ = _width(tex.replace("&", ""), 0)
    return width


def _width(tex: str, i: int, stop: str = "") -> tuple[float, int]:
    total = 0.0
    while i < len(tex) and tex[i] not in stop:
        ch = tex[i]
        if ch == "\\":
            total_i, i = _command(tex, i + 1)
            total += total_i
        elif ch == "{":
            w, i = _width(tex, i + 1, "}")
            total, i = total + w, i + 1
        elif ch in "_^":
            w, i = _argument(tex, i + 1)
            total += 0.7 * w
        elif ch in "=+-<>":
            total, i = total + 1.3, i + 1
        elif ch.isspace() or ch == "}":
            i += 1
        elif ch in "()[],.;|":
            total, i = total + 0.5, i + 1
        else:
            total, i = total + 1.0, i + 1
    return total, i


def _argument(tex: str, i: int) -> tuple[float, int]:
    """The width of one argument: a group ``{...}``, a command, or one character."""
    while i < len(tex) and tex[i].isspace():
        i += 1
    if i >= len(tex):
        return 0.0, i
    if tex[i] == "{":
        w, i = _width(tex, i + 1, "}")
        return w, i + 1
    if tex[i] == "\\":
        return _command(tex, i + 1)
    return 1.0, i + 1


def _command(tex: str, i: int) -> tuple[float, int]:
    match = re.match(r"[A-Za-z]+|.", tex[i:])
    name = match.group(0) if match else ""
    i += len(name)
    if name in _FRACTIONS:
        top, i = _argument(tex, i)
        bottom, i = _argument(tex, i)
        return max(top, bottom), i
    if name in ("text", "mathrm", "operatorname") and i < len(tex) and tex[i] == "{":
        end = tex.index("}", i)
        return (0.55 * len(tex[i + 1:end]) if name == "text" else len(tex[i + 1:end])), end + 1
    if name in ("begin", "end") and i < len(tex) and tex[i] == "{":
        return 0.0, tex.index("}", i) + 1
    if name in _SPACE:
        return _SPACE[name], i
    if name in _ZERO:
        return 0.0, i
    return _WIDE.get(name, 1.0), i
