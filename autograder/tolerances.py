"""Named tolerances, per device. Every comparison in a check names one of these.

``rtol``/``atol`` as in :func:`torch.testing.assert_close`. Why each is what it is:

* ``exact`` — integer results, indices, shapes: no slack.
* ``value`` — one float32 computation against another written differently (``a/b*c`` vs
  ``a*c/b``): a few ulps of float32 on CPU; CUDA kernels reduce in another order, and
  TF32 may be on, so ten times looser there.
* ``grad`` — gradients through a few operations: as ``value``, a little looser.
* ``float64`` — float64 numerics such as finite differences against an analytic gradient.
* ``trajectory`` — a loss or parameter after hundreds of SGD steps: rounding differences
  grow with the steps, so relative 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """A named pair of tolerances for one device type."""
    name: str
    rtol: float
    atol: float


TOLERANCES: dict[str, dict[str, tuple[float, float]]] = {
    "exact": {"cpu": (0.0, 0.0), "cuda": (0.0, 0.0)},
    "value": {"cpu": (1e-5, 1e-6), "cuda": (1e-4, 1e-5)},
    "grad": {"cpu": (1e-4, 1e-5), "cuda": (1e-3, 1e-4)},
    "float64": {"cpu": (1e-6, 1e-7), "cuda": (1e-6, 1e-7)},
    "trajectory": {"cpu": (1e-3, 1e-4), "cuda": (1e-2, 1e-3)},
}


def tolerance(name: str, device_type: str) -> Tolerance:
    """The tolerance ``name`` for ``device_type`` (``"cpu"`` or ``"cuda"``)."""
    rtol, atol = TOLERANCES[name]["cuda" if device_type == "cuda" else "cpu"]
    return Tolerance(name, rtol, atol)


def table() -> dict:
    """All tolerances, for results.json."""
    return {k: {d: {"rtol": r, "atol": a} for d, (r, a) in v.items()} for k, v in TOLERANCES.items()}
