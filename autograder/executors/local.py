"""The local executor: a pool of warm sandboxed harness workers on this machine.

Each worker (runner.Worker) is one sandboxed process that has imported the framework; a
thread per worker takes the next submission, grades it with the chapter's
:class:`~autograder.grader.Grader` on that worker, and hands the result to ``store`` at once
(so an interrupted run keeps what was graded).

Progress goes to stderr as it happens: a line when the workers start and when they are
ready, then on a terminal a bar with an estimate of the time left, elsewhere (a file, a CI
log) one line per finished submission.
"""
from __future__ import annotations

import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable

import torch

from autograder.grader import SubmissionResult
from autograder.runner import WorkerPool, preload_for
from autograder.sanitize import grade_safely


def grade_parallel(todo: list, graders: dict, store: Callable, device: str,
                   jobs: int, progress: bool, start: float, workers: WorkerPool | None = None) -> dict:
    """Grade ``todo`` with ``jobs`` warm workers (from ``workers``, started earlier, when
    given); store each result as soon as it is done."""
    if progress:
        _say(f"starting {jobs} sandboxed worker(s) for {len(todo)} submission(s)…")
    pool = workers or WorkerPool(jobs, device, preload_for({s.chapter for s in todo}))
    for chapter in sorted({s.chapter for s in todo}):  # while the workers start
        graders[chapter].warm_up()
    workers = pool.take(jobs, device)
    if progress:
        _say(f"workers ready after {time.monotonic() - start:.1f} s; grading")
    free: queue.Queue = queue.Queue()
    for w in workers:
        free.put(w)

    running: dict = {}  # submission → when its grading started

    def grade_one(sub) -> SubmissionResult:
        worker = free.get()
        running[sub] = time.monotonic()
        try:
            result = grade_safely(graders[sub.chapter], sub.path, sub.student_id, worker=worker)
        finally:
            running.pop(sub, None)
            free.put(worker)
        store(sub, result)
        return result

    results = {}
    chapters = sorted({s.chapter for s in todo})
    # The jobs keep the cores busy. What the grader computes meanwhile (comparisons, the
    # reference's answers to stand-ins) is small; a second intra-op thread only spins against
    # the jobs (a class of 80 on 2 cores: 1.6 s of 28 s, and 2 s of the stand-ins' time).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(grade_one, s): s for s in todo}
            for done, fut in enumerate(as_completed(futures), 1):
                sub = futures[fut]
                results[sub] = fut.result()
                if progress:
                    left = time_left(done, len(todo), time.monotonic() - start, dict(running),
                                     [r.seconds for r in results.values()],
                                     {c: graders[c].budget() for c in chapters})
                    _bar(done, len(todo), time.monotonic() - start, finished_text(sub, results[sub]), left)
    finally:
        torch.set_num_threads(threads)
        for w in workers:
            w.close()
    return results


def finished_text(sub, result: SubmissionResult) -> str:
    """``alice/05_linear_regression_scratch: 12/17`` (and why, when it could not be read)."""
    why = " — could not be graded: " + result.error.split("\n")[0][:120] if result.error else ""
    return f"{sub.student_id}/{sub.chapter}: {result.score:g}/{result.max_score:g}{why}"


def time_left(done: int, total: int, seconds: float, running: dict, durations: list[float],
              budgets: dict[str, float]) -> str:
    """The time left, honestly: the pace so far for what has not finished, but never less
    than what a submission still running far longer than usual may take until its budget
    stops it (the one runaway that the pace knows nothing of), which is then named.

    Args:
        running: submission → ``time.monotonic()`` when its grading started.
        durations: seconds each finished submission took.
        budgets: chapter → a submission's time budget (grader.Grader.budget).
    """
    left = seconds / max(done, 1) * (total - done)
    usual = sorted(durations)[len(durations) // 2] if durations else 0.0
    now = time.monotonic()
    slow = [(now - began, sub) for sub, began in running.items() if now - began > max(3 * usual, 5.0)]
    if not slow:
        return f"about {left:.0f} s left"
    ran, sub = max(slow, key=lambda pair: pair[0])
    budget = budgets.get(sub.chapter, ran)
    return (f"about {max(left, budget - ran):.0f} s left at most: {sub.student_id}/{sub.chapter} has run "
            f"{ran:.0f} s (usual {usual:.1f} s) and is stopped at its budget, {budget:.0f} s")


def _bar(done: int, total: int, seconds: float, what: str = "", left: str | None = None) -> None:
    """Progress after ``done`` of ``total``: on a terminal a bar with the time left, else a line."""
    left = left or f"about {seconds / max(done, 1) * (total - done):.0f} s left"
    if not sys.stderr.isatty():
        sys.stderr.write(f"[{done}/{total}] {what or 'done'} ({seconds:.1f} s, {left})\n")
        sys.stderr.flush()
        return
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {seconds:5.1f} s, "
                     f"{left} ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
