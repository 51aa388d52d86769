"""The sandbox a harness worker runs in: bubblewrap where it works, limits everywhere.

With bubblewrap (Debian's ``bubblewrap``; ``./run.sh setup`` installs it) each worker is a
process in its own mount, network, PID, IPC and UTS namespaces that sees only: the system
(``/usr``, read-only), the Python installation and virtual environment (read-only), the
``autograder`` and ``course`` packages (read-only), the Fashion-MNIST folder (read-only),
a private ``/tmp``, and the scratch folder of its jobs. Not ``solutions/``, not the
submissions, not the output folder, no network. The worker keeps only CAP_SETUID and
CAP_SETGID, to switch each job's process to a user id of its own (worker.py).

Without bubblewrap (not Linux, not root, no user namespaces) the worker is a plain child
process: the same limits and user switch where root is available, but no namespaces.
``results.json`` records which sandbox was used.
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
            "--chdir", str(scratch)]
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


def describe() -> str:
    """What the harness runs in, for results.json and the summary."""
    if bwrap_works():
        return "bubblewrap: own user id, mount/network/pid namespaces, read-only system"
    if can_switch_user():
        return "no namespaces (bubblewrap unavailable): own user id and resource limits"
    return "no sandbox (bubblewrap unavailable, no user switch): resource limits only"


def worker_command(scratch: Path, device: str, preload: tuple[str, ...] | None = None) -> list[str]:
    """How to start a worker: sandboxed when possible; ``preload``: the framework modules it
    imports before its first job (None: all of them)."""
    python = [sys.executable, "-m", "autograder.untrusted.worker"]
    if preload is not None:
        python += ["--preload", ",".join(preload)]
    return bwrap_command(scratch, device) + python if bwrap_works() else python
