"""`nbgrader autograde` (hidden test cells calling the checks in the kernel) and
`python -m autograder grade` (the harness) give the same scores on the same submissions."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import test_chapter_05 as ch05
from tests.corpus import grade_corpus, write_case, write_nbgrader_course

CHAPTER = ch05.CHAPTER
NAMES = ["solution", "stub", "sgd_never_zeroes", "squared_loss_broadcasts",
         "data_iter_drops_last_batch", "linreg_returns_a_vector", "warns_on_stderr"]
CASES = [c for c in ch05.CASES if c.name in NAMES]


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
        return {c.name: gb.find_submission(CHAPTER, c.name).score for c in CASES}


@pytest.fixture(scope="module")
def batch_scores(tmp_path_factory):
    results = grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("batch"))
    return {name: r.score for name, r in results.items()}


def test_both_paths_give_the_same_totals(nbgrader_scores, batch_scores):
    assert nbgrader_scores == pytest.approx(batch_scores)
    assert batch_scores["solution"] == 17 and batch_scores["stub"] == 0
    assert len(set(batch_scores.values())) >= 4, "the cases should score differently"
    assert nbgrader_scores["warns_on_stderr"] == 17, "a UserWarning on stderr costs no points"
