"""The command line: `grade` writes the gradebook files and feedback; `check` prints a table."""
import csv
import json
import subprocess
import sys

from tests import test_chapter_05 as ch05
from tests.corpus import STUB, write_case

CHAPTER = ch05.CHAPTER


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_grade_writes_grades_summary_results_and_feedback(tmp_path):
    never_zeroes = next(c for c in ch05.CASES if c.name == "sgd_never_zeroes")
    for case in (never_zeroes, STUB):
        write_case(CHAPTER, case, tmp_path / "submitted")
    (tmp_path / "submitted" / "empty_student" / CHAPTER).mkdir(parents=True)
    out = tmp_path / "out"
    proc = run("grade", str(tmp_path / "submitted"), "--chapter", "all", "--jobs", "2",
               "--device", "cpu", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "graded 3 submission(s)" in proc.stdout
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert list(rows[0]) == ["student_id", "chapter", "grade_id", "score", "max_score", "status", "message"]
    assert {r["student_id"] for r in rows} == {"sgd_never_zeroes", "stub", "empty_student"}
    sgd = next(r for r in rows if r["student_id"] == "sgd_never_zeroes" and r["grade_id"] == "sgd")
    assert (sgd["score"], sgd["max_score"], sgd["status"]) == ("2", "3", "partial")
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert list(summary[0]) == ["assignment", "student_id", "raw_score", "score", "max_score"]
    assert {r["student_id"]: r["score"] for r in summary}["stub"] == "0"
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["device"] == "cpu" and "tolerances" in results["run"]
    page = (out / "feedback" / "sgd_never_zeroes" / f"{CHAPTER}.html").read_text()
    assert "zero_grad" in page and "data:image/png;base64" in page, "training feedback has a loss curve"
    assert "cannot read" in (out / "feedback" / "empty_student" / f"{CHAPTER}.html").read_text()
    report = (out / "class_report.html").read_text()
    assert "data:image/png;base64" in report and "empty_student" in report, \
        "the class report plots scores and lists the submission that did not run"
    assert {r["exercise"] for r in csv.DictReader((out / "class_report.csv").open())} >= {"sgd", "training"}


def test_force_is_passed_only_where_grade_all_takes_it(monkeypatch):
    from autograder import batch, cli
    monkeypatch.setattr(batch, "grade_all", lambda submitted, chapters, out, force=False: [])
    assert cli._force(True) == {"force": True}
    monkeypatch.setattr(batch, "grade_all", lambda submitted, chapters, out: [])
    assert cli._force(True) == {}


def test_grade_rejects_unknown_chapter(tmp_path):
    (tmp_path / "s").mkdir()
    proc = run("grade", str(tmp_path / "s"), "--chapter", "99_nothing")
    assert proc.returncode == 2 and "unknown chapter" in proc.stderr


def test_check_prints_a_table_of_self_checks(tmp_path):
    path = write_case(CHAPTER, STUB, tmp_path)
    proc = run("check", str(path))
    assert proc.returncode == 1
    assert "✗ sgd" in proc.stdout and "not written yet" in proc.stdout
    assert "0 of 5 exercises pass their self-checks" in proc.stdout
