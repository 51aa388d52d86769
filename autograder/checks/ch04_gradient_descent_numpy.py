"""Checks for chapter 04, gradient descent by hand in NumPy.

Inputs are NumPy arrays of shape (n, 2) (column 0: x, column 1: y) drawn in the parent;
random generators are built inside the probes from ``ctx.seed``, so the student's run and
the reference's draw the same permutations.

``uses_helpers`` runs ``gradient_descent`` and ``minibatch_sgd`` with ``compute_loss`` and
``mse_grad`` replaced by another loss (:func:`_bowl_loss`), so it judges the loop alone,
whatever the student's helpers do, and proves that the loop calls them.

Training checks: band rule and calibration
------------------------------------------
Both training exercises are deterministic: the reference and the student run from the same
``(w0, b0)`` on the same points, and ``minibatch_sgd`` draws its permutations from a
``np.random.default_rng`` seeded alike. So the band around each reference loss and final
parameter is the named tolerance ``trajectory`` (relative 1e-3, absolute 1e-4), and the
rule is: *the band must lie at least 1000 times outside the largest deviation of any
correct implementation, and every realistic bug must fall outside it*.
``tests/test_chapter_04.py::test_training_checks_calibrated`` measures it on every run with
the corpora of that test (variants that differ from the reference in legitimate ways:
operation order, NumPy spellings of the same permutation and slices, in-place updates, an
extended-precision accumulator, losses as an array...; and realistic bugs):

=====================================  ========  ================  ====  ======
check                                  variants  false rejections  bugs  caught
=====================================  ========  ================  ====  ======
gradient_descent / trajectory                22                 0    24      24
gradient_descent / final_parameters          22                 0    22      22
minibatch_sgd / trajectory                   22                 0    24      24
minibatch_sgd / final_parameters             22                 0    22      22
=====================================  ========  ================  ====  ======

(:data:`CALIBRATION` holds the same figures; the test fails when they change.) A bug counts
for the checks that look at what it changes: returning (b, w) leaves the losses right, and
recording each loss after its step leaves the final (w, b) right. The largest relative
deviation of a correct variant from the reference was 1.3e-15, a million times inside the band.
"""
from __future__ import annotations

import math
import types

import numpy as np
import torch

from autograder.checks.common import call
from autograder.compare import describe
from autograder.policy import forbid_loops, forbid_modules
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor

CHAPTER = "04_gradient_descent_numpy"
NO_TORCH = "NumPy only (no torch)"
HELPERS = ("compute_loss", "mse_grad")
_ABSENT = object()


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
    """A returned number as a float: Python and NumPy numbers, and NumPy arrays of one element."""
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "fiu":
        got = got.item()
    if isinstance(got, WireTensor):
        raise CheckFailed(f"{what} returned a torch tensor; this chapter is NumPy only — return a float")
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        shape = f" of shape {got.shape}" if isinstance(got, np.ndarray) else ""
        raise CheckFailed(f"{what} returned {describe(got)}{shape}; expected a single number "
                          "(average over the examples and return a float)")
    return float(got)


def _not_a_float(got) -> str:
    """How a returned value falls short of a Python float ("" when it is one)."""
    if isinstance(got, float):  # NumPy's float64 arrives as a float: it is one
        return ""
    if isinstance(got, np.ndarray):
        return f"a NumPy array of shape {got.shape}"
    return describe(got)


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


def _cmp_python_float(name: str):
    """The compare of "returned as a Python float" for ``name``'s results."""
    def compare(got, want, inputs, tol):
        for case, g in zip(inputs["cases"], got["results"]):
            wrong = _not_a_float(g)
            if wrong:
                raise CheckFailed(f"{_what(name, case)} returned {wrong}; the exercise asks "
                                  "for a Python float: wrap the result in float(...)")
    return compare


_cmp_loss_float = _cmp_python_float("compute_loss")


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
    """(dw, db) from a returned pair: a tuple or list of two numbers, or an array of two."""
    if isinstance(result, np.ndarray) and result.size == 2:
        result = result.reshape(-1).tolist()
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


