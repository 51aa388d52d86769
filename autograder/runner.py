"""The parent's side of the harness: warm workers, watched jobs, plain data back.

A :class:`Worker` is one sandboxed process (sandbox.py) that has imported the framework
and forks one process per job (worker.py), running as a user id of its own. This module
writes each job's inputs, watches the job's progress file, its time and its memory, and
kills it — every process of its user id — when it exceeds a limit. Its memory is what the
kernel holds for it: the resident memory of its processes, its SysV shared memory and its
``/dev/shm`` files (:class:`_SharedMemory`); a job shares nothing with the next (its own IPC
and mount namespaces where the kernel allows it, else everything of its user removed after
it: worker.py). A job that hangs in a
check is killed at that check's time limit and forked again for the checks after it; one
that dies is forked again after the check (or the cell) it died in. So a hang or crash
costs exactly what it stopped, and the batch goes on.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import sandbox

POLL = 0.02  # seconds between looks at a job
RESCAN = 0.1  # seconds between scans of /proc for a job's processes (their memory is read every POLL)
UID_RANGE = (100_000, 2**30)  # jobs run as random user ids from this range
ORACLE_SOCKET = "oracle.sock"  # in a job's folder: where its stand-ins are answered
# what is read of a job's files (the job writes them, so they are bounded here)
MAX_PROGRESS_BYTES = 4 * 2**20  # of progress.jsonl
MAX_EVENTS = 10_000  # progress events
MAX_EVENT_BYTES = 64 * 2**10  # one progress line (a cell's error with its traceback)
MAX_ERROR = 20_000  # characters of an error message kept
MAX_OUTPUT_BYTES = 256 * 2**20  # one check's answer (out_<i>.bin)

DEFAULT_SUBMISSION_SECONDS = 600.0  # a run() given neither a deadline nor a budget


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's harness; named in every message that cites them."""
    cell_seconds: float = 30.0  # wall time to run one solution cell at load
    # wall time for all of a submission's cells and checks; None: the grader's budget,
    # derived from the reference solutions' time (grader.Grader.budget)
    submission_seconds: float | None = None
    memory_mb: int = 4096  # resident memory of all the job's processes together
    cpu_seconds: int = 900  # CPU time of one job process
    processes: int = 256  # processes and threads of the job's user
    output_kb: int = 1024  # what student code may print, kept to this size
    check_seconds: float | None = None  # caps every check's own time limit when set

    def describe(self) -> str:
        budget = (f"{self.submission_seconds:g} s" if self.submission_seconds is not None
                  else "a budget from the reference's time")
        return (f"{self.memory_mb} MB memory, {self.cpu_seconds} s CPU, {self.processes} "
                f"processes, {budget} per submission")

    def rlimits(self) -> dict[str, int]:
        """The per-process limits the worker sets before running a job."""
        return {"RLIMIT_CPU": self.cpu_seconds, "RLIMIT_CORE": 0,
                "RLIMIT_NPROC": self.processes, "RLIMIT_FSIZE": 64 * 2**20}


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
    standins: tuple[str, ...] = ()  # the student's functions a working one stands in for


@dataclass
class HarnessReport:
    """What came back: per check index the outputs or why there are none; per cell its error."""
    outputs: dict[int, dict] = field(default_factory=dict)
    cell_errors: dict[str, str] = field(default_factory=dict)
    student_output: str = ""
    restarts: int = 0
    # wall time the parent saw: "cells" (the student's cells), "probes" (the checks calling
    # the student's code), "harness" (starting the job, between events): for the profile
    seconds: dict[str, float] = field(default_factory=dict)


class WorkerError(RuntimeError):
    """The worker process itself failed (not the student's job)."""


_SPAWNER = None
_SPAWNER_LOCK = threading.Lock()


