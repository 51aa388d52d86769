"""The survey of a class folder: which notebook of several is graded, nearest chapter names,
what is ignored, and folders that cannot be read (graded end to end: test_sloppy_class.py)."""
import json
import os

import pytest

from autograder import submissions
from autograder.submissions import graded_chapters, nearest, pick_notebook, survey
from tests import examples, test_chapter_05 as ch05
from tests.corpus import SOLUTION, STUB, case_notebook

CHAPTER = ch05.CHAPTER
SGD_ONLY = examples.SGD_NEVER_ZEROES  # every solution cell written


def put(folder, name, case, mtime=None):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(case_notebook(CHAPTER, case)))
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


@pytest.mark.parametrize("files, graded", [
    ({f"{CHAPTER}.ipynb": STUB, f"{CHAPTER}-Copy1.ipynb": SOLUTION}, f"{CHAPTER}-Copy1.ipynb"),
    ({f"{CHAPTER}.ipynb": SOLUTION, f"{CHAPTER}-Copy1.ipynb": SGD_ONLY}, f"{CHAPTER}.ipynb"),
    ({f"{CHAPTER}.ipynb": STUB, f"{CHAPTER} (1).ipynb": STUB}, f"{CHAPTER}.ipynb"),
    ({"a.ipynb": (SOLUTION, 1_000), "b.ipynb": (SOLUTION, 2_000)}, "b.ipynb"),
    ({"b.ipynb": (SOLUTION, 1_000), "a.ipynb": (SOLUTION, 1_000)}, "a.ipynb"),
], ids=["work before the stub", "exact name among written", "exact name among stubs",
        "most recent", "then by name"])
def test_the_rule_picks_one_notebook_and_names_the_others(tmp_path, files, graded):
    folder = tmp_path / "alice" / CHAPTER
    for name, case in files.items():
        put(folder, name, *(case if isinstance(case, tuple) else (case,)))
    sub, why = pick_notebook(folder, "alice")
    assert (sub.path.name, why) == (graded, "")
    others = [n for n in files if n != graded]
    assert sub.note.startswith(f"{len(files)} notebooks in the folder: graded {graded}") and others[0] in sub.note


def test_more_solution_cells_written_wins_after_the_exact_name(tmp_path):
    folder = tmp_path / "alice" / CHAPTER
    half = case_notebook(CHAPTER, STUB)
    answers = case_notebook(CHAPTER, SOLUTION)
    half["cells"] = [a if a.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "linreg" else h
                     for h, a in zip(half["cells"], answers["cells"])]
    folder.mkdir(parents=True)
    (folder / "one.ipynb").write_text(json.dumps(half))
    put(folder, "all.ipynb", SOLUTION, mtime=1_000)  # older, but more written
    sub, _ = pick_notebook(folder, "alice")
    assert sub.path.name == "all.ipynb" and "one.ipynb (1 solution cell(s) written)" in sub.note


def test_a_single_notebook_is_graded_whatever_its_name_and_nbgraders_files_are_ignored(tmp_path):
    folder = tmp_path / "alice" / CHAPTER
    put(folder, f"{CHAPTER} (1).ipynb", SOLUTION)
    for name in ("timestamp.txt", "submission_secret.txt", ".DS_Store"):
        (folder / name).write_text("x")
    (folder / ".ipynb_checkpoints").mkdir()
    sub, _ = pick_notebook(folder, "alice")
    assert sub.note == f"graded {CHAPTER} (1).ipynb: the only notebook in the folder (expected {CHAPTER}.ipynb)"
    (folder / "report.pdf").write_text("%PDF")
    assert pick_notebook(folder, "alice")[0].note.endswith("; other files, not graded: report.pdf")


@pytest.mark.parametrize("name, chapter", [("05_linear_regresion_scratch", CHAPTER), ("05_linear", CHAPTER),
                                           ("linear_regression_scratch", CHAPTER), ("09", "09_softmax_regression_training"),
                                           ("homework", None)])
def test_nearest_chapter(name, chapter):
    assert nearest(name, graded_chapters()) == chapter


def test_an_unreadable_folder_is_listed_not_fatal(tmp_path, monkeypatch):
    put(tmp_path / "alice" / CHAPTER, f"{CHAPTER}.ipynb", SOLUTION)
    put(tmp_path / "bob" / CHAPTER, f"{CHAPTER}.ipynb", SOLUTION)

    def refuse(folder, student):
        if student == "bob":
            raise PermissionError(13, "Permission denied")
        return real(folder, student)
    real = submissions.pick_notebook
    monkeypatch.setattr(submissions, "pick_notebook", refuse)
    found = survey(tmp_path, None, graded_chapters())
    assert [s.student_id for s in found.submissions] == ["alice"]
    assert [(n.path, n.reason) for n in found.not_graded] == \
        [(f"bob/{CHAPTER}", "cannot be read (Permission denied); check its permissions")]


def test_a_chapter_folder_in_place_of_a_student_is_explained(tmp_path):
    put(tmp_path / CHAPTER, f"{CHAPTER}.ipynb", SOLUTION)
    found = survey(tmp_path, None, graded_chapters())
    assert not found.submissions and "a chapter folder where a student's folder should be" in found.not_graded[0].reason
