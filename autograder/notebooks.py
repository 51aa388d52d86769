"""Reading notebooks, trusted or not, and choosing the cells the harness runs.

The harness never runs a student's notebook top to bottom. It runs:

1. the release's cells tagged ``setup`` (imports), taken from ``chapters/`` — the
   student's copies of locked cells are ignored, as nbgrader's OverwriteCells does;
2. the student's solution cells, one per graded function, in the release's order.

A solution cell is found by its nbgrader ``grade_id``; if the metadata was stripped, by
the first unlocked code cell that defines the function at top level. Extra cells, a later
cell that redefines a graded function, and edited locked or test cells are not run.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SETUP_TAG = "setup"


class NotebookError(Exception):
    """The notebook cannot be read at all; the message says why."""


def read_notebook(path: str | Path) -> dict:
    """Read a notebook as plain JSON, upgrading nbformat 3 to 4.

    Raises:
        NotebookError: the file is missing, not JSON, or not a notebook.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise NotebookError(f"cannot read {Path(path).name}: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise NotebookError(f"{Path(path).name} is not valid JSON (line {e.lineno}: {e.msg}); "
                            "open it in Jupyter and save it again") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        raise NotebookError(f"{Path(path).name} is JSON but not a Jupyter notebook")
    if data.get("nbformat", 4) < 4:
        try:
            data = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
        except Exception as e:  # nbformat's converters raise many kinds of error
            raise NotebookError(f"{Path(path).name} is an nbformat {data.get('nbformat')} "
                                f"notebook that could not be converted: {e}") from None
    return data


def source(cell: dict) -> str:
    """A cell's source as one string (it may be stored as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {})
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell: dict) -> str | None:
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_solution(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and bool(nbgrader_meta(cell).get("solution"))


def tags(cell: dict) -> list[str]:
    meta = cell.get("metadata", {})
    found = meta.get("tags", []) if isinstance(meta, dict) else []
    return [t for t in found if isinstance(t, str)] if isinstance(found, list) else []


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]


def defines(src: str) -> set[str]:
    """Names a cell defines at top level with ``def`` or ``class`` (empty if it does not parse)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def setup_sources(release_nb: dict) -> list[str]:
    """Sources of the release's code cells tagged ``setup``."""
    return [source(c) for c in code_cells(release_nb) if SETUP_TAG in tags(c)]


def solution_ids(release_nb: dict) -> list[str]:
    """grade_ids of the release's solution cells, in order."""
    return [grade_id(c) for c in code_cells(release_nb) if is_solution(c) and grade_id(c)]


@dataclass
class Program:
    """What the harness runs for one submission, and how each graded cell was found."""
    cells: list[tuple[str, str]] = field(default_factory=list)  # (label, source)
    found: dict[str, str] = field(default_factory=dict)  # grade_id -> "grade_id" | "def" | "missing"

    def source_of(self, label: str) -> str | None:
        return next((src for lab, src in self.cells if lab == label), None)


def build_program(release_nb: dict, student_nb: dict) -> Program:
    """The setup cells of the release, then the student's solution cells in release order."""
    program = Program(cells=[(f"{SETUP_TAG}-{k}", src)
                               for k, src in enumerate(setup_sources(release_nb), 1)])
    student_cells = code_cells(student_nb)
    for gid in solution_ids(release_nb):
        cell, how = _find_solution(student_cells, gid)
        program.found[gid] = how
        if cell is not None:
            program.cells.append((gid, strip_magics(source(cell))))
    return program


def _find_solution(cells: list[dict], gid: str) -> tuple[dict | None, str]:
    for cell in cells:
        if grade_id(cell) == gid:
            return cell, "grade_id"
    for cell in cells:  # metadata stripped: the first unlocked cell defining the function
        if not nbgrader_meta(cell).get("locked") and gid in defines(source(cell)):
            return cell, "def"
    return None, "missing"


def strip_magics(src: str) -> str:
    """Comment out IPython magics and shell escapes, which plain Python cannot run."""
    lines = []
    for line in src.splitlines():
        stripped = line.lstrip()
        lines.append("# " + line if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)
