"""Checks for chapter 04, gradient descent by hand in NumPy.

Inputs are NumPy arrays of shape (n, 2) (column 0: x, column 1: y) drawn in the parent;
random generators are built inside the probes from ``ctx.seed``, so the student's run and
the reference's draw the same permutations.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from autograder.checks.common import call
from autograder.compare import describe
from autograder.policy import forbid_modules
from autograder.spec import Check, CheckFailed, Exercise
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor

CHAPTER = "04_gradient_descent_numpy"
NO_TORCH = "NumPy only (no torch)"


def _points(gen: torch.Generator, n: int, scale: str) -> np.ndarray:
    """Points (n, 2) on a noisy line: 'unit' (x ~ N(0, 1)) or 'chapter' (x in [20, 70])."""
    u = torch.rand(n, generator=gen, dtype=torch.float64)
    e = torch.randn(n, generator=gen, dtype=torch.float64)
    if scale == "chapter":
        x = 20 + 50 * u
        y = 1.4 * x + 10 + 8 * e
    else:
        x = torch.randn(n, generator=gen, dtype=torch.float64)
        y = 2.0 * x - 1.0 + 0.5 * e
    return torch.stack([x, y], 1).numpy()


def _what(name: str, case: dict, *extra: str) -> str:
    args = [f"w={case['w']:.4g}", f"b={case['b']:.4g}"] if "w" in case else []
    args = [f"points of shape {case['points'].shape}"] + [*args, *extra]
    return f"{name}({', '.join(args)})"


def _number(got, what: str) -> float:
    """A returned number as a float: Python numbers, NumPy scalars and 0-d arrays."""
    if isinstance(got, np.ndarray) and got.size == 1 and got.ndim == 0:
        got = got.item()
    if isinstance(got, WireTensor):
        raise CheckFailed(f"{what} returned a torch tensor; this chapter is NumPy only — return a float")
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        shape = f" of shape {got.shape}" if isinstance(got, np.ndarray) else ""
        raise CheckFailed(f"{what} returned {describe(got)}{shape}; expected a single number "
                          "(average over the examples and return a float)")
    return float(got)


def _close(a: float, b: float, tol: Tolerance) -> bool:
    return math.isfinite(a) and abs(a - b) <= tol.atol + tol.rtol * abs(b)


def _loss_of(w, b, points):
    return float(np.mean((w * points[:, 0] + b - points[:, 1]) ** 2))


# -- compute_loss ----------------------------------------------------------------------
def _loss_inputs(gen):
    cases = []
    for n, scale in ((30, "unit"), (1, "unit"), (7, "chapter"), (100, "chapter")):
        w, b = (torch.randn(2, generator=gen, dtype=torch.float64) * 2).tolist()
        cases.append({"points": _points(gen, n, scale), "w": w, "b": b})
    return {"cases": cases}


def _loss_probe(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "compute_loss", c["w"], c["b"], c["points"].copy())
                        for c in inputs["cases"]]}


def _loss_hint(got: float, case: dict) -> str:
    p, w, b = case["points"], case["w"], case["b"]
    r = w * p[:, 0] + b - p[:, 1]
    slips = {"the sum of the squared errors; divide by n (use the mean)": float(np.sum(r ** 2)),
             "half the mean squared error; this chapter's loss has no ½": float(np.mean(r ** 2) / 2),
             "the root of the mean squared error; do not take the square root":
                 float(np.sqrt(np.mean(r ** 2))),
             "the columns swapped; x is points[:, 0] and y is points[:, 1]":
                 _loss_of(w, b, p[:, ::-1])}
    for name, value in slips.items():
        if len(p) > 1 and abs(got - value) <= 1e-6 * max(1.0, abs(value)):
            return f" — it looks like {name}"
    return ""


def _cmp_loss(got, want, inputs, tol):
    for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("compute_loss", case)
        value, ref = _number(g, what), float(r)
        if not _close(value, ref, tol):
            raise CheckFailed(f"{what} returned {value:.6g}; expected {ref:.6g}, the mean of "
                              f"(w·x + b - y)²{_loss_hint(value, case)}")


# -- mse_grad --------------------------------------------------------------------------
def _grad_inputs(gen):
    cases = []
    for n, scale in ((25, "unit"), (1, "unit"), (8, "unit"), (50, "chapter")):
        w, b = torch.randn(2, generator=gen, dtype=torch.float64).tolist()
        cases.append({"points": _points(gen, n, scale), "w": w, "b": b})
    return {"cases": cases}


def _grad_probe(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "mse_grad", c["w"], c["b"], c["points"].copy())
                        for c in inputs["cases"]]}


def _pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}; expected a pair (dw, db)")
    return _number(result[0], f"{what}[0] (dw)"), _number(result[1], f"{what}[1] (db)")


def _grad_hint(dw: float, db: float, case: dict) -> str:
    p, w, b = case["points"], case["w"], case["b"]
    x, y = p[:, 0], p[:, 1]
    n = len(p)
    r = w * x + b - y
    true_dw, true_db = 2 * np.mean(r * x), 2 * np.mean(r)

    def same(a, c):
        return abs(a - c) <= 1e-6 * max(1.0, abs(c))
    if n > 1:
        for k, where in ((-1, "last"), (0, "first")):
            for scale in (2 / n, 2, 1 / n, 1):
                if same(dw, scale * r[k] * x[k]) and same(db, scale * r[k]):
                    return (f" — it is the {where} example's term alone: inside the loop over the "
                            "examples the gradient is assigned (`dw = ...`) and so overwritten each "
                            "time; accumulate it (`dw += ...`, starting from 0) or use np.mean")
    slips = {"the gradient of the summed squared error; divide by n (use the mean)": n,
             "missing the factor 2 (this chapter's loss has no ½, so d/dr r² = 2r)": 0.5,
             "the gradient of the loss with the wrong sign; d/dw (w·x + b - y)² = 2 (w·x + b - y) x": -1}
    for name, factor in slips.items():
        if (n > 1 or factor != n) and same(dw, factor * true_dw) and same(db, factor * true_db):
            return f" — it looks like {name}"
    if same(dw, true_db) and same(db, true_dw):
        return " — dw and db are swapped; return (dw, db)"
    return ""


def _cmp_grad_reference(got, want, inputs, tol):
    for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("mse_grad", case)
        dw, db = _pair(g, what)
        rw, rb = r
        if not (_close(dw, rw, tol) and _close(db, rb, tol)):
            raise CheckFailed(f"{what} returned (dw, db) = ({dw:.6g}, {db:.6g}); expected "
                              f"({rw:.6g}, {rb:.6g}){_grad_hint(dw, db, case)}")


def _cmp_grad_fd(got, want, inputs, tol):
    h = 1e-5
    for case, g in zip(inputs["cases"], got["results"]):
        if case["points"][:, 0].std() > 5:  # finite differences on the well-scaled cases only
            continue
        what = _what("mse_grad", case)
        dw, db = _pair(g, what)
        p, w, b = case["points"], case["w"], case["b"]
        fd_w = (_loss_of(w + h, b, p) - _loss_of(w - h, b, p)) / (2 * h)
        fd_b = (_loss_of(w, b + h, p) - _loss_of(w, b - h, p)) / (2 * h)
        if not (_close(dw, fd_w, tol) and _close(db, fd_b, tol)):
            raise CheckFailed(f"{what} returned (dw, db) = ({dw:.6g}, {db:.6g}), but central finite "
                              f"differences of the mean squared error (h = {h:g}, float64) give "
                              f"({fd_w:.6g}, {fd_b:.6g}){_grad_hint(dw, db, case)}")


# -- gradient_descent and minibatch_sgd --------------------------------------------------
def _gd_inputs(gen):
    return {"cases": [
        {"points": _points(gen, 40, "unit"), "w0": 0.5, "b0": -0.5, "lr": 0.1, "num_iters": 40},
        {"points": _points(gen, 30, "chapter"), "w0": 0.0, "b0": 0.0, "lr": 1e-4, "num_iters": 25},
        {"points": _points(gen, 10, "unit"), "w0": -1.0, "b0": 2.0, "lr": 0.05, "num_iters": 1},
    ]}


def _helpers_at_start(ns, case):
    """What the student's compute_loss and mse_grad give at (w0, b0), for hints; None if they fail."""
    out = {}
    for name in ("compute_loss", "mse_grad"):
        try:
            out[name] = ns[name](case["w0"], case["b0"], case["points"].copy())
        except Exception:  # noqa: BLE001  their own checks report it
            out[name] = None
    return out


