"""The instructor guide runs as written.

Its code blocks marked ``<!-- guide-test -->`` run in order, each in a plain bash (the
virtual environment not activated), on a throw-away copy of the course; between the
release into nbgrader's exchange and the collect step, two students fetch the chapter and
submit it through the exchange, as they would from their own accounts."""
import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import time
import urllib.request

import pytest

from autograder import paths
from autograder.chapter import load_chapter
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, case_notebook
from tests.servers import free_port, stop

ROOT = paths.course_root()
GUIDE = ROOT / "book" / "instructor_guide.md"
MARK = "<!-- guide-test -->"
SERVER_MARK = "<!-- guide-test: server -->"  # a command that serves until stopped
CHAPTER = ch05.CHAPTER
STUDENTS = {"alice": SOLUTION, "bob": examples.SGD_NO_BATCH_DIVISION}


def marked_blocks(text: str) -> list[str]:
    """The bash blocks right after a ``<!-- guide-test -->`` line, in order."""
    return re.findall(re.escape(MARK) + r"\n```bash\n(.*?)\n```", text, flags=re.S)


def server_blocks(text: str) -> list[str]:
    """The bash blocks right after a ``<!-- guide-test: server -->`` line."""
    return re.findall(re.escape(SERVER_MARK) + r"\n```bash\n(.*?)\n```", text, flags=re.S)


def throwaway_course(dest: Path) -> Path:
    """The course's files as in this working tree (tracked, or new and not ignored), with
    its virtual environment linked in."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def plain_env(tmp: Path) -> dict:
    """A shell's environment without the virtual environment, with the exchange in ``tmp``."""
    venv = str(ROOT / ".venv")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(venv))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "COURSE_ROOT", "PYTHONPATH")}
    return {**env, "PATH": path, "HOME": str(tmp / "home"), "EXCHANGE": str(tmp / "exchange")}


def shell(script: str, cwd: Path, env: dict) -> str:
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"{script}\n--- exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def submit_through_exchange(course: Path, tmp: Path, env: dict) -> None:
    """Each student fetches the chapter, writes their answers, and submits."""
    nbgrader = course / ".venv" / "bin" / "nbgrader"
    flags = f"--course linear-nn-course --Exchange.root={env['EXCHANGE']}"
    for student, case in STUDENTS.items():
        home = tmp / "students" / student
        home.mkdir(parents=True)
        as_student = {**env, "HOME": str(home)}
        shell(f"{nbgrader} fetch_assignment {CHAPTER} {flags}", home, as_student)
        (home / CHAPTER / f"{CHAPTER}.ipynb").write_text(json.dumps(case_notebook(CHAPTER, case), indent=1))
        # --student: on a shared machine the student's own login names them; here all are one user
        shell(f"{nbgrader} submit {CHAPTER} {flags} --student {student}", home, as_student)


@pytest.fixture(scope="module")
def followed(tmp_path_factory):
    """The guide followed on a throw-away course; (course folder, each block's output)."""
    tmp = tmp_path_factory.mktemp("guide")
    course = throwaway_course(tmp / "course")
    env = plain_env(tmp)
    (tmp / "home").mkdir()
    outputs = []
    for block in marked_blocks(GUIDE.read_text()):
        outputs.append(shell(block, course, env))
        if "release_assignment" in block:
            submit_through_exchange(course, tmp, env)
    return course, outputs


def test_the_guide_marks_its_steps_in_order():
    blocks = marked_blocks(GUIDE.read_text())
    steps = ["./run.sh release", "nbgrader db assignment add", "release_assignment", "nbgrader collect",
             "./run.sh grade", "nbgrader export", "nbgrader autograde"]
    assert [next(i for i, b in enumerate(blocks) if s in b) for s in steps] == list(range(len(steps)))
    assert '--jobs "$(nproc)"' in blocks[4] and all("python -m" not in b for b in blocks)


