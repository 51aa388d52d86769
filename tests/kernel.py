"""Running a chapter's cells in a real Jupyter kernel, as a student's Jupyter does, and reading
what each cell showed: the self-check matrix and the stub run."""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import notebooks, paths


@dataclass(frozen=True)
class Ran:
    """One executed code cell: its label, whether it raised, and what it showed."""
    label: str
    error: str  # "" when the cell did not raise: else "ename: evalue"
    text: str  # everything it printed or displayed as text


def run(cells: list[tuple[str, str]], cwd: Path, fast: bool = True, timeout: int = 300) -> list[Ran]:
    """Execute ``(label, source)`` cells in one fresh kernel (allowing errors); return each."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for _, src in cells])
    env = {"COURSE_FAST": "1" if fast else "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return [Ran(label, _error(cell), _text(cell)) for (label, _), cell in zip(cells, nb.cells)]


def _error(cell) -> str:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    return f"{errors[0].ename}: {errors[0].evalue}" if errors else ""


def _text(cell) -> str:
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def chapter_cells(chapter: str, notebook: str = "release") -> list[tuple[str, dict]]:
    """``(label, cell)`` for each code cell of the released (or solutions) notebook."""
    path = paths.release_notebook(chapter) if notebook == "release" else paths.solutions_notebook(chapter)
    nb = notebooks.read_notebook(path)
    out = []
    for i, cell in enumerate(nb["cells"], 1):
        if cell.get("cell_type") == "code":
            out.append((notebooks.grade_id(cell) or f"cell {i}", copy.deepcopy(cell)))
    return out


def solution_sources(chapter: str) -> dict[str, str]:
    """The reference answer of each solution cell (grade_id → source)."""
    nb = notebooks.read_notebook(paths.solutions_notebook(chapter))
    return {notebooks.grade_id(c): notebooks.source(c) for c in notebooks.code_cells(nb)
            if notebooks.is_solution(c)}


def selfcheck_matrix(chapter: str, wrong: dict[str, list[str]], cwd: Path) -> dict[tuple[str, int], dict[str, Ran]]:
    """Every self-check of the chapter, run after each wrong answer in turn.

    The kernel runs the set-up cell, every solution cell (the reference answers), the
    definitions of the narrative cells, and every self-check (all must pass). Then, for each
    exercise and each wrong source in ``wrong[exercise]``: the wrong source, every self-check
    cell, and the right source again.

    Returns:
        ``{(exercise, k): {check exercise: Ran}}`` for the k-th wrong answer of each exercise;
        ``("solution", 0)`` holds the run with every answer right.
    """
    answers = solution_sources(chapter)
    cells, checks = [], []
    for label, cell in chapter_cells(chapter):
        src = notebooks.source(cell)
        if label in answers:
            cells.append((label, answers[label]))
        elif label.startswith("check_"):
            checks.append((label[len("check_"):], src))
        elif notebooks.SETUP_TAG in notebooks.tags(cell):
            cells.append((label, src))
        elif not label.startswith("test_"):
            cells.append((label, notebooks.definitions(src)))
    plan = [("solution", 0, name, src) for name, src in checks]
    for exercise, sources in wrong.items():
        for k, bad in enumerate(sources):
            plan.append((exercise, k, f"wrong {exercise}", bad))
            plan += [(exercise, k, name, src) for name, src in checks]
            plan.append((exercise, k, f"right {exercise}", answers[exercise]))
    ran = run(cells + [(f"{ex}|{k}|{label}", src) for ex, k, label, src in plan], cwd)
    matrix: dict[tuple[str, int], dict[str, Ran]] = {}
    for r in ran[len(cells):]:
        ex, k, label = r.label.split("|", 2)
        if not label.startswith(("wrong ", "right ")):
            matrix.setdefault((ex, int(k)), {})[label] = r
    return matrix


def assert_selfchecks_judge_one_exercise(chapter: str, wrong: dict[str, list], cwd: Path) -> None:
    """With every answer right, every self-check passes; with one exercise's answer wrong, its
    own self-check fails (with its message, not "not written yet") and every other passes.

    A wrong answer is a source, or ``(source, says, never)``: its self-check's message must
    contain ``says`` and not ``never`` (either may be "")."""
    expect = {(ex, k): (w[1], w[2]) for ex, ws in wrong.items() for k, w in enumerate(ws) if isinstance(w, tuple)}
    wrong = {ex: [w[0] if isinstance(w, tuple) else w for w in ws] for ex, ws in wrong.items()}
    matrix = selfcheck_matrix(chapter, wrong, cwd)
    failing = {name: r.error for name, r in matrix["solution", 0].items() if r.error}
    assert not failing, f"{chapter}: self-checks fail on the reference answers: {failing}"
    for (exercise, k), results in matrix.items():
        if exercise == "solution":
            continue
        own = results[exercise]
        assert own.error, f"{chapter}: wrong answer {k} of {exercise} passes its self-check"
        assert "not written yet" not in own.error, f"{chapter}: {exercise}'s self-check blames a stub: {own.error}"
        says, never = expect.get((exercise, k), ("", ""))
        assert says in own.error and not (never and never in own.error), \
            f"{chapter}: wrong answer {k} of {exercise}: its self-check should say {says!r}" + \
            (f" and not {never!r}" if never else "") + f"; it said: {own.error}"
        others = {name: r.error for name, r in results.items() if name != exercise and r.error}
        assert not others, (f"{chapter}: wrong answer {k} of {exercise} makes other exercises' "
                            f"self-checks fail (each must judge its own exercise only): {others}")
    missing = {n for n in matrix["solution", 0] if n not in wrong}
    assert not missing, f"{chapter}: self-checks with no wrong answer to prove they can fail: {missing}"
