"""Small comparison helpers for checks: each raises CheckFailed with an actionable message."""
from __future__ import annotations

from typing import Any

import torch

from autograder.spec import CheckFailed
from course.selfcheck import shape_hint  # the same hints where students see them
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireObject, WireTensor

_OK_TYPES = ("Tensor", "Parameter")


def describe(value: Any) -> str:
    """A short description of a returned value: type, shape, dtype, device, a few numbers."""
    if isinstance(value, WireTensor):
        where = "" if value.device.startswith("cpu") else f", device={value.device}"
        return (f"a tensor of shape {value.shape}, dtype {str(value.dtype).replace('torch.', '')}"
                f"{where}: {preview(value.values)}")
    if isinstance(value, WireObject):
        return f"a {value.type_name} ({value.text[:80]})"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"{type(value).__name__} {value!r}"[:120]


def preview(t: torch.Tensor, n: int = 4) -> str:
    """The first few values of a tensor, for messages."""
    flat = t.flatten()
    if t.is_floating_point():
        body = ", ".join(f"{v:.4g}" for v in flat[:n].tolist())
    else:
        body = ", ".join(str(v) for v in flat[:n].tolist())
    return "[" + body + (", …]" if flat.numel() > n else "]")


def expect_tensor(got: Any, want: WireTensor, what: str, tol: Tolerance,
                  check_dtype: bool = True, check_device: bool = True) -> None:
    """Compare a returned tensor with the reference's: type, shape, dtype, device, values.

    Args:
        got: what the student's code returned (after the wire).
        want: what the reference returned for the same call.
        what: the call, e.g. ``"linreg(X (5, 2), w (2, 1), b (1,))"``.
        tol: the named tolerance used for the values.
    """
    if not isinstance(got, WireTensor):
        raise CheckFailed(f"{what} returned {describe(got)}; expected a tensor of shape {want.shape}")
    if got.type_name not in _OK_TYPES:
        raise CheckFailed(f"{what} returned a {got.type_name}, a subclass of Tensor; "
                          "return a plain torch.Tensor")
    if got.shape != want.shape:
        hint = shape_hint(got.shape, want.shape)
        raise CheckFailed(f"{what} returned shape {got.shape}; expected {want.shape}{hint}")
    if check_dtype and got.dtype != want.dtype:
        raise CheckFailed(f"{what} returned dtype {got.dtype}; expected {want.dtype}")
    if check_device and got.device.split(":")[0] != want.device.split(":")[0]:
        raise CheckFailed(f"{what} returned a tensor on {got.device}; expected it on "
                          f"{want.device.split(':')[0]}, the device of the inputs")
    expect_values(got.values, want.values, what, tol)


def expect_values(got: torch.Tensor, want: torch.Tensor, what: str, tol: Tolerance) -> None:
    """Compare values only, with the named tolerance: everywhere ``|got - want| <= atol +
    rtol * |want|``, infinities equal, nan where the reference has nan — the rule of
    ``torch.testing.assert_close`` (``torch.isclose``), whose first call imports
    ``torch.distributed.tensor`` (0.6 s of every grading run, and its memory)."""
    g, w = got.detach().cpu(), want.detach().cpu()
    if g.shape != w.shape:
        raise CheckFailed(f"{what} returned shape {tuple(g.shape)}; expected {tuple(w.shape)}")
    if g.is_floating_point() and not torch.isfinite(g).all() and torch.isfinite(w).all():
        raise CheckFailed(f"{what} returned non-finite values (nan or inf): {preview(g)}; "
                          f"expected {preview(w)}")
    g = g.to(w.dtype) if g.dtype != w.dtype else g
    if not bool(torch.isclose(g, w, rtol=tol.rtol, atol=tol.atol, equal_nan=True).all()):
        diff = (g.double() - w.double()).abs() if not w.is_complex() else (g - w).abs()
        worst = diff.nan_to_num(nan=float("inf")).max().item() if diff.numel() else 0.0
        raise CheckFailed(f"{what} returned {preview(g)}; expected {preview(w)} "
                          f"(largest difference {worst:.3g}, tolerance '{tol.name}': "
                          f"rtol={tol.rtol:g}, atol={tol.atol:g})")


def expect_number(got: Any, want: float, what: str, tol: Tolerance) -> None:
    """Compare a returned Python number (or a one-element tensor) with the reference's."""
    if isinstance(got, WireTensor) and got.values.numel() == 1:
        got = got.values.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise CheckFailed(f"{what} returned {describe(got)}; expected a number like {want:.6g}")
    if not abs(got - want) <= tol.atol + tol.rtol * abs(want):
        raise CheckFailed(f"{what} returned {got:.6g}; expected {want:.6g} "
                          f"(tolerance '{tol.name}')")
