"""formgrader, a real one, shows the batch grader's scores as it shows `nbgrader autograde`'s.

A throw-away course whose gradebook is made by the release's gradebook step alone; one
student autograded by nbgrader itself, three written by `--gradebook`'s code; then a
jupyter server with nbgrader's formgrader extension on 127.0.0.1, read through its HTTP API
and stopped at the end, and `nbgrader export` compared with summary.csv.
"""
import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autograder import batch, lateness
from autograder.chapter import load_chapter
from autograder.formats import gradebook
from autograder.formats.common import write_csv
from autograder.formats.tables import SUMMARY_COLUMNS, summary_rows
from autograder.grader import SubmissionResult
from autograder.spec import CheckResult, ExerciseResult
from autograder.submissions import Submission
from course import release
from tests import test_chapter_05 as ch05
from tests.servers import free_port, stop
from tests.corpus import SOLUTION, STUB, Case, write_case, write_nbgrader_course

CHAPTER = ch05.CHAPTER
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
JUPYTER = str(Path(sys.executable).with_name("jupyter"))
TOKEN = "formgrader-test"
DUE = "2026-03-01 12:00:00 UTC"
OURS = {"solution": SOLUTION, "stub": STUB, "partial": Case("partial")}  # partial: sgd loses a check


def synthetic(student: str, error: str | None = None) -> SubmissionResult:
    """The batch grader's result, as it would come back: zero for ``stub`` (or with an
    ``error``), one sgd check lost for ``partial``, else full marks."""
    exercises = []
    for ex in load_chapter(CHAPTER).exercises:
        for_check = [(c, student not in ("stub",) and not error
                      and not (student == "partial" and ex.name == "sgd" and c is ex.checks[0])) for c in ex.checks]
        exercises.append(ExerciseResult.from_checks(ex, [
            CheckResult(ex.name, c.name, c.kind, c.points if ok else 0.0, c.points, "passed" if ok else "failed",
                        c.description if ok else error or f"{c.description}: not so") for c, ok in for_check]))
    return SubmissionResult(student, CHAPTER, tuple(exercises), error)


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_FAST": "1", "PATH": f"{Path(NBGRADER).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([NBGRADER, *args, "--log-level=WARN"], cwd=root, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course: gradebook from the release's step, nbgrader's own autograde of one stub,
    our three results written into it; returns (root, our results)."""
    root = tmp_path_factory.mktemp("formgrader")
    write_nbgrader_course(root)
    with (root / "nbgrader_config.py").open("a") as f:
        f.write(f"c.CourseDirectory.course_id = {gradebook.COURSE_ID!r}\n")
    url = f"sqlite:///{root}/gradebook.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gradebook, "default_db_url", lambda: url)
        assert release.record_in_gradebook(CHAPTER) == (True, "; recorded in the gradebook")
        assert release.record_in_gradebook(CHAPTER) == (True, ""), "current: not recorded again"
    submitted = root / "submitted"
    write_case(CHAPTER, Case("nbg_stub", stub=True), submitted)
    nbgrader(root, "autograde", CHAPTER, "--student", "nbg_stub")  # works on the release's gradebook
    for name, case in OURS.items():
        write_case(CHAPTER, Case(name, stub=case.stub), submitted)
    (submitted / "partial" / CHAPTER / "timestamp.txt").write_text("2026-03-01 14:35:00.000000 UTC")
    deadlines = lateness.Deadlines({CHAPTER: lateness.parse_time(DUE)}, {}, lateness.LatePolicy("subtract"))
    results = []
    for name in OURS:
        path = submitted / name / CHAPTER / f"{CHAPTER}.ipynb"
        results.append(batch.stamped(synthetic(name), Submission(name, CHAPTER, path), submitted,
                                     "0" * 64, deadlines))
    assert gradebook.write_gradebook(results, url, submitted, due=deadlines.due) == 3
    return root, results


@pytest.fixture(scope="module")
def formgrader(course, tmp_path_factory):
    """A jupyter server with formgrader on 127.0.0.1 serving the course; its base URL."""
    root, _ = course
    port, home = free_port(), tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "PATH": f"{Path(JUPYTER).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen([JUPYTER, "server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
                               f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={TOKEN}",
                               f"--ServerApp.root_dir={root}"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(home / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, home / "server.log")
        yield base
    finally:
        stop(server)


def wait_until_up(server, base: str, log: Path) -> None:
    deadline = time.monotonic() + 180  # a cap on the wait, not a timing assertion
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the jupyter server exited: {log.read_text()[-2000:]}")
        try:
            get(base, "/formgrader/api/status")
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the jupyter server did not answer: {log.read_text()[-2000:]}")


def get(base: str, path: str):
    request = urllib.request.Request(base + path, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read().decode()
    return json.loads(body) if path.startswith("/formgrader/api/") else body


def by_student(items: list) -> dict:
    return {x["student"]: x for x in items}


def test_manage_submissions_shows_our_scores_autograded(course, formgrader):
    _, results = course
    listed = by_student(get(formgrader, f"/formgrader/api/submissions/{CHAPTER}"))
    for r in results:
        assert (listed[r.student_id]["score"], listed[r.student_id]["max_score"]) == (r.score, r.max_score)
        assert listed[r.student_id]["autograded"] is True and listed[r.student_id]["submitted"] is True
    assert listed["partial"]["timestamp"] == "2026-03-01T14:35:00"
    assert 0 < listed["partial"]["score"] < 17


def test_each_notebook_and_cell_as_after_nbgrader_autograde(course, formgrader):
    """Our stub and nbgrader's own autograde of the same stub look the same to formgrader."""
    _, results = course
    notebooks = by_student(get(formgrader, f"/formgrader/api/submitted_notebooks/{CHAPTER}/{CHAPTER}"))
    assert set(notebooks) == {"nbg_stub", *OURS}, "the per-notebook list holds every submission"
    ignore = {"id", "student", "index", "timestamp", "display_timestamp"}
    same = lambda d: {k: v for k, v in d.items() if k not in ignore}  # noqa: E731
    assert same(notebooks["stub"]) == same(notebooks["nbg_stub"])
    listed = by_student(get(formgrader, f"/formgrader/api/submissions/{CHAPTER}"))
    assert same(listed["stub"]) == same(listed["nbg_stub"])
    grades = {s: {g["name"]: g for g in get(formgrader, f"/formgrader/api/grades?submission_id={notebooks[s]['id']}")}
              for s in ("stub", "nbg_stub", "partial")}
    cell = lambda g: {k: g[k] for k in ("auto_score", "manual_score", "max_score", "needs_manual_grade", "failed_tests")}  # noqa: E731
    assert {n: cell(g) for n, g in grades["stub"].items()} == {n: cell(g) for n, g in grades["nbg_stub"].items()}
    partial = next(r for r in results if r.student_id == "partial")
    assert {n: g["auto_score"] for n, g in grades["partial"].items()} == \
        {f"test_{ex.exercise}": ex.score for ex in partial.exercises}
    comments = {s: {c["name"]: c["auto_comment"] for c in
                    get(formgrader, f"/formgrader/api/comments?submission_id={notebooks[s]['id']}")}
                for s in ("stub", "nbg_stub", "partial")}
    assert comments["stub"] == comments["nbg_stub"] and set(comments["stub"].values()) == {"No response."}
    assert set(comments["partial"].values()) == {None}


def test_the_grading_page_shows_the_notebook_and_our_result(course, formgrader):
    notebooks = by_student(get(formgrader, f"/formgrader/api/submitted_notebooks/{CHAPTER}/{CHAPTER}"))
    page = get(formgrader, f"/formgrader/submissions/{notebooks['partial']['id']}/")
    assert "python -m autograder grade: 2 / 3 points (partial)" in page
    assert "def sgd(params, lr, batch_size):" in re.sub(r"<[^>]+>", "", page), "the student's own code"


def test_nbgrader_export_matches_summary_csv_column_for_column(course, tmp_path):
    root, results = course
    nbgrader(root, "export", "--to", str(tmp_path / "export.csv"))
    write_csv(tmp_path / "summary.csv", SUMMARY_COLUMNS, summary_rows(results))
    exported = list(csv.reader((tmp_path / "export.csv").open()))
    ours = list(csv.reader((tmp_path / "summary.csv").open()))
    assert exported[0] == ours[0] == SUMMARY_COLUMNS
    assert sorted(r for r in exported[1:] if r[3] in OURS) == sorted(ours[1:])
    partial = next(r for r in ours[1:] if r[3] == "partial")
    assert partial[SUMMARY_COLUMNS.index("late_submission_penalty")] == "3.0"