def _gd_probe(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "gradient_descent", c["points"].copy(), c["w0"], c["b0"],
                             c["lr"], c["num_iters"]) for c in inputs["cases"]],
            "helpers": _helpers_at_start(ns, inputs["cases"][0])}


def _sgd_inputs(gen):
    return {"cases": [
        {"points": _points(gen, 50, "unit"), "w0": 0.0, "b0": 0.0, "lr": 0.05, "batch_size": 8,
         "num_epochs": 3},
        {"points": _points(gen, 20, "unit"), "w0": 1.0, "b0": 1.0, "lr": 0.1, "batch_size": 20,
         "num_epochs": 2},
        {"points": _points(gen, 12, "unit"), "w0": -0.5, "b0": 0.5, "lr": 0.02, "batch_size": 1,
         "num_epochs": 2},
        {"points": _points(gen, 30, "chapter"), "w0": 0.0, "b0": 0.0, "lr": 1e-4, "batch_size": 7,
         "num_epochs": 2},
    ]}


def _sgd_probe(ns, inputs, ctx):
    out = []
    for k, c in enumerate(inputs["cases"]):
        rng = np.random.default_rng(ctx.seed + k)
        out.append(call(ctx, ns, "minibatch_sgd", c["points"].copy(), c["w0"], c["b0"], c["lr"],
                        c["batch_size"], c["num_epochs"], rng))
    return {"results": out, "helpers": _helpers_at_start(ns, inputs["cases"][0])}


