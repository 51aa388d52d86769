"""The parent's side of the harness: start the child, watch it, collect plain data.

A child that hangs in a check is killed at that check's time limit and started again for
the checks after it; one that dies is started again after the check (or the cell) it died
in. So a hang or crash costs exactly what it stopped, and the batch goes on.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import wire

POLL = 0.02  # seconds between looks at the child


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's harness; named in every message that cites them."""
    cell_seconds: float = 30.0  # wall time to run one solution cell at load
    submission_seconds: float = 600.0  # wall time for all of a submission's checks
    memory_mb: int = 4096  # resident memory of the child
    cpu_seconds: int = 900  # CPU time of one child process
    output_kb: int = 1024  # what student code may print, kept to this size
    check_seconds: float | None = None  # caps every check's own time limit when set

    def describe(self) -> str:
        return (f"{self.memory_mb} MB memory, {self.cpu_seconds} s CPU, "
                f"{self.submission_seconds:g} s per submission")


@dataclass
class ProbeJob:
    """One check to run in the child: where it lives, its seed and inputs."""
    index: int
    module: str
    exercise: str
    check: str
    seed: int
    inputs: dict
    timeout: float


@dataclass
class HarnessReport:
    """What came back: per check index the outputs or why there are none; per cell its error."""
    outputs: dict[int, dict] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    student_output: str = ""
    restarts: int = 0


def run(cells: list[tuple[str, str]], jobs: list[ProbeJob], device: str,
        limits: Limits = Limits()) -> HarnessReport:
    """Run ``cells`` then probe every job in a child process; never raises for student faults."""
    report = HarnessReport()
    deadline = time.monotonic() + limits.submission_seconds
    remaining, skip_cells = list(jobs), set()
    with tempfile.TemporaryDirectory(prefix="autograder-") as scratch:
        for attempt in range(len(cells) + len(jobs) + 1):
            if not remaining and attempt > 0:
                break
            live_cells = [(lab, src) for i, (lab, src) in enumerate(cells) if i not in skip_cells]
            job_dir = _prepare(Path(scratch), attempt, live_cells, remaining, device)
            stopped = _watch(job_dir, live_cells, remaining, limits, deadline, report)
            report.student_output = _tail(job_dir / "student_output.txt", limits.output_kb)
            done = {j.index for j in remaining if j.index in report.outputs}
            if stopped is None:
                remaining = [j for j in remaining if j.index not in done]
                for j in remaining:
                    report.outputs[j.index] = _fault("crashed", "the harness stopped before this check")
                break
            kind, where = stopped
            if kind == "cell":
                skip_cells.add(next(i for i, (lab, _) in enumerate(cells) if lab == where[0]
                                    and i not in skip_cells))
                report.cell_errors[where[0]] = where[1]
            remaining = [j for j in remaining if j.index not in report.outputs]
            report.restarts += 1
            if time.monotonic() >= deadline:
                for j in remaining:
                    report.outputs[j.index] = _fault(
                        "timeout", f"not run: the submission's time limit "
                                   f"({limits.submission_seconds:g} s) was used up")
                break
    return report


def _prepare(scratch: Path, attempt: int, cells, jobs: list[ProbeJob], device: str) -> Path:
    job_dir = scratch / f"job{attempt}"
    work = scratch / f"work{attempt}"
    job_dir.mkdir()
    work.mkdir()
    for j in jobs:
        text, npz = wire.dumps(j.inputs)
        (job_dir / f"in_{j.index}.json").write_text(text)
        (job_dir / f"in_{j.index}.npz").write_bytes(npz)
    job = {"workdir": str(work), "device": device, "cells": cells,
           "checks": [{"index": j.index, "module": j.module, "exercise": j.exercise,
                       "check": j.check, "seed": j.seed} for j in jobs]}
    (job_dir / "job.json").write_text(json.dumps(job))
    return job_dir


