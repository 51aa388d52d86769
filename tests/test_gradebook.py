"""`--gradebook` writes the batch grader's scores into nbgrader's gradebook database, with
the autograded copies and timestamps formgrader needs (tests/test_formgrader.py reads them
through formgrader itself; tests/test_guide.py writes them from a real grading run)."""
import hashlib

import pytest

from autograder import batch, lateness
from autograder.formats import gradebook
from autograder.chapter import load_chapter
from autograder.grader import SubmissionResult
from autograder.spec import ExerciseResult
from autograder.submissions import Submission
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, Case, write_case
from tests.test_formgrader import synthetic

CHAPTER = ch05.CHAPTER
CASES = [SOLUTION, STUB, Case("partial"), examples.NOT_JSON]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A few chapter-05 submissions and their results written into a fresh gradebook;
    return (db url, our scores, the course folder)."""
    tmp = tmp_path_factory.mktemp("gradebook")
    submitted = tmp / "submitted"
    results = []
    for case in CASES:
        path = write_case(CHAPTER, case, submitted)
        if case is STUB:
            (path.parent / "timestamp.txt").write_text("2026-03-01 18:00:00.000000 Europe/Berlin")
        result = synthetic(case.name, "not valid JSON" if case.raw else None)
        results.append(batch.stamped(result, Submission(case.name, CHAPTER, path), submitted,
                                     hashlib.sha256(path.read_bytes()).hexdigest(), lateness.Deadlines({}, {})))
    url = f"sqlite:///{tmp / 'gradebook.db'}"
    lines: list[str] = []
    assert gradebook.write_gradebook(results, url, submitted, progress=lines.append) == len(CASES)
    assert lines[-1] == f"gradebook: {len(CASES)}/{len(CASES)} submission(s) written", "progress while writing"
    return url, {r.student_id: r.score for r in results}, tmp


def test_submission_scores_match_ours(graded):
    url, ours, _ = graded
    full = load_chapter(CHAPTER).max_score
    assert ours["solution"] == full and ours["stub"] == 0 and 0 < ours["partial"] < full
    with gradebook.open_gradebook(url) as gb:
        theirs = {c.name: gb.find_submission(CHAPTER, c.name).score for c in CASES}
        assert gb.find_assignment(CHAPTER).max_score == load_chapter(CHAPTER).max_score
    assert theirs == pytest.approx(ours)


def test_each_test_cell_gets_its_exercise_score(graded):
    url, _, _ = graded
    with gradebook.open_gradebook(url) as gb:
        sgd = gb.find_grade("test_sgd", CHAPTER, CHAPTER, "partial")
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


def test_the_quick_gradebook_reader_agrees_with_nbgraders(tmp_path):
    """read_class reads an SQLite gradebook without nbgrader (a grading run's start); what it
    reads — due dates, extensions, names — is what nbgrader's own Gradebook gives."""
    from datetime import datetime, timedelta
    from autograder.formats.gradebook import open_gradebook, read_class_nbgrader, read_class_sqlite
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    chapters = ["01_tensors_broadcasting", "03_linear_models_mle", "05_linear_regression_scratch"]
    with open_gradebook(url) as gb:
        gb.update_or_create_assignment(chapters[0], duedate=datetime(2026, 3, 1, 16, 30, 5, 250000))
        gb.update_or_create_assignment(chapters[1])  # no due date
        gb.add_student("ada", first_name="Ada", last_name="Lovelace", email="ada@example.org", lms_user_id="77")
        gb.add_student("bob")
        sub = gb.add_submission(chapters[0], "ada")
        sub.extension = timedelta(days=2, hours=3, seconds=7)
        gb.db.commit()
        gb.add_submission(chapters[0], "bob")
    quick = read_class_sqlite(url, chapters)
    assert quick is not None, "an nbgrader gradebook in SQLite is read without nbgrader"
    assert quick == read_class_nbgrader(url, chapters)
    due, extensions, roster = quick
    assert due == {chapters[0]: datetime(2026, 3, 1, 16, 30, 5, 250000)}
    assert extensions == {(chapters[0], "ada"): timedelta(days=2, hours=3, seconds=7)}
    assert roster["ada"]["last_name"] == "Lovelace" and roster["bob"]["first_name"] is None
    assert read_class_sqlite(f"sqlite:///{tmp_path / 'absent.db'}", chapters) is None
    assert read_class_sqlite("postgresql://host/db", chapters) is None
