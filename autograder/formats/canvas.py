"""canvas.csv: the scores in Canvas's gradebook import format (Grades → Import).

The columns are Canvas's own export's: ``Student`` (the name), ``ID`` (Canvas's user id),
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per chapter. Canvas matches an
imported column to an existing assignment by its header, ``Name (id)`` as in Canvas's own
export; any other header makes a new assignment. ``--canvas-assignments FILE`` maps each
chapter to its assignment's header (:func:`read_assignment_map`); a chapter it does not map
is headed by its slug (a new assignment). The second row, ``Points Possible``, gives each
chapter's maximum. One row per student, by student id, with summary.csv's scores after any
late penalty — or before it (``--canvas-before-penalty``), for assignments whose own Canvas
late policy takes points off on import; a chapter a student did not submit is left empty
(Canvas leaves that grade as it is).

Student ids to Canvas: the run's roster (student id → that student's entry), the one
summary.csv takes its names from. An entry's ``lms_user_id`` (nbgrader's own name for the
LMS's user id) is the Canvas ID; ``last_name``, ``first_name``, and the optional
``sis_user_id``, ``sis_login_id`` and ``section`` fill the other columns. ``autograder grade
--roster FILE`` reads one from a CSV file with those columns and ``id`` (the nbgrader
student id) — nbgrader's student import format, so the same file also loads into nbgrader's
gradebook (``nbgrader db student import FILE``). A student with neither an LMS id nor a
SIS id (or no entry, or no roster) gets the Canvas user id at the end of the nbgrader student
id: submissions that came from Canvas through ``nbgrader zip_collect`` with the course's
collector (autograder/nbgrader_plugins.py, ``CanvasFileNames``) have student ids
``<name>_<Canvas user id>`` — the name Canvas puts in its file names, kept — and canvas.csv's
``Student`` is that name. A roster may list a student by either id.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from autograder.formats.common import write_csv
from autograder.formats.tables import summary_rows
from autograder.spec import SubmissionResult

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"  # as in Canvas's own export
# a student id from zip_collect of a Canvas download (nbgrader_plugins.CanvasFileNames)
_CANVAS_STUDENT = re.compile(r"(?P<name>.+)_(?P<canvas_id>\d+)")
_CANVAS_HEADER = re.compile(r".+ \(\d+\)")


class RosterError(ValueError):
    """The roster cannot be read, or lacks nbgrader's ``id`` column."""


def write_canvas(out: Path, results: list[SubmissionResult], roster: dict | None = None,
                 options: dict | None = None) -> None:
    """Write ``out/canvas.csv``; ``roster`` maps student ids to Canvas, ``options`` holds
    ``assignments`` (chapter → Canvas column header) and ``before_penalty`` (module docstring)."""
    options = options or {}
    headers = {c: (options.get("assignments") or {}).get(c, c) for c in sorted({s.chapter for s in results})}
    rows = canvas_rows(results, roster or {}, bool(options.get("before_penalty")))
    write_csv(out / "canvas.csv", CANVAS_COLUMNS + list(headers.values()),
              [{k if k in CANVAS_COLUMNS else headers.get(k, k): v for k, v in row.items()} for row in rows])


def canvas_rows(results: list[SubmissionResult], roster: dict[str, dict],
                before_penalty: bool = False) -> list[dict]:
    """The Points Possible row, then one row per student (sorted by student id), with the
    scores of summary.csv (after any late penalty, unless ``before_penalty``), by chapter."""
    summary = summary_rows(results)
    points = {r["assignment"]: r["max_score"] for r in summary}
    scores: dict[str, dict] = {}
    for r in summary:
        scores.setdefault(r["student_id"], {})[r["assignment"]] = r["raw_score" if before_penalty else "score"]
    return [{"Student": POINTS_POSSIBLE, **points}] + [
        {**canvas_identity(sid, roster_entry(roster, sid)), **scores[sid]} for sid in sorted(scores)]