def _cmp_grad_floats(got, want, inputs, tol):
    for case, g in zip(inputs["cases"], got["results"]):
        what = _what("mse_grad", case)
        if not isinstance(g, (tuple, list)) or len(g) != 2:
            raise CheckFailed(f"{what} returned {_not_a_float(g)}; the exercise asks for the pair "
                              "(dw, db) of two floats: return float(...), float(...)")
        wrong = [f"{name} is {_not_a_float(v)}" for name, v in zip(("dw", "db"), g) if _not_a_float(v)]
        if wrong:
            raise CheckFailed(f"{what} returned a pair whose {' and '.join(wrong)}; the exercise "
                              "asks for two floats: wrap each in float(...)")


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
    for name in HELPERS:
        try:
            out[name] = ns[name](case["w0"], case["b0"], case["points"].copy())
        except Exception:  # noqa: BLE001  their own checks report it
            out[name] = None
    return out


def _gd_args(case: dict) -> tuple:
    return case["points"].copy(), case["w0"], case["b0"], case["lr"], case["num_iters"]


def _sgd_args(case: dict, rng) -> tuple:
    return (case["points"].copy(), case["w0"], case["b0"], case["lr"], case["batch_size"],
            case["num_epochs"], rng)


def _gd_probe(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "gradient_descent", *_gd_args(c)) for c in inputs["cases"]],
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
    out = [call(ctx, ns, "minibatch_sgd", *_sgd_args(c, np.random.default_rng(ctx.seed + k)))
           for k, c in enumerate(inputs["cases"])]
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


def _cmp_losses(mine: np.ndarray, ref: np.ndarray, what: str, tol: Tolerance, per: str,
                per_epoch: int = 0) -> None:
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
        elif per_epoch and t % per_epoch == 0:
            hint = (f" — the steps before it are right, and this is the first step of epoch "
                    f"{t // per_epoch + 1}: draw a new order with one rng.permutation(n) at the "
                    "start of every epoch, and nothing else from rng")
        elif per == "minibatch step":
            hint = (" — the first minibatch's loss is right, so the first order is: check the "
                    "step (mse_grad on that same minibatch, w and b both from the same old values, "
                    "times lr) and that the minibatches are consecutive slices of the order")
        off = abs(float(mine[t]) - float(ref[t])) / max(abs(float(ref[t])), 1e-12)
        raise CheckFailed(f"{what}: losses[{t}] is {mine[t]:.6g}; expected {ref[t]:.6g} (off by "
                          f"{off:.2g} relative, the band is {tol.rtol:g}; first {min(4, len(ref))} "
                          f"expected: {np.round(ref[:4], 4).tolist()}, got "
                          f"{np.round(mine[:4], 4).tolist()}){hint}")


def _per_epoch(case: dict) -> int:
    """Minibatch steps per epoch (0 for full-batch gradient descent)."""
    return math.ceil(len(case["points"]) / case["batch_size"]) if "batch_size" in case else 0


def _helpers_hint(got: dict, want: dict, tol: Tolerance) -> str:
    """A note when the student's compute_loss or mse_grad, which training builds on, is wrong."""
    wrong = []
    for name in HELPERS:
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
                _cmp_losses(mine, _series(r[2], what), what, tol, per, _per_epoch(case))
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
                              f"({float(r[0]):.6g}, {float(r[1]):.6g}), within relative "
                              f"{tol.rtol:g}" + _helpers_hint(got, want, tol))


def _cmp_gd_final(got, want, inputs, tol):
    _cmp_final(got, want, inputs, tol, _gd_what)


def _cmp_sgd_final(got, want, inputs, tol):
    _cmp_final(got, want, inputs, tol, _sgd_what)


def _cmp_sgd_trajectory(got, want, inputs, tol):
    _cmp_trajectory("minibatch step", _sgd_what)(got, want, inputs, tol)


