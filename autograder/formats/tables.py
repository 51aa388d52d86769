"""grades.csv (per student, chapter and exercise) and summary.csv (per student and chapter,
the columns of ``nbgrader export``)."""
from __future__ import annotations

from typing import Iterable

from autograder.formats.common import num as _num, one_line as _one_line
from autograder.grader import SubmissionResult

GRADES_COLUMNS = ["student_id", "chapter", "grade_id", "score", "max_score", "status", "message"]
SUMMARY_COLUMNS = ["assignment", "student_id", "raw_score", "score", "max_score"]


def grades_rows(results: Iterable[SubmissionResult]) -> list[dict]:
    """One row per student, chapter and exercise."""
    rows = []
    for sub in results:
        for ex in sub.exercises:
            rows.append({"student_id": sub.student_id, "chapter": sub.chapter, "grade_id": ex.exercise,
                         "score": _num(ex.score), "max_score": _num(ex.max_score),
                         "status": ex.status, "message": _one_line(ex.message)})
    return rows


def summary_rows(results: Iterable[SubmissionResult]) -> list[dict]:
    """One row per student and chapter, with the columns of ``nbgrader export``."""
    return [{"assignment": s.chapter, "student_id": s.student_id, "raw_score": _num(s.score),
             "score": _num(s.score), "max_score": _num(s.max_score)} for s in results]
