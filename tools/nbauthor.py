"""Authoring helpers: build a solutions notebook with the course's cell conventions.

Conventions (checked by tests/test_release.py):

* ``setup(src)`` — the chapter's imports; locked, tagged ``setup``; the grader runs it.
* ``exercise(name, src)`` — one graded function: a solution cell, ``grade_id`` = ``name``;
  wrap the answer in ``### BEGIN SOLUTION`` / ``### END SOLUTION``.
* ``selfcheck(name, src)`` — the visible self-check after it; locked, ``check_<name>``.
* ``hidden(chapter, name, points)`` — the graded test cell ``test_<name>``: a visible
  ``require(name)`` that makes nbgrader's Validate fail until the self-check passes, then
  hidden tests that call the autograder's checks and return the points earned (nbgrader's
  partial credit); tagged ``remove-cell`` so the book does not show it.
* ``# needs: name`` as the first line of a narrative cell: the cell prints "finish `name`
  first" instead of running until ``name``'s self-check passes (course/selfcheck.py).
* ``md(text)`` and ``code(src)`` — narrative cells (no nbgrader metadata; their outputs
  are kept in the release).
* ``describe(cell, alt, caption=None)`` — a figure cell's description, for a reader who
  cannot see it: what it shows and the point it makes. Kept in the cell's ``mystnb``
  metadata, which myst-nb renders as the image's alt text (and ``caption`` as a visible
  caption under it); the release keeps it in ``chapters/`` and fails for a figure without
  one. ``describe_figures(path, {cell_id: (alt, caption)})`` applies descriptions to a
  notebook in place.

Usage: ``write(path, [cells...])`` writes the notebook without outputs.
"""
from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _id(kind: str, text: str) -> str:
    return kind[:4] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def _nbgrader(grade_id: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def _clean(src: str) -> str:
    return textwrap.dedent(src).strip("\n")


def md(text: str):
    text = _clean(text)
    return new_markdown_cell(text, id=_id("md", text))


def code(src: str, tags: tuple[str, ...] = ()):
    src = _clean(src)
    cell = new_code_cell(src, id=_id("code", src))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def setup(src: str):
    src = _clean(src)
    cell = new_code_cell(src, id="setup")
    cell.metadata["nbgrader"] = _nbgrader("setup", locked=True)
    cell.metadata["tags"] = ["setup"]
    return cell


def exercise(name: str, src: str):
    cell = new_code_cell(_clean(src), id=name.lower())
    cell.metadata["nbgrader"] = _nbgrader(name, solution=True)
    return cell


def selfcheck(name: str, src: str):
    cell = new_code_cell(_clean(src), id=f"check-{name.lower()}")
    cell.metadata["nbgrader"] = _nbgrader(f"check_{name}", locked=True)
    return cell


def hidden(chapter: str, name: str, points: float, what: str | None = None,
           requires: tuple[str, ...] | None = None):
    """The graded test cell: a visible line that makes nbgrader's Validate fail until the
    exercise's self-check passes (``requires``: the exercises whose self-checks it needs,
    default ``(name,)``), then the hidden tests."""
    what = what or f"`{name}`"
    needed = ", ".join(repr(n) for n in (requires or (name,)))
    src = (f"# Hidden tests for {what} ({points:g} points) run here when the notebook is graded.\n"
           "# Validate (nbgrader's button) fails here until the self-check above passes.\n"
           "from course.selfcheck import require\n"
           f"require({needed})\n"
           "### BEGIN HIDDEN TESTS\n"
           "from autograder.inline import grade\n"
           f"grade({chapter!r}, {name!r}, globals())\n"
           "### END HIDDEN TESTS")
    cell = new_code_cell(src, id=f"test-{name.lower()}")
    cell.metadata["nbgrader"] = _nbgrader(f"test_{name}", grade=True, locked=True, points=points)
    cell.metadata["tags"] = ["remove-cell"]
    return cell


def describe(cell, alt: str, caption: str | None = None, classes: tuple[str, ...] = ()):
    """Give the figure ``cell`` draws its description (alt text) and optional caption.

    Args:
        cell: a code cell whose output is a figure.
        alt: what the figure shows and the point it makes, for a reader who cannot see it.
        caption: a visible caption, where the figure makes a claim.
        classes: CSS classes for the image (``figure-scroll``: an image grid that scrolls
            sideways on a phone instead of shrinking its text).

    Returns:
        The cell, its ``metadata.mystnb`` set (myst-nb's cell-level ``image``/``figure``).
    """
    image = {"alt": " ".join(_clean(alt).split())}
    if classes:
        image["classes"] = " ".join(classes)
    cell.metadata["mystnb"] = {"image": image}
    if caption:
        cell.metadata["mystnb"]["figure"] = {"caption": " ".join(_clean(caption).split())}
    return cell


def describe_figures(path, descriptions: dict) -> None:
    """Apply ``{cell_id: (alt, caption[, classes])}`` to the notebook at ``path`` in place.

    Raises:
        KeyError: naming a cell id that is not in the notebook.
    """
    nb = nbformat.read(str(path), as_version=4)
    cells = {cell.get("id"): cell for cell in nb.cells}
    missing = sorted(set(descriptions) - set(cells))
    if missing:
        raise KeyError(f"{path}: no cell with id {', '.join(missing)}")
    for cell_id, args in descriptions.items():
        describe(cells[cell_id], *args)
    nbformat.write(nb, str(path))


def write(path, cells, title: str | None = None) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
