"""Grading a class: every submission of one or more chapters, in parallel, then the reports.

Layout (nbgrader's): ``SUBMITTED/<student_id>/<chapter>/<chapter>.ipynb``.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from autograder import report
from autograder.chapter import graded_chapters, load_chapter
from autograder.grader import Grader, SubmissionResult
from autograder.runner import Limits


@dataclass(frozen=True)
class Submission:
    student_id: str
    chapter: str
    path: Path


def find_submissions(submitted: Path, chapters: list[str]) -> list[Submission]:
    """All ``<student>/<chapter>/<chapter>.ipynb`` under ``submitted`` for the given chapters.

    A student folder with the chapter folder but no notebook of that name is still listed
    (it will score zero with a message) — any ``.ipynb`` in it is taken instead.
    """
    found = []
    for student in sorted(p for p in submitted.iterdir() if p.is_dir()):
        for chapter in chapters:
            folder = student / chapter
            if not folder.is_dir():
                continue
            nb = folder / f"{chapter}.ipynb"
            if not nb.is_file():
                others = sorted(folder.glob("*.ipynb"))
                nb = others[0] if others else nb
            found.append(Submission(student.name, chapter, nb))
    return found


def chapters_in(submitted: Path) -> list[str]:
    """Graded chapters that at least one student submitted."""
    present = {c.name for s in submitted.iterdir() if s.is_dir() for c in s.iterdir() if c.is_dir()}
    return [c for c in graded_chapters() if c in present]


def grade_all(submitted: Path, chapters: list[str], out: Path, device: str = "cpu",
              jobs: int | None = None, seed: int | None = None, limits: Limits = Limits(),
              progress: bool = True) -> list[SubmissionResult]:
    """Grade every submission; write the reports into ``out``; return the results."""
    graders = {c: Grader(load_chapter(c), device=device, limits=limits,
                         **({"seed": seed} if seed is not None else {})) for c in chapters}
    subs = find_submissions(submitted, chapters)
    results: list[SubmissionResult] = []
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        futures = [pool.submit(graders[s.chapter].grade, s.path, s.student_id) for s in subs]
        for done, fut in enumerate(as_completed(futures), 1):
            results.append(fut.result())
            if progress:
                _bar(done, len(subs), time.monotonic() - start)
    run = {"device": device, "seed": next(iter(graders.values())).seed if graders else seed,
           "chapters": chapters, "jobs": jobs or os.cpu_count(),
           "limits": limits.__dict__, "seconds": round(time.monotonic() - start, 2)}
    report.write_all(out, results, run)
    return results


def _bar(done: int, total: int, seconds: float) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {seconds:5.1f} s")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def summary_line(results: list[SubmissionResult], seconds: float) -> str:
    """One line for the end of a run: how many, the mean score, how many failed to run."""
    if not results:
        return "no submissions found"
    total = sum(r.score for r in results)
    possible = sum(r.max_score for r in results)
    broken = sum(1 for r in results if r.error)
    return (f"graded {len(results)} submission(s) in {seconds:.1f} s: "
            f"{total / len(results):.2f} points on average of {possible / len(results):.2f}; "
            f"{broken} could not be read")
