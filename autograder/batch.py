"""Grading a class: every submission of one or more chapters, in parallel, then the reports.

Layout (nbgrader's): ``SUBMITTED/<student_id>/<chapter>/<chapter>.ipynb``. Every folder in
it is accounted for (submissions.py): graded, or listed as not graded with the reason; which
file was graded, its hash and its lateness (lateness.py) go with each result.

Resumable and idempotent: each finished submission's result is written at once, atomically,
to ``OUT/.results/<chapter>/<student>.json`` with a key (the notebook's hash and the
grader's fingerprint). A re-run reuses every result whose key still matches, unless
``force``; an interrupted run loses nothing already graded.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import formats, lateness, sandbox
from autograder.executors import local
from autograder.formats.common import atomic_write
from autograder.chapter import graded_chapters, load_chapter
from autograder.grader import Grader
from autograder.spec import SubmissionResult
from autograder.runner import Limits
from autograder.sanitize import clean_result, is_grader_failure
from autograder.submissions import NotGraded, Submission, Survey, refusal, survey


@dataclass(frozen=True)
class BatchRun:
    """What one run did: the results (in the order of the survey), what it did not grade,
    and how many results it graded now and reused from an earlier run."""
    results: list[SubmissionResult]
    not_graded: tuple[NotGraded, ...]
    graded: int
    reused: int
    seconds: float
    jobs: int
    written: tuple[str, ...] = ()  # the files written under OUT (formats.write_all)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _key(data: bytes, fingerprint: str) -> str:
    return hashlib.sha256(data + fingerprint.encode()).hexdigest()


def _stored(out: Path, sub: Submission) -> Path:
    return out / ".results" / sub.chapter / f"{sub.student_id}.json"


def _load_stored(out: Path, sub: Submission, key: str) -> SubmissionResult | None:
    try:
        data = json.loads(_stored(out, sub).read_text(errors="replace"))
        return clean_result(SubmissionResult.from_json(data["result"])) if data.get("key") == key else None
    except Exception:  # noqa: BLE001  unreadable, of another version, malformed: graded again
        return None


def grade_all(submitted: Path, chapters: list[str], out: Path, **options) -> list[SubmissionResult]:
    """Grade every submission of ``chapters`` under ``submitted`` and write the reports
    (:func:`grade_class` with its options); return the results."""
    return grade_class(submitted, survey(submitted, chapters, graded_chapters()), out, **options).results


def grade_class(submitted: Path, found: Survey, out: Path, device: str = "cpu",
                jobs: int | None = None, seed: int | None = None, limits: Limits = Limits(),
                progress: bool = True, force: bool = False, cluster: str | None = None,
                deadlines: lateness.Deadlines | None = None, roster: dict | None = None,
                workers=None, canvas: dict | None = None) -> BatchRun:
    """Grade the submissions ``found`` under ``submitted`` (reusing unchanged results unless
    ``force``); write the reports, with what was not graded and why.

    Args:
        cluster: grade on this Dask scheduler's workers (its address or scheduler file)
            instead of this machine; raises executors.ExecutorError when it cannot.
        deadlines: due dates, extensions and the late policy (default: nothing is late).
        roster: student id → ``last_name``, ``first_name``, ``email`` (from the gradebook),
            for summary.csv.
        workers: a runner.WorkerPool started before the grader was loaded (local runs).
        canvas: canvas.csv's options, ``assignments`` (chapter → column header) and
            ``before_penalty`` (formats/canvas.py); recorded in results.json.
    """
    jobs = jobs or os.cpu_count() or 1
    chapters = found.chapters
    if progress:
        print(f"loading the grader and the references of {len(chapters)} chapter(s)…", file=sys.stderr, flush=True)
    graders = {c: Grader(load_chapter(c), device=device, limits=limits,
                         **({"seed": seed} if seed is not None else {})) for c in chapters}
    fingerprints = {c: g.fingerprint() for c, g in graders.items()}
    subs = list(found.submissions)
    data = {s: _read(s.path) for s in subs}
    keys = {s: _key(data[s], fingerprints[s.chapter]) for s in subs}
    results = {s: r for s in subs if not force and (r := _load_stored(out, s, keys[s]))}
    todo = [s for s in subs if s not in results]
    start = time.monotonic()
    if todo:
        def store(sub: Submission, result: SubmissionResult) -> None:
            if not is_grader_failure(result):  # a fault of the grader's is not kept: graded again
                atomic_write(_stored(out, sub), json.dumps({"key": keys[sub],
                                                            "result": clean_result(result).to_json()}))
        pool = {"workers": workers} if workers is not None and not cluster else {}
        results.update(executor(cluster)(todo, graders, store, device, min(jobs, len(todo)), progress,
                                         start, **pool))
    elif workers is not None:  # started early, before it was known that nothing had changed
        workers.close()
    deadlines = deadlines or lateness.Deadlines({}, {})
    ordered = [stamped(results[s], s, submitted, hashlib.sha256(data[s]).hexdigest(), deadlines) for s in subs]
    seconds = round(time.monotonic() - start, 2)
    run = {"device": device, "seed": next(iter(graders.values())).seed if graders else seed,
           "chapters": chapters, "jobs": jobs, "limits": limits.__dict__,
           "sandbox": sandbox.describe(), "graded": len(todo), "reused": len(subs) - len(todo),
           "not_graded": len(found.not_graded), "seconds": seconds,
           "due": {c: lateness.iso(d) for c, d in deadlines.due.items() if c in chapters},
           "late_policy": dataclasses.asdict(deadlines.policy), **({"cluster": cluster} if cluster else {}),
           # seconds one submission graded now may take, per chapter (--timeout, else from the
           # reference's time; on a cluster, each worker's own)
           **({} if cluster else {"budget_seconds": {c: graders[c].budget() for c in sorted({s.chapter for s in todo})}}),
           **({"canvas": canvas} if canvas else {})}
    written = formats.write_all(out, ordered, run, not_graded=found.not_graded, roster=roster)
    return BatchRun(ordered, found.not_graded, len(todo), len(subs) - len(todo), seconds, jobs,
                    tuple(written))


def stamped(result: SubmissionResult, sub: Submission, submitted: Path, sha256: str,
            deadlines: lateness.Deadlines) -> SubmissionResult:
    """The result with what the class folder says about it: the file graded, its hash, the
    note on how it was picked, and when it was submitted, how late, and the penalty."""
    stamp = sub.path.parent / lateness.TIMESTAMP
    refused = refusal(stamp) if os.path.lexists(stamp) else None  # a FIFO would block, a link lead astray
    when, problem = ((None, f"{lateness.TIMESTAMP} not read: {refused}; counted as on time") if refused
                     else lateness.read_timestamp(sub.path.parent))
    late = deadlines.seconds_late(sub.chapter, sub.student_id, when)
    return clean_result(dataclasses.replace(
        result, notebook=sub.path.relative_to(submitted).as_posix(), notebook_sha256=sha256,
        note="; ".join(n for n in (sub.note, problem) if n),
        duedate=lateness.iso(deadlines.due.get(sub.chapter)), timestamp=lateness.iso(when),
        seconds_late=late, late_penalty=deadlines.policy.penalty(result.score, late)))


def executor(cluster: str | None):
    """Where the batch runs: this machine's pool, or a Dask cluster (Dask imported only then)."""
    if not cluster:
        return local.grade_parallel
    from autograder.executors import dask
    return functools.partial(dask.grade_parallel, cluster=cluster)