def test_release_records_the_chapter_in_the_gradebook(followed):
    course, outputs = followed
    assert f"{CHAPTER}: " in outputs[0] and "recorded in the gradebook" in outputs[0]
    assert (course / "gradebook.db").is_file()


def test_collect_and_grade_give_every_student_a_grade(followed):
    course, outputs = followed
    for student in STUDENTS:
        assert (course / "submitted" / student / CHAPTER / "timestamp.txt").is_file()
        assert (course / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb").is_file()
    grading = outputs[4]
    assert "found 2 submission(s) of 1 chapter(s) from 2 student(s)" in grading
    assert "2 graded, 0 reused" in grading and "into nbgrader's gradebook" in grading
    results = {s["student_id"]: s for s in json.loads((course / "grades" / "results.json").read_text())["submissions"]}
    full = load_chapter(CHAPTER).max_score
    assert results["alice"]["raw_score"] == full and 0 < results["bob"]["raw_score"] < full
    assert {s["duedate"] for s in results.values()} == {"2026-03-01T16:00:00Z"}, "the gradebook's due date"
    assert all(s["timestamp"] for s in results.values()), "nbgrader's timestamps"
    assert not any(s["note"] for s in results.values()), "nbgrader's own files flag nothing"


def test_export_matches_summary(followed):
    course, _ = followed
    exported = list(csv.reader((course / "grades" / "nbgrader_export.csv").open()))
    ours = list(csv.reader((course / "grades" / "summary.csv").open()))
    assert exported[0] == ours[0] and sorted(exported[1:]) == sorted(ours[1:])


def test_grading_outputs_are_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "grades/summary.csv", "submitted/x",
                              "autograded/x", "gradebook.db", "downloaded/x"],
                             cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert ignored == ["grades/summary.csv", "submitted/x", "autograded/x", "gradebook.db", "downloaded/x"]


def test_nbgraders_own_path_after_the_batch_grader_grades_alike(followed):
    """The second path as the guide writes it (with --force after a --gradebook run) grades
    again, and leaves the batch grader's scores in the gradebook."""
    course, outputs = followed
    autograde = outputs[6]
    assert "Skipping existing assignment" not in autograde
    from nbgrader.api import Gradebook
    results = {s["student_id"]: s for s in json.loads((course / "grades" / "results.json").read_text())["submissions"]}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(CHAPTER, s).score for s in STUDENTS}
    assert scores == {s: results[s]["raw_score"] for s in STUDENTS}


def test_the_courses_configuration_makes_nbgrader_warn_about_nothing(followed):
    """No "root '.' is not absolute" from any command, no "checksum has changed" for test
    cells the students left as released."""
    _, outputs = followed
    text = "\n".join(outputs)
    assert "is not absolute" not in text
    assert "has changed" not in text, [line for line in text.splitlines() if "has changed" in line][:3]


def test_formgrader_opens_as_the_guide_says(followed, tmp_path):
    """``./run.sh formgrader`` (as root here: it adds --allow-root) serves formgrader on the
    course, with the batch grader's submissions."""
    course, _ = followed
    command, = server_blocks(GUIDE.read_text())
    port, token = free_port(), "guide-test"
    env = {**plain_env(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    (tmp_path / "home").mkdir(exist_ok=True)
    server = subprocess.Popen(["bash", "-c", f"exec {command} --no-browser --port={port} --port-retries=0 "
                                             f"--IdentityProvider.token={token}"],
                              cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "w"))
    try:
        deadline, answer = time.monotonic() + 180, None  # a cap on the wait, not a timing assertion
        while time.monotonic() < deadline and answer is None and server.poll() is None:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/assignments",
                                             headers={"Authorization": f"token {token}"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    answer = json.loads(response.read().decode())
            except OSError:
                time.sleep(0.5)
        assert answer is not None, (tmp_path / "log").read_text()[-3000:]
        assignment, = [a for a in answer if a["name"] == CHAPTER]
        assert assignment["num_submissions"] == len(STUDENTS)
    finally:
        stop(server)
