"""A warm harness worker: imports the framework once, then forks one process per job.

Protocol (one JSON object per line): the parent writes
``{"job_dir": ..., "uid": ..., "limits": {...}}``; the worker forks, the worker answers
``{"started": pid}``, the child becomes user ``uid`` (when one is given) with the job's
resource limits and runs :func:`autograder.untrusted.harness.main`, and the
worker answers ``{"exit": code}`` (negative: killed by that signal) when it ends. The parent
kills a job by killing every process of its user id. Before the loop the worker prints
``{"ready": true}`` once everything heavy is imported.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import sys

PR_SET_NO_NEW_PRIVS = 38


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


def main() -> None:
    _import_framework(_preload(sys.argv[1:]))
    from autograder.untrusted import harness  # noqa: F401
    _import_package("autograder.checks")
    _import_package("course")
    _warm_up(_chapters(sys.argv[1:]))
    _send({"ready": True, "pid": os.getpid()})
    for line in sys.stdin:
        request = json.loads(line)
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
        _become(request.get("uid"), request.get("limits", {}))
        from autograder.untrusted import harness
        harness.main(request["job_dir"])
        code = 0
    finally:
        os._exit(code)


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


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
