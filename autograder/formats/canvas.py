"""canvas.csv: the scores in Canvas's gradebook import format (Grades → Import).

The columns are Canvas's own export's: ``Student`` (the name), ``ID`` (Canvas's user id),
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per chapter, headed by its
slug (Canvas creates an assignment of that name; to fill an existing one instead, rename
the header to the assignment's column in Canvas's own export, ``Name (id)``). The second
row, ``Points Possible``, gives each chapter's maximum. One row per student, by student id,
with summary.csv's scores (after any late penalty); a chapter a student did not submit is
left empty (Canvas leaves that grade as it is).

Student ids to Canvas: the run's roster (student id → that student's entry), the one
summary.csv takes its names from. An entry's ``lms_user_id`` (nbgrader's own name for the
LMS's user id) is the Canvas ID; ``last_name``, ``first_name``, and the optional
``sis_user_id``, ``sis_login_id`` and ``section`` fill the other columns. ``autograder grade
--roster FILE`` reads one from a CSV file with those columns and ``id`` (the nbgrader
student id) — nbgrader's student import format, so the same file also loads into nbgrader's
gradebook (``nbgrader db student import FILE``). A student with neither an LMS id nor a
SIS id (or no entry, or no roster) gets the nbgrader student id as Canvas ID: right when
the submissions came from Canvas through ``nbgrader zip_collect`` with
``CANVAS_FILENAME_REGEXP``, which takes Canvas's user id as the student id.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from autograder.formats.common import write_csv
from autograder.formats.tables import summary_rows
from autograder.spec import SubmissionResult

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "    Points Possible"  # as in Canvas's own export
# Canvas names each downloaded file <lastfirst>_[LATE_]<user id>_<submission id>_<file name>,
# and a resubmitted file <name>-<n>.<ext>; for nbgrader's FileNameCollectorPlugin.named_regexp.
CANVAS_FILENAME_REGEXP = (r".*/[^/]*?_(?:LATE_)?(?P<student_id>\d+)_\d+_"
                          r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$")


class RosterError(ValueError):
    """The roster cannot be read, or lacks nbgrader's ``id`` column."""


def write_canvas(out: Path, results: list[SubmissionResult], roster: dict | None = None) -> None:
    """Write ``out/canvas.csv``; ``roster`` maps student ids to Canvas (module docstring)."""
    chapters = sorted({s.chapter for s in results})
    write_csv(out / "canvas.csv", CANVAS_COLUMNS + chapters, canvas_rows(results, roster or {}))


def canvas_rows(results: list[SubmissionResult], roster: dict[str, dict]) -> list[dict]:
    """The Points Possible row, then one row per student (sorted by student id), with the
    scores of summary.csv (after any late penalty)."""
    summary = summary_rows(results)
    points = {r["assignment"]: r["max_score"] for r in summary}
    scores: dict[str, dict] = {}
    for r in summary:
        scores.setdefault(r["student_id"], {})[r["assignment"]] = r["score"]
    return [{"Student": POINTS_POSSIBLE, **points}] + [
        {**canvas_identity(sid, roster.get(sid)), **scores[sid]} for sid in sorted(scores)]


def canvas_identity(student_id: str, entry: dict | None) -> dict:
    """A student's Student, ID, SIS and Section columns, from their roster entry if any."""
    entry = entry or {}
    sis = {"SIS User ID": entry.get("sis_user_id") or "", "SIS Login ID": entry.get("sis_login_id") or ""}
    name = ", ".join(p for p in (entry.get("last_name"), entry.get("first_name")) if p)
    canvas_id = entry.get("lms_user_id") or ("" if any(sis.values()) else student_id)
    return {"Student": name or student_id, "ID": canvas_id, **sis, "Section": entry.get("section") or ""}


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
