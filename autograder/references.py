"""Reference answers, computed once and kept: no grading run computes them again.

A check's reference answer is what its probe returns on the solutions' namespace, for the
check's inputs, seed and device. It depends on nothing else — the chapter's solutions and the
course modules they import, its checks module (with checks/common.py), the wire format, the
seed, the device type and the PyTorch version — so it is stored under a key made of exactly
these, beside the release cache (``release-cache/references/<chapter>/<key>/``, one file
per check, written atomically as plain data), and read back by every later grading run: the
batch grader, the nbgrader path, Gradescope, a cluster worker.

torch's global random state is one per process; a reference run seeds it, so runs in
different threads take :data:`RNG_LOCK` (stand-ins answered by the oracle take it too).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import torch

from autograder import paths
from autograder.untrusted import wire

CACHE_DIR = ("release-cache", "references")
RNG_LOCK = threading.Lock()


def cache_key(chapter: str, seed: int, device: str) -> str:
    """The key of a chapter's reference answers (see the module docstring)."""
    from course.release import release_key
    digest = hashlib.sha256(f"{release_key(chapter)}|{seed}|{torch.device(device).type}|"
                            f"{torch.__version__}".encode())
    package = Path(__file__).resolve().parent
    for name in ("untrusted/wire.py", "spec.py"):
        digest.update((package / name).read_bytes())
    return digest.hexdigest()[:32]


def folder(chapter: str, key: str) -> Path:
    return paths.course_root().joinpath(*CACHE_DIR, chapter, key)


def cached(path: Path, compute: Callable[[], Any]) -> Any:
    """The answer stored at ``path``; else ``compute()``, stored there (atomically) and returned.
    A stored file that cannot be read is computed again."""
    try:
        return wire.loads_raw(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        pass
    with RNG_LOCK:
        value = compute()
    _store(path, value)
    return value


def _store(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(wire.dumps_raw(value))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only course folder: answers are kept in memory only
