"""Finding the submissions in a class folder, and accounting for every folder in it.

nbgrader's layout: ``SUBMITTED/<student_id>/<chapter>/<chapter>.ipynb``. Every entry under
``SUBMITTED`` becomes either a :class:`Submission` to grade or a :class:`NotGraded` with its
reason; nothing is passed over in silence:

* a file where a student's folder should be, or a student's folder with nothing in it;
* a chapter folder put where a student's folder should be (``SUBMITTED`` one level too deep);
* a notebook lying directly in a student's folder instead of in its chapter folder;
* a folder whose name is no graded chapter (the nearest chapter name is suggested);
* a chapter folder that is empty, or holds no notebook (what it holds instead is named);
* a chapter that this run was not asked to grade.

Nothing in the tree is followed or opened blindly (:func:`refusal`, from ``lstat``): a
symbolic link (to a file or a folder: it could point at ``solutions/`` or at another
student's notebook), a FIFO, a socket or a device, and a file over ``MAX_MB`` MB are each
listed as not graded, with the reason.

A chapter folder holding several notebooks is flagged: one is graded and the others are
named in the submission's ``note``. The rule (:func:`pick_notebook`), in order:

1. a notebook in which the student wrote something (at least one solution cell differs
   from the released stub) before one that is still the stub, or cannot be read;
2. the exact name ``<chapter>.ipynb``;
3. more solution cells written;
4. the most recently modified;
5. the first name in alphabetical order.

Names starting with ``.`` (``.ipynb_checkpoints``, ``.DS_Store``), ``__MACOSX`` and
nbgrader's own ``timestamp.txt`` and ``submission_secret.txt`` are not submissions and are
ignored.

This module imports no PyTorch: the command line surveys the folder before loading the grader.
"""
from __future__ import annotations

import difflib
import functools
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from autograder import paths
from autograder.lateness import TIMESTAMP

# nbgrader's own files in a submission folder, and an archiver's; besides names starting with "."
IGNORED = ("__MACOSX", "__pycache__", TIMESTAMP, "submission_secret.txt")
NEAREST_CUTOFF = 0.5  # difflib similarity below which no chapter name is suggested
SAME_NUMBER = 0.4  # added to the similarity of a chapter whose number the name starts with
NOT_ASKED = "a chapter not asked for in this run (--chapter)"
NOT_GRADED_SHOWN = 30  # lines of the "not graded" section printed at the end of a run
MAX_MB = 20  # a file larger than this (in MB, 10**6 bytes) is not read


@dataclass(frozen=True)
class Submission:
    """One notebook to grade: whose, for which chapter, and why this file (``note``)."""
    student_id: str
    chapter: str
    path: Path
    note: str = ""  # set when the folder held more than the one notebook graded


@dataclass(frozen=True)
class NotGraded:
    """A folder or file under ``SUBMITTED`` that was not graded, and why."""
    path: str  # relative to SUBMITTED, with "/"
    reason: str
    student_id: str = ""
    chapter: str = ""

    def to_json(self) -> dict:
        return {"path": self.path, "student_id": self.student_id, "chapter": self.chapter,
                "reason": self.reason}


@dataclass(frozen=True)
class Survey:
    """Everything found under ``SUBMITTED``: what to grade, and what not, with reasons."""
    submissions: tuple[Submission, ...]
    not_graded: tuple[NotGraded, ...]

    @property
    def chapters(self) -> list[str]:
        """The chapters that have at least one submission, in course order."""
        present = {s.chapter for s in self.submissions}
        return [c for c in paths.chapters() if c in present]


def graded_chapters() -> list[str]:
    """Chapters with a solutions notebook and a checks module (``checks/ch<slug>.py``),
    found without importing the checks (and with them PyTorch)."""
    checks = Path(__file__).resolve().parent / "checks"
    return [c for c in paths.chapters() if (checks / f"ch{c}.py").is_file()]


def not_graded_lines(not_graded, limit: int = NOT_GRADED_SHOWN) -> list[str]:
    """The "not graded" section of the summary: a line per folder (chapters not asked for
    in one line), at most ``limit``; the rest are in results.json and the class report."""
    if not not_graded:
        return []
    other = [n for n in not_graded if n.reason == NOT_ASKED]
    shown = [n for n in not_graded if n.reason != NOT_ASKED]
    from autograder.sanitize import clean_text  # a folder's name need not be UTF-8: printable here
    lines = [f"not graded ({len(not_graded)}):"] + [clean_text(f"  {n.path}: {n.reason}") for n in shown[:limit]]
    if len(shown) > limit:
        lines.append(f"  … and {len(shown) - limit} more (results.json, class_report.html)")
    if other:
        lines.append(f"  {len(other)} folder(s) of other chapters: {NOT_ASKED}")
    return lines


