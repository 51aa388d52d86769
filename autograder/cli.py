"""``python -m autograder``: grade a class, or check one notebook."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder import batch
from autograder.chapter import graded_chapters
from autograder.inline import pick_device
from autograder.runner import Limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="Grade the course's notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade SUBMITTED/<student>/<chapter>/<chapter>.ipynb")
    g.add_argument("submitted", type=Path)
    g.add_argument("--chapter", required=True, help="a chapter slug, or 'all'")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--jobs", type=int, default=None, help="parallel harnesses (default: cores)")
    g.add_argument("--out", type=Path, default=Path("grading-out"))
    g.add_argument("--seed", type=int, default=None, help="draw other inputs than the default")
    g.add_argument("--timeout", type=float, default=Limits.submission_seconds,
                   help="seconds of wall time per submission")
    g.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    c = sub.add_parser("check", help="run a notebook's self-checks and print a table")
    c.add_argument("notebook", type=Path)
    args = parser.parse_args(argv)
    return grade(args) if args.command == "grade" else check(args)


def check(args) -> int:
    from autograder.notebooks import NotebookError
    from autograder.selfcheck_cli import print_table, run_selfchecks
    try:
        rows = run_selfchecks(args.notebook)
    except NotebookError as e:
        print(e, file=sys.stderr)
        return 2
    return 1 if print_table(rows) else 0


def grade(args) -> int:
    if not args.submitted.is_dir():
        print(f"no such folder: {args.submitted}", file=sys.stderr)
        return 2
    known = graded_chapters()
    chapters = batch.chapters_in(args.submitted) if args.chapter == "all" else [args.chapter]
    unknown = [c for c in chapters if c not in known]
    if unknown:
        print(f"unknown chapter {unknown[0]!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    device = pick_device(args.device)
    limits = Limits(submission_seconds=args.timeout, memory_mb=args.memory_mb)
    start = time.monotonic()
    results = batch.grade_all(args.submitted, chapters, args.out, device=device, jobs=args.jobs,
                              seed=args.seed, limits=limits)
    print(batch.summary_line(results, time.monotonic() - start))
    print(f"wrote {args.out}/grades.csv, summary.csv, results.json and feedback/")
    return 0
