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


def process_mb(pid: int) -> dict[str, float] | None:
    """RSS, PSS and anonymous PSS of one process in MB (smaps_rollup); None once it is gone."""
    total = {"Rss": 0, "Pss": 0, "Pss_Anon": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in total:
                    total[key] += int(value.split()[0])
    except (OSError, ValueError):
        return None
    return {"rss": total["Rss"] / 1024, "pss": total["Pss"] / 1024, "anon": total["Pss_Anon"] / 1024}


def role(pid: int) -> str:
    """What a process of the tree is: the grader, the sandboxed worker, a job it forked."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if "bwrap" in cmd.split(" ", 1)[0]:
        return "bubblewrap"
    if "untrusted.worker" in cmd or "untrusted/worker" in cmd:
        return "worker"
    if "autograder" in cmd and "gradescope" in cmd:
        return "grader"
    return cmd.split(" ", 1)[0].rsplit("/", 1)[-1] or "?"


def memory_mb(pids: list[int]) -> dict:
    """RSS, PSS and anonymous PSS of ``pids`` added up, in MB, and PSS by role."""
    total = {"rss": 0.0, "pss": 0.0, "anon": 0.0}
    roles: dict[str, float] = {}
    seen_worker = set()
    for pid in pids:
        m = process_mb(pid)
        if m is None:
            continue
        for key in total:
            total[key] += m[key]
        name = role(pid)
        if name == "worker":  # the worker's forked jobs run the same command line
            name = "job" if seen_worker else "worker"
            seen_worker.add(pid)
        roles[name] = roles.get(name, 0.0) + m["pss"]
    return {**total, "roles": roles}


def measure(chapter: str, work: Path, interval: float) -> dict:
    """Grade the chapter's solved notebook through its bundle; the time, score and peaks."""
    bundle = build_bundle(chapter, work / "bundle")
    root = work / chapter
    autograder_tree(bundle, root, {f"{chapter}.ipynb": json.dumps(solved_notebook(chapter)).encode()})
    peak = {"rss": 0.0, "pss": 0.0, "anon": 0.0}
    at_peak: dict[str, float] = {}
    start = time.monotonic()
    proc = subprocess.Popen([str(root / "source" / "run_autograder")], env=autograder_env(root), cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        now = memory_mb(tree_pids(proc.pid))
        if now["pss"] > peak["pss"]:
            at_peak = now["roles"]
        peak = {k: max(peak[k], now[k]) for k in peak}
        time.sleep(interval)
    seconds = time.monotonic() - start
    results = json.loads((root / "results" / "results.json").read_text())
    possible = sum(t.get("max_score", 0) for t in results.get("tests", []))
    return {"chapter": chapter, "seconds": seconds, "score": results["score"], "max": possible, **peak,
            "at_peak": at_peak}


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
            print("    PSS at the peak, by process (MB): " + ", ".join(
                f"{name} {mb:.0f}" for name, mb in sorted(m["at_peak"].items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