def _spawn(*args, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(*args, **kwargs)``, started from one thread that lives as long as
    this process. bubblewrap's ``--die-with-parent`` (PR_SET_PDEATHSIG) kills the sandbox
    when the *thread* that started it ends, not the process: a worker started from a pool's
    thread (WorkerPool, the local executor's restarts, a Dask task) died as soon as that
    thread finished, and its first job was lost and run again on a fresh worker."""
    global _SPAWNER
    from concurrent.futures import ThreadPoolExecutor
    with _SPAWNER_LOCK:
        if _SPAWNER is None:
            _SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker-spawner")
    return _SPAWNER.submit(subprocess.Popen, *args, **kwargs).result()


class Worker:
    """A warm, sandboxed harness process that runs one job at a time.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (the sandbox then exposes the GPU devices).
        gpu_fraction: share of the GPU's memory each job may take (``1 / workers``).
        preload: the framework modules it imports once, before its first job
            (:func:`preload_for`; None: all of them). A job that needs another imports it.
    """

    def __init__(self, device: str = "cpu", gpu_fraction: float = 1.0,
                 preload: tuple[str, ...] | None = None):
        sandbox.check()  # never run student code with the grader's own rights unless allowed
        self.device, self.gpu_fraction, self.preload = device, gpu_fraction, preload
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
        os.chmod(self.scratch, 0o711)
        self._buffer = b""
        self._log = open(self.scratch / "worker-stderr.txt", "wb")
        self.proc = _spawn(sandbox.worker_command(self.scratch, device, preload),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                           env=child_env(), cwd=self.scratch, start_new_session=True)
        ready = self._read_message(timeout=300)
        if not ready or not ready.get("ready"):
            self.close()
            raise WorkerError("the harness worker did not start: " + self._stderr_tail())
        # whether each job gets IPC and mount namespaces of its own (worker.alone)
        self.alone = bool(ready.get("alone")) and sandbox.job_namespaces_allowed()

    def restart(self) -> None:
        """Replace a failed worker process with a fresh one."""
        self.close()
        self.__init__(self.device, self.gpu_fraction, self.preload)

    def job_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch))

    def start(self, job_dir: Path, uid: int | None, limits: Limits) -> int:
        """Fork a job; return its process id (as the worker sees it)."""
        request = {"job_dir": str(job_dir), "uid": uid, "limits": limits.rlimits(),
                   "memory_mb": limits.memory_mb, "alone": self.alone}
        return self._ask(request, "started", 60, "did not start the job")

    def clean(self, uid: int) -> int:
        """After a job that had no namespaces of its own, once its processes are gone: have
        the worker remove every SysV IPC object and ``/dev/shm`` file of ``uid`` (in the
        worker's IPC namespace, the job's); return how many."""
        return self._ask({"clean": uid}, "cleaned", 30, "did not clean up after the job")

    def _ask(self, request: dict, answer: str, timeout: float, failure: str) -> int:
        """Send the worker ``request``; return the number its reply gives as ``answer``."""
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerError("the harness worker is gone") from None
        message = self._read_message(timeout=timeout)
        if not message or answer not in message:
            raise WorkerError(f"the harness worker {failure}: " + self._stderr_tail())
        return int(message[answer])

    def poll(self) -> int | None:
        """The job's exit code once it has ended, else None."""
        if self.proc.poll() is not None:
            raise WorkerError("the harness worker died: " + self._stderr_tail())
        message = self._read_message(timeout=0)
        return int(message["exit"]) if message and "exit" in message else None

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.poll()
            if code is not None:
                return code
            self.idle(POLL)
        return None

    def idle(self, seconds: float) -> None:
        """Wait up to ``seconds``, less when the worker has something to say (a job's end is
        seen at once, not at the next look)."""
        if b"\n" not in self._buffer:
            select.select([self.proc.stdout.fileno()], [], [], seconds)

    def _read_message(self, timeout: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return None

    def _stderr_tail(self) -> str:
        try:
            return (self.scratch / "worker-stderr.txt").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self._log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run(steps: list[tuple[str, str, str]], jobs: list[ProbeJob], device: str,
        limits: Limits = Limits(), worker: Worker | None = None, oracle=None,
        deadline: float | None = None) -> HarnessReport:
    """Run the program's ``steps`` — ``("cell", label, source)`` or ``("probe", exercise, "")``,
    where that exercise's jobs run — in a sandboxed child; jobs without a probe step run at
    the end. ``oracle`` (autograder.oracle.Oracle, or anything with its ``serve``) answers
    the jobs' stand-ins, if any. ``deadline`` (``time.monotonic()``) ends the run, for a
    submission whose budget spans several runs; else ``limits.submission_seconds`` from now
    (``DEFAULT_SUBMISSION_SECONDS`` when unset). After a check of an exercise runs out of
    time, that exercise's remaining checks are not run (one message says why): the same
    code would spend the budget again. Never raises for student faults."""
    own = worker is None
    worker = worker or Worker(device)
    report = HarnessReport()
    budget = limits.submission_seconds or DEFAULT_SUBMISSION_SECONDS
    limits = limits if limits.submission_seconds else Limits(**{**limits.__dict__, "submission_seconds": budget})
    deadline = deadline if deadline is not None else time.monotonic() + budget
    remaining, skip = list(jobs), set()
    try:
        for attempt in range(len(steps) + len(jobs) + 1):
            if not remaining and attempt > 0:
                break
            live = [step for i, step in enumerate(steps) if i not in skip]
            try:
                stopped = _attempt(worker, live, remaining, device, limits, deadline, report, oracle)
            except WorkerError:
                worker.restart()  # the worker, not the job, failed: run the attempt again
                stopped = _attempt(worker, live, remaining, device, limits, deadline, report, oracle)
            if stopped is None:
                for j in remaining:
                    report.outputs.setdefault(j.index, _fault("crashed", "the harness stopped before this check"))
                break
            kind, where = stopped
            if kind == "cell":
                cell = next((i for i, (k, lab, _) in enumerate(steps) if k == "cell" and lab == where[0]), None)
                if cell is None:  # a label the job made up (it writes its own progress file)
                    for j in remaining:
                        report.outputs.setdefault(j.index, _fault("crashed", "the harness reported a cell it was not given"))
                    break
                skip.add(cell)
                report.cell_errors[where[0]] = where[1]
            elif report.outputs.get(where, {}).get("status") == "timeout":
                timed_out = next((j for j in remaining if j.index == where), None)
                if timed_out is not None:
                    _skip_exercise(timed_out, remaining, report)
            remaining = [j for j in remaining if j.index not in report.outputs]
            report.restarts += 1
            if time.monotonic() >= deadline:
                for j in remaining:
                    report.outputs[j.index] = _fault(
                        "timeout", f"not run: the submission's time limit "
                                   f"({limits.submission_seconds:g} s) was used up")
                break
    finally:
        if own:
            worker.close()
    return report


def _skip_exercise(timed_out: ProbeJob, remaining: list[ProbeJob], report: HarnessReport) -> None:
    """Every check of ``timed_out``'s exercise not yet run: not run, with one message."""
    why = (f"not run: an earlier check of `{timed_out.exercise}` ({timed_out.check}) ran out of "
           "time, so its other checks were skipped")
    for j in remaining:
        if j.exercise == timed_out.exercise and j.index not in report.outputs:
            report.outputs[j.index] = _fault("timeout", why)


def _attempt(worker: Worker, steps, jobs: list[ProbeJob], device: str, limits: Limits,
             deadline: float, report: HarnessReport, oracle=None):
    """One forked job: prepare its folder, start it (with its stand-ins' server, if any),
    watch it, clean up after it."""
    job_dir = worker.job_dir()
    uid = (secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0]
           if sandbox.can_switch_user() else None)
    owner = ("uid", uid)
    server = contextlib.nullcontext()
    try:
        _prepare(job_dir, uid, steps, jobs, device, worker.gpu_fraction, oracle is not None)
        if oracle is not None:
            server = oracle.serve(job_dir / ORACLE_SOCKET, uid)
        with server:
            pid = worker.start(job_dir, uid, limits)
            owner = ("uid", uid) if uid is not None else ("pgid", pid)
            stopped = _watch(worker, job_dir, owner, jobs, limits, deadline, report)
            report.student_output = _tail(job_dir / "student_output.txt", limits.output_kb)
            return stopped
    finally:
        kill_job(owner)
        _tidy(worker, uid)
        shutil.rmtree(job_dir, ignore_errors=True)


def _tidy(worker: Worker, uid: int | None) -> None:
    """After a job without namespaces of its own: remove what its user left in IPC and
    ``/dev/shm`` (a job with its own lost everything with its last process). A worker that
    died took its IPC namespace with it under bubblewrap; without, the objects are in this
    machine's namespace, and removed from here."""
    if uid is None or worker.alone:
        return
    try:
        worker.clean(uid)
    except WorkerError:
        if not sandbox.bwrap_works():
            from autograder.untrusted.worker import remove_ipc
            remove_ipc(uid)


def _prepare(job_dir: Path, uid: int | None, steps, jobs: list[ProbeJob], device: str,
             gpu_fraction: float, oracle: bool) -> None:
    work = job_dir / "work"
    work.mkdir()
    for j in jobs:
        (job_dir / f"in_{j.index}.bin").write_bytes(_wire().dumps_raw(j.inputs))
    job = {"workdir": str(work), "device": device, "gpu_fraction": gpu_fraction,
           "steps": [list(step) for step in steps],
           "oracle": str(job_dir / ORACLE_SOCKET) if oracle else None,
           "checks": [{"index": j.index, "module": j.module, "exercise": j.exercise,
                       "check": j.check, "seed": j.seed, "standins": list(j.standins)} for j in jobs]}
    (job_dir / "job.json").write_text(json.dumps(job))
    for path in (job_dir, work, *job_dir.iterdir()):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
        if uid is not None:
            os.chown(path, uid, uid)


def _wire():
    """The wire format (it imports PyTorch: not at this module's import, so that workers can
    be started while the grader is still importing it)."""
    from autograder.untrusted import wire
    return wire


def preload_for(chapters) -> tuple[str, ...]:
    """The framework modules a worker grading ``chapters`` imports before its first job.

    Two are large and needed by few chapters, so they are imported only where a chapter's
    code (released, solved) or its checks use them: torchvision (about 160 MB), and ``torch._dynamo``,
    which PyTorch imports when the first optimizer is made (1.1 s and about 160 MB; in a
    job of its own, every job would pay both). A chapter whose files cannot be read here
    gets everything. The chapters are named too (``chapter:<slug>``), so that the worker runs
    their checks' ``WORKER_WARMUP`` (shared data, loaded once per worker). Reads files only:
    no PyTorch is imported."""
    from autograder import notebooks, paths
    from autograder.untrusted.worker import FRAMEWORK, OPTIONAL
    code = []
    for chapter in chapters:
        try:
            for notebook in (paths.release_notebook(chapter), paths.solutions_notebook(chapter)):
                cells = notebooks.read_notebook(notebook).get("cells", [])
                code += ["".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code"]
            code.append((Path(__file__).parent / "checks" / f"ch{chapter}.py").read_text())
        except Exception:  # noqa: BLE001  unreadable here (the grader says so): preload all
            return FRAMEWORK
    text = "\n".join(code)
    modules = tuple(m for m in FRAMEWORK if m not in OPTIONAL or any(word in text for word in OPTIONAL[m]))
    return modules + tuple(f"chapter:{chapter}" for chapter in sorted(chapters))


class WorkerPool:
    """``count`` workers being started in the background, so that their start (a sandbox, the
    framework imported) overlaps the grader's own imports; :meth:`take` waits for them."""

    def __init__(self, count: int, device: str, preload: tuple[str, ...] | None = None):
        from concurrent.futures import ThreadPoolExecutor
        self.device, self.count, self.preload = device, count, preload
        self._pool = ThreadPoolExecutor(max_workers=max(count, 1))
        self._futures = [self._pool.submit(Worker, device, 0.9 / max(count, 1), preload) for _ in range(count)]

    def take(self, count: int, device: str) -> list[Worker]:
        """``count`` ready workers for ``device`` (started again if the pool's device differs);
        the others are closed.

        Raises:
            WorkerError: a worker could not start.
        """
        workers = [f.result() for f in self._futures]
        self._pool.shutdown()
        if device != self.device or count > len(workers):
            for w in workers:
                w.close()
            return [Worker(device, 0.9 / count, self.preload) for _ in range(count)]
        for w in workers[count:]:
            w.close()
        return workers[:count]

    def close(self) -> None:
        """Close the workers unused (a run that found nothing left to grade): their
        processes end and their scratch folders go."""
        for future in self._futures:
            try:
                future.result().close()
            except WorkerError:
                pass
        self._pool.shutdown()


def child_env() -> dict[str, str]:
    """A scrubbed environment: no grader settings, no NBGRADER_*, no secrets.

    ``HOME`` is ``.``: each job runs in its own writable work folder (the harness changes
    into it before any student code runs), so the homes that libraries derive from it —
    matplotlib's ``~/.config``, IPython's ``~/.ipython``, ``~/.cache`` — are that job's own,
    and no warning about an unwritable home reaches what the student's code printed.
    """
    keep = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "VIRTUAL_ENV", "FASHION_MNIST_DIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HOME=".",
               PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", PYTHONPATH=_package_parent())
    return env


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[1])


def _watch(worker: Worker, job_dir: Path, owner: tuple, jobs: list[ProbeJob], limits: Limits,
           deadline: float, report: HarnessReport):
    """Watch one job to its end. Returns None when it finished or died outside any check;
    ``("cell", (label, message))`` or ``("check", index)`` when it was stopped there."""
    by_index = {j.index: j for j in jobs}
    with _JobMemory(owner) as memory:
        return _watch_job(worker, job_dir, owner, by_index, limits, deadline, report, memory)


def _watch_job(worker: Worker, job_dir: Path, owner: tuple, by_index: dict, limits: Limits,
               deadline: float, report: HarnessReport, memory: "_JobMemory"):
    current, started, seen = None, time.monotonic(), 0
    last = started
    while True:
        now = time.monotonic()
        spent = "cells" if current and current[0] == "cell" else "probes" if current else "harness"
        report.seconds[spent] = report.seconds.get(spent, 0.0) + now - last
        last = now
        events = _read_progress(job_dir)
        for ev in events[seen:]:
            current, started = _advance(ev, job_dir, by_index, report), time.monotonic()
        seen = len(events)
        rc = worker.poll()
        if rc is not None:
            for ev in _read_progress(job_dir)[seen:]:
                current = _advance(ev, job_dir, by_index, report)
            return _died(current, rc, limits, report)
        why = _over_limit(memory, current, started, by_index, limits, deadline)
        if why:
            kill_job(owner)
            worker.wait(timeout=30)
            return _stopped(current, why, report)
        worker.idle(POLL)


def _advance(ev: dict, job_dir: Path, by_index: dict, report: HarnessReport):
    """Apply one progress event; return what is now running (None, ("cell", l), ("check", i)).
    The events come from the job, so are believed only in their expected form: a label is a
    string, an index one of this job's checks; anything else is ignored."""
    kind, label, index = ev.get("event"), ev.get("label"), ev.get("index")
    if kind == "cell":
        return ("cell", label) if type(label) is str else None
    if kind == "cell_done":
        error = ev.get("error")
        if error and type(label) is str:
            report.cell_errors[label] = error[:MAX_ERROR] if type(error) is str else "the cell failed"
        return None
    if type(index) is not int or index not in by_index:
        return None
    if kind == "check":
        return ("check", index)
    if kind == "check_done":
        report.outputs[index] = _read_output(job_dir, index)
    return None


def _read_output(job_dir: Path, index: int) -> dict:
    """A check's answer as the job wrote it, or a fault saying why it could not be used: only
    a dict with a known status and, for an error, a message that is a string."""
    try:
        raw = _read_job_file(job_dir / f"out_{index}.bin", MAX_OUTPUT_BYTES + 1)
        if len(raw) > MAX_OUTPUT_BYTES:
            return _fault("error", f"the harness's answer was larger than {MAX_OUTPUT_BYTES >> 20} MB")
        data = _wire().loads_raw(raw)
    except Exception as e:  # noqa: BLE001  anything unreadable is the child's fault
        return _fault("error", f"the harness's answer could not be read ({type(e).__name__})")
    if not isinstance(data, dict) or data.get("status") not in ("ok", "error"):
        return _fault("error", "the harness's answer was malformed")
    if data["status"] == "error":
        return {"status": "error", "error": _text(data.get("error")), "call": _text(data.get("call"))}
    return {**data, "call": _text(data.get("call"))}


def _text(value) -> str:
    """A message that came from the job: a string, kept to ``MAX_ERROR`` characters."""
    return value[:MAX_ERROR] if type(value) is str else ""


def _fault(status: str, message: str) -> dict:
    return {"status": status, "error": message, "call": ""}


def _over_limit(memory: "_JobMemory", current, started, by_index, limits: Limits,
                deadline: float) -> str | None:
    now = time.monotonic()
    if now >= deadline:
        return f"the submission's time limit ({limits.submission_seconds:g} s)"
    if current and current[0] == "check" and now - started > by_index[current[1]].timeout:
        return f"the check's time limit ({by_index[current[1]].timeout:g} s)"
    if current and current[0] == "cell" and now - started > limits.cell_seconds:
        return f"the time limit for running a cell ({limits.cell_seconds:g} s)"
    if memory.mb() > limits.memory_mb:
        return f"the memory limit ({limits.memory_mb} MB)"
    return None


class _JobMemory:
    """A job's memory as the kernel holds it, looked at on every poll: the resident memory of
    its processes plus its shared memory (:class:`_SharedMemory`). The processes found so far
    are read each time, and the list is renewed (a scan of all of /proc, about 1 ms) every
    ``RESCAN`` seconds, so a process the job starts is watched within that time."""

    def __init__(self, owner: tuple):
        self.owner, self.pids, self.scanned = owner, [], -math.inf
        self.shared = _SharedMemory(owner[1] if owner[0] == "uid" else None)

    def mb(self) -> float:
        now = time.monotonic()
        if now - self.scanned >= RESCAN:
            self.pids, self.scanned = job_pids(self.owner), now
            self.shared.find(self.pids)
        return _rss_mb(self.pids) + self.shared.mb()

    def __enter__(self) -> "_JobMemory":
        return self

    def __exit__(self, *exc) -> None:
        self.shared.close()


class _SharedMemory:
    """What a job (user ``uid``) holds in shared memory outside its processes' resident
    memory: its SysV segments — detached ones too, which no process's RSS shows — and its
    ``/dev/shm`` files. Read where the job lives: its IPC namespace (entered by this thread
    with setns for the time of a read, when it is not this process's) and its ``/dev/shm``
    (through ``/proc/<pid>/root``: a tmpfs of its own is measured whole, a shared one by the
    files the user owns). Segments attached and touched count in RSS too: counted twice,
    on the safe side, as pages shared between processes are. Nothing for a job without a
    user of its own (no sandbox: nothing is the job's alone)."""

    def __init__(self, uid: int | None):
        self.uid, self.ipc, self.shm_dir, self.own_shm = uid, None, None, False

    def find(self, pids: list[int]) -> None:
        """Open the job's IPC namespace and ``/dev/shm`` from one of its processes (once)."""
        if self.uid is None or self.shm_dir is not None:
            return
        for pid in pids:
            try:
                ipc = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY)
            except OSError:
                continue
            try:
                shm_dir = os.open(f"/proc/{pid}/root/dev/shm", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                os.close(ipc)
                continue
            same_ipc = os.fstat(ipc).st_ino == os.stat("/proc/thread-self/ns/ipc").st_ino
            if same_ipc:
                os.close(ipc)
            self.ipc, self.shm_dir = (None if same_ipc else ipc), shm_dir
            self.own_shm = os.stat(f"/proc/{pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino
            return

    def mb(self) -> float:
        if self.uid is None or self.shm_dir is None:
            return 0.0
        return (self._sysv_bytes() + self._dev_shm_bytes()) / 2**20

    def _sysv_bytes(self) -> int:
        from autograder.untrusted.worker import sysvipc_rows
        with _in_ipc_namespace(self.ipc):
            rows = sysvipc_rows("shm")
        return sum(r.get("rss", 0) + r.get("swap", 0) for r in rows if self.uid in (r.get("uid"), r.get("cuid")))

    def _dev_shm_bytes(self) -> int:
        try:
            if self.own_shm:  # a tmpfs of the job's own: all of it is the job's
                st = os.statvfs(self.shm_dir)
                return (st.f_blocks - st.f_bfree) * st.f_frsize
            total = 0
            for entry in os.scandir(self.shm_dir):
                st = entry.stat(follow_symlinks=False)
                if st.st_uid == self.uid:
                    total += st.st_blocks * 512
            return total
        except OSError:
            return 0

    def close(self) -> None:
        """Let go of the job's namespace and /dev/shm (held open, they would outlive it)."""
        for fd in (self.ipc, self.shm_dir):
            if fd is not None:
                os.close(fd)
        self.ipc = self.shm_dir = None


_LIBC = None


@contextlib.contextmanager
def _in_ipc_namespace(fd: int | None):
    """This thread in the IPC namespace ``fd`` for the block (nothing when None); other
    threads are not moved (an IPC namespace is a thread's own)."""
    global _LIBC
    if fd is None:
        yield
        return
    import ctypes
    _LIBC = _LIBC or ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/ipc", os.O_RDONLY)
    try:
        if _LIBC.setns(fd, 0x08000000) != 0:
            yield
            return
        try:
            yield
        finally:
            _LIBC.setns(home, 0x08000000)
    finally:
        os.close(home)


def job_pids(owner: tuple) -> list[int]:
    """Every process of a job: ``("uid", n)`` — all processes of that user (the sandboxed
    case, which no job can leave); ``("pgid", n)`` — the job's process group (no user switch)."""
    kind, value = owner
    if value is None:
        return []
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if kind == "uid":
                match = entry.stat().st_uid == value
            else:
                with open(f"/proc/{entry.name}/stat") as f:
                    match = int(f.read().rsplit(")", 1)[1].split()[2]) == value
        except (OSError, IndexError, ValueError):
            continue
        if match:
            pids.append(int(entry.name))
    return pids


def _rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes together, in MB (those gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def kill_job(owner: tuple) -> None:
    """SIGKILL every process of the job, repeatedly, until none is left (fork bombs included)."""
    for _ in range(100):
        pids = [p for p in job_pids(owner) if p != os.getpid()]
        if not pids:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # stop all first: none can fork again
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.01)


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
    """The job's progress events so far, read defensively (the job can write anything to the
    file): at most ``MAX_PROGRESS_BYTES`` of it and ``MAX_EVENTS`` lines; a line longer than
    ``MAX_EVENT_BYTES``, that is not JSON, or not a flat object (of strings, integers, bools
    and nulls, as the harness writes) is skipped. The last line counts only once it ends
    (a half-written line is read next time). Each call reads only what was added since the
    last one (a job that writes megabytes costs the grader each byte once, not every poll)."""
    with _PROGRESS_LOCK:
        offset, lines, events = _PROGRESS.pop(job_dir, (0, 0, []))
    try:
        data = _read_job_file(job_dir / "progress.jsonl", MAX_PROGRESS_BYTES - offset, start=offset)
    except OSError:
        data = b""
    complete = data[:data.rfind(b"\n") + 1]
    for line in complete.split(b"\n")[:-1][:MAX_EVENTS - lines]:
        lines += 1
        if len(line) > MAX_EVENT_BYTES:
            continue
        try:
            ev = json.loads(line.decode("utf-8", "replace"))
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
            continue
        if isinstance(ev, dict) and all(type(v) in (str, int, bool, type(None)) for v in ev.values()):
            events.append(ev)
    with _PROGRESS_LOCK:
        _PROGRESS[job_dir] = (offset + len(complete), lines, events)
        while len(_PROGRESS) > 256:  # the jobs watched now are the most recent: drop the oldest
            _PROGRESS.pop(next(iter(_PROGRESS)))
    return events


_PROGRESS: dict[Path, tuple[int, int, list[dict]]] = {}  # job folder → bytes and lines read, events
_PROGRESS_LOCK = threading.Lock()


def _read_job_file(path: Path, limit: int, start: int = 0, tail: bool = False) -> bytes:
    """At most ``limit`` bytes of a file the job wrote, from ``start`` (or the last ones, if
    ``tail``), opened so that nothing the job put there instead can block or redirect the
    grader: a link is not followed, and a FIFO, socket or device is refused without waiting
    for a writer.

    Raises:
        OSError: missing, a link, or not a plain file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path.name} is not a plain file")
        if tail or start:
            os.lseek(fd, max(0, st.st_size - limit) if tail else start, os.SEEK_SET)
        chunks, left = [], limit
        while left > 0 and (chunk := os.read(fd, min(left, 2**20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _tail(path: Path, kb: int) -> str:
    try:
        return _read_job_file(path, kb * 1024, tail=True).decode("utf-8", "replace")
    except OSError:
        return ""
