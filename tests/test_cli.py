"""The command line: bad arguments get one line before PyTorch loads; `check` prints a table.

Grading a class end to end is tests/test_sloppy_class.py."""
import json
import subprocess
import sys

import pytest

from tests import test_chapter_05 as ch05
from tests.corpus import STUB, write_case

CHAPTER = ch05.CHAPTER
# run the command in-process and report its status, its stderr and whether torch was loaded
PROBE = ("import contextlib, io, json, sys\nfrom autograder.cli import main\nerr = io.StringIO()\n"
         "with contextlib.redirect_stderr(err):\n    try:\n        rc = main(sys.argv[1:])\n"
         "    except SystemExit as e:\n        rc = e.code\n"
         "print(json.dumps([rc, err.getvalue(), 'torch' in sys.modules]))")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True,
                          text=True, cwd=cwd)


def probe(*args, cwd=None) -> tuple[int, str, bool]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return tuple(json.loads(proc.stdout))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A class folder with one submission, and a file where a folder is expected."""
    tmp = tmp_path_factory.mktemp("cli")
    write_case(CHAPTER, STUB, tmp / "submitted")
    (tmp / "grades.txt").write_text("not a folder")
    return tmp


BAD = [
    (["--jobs", "-1"], "argument --jobs: expected a whole number greater than 0, got '-1'"),
    (["--jobs", "two"], "argument --jobs: expected a whole number greater than 0, got 'two'"),
    (["--timeout", "0"], "argument --timeout: expected a number greater than 0, got '0'"),
    (["--memory-mb", "-5"], "argument --memory-mb: expected a whole number greater than 0"),
    (["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (["--late-penalty", "half"], "argument --late-penalty: invalid choice: 'half'"),
    (["--chapter", "05_linear_regresion_scratch"],
     "--chapter '05_linear_regresion_scratch' is not a chapter of this course; did you mean "
     "05_linear_regression_scratch?"),
    (["--out", "grades.txt"], "--out grades.txt is a file; expected a folder"),
    (["--out", "submitted/grades"], "--out submitted/grades is inside the class folder submitted"),
    (["--due", "next friday"], "--due 'next friday': not a date and time"),
    (["--due", "05_linear=2026-03-01"], "--due '05_linear=2026-03-01': '05_linear' is not a chapter "
                                        "of this course; did you mean 05_linear_regression_scratch?"),
    (["--gradebook", "nowhere/gradebook.db"], "--gradebook nowhere/gradebook.db: no folder"),
    (["--gradebook", "submitted"], "--gradebook submitted is a folder"),
    (["--roster", "roster.csv"], "--roster roster.csv: no such file"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_a_bad_argument_is_one_line_before_torch_loads(course, extra, message):
    args = {"--chapter": "all", "--out": "grades", **dict(zip(extra[::2], extra[1::2]))}
    rc, err, torch_loaded = probe("grade", "submitted", *[x for kv in args.items() for x in kv], cwd=course)
    assert (rc, torch_loaded) == (2, False), err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("folder, message", [("missing", "no such folder: missing (expected the class folder"),
                                             ("grades.txt", "grades.txt is a file; expected the class folder")])
def test_a_bad_class_folder_is_one_line(course, folder, message):
    rc, err, torch_loaded = probe("grade", folder, "--chapter", "all", "--out", "grades", cwd=course)
    assert (rc, torch_loaded) == (2, False) and message in err and len(err.strip().splitlines()) == 1


def test_the_arguments_themselves_are_fine(course):
    """The cases above fail for their one bad argument: the same command without it passes
    the checks (and, with nothing graded yet, would start grading)."""
    from argparse import Namespace
    from pathlib import Path

    from autograder.cli import argument_problem
    from autograder.submissions import graded_chapters
    args = Namespace(submitted=course / "submitted", chapter=CHAPTER, out=course / "grades", due=[],
                     gradebook=str(course / "gradebook.db"), roster=None, scheduler_file=None)
    assert argument_problem(args, graded_chapters()) is None
    assert argument_problem(Namespace(**{**vars(args), "due": [f"{CHAPTER}=2026-03-01 17:00"]}),
                            graded_chapters()) is None
    assert not Path(course / "grades").exists()


def test_nothing_to_grade_exits_non_zero_and_writes_nothing(tmp_path):
    (tmp_path / "submitted" / "alice" / "05_linear_regresion_scratch").mkdir(parents=True)
    (tmp_path / "submitted" / "alice" / "05_linear_regresion_scratch" / "05.ipynb").write_text("{}")
    rc, err, torch_loaded = probe("grade", "submitted", "--chapter", "all", "--out", "grades", cwd=tmp_path)
    assert (rc, torch_loaded) == (1, False)
    assert "nothing to grade in submitted" in err and "nothing was written" in err
    assert "alice/05_linear_regresion_scratch: not a chapter of this course; did you mean " \
           "05_linear_regression_scratch?" in err
    assert not (tmp_path / "grades").exists()


def test_check_prints_a_table_of_self_checks(tmp_path):
    path = write_case(CHAPTER, STUB, tmp_path)
    proc = run("check", str(path))
    assert proc.returncode == 1
    assert "✗ sgd" in proc.stdout and "not written yet" in proc.stdout
    assert "0 of 5 exercises pass their self-checks" in proc.stdout