def _cmp_gd_trajectory(got, want, inputs, tol):
    _cmp_trajectory("iteration", _gd_what)(got, want, inputs, tol)


# -- the loops with another loss in place of the helpers ---------------------------------------
BOWL = "L(w, b) = mean((w - x)²) + mean((b - y)²) + w·b"


def _bowl_loss(w, b, points):
    """A loss that is not the MSE (its minimum is not the least-squares line), with its gradient
    below: standing in for ``compute_loss`` and ``mse_grad``, it shows what the loop does with them."""
    x, y = np.asarray(points)[:, 0], np.asarray(points)[:, 1]
    return float(np.mean((w - x) ** 2) + np.mean((b - y) ** 2) + w * b)


def _bowl_grad(w, b, points):
    x, y = np.asarray(points)[:, 0], np.asarray(points)[:, 1]
    return float(2 * np.mean(w - x) + b), float(2 * np.mean(b - y) + w)


def _with_helpers(ctx, ns, name: str, helpers: dict, *args):
    """Call ``ns[name](*args)`` with the names in ``helpers`` replaced where it looks them up,
    and count the calls to each.

    In the student's namespace (the harness, or the kernel) the names are swapped in place and
    put back, so the student's own helper functions see them too; a function of another
    namespace (the reference's, shared by the grader's threads) is called as a copy whose
    globals hold the replacements, and that namespace is never changed.
    """
    counts = dict.fromkeys(helpers, 0)

    def counting(key, fn):
        def counted(*a, **k):
            counts[key] += 1
            return fn(*a, **k)
        return counted
    counted = {key: counting(key, fn) for key, fn in helpers.items()}
    fn = ns.get(name)
    scope = getattr(fn, "__globals__", ns)
    if scope is not ns:
        patched = types.FunctionType(fn.__code__, {**scope, **counted}, fn.__name__,
                                     fn.__defaults__, fn.__closure__)
        return call(ctx, {name: patched}, name, *args), counts
    saved = {key: ns.get(key, _ABSENT) for key in counted}
    ns.update(counted)
    try:
        return call(ctx, ns, name, *args), counts
    finally:
        for key, value in saved.items():
            ns.pop(key) if value is _ABSENT else ns.__setitem__(key, value)


def _gd_bowl_probe(ns, inputs, ctx):
    case = inputs["cases"][0]
    result, counts = _with_helpers(ctx, ns, "gradient_descent",
                                   {"compute_loss": _bowl_loss, "mse_grad": _bowl_grad}, *_gd_args(case))
    return {"result": result, "counts": counts}


def _sgd_bowl_probe(ns, inputs, ctx):
    case = inputs["cases"][0]
    rng = np.random.default_rng(ctx.seed)
    result, counts = _with_helpers(ctx, ns, "minibatch_sgd",
                                   {"compute_loss": _bowl_loss, "mse_grad": _bowl_grad}, *_sgd_args(case, rng))
    return {"result": result, "counts": counts}


def _cmp_bowl(per, what_of):
    def compare(got, want, inputs, tol):
        case = inputs["cases"][0]
        what = f"{what_of(case)}, with {BOWL} as compute_loss and mse_grad"
        missing = [name for name in HELPERS if got["counts"].get(name, 0) < want["counts"][name]]
        if missing:
            calls = ", ".join(f"{n} {got['counts'].get(n, 0)} times" for n in HELPERS)
            raise CheckFailed(f"{what}: it called {calls}; expected {want['counts']['compute_loss']} "
                              f"calls of each, one per {per}. Call compute_loss and mse_grad by those "
                              "names for every step instead of computing the loss or the gradient "
                              "yourself, so that the loop works with any loss")
        w, b, losses = _triple(got["result"], what)
        _cmp_losses(_series(losses, what), _series(want["result"][2], what), what, tol, per,
                    _per_epoch(case))
        w, b = _number(w, f"{what}: w"), _number(b, f"{what}: b")
        rw, rb = float(want["result"][0]), float(want["result"][1])
        if not (_close(w, rw, tol) and _close(b, rb, tol)):
            raise CheckFailed(f"{what} ended at (w, b) = ({w:.6g}, {b:.6g}); expected ({rw:.6g}, "
                              f"{rb:.6g}): step each parameter with lr times the gradient mse_grad "
                              "returns, both at the same old (w, b), and return the last values")
    return compare


