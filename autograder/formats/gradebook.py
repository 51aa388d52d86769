"""Write the batch grader's scores into nbgrader's gradebook as ``nbgrader autograde`` leaves
it, so that formgrader (Manage Submissions, the per-notebook view, the grading page) and
``nbgrader export`` show them.

What formgrader reads, and where it comes from (nbgrader 0.9's ``apps/api.py`` and
``converters/autograde.py``), in this order — each step needs the one before:

1. the assignment, its notebook and its grade, solution and source cells, as
   ``nbgrader generate_assignment`` records them. The course's release records them
   (course/release.py); :func:`ensure_assignment` records them here when they are missing or
   differ from the released notebook, with nbgrader's own ``generate_assignment --db`` into a
   throw-away folder. A due date given with ``--due`` becomes the assignment's.
2. the student, then the submission with its ``timestamp`` (nbgrader's ``timestamp.txt``):
   ``Gradebook.add_submission`` mirrors the grade cells as empty grades.
3. what ``autograde``'s SaveAutoGrades and AssignLatePenalties store: per exercise, the
   score of its hidden test cell ``test_<exercise>`` as ``auto_score`` (a grade a person
   already overrode keeps its manual score and is flagged for review); "No response." on a
   solution cell still holding its stub; the notebook's late-submission penalty.
4. the autograded copy, ``autograded/<student>/<chapter>/<chapter>.ipynb`` beside the class
   folder, with the submission's ``timestamp.txt``: formgrader counts a submission as
   autograded only when that folder exists and its gradebook timestamp equals the submitted
   one (``NbGraderAPI.get_autograded_students``), and lists a notebook only when that file
   exists. It is the student's notebook put through nbgrader's own sanitizing steps
   (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata —
   what ``autograde`` does before it executes), with the batch grader's result as each test
   cell's output; formgrader's grading page shows it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from autograder import paths
from autograder.lateness import TIMESTAMP, from_iso

if TYPE_CHECKING:  # the gradebook is read before PyTorch is loaded
    from autograder.spec import SubmissionResult

COURSE_ID = "linear-nn-course"  # as in nbgrader_config.py
AUTOGRADED = "autograded"  # nbgrader's CourseDirectory.autograded_directory, beside submitted/
SANITIZE = ("ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata")


class GradebookError(RuntimeError):
    """The gradebook could not be prepared or written; the message says why."""


def course_config(root: Path | None = None) -> dict:
    """The course's ``nbgrader_config.py`` (or the one in ``root``) as a nested dict ({} when
    there is none)."""
    config = Path(root or paths.course_root()) / "nbgrader_config.py"
    if not config.is_file():
        return {}
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader(config.name, str(config.parent)).load_config()


def default_db_url() -> str:
    """The course's gradebook: ``CourseDirectory.db_url`` from ``nbgrader_config.py``, or
    nbgrader's default, ``gradebook.db`` in the course root."""
    url = course_config().get("CourseDirectory", {}).get("db_url")
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


# -- reading: due dates, extensions, names ------------------------------------------------
def read_class(db_url: str, chapters: list[str]) -> tuple[dict, dict, dict]:
    """What the gradebook knows of a class before grading.

    Returns:
        ``(due, extensions, roster)``: chapter → due date (naive UTC), (chapter, student) →
        extension, student id → ``last_name``/``first_name``/``email``/``lms_user_id``.
        Chapters not yet in the gradebook have no due date.
    """
    fast = read_class_sqlite(db_url, chapters)
    return fast if fast is not None else read_class_nbgrader(db_url, chapters)


def read_class_sqlite(db_url: str, chapters: list[str]) -> tuple[dict, dict, dict] | None:
    """:func:`read_class` straight from an SQLite gradebook of nbgrader's schema, read-only and
    without importing nbgrader (0.6 s at the start of every grading run, which the workers'
    start competes with); None where that cannot be done (another database, a missing file,
    another schema), and :func:`read_class_nbgrader` reads it instead."""
    import sqlite3
    from contextlib import closing
    from datetime import datetime
    if not db_url.startswith("sqlite:///") or not Path(db_url[len("sqlite:///"):]).is_file():
        return None
    epoch = datetime(1970, 1, 1)  # SQLAlchemy keeps an Interval in SQLite as epoch + interval
    try:
        with closing(sqlite3.connect(f"file:{db_url[len('sqlite:///'):]}?mode=ro", uri=True)) as con:
            due = {name: datetime.fromisoformat(when) for name, when in
                   con.execute("SELECT name, duedate FROM assignment") if name in chapters and when}
            extensions = {(name, student): datetime.fromisoformat(ext) - epoch for name, student, ext in con.execute(
                "SELECT a.name, s.student_id, s.extension FROM submitted_assignment s "
                "JOIN assignment a ON a.id = s.assignment_id WHERE s.extension IS NOT NULL") if name in chapters}
            roster = {sid: {"last_name": last, "first_name": first, "email": email, "lms_user_id": lms}
                      for sid, first, last, email, lms in con.execute(
                          "SELECT id, first_name, last_name, email, lms_user_id FROM student")}
    except (sqlite3.Error, ValueError, TypeError):
        return None
    return due, extensions, roster


