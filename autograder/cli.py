"""``python -m autograder``: grade a class, check one notebook, or write a Gradescope bundle."""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

from autograder import batch
from autograder.chapter import graded_chapters
from autograder.executors import ExecutorError
from autograder.inline import pick_device
from autograder.runner import Limits

DEFAULT_DB = "default"  # --gradebook with no URL: the course's own gradebook


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
    g.add_argument("--gradebook", nargs="?", const=DEFAULT_DB, default=None, metavar="DB_URL",
                   help="also write the scores into nbgrader's gradebook (default: the course's "
                        "gradebook.db from nbgrader_config.py), so formgrader shows them")
    g.add_argument("--force", action="store_true",
                   help="re-grade even if the notebook and the grader are unchanged")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="tcp://HOST:PORT",
                       help="grade on the workers of this Dask scheduler instead of this machine")
    where.add_argument("--scheduler-file", type=Path, metavar="FILE",
                       help="the same, for the scheduler that wrote FILE (dask scheduler --scheduler-file)")
    c = sub.add_parser("check", help="run a notebook's self-checks and print a table")
    c.add_argument("notebook", type=Path)
    s = sub.add_parser("gradescope", help="write a chapter's Gradescope autograder bundle (a zip)")
    s.add_argument("chapter", help="a chapter slug")
    s.add_argument("--out", type=Path, default=Path("gradescope"), help="folder for CHAPTER_gradescope.zip")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--seed", type=int, default=None, help="draw other inputs than the default")
    s.add_argument("--timeout", type=float, default=None,
                   help="seconds for the harness (default: leaves room in Gradescope's 10 minutes)")
    s.add_argument("--memory-mb", type=int, default=None,
                   help="memory of the harness; Gradescope's container needs it plus the grader's")
    s.add_argument("--visibility", default="visible",
                   help="when students see the tests: visible, after_due_date, after_published, hidden")
    args = parser.parse_args(argv)
    return {"grade": grade, "check": check, "gradescope": gradescope}[args.command](args)


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
    if args.scheduler_file and not args.scheduler_file.is_file():
        print(f"no such scheduler file: {args.scheduler_file}", file=sys.stderr)
        return 2
    # on a cluster, cuda names the workers' GPUs (the --resources GPU=1 workers), not this machine's
    device = "cuda" if _cluster(args) and args.device == "cuda" else pick_device(args.device)
    limits = Limits(submission_seconds=args.timeout, memory_mb=args.memory_mb)
    start = time.monotonic()
    try:
        results = batch.grade_all(args.submitted, chapters, args.out, device=device, jobs=args.jobs,
                                  seed=args.seed, limits=limits, **_force(args.force), **_cluster(args))
    except ExecutorError as e:
        print(e, file=sys.stderr)
        return 4
    print(batch.summary_line(results, time.monotonic() - start))
    print(f"wrote {args.out}/grades.csv, summary.csv, results.json, class_report.html and feedback/")
    return write_gradebook(args.gradebook, results) if args.gradebook else 0


def _force(force: bool) -> dict:
    """``force=`` for ``batch.grade_all`` when it takes it (re-grading unchanged notebooks)."""
    if "force" in inspect.signature(batch.grade_all).parameters:
        return {"force": force}
    if force:
        print("note: this grader re-grades every notebook anyway; --force changes nothing",
              file=sys.stderr)
    return {}


def _cluster(args) -> dict:
    """``cluster=`` for ``batch.grade_all``: the Dask scheduler's address or file, if given."""
    where = args.cluster or args.scheduler_file
    return {"cluster": str(where)} if where else {}


def gradescope(args) -> int:
    """Write the chapter's Gradescope bundle; 0, or 2 for an unknown chapter or setting."""
    from autograder import paths
    checks = Path(__file__).resolve().parent / "checks"
    known = [c for c in paths.chapters() if (checks / f"ch{c}.py").is_file()]
    if args.chapter not in known:
        print(f"unknown chapter {args.chapter!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    from autograder.executors.gradescope import build_bundle
    limits = {k: v for k, v in (("submission_seconds", args.timeout), ("memory_mb", args.memory_mb))
              if v is not None}
    try:
        bundle = build_bundle(args.chapter, args.out, device=args.device, seed=args.seed,
                              visibility=args.visibility, limits=limits)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(f"wrote {bundle}: upload it on the assignment's Configure Autograder page")
    return 0


def write_gradebook(url: str, results: list) -> int:
    """Write the scores into nbgrader's gradebook; 0, or 3 when it cannot be written."""
    from autograder.formats import gradebook
    db_url = gradebook.default_db_url() if url == DEFAULT_DB else gradebook.as_db_url(url)
    try:
        count = gradebook.write_gradebook(results, db_url)
    except gradebook.GradebookError as e:
        print(e, file=sys.stderr)
        return 3
    print(f"wrote {count} submission(s) into nbgrader's gradebook {db_url}")
    return 0
