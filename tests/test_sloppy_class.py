"""A sloppy class, graded from the command line: every folder is graded or listed with its
reason, the file graded is the one with the work in it and is recorded with its hash, late
work is recorded and penalised, progress and summaries tell the truth, and the feedback
carries nothing but the student's own prints."""
import csv
import hashlib
import json
import subprocess
import sys

import pytest

from autograder.chapter import load_chapter
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, Case, case_notebook

CHAPTER = ch05.CHAPTER
FULL = load_chapter(CHAPTER).max_score
NO_BATCH_DIVISION = examples.SGD_NO_BATCH_DIVISION  # loses points
PRINTS = Case("prints", replace={"linreg": '''
    print("hello from the linreg cell")
    def linreg(X, w, b):
        return X @ w + b
    '''})
DUE = "2026-03-01 12:00:00 UTC"
NOT_GRADED = {
    "dave/05_linear_regresion_scratch": "not a chapter of this course; did you mean 05_linear_regression_scratch?",
    "erin/05_linear_regression_scratch": "no notebook (.ipynb) in the folder; it holds report.pdf",
    "frank": "an empty folder",
    "gina/05_linear_regression_scratch": "an empty chapter folder",
    "hank/05_linear_regression_scratch.ipynb": "a file directly in the student's folder; a submission goes "
                                               "in hank/05_linear_regression_scratch/05_linear_regression_scratch.ipynb",
    "notes.txt": "a file, not a student's folder (expected <student_id>/<chapter>/<chapter>.ipynb)",
}


def put(submitted, student: str, folder: str, name: str, case: Case):
    path = submitted / student / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(case_notebook(CHAPTER, case), indent=1))
    return path


def sloppy_class(submitted) -> None:
    """Four notebooks to grade, in the ways students hand them in, and six things not to."""
    put(submitted, "alice", CHAPTER, f"{CHAPTER}.ipynb", SOLUTION)
    (submitted / "alice" / CHAPTER / "timestamp.txt").write_text("2026-03-01 11:00:00.000000 UTC")
    put(submitted, "bob", CHAPTER, f"{CHAPTER}-Copy1.ipynb", STUB)  # the stub, sorting first
    put(submitted, "bob", CHAPTER, f"{CHAPTER}_final.ipynb", NO_BATCH_DIVISION)
    put(submitted, "carol", CHAPTER, f"{CHAPTER} (1).ipynb", SOLUTION)
    (submitted / "carol" / CHAPTER / "timestamp.txt").write_text("2026-03-01 14:35:00.000000 UTC")
    put(submitted, "pat", CHAPTER, f"{CHAPTER}.ipynb", PRINTS)
    put(submitted, "dave", "05_linear_regresion_scratch", f"{CHAPTER}.ipynb", SOLUTION)
    (submitted / "erin" / CHAPTER).mkdir(parents=True)
    (submitted / "erin" / CHAPTER / "report.pdf").write_bytes(b"%PDF-1.4\n")
    (submitted / "frank").mkdir()
    (submitted / "gina" / CHAPTER).mkdir(parents=True)
    (submitted / "hank").mkdir()
    (submitted / "hank" / f"{CHAPTER}.ipynb").write_text("{}")
    (submitted / "notes.txt").write_text("grade these please")


