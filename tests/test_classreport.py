"""The class report: score distributions, the most common failures, what did not run."""
import csv

from autograder.formats.classreport import common_failures, did_not_run, failure_key, write_class_report
from autograder.grader import SubmissionResult
from autograder.spec import CheckResult, Exercise, ExerciseResult, Check

LINREG = Exercise("linreg", (Check("values", 1, "values"), Check("gradient", 1, "gradient", kind="gradient"),
                             Check("no_lstsq", 1, "no lstsq", kind="policy")))


def submission(student: str, statuses: dict, messages: dict | None = None, error=None) -> SubmissionResult:
    checks = [CheckResult("linreg", c.name, c.kind, float(statuses[c.name] == "passed"), 1.0,
                          statuses[c.name], (messages or {}).get(c.name, c.description))
              for c in LINREG.checks]
    return SubmissionResult(student, "05_x", (ExerciseResult.from_checks(LINREG, checks),), error)


SHAPE = "linreg(X (6, 2), w (2, 1)) returned shape (6,); expected (6, 1)"
CLASS = [
    submission("a", {"values": "passed", "gradient": "passed", "no_lstsq": "passed"}),
    submission("b", {"values": "failed", "gradient": "failed", "no_lstsq": "passed"},
               {"values": SHAPE, "gradient": "returned [1.5, 2]; expected [3, 4]"}),
    submission("c", {"values": "failed", "gradient": "passed", "no_lstsq": "passed"},
               {"values": SHAPE.replace("6", "7")}),
    submission("d", {"values": "missing", "gradient": "missing", "no_lstsq": "failed"},
               {"values": "the cell `linreg` is missing", "gradient": "the cell `linreg` is missing"}),
    submission("e", {"values": "missing", "gradient": "missing", "no_lstsq": "missing"},
               {c: "not valid JSON" for c in ("values", "gradient", "no_lstsq")}, error="not valid JSON"),
]


def test_failures_group_across_numbers_and_count_each_student_once():
    assert failure_key("shape (6,) vs 0.25") == failure_key("shape (7,) vs 1e-3")
    top = common_failures([s.exercises[0] for s in CLASS])
    assert (top[0].check, top[0].count) == ("values", 2) and "returned shape" in top[0].message
    assert {f.message: f.count for f in top}["the cell `linreg` is missing"] == 1
    named = common_failures([s.exercises[0] for s in CLASS], students=[s.student_id for s in CLASS])
    assert named[0].students == ("b", "c") and {f.message: f.students for f in named}[
        "the cell `linreg` is missing"] == ("d",)


def test_did_not_run_means_unreadable_or_no_check_answered():
    assert [s.student_id for s in CLASS if did_not_run(s)] == ["d", "e"]
    assert did_not_run(CLASS[4]) == "not valid JSON"


def test_writes_html_with_a_plot_and_a_csv(tmp_path):
    write_class_report(tmp_path, CLASS)
    page = (tmp_path / "class_report.html").read_text()
    assert "2×" in page and "Submissions that did not run (2)" in page
    # one bar chart per exercise: linreg's scores are 3 (a), 1 (b), 2 (c) and 0 (d, e)
    assert page.count("<svg") == 1 and "aria-label='linreg (of 3): 2 at 0, 1 at 1, 1 at 2, 1 at 3'" in page
    assert "<title>2 students: 0 points</title>" in page and "<title>1 student: 1 point</title>" in page
    row, = csv.DictReader((tmp_path / "class_report.csv").open())
    assert (row["exercise"], row["submissions"], row["full_marks"], row["top_failure_count"],
            row["top_failure_students"]) == ("linreg", "5", "1", "2", "b c")
    assert "<small>b, c</small>" in page, "the instructor's page names who failed"
