"""Late work: nbgrader's timestamps and due dates, its penalty methods, and where lateness shows."""
import dataclasses
import datetime as dt

import pytest
from nbgrader.utils import parse_utc

from autograder import lateness
from autograder.formats.feedback import feedback_html
from autograder.formats.results import results_json
from autograder.formats.tables import SUMMARY_COLUMNS, grades_rows, summary_rows
from autograder.grader import SubmissionResult
from autograder.spec import Check, CheckResult, Exercise, ExerciseResult

DUE = dt.datetime(2026, 3, 1, 16, 0)  # 17:00 in Berlin


@pytest.mark.parametrize("text", ["2026-03-01 17:00:00 Europe/Berlin", "2026-03-01 16:00:00.123456 UTC",
                                  "2026-03-01T17:00:00+01:00", "2026-03-01 16:00", "2026-03-01 16:00:00 3600",
                                  "2026-03-01T16:00:00Z"])
def test_times_are_read_as_nbgrader_reads_them(text):
    assert lateness.parse_time(text) == parse_utc(text)


def test_a_time_that_is_no_time_is_one_clear_error():
    with pytest.raises(ValueError, match="not a date and time: 'soon'"):
        lateness.parse_time("soon")


def test_timestamp_files(tmp_path):
    assert lateness.read_timestamp(tmp_path) == (None, "")
    (tmp_path / "timestamp.txt").write_text("2026-03-01 18:30:00.000000 Europe/Berlin\n")
    assert lateness.read_timestamp(tmp_path) == (dt.datetime(2026, 3, 1, 17, 30), "")
    (tmp_path / "timestamp.txt").write_text("")
    assert lateness.read_timestamp(tmp_path) == (None, "timestamp.txt is empty; counted as on time")
    (tmp_path / "timestamp.txt").write_text("yesterday-ish")
    when, note = lateness.read_timestamp(tmp_path)
    assert when is None and "timestamp.txt: not a date and time" in note


def test_lateness_counts_the_students_extension():
    deadlines = lateness.Deadlines({"ch": DUE}, {("ch", "bob"): dt.timedelta(hours=2)})
    submitted = DUE + dt.timedelta(hours=1, minutes=30)
    assert deadlines.seconds_late("ch", "alice", submitted) == 5400
    assert deadlines.seconds_late("ch", "bob", submitted) == 0
    assert deadlines.seconds_late("ch", "alice", DUE - dt.timedelta(seconds=1)) == 0
    assert deadlines.seconds_late("ch", "alice", None) == 0, "no timestamp: not late"
    assert deadlines.seconds_late("other", "alice", submitted) == 0, "no due date: not late"


def test_penalty_methods_as_in_nbgrader():
    hours = 3600
    assert lateness.LatePolicy("none").penalty(17, 5 * hours) == 0
    assert lateness.LatePolicy("zero").penalty(17, 1) == 17
    assert lateness.LatePolicy("zero").penalty(17, 0) == 0, "on time costs nothing"
    assert lateness.LatePolicy("subtract").penalty(17, 2.6 * hours) == 3, "hours rounded, a point each"
    assert lateness.LatePolicy("subtract", 0.5).penalty(17, 4 * hours) == 2
    assert lateness.LatePolicy("subtract").penalty(17, 0.4 * hours) == 0
    assert lateness.LatePolicy("subtract").penalty(5, 30 * hours) == 5, "never below zero"


LINREG = Exercise("linreg", (Check("values", 2, "values"), Check("shape", 1, "shape")))


def late_result(penalty: float = 3.0) -> SubmissionResult:
    checks = [CheckResult("linreg", c.name, c.kind, c.points, c.points, "passed", c.description)
              for c in LINREG.checks]
    return SubmissionResult("carol", "05_x", (ExerciseResult.from_checks(LINREG, checks),),
                            notebook="carol/05_x/05_x (1).ipynb", notebook_sha256="ab" * 32,
                            duedate="2026-03-01T16:00:00Z", timestamp="2026-03-01T19:10:00Z",
                            seconds_late=3 * 3600 + 600, late_penalty=penalty)


def test_lateness_in_every_output():
    sub = late_result()
    row, = grades_rows([sub])
    assert (row["notebook"], row["timestamp"], row["seconds_late"]) == \
        ("carol/05_x/05_x (1).ipynb", "2026-03-01T19:10:00Z", "11400")
    summary, = summary_rows([sub])
    assert (summary["duedate"], summary["timestamp"], summary["raw_score"],
            summary["late_submission_penalty"], summary["score"], summary["max_score"]) == \
        ("2026-03-01 16:00:00", "2026-03-01 19:10:00", "3.0", "3.0", "0.0", "3.0")
    entry, = results_json([sub], {})["submissions"]
    assert (entry["score"], entry["raw_score"], entry["late_penalty"], entry["seconds_late"]) == (0, 3, 3, 11400)
    page = feedback_html(sub)
    assert "3 h 10 min late" in page and "3 earned, 3 off for late submission" in page
    assert "carol/05_x/05_x (1).ipynb" in page and "abababab" in page
    on_time = feedback_html(dataclasses.replace(sub, seconds_late=0.0, late_penalty=0.0,
                                                timestamp="2026-03-01T15:00:00Z"))
    assert ": on time." in on_time and "late" not in on_time


def test_summary_has_nbgrader_exports_columns_in_order_and_the_rosters_names():
    assert SUMMARY_COLUMNS == ["assignment", "duedate", "timestamp", "student_id", "last_name",
                               "first_name", "email", "raw_score", "late_submission_penalty",
                               "score", "max_score"]
    roster = {"carol": {"last_name": "Doe", "first_name": "Carol", "email": "c@example.org"}}
    row, = summary_rows([late_result()], roster)
    assert [row[k] for k in ("last_name", "first_name", "email")] == ["Doe", "Carol", "c@example.org"]
    row, = summary_rows([late_result()])
    assert [row[k] for k in ("last_name", "first_name", "email")] == ["", "", ""]
