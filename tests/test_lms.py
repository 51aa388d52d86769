"""An LMS round trip: a Canvas "Download Submissions" zip goes through the real
``nbgrader zip_collect`` (in a throw-away nbgrader course) into nbgrader's ``submitted/``
layout, is graded by ``autograder grade --roster``, and comes out as canvas.csv in Canvas's
gradebook import format, with the batch grader's scores."""
import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import paths
from autograder.chapter import load_chapter
from autograder.formats.canvas import (CANVAS_COLUMNS, CANVAS_FILENAME_REGEXP, POINTS_POSSIBLE,
                                       RosterError, canvas_identity, read_roster)
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, case_notebook, write_nbgrader_course

CHAPTER = ch05.CHAPTER
WRONG = examples.SGD_NEVER_ZEROES
# Canvas's names: <lastfirst>_[LATE_]<user id>_<submission id>_<file>, "-1" on a resubmission
DOWNLOAD = {f"doejane_1001_9001_{CHAPTER}.ipynb": SOLUTION,
            f"smithjohn_LATE_1002_9002_{CHAPTER}-1.ipynb": STUB,
            f"leeann_1003_9003_{CHAPTER}.ipynb": WRONG}
ROSTER = ("id,first_name,last_name,email,lms_user_id,sis_user_id,section\n"
          "1001,Jane,Doe,jane@example.edu,1001,S1001,Section A\n"
          "1002,John,Smith,,1002,S1002,Section B\n")  # 1003 is not listed


def env() -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """An nbgrader course after ``nbgrader zip_collect`` of a Canvas download."""
    root = tmp_path_factory.mktemp("course")
    write_nbgrader_course(root)
    archive = root / "downloaded" / CHAPTER / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as zf:
        for name, case in DOWNLOAD.items():
            zf.writestr(name, json.dumps(case_notebook(CHAPTER, case)))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", CHAPTER,
                           f"--FileNameCollectorPlugin.named_regexp={CANVAS_FILENAME_REGEXP}"],
                          cwd=root, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="module")
def graded(course) -> Path:
    (course / "roster.csv").write_text(ROSTER)
    out = course / "grades"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--chapter", CHAPTER, "--out", str(out), "--roster", str(course / "roster.csv"),
                           "--jobs", "2", "--device", "cpu"], env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_zip_collect_gives_nbgraders_layout(course):
    found = sorted(p.relative_to(course / "submitted").as_posix()
                   for p in (course / "submitted").rglob("*.ipynb"))
    assert found == [f"{sid}/{CHAPTER}/{CHAPTER}.ipynb" for sid in ("1001", "1002", "1003")], \
        "Canvas's user id is the student id; the resubmission's -1 is dropped"


def test_canvas_csv_is_canvas_import_format(graded):
    rows = list(csv.reader((graded / "canvas.csv").open()))
    assert rows[0] == CANVAS_COLUMNS + [CHAPTER]
    assert rows[1] == [POINTS_POSSIBLE, "", "", "", "", f"{load_chapter(CHAPTER).max_score:.1f}"]
    assert [r[:5] for r in rows[2:]] == [["Doe, Jane", "1001", "S1001", "", "Section A"],
                                         ["Smith, John", "1002", "S1002", "", "Section B"],
                                         ["1003", "1003", "", "", ""]], "by id, mapped through the roster"


def test_canvas_scores_are_the_batch_graders(graded):
    summary = {r["student_id"]: r["score"] for r in csv.DictReader((graded / "summary.csv").open())}
    canvas = {r["ID"]: r[CHAPTER] for r in csv.DictReader((graded / "canvas.csv").open()) if r["ID"]}
    assert canvas == summary
    assert float(canvas["1001"]) == load_chapter(CHAPTER).max_score and float(canvas["1002"]) == 0


def test_roster_without_ids_is_refused_and_sis_ids_suffice(tmp_path):
    (tmp_path / "r.csv").write_text("student,name\nx,y\n")
    with pytest.raises(RosterError, match="no 'id' column"):
        read_roster(tmp_path / "r.csv")
    assert canvas_identity("s1", {"sis_login_id": "jdoe"})["ID"] == "", "Canvas matches on the SIS id"
    assert canvas_identity("s1", None)["ID"] == "s1"


def test_the_guide_gives_the_tested_regexp():
    guide = (paths.course_root() / "book" / "instructor_guide.md").read_text()
    assert f'named_regexp = r"{CANVAS_FILENAME_REGEXP}"' in guide
