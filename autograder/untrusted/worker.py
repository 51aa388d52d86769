"""A warm harness worker: imports the framework once, then forks one process per job.

Protocol (one JSON object per line): the parent writes
``{"job_dir": ..., "uid": ..., "limits": {...}, "memory_mb": n}``; the worker forks, the
worker answers ``{"started": pid}``, the child is made alone (:func:`alone`: its own IPC
namespace and ``/dev/shm``, where the kernel allows it), becomes user ``uid`` (when one is
given) with the job's resource limits and runs :func:`autograder.untrusted.harness.main`, and
the worker answers ``{"exit": code}`` (negative: killed by that signal) when it ends. The
parent kills a job by killing every process of its user id, then — where jobs cannot have
namespaces of their own — writes ``{"clean": uid}``: the worker removes every SysV IPC object
and ``/dev/shm`` file of that user (:func:`remove_ipc`, in the worker's own IPC namespace,
the one the job used) and answers ``{"cleaned": n}``. Before the loop the worker prints
``{"ready": true, "alone": bool}`` once everything heavy is imported (``alone``: whether
jobs get namespaces of their own, tried once with :func:`probe_alone`).
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
SHM_CAP_MB = 256  # a job's /dev/shm: at most this, or its memory limit if lower
SHM_SEGMENTS = 64  # SysV shared-memory segments a job may hold at once (its own namespace)
IPC_RMID = 0
SYSVIPC = {"shm": "shmctl", "sem": "semctl", "msg": "msgctl"}  # /proc/sysvipc/<kind>, its call


# What the chapters' set-up cells import, besides the standard library: imported once here,
# so that a job's set-up cell finds it loaded (matplotlib and IPython alone take seconds).
# ``torch._dynamo`` is imported by PyTorch itself when the first optimizer is made (1.1 s).
# The parent names the ones to import (``--preload``, runner.preload_for): those in OPTIONAL
# only where a chapter being graded uses them (its code holds one of the words), as each
# adds about 160 MB to the worker.
FRAMEWORK = ("numpy", "torch", "torch.nn.functional", "torch.utils.data", "torch._dynamo", "torchvision",
             "torchvision.transforms", "matplotlib.pyplot", "matplotlib_inline.backend_inline")
OPTIONAL = {"torch._dynamo": ("torch.optim",), "torchvision": ("torchvision",),
            "torchvision.transforms": ("torchvision",)}


ALONE = False  # whether jobs get namespaces of their own here (probe_alone, at start)


def main() -> None:
    global ALONE
    _import_framework(_preload(sys.argv[1:]))
    from autograder.untrusted import harness  # noqa: F401
    _import_package("autograder.checks")
    _import_package("course")
    _warm_up(_chapters(sys.argv[1:]))
    ALONE = probe_alone()
    _send({"ready": True, "pid": os.getpid(), "alone": ALONE})
    for line in sys.stdin:
        request = json.loads(line)
        if "clean" in request:
            _send({"cleaned": remove_ipc(int(request["clean"]))})
            continue
        pid = os.fork()
        if pid == 0:
            _run_job(request)
        _send({"started": pid})
        _, status = os.waitpid(pid, 0)
        _send({"exit": os.waitstatus_to_exitcode(status)})


def _preload(argv: list[str]) -> tuple[str, ...]:
    """The modules named by ``--preload a,b,c`` (only those of FRAMEWORK); all of it without."""
    if len(argv) == 2 and argv[0] == "--preload":
        return tuple(name for name in argv[1].split(",") if name in FRAMEWORK)
    return FRAMEWORK


def _chapters(argv: list[str]) -> tuple[str, ...]:
    """The chapters named ``chapter:<slug>`` in ``--preload`` (none without it)."""
    import re
    if len(argv) == 2 and argv[0] == "--preload":
        return tuple(name.split(":", 1)[1] for name in argv[1].split(",")
                     if re.fullmatch(r"chapter:\d\d_[a-z0-9_]+", name))
    return ()


def _warm_up(chapters: tuple[str, ...]) -> None:
    """Run each chapter's ``WORKER_WARMUP`` (its checks module's own, if it has one): public
    data its checks read — Fashion-MNIST for chapter 09, 0.4 s to read — loaded once here
    and shared by every job forked from this worker, instead of once per job. A warm-up that
    fails is skipped: the jobs then load what they need themselves."""
    import importlib
    for chapter in chapters:
        try:
            warm = getattr(importlib.import_module(f"autograder.checks.ch{chapter}"), "WORKER_WARMUP", None)
            if callable(warm):
                warm()
        except Exception:  # noqa: BLE001  the jobs do without it
            pass


def _import_framework(names: tuple[str, ...] = FRAMEWORK) -> None:
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:  # a module the course can do without here (e.g. no IPython)
            pass


def _import_package(name: str) -> None:
    """Import a package and every module in it now (the chapters' checks modules, the
    course's helpers), so that no job pays for it."""
    import importlib
    import pkgutil
    package = importlib.import_module(name)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{name}.{module.name}")


def _run_job(request: dict) -> None:
    """In the forked child: drop to the job's user and limits, then run the harness."""
    code = 70
    try:
        if request.get("alone", ALONE) and not alone(request.get("memory_mb")):
            code = 71  # the parent was told jobs are alone here: never run one that is not
            return
        _become(request.get("uid"), request.get("limits", {}))
        _own_temp(os.path.join(request["job_dir"], "work"))
        from autograder.untrusted import harness
        harness.main(request["job_dir"])
        code = 0
    finally:
        os._exit(code)


def _own_temp(work: str) -> None:
    """Temporary files in the job's own work folder (``/tmp`` is the sandbox's, read-only to
    the job): multiprocessing's sockets — a DataLoader's workers — and ``tempfile``'s files.
    ``tempfile`` remembers the folder it chose first, in this worker, as root: forgotten."""
    import tempfile
    os.environ["TMPDIR"] = work
    tempfile.tempdir = None


def _become(uid: int | None, limits: dict) -> None:
    os.setsid()
    os.closerange(3, 1 << 16)
    os.umask(0o077)
    for name, value in limits.items():
        res = getattr(resource, name)
        resource.setrlimit(res, (value, value))
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def alone(memory_mb: int | None = None) -> bool:
    """Give this process (a job, still root, before any student code) an IPC namespace and a
    mount namespace of its own, with a fresh ``/dev/shm`` (a tmpfs of at most ``SHM_CAP_MB``
    or ``memory_mb``, mode 1777) and SysV shared memory bounded by ``memory_mb``. Both
    namespaces die with the job's last process, and with them every segment, semaphore,
    queue and ``/dev/shm`` file it made: nothing of it reaches the next job. Needs
    CAP_SYS_ADMIN (bubblewrap keeps it for the worker; the job loses it with its uid).
    Returns False, changing nothing, where the kernel refuses (Docker's default seccomp
    profile, Gradescope): the parent then has :func:`remove_ipc` run after each job."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWIPC) != 0:
        return False
    if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False  # an IPC namespace of its own, but /dev/shm shared: cleaned after the job
    limit = (memory_mb or SHM_CAP_MB) * 2**20
    size = min(SHM_CAP_MB * 2**20, limit)
    if libc.mount(b"shm", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777".encode()) != 0:
        return False
    page = os.sysconf("SC_PAGE_SIZE")
    for name, value in (("shmmax", limit), ("shmall", limit // page), ("shmmni", SHM_SEGMENTS)):
        try:
            with open(f"/proc/sys/kernel/{name}", "w") as f:
                f.write(str(value))
        except OSError:  # a read-only /proc/sys: the parent's memory watch still counts it
            pass
    return True


def probe_alone() -> bool:
    """Whether jobs get namespaces of their own here (:func:`alone` tried in a child)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if alone() else 1)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def remove_ipc(uid: int) -> int:
    """Remove every SysV shared-memory segment, semaphore set and message queue owned or
    made by ``uid`` in this IPC namespace, and every file it owns in ``/dev/shm`` (POSIX
    shared memory and semaphores); return how many. For jobs without namespaces of their
    own, after their processes are gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for kind, call in SYSVIPC.items():
        for ident in owned_ipc(kind, uid):
            args = (ident, 0, IPC_RMID, None) if kind == "sem" else (ident, IPC_RMID, None)
            removed += getattr(libc, call)(*args) == 0
    try:
        entries = list(os.scandir("/dev/shm"))
    except OSError:
        entries = []
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid == uid:
                if entry.is_dir(follow_symlinks=False):
                    import shutil
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def owned_ipc(kind: str, uid: int | None) -> list[int]:
    """The ids of ``/proc/sysvipc/<kind>`` objects owned or made by ``uid`` (None: all)."""
    return [int(row["id"]) for row in sysvipc_rows(kind)
            if uid is None or uid in (row.get("uid"), row.get("cuid"))]


def sysvipc_rows(kind: str) -> list[dict]:
    """The rows of ``/proc/sysvipc/<kind>`` (this thread's IPC namespace) as dicts of ints;
    the id column is called ``id``."""
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            header, *lines = f.read().splitlines()
    except (OSError, ValueError):
        return []
    names = ["id" if n in ("shmid", "semid", "msqid") else n for n in header.split()]
    rows = []
    for line in lines:
        try:
            rows.append(dict(zip(names, map(int, line.split()))))
        except ValueError:
            continue
    return rows


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
