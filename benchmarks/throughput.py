"""Benchmark: the batch grader's class throughput against another checkout of the course.

Each checkout builds the same kind of class from its own corpus (``benchmarks/grading.py``'s
``build_class``: the solution, the stub and the realistic wrong submissions, in turn) and grades
it with its own grader, ``python -m autograder grade --chapter all --jobs N``; the runs
alternate between the two checkouts, and each reports the median of ``--repeat`` runs and the
ratio of the medians. Use it to see what a change costs: check out the baseline with
``git worktree add /tmp/base <commit>`` and pass ``--baseline /tmp/base``.

Usage: ``.venv/bin/python benchmarks/throughput.py --baseline /tmp/base --students-per-chapter 20``
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("05_linear_regression_scratch", "09_softmax_regression_training")
BUILD = ("import sys; from pathlib import Path; sys.path.insert(0, '.'); "
         "from benchmarks.grading import build_class; "
         "build_class(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])")


def _env(tree: Path) -> dict:
    import os
    return {**os.environ, "PYTHONPATH": str(tree), "COURSE_ROOT": str(tree)}


def build(tree: Path, folder: Path, students: int, chapters=CHAPTERS) -> None:
    """The class, written by ``tree``'s own corpus."""
    subprocess.run([sys.executable, "-c", BUILD, str(folder), str(students), *chapters], cwd=tree,
                   env=_env(tree), check=True)


def grade(tree: Path, folder: Path, out: Path, jobs: int) -> float:
    """Wall seconds for ``tree``'s grader to grade ``folder`` from nothing stored."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(folder), "--chapter", "all", "--device", "cpu",
           "--jobs", str(jobs), "--out", str(out), "--force"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{tree}: grading failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout (a git worktree)")
    parser.add_argument("--students-per-chapter", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chapters", nargs="+", default=list(CHAPTERS), choices=list(CHAPTERS))
    args = parser.parse_args(argv)
    trees = {"this": ROOT, "baseline": args.baseline.resolve()}
    times: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        for name, tree in trees.items():
            build(tree, Path(tmp) / name / "submitted", args.students_per_chapter, args.chapters)
        for run in range(args.repeat):
            for name, tree in trees.items():
                seconds = grade(tree, Path(tmp) / name / "submitted", Path(tmp) / name / f"out{run}", args.jobs)
                times[name].append(seconds)
                print(f"run {run + 1}: {name} {seconds:.1f} s", flush=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    n = len(args.chapters) * args.students_per_chapter
    for name in trees:
        print(f"{name}: median {median[name]:.1f} s for {n} submissions ({', '.join(f'{t:.1f}' for t in times[name])})")
    print(f"ratio this/baseline: {median['this'] / median['baseline']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
