"""The harness: the child process that runs student code (untrusted side of DESIGN.md §2).

Usage: ``python -m autograder.untrusted.harness JOB_DIR``. It reads ``JOB_DIR/job.json``: the cells
to run, the checks to probe and the device; and for check ``i`` its inputs in
``in_<i>.bin`` (wire.dumps_raw). It writes each probe's outputs to ``out_<i>.bin`` and a
line per event to ``progress.jsonl``, so the parent knows what was
running if this process dies. It knows nothing of references, expected values or hidden
tests; everything it sends back is plain data (wire.py) that the parent validates.
"""
from __future__ import annotations

import importlib
import io
import json
import linecache
import os
import sys
import traceback
from pathlib import Path

MAX_TRACE = 1500  # characters of a student traceback sent back


def main(job_dir: str) -> None:
    job_dir_path = Path(job_dir)
    job = json.loads((job_dir_path / "job.json").read_text())
    _isolate_stdio(job_dir_path)
    os.chdir(job["workdir"])
    import numpy as np  # noqa: F401  (imported before student code can patch anything)
    import torch
    from autograder.untrusted import standin

    device = torch.device(job["device"])
    if device.type == "cuda":  # workers share one GPU: each job gets its share of memory
        torch.cuda.set_per_process_memory_fraction(float(job.get("gpu_fraction", 1.0)))
    transport = standin.SocketTransport(job["oracle"]) if job.get("oracle") else None
    pending: dict[str, list[dict]] = {}
    for item in job["checks"]:
        pending.setdefault(item["exercise"], []).append(item)
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    for kind, label, src in job["steps"]:
        if kind == "cell":
            _progress(job_dir_path, {"event": "cell", "label": label})
            error = _run_cell(src, label, ns)
            _progress(job_dir_path, {"event": "cell_done", "label": label, "error": error})
        else:
            _run_checks(job_dir_path, pending.pop(label, []), ns, device, transport)
    for items in list(pending.values()):  # exercises whose test cell is missing: at the end
        _run_checks(job_dir_path, items, ns, device, transport)
    _progress(job_dir_path, {"event": "done"})
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown, which student objects could hook


def _run_checks(job_dir: Path, items: list[dict], ns: dict, device, transport) -> None:
    """Probe each check on the live namespace (with its stand-ins in place); write the outputs."""
    from autograder.spec import Context
    from autograder.untrusted import standin, wire
    for item in items:
        index = item["index"]
        _progress(job_dir, {"event": "check", "index": index})
        module = importlib.import_module(item["module"])
        check = _find_check(module, item["exercise"], item["check"])
        inputs = _live(wire.loads_raw((job_dir / f"in_{index}.bin").read_bytes()))
        ctx = Context(device=device, seed=item["seed"])
        names = item.get("standins") or []
        saved = standin.install(ns, names, transport) if names and transport else {}
        try:
            result = _probe(check, ns, inputs, ctx)
        finally:
            standin.restore(ns, saved)
        try:
            data = wire.dumps_raw(result)
        except BaseException as e:  # noqa: BLE001  a returned object that cannot be sent
            data = wire.dumps_raw({"status": "error", "call": ctx.call, "error":
                                   "returned something that cannot be sent back as plain data "
                                   f"({type(e).__name__}: {str(e)[:200]})"})
        _atomic_write(job_dir / f"out_{index}.bin", data)
        _progress(job_dir, {"event": "check_done", "index": index})


class _Tail(io.TextIOBase):
    """A text stream that keeps only the last ``limit`` characters written to it, so that
    printing megabytes costs nothing; saved to ``path`` at each progress event."""

    def __init__(self, path: Path, limit: int = 64 * 1024):
        self.path, self.limit, self.text = path, limit, ""

    def write(self, s) -> int:
        s = str(s)
        self.text = (self.text + s[-self.limit:])[-self.limit:]
        return len(s)

    def writable(self) -> bool:
        return True

    def save(self) -> None:
        self.path.write_text(self.text, errors="replace")


def _isolate_stdio(job_dir: Path) -> None:
    """stdin from /dev/null (``input()`` fails at once); Python's stdout and stderr into one
    :class:`_Tail`, the file descriptors to /dev/null; breakpoints switched off."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = _Tail(job_dir / "student_output.txt")
    import warnings
    warnings.showwarning = _show_warning
    os.environ["PYTHONBREAKPOINT"] = "0"
    sys.breakpointhook = lambda *args, **kwargs: None
    import pdb
    pdb.set_trace = lambda *args, **kwargs: None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning, on a line of its own marked as one, with what it means where known: the
    feedback's "What your code printed" keeps it apart from the student's own prints."""
    try:
        text = (str(message).strip().splitlines() or [""])[0][:300]
        kind = category.__name__
    except Exception:  # noqa: BLE001  a warning whose __str__ raises
        text, kind = "", "Warning"
    from course.selfcheck import warning_meaning
    meaning = warning_meaning(text)
    where = f" ({os.path.basename(str(filename)).strip('<>')}, line {lineno})" if filename else ""
    sys.stdout.write(f"[a warning, not a print{where}: {kind}: {text}"
                     + (f" — {meaning}" if meaning else "") + "]\n")


def _run_cell(src: str, label: str, ns: dict) -> str | None:
    filename = f"<cell {label}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    try:
        exec(compile(src, filename, "exec"), ns)
    except BaseException as e:  # noqa: BLE001  SystemExit and KeyboardInterrupt included
        return _describe_error(e)
    return None


def _find_check(module, exercise: str, name: str):
    for ex in module.EXERCISES:
        if ex.name == exercise:
            for check in ex.checks:
                if check.name == name:
                    return check
    raise KeyError(f"{exercise}/{name}")


def _live(obj):
    """Inputs as live objects: WireTensor → tensor, recursively."""
    from autograder.untrusted.wire import WireTensor
    if isinstance(obj, WireTensor):
        return obj.values
    if isinstance(obj, dict):
        return {k: _live(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_live(v) for v in obj)
    return obj


def _probe(check, ns: dict, inputs: dict, ctx) -> dict:
    from autograder.spec import seed_everything
    seed_everything(ctx.seed)
    try:
        outputs = check.probe(ns, inputs, ctx)
    except BaseException as e:  # noqa: BLE001
        return {"status": "error", "call": ctx.call, "error": _describe_error(e)}
    return {"status": "ok", "call": ctx.call, "outputs": outputs}


def _describe_error(e: BaseException) -> str:
    """``Type: message`` and the student's frames of the traceback (not the harness's)."""
    try:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith("<cell")]
        where = "".join(f"  {f.filename[1:-1]}, line {f.lineno}: {f.line or ''}\n" for f in frames[-3:])
        text = f"{type(e).__name__}: {e}"
    except BaseException:  # noqa: BLE001  a hostile __str__
        return type(e).__name__
    return (text[:500] + ("\n" + where if where else ""))[:MAX_TRACE]


def _progress(job_dir: Path, event: dict) -> None:
    if isinstance(sys.stdout, _Tail):
        sys.stdout.save()
    with open(job_dir / "progress.jsonl", "a") as f:
        f.write(json.dumps(event) + "\n")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv[1])