def wrote_line(out: Path, run: BatchRun) -> str:
    """``wrote OUT/: grades.csv, …, feedback/ (3 page(s))``: every file the run wrote."""
    names = [f"{n} ({len(run.results)} page(s))" if n == "feedback/" else n for n in run.written]
    return f"wrote {out}/: {', '.join(names)}"


def summary_lines(run: BatchRun) -> list[str]:
    """The end of a run: how many graded and reused, then per chapter the mean score (out
    of that chapter's maximum), how many could not be read, were late or were flagged."""
    lines = [f"{run.graded} graded, {run.reused} reused in {run.seconds:.1f} s "
             f"({run.jobs} worker(s)); {len(run.not_graded)} folder(s) not graded"]
    for chapter in dict.fromkeys(r.chapter for r in run.results):
        lines.append("  " + chapter_line(chapter, [r for r in run.results if r.chapter == chapter]))
    return lines


def chapter_line(chapter: str, results: list[SubmissionResult]) -> str:
    """``05_x: 9 submission(s), mean 12.33 of 17; 1 could not be read; 2 late (…)``."""
    n = len(results)
    mean = sum(r.score for r in results) / n
    parts = [f"{chapter}: {n} submission(s), mean {mean:.2f} of {results[0].max_score:g}"]
    late = [r for r in results if r.seconds_late > 0]
    if late:
        final = sum(r.final_score for r in results) / n
        parts.append(f"{len(late)} late (mean after late penalties {final:.2f})")
    for count, what in ((sum(1 for r in results if r.error), "could not be read"),
                        (sum(1 for r in results if r.note), "flagged (see the note in results.json)")):
        if count:
            parts.append(f"{count} {what}")
    return "; ".join(parts)
