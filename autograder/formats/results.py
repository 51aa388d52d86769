"""results.json: every check of every submission — with the file graded, its hash, how it
was picked, and its lateness — the folders that were not graded and why, and the run's
device, seeds, versions and tolerances."""
from __future__ import annotations

import platform

from autograder import __version__
from autograder.grader import SubmissionResult
from autograder.tolerances import table


def results_json(results: list[SubmissionResult], run: dict, not_graded=()) -> dict:
    """Everything: per check scores and messages, what was not graded, and the device,
    seeds, versions and tolerances."""
    import torch
    return {
        "run": {**run, "autograder": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "tolerances": table()},
        "submissions": [{"student_id": s.student_id, "chapter": s.chapter, "score": s.final_score,
                         "raw_score": s.score, "max_score": s.max_score, "error": s.error,
                         "seconds": round(s.seconds, 3), "notebook": s.notebook,
                         "notebook_sha256": s.notebook_sha256, "note": s.note, "duedate": s.duedate,
                         "timestamp": s.timestamp, "seconds_late": s.seconds_late,
                         "late_penalty": s.late_penalty,
                         "exercises": [e.to_json() for e in s.exercises]} for s in results],
        "not_graded": [n.to_json() for n in not_graded],
    }
