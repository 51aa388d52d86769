"""Grading a class: every submission of one or more chapters, in parallel, then the reports.

Layout (nbgrader's): ``SUBMITTED/<student_id>/<chapter>/<chapter>.ipynb``.

Resumable and idempotent: each finished submission's result is written at once, atomically,
to ``OUT/.results/<chapter>/<student>.json`` with a key (the notebook's hash and the
grader's fingerprint). A re-run reuses every result whose key still matches, unless
``force``; an interrupted run loses nothing already graded.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import formats, sandbox
from autograder.executors import local
from autograder.formats.common import atomic_write
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


def _key(sub: Submission, fingerprint: str) -> str:
    try:
        data = sub.path.read_bytes()
    except OSError:
        data = b""
    return hashlib.sha256(data + fingerprint.encode()).hexdigest()


def _stored(out: Path, sub: Submission) -> Path:
    return out / ".results" / sub.chapter / f"{sub.student_id}.json"


def _load_stored(out: Path, sub: Submission, key: str) -> SubmissionResult | None:
    try:
        data = json.loads(_stored(out, sub).read_text())
        return SubmissionResult.from_json(data["result"]) if data.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def grade_all(submitted: Path, chapters: list[str], out: Path, device: str = "cpu",
              jobs: int | None = None, seed: int | None = None, limits: Limits = Limits(),
              progress: bool = True, force: bool = False,
              cluster: str | None = None) -> list[SubmissionResult]:
    """Grade every submission (reusing unchanged results unless ``force``); write the reports.

    ``cluster``: grade on this Dask scheduler's workers (its address or scheduler file)
    instead of this machine; raises executors.ExecutorError when it cannot.
    """
    jobs = jobs or os.cpu_count() or 1
    graders = {c: Grader(load_chapter(c), device=device, limits=limits,
                         **({"seed": seed} if seed is not None else {})) for c in chapters}
    fingerprints = {c: g.fingerprint() for c, g in graders.items()}
    subs = find_submissions(submitted, chapters)
    keys = {s: _key(s, fingerprints[s.chapter]) for s in subs}
    results = {s: r for s in subs if not force and (r := _load_stored(out, s, keys[s]))}
    todo = [s for s in subs if s not in results]
    start = time.monotonic()
    if todo:
        def store(sub: Submission, result: SubmissionResult) -> None:
            atomic_write(_stored(out, sub), json.dumps({"key": keys[sub], "result": result.to_json()}))
        results.update(executor(cluster)(todo, graders, store, device, min(jobs, len(todo)), progress, start))
    run = {"device": device, "seed": next(iter(graders.values())).seed if graders else seed,
           "chapters": chapters, "jobs": jobs, "limits": limits.__dict__,
           "sandbox": sandbox.describe(), "graded": len(todo), "reused": len(subs) - len(todo),
           "seconds": round(time.monotonic() - start, 2), **({"cluster": cluster} if cluster else {})}
    ordered = [results[s] for s in subs]
    formats.write_all(out, ordered, run)
    return ordered


def executor(cluster: str | None):
    """Where the batch runs: this machine's pool, or a Dask cluster (Dask imported only then)."""
    if not cluster:
        return local.grade_parallel
    from autograder.executors import dask
    return functools.partial(dask.grade_parallel, cluster=cluster)


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
