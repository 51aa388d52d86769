"""``python -m autograder check NOTEBOOK``: a student's notebook's self-checks, from a terminal.

Runs what the graders run — the set-up cell, the exercise cells whole, the definitions of
every other cell (helpers, imports and constants the student added; see
autograder/notebooks.py) — with the self-check cells at their places, nothing hidden, and
prints one line per exercise. So a helper in a cell of its own counts here as in nbgrader.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import notebooks


def runnable_cells(nb: dict) -> list[dict]:
    """The notebook's code cells as the graders see them, with the self-check cells kept."""
    keep = []
    for cell in notebooks.code_cells(nb):
        gid = notebooks.grade_id(cell) or ""
        src = notebooks.strip_magics(notebooks.source(cell))
        if gid.startswith(notebooks.TEST_PREFIX):
            continue
        if not (notebooks.SETUP_TAG in notebooks.tags(cell) or notebooks.is_solution(cell)
                or gid.startswith(notebooks.CHECK_PREFIX)):
            src = notebooks.definitions(src)
        cell = copy.deepcopy(cell)
        cell["source"], cell["outputs"] = src, []
        keep.append(cell)
    return keep


def run_selfchecks(path: Path, timeout: int = 300) -> list[tuple[str, bool, str]]:
    """``(exercise, passed, message)`` for each self-check cell of the notebook."""
    nb = notebooks.read_notebook(path)
    keep = runnable_cells(nb)
    runnable = nbformat.from_dict({**nb, "cells": keep})
    client = NotebookClient(runnable, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(Path(path).parent.resolve())}})
    client.execute()
    rows = []
    for cell in runnable.cells:
        gid = notebooks.grade_id(cell) or ""
        if gid.startswith("check_"):
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            message = (errors[0].get("evalue", "") if errors else text).strip()
            rows.append((gid[len("check_"):], not errors, message))
    return rows


def print_table(rows: list[tuple[str, bool, str]]) -> int:
    """Print the table; return the number of failing self-checks."""
    width = max((len(r[0]) for r in rows), default=8)
    for name, ok, message in rows:
        first, *rest = message.splitlines() or [""]
        print(f"{'✓' if ok else '✗'} {name:<{width}}  {first}")
        for line in rest:
            print(f"  {'':<{width}}  {line}")
    failed = sum(1 for _, ok, _ in rows if not ok)
    print(f"{len(rows) - failed} of {len(rows)} exercises pass their self-checks")
    return failed
