"""Pieces that check modules share: calling student functions and describing calls."""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch

from autograder.spec import Context

MAX_BATCHES = 100_000  # a data iterator that yields more than this is treated as endless


def shape_of(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{tuple(x.shape)}"
    return repr(x) if isinstance(x, (int, float, str)) else type(x).__name__


def call(ctx: Context, ns: dict, name: str, *args, **kwargs) -> Any:
    """Call the student's ``name(*args, **kwargs)``, recording the call for messages."""
    parts = [shape_of(a) for a in args] + [f"{k}={shape_of(v)}" for k, v in kwargs.items()]
    ctx.call = f"{name}({', '.join(parts)})"
    fn = ns.get(name)
    if fn is None:
        raise NameError(f"{name} is not defined")
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