def survey(submitted: Path, chapters: list[str] | None, known: list[str]) -> Survey:
    """Sort every entry under ``submitted`` into submissions and entries not graded.

    Args:
        submitted: the class folder, ``<student_id>/<chapter>/<notebook>.ipynb``.
        chapters: the chapters to grade, or None for every graded chapter present.
        known: the course's graded chapters.

    Returns:
        The submissions, sorted by student and chapter, and what was not graded, by path.
    """
    found: list[Submission] = []
    skipped: list[NotGraded] = []
    for entry in _entries(submitted):
        refused = refusal(entry)
        if refused:
            skipped.append(NotGraded(entry.name, refused, entry.name))
        elif not entry.is_dir():
            skipped.append(NotGraded(entry.name, "a file, not a student's folder (expected "
                                     "<student_id>/<chapter>/<chapter>.ipynb)"))
        elif entry.name in known:
            skipped.append(NotGraded(entry.name, "a chapter folder where a student's folder should be: "
                                     "SUBMITTED holds one folder per student, each holding chapter folders",
                                     chapter=entry.name))
        else:
            try:
                subs, skips = _student(submitted, entry, chapters, known)
            except OSError as e:
                subs, skips = [], [NotGraded(entry.name, _unreadable(e), entry.name)]
            found += subs
            skipped += skips
    return Survey(tuple(found), tuple(skipped))


def refusal(path: Path) -> str | None:
    """Why ``path`` is not read (from ``lstat``, so nothing is followed or opened): a
    symbolic link, a FIFO, a socket, a device, or a file over ``MAX_MB`` MB; None for a
    plain file or folder."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return _unreadable(e)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = f" (to {os.readlink(path)})"
        except OSError:
            target = ""
        return (f"a symbolic link{target}: links are not followed; submit the file itself, "
                "not a link to it")
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO (named pipe), not a file: not read"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket, not a file: not read"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "a device, not a file: not read"
    if stat.S_ISREG(st.st_mode) and st.st_size > MAX_MB * 10**6:
        return (f"a file of {st.st_size / 10**6:.0f} MB, over the {MAX_MB} MB limit for a "
                "submitted file: not read (clear the notebook's outputs and submit it again)")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return "not a plain file or folder: not read"
    return None


def _entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` that may be submissions, sorted by name."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in IGNORED)


def _student(submitted: Path, folder: Path, chapters: list[str] | None,
             known: list[str]) -> tuple[list[Submission], list[NotGraded]]:
    """One student's folder: a submission per chapter folder asked for; the rest, with reasons."""
    student = folder.name
    entries = _entries(folder)
    if not entries:
        return [], [NotGraded(_rel(submitted, folder), "an empty folder", student)]
    subs, skips = [], []
    for entry in entries:
        rel = _rel(submitted, entry)
        refused = refusal(entry)
        if refused:
            skips.append(NotGraded(rel, refused, student, entry.name if entry.name in known else ""))
        elif not entry.is_dir():
            skips.append(NotGraded(rel, _stray_file_reason(entry, student, known), student))
        elif entry.name not in known:
            skips.append(NotGraded(rel, f"not a chapter of this course; {nearest_text(entry.name, known)}",
                                   student, entry.name))
        elif chapters is not None and entry.name not in chapters:
            skips.append(NotGraded(rel, NOT_ASKED, student, entry.name))
        else:
            try:
                skips += [NotGraded(_rel(submitted, p), why, student, entry.name)
                          for p in _entries(entry) if (why := refusal(p))]
                sub, why = pick_notebook(entry, student)
            except OSError as e:
                sub, why = None, _unreadable(e)
            if sub:
                subs.append(sub)
            else:
                skips.append(NotGraded(rel, why, student, entry.name))
    return subs, skips


def _unreadable(e: OSError) -> str:
    return f"cannot be read ({e.strerror or e}); check its permissions"


def _stray_file_reason(path: Path, student: str, known: list[str]) -> str:
    where = nearest(path.stem, known) if path.suffix == ".ipynb" else None
    target = f"{student}/{where}/{where}.ipynb" if where else f"{student}/<chapter>/<chapter>.ipynb"
    return f"a file directly in the student's folder; a submission goes in {target}"


def nearest(name: str, known: list[str]) -> str | None:
    """The chapter whose name is closest to ``name`` (a misspelled folder), or None: the
    most similar (difflib's ratio), a chapter with the same number counting a bit more."""
    def similarity(chapter: str) -> float:
        same_number = name[:2].isdigit() and chapter.startswith(name[:2])
        return difflib.SequenceMatcher(None, name.lower(), chapter.lower()).ratio() + SAME_NUMBER * same_number
    best = max(known, key=similarity, default=None)
    return best if best is not None and similarity(best) >= NEAREST_CUTOFF else None


def nearest_text(name: str, known: list[str]) -> str:
    """``did you mean 05_linear_regression_scratch?``, or the list of chapters."""
    match = nearest(name, known)
    return f"did you mean {match}?" if match else f"the chapters are {', '.join(known)}"


