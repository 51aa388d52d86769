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
from autograder.formats.canvas import (CANVAS_COLUMNS, POINTS_POSSIBLE, RosterError, canvas_identity,
                                       canvas_rows, late_note, read_assignment_map, read_roster)
from autograder.nbgrader_plugins import CanvasFileNames
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, case_notebook, write_nbgrader_course

CHAPTER = ch05.CHAPTER
WRONG = examples.SGD_NEVER_ZEROES
# Canvas's names: <lastfirst>_[LATE_]<user id>_<submission id>_<file>, "-1" on a resubmission;
# some downloads keep an underscore in the name
DOWNLOAD = {f"doejane_1001_9001_{CHAPTER}.ipynb": SOLUTION,
            f"smithjohn_LATE_1002_9002_{CHAPTER}-1.ipynb": STUB,
            f"lee_ann_1003_9003_{CHAPTER}.ipynb": WRONG}
STUDENTS = ("doejane_1001", "lee_ann_1003", "smithjohn_1002")  # <name>_<Canvas user id>
ASSIGNMENT = "Linear regression from scratch (4242)"  # its header in Canvas's gradebook export
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
                           "--ZipCollectApp.collector_plugin=autograder.nbgrader_plugins.CanvasFileNames"],
                          cwd=root, env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


@pytest.fixture(scope="module")
def graded(course) -> Path:
    (course / "roster.csv").write_text(ROSTER)
    (course / "assignments.csv").write_text(f"chapter,assignment\n{CHAPTER},{ASSIGNMENT}\n")
    out = course / "grades"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(course / "submitted"),
                           "--chapter", CHAPTER, "--out", str(out), "--roster", str(course / "roster.csv"),
                           "--canvas-assignments", str(course / "assignments.csv"),
                           "--jobs", "2", "--device", "cpu"], env=env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_zip_collect_gives_nbgraders_layout(course):
    found = sorted(p.relative_to(course / "submitted").as_posix()
                   for p in (course / "submitted").rglob("*.ipynb"))
    assert found == [f"{sid}/{CHAPTER}/{CHAPTER}.ipynb" for sid in STUDENTS], \
        "the name and Canvas's user id are the student id, late or not; the resubmission's -1 is dropped"


def test_canvas_csv_is_canvas_import_format(graded):
    rows = list(csv.reader((graded / "canvas.csv").open()))
    assert rows[0] == CANVAS_COLUMNS + [ASSIGNMENT], "headed as Canvas matches an existing assignment"
    assert rows[1] == [POINTS_POSSIBLE, "", "", "", "", f"{load_chapter(CHAPTER).max_score:.1f}"]
    assert [r[:5] for r in rows[2:]] == [["Doe, Jane", "1001", "S1001", "", "Section A"],
                                         ["lee_ann", "1003", "", "", ""],
                                         ["Smith, John", "1002", "S1002", "", "Section B"]], \
        "by student id; the roster by Canvas id; without it, the name from Canvas's file name"


def test_canvas_scores_are_the_batch_graders(graded):
    summary = {r["student_id"]: r["score"] for r in csv.DictReader((graded / "summary.csv").open())}
    canvas = {r["ID"]: r[ASSIGNMENT] for r in csv.DictReader((graded / "canvas.csv").open()) if r["ID"]}
    assert canvas == {sid.rpartition("_")[2]: score for sid, score in summary.items()}
    assert float(canvas["1001"]) == load_chapter(CHAPTER).max_score and float(canvas["1002"]) == 0


def test_roster_without_ids_is_refused_and_sis_ids_suffice(tmp_path):
    (tmp_path / "r.csv").write_text("student,name\nx,y\n")
    with pytest.raises(RosterError, match="no 'id' column"):
        read_roster(tmp_path / "r.csv")
    assert canvas_identity("s1", {"sis_login_id": "jdoe"})["ID"] == "", "Canvas matches on the SIS id"
    assert canvas_identity("s1", None)["ID"] == "s1"


@pytest.mark.parametrize("name, student_id", [
    (f"doe_jane_12345_6789_{CHAPTER}.ipynb", "doe_jane_12345"),
    (f"doejane_LATE_12345_6790_{CHAPTER}-2.ipynb", "doejane_12345"),
    (f"o_brien_mary_anne_777_1_{CHAPTER}.ipynb", "o_brien_mary_anne_777")])
def test_canvas_file_names_keep_the_name_and_drop_late(name, student_id):
    info = CanvasFileNames().collect(f"downloaded/{CHAPTER}/extracted/{name}")
    assert (info["student_id"], info["file_id"]) == (student_id, CHAPTER)


def test_assignment_map_is_checked_in_one_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"chapter,assignment\n{CHAPTER},{ASSIGNMENT}\n")
    assert read_assignment_map(path, [CHAPTER]) == {CHAPTER: ASSIGNMENT}
    path.write_text(f"{CHAPTER},Linear regression\n")
    with pytest.raises(RosterError, match="not a Canvas column header, 'Name \\(id\\)'"):
        read_assignment_map(path, [CHAPTER])
    path.write_text(f"05_linear,{ASSIGNMENT}\n")
    with pytest.raises(RosterError, match="'05_linear' is not a chapter of this course"):
        read_assignment_map(path, [CHAPTER])


def test_scores_before_the_late_penalty_for_canvas_own_late_policy():
    from tests.test_lateness import late_result
    late = late_result(penalty=2.0)  # 3 points, 2 off
    after, before = (canvas_rows([late], {}, before_penalty=b)[1] for b in (False, True))
    assert (after["05_x"], before["05_x"]) == ("1.0", "3.0")
    assert "1 score(s) have the late penalty taken off" in late_note([late], before_penalty=False)
    assert late_note([late], before_penalty=True) == ""


def test_the_guide_collects_canvas_downloads_with_the_tested_plugin():
    guide = (paths.course_root() / "book" / "instructor_guide.md").read_text()
    assert 'c.ZipCollectApp.collector_plugin = "autograder.nbgrader_plugins.CanvasFileNames"' in guide
    assert "named_regexp" not in guide, "the regexp lives in one place, the plugin"
    assert "--canvas-assignments" in guide and "--canvas-before-penalty" in guide
