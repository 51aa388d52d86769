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


# -- one policy, both paths: nbgrader autograde with the course's plugin, and the batch grader --
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from autograder import batch, cli, paths  # noqa: E402
from autograder.submissions import graded_chapters, survey  # noqa: E402
from tests.corpus import SOLUTION, Case, write_case  # noqa: E402

CH01 = "01_tensors_broadcasting"
BERLIN_DUE = "2026-03-01 17:00:00 Europe/Berlin"  # 16:00 UTC
# student → (case, submitted): 2 h 40 min late (3 h rounded), 30 h late with a wrong answer, on time
LATE_CLASS = {"late_full": (SOLUTION, "2026-03-01 18:40:00 UTC"),
              "late_partial": (Case("late_partial", replace={"row_normalize": "def row_normalize(X):\n    return X / X.sum()\n"}),
                               "2026-03-02 22:00:00 UTC"),
              "on_time": (SOLUTION, "2026-03-01 15:00:00 UTC")}
POLICIES = {"none": 1.0, "zero": 1.0, "subtract": 0.5}


def nbgrader_run(root: Path, *args: str) -> str:
    exe = Path(sys.executable).with_name("nbgrader")
    env = {**os.environ, "COURSE_FAST": "1", "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(exe), *args], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def course_with_policy(root: Path, method: str, points: float) -> None:
    """The course's own nbgrader_config.py (its plugin and sanitizing steps), in a course folder
    of its own that reads ``solutions/``, with the late policy set as the guide says."""
    text = (paths.course_root() / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(text + f"""
c.CourseDirectory.root = {str(root)!r}
c.CourseDirectory.source_directory = {str(paths.course_root() / 'solutions')!r}
c.CourseDirectory.release_directory = 'release'
c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'
c.LatePenalty.penalty_method = {method!r}
c.LatePenalty.points_per_hour = {points!r}
""")


@pytest.fixture(scope="module")
def both_paths(tmp_path_factory):
    """Per policy: each student's penalty from ``nbgrader autograde`` (the gradebook) and from
    the batch grader, both reading the policy from the same nbgrader_config.py; and what
    nbgrader printed on the first run."""
    from nbgrader.api import Gradebook
    root = tmp_path_factory.mktemp("late")
    course_with_policy(root, "none", 1.0)
    logs = [nbgrader_run(root, "db", "assignment", "add", CH01, f"--duedate={BERLIN_DUE}")]
    logs.append(nbgrader_run(root, "generate_assignment", CH01, "--force"))
    for student, (case, when) in LATE_CLASS.items():
        folder = write_case(CH01, dataclasses.replace(case, name=student), root / "submitted").parent
        (folder / "timestamp.txt").write_text(when)
    found = survey(root / "submitted", [CH01], graded_chapters())
    penalties = {}
    for method, points in POLICIES.items():
        course_with_policy(root, method, points)
        # the first run executes the notebooks; the others, to stay cheap, run only nbgrader's
        # late-penalty step (AssignLatePenalties with the course's plugin) on the stored scores
        only_penalty = ["--Autograde.autograde_preprocessors=['nbgrader.preprocessors.AssignLatePenalties']"] \
            if penalties else []
        logs.append(nbgrader_run(root, "autograde", CH01, "--force", *only_penalty))
        with Gradebook(f"sqlite:///{root}/gradebook.db") as gb:
            notebooks = {s: gb.find_submission_notebook(CH01, CH01, s) for s in LATE_CLASS}
            theirs = {s: (nb.late_submission_penalty or 0.0, nb.score) for s, nb in notebooks.items()}
            due = {CH01: gb.find_assignment(CH01).duedate}
        policy = cli.configured_policy(root)
        run = batch.grade_class(root / "submitted", found, root / "grades", progress=False, jobs=2,
                                deadlines=lateness.Deadlines(due, {}, policy))
        ours = {r.student_id: (r.late_penalty, r.score) for r in run.results}
        penalties[method] = (theirs, ours, policy)
    return penalties, logs


def test_both_paths_give_the_same_penalty_under_every_policy(both_paths):
    penalties, _ = both_paths
    for method, (theirs, ours, policy) in penalties.items():
        assert policy == lateness.LatePolicy(method, POLICIES[method]), "the batch grader reads the file"
        rounded = [{s: tuple(round(x, 6) for x in pair) for s, pair in side.items()} for side in (theirs, ours)]
        assert rounded[0] == rounded[1], f"{method}: (penalty, score) per student, nbgrader vs batch"
    scores = {s: score for s, (_, score) in penalties["none"][1].items()}
    assert scores["late_full"] > scores["late_partial"] > 0
    penalty = {method: {s: p for s, (p, _) in theirs.items()} for method, (theirs, _, _) in penalties.items()}
    assert penalty["none"] == {s: 0 for s in LATE_CLASS}
    assert penalty["zero"] == pytest.approx({"late_full": scores["late_full"],
                                             "late_partial": scores["late_partial"], "on_time": 0})
    assert penalty["subtract"] == pytest.approx({"late_full": 1.5, "on_time": 0,
                                                 "late_partial": min(15.0, scores["late_partial"])})


def test_nbgrader_runs_the_course_configuration_without_warnings(both_paths):
    """No "root '.' is not absolute" (a relative CourseDirectory.root), and no "checksum has
    changed" for test cells the students left as released (autograder/nbgrader_plugins.py)."""
    _, logs = both_paths
    text = "\n".join(logs)
    assert "is not absolute" not in text
    assert "has changed" not in text, [line for line in text.splitlines() if "has changed" in line][:3]


def test_a_policy_nbgrader_does_not_know_is_refused_in_one_line():
    with pytest.raises(ValueError, match="penalty_method 'half' is not one of none, zero, subtract"):
        lateness.policy_from_config({"LatePenalty": {"penalty_method": "half"}})
    assert lateness.policy_from_config({"LateSubmissionPlugin": {"penalty_method": "zero"}}) == \
        lateness.LatePolicy("zero"), "the base class's section applies, as in traitlets"
    assert lateness.policy_from_config({}) == lateness.LatePolicy("none")


# -- due dates from wherever the instructor set them --------------------------------------------
def class_context(monkeypatch, capsys, db: Path, **args):
    """The batch grader's due dates for one chapter, with the course's gradebook at ``db``;
    (deadlines, what it printed)."""
    from argparse import Namespace
    from types import SimpleNamespace

    from autograder.formats import gradebook
    monkeypatch.setattr(gradebook, "default_db_url", lambda: f"sqlite:///{db}")
    ns = Namespace(**{"due": [], "gradebook": None, "late_penalty": None, "late_points_per_hour": None, **args})
    deadlines, _ = cli._class_context(ns, SimpleNamespace(chapters=[CH01]), cli._late_policy(ns))
    return deadlines, capsys.readouterr().err


def test_due_dates_come_from_the_courses_gradebook_without_gradebook_option(tmp_path, monkeypatch, capsys):
    from autograder.formats.gradebook import open_gradebook
    db = tmp_path / "gradebook.db"
    with open_gradebook(f"sqlite:///{db}") as gb:
        gb.update_or_create_assignment(CH01, duedate=DUE)
    deadlines, said = class_context(monkeypatch, capsys, db)
    assert deadlines.due == {CH01: DUE}
    assert f"due: {CH01} 2026-03-01 16:00 UTC (from the gradebook)" in said
    deadlines, said = class_context(monkeypatch, capsys, db, due=["2026-03-02 10:00"])
    assert deadlines.due == {CH01: dt.datetime(2026, 3, 2, 10, 0)} and "(from --due)" in said


def test_without_any_due_date_one_line_says_lateness_is_not_applied_and_why(tmp_path, monkeypatch, capsys):
    deadlines, said = class_context(monkeypatch, capsys, tmp_path / "none.db")
    assert deadlines.due == {} and not (tmp_path / "none.db").exists(), "no gradebook is created"
    line, = [x for x in said.splitlines() if "lateness" in x]
    assert line.startswith(f"lateness not applied to {CH01}: no due date (no --due, and no gradebook")
    assert f"nbgrader db assignment add {CH01} --duedate=" in line