def read_class_nbgrader(db_url: str, chapters: list[str]) -> tuple[dict, dict, dict]:
    """:func:`read_class` through nbgrader's own ``Gradebook`` (any database it supports)."""
    from nbgrader.api import MissingEntry
    due, extensions = {}, {}
    with open_gradebook(db_url) as gb:
        for chapter in chapters:
            try:
                assignment = gb.find_assignment(chapter)
            except MissingEntry:
                continue
            if assignment.duedate is not None:
                due[chapter] = assignment.duedate
            extensions.update({(chapter, s.student.id): s.extension
                               for s in assignment.submissions if s.extension is not None})
        roster = {s.id: {"last_name": s.last_name, "first_name": s.first_name, "email": s.email,
                         "lms_user_id": s.lms_user_id} for s in gb.students}
    return due, extensions, roster


# -- writing -------------------------------------------------------------------------------
def write_gradebook(results: Iterable[SubmissionResult], db_url: str | None = None,
                    submitted: Path | None = None, due: dict | None = None,
                    progress: Callable[[str], None] | None = None) -> int:
    """Record every submission in nbgrader's gradebook as ``nbgrader autograde`` would.

    Args:
        results: the batch grader's results (one per student and chapter), with the file
            graded and its timestamp (batch.stamped).
        db_url: an SQLAlchemy URL such as ``sqlite:////path/gradebook.db``, or the path of
            an SQLite file; default :func:`default_db_url`.
        submitted: the class folder (nbgrader's ``submitted/``); the autograded copies go
            into ``autograded/`` beside it. None: no copies (formgrader then lists the
            scores but not the notebooks).
        due: chapter → due date (naive UTC) to record as the assignment's.
        progress: called with a line of progress now and then.

    Returns:
        The number of submissions written.

    Raises:
        GradebookError: an assignment could not be created in the database.
    """
    results = list(results)
    db_url = as_db_url(db_url) if db_url else default_db_url()
    say = progress or (lambda line: None)
    for chapter in sorted({r.chapter for r in results}):
        say(f"gradebook: {chapter}: checking the assignment's cells")
        if ensure_assignment(chapter, db_url):
            say(f"gradebook: {chapter}: recorded the assignment's cells (nbgrader generate_assignment)")
    with open_gradebook(db_url) as gb:
        for chapter, when in (due or {}).items():
            if chapter in {r.chapter for r in results}:
                gb.update_or_create_assignment(chapter, duedate=when)
        for done, sub in enumerate(results, 1):
            record_submission(gb, sub)
            if submitted is not None:
                write_autograded(gb, sub, Path(submitted), db_url)
            if done % 10 == 0 or done == len(results):
                say(f"gradebook: {done}/{len(results)} submission(s) written")
    return len(results)


def ensure_assignment(chapter: str, db_url: str, force: bool = False) -> bool:
    """Make sure the gradebook holds the chapter's assignment, notebook and cells as
    released; record them with ``nbgrader generate_assignment`` when not (or ``force``).

    Returns:
        Whether they had to be recorded.

    Raises:
        GradebookError: nbgrader could not record them (for instance because cells were
            added or removed while submissions exist; nbgrader refuses that).
    """
    if not force and recorded_cells(chapter, db_url) == released_cells(chapter):
        return False
    generate_assignment(chapter, db_url)
    return True


def released_cells(chapter: str) -> dict[str, tuple]:
    """The released notebook's nbgrader cells as the gradebook records them: grade_id →
    (grade cell points or None, is solution, checksum unless a grade cell)."""
    nb = json.loads(paths.release_notebook(chapter).read_text())
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            grade = meta.get("grade", False)
            out[meta["grade_id"]] = (float(meta.get("points", 0)) if grade else None,
                                     bool(meta.get("solution")), None if grade else meta.get("checksum"))
    return out


