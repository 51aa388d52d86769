"""The prose of a released chapter, for tests that compare the numbers it quotes with the
outputs it quotes them from (tests/book_text.py reads the outputs and the equations)."""
from __future__ import annotations

import re

from autograder import notebooks, paths


def markdown(chapter: str) -> str:
    """All the chapter's prose as one string, every run of whitespace made one space."""
    cells = notebooks.read_notebook(paths.release_notebook(chapter))["cells"]
    return " ".join(" ".join(notebooks.source(c) for c in cells if c.get("cell_type") == "markdown").split())


def number_after(text: str, label: str) -> float:
    """The first number printed after ``label`` in ``text``."""
    match = re.search(re.escape(label) + r"\s*[:=]?\s*([-+]?\d[\d,]*\.?\d*(?:e[-+]?\d+)?)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1).replace(",", ""))
