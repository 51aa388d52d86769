"""Output formats: each module writes one kind of file from the same results.

``write_all`` writes the ones every run produces: grades.csv and summary.csv (tables.py),
canvas.csv (canvas.py),
results.json (results.py), feedback/<student>/<chapter>.html (feedback.py) and the class
report (classreport.py). nbgrader's gradebook (gradebook.py) is written on request.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line imports formats.gradebook before PyTorch is loaded
    from autograder.grader import SubmissionResult


def write_all(out: Path, results: list[SubmissionResult], run: dict, not_graded=(),
              roster: dict | None = None) -> list[str]:
    """grades.csv, summary.csv, results.json, feedback/<student>/<chapter>.html and the class
    report (class_report.html, class_report.csv) under ``out``; ``not_graded``
    (submissions.NotGraded) are listed in results.json and the class report; ``roster``
    (student id → nbgrader's student columns: names, email, LMS ids) fills summary.csv's
    and canvas.csv's. Returns the names of the files written (``feedback/`` for the pages)."""
    # imported here: each format imports the grader's results, and with them PyTorch
    from autograder.formats.canvas import write_canvas
    from autograder.formats.common import atomic_write, write_csv
    from autograder.formats.feedback import feedback_html
    from autograder.formats.results import results_json
    from autograder.formats.classreport import write_class_report
    from autograder.formats.tables import GRADES_COLUMNS, SUMMARY_COLUMNS, grades_rows, summary_rows
    results = sorted(results, key=lambda s: (s.student_id, s.chapter))
    write_csv(out / "grades.csv", GRADES_COLUMNS, grades_rows(results))
    write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary_rows(results, roster))
    write_canvas(out, results, roster, run.get("canvas"))
    atomic_write(out / "results.json", json.dumps(results_json(results, run, not_graded), indent=1))
    for sub in results:
        atomic_write(out / "feedback" / sub.student_id / f"{sub.chapter}.html", feedback_html(sub, run.get("sandbox", "")))
    written = ["grades.csv", "summary.csv", "canvas.csv", "results.json"] + (["feedback/"] if results else [])
    if results or not_graded:
        write_class_report(out, results, not_graded, run.get("sandbox", ""))
        written += ["class_report.html", "class_report.csv"]
    return written
