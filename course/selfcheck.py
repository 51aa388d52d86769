"""Visible self-checks: the test cell after each exercise (every chapter).

They run where students are — a released chapter with no solutions anywhere — so they
check known answers and properties, and say in plain words what to fix::

    with SelfCheck("linreg") as check:
        check.shape(linreg(X, w, b), (4, 1), "linreg(X, w, b) with X (4, 2), w (2, 1)")
"""
from __future__ import annotations

import math

import torch


class SelfCheck:
    """Collects the results of one exercise's self-checks and reports them together.

    Args:
        name: the exercise (the function the student writes).
    """

    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failures: list[str] = []

    def __enter__(self) -> "SelfCheck":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is NotImplementedError:
            raise AssertionError(
                f"{self.name} is not written yet: replace `raise NotImplementedError()` "
                "in its cell with your code, run that cell, then run this one again.") from None
        if exc_type is not None and not issubclass(exc_type, AssertionError):
            raise AssertionError(
                f"{self.name} raised {exc_type.__name__}: {exc}") from exc
        if exc_type is not None:
            self.failures.append(str(exc))
        if self.failures:
            lines = "\n".join(f"  ✗ {msg}" for msg in self.failures)
            raise AssertionError(
                f"{self.name}: {len(self.failures)} self-check(s) failed, "
                f"{self.passed} passed:\n{lines}") from None
        print(f"✓ {self.name}: all {self.passed} self-checks passed.")
        return False

    def that(self, condition: bool, message: str) -> bool:
        """Record one check: passes when ``condition`` holds, else reports ``message``."""
        if condition:
            self.passed += 1
        else:
            self.failures.append(message)
        return bool(condition)

    def tensor(self, value, what: str) -> bool:
        """Check that ``value`` is a torch tensor."""
        return self.that(isinstance(value, torch.Tensor),
                         f"{what} should be a torch.Tensor, got {type(value).__name__}")

    def shape(self, value, shape: tuple, what: str) -> bool:
        """Check a tensor's shape, e.g. ``(n, 1)`` and not ``(n,)``."""
        if not self.tensor(value, what):
            return False
        return self.that(tuple(value.shape) == tuple(shape),
                         f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")

    def close(self, actual, expected, what: str, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
        """Check values (tensors or numbers) agree within tolerances."""
        if isinstance(expected, torch.Tensor):
            if not self.tensor(actual, what):
                return False
            if tuple(actual.shape) != tuple(expected.shape):
                return self.that(False, f"{what} should have shape {tuple(expected.shape)}, "
                                        f"got {tuple(actual.shape)}")
            a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
            ok = torch.allclose(a, e, rtol=rtol, atol=atol, equal_nan=False)
            worst = (a - e).abs().max().item() if a.numel() else 0.0
            return self.that(ok, f"{what}: expected {_short(e)}, got {_short(a)} "
                                 f"(largest difference {worst:.3g})")
        try:
            a = float(actual)
        except (TypeError, ValueError):
            return self.that(False, f"{what} should be a number, got {type(actual).__name__}")
        ok = math.isclose(a, float(expected), rel_tol=rtol, abs_tol=atol)
        return self.that(ok, f"{what}: expected {float(expected):.6g}, got {a:.6g}")


def _short(t: torch.Tensor) -> str:
    flat = t.flatten()
    body = ", ".join(f"{v:.4g}" for v in flat[:6].tolist())
    more = ", …" if flat.numel() > 6 else ""
    return f"tensor([{body}{more}]) of shape {tuple(t.shape)}"
