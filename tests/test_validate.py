"""nbgrader's Validate means it: `nbgrader validate` fails on every released chapter with its
stubs, naming the exercises still to do, and passes on every solutions notebook. (The server
call behind JupyterLab's Validate button is tested on a student's lab in
test_student_jupyter.py: stubs, a wrong answer, a solved notebook.)"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from autograder import paths
from autograder.chapter import load_chapter
from course.release import chapters

BIN = Path(sys.executable).parent


def validate(folder: Path, names: list[str]) -> dict[str, str]:
    """Run `nbgrader validate` on several notebooks in one process; its report per notebook."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("COURSE_FAST", None)
    proc = subprocess.run([str(BIN / "nbgrader"), "validate", *names], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1500)
    text = proc.stdout
    parts = re.split(r"Validating '([^']+)'", text)
    return {Path(parts[i]).stem: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def copies(tmp: Path, source) -> list[str]:
    for chapter in chapters():
        shutil.copy(source(chapter), tmp / f"{chapter}.ipynb")
    return [f"{chapter}.ipynb" for chapter in chapters()]


def test_validate_fails_on_every_chapters_stubs_and_names_its_exercises(tmp_path):
    reports = validate(tmp_path, copies(tmp_path, paths.release_notebook))
    assert sorted(reports) == chapters()
    for chapter, report in reports.items():
        assert "VALIDATION FAILED" in report, f"{chapter}: Validate passed its stubs:\n{report}"
        for ex in load_chapter(chapter).exercises:
            for name in ex.own:
                assert f"{name}: not written yet" in report, f"{chapter}: {name} not named:\n{report}"


def test_validate_passes_every_solutions_notebook(tmp_path):
    reports = validate(tmp_path, copies(tmp_path, paths.solutions_notebook))
    assert sorted(reports) == chapters()
    for chapter, report in reports.items():
        assert "Success! Your notebook passes all the tests." in report, f"{chapter}:\n{report[-3000:]}"
