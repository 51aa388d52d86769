"""grades.csv (per student, chapter and exercise) and summary.csv (per student and chapter,
the columns of ``nbgrader export``, in its order and number format)."""
from __future__ import annotations

from typing import Iterable

from autograder.formats.common import num as _num, one_line as _one_line
from autograder.grader import SubmissionResult

GRADES_COLUMNS = ["student_id", "chapter", "grade_id", "score", "max_score", "status", "message",
                  "notebook", "timestamp", "seconds_late"]
# nbgrader's CsvExportPlugin, column for column
SUMMARY_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                   "email", "raw_score", "late_submission_penalty", "score", "max_score"]
ROSTER_FIELDS = ("last_name", "first_name", "email")


def grades_rows(results: Iterable[SubmissionResult]) -> list[dict]:
    """One row per student, chapter and exercise (exercise scores before any late penalty)."""
    rows = []
    for sub in results:
        for ex in sub.exercises:
            rows.append({"student_id": sub.student_id, "chapter": sub.chapter, "grade_id": ex.exercise,
                         "score": _num(ex.score), "max_score": _num(ex.max_score),
                         "status": ex.status, "message": _one_line(ex.message),
                         "notebook": sub.notebook, "timestamp": sub.timestamp,
                         "seconds_late": f"{sub.seconds_late:g}"})
    return rows


def summary_rows(results: Iterable[SubmissionResult], roster: dict | None = None) -> list[dict]:
    """One row per student and chapter, as ``nbgrader export`` writes it: times as
    ``2026-03-01 17:00:00`` (UTC), scores as ``12.0``, names from ``roster`` (student id →
    ``last_name``/``first_name``/``email``), empty where unknown."""
    roster = roster or {}
    return [{"assignment": s.chapter, "duedate": export_time(s.duedate), "timestamp": export_time(s.timestamp),
             "student_id": s.student_id,
             **{k: roster.get(s.student_id, {}).get(k) or "" for k in ROSTER_FIELDS},
             "raw_score": str(float(s.score)), "late_submission_penalty": str(float(s.late_penalty)),
             "score": str(max(0.0, float(s.final_score))), "max_score": str(float(s.max_score))}
            for s in results]


def export_time(iso_utc: str) -> str:
    """An ISO 8601 UTC time as nbgrader's export shows a gradebook time (``str(datetime)``)."""
    from autograder.lateness import from_iso
    return str(from_iso(iso_utc)) if iso_utc else ""