def child_env() -> dict[str, str]:
    """A scrubbed environment: no grader settings, no NBGRADER_*, no secrets."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", PYTHONPATH=_package_parent())
    return env


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[1])


def _set_limits(limits: Limits):
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        size = 64 * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


def _watch(job_dir: Path, cells, jobs: list[ProbeJob], limits: Limits, deadline: float,
           report: HarnessReport):
    """Run one child to its end. Returns None when it finished or died outside any check;
    ``("cell", (label, message))`` or ``("check", index)`` when it was stopped there."""
    proc = subprocess.Popen([sys.executable, "-m", "autograder.harness", str(job_dir)],
                            env=child_env(), cwd=str(job_dir), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_set_limits(limits))
    by_index = {j.index: j for j in jobs}
    current, started, seen = None, time.monotonic(), 0
    try:
        while True:
            events = _read_progress(job_dir)
            for ev in events[seen:]:
                current, started = _advance(ev, job_dir, by_index, report), time.monotonic()
            seen = len(events)
            rc = proc.poll()
            if rc is not None:
                for ev in _read_progress(job_dir)[seen:]:
                    current = _advance(ev, job_dir, by_index, report)
                return _died(current, rc, limits, report)
            why = _over_limit(proc.pid, current, started, by_index, limits, deadline)
            if why:
                _kill(proc)
                return _stopped(current, why, report)
            time.sleep(POLL)
    finally:
        _kill(proc)


def _advance(ev: dict, job_dir: Path, by_index: dict, report: HarnessReport):
    """Apply one progress event; return what is now running (None, ("cell", l), ("check", i))."""
    kind = ev.get("event")
    if kind == "cell":
        return ("cell", ev.get("label"))
    if kind == "cell_done":
        if ev.get("error"):
            report.cell_errors[str(ev.get("label"))] = str(ev["error"])
        return None
    if kind == "check":
        return ("check", ev.get("index"))
    if kind == "check_done":
        index = ev.get("index")
        if index in by_index:
            report.outputs[index] = _read_output(job_dir, index)
        return None
    return None


def _read_output(job_dir: Path, index: int) -> dict:
    try:
        data = wire.loads((job_dir / f"out_{index}.json").read_text(),
                          (job_dir / f"out_{index}.npz").read_bytes())
    except Exception as e:  # noqa: BLE001  anything unreadable is the child's fault
        return _fault("error", f"the harness's answer could not be read ({type(e).__name__})")
    if not isinstance(data, dict) or data.get("status") not in ("ok", "error"):
        return _fault("error", "the harness's answer was malformed")
    return data


def _fault(status: str, message: str) -> dict:
    return {"status": status, "error": message, "call": ""}


def _over_limit(pid, current, started, by_index, limits: Limits, deadline: float) -> str | None:
    now = time.monotonic()
    if now >= deadline:
        return f"the submission's time limit ({limits.submission_seconds:g} s)"
    if current and current[0] == "check" and now - started > by_index[current[1]].timeout:
        return f"the check's time limit ({by_index[current[1]].timeout:g} s)"
    if current and current[0] == "cell" and now - started > limits.cell_seconds:
        return f"the time limit for running a cell ({limits.cell_seconds:g} s)"
    if _rss_mb(pid) > limits.memory_mb:
        return f"the memory limit ({limits.memory_mb} MB)"
    return None


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _stopped(current, why: str, report: HarnessReport):
    status = "timeout" if "time limit" in why else "crashed"
    if current is None:
        return None
    if current[0] == "check":
        report.outputs[current[1]] = _fault(status, f"stopped: it exceeded {why}")
        return ("check", current[1])
    return ("cell", (current[1], f"stopped while running: it exceeded {why}"))


def _died(current, rc: int, limits: Limits, report: HarnessReport):
    if current is None:
        return None
    how = _exit_text(rc, limits)
    if current[0] == "check":
        report.outputs[current[1]] = _fault("crashed", f"the process ended during this check ({how})")
        return ("check", current[1])
    return ("cell", (current[1], f"the process ended while running this cell ({how})"))


def _exit_text(rc: int, limits: Limits) -> str:
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        extra = {"SIGXCPU": f": the CPU time limit ({limits.cpu_seconds} s)",
                 "SIGSEGV": ": a segmentation fault", "SIGKILL": ": killed"}.get(sig, "")
        return f"signal {sig}{extra}"
    return f"exit code {rc}: sys.exit() or os._exit() was called"


def _read_progress(job_dir: Path) -> list[dict]:
    try:
        lines = (job_dir / "progress.jsonl").read_text().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            break  # a half-written last line: read it next time
        if isinstance(ev, dict):
            events.append(ev)
    return events


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _tail(path: Path, kb: int) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - kb * 1024))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""