def recorded_cells(chapter: str, db_url: str) -> dict[str, tuple]:
    """The same for the chapter's notebook in the gradebook ({} when it is not there)."""
    from nbgrader.api import MissingEntry
    with open_gradebook(db_url) as gb:
        try:
            notebook = gb.find_notebook(chapter, chapter)
        except MissingEntry:
            return {}
        points = {c.name: float(c.max_score) for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
        return {c.name: (points.get(c.name), c.name in solutions,
                         None if c.name in points else c.checksum) for c in notebook.source_cells}


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
            f"c.CourseDirectory.db_url = {db_url!r}\n"
            f"c.ClearSolutions.code_stub = {_code_stub()!r}\n")
        env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.run([str(exe), "generate_assignment", chapter, "--force",
                               "--log-level=WARN"], cwd=tmp, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise GradebookError(f"{chapter}: nbgrader generate_assignment into {db_url} failed:\n"
                             f"{(proc.stdout + proc.stderr)[-3000:]}")


def _code_stub() -> dict:
    """The course's solution stub (``ClearSolutions.code_stub``), so that the cells recorded
    match the released ones."""
    stub = course_config().get("ClearSolutions", {}).get("code_stub")
    return dict(stub) if stub else {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


def record_submission(gb, sub: SubmissionResult) -> None:
    """The student; their submission and its timestamp; the auto score of each
    ``test_<exercise>`` cell; "No response." on untouched solution cells; the late penalty."""
    from nbgrader.api import MissingEntry
    gb.update_or_create_student(sub.student_id)
    try:
        submission = gb.find_submission(sub.chapter, sub.student_id)
    except MissingEntry:
        with warnings.catch_warnings():  # SQLAlchemy's autoflush notes inside nbgrader's own code
            warnings.simplefilter("ignore")
            submission = gb.add_submission(sub.chapter, sub.student_id)
    submission.timestamp = from_iso(sub.timestamp)
    for ex in sub.exercises:
        grade = gb.find_grade(grade_cell_id(ex.exercise), sub.chapter, sub.chapter, sub.student_id)
        grade.auto_score = float(ex.score)
        grade.needs_manual_grade = grade.manual_score is not None
    notebook = gb.find_submission_notebook(sub.chapter, sub.chapter, sub.student_id)
    notebook.late_submission_penalty = sub.late_penalty if sub.seconds_late > 0 and sub.late_penalty else None
    gb.db.commit()


def write_autograded(gb, sub: SubmissionResult, submitted: Path, db_url: str) -> Path:
    """Write the autograded copy of a submission beside the class folder (step 4 above), and
    set the "No response." comments as SaveAutoGrades does; return the notebook's path."""
    import nbformat
    folder = submitted.resolve().parent / AUTOGRADED / sub.student_id / sub.chapter
    folder.mkdir(parents=True, exist_ok=True)
    source = submitted / sub.notebook if sub.notebook else None
    nb = sanitized(source, sub, db_url)
    _comment_untouched(gb, nb, sub)
    path = folder / f"{sub.chapter}.ipynb"
    nbformat.write(nb, str(path))
    stamp = submitted / Path(sub.notebook).parent / TIMESTAMP if sub.notebook else None
    if stamp and stamp.is_file():
        shutil.copyfile(stamp, folder / TIMESTAMP)
    else:
        (folder / TIMESTAMP).unlink(missing_ok=True)
    return path


def sanitized(source: Path | None, sub: SubmissionResult, db_url: str):
    """The student's notebook through nbgrader's sanitizing steps, each test cell showing the
    batch grader's result; the released notebook with a note when it cannot be read."""
    import nbformat
    from nbgrader import preprocessors
    resources = {"nbgrader": {"notebook": sub.chapter, "assignment": sub.chapter,
                              "student": sub.student_id, "db_url": db_url}}
    from autograder.nbgrader_plugins import OverwriteCells  # the hidden tests back, without a false alarm
    steps = {**{name: getattr(preprocessors, name) for name in SANITIZE}, "OverwriteCells": OverwriteCells}
    try:
        nb = nbformat.read(str(source), as_version=4)
        for name in SANITIZE:
            nb, resources = steps[name]().preprocess(nb, resources)
    except Exception as e:  # noqa: BLE001  whatever the student's file is, formgrader gets a notebook
        nb = nbformat.read(str(paths.release_notebook(sub.chapter)), as_version=4)
        why = sub.error or f"{type(e).__name__}: {e}"
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"**The submitted notebook could not be read** ({why[:300]}); "
            "this is the released notebook, shown so that the scores have their cells."))
    for cell in nb.cells:
        _show_result(cell, sub)
    return nb


def _show_result(cell, sub: SubmissionResult) -> None:
    """A test cell's output: the exercise's points and the message of each failed check."""
    import nbformat
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    ex = next((e for e in sub.exercises if grade_cell_id(e.exercise) == gid), None)
    if ex is None or cell.cell_type != "code":
        return
    lines = [f"python -m autograder grade: {ex.score:g} / {ex.max_score:g} points ({ex.status})"]
    lines += [f"  ✗ {c.check} ({c.score:g}/{c.max_score:g}): {c.message.splitlines()[0][:300] if c.message else ''}"
              for c in ex.checks if c.status != "passed"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="\n".join(lines) + "\n")]


def _comment_untouched(gb, nb, sub: SubmissionResult) -> None:
    """"No response." on each solution cell whose checksum is still the release's (SaveAutoGrades)."""
    from nbgrader import utils
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution") or not meta.get("grade_id"):
            continue
        comment = gb.find_comment(meta["grade_id"], sub.chapter, sub.chapter, sub.student_id)
        untouched = meta.get("checksum") == utils.compute_checksum(cell) and not utils.is_task(cell)
        comment.auto_comment = "No response." if untouched else None
    gb.db.commit()

