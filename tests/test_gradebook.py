"""`--gradebook` writes the batch grader's scores into nbgrader's gradebook database, with
the autograded copies and timestamps formgrader needs (tests/test_formgrader.py reads them
through formgrader itself)."""
import csv
import subprocess
import sys

import pytest

from autograder.formats import gradebook
from autograder.chapter import load_chapter
from autograder.grader import SubmissionResult
from autograder.spec import ExerciseResult
from tests import test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, write_case

CHAPTER = ch05.CHAPTER
CASES = [SOLUTION, STUB, *(c for c in ch05.CASES if c.name in ("sgd_never_zeroes", "not_json"))]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade a few chapter-05 submissions with ``--gradebook``; return (db url, our scores)."""
    tmp = tmp_path_factory.mktemp("gradebook")
    for case in CASES:
        write_case(CHAPTER, case, tmp / "submitted")
    (tmp / "submitted" / "stub" / CHAPTER / "timestamp.txt").write_text("2026-03-01 18:00:00.000000 Europe/Berlin")
    url = f"sqlite:///{tmp / 'gradebook.db'}"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp / "submitted"),
                           "--chapter", CHAPTER, "--jobs", "2", "--device", "cpu",
                           "--out", str(tmp / "out"), "--gradebook", url],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "into nbgrader's gradebook" in proc.stdout
    assert f"gradebook: {len(CASES)}/{len(CASES)} submission(s) written" in proc.stderr, "progress while writing"
    summary = csv.DictReader((tmp / "out" / "summary.csv").open())
    return url, {r["student_id"]: float(r["score"]) for r in summary}, tmp


def test_submission_scores_match_ours(graded):
    url, ours, _ = graded
    assert ours["solution"] == 17 and ours["stub"] == 0 and 0 < ours["sgd_never_zeroes"] < 17
    with gradebook.open_gradebook(url) as gb:
        theirs = {c.name: gb.find_submission(CHAPTER, c.name).score for c in CASES}
        assert gb.find_assignment(CHAPTER).max_score == 17
    assert theirs == pytest.approx(ours)


def test_each_test_cell_gets_its_exercise_score(graded):
    url, _, _ = graded
    with gradebook.open_gradebook(url) as gb:
        sgd = gb.find_grade("test_sgd", CHAPTER, CHAPTER, "sgd_never_zeroes")
        linreg = gb.find_grade("test_linreg", CHAPTER, CHAPTER, "stub")
        assert (sgd.auto_score, sgd.max_score, sgd.needs_manual_grade) == (2, 3, False)
        assert (linreg.auto_score, linreg.max_score) == (0, 2)


def test_timestamps_and_autograded_copies_as_nbgrader_autograde_leaves_them(graded):
    url, _, tmp = graded
    with gradebook.open_gradebook(url) as gb:
        assert str(gb.find_submission(CHAPTER, "stub").timestamp) == "2026-03-01 17:00:00"
        assert gb.find_submission(CHAPTER, "solution").timestamp is None
    for case in CASES:
        copy = tmp / "autograded" / case.name / CHAPTER / f"{CHAPTER}.ipynb"
        assert copy.is_file(), f"formgrader lists {case.name} only with its autograded notebook"
    assert (tmp / "autograded" / "stub" / CHAPTER / "timestamp.txt").read_text().startswith("2026-03-01 18:00")
    broken = (tmp / "autograded" / "not_json" / CHAPTER / f"{CHAPTER}.ipynb").read_text()
    assert "could not be read" in broken, "an unreadable submission still gets a notebook, saying why"


def test_rewriting_keeps_a_manual_override_and_flags_it(graded):
    url, _, _ = graded
    with gradebook.open_gradebook(url) as gb:
        grade = gb.find_grade("test_sgd", CHAPTER, CHAPTER, "stub")
        grade.manual_score = 1.0
        gb.db.commit()
    zeros = tuple(ExerciseResult.from_checks(ex, []) for ex in load_chapter(CHAPTER).exercises)
    assert gradebook.write_gradebook([SubmissionResult("stub", CHAPTER, zeros)], url) == 1
    with gradebook.open_gradebook(url) as gb:
        grade = gb.find_grade("test_sgd", CHAPTER, CHAPTER, "stub")
        assert (grade.auto_score, grade.score, grade.needs_manual_grade) == (0, 1.0, True)
        assert gb.find_submission(CHAPTER, "stub").score == 1.0


def test_a_path_is_taken_as_an_sqlite_file(tmp_path):
    assert gradebook.as_db_url(str(tmp_path / "g.db")) == f"sqlite:///{tmp_path / 'g.db'}"
    assert gradebook.as_db_url("postgresql://host/db") == "postgresql://host/db"
