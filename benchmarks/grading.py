"""Benchmark: grade one generated class with ``nbgrader autograde`` and with the batch grader.

The class: ``--students-per-chapter`` students, each submitting chapters 05 and 09, cycling
through the corpus cases of tests/test_chapter_05.py and tests/test_chapter_09.py (the
solution, the stub and the realistic wrong submissions). Files nbgrader's path cannot grade
at all (not JSON, a kernel that exits, a deleted cell) are left out: they measure failure
handling, not grading speed. Prints both wall times, their ratio, and whether every score
agrees (per student and chapter totals).

    .venv/bin/python benchmarks/grading.py --students-per-chapter 40 --jobs 8

nbgrader runs with the real settings unless ``--nbgrader-fast`` sets ``COURSE_FAST=1``,
which shortens the narrative cells (the chapter's own demonstrations) only; the hidden tests
grade with the checks' own inputs either way, and the agreement line shows it.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import test_chapter_05 as ch05, test_chapter_09 as ch09  # noqa: E402
from tests.corpus import write_case, write_nbgrader_course  # noqa: E402

CHAPTER_CASES = {ch05.CHAPTER: ch05.CASES, ch09.CHAPTER: ch09.CASES}
NOT_GRADABLE_BY_NBGRADER = {"not_json", "exits_while_loading", "sgd_cell_deleted"}


def build_class(submitted: Path, students: int, chapters: list[str]) -> list[tuple[str, str]]:
    """Write ``students`` submissions per chapter; return the (student, chapter) pairs."""
    pairs = []
    for chapter in chapters:
        cases = CHAPTER_CASES[chapter]
        usable = [c for c in cases if c.name not in NOT_GRADABLE_BY_NBGRADER]
        for i in range(students):
            student = f"s{i:03d}"
            write_case(chapter, dataclasses.replace(usable[i % len(usable)], name=student), submitted)
            pairs.append((student, chapter))
    return pairs


def _env(fast: bool = False) -> dict:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("COURSE_FAST", None)
    return {**env, "COURSE_FAST": "1"} if fast else env


def _run(cmd: list[str], cwd: Path, env: dict) -> float:
    """Run a command; return its wall time; stop with its output if it fails."""
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.monotonic() - start


def nbgrader_scores(root: Path, fast: bool, chapters: list[str]) -> tuple[float, dict]:
    """Autograde every chapter with nbgrader in a course folder of its own; (seconds, scores)."""
    write_nbgrader_course(root)
    exe = str(Path(sys.executable).with_name("nbgrader"))
    for chapter in chapters:  # the release step, not timed
        _run([exe, "generate_assignment", chapter, "--force", "--log-level=WARN"], root, _env())
    seconds = sum(_run([exe, "autograde", chapter, "--create", "--force", "--log-level=WARN"],
                       root, _env(fast)) for chapter in chapters)
    from autograder.formats.gradebook import open_gradebook
    with open_gradebook(f"sqlite:///{root}/gradebook.db") as gb:
        scores = {(s.student_id, s.assignment.name): s.score
                  for chapter in chapters for s in gb.find_assignment(chapter).submissions}
    return seconds, scores


def batch_scores(root: Path, jobs: int | None) -> tuple[float, dict]:
    """Grade with ``python -m autograder grade --chapter all``; (seconds, scores)."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(root / "submitted"), "--chapter", "all",
           "--device", "cpu", "--out", str(root / "batch-out"), "--force"]
    seconds = _run(cmd + (["--jobs", str(jobs)] if jobs else []), ROOT, _env())
    with (root / "batch-out" / "summary.csv").open() as f:
        return seconds, {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(f)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students-per-chapter", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=None, help="batch grader's parallel harnesses")
    parser.add_argument("--nbgrader-fast", action="store_true",
                        help="COURSE_FAST=1 for nbgrader's run (narrative cells only)")
    parser.add_argument("--keep", type=Path, default=None, help="build the class here and keep it")
    parser.add_argument("--chapters", nargs="+", default=list(CHAPTER_CASES), choices=list(CHAPTER_CASES),
                        help="which chapters the class submits (default: both)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        pairs = build_class(root / "submitted", args.students_per_chapter, args.chapters)
        print(f"class: {len(pairs)} submissions ({args.students_per_chapter} per chapter: "
              f"{', '.join(args.chapters)}); {os.cpu_count()} cores")
        ours_s, ours = batch_scores(root, args.jobs)
        print(f"{'autograder grade --jobs ' + str(args.jobs or os.cpu_count()):34} {ours_s:7.1f} s")
        theirs_s, theirs = nbgrader_scores(root, args.nbgrader_fast, args.chapters)
        label = "nbgrader autograde" + (" (COURSE_FAST=1)" if args.nbgrader_fast else "")
        print(f"{label:34} {theirs_s:7.1f} s")
        print(f"ratio nbgrader / autograder: {theirs_s / ours_s:.2f}x")
        return report_agreement(pairs, ours, theirs)


def report_agreement(pairs: list[tuple[str, str]], ours: dict, theirs: dict) -> int:
    """Print whether every (student, chapter) total agrees; 0 if so, 1 if not."""
    differ = [(p, ours.get(p), theirs.get(p)) for p in pairs
              if ours.get(p) is None or theirs.get(p) is None or abs(ours[p] - theirs[p]) > 1e-6]
    print(f"scores agree: {len(pairs) - len(differ)}/{len(pairs)} (student and chapter totals)")
    for (student, chapter), a, b in differ[:10]:
        print(f"  {student} {chapter}: autograder {a}, nbgrader {b}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
