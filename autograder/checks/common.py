"""Pieces that check modules share: calling student functions and describing calls."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Callable, Iterable

import torch

from autograder.spec import Context
from course.selfcheck import calls

# The student's program while a check compares (set by grader.py): hints that rest on the code
# read it here, and are left out where it is not known.
PROGRAM: ContextVar = ContextVar("program", default=None)

MAX_BATCHES = 100_000  # a data iterator that yields more than this is treated as endless


def shape_of(x: Any) -> str:
    """How an argument is shown in a call's description: shapes, not values.

    ``(5, 2)`` for a tensor, ``3 batches (X (32, 1, 4, 4), y (32,) first)`` for a list of
    batches, ``nn.Sequential`` or ``a model (Recorder)`` for a module, ``a function``.
    """
    if isinstance(x, torch.Tensor):
        return f"{tuple(x.shape)}"
    if isinstance(x, (bool, int, float, str)):
        return repr(x)
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)) \
            and all(isinstance(t, torch.Tensor) for t in x[0]) and len(x[0]) == 2:
        X, y = x[0]
        return f"{len(x)} batches (X {tuple(X.shape)}, y {tuple(y.shape)} first)"
    if isinstance(x, (list, tuple)):
        return f"a {type(x).__name__} of {len(x)}"
    return _kind_of(x)


def _kind_of(x: Any) -> str:
    """What ``x`` is, in the student's words: the grader's own objects (a recording model,
    the training data) are described, never named — their classes are nowhere in the notebook."""
    name = type(x).__name__.lstrip("_")
    ours = type(x).__module__.split(".")[0] in ("autograder", "course", "tests")
    if isinstance(x, torch.nn.Module):
        if type(x).__module__.startswith("torch.nn"):
            return f"nn.{name}"
        return "an nn.Module" if ours else f"a model ({name})"
    if isinstance(x, torch.optim.Optimizer):
        if ours:  # named by the torch class it extends
            name = next(c.__name__ for c in type(x).__mro__ if c.__module__.startswith("torch"))
        return f"an optimizer ({name})"
    if callable(x) and hasattr(x, "__code__"):
        return "a function"
    if ours:
        return "batches" if hasattr(x, "__iter__") else ("a callable" if callable(x) else "an object")
    return name


def call(ctx: Context, ns: dict, name: str, *args, **kwargs) -> Any:
    """Call the student's ``name(*args, **kwargs)``, recording the call for messages."""
    parts = [shape_of(a) for a in args] + [f"{k}={shape_of(v)}" for k, v in kwargs.items()]
    ctx.call = f"{name}({', '.join(parts)})"
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"name '{name}' is not defined")
    return fn(*args, **kwargs)


def take(iterable: Iterable, limit: int = MAX_BATCHES) -> list:
    """Materialise an iterator, refusing one that does not end."""
    out = []
    for item in iterable:
        out.append(item)
        if len(out) > limit:
            raise RuntimeError(f"the iterator yielded more than {limit} items; does it end?")
    return out


def to_device(ctx: Context, *tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.to(ctx.device) for t in tensors]


def randn(gen: torch.Generator, *shape: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=dtype)


def probe_each(cases_key: str, fn: Callable[[dict, dict, Context], Any]):
    """A probe that runs ``fn(ns, case, ctx)`` for each case in ``inputs[cases_key]``."""
    def probe(ns: dict, inputs: dict, ctx: Context) -> dict:
        return {"results": [fn(ns, case, ctx) for case in inputs[cases_key]]}
    return probe


def student_calls(function: str, name: str, **kwargs) -> bool:
    """Whether the student's cell ``function`` calls ``name`` (``course.selfcheck.calls``'s
    arguments): established from its syntax tree; False when the code is not known."""
    program = PROGRAM.get()
    src = program.source_of(function) if program is not None else None
    return bool(src) and calls(src, name, **kwargs)
