"""The sandbox a harness worker runs in: bubblewrap where it works, limits everywhere.

With bubblewrap (Debian's ``bubblewrap``; ``./run.sh setup`` installs it) each worker is a
process in its own mount, network, PID, IPC and UTS namespaces that sees only: the system
(``/usr``, read-only), the Python installation and virtual environment (read-only), the
``autograder`` and ``course`` packages (read-only), the Fashion-MNIST folder (read-only),
a private ``/tmp``, and the scratch folder of its jobs. Not ``solutions/``, not the
submissions, not the output folder, no network. The worker keeps only CAP_SETUID and
CAP_SETGID, to switch each job's process to a user id of its own, and CAP_SYS_ADMIN, to give
each job IPC and mount namespaces of its own (worker.py: ``alone``); the job loses all three
with its uid.

Without bubblewrap (Gradescope's and most Docker containers refuse its namespaces) the worker
is a plain child process, and each job still runs as a user id of its own — which cannot
read the references, the submissions or the results (root's, mode 0700), write them, or
signal the grader — where the Python installation is readable by every user. Where it is
not (a pyenv under ``/root``), no isolation is possible: :func:`refusal` says so, and the
grader refuses to run student code unless the instructor allows it explicitly
(``--allow-unsandboxed``, which sets ``ALLOW_ENV``). Every output records the isolation used
(:func:`describe`).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from course.config import DEBIAN_DIR

PACKAGES = ("autograder", "course")
ALLOW_ENV = "AUTOGRADER_ALLOW_UNSANDBOXED"  # "1": grade even where student code runs as this user
NO_JOB_NAMESPACES_ENV = "AUTOGRADER_NO_JOB_NAMESPACES"  # "1": jobs share the worker's IPC namespace
UNSANDBOXED = "UNSANDBOXED"  # the first word of describe() where student code runs as this user


def _python_roots() -> list[Path]:
    """The folders Python needs: the venv (sys.prefix) and the base installation."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    exe = Path(sys.executable)
    roots.add(exe.parent.parent)
    return sorted(roots)


def _data_dirs() -> list[Path]:
    dirs = [Path(os.environ["FASHION_MNIST_DIR"])] if os.environ.get("FASHION_MNIST_DIR") else []
    return [d for d in dirs + [DEBIAN_DIR] if d.is_dir()]


def _parents(path: Path) -> list[Path]:
    """Every ancestor of ``path`` below ``/``, outermost first."""
    return [p for p in reversed(path.parents) if p != Path("/")]


def bwrap_command(scratch: Path, device: str) -> list[str]:
    """The bubblewrap command line that starts a worker with ``scratch`` writable."""
    repo = Path(__file__).resolve().parents[1]
    ro = _python_roots() + [repo / p for p in PACKAGES] + _data_dirs()
    cmd = ["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
           "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
           "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev",
           "--perms", "01777", "--tmpfs", "/dev/shm",
           "--tmpfs", "/tmp", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
           "--ro-bind-try", "/etc/localtime", "/etc/localtime"]
    made = set()
    for path in ro + [scratch]:
        for parent in _parents(path):
            if parent not in made and not str(parent).startswith("/usr"):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
    for path in ro:
        if not str(path).startswith("/usr/"):
            cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--bind", str(scratch), str(scratch)]
    if device == "cuda":
        for dev in sorted(Path("/dev").glob("nvidia*")):
            cmd += ["--dev-bind", str(dev), str(dev)]
    cmd += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--new-session", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
            "--cap-add", "CAP_SYS_ADMIN", "--chdir", str(scratch)]
    return cmd


@functools.lru_cache(maxsize=None)
def bwrap_works() -> bool:
    """Whether bubblewrap is installed and can make the namespaces here (tried once)."""
    if os.environ.get("AUTOGRADER_NO_SANDBOX") or not shutil.which("bwrap") or os.geteuid() != 0:
        return False
    probe = Path("/tmp")
    try:
        proc = subprocess.run(bwrap_command(probe, "cpu") + [sys.executable, "-c", "print('ok')"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def _open_to_others(path: Path) -> bool:
    """Whether a user with no rights of its own can reach and read ``path``."""
    import stat
    try:
        return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents]) and \
            bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def can_switch_user() -> bool:
    """Whether each job can run as a user id of its own: as root, inside bubblewrap (which
    makes the Python folders reachable), or where Python is readable by every user."""
    if os.geteuid() != 0:
        return False
    roots = _python_roots() + [Path(__file__).resolve().parents[1]]
    return bwrap_works() or all(_open_to_others(r) for r in roots)


