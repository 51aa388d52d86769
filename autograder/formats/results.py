"""results.json: every check of every submission, with the run's device, seeds, versions and
tolerances."""
from __future__ import annotations

import platform

from autograder import __version__
from autograder.grader import SubmissionResult
from autograder.tolerances import table


def results_json(results: list[SubmissionResult], run: dict) -> dict:
    """Everything: per check scores and messages, plus device, seeds, versions, tolerances."""
    import torch
    return {
        "run": {**run, "autograder": __version__, "torch": torch.__version__,
                "python": platform.python_version(), "tolerances": table()},
        "submissions": [{"student_id": s.student_id, "chapter": s.chapter, "score": s.score,
                         "max_score": s.max_score, "error": s.error, "seconds": round(s.seconds, 3),
                         "notebook_sha256": s.notebook_sha256,
                         "exercises": [e.to_json() for e in s.exercises]} for s in results],
    }
