"""The nbgrader path: hidden test cells call :func:`grade` inside the student's kernel.

It runs the same checks as the batch grader, with the same seeds and inputs, so
``nbgrader autograde`` and ``python -m autograder grade`` give the same scores. It is as
trusting as nbgrader itself (student code shares the process); the instructor guide says
so. The cell's value is the points earned, which nbgrader reads as partial credit; nothing
is written to stderr, since nbgrader zeroes a test cell that writes there.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings

from autograder.chapter import load_chapter
from autograder.grader import DEFAULT_SEED, Grader


def pick_device(choice: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is available, else ``cpu``."""
    import torch
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for, but torch sees no CUDA device")
    return choice


@functools.lru_cache(maxsize=None)
def _session(chapter: str) -> "Session":
    seed = int(os.environ.get("AUTOGRADER_SEED", DEFAULT_SEED))
    device = pick_device(os.environ.get("AUTOGRADER_DEVICE", "auto"))
    return Session(Grader(load_chapter(chapter), device=device, seed=seed))


class Session:
    """One kernel's grading of one chapter: the grader and the results so far, which later
    exercises need (a function that failed its checks stands in as a working one)."""

    def __init__(self, grader: Grader):
        self.grader, self.results = grader, {}

    def grade(self, exercise: str, ns: dict):
        sources = kernel_sources(ns)
        result = self.grader.grade_in_process(ns, exercise, sources, dict(self.results))
        self.results[exercise] = result
        return result


def grade(chapter: str, exercise: str, ns: dict) -> float:
    """Grade one exercise on the functions in ``ns``; print a report; return the points."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        result = _session(chapter).grade(exercise, ns)
    for check in result.checks:
        mark = "✓" if check.status == "passed" else "✗"
        print(f"{mark} {check.check} ({check.score:g}/{check.max_score:g}): {check.message}")
    if result.note:
        print(f"({result.note})")
    print(f"{exercise}: {result.score:g} / {result.max_score:g} points")
    return result.score


def kernel_sources(ns: dict) -> list[str]:
    """The cells run in this kernel so far, oldest first (IPython's ``In``)."""
    return [src for src in (ns.get("In", []) or []) if isinstance(src, str)]