def grade(tmp):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--chapter", "all",
                           "--jobs", "2", "--device", "cpu", "--out", "grades", "--due", DUE,
                           "--late-penalty", "subtract"], capture_output=True, text=True, cwd=tmp)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once (stderr is a pipe: a line per submission), then again (all reused)."""
    tmp = tmp_path_factory.mktemp("sloppy")
    sloppy_class(tmp / "submitted")
    first, again = grade(tmp), grade(tmp)
    return tmp, first, again


def results(tmp) -> dict:
    return json.loads((tmp / "grades" / "results.json").read_text())


def test_exit_status_and_the_summary(graded):
    tmp, first, again = graded
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "4 graded, 0 reused" in out and "6 folder(s) not graded" in out
    subs = results(tmp)["submissions"]
    assert 0 < next(s for s in subs if s["student_id"] == "bob")["raw_score"] < FULL, "bob loses points"
    mean = sum(s["raw_score"] for s in subs) / 4
    after = sum(s["score"] for s in subs) / 4
    assert f"{CHAPTER}: 4 submission(s), mean {mean:.2f} of {FULL:g}; 1 late (mean after late penalties " \
           f"{after:.2f}); 2 flagged" in out, out
    assert "not graded (6):" in out
    for path, reason in NOT_GRADED.items():
        assert f"  {path}: {reason}" in out
    assert "0 graded, 4 reused" in again.stdout, "the second run grades nothing again"


def test_progress_tells_what_happens(graded):
    _, first, _ = graded
    lines = first.stderr.splitlines()
    assert lines[0] == ("found 4 submission(s) of 1 chapter(s) from 4 student(s) in submitted; "
                        "6 folder(s) not graded (listed at the end)")
    assert "starting 2 sandboxed worker(s) for 4 submission(s)…" in lines
    finished = [ln for ln in lines if ln.startswith("[")]
    assert [ln.split("]")[0] for ln in finished] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    bob = next(s for s in results(graded[0])["submissions"] if s["student_id"] == "bob")
    assert any(f"bob/05_linear_regression_scratch: {bob['raw_score']:g}/{FULL:g}" in ln for ln in finished)


def test_every_folder_is_graded_or_listed(graded):
    tmp, _, _ = graded
    data = results(tmp)
    assert {s["student_id"] for s in data["submissions"]} == {"alice", "bob", "carol", "pat"}
    assert {n["path"]: n["reason"] for n in data["not_graded"]} == NOT_GRADED
    report = (tmp / "grades" / "class_report.html").read_text()
    assert "Not graded (6)" in report and "did you mean 05_linear_regression_scratch?" in report
    assert "Flagged: which file was graded (2)" in report and "Submitted late (1)" in report


def test_the_notebook_with_the_work_is_graded_and_recorded(graded):
    tmp, _, _ = graded
    subs = {s["student_id"]: s for s in results(tmp)["submissions"]}
    bob = subs["bob"]
    assert bob["notebook"] == f"bob/{CHAPTER}/{CHAPTER}_final.ipynb" and bob["raw_score"] > 0
    assert bob["note"] == (f"2 notebooks in the folder: graded {CHAPTER}_final.ipynb (5 solution cell(s) "
                           f"written); not graded: {CHAPTER}-Copy1.ipynb (still the stub)")
    assert subs["carol"]["notebook"] == f"carol/{CHAPTER}/{CHAPTER} (1).ipynb"
    assert "the only notebook in the folder" in subs["carol"]["note"]
    for sub in subs.values():
        assert sub["notebook_sha256"] == hashlib.sha256((tmp / "submitted" / sub["notebook"]).read_bytes()).hexdigest()
    page = (tmp / "grades" / "feedback" / "bob" / f"{CHAPTER}.html").read_text()
    assert f"Graded file: <code>bob/{CHAPTER}/{CHAPTER}_final.ipynb</code>" in page
    assert bob["notebook_sha256"][:16] in page and "still the stub" in page


def test_late_work_is_recorded_and_penalised(graded):
    tmp, _, _ = graded
    subs = {s["student_id"]: s for s in results(tmp)["submissions"]}
    carol, alice = subs["carol"], subs["alice"]
    assert (carol["seconds_late"], carol["late_penalty"], carol["score"]) == (9300, 3, FULL - 3)
    assert (alice["seconds_late"], alice["late_penalty"], alice["score"]) == (0, 0, FULL)
    summary = {r["student_id"]: r for r in csv.DictReader((tmp / "grades" / "summary.csv").open())}
    assert (summary["carol"]["timestamp"], summary["carol"]["late_submission_penalty"],
            summary["carol"]["score"], summary["carol"]["raw_score"]) == ("2026-03-01 14:35:00", "3.0",
                                                                           f"{FULL - 3:.1f}", f"{FULL:.1f}")
    assert summary["bob"]["timestamp"] == "" and summary["bob"]["duedate"] == "2026-03-01 12:00:00"
    rows = [r for r in csv.DictReader((tmp / "grades" / "grades.csv").open()) if r["student_id"] == "carol"]
    assert {r["seconds_late"] for r in rows} == {"9300"}
    page = (tmp / "grades" / "feedback" / "carol" / f"{CHAPTER}.html").read_text()
    assert "2 h 35 min late" in page and f"{FULL:g} earned, 3 off for late submission" in page


def test_feedback_shows_only_what_the_students_code_printed(graded):
    tmp, _, _ = graded
    quiet = (tmp / "grades" / "feedback" / "alice" / f"{CHAPTER}.html").read_text()
    assert f"Total: <b>{FULL:g} / {FULL:g}</b>" in quiet
    assert "What your code printed" not in quiet
    for noise in ("matplotlib", "IPython", "/tmp", "writable", "Warning"):
        assert noise not in quiet
    loud = (tmp / "grades" / "feedback" / "pat" / f"{CHAPTER}.html").read_text()
    printed = loud.split("What your code printed while graded (last lines)</h2>")[1].split("</pre>")[0]
    assert printed.replace("<pre>", "").strip() == "hello from the linreg cell"