def roster_entry(roster: dict[str, dict], student_id: str) -> dict | None:
    """A student's roster entry, by nbgrader student id or by the Canvas user id it ends with."""
    canvas = _CANVAS_STUDENT.fullmatch(student_id)
    return roster.get(student_id) or (roster.get(canvas["canvas_id"]) if canvas else None)


def canvas_identity(student_id: str, entry: dict | None) -> dict:
    """A student's Student, ID, SIS and Section columns, from their roster entry if any, else
    from a ``<name>_<Canvas user id>`` student id (zip_collect of a Canvas download)."""
    entry = entry or {}
    sis = {"SIS User ID": entry.get("sis_user_id") or "", "SIS Login ID": entry.get("sis_login_id") or ""}
    name = ", ".join(p for p in (entry.get("last_name"), entry.get("first_name")) if p)
    canvas = _CANVAS_STUDENT.fullmatch(student_id)
    own_id = canvas["canvas_id"] if canvas else student_id
    canvas_id = entry.get("lms_user_id") or ("" if any(sis.values()) else own_id)
    return {"Student": name or (canvas["name"] if canvas else student_id), "ID": canvas_id, **sis,
            "Section": entry.get("section") or ""}


def late_note(results: list[SubmissionResult], before_penalty: bool) -> str:
    """A line for the end of a run when canvas.csv holds scores with late penalties taken off
    (a Canvas late policy on the same assignment would take them off again); "" otherwise."""
    late = sum(1 for r in results if r.late_penalty > 0)
    if not late or before_penalty:
        return ""
    return (f"canvas.csv: {late} score(s) have the late penalty taken off; if Canvas's own late policy "
            "applies to these assignments it charges again on import: grade with --canvas-before-penalty")


def read_assignment_map(path: Path, chapters: list[str]) -> dict[str, str]:
    """``--canvas-assignments FILE``: chapter → the header of its Canvas assignment's column.
    The file is CSV, ``chapter,assignment`` then one row per chapter, the assignment as
    Canvas's own gradebook export heads it, ``Linear regression from scratch (123456)``.

    Raises:
        RosterError: the file cannot be read, names an unknown chapter, or a header Canvas
            would not match to an existing assignment; in one line.
    """
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError) as e:
        raise RosterError(f"cannot read --canvas-assignments {path}: {e}") from None
    mapping = {}
    for row in rows[1:] if rows and [c.strip() for c in rows[0][:2]] == ["chapter", "assignment"] else rows:
        if not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            raise RosterError(f"--canvas-assignments {path}: expected 'chapter,assignment' rows, got {','.join(row)!r}")
        chapter, header = row[0].strip(), ",".join(row[1:]).strip()
        if chapter not in chapters:
            raise RosterError(f"--canvas-assignments {path}: {chapter!r} is not a chapter of this course")
        if not _CANVAS_HEADER.fullmatch(header):
            raise RosterError(f"--canvas-assignments {path}: {header!r} for {chapter} is not a Canvas "
                              "column header, 'Name (id)' as in Canvas's gradebook export")
        mapping[chapter] = header
    return mapping


def read_roster(path: Path) -> dict[str, dict]:
    """A roster CSV file (nbgrader's student import columns, module docstring): nbgrader
    student id → that row, column names and values stripped.

    Raises:
        RosterError: the file cannot be read, or has no ``id`` column.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise RosterError(f"cannot read the roster {path}: {e}") from None
    reader = csv.DictReader(io.StringIO(text))
    reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
    if "id" not in reader.fieldnames:
        raise RosterError(f"the roster {path} has no 'id' column; expected nbgrader's student columns "
                          f"(id, first_name, last_name, email, lms_user_id), found: {', '.join(reader.fieldnames)}")
    return {row["id"].strip(): {k: (v or "").strip() for k, v in row.items() if k}
            for row in reader if (row.get("id") or "").strip()}
