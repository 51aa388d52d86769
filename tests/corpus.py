"""A corpus of submissions for a chapter: the solutions with some cells replaced.

Each :class:`Case` starts from the released notebook with every solution cell filled in
from ``solutions/`` (a student who solved everything), then replaces or deletes cells.
``grade_corpus`` grades all cases of a chapter in one batch run, as an instructor would.
"""
from __future__ import annotations

import copy
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from autograder import batch, notebooks, paths
from autograder.chapter import load_chapter
from autograder.grader import SubmissionResult
from autograder.runner import Limits


@dataclass(frozen=True)
class Case:
    """One submission and what grading it must give.

    Args:
        name: the case's name (also its student id).
        replace: solution cell grade_id → the source the student wrote instead.
        delete: grade_ids of solution cells the student deleted.
        scores: exercise → expected score; every exercise not named scores full marks
            (or zero when ``stub``).
        messages: exercise → a phrase its feedback must contain (case-insensitive).
        stub: submit the released notebook as it is (nothing written).
        raw: the notebook file's bytes, written as is (for broken files).
        insert: ``(grade_id, source)`` pairs: a cell of the student's own (no metadata)
            inserted right after the cell with that grade_id (``""``: at the top).
    """
    name: str
    replace: dict = field(default_factory=dict)
    delete: tuple = ()
    scores: dict = field(default_factory=dict)
    messages: dict = field(default_factory=dict)
    stub: bool = False
    raw: bytes | None = None
    insert: tuple = ()


SOLUTION = Case("solution")
STUB = Case("stub", stub=True)


def solved_notebook(chapter: str) -> dict:
    """The released notebook with every solution cell taken from the solutions notebook."""
    release = notebooks.read_notebook(paths.release_notebook(chapter))
    solutions = notebooks.read_notebook(paths.solutions_notebook(chapter))
    answers = {notebooks.grade_id(c): notebooks.source(c) for c in notebooks.code_cells(solutions)
               if notebooks.is_solution(c)}
    nb = copy.deepcopy(release)
    for cell in notebooks.code_cells(nb):
        if notebooks.is_solution(cell):
            cell["source"] = answers[notebooks.grade_id(cell)]
    return nb


def case_notebook(chapter: str, case: Case) -> dict:
    if case.stub:
        return notebooks.read_notebook(paths.release_notebook(chapter))
    nb = solved_notebook(chapter)
    for cell in notebooks.code_cells(nb):
        gid = notebooks.grade_id(cell)
        if gid in case.replace:
            cell["source"] = textwrap.dedent(case.replace[gid]).strip("\n")
    nb["cells"] = [c for c in nb["cells"] if notebooks.grade_id(c) not in case.delete]
    for after, src in case.insert:
        at = next((i + 1 for i, c in enumerate(nb["cells"]) if notebooks.grade_id(c) == after), 0)
        nb["cells"].insert(at, {"cell_type": "code", "id": f"added-{len(nb['cells'])}", "metadata": {},
                                "execution_count": None, "outputs": [],
                                "source": textwrap.dedent(src).strip("\n")})
    return nb


def write_case(chapter: str, case: Case, submitted: Path) -> Path:
    path = submitted / case.name / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if case.raw is not None:
        path.write_bytes(case.raw)
    else:
        path.write_text(json.dumps(case_notebook(chapter, case), indent=1))
    return path


def grade_corpus(chapter: str, cases: list[Case], tmp: Path, jobs: int = 2,
                 limits: Limits = Limits()) -> dict[str, SubmissionResult]:
    """Write every case as a student's submission and grade them all in one batch."""
    submitted = tmp / "submitted"
    for case in cases:
        write_case(chapter, case, submitted)
    results = batch.grade_all(submitted, [chapter], tmp / "out", device="cpu", jobs=jobs,
                              progress=False, limits=limits)
    return {r.student_id: r for r in results}


def assert_case(chapter: str, result: SubmissionResult, case: Case) -> None:
    """Each exercise scores exactly what the case expects, with the expected phrases."""
    full = {ex.name: (0.0 if case.stub else ex.points) for ex in load_chapter(chapter).exercises}
    expected = {**full, **case.scores}
    got = {ex.exercise: ex.score for ex in result.exercises}
    report = "\n".join(f"  {ex.exercise}: {ex.score:g}/{ex.max_score:g} — {ex.message}"
                       for ex in result.exercises)
    assert got == expected, f"{case.name}: scores differ from the expected {expected}:\n{report}"
    messages = {ex.exercise: ex.message.lower() for ex in result.exercises}
    for exercise, phrase in case.messages.items():
        assert phrase.lower() in messages[exercise], \
            f"{case.name}: the message for {exercise} lacks {phrase!r}:\n{report}"


def write_nbgrader_course(root: Path) -> None:
    """An nbgrader course folder of its own (config and gradebook) that reads ``solutions/``."""
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.source_directory = {str(paths.course_root() / 'solutions')!r}\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n"
        "c.Execute.timeout = 600\n")


