"""Pieces that check modules share: calling student functions and describing calls."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from autograder.spec import Context

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
    name = type(x).__name__.lstrip("_")
    if isinstance(x, torch.nn.Module):
        return f"nn.{name}" if type(x).__module__.startswith("torch.nn") else f"a model ({name})"
    if isinstance(x, torch.optim.Optimizer):
        return f"an optimizer ({name})"
    return "a function" if callable(x) and hasattr(x, "__code__") else name


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
