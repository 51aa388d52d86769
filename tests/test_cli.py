"""The command line: bad arguments get one line before PyTorch loads; `check` prints a table.

Grading a class end to end is tests/test_sloppy_class.py."""
import json
import subprocess
import sys

import pytest

from tests import test_chapter_05 as ch05
from tests.corpus import STUB, write_case

CHAPTER = ch05.CHAPTER
# run the command in-process and report its status, its stderr and whether torch was loaded
PROBE = ("import contextlib, io, json, sys\nfrom autograder.cli import main\nerr = io.StringIO()\n"
         "with contextlib.redirect_stderr(err):\n    try:\n        rc = main(sys.argv[1:])\n"
         "    except SystemExit as e:\n        rc = e.code\n"
         "print(json.dumps([rc, err.getvalue(), 'torch' in sys.modules]))")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd)


def probe(*args, cwd=None) -> tuple[int, str, bool]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return tuple(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A class folder with one submission, and a file where a folder is expected."""
    tmp = tmp_path_factory.mktemp("cli")
    write_case(CHAPTER, STUB, tmp / "submitted")
    (tmp / "grades.txt").write_text("not a folder")
    return tmp


BAD = [
    (["--jobs", "-1"], "argument --jobs: expected a whole number greater than 0, got '-1'"),
    (["--jobs", "two"], "argument --jobs: expected a whole number greater than 0, got 'two'"),
    (["--timeout", "0"], "argument --timeout: expected a number greater than 0, got '0'"),
    (["--memory-mb", "-5"], "argument --memory-mb: expected a whole number greater than 0"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--late-penalty", "half"], "argument --late-penalty: invalid choice: 'half'"),
    (["--chapter", "05_linear_regresion_scratch"],
     "--chapter '05_linear_regresion_scratch' is not a chapter of this course; did you mean "
     "05_linear_regression_scratch?"),
    (["--out", "grades.txt"], "--out grades.txt is a file; expected a folder"),
    (["--out", "submitted/grades"], "--out submitted/grades is inside the class folder submitted"),
    (["--due", "next friday"], "--due 'next friday': not a date and time"),
    (["--due", "05_linear=2026-03-01"], "--due '05_linear=2026-03-01': '05_linear' is not a chapter "
                                        "of this course; did you mean 05_linear_regression_scratch?"),
    (["--gradebook", "nowhere/gradebook.db"], "--gradebook nowhere/gradebook.db: no folder"),
    (["--gradebook", "submitted"], "--gradebook submitted is a folder"),
    (["--roster", "roster.csv"], "--roster roster.csv: no such file"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_bad_argument_is_one_line_before_torch_loads(course, extra, message):
    args = {"--chapter": "all", "--out": "grades", **dict(zip(extra[::2], extra[1::2]))}
    rc, err, torch_loaded = probe("grade", "submitted", *[x for kv in args.items() for x in kv], cwd=course)
    assert (rc, torch_loaded) == (2, False), err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("folder, message", [("missing", "no such folder: missing (expected the class folder"),
                                             ("grades.txt", "grades.txt is a file; expected the class folder")])
def test_a_bad_class_folder_is_one_line(course, folder, message):
    rc, err, torch_loaded = probe("grade", folder, "--chapter", "all", "--out", "grades", cwd=course)
    assert (rc, torch_loaded) == (2, False) and message in err and len(err.strip().splitlines()) == 1


def test_the_arguments_themselves_are_fine(course):
    """The cases above fail for their one bad argument: the same command without it passes
    the checks (and, with nothing graded yet, would start grading)."""
    from argparse import Namespace
    from pathlib import Path

    from autograder.cli import argument_problem
    from autograder.submissions import graded_chapters
    args = Namespace(submitted=course / "submitted", chapter=CHAPTER, out=course / "grades", due=[],
                     gradebook=str(course / "gradebook.db"), roster=None, scheduler_file=None)
    assert argument_problem(args, graded_chapters()) is None
    assert argument_problem(Namespace(**{**vars(args), "due": [f"{CHAPTER}=2026-03-01 17:00"]}),
                            graded_chapters()) is None
    assert not Path(course / "grades").exists()


def test_nothing_to_grade_exits_non_zero_and_writes_nothing(tmp_path):
    (tmp_path / "submitted" / "alice" / "05_linear_regresion_scratch").mkdir(parents=True)
    (tmp_path / "submitted" / "alice" / "05_linear_regresion_scratch" / "05.ipynb").write_text("{}")
    rc, err, torch_loaded = probe("grade", "submitted", "--chapter", "all", "--out", "grades", cwd=tmp_path)
    assert (rc, torch_loaded) == (1, False)
    assert "nothing to grade in submitted" in err and "nothing was written" in err
    assert "alice/05_linear_regresion_scratch: not a chapter of this course; did you mean " \
           "05_linear_regression_scratch?" in err
    assert not (tmp_path / "grades").exists()


def test_check_prints_a_table_of_self_checks(tmp_path):
    path = write_case(CHAPTER, STUB, tmp_path)
    proc = run("check", str(path))
    assert proc.returncode == 1
    assert "✗ sgd" in proc.stdout and "not written yet" in proc.stdout
    assert "0 of 5 exercises pass their self-checks" in proc.stdout


# -- a runaway notebook costs its budget, not minutes -----------------------------------------
from tests.corpus import SOLUTION, Case  # noqa: E402

LOOP = "    while True:\n        pass\n"
RUNAWAY = Case("runaway", replace={"linreg": "def linreg(X, w, b):\n" + LOOP,
                                   "squared_loss": "def squared_loss(y_hat, y):\n" + LOOP,
                                   "sgd": "def sgd(params, lr, batch_size):\n" + LOOP})
BUDGET, CHECK_LIMIT = 6, 2


@pytest.fixture(scope="module")
def runaway_class(tmp_path_factory):
    """A correct submission and one whose three functions loop for ever, graded with a small
    budget and per-check limit from the command line; (exit status, stderr, results.json)."""
    tmp = tmp_path_factory.mktemp("runaway")
    for case in (SOLUTION, RUNAWAY):
        write_case(CHAPTER, case, tmp / "submitted")
    proc = run("grade", "submitted", "--chapter", CHAPTER, "--jobs", "2", "--device", "cpu", "--out", "grades",
               "--timeout", str(BUDGET), "--check-timeout", str(CHECK_LIMIT), cwd=tmp)
    return proc.returncode, proc.stderr, json.loads((tmp / "grades" / "results.json").read_text())


def test_a_runaway_costs_at_most_its_budget(runaway_class):
    rc, err, results = runaway_class
    assert rc == 0, err
    subs = {s["student_id"]: s for s in results["submissions"]}
    assert subs["solution"]["score"] == subs["solution"]["max_score"]
    assert subs["runaway"]["seconds"] <= BUDGET + 2, "the budget spans every check and re-run"
    assert results["run"]["budget_seconds"] == {CHAPTER: BUDGET}


def test_checks_after_a_time_out_are_skipped_with_one_message_and_never_stood_in_for(runaway_class):
    _, _, results = runaway_class
    runaway = next(s for s in results["submissions"] if s["student_id"] == "runaway")
    checks = {(ex["exercise"], c["check"]): c for ex in runaway["exercises"] for c in ex["checks"]}
    assert f"the check's time limit ({CHECK_LIMIT:g} s)" in checks["linreg", "values"]["message"]
    assert checks["linreg", "gradient"]["message"] == \
        "not run: an earlier check of `linreg` (values) ran out of time, so its other checks were skipped"
    assert all(c["status"] == "timeout" for (ex, _), c in checks.items() if ex in ("linreg", "squared_loss", "sgd"))
    assert any(f"time limit ({BUDGET:g} s) was used up" in c["message"] for c in checks.values())
    assert not any(c["standins"] for c in checks.values()), "the budget was spent: no stand-in re-run"


def test_an_exercise_that_timed_out_is_stood_in_for_only_where_that_removes_the_cause():
    """Training timed out: graded again with a working `linreg` only when `linreg` itself ran
    out of time in its own checks; a `linreg` that merely failed would not explain the time-out,
    and the re-run would spend the budget again."""
    from autograder.chapter import load_chapter
    from autograder.grader import Grader
    from autograder.spec import CheckResult, ExerciseResult
    g = Grader(load_chapter(CHAPTER))

    def result(ex, status):
        checks = [CheckResult(ex.name, c.name, c.kind, 0.0 if status != "passed" else c.points, c.points,
                              status, status) for c in ex.checks]
        return ExerciseResult.from_checks(ex, checks)
    sources = list(g._release_sources().values())
    exercises = {ex.name: ex for ex in g.chapter.exercises}
    known = {name: result(ex, "passed") for name, ex in exercises.items()}
    known["training"] = result(exercises["training"], "timeout")
    for linreg, rerun in (("failed", False), ("timeout", True), ("crashed", True)):
        known["linreg"] = result(exercises["linreg"], linreg)
        plan = g.standin_plan(exercises["training"], known, sources)
        assert (plan is not None and plan.names == ("linreg",)) is rerun, linreg


def test_the_time_left_names_a_runaway_still_running():
    import time
    from collections import namedtuple

    from autograder.executors.local import time_left
    sub = namedtuple("Sub", "student_id chapter")("bob", CHAPTER)
    calm = time_left(22, 23, 20.0, {}, [0.5] * 22, {CHAPTER: 200.0})
    assert calm == "about 1 s left"
    stuck = time_left(22, 23, 40.0, {sub: time.monotonic() - 30}, [0.5] * 22, {CHAPTER: 200.0})
    assert stuck.startswith("about 170 s left at most: bob/") and "has run 30 s" in stuck and "200 s" in stuck


def test_the_default_budget_follows_the_reference_time():
    from autograder import grader
    from autograder.chapter import load_chapter
    from autograder.runner import Limits
    g = grader.Grader(load_chapter(CHAPTER))
    assert g.budget() == round(max(grader.BUDGET_FLOOR, grader.BUDGET_FACTOR * g.reference_time()), 1)
    assert 0 < g.reference_time() < 60
    assert grader.Grader(load_chapter(CHAPTER), limits=Limits(submission_seconds=7)).budget() == 7