# -- requirement rows and doing-nothing submissions ------------------------------------------
def requirement_case(chapter: str, req_id: str, **kwargs) -> Case:
    """The corpus case for one row of the chapter's ``REQUIREMENTS`` table: a submission (its
    ``replace``/``delete`` in ``kwargs``) that breaks exactly that requirement, so its
    exercise loses exactly the points of the row's checks and every other exercise scores
    full. Named ``req_<id>``."""
    row = requirement(chapter, req_id)
    ex = load_chapter(chapter).exercise(row.exercise)
    lost = sum(c.points for c in ex.checks if c.name in row.checks)
    return Case(f"req_{req_id}", scores={row.exercise: ex.points - lost, **kwargs.pop("scores", {})},
                **kwargs)


def requirement(chapter: str, req_id: str):
    rows = {r.id: r for r in requirements(chapter)}
    assert req_id in rows, f"{chapter}: no requirement {req_id!r} in its checks module"
    return rows[req_id]


def requirements(chapter: str) -> list:
    import importlib
    module = importlib.import_module(load_chapter(chapter).checks_module)
    return list(getattr(module, "REQUIREMENTS", []))


def assert_requirements_covered(chapter: str, cases: list[Case]) -> None:
    """The chapter's requirement table is well formed and each row has its corpus case."""
    chap = load_chapter(chapter)
    rows = requirements(chapter)
    assert rows, f"{chapter}: the checks module has no REQUIREMENTS table"
    names = {c.name for c in cases}
    for row in rows:
        ex = chap.exercise(row.exercise)
        unknown = set(row.checks) - {c.name for c in ex.checks}
        assert row.checks and not unknown, f"{chapter}: requirement {row.id} names unknown checks {unknown}"
        assert f"req_{row.id}" in names, f"{chapter}: requirement {row.id} has no corpus case req_{row.id}"
    graded = {ex.name for ex in chap.exercises if ex.own}
    assert graded <= {r.exercise for r in rows}, \
        f"{chapter}: exercises without requirements: {graded - {r.exercise for r in rows}}"


def doing_nothing_cases(chapter: str) -> list[Case]:
    """Two submissions whose every function does nothing: bodies of ``pass`` (returns None),
    and bodies returning their first argument. Every exercise must score zero."""
    release = notebooks.read_notebook(paths.release_notebook(chapter))
    stubs = {notebooks.grade_id(c): notebooks.source(c) for c in notebooks.code_cells(release)
             if notebooks.is_solution(c)}
    cases = []
    for kind in ("returns_none", "returns_its_input"):
        replace = {gid: _do_nothing(src, kind) for gid, src in stubs.items()}
        cases.append(Case(f"{kind}", replace=replace,
                          scores={ex.name: 0.0 for ex in load_chapter(chapter).exercises}))
    return cases


def _do_nothing(src: str, kind: str) -> str:
    """The stub ``src`` with every ``raise NotImplementedError()`` replaced by doing nothing."""
    import ast
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg != "self"]
            body = "pass" if kind == "returns_none" or not params or node.name == "__init__" \
                else f"return {params[0]}"
            node.body = [n for n in node.body if _is_docstring(n)] + ast.parse(body).body
    return ast.unparse(tree)


def _is_docstring(node) -> bool:
    import ast
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


# -- one check, many implementations: calibrating training checks ----------------------------
def check_verdicts(chapter: str, exercise: str, variants: dict[str, dict[str, str]],
                   checks: tuple[str, ...] | None = None) -> dict[str, dict[str, CheckOutcome]]:
    """Each variant's verdict on each check of ``exercise``, in this process (trusted test code).

    A variant replaces solution cells (grade_id → source) of the reference answers; the check
    runs its probe on that namespace and compares with the grader's reference band, exactly as
    the batch grader's first phase does (no stand-ins: the check's own verdict).

    Returns:
        ``{variant: {check: CheckOutcome(passed, message)}}``.
    """
    from autograder.grader import Grader, lead
    from autograder.chapter import build_reference_namespace
    grader = Grader(load_chapter(chapter))
    ex = grader.chapter.exercise(exercise)
    wanted = [c for c in ex.checks if c.probe and (checks is None or c.name in checks)]
    out = {}
    for name, replace in variants.items():
        # the variant's cells in place of the reference's, so that every function sees them
        ns = build_reference_namespace(chapter, {gid: textwrap.dedent(src) for gid, src in replace.items()})
        jobs = {check.name: job for check, job in grader._probes(ex)}
        outs = {}
        for check in wanted:
            job = jobs[lead(ex, check).name]
            if job.index not in outs:
                outs[job.index] = grader._probe_here(lead(ex, check), job, ns)
            result = grader._evaluate(ex, check, outs[job.index])
            out.setdefault(name, {})[check.name] = CheckOutcome(result.status == "passed", result.message)
    return out


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    message: str