def isolation() -> str:
    """``"bubblewrap"`` (namespaces and a user id of its own), ``"user"`` (a user id of its
    own, no namespaces) or ``"none"`` (student code would run as this process's user)."""
    if bwrap_works():
        return "bubblewrap"
    return "user" if can_switch_user() else "none"


def job_namespaces_allowed() -> bool:
    """Whether jobs may have IPC and mount namespaces of their own (where the kernel allows:
    worker.alone); ``NO_JOB_NAMESPACES_ENV`` turns them off, to try the fallback."""
    return not os.environ.get(NO_JOB_NAMESPACES_ENV)


@functools.lru_cache(maxsize=None)
def jobs_alone() -> bool:
    """Whether each job gets IPC and mount namespaces of its own here (tried once, as the
    workers try it: in bubblewrap where it works, else in a plain child)."""
    if not job_namespaces_allowed() or os.geteuid() != 0:
        return False
    probe = [sys.executable, "-c", "from autograder.untrusted.worker import probe_alone as p; print(p())"]
    repo = str(Path(__file__).resolve().parents[1])
    cmd = bwrap_command(Path("/tmp"), "cpu") + probe if bwrap_works() else probe
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": repo}, cwd="/tmp")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.stdout.strip() == "True"


def describe() -> str:
    """The isolation student code runs under, for results.json, the feedback pages, the
    class report and Gradescope's output."""
    jobs = ("each job alone: its own IPC namespace and /dev/shm, memory counted with shared memory"
            if jobs_alone() else
            "each job's IPC objects and /dev/shm files removed after it, memory counted with shared memory")
    if bwrap_works():
        return f"bubblewrap: own user id, mount/network/pid namespaces, read-only system; {jobs}"
    if can_switch_user():
        return f"own user id and resource limits, no namespaces (bubblewrap unavailable); {jobs}"
    if refusal():
        return ("none possible here (bubblewrap unavailable, no user switch): student code was not run")
    return (f"{UNSANDBOXED}: student code ran as this grader's own user (bubblewrap unavailable, "
            "no user switch), allowed by the instructor (--allow-unsandboxed); resource limits only")


def refusal() -> str | None:
    """Why this grader refuses to run student code here, or None: no isolation at all is
    possible (no bubblewrap, no user switch) and the instructor did not allow it (``ALLOW_ENV``)."""
    if isolation() != "none" or os.environ.get(ALLOW_ENV) == "1":
        return None
    python = ", ".join(str(r) for r in _python_roots() if not _open_to_others(r)) or "Python"
    why = ("bubblewrap cannot start here" if shutil.which("bwrap") else "bubblewrap is not installed")
    if os.geteuid() != 0:
        how = "this grader does not run as root, so it cannot switch student code to a user id of its own"
    else:
        how = (f"and student code cannot run as a user id of its own because {python} is not "
               "readable by other users")
    return (f"Refusing to grade: student code would run with this grader's own rights ({why}, {how}); "
            "it could read the reference solutions and forge its grade. Install bubblewrap, or "
            "install Python where every user can read it (a virtual environment under /opt), or "
            "pass --allow-unsandboxed to grade without isolation.")


class Refused(RuntimeError):
    """No isolation is possible here and the instructor did not allow grading without it."""


def check() -> None:
    """Raise :class:`Refused` (with :func:`refusal`'s message) where student code must not run."""
    why = refusal()
    if why:
        raise Refused(why)


def worker_command(scratch: Path, device: str, preload: tuple[str, ...] | None = None) -> list[str]:
    """How to start a worker: sandboxed when possible; ``preload``: the framework modules it
    imports before its first job (None: all of them)."""
    python = [sys.executable, "-m", "autograder.untrusted.worker"]
    if preload is not None:
        python += ["--preload", ",".join(preload)]
    return bwrap_command(scratch, device) + python if bwrap_works() else python
