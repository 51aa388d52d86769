"""`nbgrader autograde` (hidden test cells calling the checks in the kernel) and
`python -m autograder grade` (the harness) give the same scores on the same submissions —
including notebooks whose students added cells of their own (helpers, imports, constants),
put them in another order, or defined a name twice; and `python -m autograder check`
agrees with the notebook's own self-checks on them."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.chapter import load_chapter
from autograder.selfcheck_cli import run_selfchecks
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, Case, grade_corpus, write_case, write_nbgrader_course

CHAPTER = ch05.CHAPTER
AFFINE = "def affine(X, w, b):\n    return X @ w + b\n"
LINREG_WITH_HELPER = "def linreg(X, w, b):\n    return affine(X, w, b)\n"
BUGGY_SGD = """
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
"""
ADDED = [
    # a helper, an import and a constant, each in a cell of the student's own
    Case("helper_import_constant", replace={
        "linreg": LINREG_WITH_HELPER,
        "squared_loss": "def squared_loss(y_hat, y):\n    return sq(y_hat - y.reshape(y_hat.shape)) * HALF\n"},
        insert=(("data_iter", AFFINE), ("linreg", "from torch import square as sq"),
                ("linreg", "HALF = 0.5"))),
    # the helper's cell comes after the test cell of the function that needs it: nbgrader's
    # test of linreg fails (the helper is not defined yet there), the training's passes
    Case("helper_after_its_test", replace={"linreg": LINREG_WITH_HELPER},
         insert=(("test_linreg", AFFINE),)),
    # the helper is defined after the cell that uses it, both before the test cell
    Case("helper_reordered", replace={"linreg": LINREG_WITH_HELPER}, insert=(("linreg", AFFINE),)),
    # sgd defined twice: right in its cell, then a buggy copy after its test: the training,
    # which comes later, sees the buggy one (as in nbgrader)
    Case("sgd_defined_twice", insert=(("test_sgd", BUGGY_SGD),)),
]
CASES = [SOLUTION, STUB, *examples.WRONG] + ADDED
FULL = load_chapter(CHAPTER).max_score


def nbgrader(root: Path, *args: str) -> None:
    exe = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "COURSE_FAST": "1",
           "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(exe), *args, "--log-level=WARN"], cwd=root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def nbgrader_scores(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    write_nbgrader_course(root)
    nbgrader(root, "generate_assignment", CHAPTER, "--force")
    for case in CASES:
        write_case(CHAPTER, case, root / "submitted")
    nbgrader(root, "autograde", CHAPTER, "--create", "--force")
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        return {c.name: {n.name: {g.name: g.score for g in n.grades}
                         for n in gb.find_submission(CHAPTER, c.name).notebooks} for c in CASES}


@pytest.fixture(scope="module")
def batch_results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("batch"))


def test_both_paths_give_the_same_totals(nbgrader_scores, batch_results):
    nb_totals = {name: sum(cells.values()) for name, nbs in nbgrader_scores.items() for cells in nbs.values()}
    batch = {name: r.score for name, r in batch_results.items()}
    assert nb_totals == pytest.approx(batch)
    assert batch["solution"] == FULL and batch["stub"] == 0
    assert len(set(batch.values())) >= 4, "the cases should score differently"
    assert nb_totals["warns_on_stderr"] == FULL, "a UserWarning on stderr costs no points"


def test_both_paths_agree_exercise_by_exercise(nbgrader_scores, batch_results):
    for name, result in batch_results.items():
        cells = next(iter(nbgrader_scores[name].values()))
        ours = {f"test_{ex.exercise}": ex.score for ex in result.exercises}
        theirs = {gid: score for gid, score in cells.items() if gid.startswith("test_")}
        assert theirs == pytest.approx(ours), name


def test_added_cells_grade_as_nbgrader_runs_them(batch_results):
    scores = {name: {ex.exercise: ex.score for ex in r.exercises} for name, r in batch_results.items()}
    points = {ex.name: ex.points for ex in load_chapter(CHAPTER).exercises}
    assert batch_results["helper_import_constant"].score == FULL
    assert batch_results["helper_reordered"].score == FULL
    assert scores["helper_after_its_test"]["linreg"] == 0
    assert scores["helper_after_its_test"]["training"] == points["training"]
    assert scores["sgd_defined_twice"]["sgd"] == points["sgd"]
    assert scores["sgd_defined_twice"]["training"] < points["training"]


@pytest.mark.parametrize("name, linreg_passes", [("helper_import_constant", True),
                                                 ("helper_after_its_test", False)])
def test_the_check_command_agrees(tmp_path, name, linreg_passes):
    case = next(c for c in ADDED if c.name == name)
    rows = {ex: ok for ex, ok, _ in run_selfchecks(write_case(CHAPTER, case, tmp_path))}
    assert rows["linreg"] is linreg_passes
    assert rows["squared_loss"] and rows["sgd"]
