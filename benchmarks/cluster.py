"""Benchmark: grade one class locally and on a loopback Dask cluster of one and of two workers.

The class: ``--students-per-chapter`` students per chapter, cycling through the corpus cases
of tests/test_chapter_05.py (and 09 with ``--chapters``), as in benchmarks/grading.py. Each
configuration grades it ``--repeat`` times with ``--force`` through the command line (a
fresh client process each time: its start, the graders, the warm-up of the harnesses and
the reports are all counted; the Dask workers themselves are started once, untimed, as on a
standing cluster). Prints, per configuration, the median wall time, the wall time per
submission, the median time one submission takes on its worker (from its result) and the
start-up (wall time minus the workers' grading time shared out among them); then what
10,000 such submissions would take on 10, 50 and 100 workers, and whether every
configuration gave the same grades.csv.

    .venv/bin/python benchmarks/cluster.py --students-per-chapter 16 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.grading import CHAPTER_CASES, _env, _run, build_class  # noqa: E402
from tests.test_cluster import loopback_cluster  # noqa: E402


def grade_command(submitted: Path, out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "grade", str(submitted), "--chapter", "all",
            "--device", "cpu", "--force", "--out", str(out), *more]


def worker_seconds(out: Path) -> list[float]:
    """How long each submission took where it was graded (its result's own time)."""
    return [json.loads(p.read_text())["result"]["seconds"] for p in (out / ".results").glob("*/*.json")]


def measure(label: str, command: list[str], out: Path, repeat: int, count: int, workers: int) -> tuple[str, float]:
    """Run ``command`` ``repeat`` times and print the medians: wall time, per submission, on
    its worker, and the start-up (the wall time the workers' own grading does not explain).
    Returns the grades.csv it wrote and the median time of a submission on its worker."""
    walls, per_sub, startup = [], [], []
    for _ in range(repeat):
        walls.append(_run(command, ROOT, _env()))
        seconds = worker_seconds(out)
        per_sub.append(statistics.median(seconds))
        startup.append(walls[-1] - sum(seconds) / workers)
    wall, cost = statistics.median(walls), statistics.median(per_sub)
    print(f"{label:30} {wall:7.1f} s  {wall / count:6.2f} s/submission  {cost:6.2f} s on its worker  "
          f"start-up {statistics.median(startup):5.1f} s  (runs: {', '.join(f'{w:.1f}' for w in walls)})")
    return (out / "grades.csv").read_text(), cost


def extrapolate(cost: float, submissions: int = 10_000) -> str:
    """What ``submissions`` take on N single-thread workers at ``cost`` seconds each."""
    return ", ".join(f"{n} workers {submissions * cost / n / 60:.0f} min" for n in (10, 50, 100))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students-per-chapter", type=int, default=16)
    parser.add_argument("--chapters", nargs="+", default=[next(iter(CHAPTER_CASES))],
                        choices=list(CHAPTER_CASES), help="which chapters the class submits")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (the median)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="the local run's harnesses")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes to try")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        root = Path(tmp)
        count = len(build_class(root / "submitted", args.students_per_chapter, args.chapters))
        print(f"class: {count} submissions ({', '.join(args.chapters)}); {os.cpu_count()} cores; "
              f"median of {args.repeat} run(s)")
        runs = [measure(f"local --jobs {args.jobs}", grade_command(root / "submitted", root / "local",
                        "--jobs", str(args.jobs)), root / "local", args.repeat, count, args.jobs)]
        for n in args.workers:
            (root / f"cluster{n}").mkdir()
            with loopback_cluster(root / f"cluster{n}", n) as cluster:
                out = root / f"cluster{n}" / "out"
                runs.append(measure(f"loopback cluster, {n} worker(s)", grade_command(
                    root / "submitted", out, "--cluster", cluster.address), out, args.repeat, count, n))
        cost = statistics.median(c for _, c in runs[1:]) if len(runs) > 1 else runs[0][1]
        print(f"10,000 such submissions at {cost:.2f} s each, plus the start-up: {extrapolate(cost)}")
        same = all(g == runs[0][0] for g, _ in runs)
        print(f"grades.csv identical in every configuration: {'yes' if same else 'NO'}")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
