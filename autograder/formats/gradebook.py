"""Write the batch grader's scores into nbgrader's gradebook database, so formgrader shows them.

Steps, in this order (each needs the one before):

1. the assignment, its notebook and its grade cells must exist in the database. nbgrader
   records them in ``generate_assignment`` when it runs with a database; the course's
   release runs it with ``--no-db``, so when they are missing we run nbgrader's own
   ``generate_assignment --db URL`` into a throw-away release folder (the same cells and
   checksums ``nbgrader autograde`` would use);
2. the student, then the submission (which mirrors the grade cells as empty grades);
3. per exercise, the grade of its hidden test cell ``test_<exercise>``: ``auto_score`` is our
   score. As nbgrader's own ``SaveAutoGrades`` does, a grade a person already overrode by
   hand keeps its manual score and is flagged for review.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterable

from autograder import paths
from autograder.grader import SubmissionResult

COURSE_ID = "linear-nn-course"  # as in nbgrader_config.py


class GradebookError(RuntimeError):
    """The gradebook could not be prepared or written; the message says why."""


def default_db_url() -> str:
    """The course's gradebook: ``CourseDirectory.db_url`` from ``nbgrader_config.py``, or
    nbgrader's default, ``gradebook.db`` in the course root."""
    config = paths.course_root() / "nbgrader_config.py"
    if config.is_file():
        from traitlets.config.loader import PyFileConfigLoader
        loaded = PyFileConfigLoader(config.name, str(config.parent)).load_config()
        url = loaded.get("CourseDirectory", {}).get("db_url")
        if isinstance(url, str) and url:
            return url
    return f"sqlite:///{(paths.course_root() / 'gradebook.db').resolve()}"


def as_db_url(where: str) -> str:
    """A database URL as given, or a file path (``grades/gradebook.db``) as an SQLite URL."""
    return where if "://" in where else f"sqlite:///{Path(where).resolve()}"


def open_gradebook(db_url: str):
    """nbgrader's ``Gradebook`` on ``db_url`` (created and migrated if new).

    nbgrader runs the ``alembic`` command to check the schema; when the course's virtual
    environment is not activated, its ``bin`` folder is put on ``PATH`` so it is found.
    """
    if shutil.which("alembic") is None:
        os.environ["PATH"] = f"{_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}"
    from nbgrader.api import Gradebook
    return Gradebook(db_url, COURSE_ID)


def _bin_dir() -> Path:
    return Path(sys.executable).parent


def grade_cell_id(exercise: str) -> str:
    """The grade_id of an exercise's hidden test cell."""
    return f"test_{exercise}"


def write_gradebook(results: Iterable[SubmissionResult], db_url: str | None = None) -> int:
    """Record every submission's per-exercise scores in nbgrader's gradebook.

    Args:
        results: the batch grader's results (one per student and chapter).
        db_url: an SQLAlchemy URL such as ``sqlite:////path/gradebook.db``, or the path of
            an SQLite file; default :func:`default_db_url`.

    Returns:
        The number of submissions written.

    Raises:
        GradebookError: an assignment could not be created in the database.
    """
    results = list(results)
    db_url = as_db_url(db_url) if db_url else default_db_url()
    for chapter in sorted({r.chapter for r in results}):
        ensure_assignment(chapter, db_url)
    with open_gradebook(db_url) as gb:
        for sub in results:
            record_submission(gb, sub)
    return len(results)


def ensure_assignment(chapter: str, db_url: str) -> None:
    """Make sure the chapter's assignment, notebook and grade cells are in the database."""
    from nbgrader.api import MissingEntry
    with open_gradebook(db_url) as gb:
        try:
            cells = {c.name for c in gb.find_notebook(chapter, chapter).grade_cells}
        except MissingEntry:
            cells = set()
    if not cells or not _expected_cells(chapter) <= cells:
        generate_assignment(chapter, db_url)


def _expected_cells(chapter: str) -> set[str]:
    from autograder.chapter import load_chapter
    return {grade_cell_id(ex.name) for ex in load_chapter(chapter).exercises}


def generate_assignment(chapter: str, db_url: str) -> None:
    """Run ``nbgrader generate_assignment CHAPTER --db URL`` into a throw-away release folder.

    Raises:
        GradebookError: nbgrader failed (its output is in the message).
    """
    exe = _bin_dir() / "nbgrader"
    with tempfile.TemporaryDirectory(prefix="gradebook-") as tmp:
        (Path(tmp) / "nbgrader_config.py").write_text(
            "c = get_config()\n"
            f"c.CourseDirectory.root = {tmp!r}\n"
            f"c.CourseDirectory.source_directory = {str(paths.course_root() / 'solutions')!r}\n"
            "c.CourseDirectory.release_directory = 'release'\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.CourseDirectory.db_url = {db_url!r}\n")
        env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.run([str(exe), "generate_assignment", chapter, "--force",
                               "--log-level=WARN"], cwd=tmp, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GradebookError(f"{chapter}: nbgrader generate_assignment into {db_url} failed:\n"
                             f"{(proc.stdout + proc.stderr)[-3000:]}")


def record_submission(gb, sub: SubmissionResult) -> None:
    """The student, their submission, and the auto score of each ``test_<exercise>`` cell."""
    from nbgrader.api import MissingEntry
    gb.update_or_create_student(sub.student_id)
    try:
        gb.find_submission(sub.chapter, sub.student_id)
    except MissingEntry:
        with warnings.catch_warnings():  # SQLAlchemy's autoflush notes inside nbgrader's own code
            warnings.simplefilter("ignore")
            gb.add_submission(sub.chapter, sub.student_id)
    for ex in sub.exercises:
        grade = gb.find_grade(grade_cell_id(ex.exercise), sub.chapter, sub.chapter, sub.student_id)
        grade.auto_score = float(ex.score)
        grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()
