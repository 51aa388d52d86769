"""Faults in student code cost exactly what they stop, with a message; the batch goes on."""
import pytest

from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.runner import Limits
from tests.corpus import Case, write_case

CHAPTER = "05_linear_regression_scratch"
FAST_LIMITS = Limits(check_seconds=3, cell_seconds=5, submission_seconds=120)


def grade(case, tmp_path):
    path = write_case(CHAPTER, case, tmp_path)
    return Grader(load_chapter(CHAPTER), limits=FAST_LIMITS).grade(path, case.name)


def scores(result):
    return {e.exercise: e.score for e in result.exercises}


def full_but(**lost) -> dict:
    """Every exercise's full points, but those named."""
    return {ex.name: lost.get(ex.name, ex.points) for ex in load_chapter(CHAPTER).exercises}


def test_a_function_that_never_returns_times_out_alone(tmp_path):
    result = grade(Case("hangs", replace={"linreg": """
        def linreg(X, w, b):
            while True:
                pass
        """}), tmp_path)
    assert scores(result) == full_but(linreg=0)  # the training runs with a working linreg
    linreg = next(e for e in result.exercises if e.exercise == "linreg")
    assert all(c.status == "timeout" for c in linreg.checks)
    assert "time limit (3 s)" in linreg.message


def test_a_segfault_in_one_function_costs_only_its_checks(tmp_path):
    result = grade(Case("segfaults", replace={"sgd": """
        import ctypes
        def sgd(params, lr, batch_size):
            ctypes.string_at(0)
        """}), tmp_path)
    assert scores(result) == full_but(sgd=0)  # the training runs with a working sgd
    sgd = next(e for e in result.exercises if e.exercise == "sgd")
    assert {c.status for c in sgd.checks} == {"crashed"} and "SIGSEGV" in sgd.message


@pytest.mark.parametrize("exc", ["SystemExit(0)", "KeyboardInterrupt()"])
def test_exit_exceptions_inside_a_function_are_errors_not_exits(tmp_path, exc):
    result = grade(Case("raises", replace={"squared_loss": f"""
        def squared_loss(y_hat, y):
            raise {exc}
        """}), tmp_path)
    assert scores(result) == full_but(squared_loss=0)
    assert exc.split("(")[0] in next(e for e in result.exercises if e.exercise == "squared_loss").message
