"""Benchmark: each chapter's Gradescope bundle, grading one correct submission, against
Gradescope's defaults (768 MB for the whole container, 10 minutes, half a virtual CPU).

For each chapter: build the bundle, unzip it into a throw-away ``/autograder``-shaped tree
with the solved notebook (the release with every solution cell filled in), run its
``run_autograder`` as Gradescope would (with this venv's python3), and sample the memory of
the whole process tree — the grader, the sandboxed worker and its job — every
``--interval`` seconds. Prints per chapter the wall time, the score, and three peaks (MB):

* RSS: the processes' resident memory added up (counts the shared libraries once per
  process: an upper bound);
* PSS: each shared page divided among the processes sharing it — what a container's
  memory limit comes closest to charging (its page cache aside);
* anon: the anonymous part of PSS, which no memory pressure can take back.

    .venv/bin/python benchmarks/gradescope.py [--chapters 05_linear_regression_scratch ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.chapter import graded_chapters  # noqa: E402
from autograder.executors.gradescope import build_bundle  # noqa: E402
from tests.corpus import solved_notebook  # noqa: E402
from tests.test_gradescope import autograder_env, autograder_tree  # noqa: E402

GRADESCOPE_MB, GRADESCOPE_SECONDS = 768, 600  # its defaults (docs/troubleshooting.md)


def tree_pids(root_pid: int) -> list[int]:
    """``root_pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def memory_mb(pids: list[int]) -> dict[str, float]:
    """RSS, PSS and anonymous PSS of ``pids`` added up, in MB (smaps_rollup)."""
    total = {"Rss": 0, "Pss": 0, "Pss_Anon": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in total:
                        total[key] += int(value.split()[0])
        except (OSError, ValueError):
            continue
    return {"rss": total["Rss"] / 1024, "pss": total["Pss"] / 1024, "anon": total["Pss_Anon"] / 1024}


def measure(chapter: str, work: Path, interval: float) -> dict:
    """Grade the chapter's solved notebook through its bundle; the time, score and peaks."""
    bundle = build_bundle(chapter, work / "bundle")
    root = work / chapter
    autograder_tree(bundle, root, {f"{chapter}.ipynb": json.dumps(solved_notebook(chapter)).encode()})
    peak = {"rss": 0.0, "pss": 0.0, "anon": 0.0}
    start = time.monotonic()
    proc = subprocess.Popen([str(root / "source" / "run_autograder")], env=autograder_env(root), cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        now = memory_mb(tree_pids(proc.pid))
        peak = {k: max(peak[k], now[k]) for k in peak}
        time.sleep(interval)
    seconds = time.monotonic() - start
    results = json.loads((root / "results" / "results.json").read_text())
    possible = sum(t.get("max_score", 0) for t in results.get("tests", []))
    return {"chapter": chapter, "seconds": seconds, "score": results["score"], "max": possible, **peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="default: every graded chapter")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    args = parser.parse_args()
    print(f"{'chapter':36} {'time s':>7} {'score':>11} {'RSS MB':>7} {'PSS MB':>7} {'anon MB':>7}")
    with tempfile.TemporaryDirectory(prefix="gradescope-bench-") as tmp:
        for chapter in args.chapters or graded_chapters():
            m = measure(chapter, Path(tmp), args.interval)
            flags = " over 768 MB" if m["pss"] > GRADESCOPE_MB else ""
            flags += " over 10 min" if m["seconds"] > GRADESCOPE_SECONDS else ""
            print(f"{chapter:36} {m['seconds']:7.1f} {m['score']:5g}/{m['max']:<5g} "
                  f"{m['rss']:7.0f} {m['pss']:7.0f} {m['anon']:7.0f}{flags}", flush=True)


if __name__ == "__main__":
    main()