def pick_notebook(folder: Path, student: str) -> tuple[Submission | None, str]:
    """The notebook to grade in one chapter folder (the rule in the module docstring).

    Returns:
        ``(submission, "")``, or ``(None, why nothing can be graded)``.
    """
    chapter = folder.name
    entries = _entries(folder)
    refused = {p: why for p in entries if (why := refusal(p))}
    notebooks = [p for p in entries if p.suffix.lower() == ".ipynb" and p not in refused and p.is_file()]
    if not notebooks:
        unread = [f"{p.name} is {why}" for p, why in refused.items() if p.suffix.lower() == ".ipynb"]
        return None, "; ".join(unread) if unread else _no_notebook_reason(folder, entries)
    stubs = release_stubs(chapter)
    ranked = sorted(notebooks, key=lambda p: _rank(p, chapter, stubs))
    chosen, others = ranked[0], ranked[1:]
    extra = [p.name for p in entries if p not in notebooks]
    return Submission(student, chapter, chosen, _note(chosen, others, extra, chapter, stubs)), ""


def _no_notebook_reason(folder: Path, entries: list[Path]) -> str:
    if not entries:
        return "an empty chapter folder"
    nested = sorted(Path(top, name).relative_to(folder).as_posix()
                    for top, dirs, files in os.walk(folder)  # links to folders are not followed
                    for name in files if name.endswith(".ipynb")
                    and not any(part.startswith(".") for part in Path(top, name).relative_to(folder).parts))
    held = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:5])
    more = f" (and {len(entries) - 5} more)" if len(entries) > 5 else ""
    where = f"; notebooks in subfolders: {', '.join(nested[:3])}" if nested else ""
    return f"no notebook (.ipynb) in the folder; it holds {held}{more}{where}"


def _rank(path: Path, chapter: str, stubs: dict[str, str]) -> tuple:
    written = solutions_written(path, stubs)
    return (written <= 0, path.name != f"{chapter}.ipynb", -written, -_mtime(path), path.name)


def _note(chosen: Path, others: list[Path], extra: list[str], chapter: str, stubs: dict[str, str]) -> str:
    """What else the folder held, and why ``chosen`` was graded; "" when there was no choice."""
    parts = []
    if others:
        why = ("the exact name" if chosen.name == f"{chapter}.ipynb" and solutions_written(chosen, stubs) > 0
               else f"{solutions_written(chosen, stubs)} solution cell(s) written")
        listed = ", ".join(f"{p.name} ({_written_text(solutions_written(p, stubs))})" for p in others)
        parts.append(f"{len(others) + 1} notebooks in the folder: graded {chosen.name} ({why}); "
                     f"not graded: {listed}")
    elif chosen.name != f"{chapter}.ipynb":
        parts.append(f"graded {chosen.name}: the only notebook in the folder (expected {chapter}.ipynb)")
    if extra:
        parts.append(f"other files, not graded: {', '.join(extra[:5])}" + (" …" if len(extra) > 5 else ""))
    return "; ".join(parts)


def _written_text(count: int) -> str:
    return "unreadable" if count < 0 else "still the stub" if count == 0 else f"{count} solution cell(s) written"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def release_stubs(chapter: str) -> dict[str, str]:
    """The released notebook's solution cells: grade_id → the stub's source (read once per
    version of the release, not once per submission)."""
    path = paths.release_notebook(chapter)
    try:
        stat = path.stat()
    except OSError:
        return {}
    return dict(_release_stubs(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=32)
def _release_stubs(path: Path, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    try:
        return tuple((gid, src) for gid, src, solution in _nbgrader_cells(path) if solution)
    except (OSError, ValueError):
        return ()


def solutions_written(path: Path, stubs: dict[str, str]) -> int:
    """How many of the release's solution cells this notebook changed; -1 if unreadable."""
    try:
        cells = {gid: src for gid, src, _ in _nbgrader_cells(path)}
    except (OSError, ValueError):
        return -1
    return sum(1 for gid, stub in stubs.items() if gid in cells and cells[gid].strip() != stub.strip())


def _nbgrader_cells(path: Path) -> list[tuple[str, str, bool]]:
    """``(grade_id, source, is_solution)`` of a notebook's cells with nbgrader metadata.

    Raises:
        ValueError: the file is not a notebook in JSON.
    """
    from autograder.notebooks import NotebookError, nbgrader_meta, read_notebook
    try:
        nb = read_notebook(path)
    except NotebookError as e:
        raise ValueError(str(e)) from None
    out = []
    for cell in nb.get("cells", []):
        meta = nbgrader_meta(cell) if isinstance(cell, dict) else {}
        if meta.get("grade_id"):
            src = cell.get("source", "")
            out.append((str(meta["grade_id"]), "".join(src) if isinstance(src, list) else str(src),
                        bool(meta.get("solution"))))
    return out


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
