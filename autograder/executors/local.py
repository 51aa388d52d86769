"""The local executor: a pool of warm sandboxed harness workers on this machine.

Each worker (runner.Worker) is one sandboxed process that has imported the framework; a
thread per worker takes the next submission, grades it with the chapter's
:class:`~autograder.grader.Grader` on that worker, and hands the result to ``store`` at once
(so an interrupted run keeps what was graded).
"""
from __future__ import annotations

import queue
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable

from autograder.grader import SubmissionResult
from autograder.runner import Worker


def grade_parallel(todo: list, graders: dict, store: Callable, device: str,
                   jobs: int, progress: bool, start: float) -> dict:
    """Grade ``todo`` with ``jobs`` warm workers; store each result as soon as it is done."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        workers = list(pool.map(lambda _: Worker(device, gpu_fraction=0.9 / jobs), range(jobs)))
    free: queue.Queue = queue.Queue()
    for w in workers:
        free.put(w)

    def grade_one(sub) -> SubmissionResult:
        worker = free.get()
        try:
            result = graders[sub.chapter].grade(sub.path, sub.student_id, worker=worker)
        finally:
            free.put(worker)
        store(sub, result)
        return result

    results = {}
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(grade_one, s): s for s in todo}
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress:
                    _bar(done, len(todo), time.monotonic() - start)
    finally:
        for w in workers:
            w.close()
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
