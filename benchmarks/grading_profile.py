"""Where grading time goes: one submission of each chapter, and a class.

For one correct submission of each chapter, the wall time of grading split into:

* start — a new process importing PyTorch and the grader (``python -c "import ..."``);
* worker start — starting a sandboxed harness worker for the chapter (bubblewrap, the
  framework it needs imported once, its shared data read; runner.preload_for);
* read — reading the notebook and building the program the harness runs;
* references — the reference answers: *cold* computed from solutions/, *warm* read back from
  the reference cache (autograder/references.py);
* harness — the job in the sandbox: *cells* (the student's cells), *probes* (the checks
  calling the student's code), *overhead* (forking, files, waiting between events);
* stand-ins — a second phase, when a failed function stands in (none for a correct one);
* compare — comparing with the references, messages;
* write — grades.csv, summary.csv, results.json, feedback and the class report.

"warm" is what each submission of a class costs once a worker and the references are there;
its ratio to the student code's own time (cells + probes) is the grader's overhead. Then a
class (``--class-size`` students of chapters 05 and 09, right and wrong, as
benchmarks/grading.py makes it) graded by the batch grader with ``--jobs``: the same stages
added up over its submissions, and its wall time.

    .venv/bin/python benchmarks/grading_profile.py [--chapters 05_linear_regression_scratch ...]
        [--repeat 3] [--class-size 20] [--jobs 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import batch, formats, references  # noqa: E402
from autograder.chapter import graded_chapters, load_chapter  # noqa: E402
from autograder.grader import Grader  # noqa: E402
from autograder.runner import Worker, preload_for  # noqa: E402
from course.timing import median_time  # noqa: E402
from tests.corpus import SOLUTION, write_case  # noqa: E402

STAGES = ("read", "references", "cells", "probes", "overhead", "stand-ins", "compare", "write")


def median_seconds(run, repeat: int) -> float:
    return median_time(run, repeat=repeat, warmup=0)


def start_seconds(repeat: int) -> float:
    """A fresh Python process importing PyTorch and the grader."""
    cmd = [sys.executable, "-c", "import torch, autograder.grader, autograder.batch"]
    return median_seconds(lambda: subprocess.run(cmd, check=True, cwd=ROOT), repeat)


def worker_seconds(chapter: str, repeat: int) -> float:
    """Starting a sandboxed worker for ``chapter`` (what preload_for gives it) until it is ready."""
    return median_seconds(lambda: Worker("cpu", preload=preload_for([chapter])).close(), repeat)


def stages(result, write: float) -> dict[str, float]:
    """A graded submission's timings as the table's stages."""
    t = result.timings
    harness = t.get("harness", 0.0)
    cells, probes = t.get("harness:cells", 0.0), t.get("harness:probes", 0.0)
    return {"read": t.get("read", 0.0), "references": t.get("reference", 0.0), "cells": cells,
            "probes": probes, "overhead": harness - cells - probes,
            "stand-ins": t.get("standins", 0.0), "compare": t.get("compare", 0.0), "write": write}


def chapter_profile(chapter: str, worker: Worker, repeat: int, work: Path) -> dict:
    """Cold (references computed) and warm (median of ``repeat``) stages of one correct submission."""
    path = write_case(chapter, SOLUTION, work / "submitted")
    cache = work / "refs" / chapter
    original = references.folder
    references.folder = lambda ch, key: cache / key  # a cache of its own: the first run is cold
    try:
        cold = Grader(load_chapter(chapter)).grade(path, "cold", worker=worker)
        grader = Grader(load_chapter(chapter))
        runs = [grader.grade(path, f"warm{i}", worker=worker) for i in range(repeat)]
    finally:
        references.folder = original
    write = median_seconds(lambda: formats.write_all(work / "out", [runs[0]], {}), repeat)
    warm = {stage: statistics.median(stages(r, write)[stage] for r in runs) for stage in STAGES}
    return {"cold_references": cold.timings.get("reference", 0.0), "warm": warm,
            "score": runs[0].score, "max": runs[0].max_score}


def class_profile(size: int, jobs: int, work: Path) -> dict:
    """A class graded by the batch grader: wall time and the stages added up."""
    from benchmarks.grading import build_class
    chapters = ["05_linear_regression_scratch", "09_softmax_regression_training"]
    build_class(work / "class", size, chapters)
    start = time.perf_counter()
    results = batch.grade_all(work / "class", chapters, work / "class-out", jobs=jobs, progress=False)
    wall = time.perf_counter() - start
    write = median_seconds(lambda: formats.write_all(work / "class-out2", results, {}), 1)
    total = {stage: sum(stages(r, 0.0)[stage] for r in results) for stage in STAGES}
    total["write"] = write
    return {"wall": wall, "submissions": len(results), "stages": total}


def print_table(start: float, rows: dict[str, dict]) -> None:
    print(f"start (a new process importing torch and the grader): {start:.2f} s\n")
    head = ["chapter", "worker start", "refs cold", *STAGES, "warm total", "student code", "ratio"]
    print(" | ".join(head))
    for chapter, row in rows.items():
        warm = row["warm"]
        total = sum(warm.values())
        student = warm["cells"] + warm["probes"]
        cells = [chapter[:2], f"{row['worker_start']:.2f}", f"{row['cold_references']:.2f}", *(f"{warm[s]:.3f}" for s in STAGES),
                 f"{total:.2f}", f"{student:.2f}", f"{total / student:.2f}x" if student else "-"]
        print(" | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapters", nargs="*", default=graded_chapters())
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--class-size", type=int, default=20, help="students per chapter (0: no class)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        work = Path(tmp)
        start = start_seconds(args.repeat)
        rows = {}
        for ch in args.chapters:  # a worker of the chapter's own, as a grading run starts it
            worker_start = worker_seconds(ch, args.repeat)
            with Worker("cpu", preload=preload_for([ch])) as worker:
                rows[ch] = {"worker_start": worker_start, **chapter_profile(ch, worker, args.repeat, work / ch)}
        print_table(start, rows)
        if args.class_size:
            klass = class_profile(args.class_size, args.jobs, work)
            per = klass["wall"] / klass["submissions"]
            print(f"\nclass: {klass['submissions']} submissions (chapters 05 and 09) with --jobs {args.jobs}: "
                  f"{klass['wall']:.1f} s wall, {per:.2f} s per submission")
            print("stages added up over the class: " + ", ".join(
                f"{s} {v:.1f} s" for s, v in klass["stages"].items()))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