# -- max_stable_lr ---------------------------------------------------------------------
def _lr_inputs(gen):
    """Points whose x has a mean far from zero (so that the bias column changes λ_max), at
    several scales, and the chapter's own scale."""
    cases = []
    for n, scale, shift in ((20, "unit", 1.0), (3, "unit", 0.0), (50, "chapter", 0.0), (200, "unit", 3.0)):
        p = _points(gen, n, scale)
        p[:, 0] += shift
        cases.append({"points": p})
    return {"cases": cases}


def _lr_probe(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "max_stable_lr", c["points"].copy()) for c in inputs["cases"]]}


def _lr_hint(got: float, points: np.ndarray) -> str:
    """Name the common slips: the Hessian without its 2, 1/λ, no bias column, λ_min."""
    x1 = np.column_stack([points[:, 0], np.ones(len(points))])
    lams = np.linalg.eigvalsh((2 / len(points)) * x1.T @ x1)
    slips = {"2/λ_max of (1/n)·X̃ᵀX̃; the mean squared error (no ½) has Hessian (2/n)·X̃ᵀX̃": 4 / lams[-1],
             "1/λ_max; gradient descent is stable up to 2/λ_max": 1 / lams[-1],
             "2/(∂²L/∂w²) alone; include the column of ones for b and take the largest eigenvalue "
             "of the 2 × 2 Hessian": 1 / float(np.mean(points[:, 0] ** 2)),
             "2/λ_min; the steepest direction, λ_max, sets the limit": 2 / lams[0]}
    for name, value in slips.items():
        if abs(got - value) <= 1e-6 * abs(value):
            return f" — it looks like {name}"
    return ""


def _cmp_lr(got, want, inputs, tol):
    for case, g, r in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("max_stable_lr", case)
        value, ref = _number(g, what), float(r)
        if not _close(value, ref, tol):
            raise CheckFailed(f"{what} returned {value:.6g}; expected {ref:.6g}, 2/λ_max of the Hessian "
                              f"(2/n)·X̃ᵀX̃ with X̃ = [x, 1]{_lr_hint(value, case['points'])}")


_cmp_lr_float = _cmp_python_float("max_stable_lr")


