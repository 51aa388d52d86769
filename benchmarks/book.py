"""How long the book takes to build: clean, with nothing changed, and after editing one chapter.

    .venv/bin/python benchmarks/book.py [--chapter SLUG] [--keep]

Works on a copy of the course in a temporary folder (the checkout's chapters/, _build/ and
release-cache/ are left alone), with this checkout's .venv:

1. clean: ``python -m course.release all --no-cache`` (executes every solutions notebook)
   then ``jupyter-book build`` with no ``_build/``;
2. no change: ``./run.sh book`` (release with its cache, then the book);
3. one chapter edited (a space added to a markdown cell of ``--chapter``): ``./run.sh book``.

Each step prints its time and which chapters the release executed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "_build", "release-cache", "__pycache__", ".pytest_cache",
                              "*.egg-info", ".ipynb_checkpoints", "submitted", "autograded", "feedback",
                              "grading-out", "gradebook.db")


def copy_course(dest: Path) -> Path:
    """Copy the course's files into ``dest/course`` with a link to this checkout's .venv."""
    copy = dest / "course"
    shutil.copytree(ROOT, copy, ignore=SKIP, symlinks=True)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Run ``cmd`` in the copy (its own ``course`` package first); return seconds and output."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def executed(output: str) -> list[str]:
    """The chapters a release's output says it executed."""
    return re.findall(r"^(\S+): executed", output, re.M)


def edit_chapter(copy: Path, chapter: str) -> None:
    """Add a space to the first markdown cell of the chapter's solutions notebook."""
    nb = copy / "solutions" / chapter / f"{chapter}.ipynb"
    text = nb.read_text()
    marker = '"cell_type": "markdown",'
    if marker not in text:
        sys.exit(f"{nb}: no markdown cell to edit")
    nb.write_text(re.sub(r'("source": \[\n\s*")', r"\1 ", text, count=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapter", default="05_linear_regression_scratch", help="the chapter to edit in step 3")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print where it is")
    args = parser.parse_args(argv)
    py, book = str(ROOT / ".venv" / "bin" / "python"), str(ROOT / ".venv" / "bin" / "jupyter-book")
    tmp = Path(tempfile.mkdtemp(prefix="bench-book-"))
    try:
        copy = copy_course(tmp)
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; a copy of the course in {copy}")
        rows = []
        t_release, out = run([py, "-m", "course.release", "all", "--no-cache"], copy)
        print(out.strip() and "\n".join(ln for ln in out.splitlines() if ": executed" in ln))
        t_build, _ = run([book, "build", ".", "-W", "--keep-going"], copy)
        rows.append(("clean: release all --no-cache + book", t_release + t_build, executed(out),
                     f"release {t_release:.0f} s + book {t_build:.0f} s"))
        seconds, out = run(["./run.sh", "book"], copy)
        rows.append(("no change: ./run.sh book", seconds, executed(out), ""))
        edit_chapter(copy, args.chapter)
        seconds, out = run(["./run.sh", "book"], copy)
        rows.append((f"{args.chapter} edited: ./run.sh book", seconds, executed(out), ""))
        print(f"\n{'step':52s} {'seconds':>8s}  executed")
        for name, seconds, chapters, note in rows:
            print(f"{name:52s} {seconds:8.1f}  {', '.join(chapters) or 'none'} {note}")
        clean, same = rows[0][1], rows[1][1]
        print(f"goals: clean build under 300 s: {'met' if clean < 300 else 'NOT met'}; "
              f"no-change rebuild under 20 s: {'met' if same < 20 else 'NOT met'}; "
              f"an edit executes only that chapter: {'met' if rows[2][2] == [args.chapter] else 'NOT met'}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