def _gd_what(case: dict) -> str:
    return (f"gradient_descent(points of shape {case['points'].shape}, w0={case['w0']}, "
            f"b0={case['b0']}, lr={case['lr']:g}, num_iters={case['num_iters']})")


def _sgd_what(case: dict) -> str:
    return (f"minibatch_sgd(points of shape {case['points'].shape}, w0={case['w0']}, b0={case['b0']}, "
            f"lr={case['lr']:g}, batch_size={case['batch_size']}, num_epochs={case['num_epochs']}, rng)")


def _triple(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise CheckFailed(f"{what} returned {describe(result)}; expected a triple (w, b, losses)")
    return result


def _series(losses, what) -> np.ndarray:
    if isinstance(losses, np.ndarray) and losses.ndim == 1:
        values = losses.astype(float)
    elif isinstance(losses, (list, tuple)):
        values = np.array([_number(v, f"{what}: an item of losses") for v in losses], dtype=float)
    else:
        raise CheckFailed(f"{what} returned losses as {describe(losses)}; expected a list of floats")
    return values


def _cmp_losses(mine: np.ndarray, ref: np.ndarray, what: str, tol: Tolerance, per: str) -> None:
    if len(mine) != len(ref):
        hint = ""
        if len(mine) == len(ref) + 1:
            hint = " — one too many: record the loss before each step only, not after the last"
        raise CheckFailed(f"{what} returned {len(mine)} losses; expected {len(ref)}, one per "
                          f"{per}{hint}")
    bad = [t for t, (a, b) in enumerate(zip(mine, ref)) if not _close(float(a), float(b), tol)]
    if bad:
        t = bad[0]
        hint = ""
        if len(ref) > 2 and np.allclose(mine[:-1], ref[1:], rtol=1e-6):
            hint = (" — your losses are shifted by one step: record the loss *before* each update, "
                    "so losses[0] is the loss at (w0, b0)")
        elif t == 0 and per == "iteration":
            hint = " — already the first loss differs: it must be compute_loss(w0, b0, points)"
        elif t == 0:
            hint = (" — already the first loss differs: it is compute_loss(w0, b0, points[order[:batch_size]]) "
                    "with order = rng.permutation(n), drawn before anything else from rng")
        elif per == "minibatch step":
            hint = (" — take each epoch's order from one call of rng.permutation(n), draw nothing "
                    "else from rng, and record each minibatch's loss before its step")
        raise CheckFailed(f"{what}: losses[{t}] is {mine[t]:.6g}; expected {ref[t]:.6g} "
                          f"(first {min(4, len(ref))} expected: {np.round(ref[:4], 4).tolist()}, "
                          f"got {np.round(mine[:4], 4).tolist()}){hint}")


def _helpers_hint(got: dict, want: dict, tol: Tolerance) -> str:
    """A note when the student's compute_loss or mse_grad, which training builds on, is wrong."""
    wrong = []
    for name in ("compute_loss", "mse_grad"):
        g, r = (got.get("helpers") or {}).get(name), want["helpers"][name]
        mine = g if isinstance(g, (list, tuple)) else [g]
        ref = r if isinstance(r, (list, tuple)) else [r]
        try:
            same = len(mine) == len(ref) and all(_close(float(a), float(b), tol) for a, b in zip(mine, ref))
        except (TypeError, ValueError):
            same = False
        if not same:
            wrong.append(name)
    if not wrong:
        return ""
    one = len(wrong) == 1
    return (f" (note: your {' and '.join(wrong)} already give{'s' if one else ''} a wrong answer at "
            f"(w0, b0), and training builds on {'it' if one else 'them'}: fix {'it' if one else 'them'} first)")


def _sequential_losses(case: dict) -> np.ndarray:
    """The losses of gradient descent that updates b with the gradient at the *new* w (a slip)."""
    p, w, b, losses = case["points"], case["w0"], case["b0"], []
    x, y = p[:, 0], p[:, 1]
    for _ in range(case["num_iters"]):
        losses.append(_loss_of(w, b, p))
        w = w - case["lr"] * 2 * np.mean((w * x + b - y) * x)
        b = b - case["lr"] * 2 * np.mean(w * x + b - y)
    return np.array(losses)


def _cmp_trajectory(per, what_of):
    def compare(got, want, inputs, tol):
        for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
            what = what_of(case)
            _, _, losses = _triple(g, what)
            mine = _series(losses, what)
            try:
                _cmp_losses(mine, _series(r[2], what), what, tol, per)
            except CheckFailed as e:
                hint = _helpers_hint(got, want, tol)
                if per == "iteration" and len(mine) == case["num_iters"] > 1 and \
                        np.allclose(mine, _sequential_losses(case), rtol=1e-6):
                    hint = (" — b was updated with the gradient at the new w; compute dw and db at the "
                            "same old (w, b) first, then update both")
                raise CheckFailed(str(e) + hint) from None
    return compare


def _cmp_final(got, want, inputs, tol, what_of):
    for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
        what = what_of(case)
        w, b, _ = _triple(g, what)
        w, b = _number(w, f"{what}: w"), _number(b, f"{what}: b")
        if not (_close(w, float(r[0]), tol) and _close(b, float(r[1]), tol)):
            raise CheckFailed(f"{what} ended at (w, b) = ({w:.6g}, {b:.6g}); expected "
                              f"({float(r[0]):.6g}, {float(r[1]):.6g})" + _helpers_hint(got, want, tol))


def _cmp_gd_final(got, want, inputs, tol):
    _cmp_final(got, want, inputs, tol, _gd_what)


def _cmp_sgd_final(got, want, inputs, tol):
    _cmp_final(got, want, inputs, tol, _sgd_what)


def _cmp_sgd_trajectory(got, want, inputs, tol):
    _cmp_trajectory("minibatch step", _sgd_what)(got, want, inputs, tol)


def _cmp_gd_trajectory(got, want, inputs, tol):
    _cmp_trajectory("iteration", _gd_what)(got, want, inputs, tol)


EXERCISES = [
    Exercise("compute_loss", (
        Check("values", 1.5, "the mean of (w·x + b - y)² over the points, as a float",
              make_inputs=_loss_inputs, probe=_loss_probe, compare=_cmp_loss, tolerance="float64"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    )),
    Exercise("mse_grad", (
        Check("finite_differences", 1, "(dw, db) agree with central finite differences in float64",
              kind="gradient", make_inputs=_grad_inputs, probe=_grad_probe, compare=_cmp_grad_fd,
              tolerance="float64"),
        Check("values", 1.5, "(dw, db) = (2·mean(r·x), 2·mean(r)) with r = w·x + b - y",
              make_inputs=_grad_inputs, probe=_grad_probe, compare=_cmp_grad_reference,
              tolerance="float64"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    )),
    Exercise("gradient_descent", (
        Check("trajectory", 1.5, "the losses before each step follow the reference's",
              kind="training", make_inputs=_gd_inputs, probe=_gd_probe, compare=_cmp_gd_trajectory,
              tolerance="trajectory"),
        Check("final_parameters", 1, "the final w and b match the reference's",
              kind="training", make_inputs=_gd_inputs, probe=_gd_probe,
              compare=_cmp_gd_final, tolerance="trajectory"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    ), uses=("compute_loss", "mse_grad")),
    Exercise("minibatch_sgd", (
        Check("trajectory", 1.5, "the minibatch losses follow the reference's, with one "
              "rng.permutation(n) per epoch", kind="training", make_inputs=_sgd_inputs,
              probe=_sgd_probe, compare=_cmp_sgd_trajectory, tolerance="trajectory"),
        Check("final_parameters", 1, "the final w and b match the reference's",
              kind="training", make_inputs=_sgd_inputs, probe=_sgd_probe,
              compare=_cmp_sgd_final, tolerance="trajectory"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    ), uses=("compute_loss", "mse_grad")),
]