REQUIREMENTS = [
    Requirement("compute_loss.mean_squared_error", "compute_loss",
                "returning L(w, b) = mean of (w·x + b - y)², without chapter 03's ½",
                ("values", "float", "vectorised", "no_torch"),  # nothing is awarded to a wrong value
                "known answers on points of a line, with hints for a sum, a ½, a root"),
    Requirement("compute_loss.float", "compute_loss", "as a Python float", ("float",),
                "isinstance(result, float)"),
    Requirement("compute_loss.no_loops", "compute_loss",
                "use NumPy's array operations, with no Python loop", ("vectorised",), "no_loops"),
    Requirement("compute_loss.no_torch", "compute_loss", "NumPy only; torch may not appear",
                ("no_torch",), "no_calls torch"),
    Requirement("mse_grad.gradient", "mse_grad",
                "the pair (dw, db) = (2/n Σ r·x, 2/n Σ r), r = w·x + b - y",
                ("finite_differences", "values", "floats", "no_torch"),
                "known answers, with hints for the last example's term alone and other slips"),
    Requirement("mse_grad.floats", "mse_grad", "the pair (dw, db) of floats", ("floats",),
                "a tuple of two floats"),
    Requirement("mse_grad.no_torch", "mse_grad", "NumPy only; torch may not appear",
                ("no_torch",), "no_calls torch"),
    Requirement("gradient_descent.same_old_parameters", "gradient_descent",
                "full-batch steps w ← w - η ∂L/∂w, b ← b - η ∂L/∂b, both at the same old (w, b)",
                ("trajectory", "final_parameters", "uses_helpers", "no_torch"),
                "known answers with a coupled quadratic in place of the helpers"),
    Requirement("gradient_descent.loss_before_step", "gradient_descent",
                "losses[t] is the loss before step t; losses[0] == compute_loss(w0, b0, points)",
                ("trajectory", "uses_helpers"), "losses[:3] against known answers"),
    Requirement("gradient_descent.num_losses", "gradient_descent",
                "losses is a list of num_iters floats; the loss after the last step is not in it",
                ("trajectory", "uses_helpers"), "len(losses) == num_iters"),
    Requirement("gradient_descent.returns_last_parameters", "gradient_descent",
                "return (w, b, losses) with w, b the parameters after the last step",
                ("final_parameters", "uses_helpers"), "(w, b) after 1 and after 200 steps"),
    Requirement("gradient_descent.uses_helpers", "gradient_descent",
                "using your compute_loss and mse_grad", ("uses_helpers",),
                "runs it with another loss in their place"),
    Requirement("gradient_descent.no_torch", "gradient_descent", "NumPy only; torch may not appear",
                ("no_torch",), "no_calls torch"),
    Requirement("max_stable_lr.two_over_lambda_max", "max_stable_lr",
                "return 2/λ_max, λ_max the largest eigenvalue of the Hessian H = (2/n)·X̃ᵀX̃ "
                "(the 2 in H and the 2 in 2/λ_max do not cancel)", ("values", "float", "no_torch"),
                "known answer for x = 0, 1, 2, 3, with hints for a missing 2, 1/λ, λ_min"),
    Requirement("max_stable_lr.both_parameters", "max_stable_lr",
                "the 2 × 2 Hessian with respect to both parameters: X̃ has a column of ones for b",
                ("values", "float", "no_torch"), "the known answer differs from 2/(∂²L/∂w²), with a hint"),
    Requirement("max_stable_lr.float", "max_stable_lr", "as a Python float", ("float",),
                "isinstance(result, float)"),
    Requirement("max_stable_lr.no_torch", "max_stable_lr", "NumPy only", ("no_torch",), "no_calls torch"),
    Requirement("minibatch_sgd.one_permutation_per_epoch", "minibatch_sgd",
                "for each epoch, call rng.permutation(n) once, and draw nothing else from rng",
                ("trajectory", "final_parameters", "uses_helpers", "no_torch"),
                "the minibatches against slices of permutations drawn alike"),
    Requirement("minibatch_sgd.consecutive_slices", "minibatch_sgd",
                "minibatches points[order[i:i + batch_size]] for i = 0, batch_size, ... (the last "
                "one smaller)", ("trajectory", "final_parameters", "uses_helpers", "no_torch"),
                "the minibatches against slices of permutations drawn alike"),
    Requirement("minibatch_sgd.loss_before_step", "minibatch_sgd",
                "record the minibatch's loss (compute_loss on the minibatch) before the step",
                ("trajectory", "uses_helpers"), "losses against known answers"),
    Requirement("minibatch_sgd.step_on_minibatch", "minibatch_sgd",
                "then step with mse_grad on the minibatch",
                ("trajectory", "final_parameters", "uses_helpers", "no_torch"),
                "the minibatches mse_grad receives"),
    Requirement("minibatch_sgd.num_losses", "minibatch_sgd",
                "losses: num_epochs * ceil(n / batch_size) floats", ("trajectory", "uses_helpers"),
                "len(losses)"),
    Requirement("minibatch_sgd.uses_helpers", "minibatch_sgd",
                "compute_loss on the minibatch, mse_grad on the minibatch (your functions)",
                ("uses_helpers",), "runs it with recording helpers in their place"),
    Requirement("minibatch_sgd.no_torch", "minibatch_sgd", "NumPy only; torch may not appear",
                ("no_torch",), "no_calls torch"),
]

EXERCISES = [
    Exercise("compute_loss", (
        Check("values", 1.5, "the mean of (w·x + b - y)² over the points",
              make_inputs=_loss_inputs, probe=_loss_probe, compare=_cmp_loss, tolerance="float64"),
        Check("float", 0.5, "returned as a Python float", make_inputs=_loss_inputs, probe=_loss_probe,
              compare=_cmp_loss_float, guard=True),
        Check("vectorised", 0.5, "NumPy array operations, no Python loop", kind="policy",
              rule=forbid_loops()),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    )),
    Exercise("mse_grad", (
        Check("finite_differences", 1, "(dw, db) agree with central finite differences in float64",
              kind="gradient", make_inputs=_grad_inputs, probe=_grad_probe, compare=_cmp_grad_fd,
              tolerance="float64"),
        Check("values", 1.5, "(dw, db) = (2·mean(r·x), 2·mean(r)) with r = w·x + b - y",
              make_inputs=_grad_inputs, probe=_grad_probe, compare=_cmp_grad_reference,
              tolerance="float64"),
        Check("floats", 0.5, "returned as a pair of Python floats", make_inputs=_grad_inputs,
              probe=_grad_probe, compare=_cmp_grad_floats, guard=True),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    )),
    Exercise("gradient_descent", (
        Check("trajectory", 1.5, "the losses before each step follow the reference's",
              kind="training", make_inputs=_gd_inputs, probe=_gd_probe, compare=_cmp_gd_trajectory,
              tolerance="trajectory"),
        Check("final_parameters", 1, "the final w and b match the reference's",
              kind="training", make_inputs=_gd_inputs, probe=_gd_probe,
              compare=_cmp_gd_final, tolerance="trajectory"),
        Check("uses_helpers", 0.5, "steps with compute_loss and mse_grad, whatever they compute "
              f"(run with {BOWL} in their place)", make_inputs=_gd_inputs, probe=_gd_bowl_probe,
              compare=_cmp_bowl("iteration", _gd_what), tolerance="trajectory"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    ), uses=HELPERS),
    Exercise("max_stable_lr", (
        Check("values", 2, "2/λ_max of the Hessian (2/n)·X̃ᵀX̃ of the MSE in (w, b)",
              make_inputs=_lr_inputs, probe=_lr_probe, compare=_cmp_lr, tolerance="float64"),
        Check("float", 0.5, "returned as a Python float", make_inputs=_lr_inputs, probe=_lr_probe,
              compare=_cmp_lr_float, guard=True),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    )),
    Exercise("minibatch_sgd", (
        Check("trajectory", 1.5, "the minibatch losses follow the reference's, with one "
              "rng.permutation(n) per epoch", kind="training", make_inputs=_sgd_inputs,
              probe=_sgd_probe, compare=_cmp_sgd_trajectory, tolerance="trajectory"),
        Check("final_parameters", 1, "the final w and b match the reference's",
              kind="training", make_inputs=_sgd_inputs, probe=_sgd_probe,
              compare=_cmp_sgd_final, tolerance="trajectory"),
        Check("uses_helpers", 0.5, "each minibatch goes to compute_loss and mse_grad, whatever they "
              f"compute (run with {BOWL} in their place)", make_inputs=_sgd_inputs,
              probe=_sgd_bowl_probe, compare=_cmp_bowl("minibatch step", _sgd_what),
              tolerance="trajectory"),
        Check("no_torch", 0.5, NO_TORCH, kind="policy", rule=forbid_modules("torch")),
    ), uses=HELPERS),
]

# Measured by tests/test_chapter_04.py::test_training_checks_calibrated (see the module docstring):
# check → (correct variants, false rejections, realistic bugs, bugs caught).
CALIBRATION = {
    "gradient_descent/trajectory": (22, 0, 24, 24),
    "gradient_descent/final_parameters": (22, 0, 22, 22),
    "minibatch_sgd/trajectory": (22, 0, 24, 24),
    "minibatch_sgd/final_parameters": (22, 0, 22, 22),
}
