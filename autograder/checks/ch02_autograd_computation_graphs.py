"""Checks for chapter 02, computation graphs and automatic differentiation.

Functions that take a callable (``numerical_grad``, ``grad_of``) are called with test
functions defined here, by name; ``Value`` is exercised on random expressions written as
small programs (plain data), built from the student's class and from PyTorch tensors,
which are the oracle.

Calibration of the training check ``train_step.many_steps`` (25 calls of full-batch gradient
descent on 20 examples; the check compares the loss each call returns, then w and b):

* The band. At call k a loss passes when it is within ``atol + rtol·|ref_k|`` of the
  reference's, with the named tolerance 'trajectory' (rtol 1e-3, atol 1e-4 on CPU; ten times
  looser on CUDA, where matrix products may run in TF32). Rule: the band must be at least
  1000 times the spread of reference runs — the reference computed in float32 and in float64
  on the same inputs, which differ by at most 3.9e-7 (relative) over the 25 calls — and at
  most a tenth of the largest deviation of the realistic bug closest to the reference.
  Measured: correct variants deviate by at most 5.6e-7, the closest bug (the loss returned
  after the update) by 0.19 (relative), so 1e-3 meets both sides.
* The corpus (tests/test_chapter_02.py, ``test_many_steps_calibration``, in-process with one
  reference computation): see ``CALIBRATION``. Correct variants differ from the reference in
  legitimate ways (sum reduction with lr / n, torch.autograd.grad, a closed-form gradient,
  mse_loss, float64 loss or update, sub_/copy_/add_/.data updates, addmm/einsum, an SGD
  optimizer, zeroing before or after...); bugs are the slips students make (no ½, a sum,
  gradients never cleared or cleared too early, one parameter updated, lr squared or ignored,
  two steps, the loss after the update, L1 or RMSE, stale gradients, ...).
"""
from __future__ import annotations

import math
import operator

import torch

from autograder.checks.common import call, randn
from autograder.compare import describe, expect_number, expect_tensor, preview
from autograder.policy import forbid_attributes
from autograder.spec import CheckFailed, Check, Exercise, Requirement
from autograder.untrusted.wire import WireTensor

CHAPTER = "02_autograd_computation_graphs"


# -- test functions for numerical_grad and grad_of --------------------------------------
def _f_cubic(x):
    return (x ** 3).sum()


def _f_mixed(x):
    return (torch.sin(x) * x).sum() + (x ** 2).mean()


def _f_matrix(x):
    return torch.tanh(x @ x.T).sum()


def _f_branch(x):
    return (x ** 2).sum() if x.sum() > 0 else (-x).exp().sum()


def _f_detached(x):
    return (x * x.detach()).sum()


# The last one tells autograd from finite differences: to autograd, x.detach() is a constant, so
# its gradient is x; finite differences see x², gradient 2x (grad_of must use autograd).
DETACHED = "sum(x * x.detach())"
FUNCTIONS = {"sum(x**3)": _f_cubic, "sum(sin(x)*x) + mean(x**2)": _f_mixed,
             "sum(tanh(x @ x.T))": _f_matrix, "sum(x**2) if sum(x) > 0 else sum(exp(-x))": _f_branch,
             DETACHED: _f_detached}


def _f_number(x):
    return float((x ** 2 * torch.cos(x)).sum())


def _f_one_element(x):
    return (x ** 3).sum().reshape(1)


# f may return a Python number or a one-element tensor (numerical_grad's prompt).
NUMBER_FUNCTIONS = {"float(sum(x**2 * cos(x))), a Python float": _f_number,
                    "sum(x**3).reshape(1), a tensor of shape (1,)": _f_one_element}


def _fcases(gen, dtype) -> list:
    names = list(FUNCTIONS)
    return [(names[0], randn(gen, 4, dtype=dtype)), (names[1], randn(gen, 2, 3, dtype=dtype)),
            (names[2], randn(gen, 3, 2, dtype=dtype)), (names[3], randn(gen, 3, dtype=dtype).abs() + 0.1),
            (names[3], -randn(gen, 1, dtype=dtype).abs() - 0.1), (names[1], randn(gen, 1, dtype=dtype))]


def _what(fn: str, fname: str, x: torch.Tensor, extra: str = "") -> str:
    return f"{fn}(f = {fname}, x of shape {tuple(x.shape)}, {str(x.dtype)[6:]}{extra})"


# -- numerical_grad ------------------------------------------------------------------------
def _ngrad_inputs(gen) -> dict:
    return {"cases": _fcases(gen, torch.float64), "cubic": randn(gen, 5, dtype=torch.float64),
            "numbers": [(name, randn(gen, 2, 2, dtype=torch.float64)) for name in NUMBER_FUNCTIONS]}


def _ngrad_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "numerical_grad", FUNCTIONS[name], x.clone().to(ctx.device))
                        for name, x in inputs["cases"]]}


def _forward_diff(f, x, h=1e-5):
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        step = torch.zeros_like(x)
        step.view(-1)[i] = h
        grad.view(-1)[i] = (float(f(x + step)) - float(f(x))) / h
    return grad


def _cmp_ngrad_values(got, want, inputs, tol):
    for (name, x), g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("numerical_grad", name, x)
        if isinstance(g, WireTensor) and g.shape == w.shape:
            fwd = _forward_diff(FUNCTIONS[name], x)
            if torch.allclose(g.values.double().cpu(), fwd, rtol=1e-9, atol=1e-9) and \
                    not torch.allclose(fwd, w.values.double(), rtol=tol.rtol, atol=tol.atol):
                raise CheckFailed(f"{what} returned forward differences (f(x+h) - f(x)) / h, whose "
                                  "error is O(h); use central differences (f(x+h) - f(x-h)) / (2h)")
        expect_tensor(g, w, what, tol)


def _ngrad_h(ns, inputs, ctx):
    x = inputs["cubic"].clone().to(ctx.device)
    return {"result": call(ctx, ns, "numerical_grad", _f_cubic, x, 1e-2)}


def _cmp_ngrad_h(got, want, inputs, tol):
    x = inputs["cubic"]
    what = _what("numerical_grad", "sum(x**3)", x, ", h=0.01")
    g = got["result"]
    if isinstance(g, WireTensor) and g.shape == tuple(x.shape):
        if torch.allclose(g.values.double().cpu(), 3 * x ** 2, rtol=1e-7, atol=1e-7):
            raise CheckFailed(f"{what} returned 3x², the exact derivative; central differences with "
                              "h = 0.01 give 3x² + h². Use the h passed in, not a fixed step")
    expect_tensor(g, want["result"], what + " (central differences give 3x² + h²)", tol)


def _ngrad_numbers(ns, inputs, ctx):
    out = []
    for name, x in inputs["numbers"]:
        try:
            out.append(call(ctx, ns, "numerical_grad", NUMBER_FUNCTIONS[name], x.clone().to(ctx.device)))
        except NotImplementedError:
            raise
        except Exception as e:  # noqa: BLE001  which kind of f breaks it is the finding
            out.append({"raised": f"{type(e).__name__}: {str(e)[:200]}"})
    return {"results": out}


def _cmp_ngrad_numbers(got, want, inputs, tol):
    for (name, x), g, w in zip(inputs["numbers"], got["results"], want["results"]):
        what = _what("numerical_grad", name, x)
        if isinstance(g, dict) and "raised" in g:
            raise CheckFailed(f"{what} raised {g['raised']}; f may return a Python number or a "
                              "one-element tensor: float(f(...)) turns either into a number")
        expect_tensor(g, w, what, tol)


def _ngrad_untouched(ns, inputs, ctx):
    x = inputs["cases"][1][1].clone().to(ctx.device)
    before = x.clone()
    call(ctx, ns, "numerical_grad", _f_mixed, x)
    return {"before": before, "after": x}


def _cmp_ngrad_untouched(got, want, inputs, tol):
    before, after = got["before"].values, got["after"].values
    if not torch.allclose(after, before, rtol=0, atol=1e-12):
        raise CheckFailed("numerical_grad(f, x) changed x: before the call it held "
                          f"{preview(before)}, after it {preview(after)}; perturb copies of x "
                          "(x + step), not x itself")


# -- grad_of ---------------------------------------------------------------------------------
def _gradof_inputs(gen) -> dict:
    return {"cases": _fcases(gen, torch.float32)[:4] + _fcases(gen, torch.float64)[:2]
            + [(DETACHED, randn(gen, 3, dtype=torch.float64))],
            "x": randn(gen, 2, 3), "old_grad": randn(gen, 2, 3)}


def _gradof_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "grad_of", FUNCTIONS[name], x.clone().to(ctx.device))
                        for name, x in inputs["cases"]]}


def _cmp_gradof_values(got, want, inputs, tol):
    for (name, x), g, w in zip(inputs["cases"], got["results"], want["results"]):
        if name == DETACHED and isinstance(g, WireTensor) and g.shape == tuple(x.shape) and \
                torch.allclose(g.values.double().cpu(), 2 * x.double(), rtol=1e-3, atol=1e-5):
            raise CheckFailed(f"{_what('grad_of', name, x)} returned 2x, the derivative of x²; to "
                              "autograd x.detach() is a constant, so the gradient is x. Compute it "
                              "with autograd (backward() or torch.autograd.grad), not by differences")
        expect_tensor(g, w, _what("grad_of", name, x), tol)


def _leaves_x_alone(name: str, f, shown: str):
    """The probe and compare of "x.requires_grad and x.grad are as they were" for ``name(f, x)``
    (``shown``: how f reads in a message): called on an x that does not require gradients and
    on one that does, with a gradient of its own."""
    def probe(ns, inputs, ctx):
        plain = inputs["x"].clone().to(ctx.device)
        call(ctx, ns, name, f, plain)
        tracked = inputs["x"].clone().to(ctx.device).requires_grad_()
        tracked.grad = inputs["old_grad"].clone().to(ctx.device)
        call(ctx, ns, name, f, tracked)
        return {"plain_requires_grad": plain.requires_grad, "plain_grad": plain.grad,
                "tracked_requires_grad": tracked.requires_grad, "tracked_grad": tracked.grad}

    def compare(got, want, inputs, tol):
        start = f"{name}({shown}, x) with x of shape (2, 3)"
        if got["plain_requires_grad"]:
            raise CheckFailed(f"{start}, x not requiring gradients: afterwards x.requires_grad is True; "
                              "compute on a copy (x.detach().clone().requires_grad_()) instead")
        if got["plain_grad"] is not None:
            raise CheckFailed(f"{start}, x not requiring gradients: afterwards x.grad is "
                              f"{describe(got['plain_grad'])}; it should still be None: compute on a copy "
                              "(x.detach().clone().requires_grad_()) instead")
        if not got["tracked_requires_grad"]:
            raise CheckFailed(f"{start}, x requiring gradients: afterwards x.requires_grad is False")
        g = got["tracked_grad"]
        if not isinstance(g, WireTensor) or not torch.equal(g.values.cpu(), inputs["old_grad"]):
            raise CheckFailed(f"{start}, x requiring gradients with x.grad = {preview(inputs['old_grad'])}: "
                              f"afterwards x.grad is {describe(g)}; the caller's gradient must be left as it was")
    return probe, compare


_gradof_alone, _cmp_gradof_alone = _leaves_x_alone("grad_of", _f_mixed, "f")


def _gradof_twice(ns, inputs, ctx):
    x = inputs["x"].clone().to(ctx.device).requires_grad_()
    first = call(ctx, ns, "grad_of", _f_mixed, x)
    first = first.detach().clone() if isinstance(first, torch.Tensor) else first
    second = call(ctx, ns, "grad_of", _f_mixed, x)
    return {"first": first, "second": second}


def _cmp_gradof_twice(got, want, inputs, tol):
    what = "grad_of(f = sum(sin(x)*x) + mean(x**2), x of shape (2, 3) requiring gradients)"
    expect_tensor(got["first"], want["first"], f"the first call {what}", tol)
    second, ref = got["second"], want["second"]
    if isinstance(second, WireTensor) and second.shape == ref.shape and \
            torch.allclose(second.values.cpu(), 2 * ref.values, rtol=1e-4, atol=1e-5):
        raise CheckFailed(f"a second call {what} returned twice the gradient: the first call's "
                          "gradient was still in x.grad and backward() added to it. Do not use the "
                          "caller's x.grad (or clear what you put there)")
    expect_tensor(second, ref, f"a second call {what}", tol)


# -- second_derivative ---------------------------------------------------------------------
def _e_sin(x):
    return torch.sin(x)


def _e_cubic(x):
    return x ** 3 - 2 * x


def _e_bump(x):
    return torch.exp(-x ** 2)


def _e_planck(x):
    """Planck's law in reduced units: x³ / (exp(x) - 1), for x > 0."""
    return x ** 3 / torch.expm1(x)


def _e_detached(x):
    return x ** 2 * x.detach()


# The last tells autograd from finite differences: to autograd x.detach() is a constant, so the
# second derivative is 2·x.detach(); finite differences see x³, second derivative 6x.
E_DETACHED = "x**2 * x.detach()"
ELEMENTWISE = {"sin(x)": _e_sin, "x**3 - 2x": _e_cubic, "exp(-x**2)": _e_bump,
               "x**3 / (exp(x) - 1) (Planck's law)": _e_planck, E_DETACHED: _e_detached}


def _d2_inputs(gen) -> dict:
    names = list(ELEMENTWISE)
    # the autograd-only case first, so that differences meet its hint before any other failure
    return {"cases": [(E_DETACHED, randn(gen, 4, dtype=torch.float64)), (names[0], randn(gen, 5, dtype=torch.float64)),
                      (names[1], randn(gen, 2, 3)), (names[2], randn(gen, 4, 1, dtype=torch.float64)),
                      (names[3], randn(gen, 6, dtype=torch.float64).abs() + 0.5), (names[0], randn(gen, 3))],
            "x": randn(gen, 2, 3, dtype=torch.float64), "old_grad": randn(gen, 2, 3, dtype=torch.float64)}


def _d2_values(ns, inputs, ctx):
    out = []
    for name, x in inputs["cases"]:
        result = call(ctx, ns, "second_derivative", ELEMENTWISE[name], x.clone().to(ctx.device))
        out.append(result.detach() if isinstance(result, torch.Tensor) else result)
    return {"results": out}


def _d2_hint(g, name, x) -> str:
    """Name the common slips: the first derivative returned, finite differences, f itself."""
    if not isinstance(g, WireTensor) or g.shape != tuple(x.shape):
        return ""
    xd = x.detach().double().requires_grad_()
    first, = torch.autograd.grad(ELEMENTWISE[name](xd).sum(), xd)
    slips = {"the first derivative f'(x); differentiate it once more (create_graph=True keeps "
             "its graph)": first, "f(x) itself": ELEMENTWISE[name](x.double())}
    if name == E_DETACHED:
        slips["6x, the second derivative of x³; to autograd x.detach() is a constant, so the "
              "answer is 2x — compute with autograd, not by differences"] = 6 * x.double()
    for slip, value in slips.items():
        if torch.allclose(g.values.double().cpu(), value.detach(), rtol=1e-3, atol=1e-5):
            return f" — it looks like {slip}"
    return ""


def _cmp_d2_values(got, want, inputs, tol):
    for (name, x), g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = _what("second_derivative", name, x)
        try:
            expect_tensor(g, w, what, tol)
        except CheckFailed as e:
            raise CheckFailed(str(e) + _d2_hint(g, name, x)) from None


_d2_alone, _cmp_d2_alone = _leaves_x_alone("second_derivative", _e_sin, "torch.sin")


def _d2_detached(ns, inputs, ctx):
    result = call(ctx, ns, "second_derivative", _e_sin, inputs["x"].clone().to(ctx.device))
    return {"requires_grad": bool(getattr(result, "requires_grad", False)),
            "tensor": isinstance(result, torch.Tensor)}


def _cmp_d2_detached(got, want, inputs, tol):
    if not got["tensor"]:
        raise CheckFailed("second_derivative(torch.sin, x) did not return a tensor")
    if got["requires_grad"]:
        raise CheckFailed("second_derivative(torch.sin, x) returned a tensor that requires gradients "
                          "(it still holds the graph that create_graph=True built); return it detached")


# -- train_step ----------------------------------------------------------------------------
N, D, LR, NUM_STEPS = 20, 3, 0.1, 25
# Measured by tests/test_chapter_02.py::test_many_steps_calibration (see the module docstring).
CALIBRATION = {"many_steps": {"variants": 24, "false_rejections": 0, "bugs": 24, "caught": 24}}


def _train_inputs(gen) -> dict:
    X = randn(gen, N, D)
    true_w = torch.tensor([[2.0], [-3.4], [1.5]])
    y = X @ true_w + 4.2 + 0.01 * randn(gen, N, 1)
    return {"X": X, "y": y, "w": 0.1 * randn(gen, D, 1), "b": torch.zeros(1), "lr": LR}


def _params(inputs, ctx):
    w = inputs["w"].clone().to(ctx.device).requires_grad_()
    b = inputs["b"].clone().to(ctx.device).requires_grad_()
    return w, b


def _train_one(flat_y: bool):
    def probe(ns, inputs, ctx):
        w, b = _params(inputs, ctx)
        X, y = inputs["X"].clone().to(ctx.device), inputs["y"].clone().to(ctx.device)
        y = y.reshape(-1) if flat_y else y
        ids = (id(w), id(b), w.data_ptr(), b.data_ptr())
        loss = call(ctx, ns, "train_step", w, b, X, y, inputs["lr"])
        same = ids == (id(w), id(b), w.data_ptr(), b.data_ptr())
        return {"loss": loss, "loss_type": type(loss).__name__, "w": w.detach().clone(),
                "b": b.detach().clone(), "same_objects": same,
                "leaf": all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in (w, b))}
    return probe


def _what_step(inputs, flat_y=False) -> str:
    y_shape = (N,) if flat_y else (N, 1)
    return (f"train_step(w ({D}, 1), b (1,), X ({N}, {D}), y {y_shape}, lr={inputs['lr']})")


def _step_hint(got, want, inputs) -> str:
    """Why the parameters after one step differ, when a common slip explains it."""
    w0 = inputs["w"].double()
    step = want["w"].values.double() - w0
    g = got["w"]
    if not isinstance(g, WireTensor) or g.shape != tuple(w0.shape):
        return ""
    moved = g.values.double().cpu() - w0
    for factor, why in ((2, "twice the expected step: the loss is the mean of (y_hat - y)² / 2 — "
                            "is the ½ missing?"),
                        (N, f"{N} times the expected step: average the loss over the examples "
                            "(mean), do not sum it")):
        if torch.allclose(moved, factor * step, rtol=1e-3, atol=1e-6):
            return " — " + why
    return ""


def _expect_moved(got, want, inputs, what) -> None:
    """Fail when w or b still holds its value from before the call."""
    for key in ("w", "b"):
        g = got[key]
        if isinstance(g, WireTensor) and g.shape == want[key].shape and \
                torch.allclose(g.values.cpu(), inputs[key].reshape(g.shape)):
            raise CheckFailed(f"{what} did not change {key}; update it in place "
                              f"(`{key} -= lr * {key}.grad` inside torch.no_grad())")


def _cmp_one_step(got, want, inputs, tol):
    what = _what_step(inputs)
    _expect_moved(got, want, inputs, what)
    for key in ("w", "b"):
        g = got[key]
        try:
            expect_tensor(g, want[key], f"{what}: {key} after the step", tol)
        except CheckFailed as e:
            raise CheckFailed(str(e) + _step_hint(got, want, inputs)) from None


def _cmp_loss(got, want, inputs, tol):
    what = _what_step(inputs)
    if got["loss_type"] != "float":
        if isinstance(got["loss"], WireTensor):
            raise CheckFailed(f"{what} returned a tensor ({describe(got['loss'])}); return the loss "
                              "as a Python float with loss.item() (a tensor keeps its graph alive)")
        raise CheckFailed(f"{what} returned {describe(got['loss'])}; expected the loss as a Python float")
    expect_number(got["loss"], want["loss"], f"{what}: the returned loss (before the update)", tol)


def _cmp_in_place(got, want, inputs, tol):
    what = _what_step(inputs)
    if not got["same_objects"]:
        raise CheckFailed(f"{what} replaced w or b by new tensors; update them in place "
                          "(`w -= lr * w.grad`) so the caller's tensors change")
    if not got["leaf"]:
        raise CheckFailed(f"after {what}, w or b is no longer a leaf tensor that requires grad; "
                          "do the update inside `with torch.no_grad():`")


def _cmp_flat_y(got, want, inputs, tol):
    what = _what_step(inputs, flat_y=True)
    _expect_moved(got, want, inputs, what)
    for key in ("w", "b"):
        try:
            expect_tensor(got[key], want[key], f"{what}: {key} after the step", tol)
        except CheckFailed as e:
            raise CheckFailed(f"{e} — with y of shape (n,), y_hat - y broadcasts (n, 1) against (n,) "
                              "to an (n, n) matrix; reshape y to y_hat's shape first") from None


def _train_many(ns, inputs, ctx):
    w, b = _params(inputs, ctx)
    X, y = inputs["X"].clone().to(ctx.device), inputs["y"].clone().to(ctx.device)
    losses = []
    for _ in range(NUM_STEPS):
        loss = call(ctx, ns, "train_step", w, b, X, y, inputs["lr"])
        losses.append(float(loss))
    return {"losses": losses, "w": w.detach().clone(), "b": b.detach().clone()}


def _cmp_many(got, want, inputs, tol):
    what = f"{NUM_STEPS} calls of " + _what_step(inputs) + " in a row on the same w and b"
    for k, (g, w) in enumerate(zip(got["losses"], want["losses"]), start=1):
        half = tol.atol + tol.rtol * abs(w)  # the band of correct runs (see CALIBRATION)
        if not abs(g - w) <= half:
            raise CheckFailed(f"{what}: call {k} returned the loss {g:.6g}, outside the band of "
                              f"correct runs [{w - half:.6g}, {w + half:.6g}] by "
                              f"{abs(g - w) / half - 1:.3g} times its half-width"
                              + ("" if k == 1 else " (call 1 was inside it)" if k == 2
                                 else f" (calls 1 to {k - 1} were inside it)")
                              + f". {_many_causes(k, g, w)}")
    for key in ("w", "b"):
        expect_tensor(got[key], want[key], f"{what}: {key} after the last call", tol)


def _many_causes(k: int, loss: float, want: float) -> str:
    """The likely causes of a trajectory that leaves the band at call ``k``, by direction."""
    if k == 1:
        return ("The first loss already differs, so the loss itself is computed differently: the "
                "mean over the examples of (y_hat - y)² / 2 (a missing ½ doubles it; a sum instead "
                "of the mean multiplies it by n).")
    if loss < want:
        return ("It is lower than every correct run: the steps are larger than lr times this "
                "call's gradient — do gradients pile up from earlier calls (backward() adds to "
                ".grad: clear w.grad and b.grad at every call), is a step taken twice, or is the "
                "gradient taken of a sum while the returned loss is a mean?")
    return ("It is higher than every correct run: the steps are too small, go the wrong way or "
            "miss a parameter (w -= lr * w.grad and b -= lr * b.grad, both, on the caller's "
            "tensors), or the gradient is taken of a sum and the steps overshoot.")


# -- Value -----------------------------------------------------------------------------------
_BINARY = {"add": operator.add, "mul": operator.mul, "sub": operator.sub}
_SYMBOL = {"add": "+", "mul": "*", "sub": "-"}


def build(leaf, program: list) -> list:
    """Evaluate ``program`` with numbers made by ``leaf``; return every node, in order.

    Steps: ``("leaf", x)``, ``(op, i, j)`` for op in add/mul/sub, ``("pow", i, k)``,
    ``("exp", i)``, ``("tanh", i)``, ``("num", op, "left"|"right", i, c)`` (c op v or v op c).
    """
    nodes = []
    for step in program:
        kind = step[0]
        if kind == "leaf":
            nodes.append(leaf(step[1]))
        elif kind in _BINARY:
            nodes.append(_BINARY[kind](nodes[step[1]], nodes[step[2]]))
        elif kind == "pow":
            nodes.append(nodes[step[1]] ** step[2])
        elif kind in ("exp", "tanh"):
            nodes.append(getattr(nodes[step[1]], kind)())
        elif kind == "num":
            _, op, side, i, c = step
            nodes.append(_BINARY[op](c, nodes[i]) if side == "left" else _BINARY[op](nodes[i], c))
    return nodes


def describe_program(program: list) -> str:
    """The expression as a few lines of assignments, for messages."""
    names, lines, leaves = [], [], []
    for k, step in enumerate(program):
        kind = step[0]
        name = "abcdefgh"[len(leaves)] if kind == "leaf" else f"v{k}"
        if kind == "leaf":
            leaves.append(f"{name} = Value({step[1]:g})")
        elif kind in _BINARY:
            lines.append(f"{name} = {names[step[1]]} {_SYMBOL[kind]} {names[step[2]]}")
        elif kind == "pow":
            lines.append(f"{name} = {names[step[1]]} ** {step[2]:g}")
        elif kind in ("exp", "tanh"):
            lines.append(f"{name} = {names[step[1]]}.{kind}()")
        else:
            _, op, side, i, c = step
            lhs, rhs = (f"{c:g}", names[i]) if side == "left" else (names[i], f"{c:g}")
            lines.append(f"{name} = {lhs} {_SYMBOL[op]} {rhs}")
        names.append(name)
    text = "; ".join(leaves + lines) + f"; {names[-1]}.backward()"
    return text if len(text) < 400 else text[:380] + " …"


def _pick(gen, items):
    return items[int(torch.randint(len(items), (1,), generator=gen))]


def _uniform(gen, lo, hi) -> float:
    return round(lo + (hi - lo) * float(torch.rand(1, generator=gen)), 3)


def _unary(gen, i: int, v: float) -> tuple[tuple, float]:
    """A unary step on node i (value v) that keeps values finite and moderate."""
    options = [("tanh", i), ("pow", i, 2), ("pow", i, 3)]
    if abs(v) < 2:
        options.append(("exp", i))
    if abs(v) > 0.5:
        options.append(("pow", i, -1))
    if v > 0.2:
        options.append(("pow", i, 0.5))
    step = _pick(gen, options)
    if abs(v) > 3 and step[0] == "pow":
        step = ("tanh", i)
    value = {"tanh": lambda: math.tanh(v), "exp": lambda: math.exp(v),
             "pow": lambda: v ** step[-1]}[step[0]]()
    return step, value


def _binary(gen, i: int, j: int, vi: float, vj: float) -> tuple[tuple, float]:
    op = _pick(gen, ["add", "mul", "sub"])
    if op == "mul" and abs(vi * vj) > 20:
        op = "add"
    return (op, i, j), _BINARY[op](vi, vj)


def random_program(gen, n_leaves: int, n_ops: int, reuse: bool) -> list:
    """A random expression; with ``reuse``, operands are drawn from every node so far."""
    program = [("leaf", _uniform(gen, -1.5, 1.5)) for _ in range(n_leaves)]
    values = [s[1] for s in program]
    unused = list(range(n_leaves))
    ops = 0
    while ops < n_ops or (not reuse and len(unused) > 1):
        pool = list(range(len(program))) if reuse else unused
        binary = len(pool) >= 2 and (ops >= n_ops or float(torch.rand(1, generator=gen)) < 0.6)
        if binary:
            i = _pick(gen, pool)
            j = _pick(gen, [p for p in pool if p != i] if not reuse else pool)
            step, value = _binary(gen, i, j, values[i], values[j])
            used = {i, j}
        else:
            i = _pick(gen, pool)
            step, value = _unary(gen, i, values[i])
            used = {i}
        unused = [u for u in unused if u not in used] + [len(program)]
        program.append(step)
        values.append(value)
        ops += 1
    if reuse:  # gather every node that nothing used, so all of them reach the output
        dangling = [u for u in unused if u != len(program) - 1]
        for u in dangling:
            program.append(("add", len(program) - 1, u))
            values.append(values[-1] + values[u])
    return program


def _tree_programs(gen) -> list:
    fixed = [
        [("leaf", 0.5), ("leaf", -1.2), ("leaf", 0.8), ("mul", 0, 1), ("add", 3, 2), ("tanh", 4)],
        [("leaf", 0.3), ("leaf", 1.1), ("leaf", -0.7), ("exp", 0), ("pow", 1, 3), ("mul", 3, 4),
         ("sub", 5, 2)],
        [("leaf", 1.4), ("leaf", -0.6), ("pow", 0, -1), ("pow", 1, 2), ("sub", 2, 3), ("tanh", 4),
         ("exp", 5)],
    ]
    return fixed + [random_program(gen, _pick(gen, [2, 3, 4]), 6, reuse=False) for _ in range(6)]


def _reuse_programs(gen) -> list:
    fixed = [
        [("leaf", 3.0), ("mul", 0, 0), ("add", 1, 0)],                       # a*a + a
        [("leaf", 0.4), ("leaf", -0.9), ("mul", 0, 1), ("tanh", 2), ("mul", 3, 3), ("mul", 3, 0),
         ("add", 4, 5)],                                                     # t*t + t*a, t = tanh(ab)
        [("leaf", 0.7), ("exp", 0), ("add", 1, 0), ("mul", 2, 1), ("sub", 3, 2)],
    ]
    return fixed + [random_program(gen, _pick(gen, [2, 3]), 7, reuse=True) for _ in range(6)]


def _number_programs(gen) -> list:
    fixed = [
        [("leaf", 0.5), ("num", "mul", "left", 0, 2.0)],     # 2 * a
        [("leaf", 0.5), ("num", "mul", "right", 0, 3.0)],    # a * 3
        [("leaf", 0.5), ("num", "add", "left", 0, 1.0)],     # 1 + a
        [("leaf", 0.5), ("num", "add", "right", 0, 1.0)],    # a + 1
        [("leaf", 0.5), ("num", "sub", "left", 0, 2.0)],     # 2 - a
        [("leaf", 0.5), ("num", "sub", "right", 0, 2.0)],    # a - 2
    ]
    out = []
    for _ in range(4):
        a, b = _uniform(gen, -1.5, 1.5), _uniform(gen, -1.5, 1.5)
        c1, c2 = _pick(gen, [2.0, -1.5, 3.0, 0.5]), _pick(gen, [1.0, -2.0, 0.25])
        op1, op2 = _pick(gen, ["add", "mul", "sub"]), _pick(gen, ["add", "mul", "sub"])
        out.append([("leaf", a), ("leaf", b), ("num", op1, "left", 0, c1),
                    ("num", op2, "right", 1, c2), ("mul", 2, 3), ("pow", 4, 2)])
    return fixed + out


def _value_inputs(gen) -> dict:
    return {"tree": _tree_programs(gen), "reuse": _reuse_programs(gen), "numbers": _number_programs(gen)}


def _value_probe(key: str):
    def probe(ns, inputs, ctx):
        Value = ns.get("Value")
        if Value is None:
            raise NameError("Value is not defined")
        out = []
        for program in inputs[key]:
            ctx.call = f"the expression `{describe_program(program)}`"
            nodes = build(Value, program)
            nodes[-1].backward()
            leaves = [n for n, s in zip(nodes, program) if s[0] == "leaf"]
            out.append({"data": [float(n.data) for n in nodes], "grads": [float(n.grad) for n in leaves]})
        return {"results": out}
    return probe


def _plain(x):
    """A number as a float, anything else as its repr (for the wire)."""
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else repr(x)[:80]


def _value_attributes(ns, inputs, ctx):
    Value = ns.get("Value")
    if Value is None:
        raise NameError("Value is not defined")
    ctx.call = "Value(2)"
    v = Value(2)
    ctx.call = "out = a * b + a with a = Value(1.5), b = Value(-0.5); out.backward()"
    a, b = Value(1.5), Value(-0.5)
    out = a * b + a
    before = [a.grad, b.grad, out.grad]
    out.backward()
    return {"data": _plain(v.data), "data_type": type(v.data).__name__, "grad": _plain(v.grad),
            "before": [_plain(g) for g in before], "seed": _plain(out.grad)}


def _cmp_value_attributes(got, want, inputs, tol):
    if got["data"] != 2.0:
        raise CheckFailed(f"Value(2).data is {got['data']}; expected 2.0, the number it was made from")
    if got["data_type"] != "float":
        raise CheckFailed(f"Value(2).data is {got['data_type']} {got['data']:g}; store data as a "
                          "Python float (self.data = float(data))")
    if got["grad"] != 0.0:
        raise CheckFailed(f"Value(2).grad is {got['grad']}; a new Value starts with grad = 0.0")
    if got["before"] != [0.0, 0.0, 0.0]:
        raise CheckFailed("with a = Value(1.5), b = Value(-0.5), out = a * b + a: before "
                          f"out.backward(), a.grad, b.grad and out.grad are {got['before']}; every "
                          "Value, made by an operation or not, starts with grad = 0.0")
    if got["seed"] != 1.0:
        raise CheckFailed(f"after out.backward(), out.grad is {got['seed']}; backward() first sets "
                          "the output's own grad to 1 (∂out/∂out), then passes it on")


def torch_answer(program: list) -> dict:
    """PyTorch's values of every node and gradients of the leaves, in float64."""
    nodes = build(lambda x: torch.tensor(float(x), dtype=torch.float64, requires_grad=True), program)
    nodes[-1].backward()
    leaves = [n for n, s in zip(nodes, program) if s[0] == "leaf"]
    return {"data": [n.item() for n in nodes],
            "grads": [0.0 if n.grad is None else n.grad.item() for n in leaves]}


def _leaf_names(program):
    return "abcdefgh"[:sum(1 for s in program if s[0] == "leaf")]


def _cmp_value(key: str, parts: tuple[str, ...]):
    def compare(got, want, inputs, tol):
        for program, res in zip(inputs[key], got["results"]):
            ref = torch_answer(program)
            expr = describe_program(program)
            if "data" in parts:
                for k, (g, w) in enumerate(zip(res["data"], ref["data"])):
                    if not abs(g - w) <= tol.atol + tol.rtol * abs(w):
                        node = "the output" if k == len(program) - 1 else f"node {k}"
                        raise CheckFailed(f"in `{expr}`, {node} has data {g:.10g}; PyTorch gives "
                                          f"{w:.10g} (step {program[k]})")
            if "grads" in parts:
                for name, g, w in zip(_leaf_names(program), res["grads"], ref["grads"]):
                    if not abs(g - w) <= tol.atol + tol.rtol * abs(w):
                        raise CheckFailed(f"after `{expr}`, {name}.grad is {g:.10g}; PyTorch's "
                                          f"gradient is {w:.10g}")
    return compare


EXERCISES = [
    Exercise("numerical_grad", (
        Check("values", 2, "central differences of x's shape and dtype, for several f and shapes",
              make_inputs=_ngrad_inputs, probe=_ngrad_values, compare=_cmp_ngrad_values,
              kind="gradient", tolerance="float64"),
        Check("step_size", 0.5, "the step h passed in is used",
              make_inputs=_ngrad_inputs, probe=_ngrad_h, compare=_cmp_ngrad_h, tolerance="float64"),
        Check("number_f", 0.5, "f may return a Python number or a one-element tensor",
              make_inputs=_ngrad_inputs, probe=_ngrad_numbers, compare=_cmp_ngrad_numbers,
              kind="gradient", tolerance="float64"),
        Check("input_unchanged", 0.5, "x is left unchanged",
              make_inputs=_ngrad_inputs, probe=_ngrad_untouched, compare=_cmp_ngrad_untouched,
              guard=True),
        Check("no_autograd", 0.5, "finite differences only, without autograd",
              kind="policy", rule=forbid_attributes("backward", "autograd", "grad", "func")),
    )),
    Exercise("grad_of", (
        Check("values", 2, "autograd's gradient of f at x, in x's shape and dtype",
              make_inputs=_gradof_inputs, probe=_gradof_values, compare=_cmp_gradof_values,
              kind="gradient", tolerance="grad"),
        Check("leaves_x_alone", 1, "x.requires_grad and x.grad are as they were",
              make_inputs=_gradof_inputs, probe=_gradof_alone, compare=_cmp_gradof_alone,
              guard=True),
        Check("twice", 1, "two calls give the same gradient",
              make_inputs=_gradof_inputs, probe=_gradof_twice, compare=_cmp_gradof_twice,
              kind="gradient", tolerance="grad"),
    )),
    Exercise("second_derivative", (
        Check("values", 2, "f''(x) at every element, by autograd, in x's shape and dtype",
              make_inputs=_d2_inputs, probe=_d2_values, compare=_cmp_d2_values,
              kind="gradient", tolerance="grad"),
        Check("leaves_x_alone", 0.5, "x.requires_grad and x.grad are as they were",
              make_inputs=_d2_inputs, probe=_d2_alone, compare=_cmp_d2_alone, guard=True),
        Check("detached", 0.5, "the result does not require gradients",
              make_inputs=_d2_inputs, probe=_d2_detached, compare=_cmp_d2_detached, guard=True),
    )),
    Exercise("train_step", (
        Check("one_step", 1, "w and b after one step of gradient descent on the mean squared loss",
              make_inputs=_train_inputs, probe=_train_one(False), compare=_cmp_one_step,
              tolerance="grad"),
        Check("loss", 0.5, "returns the loss before the update, as a Python float",
              make_inputs=_train_inputs, probe=_train_one(False), compare=_cmp_loss, tolerance="grad"),
        Check("many_steps", 1.5, f"{NUM_STEPS} calls in a row follow the reference's losses",
              kind="training", make_inputs=_train_inputs, probe=_train_many, compare=_cmp_many,
              tolerance="trajectory"),
        Check("in_place", 0.5, "w and b are updated in place and stay leaves that require grad",
              make_inputs=_train_inputs, probe=_train_one(False), compare=_cmp_in_place,
              guard=True),
        Check("flat_labels", 0.5, "y of shape (n,) gives the same step as y of shape (n, 1)",
              make_inputs=_train_inputs, probe=_train_one(True), compare=_cmp_flat_y, tolerance="grad"),
    )),
    Exercise("Value", (
        Check("attributes", 0.5, "Value(data) holds data as a float and grad 0.0; backward() "
              "sets the output's grad to 1", make_inputs=None, probe=_value_attributes,
              compare=_cmp_value_attributes),
        Check("forward", 1, "the data of every node of random expressions matches PyTorch",
              make_inputs=_value_inputs, probe=_value_probe("tree"),
              compare=_cmp_value("tree", ("data",)), tolerance="float64"),
        Check("backward", 1, "gradients of tree-shaped expressions match PyTorch",
              make_inputs=_value_inputs, probe=_value_probe("tree"),
              compare=_cmp_value("tree", ("grads",)), kind="gradient", tolerance="float64"),
        Check("shared_nodes", 1, "gradients match PyTorch when values are used several times",
              make_inputs=_value_inputs, probe=_value_probe("reuse"),
              compare=_cmp_value("reuse", ("data", "grads")), kind="gradient", tolerance="float64"),
        Check("numbers", 0.5, "Python numbers on either side of +, * and -",
              make_inputs=_value_inputs, probe=_value_probe("numbers"),
              compare=_cmp_value("numbers", ("data", "grads")), kind="gradient", tolerance="float64"),
    )),
]

# Every requirement the exercises' prompts state, and the checks that fail when it is broken
# (tests/test_chapter_02.py holds a submission per row that breaks exactly that row). Where
# breaking it leaves no check of the function passing, the row names the guard and policy
# checks too: they are awarded only with a check that proves the function works.
REQUIREMENTS = [
    Requirement("numerical_grad.central", "numerical_grad",
                "the central-difference estimate: element i is (f(x + h e_i) - f(x - h e_i)) / 2h",
                ("values", "step_size", "number_f", "input_unchanged", "no_autograd"),
                "sum(x**2), sum(sin(x)); 3.01 for x**3 at 1 "
                "with h=0.1, with a hint for forward differences"),
    Requirement("numerical_grad.h", "numerical_grad", "numerical_grad(f, x, h=1e-5): the step h passed in",
                ("step_size",), "x**3 at 1 with h=0.1 gives 3 + h²"),
    Requirement("numerical_grad.shape", "numerical_grad", "a tensor of x's shape",
                ("values", "number_f"), "a (2, 2) x"),
    Requirement("numerical_grad.dtype", "numerical_grad", "a tensor of x's ... dtype",
                ("values", "step_size", "number_f", "input_unchanged", "no_autograd"),
                "float64 in, float64 out"),
    Requirement("numerical_grad.any_shape", "numerical_grad",
                "x may have any shape (call f with tensors of x's shape)", ("values",),
                "sum(sin(x)) of a (2, 2) x"),
    Requirement("numerical_grad.number", "numerical_grad", "f returns a one-element tensor or a number",
                ("number_f",), "an f that returns a Python float"),
    Requirement("numerical_grad.input_unchanged", "numerical_grad", "Leave x unchanged (work on copies)",
                ("values", "input_unchanged"), "x equals its copy from before the call"),
    Requirement("numerical_grad.no_autograd", "numerical_grad", "do not use autograd",
                ("no_autograd",), "no_calls: backward, autograd, requires_grad_"),
    Requirement("grad_of.autograd", "grad_of", "the gradient of f at x computed by autograd",
                ("values",), "sum(x * x.detach()) has gradient x to autograd (2x by differences)"),
    Requirement("grad_of.shape", "grad_of", "as a tensor of x's shape",
                ("values", "leaves_x_alone", "twice"), "a (1, 2) x"),
    Requirement("grad_of.leaves_x_alone", "grad_of",
                "whether or not x requires gradients, and whatever its .grad holds, both must be as "
                "they were afterwards", ("leaves_x_alone",), "x.requires_grad and x.grad after calls"),
    Requirement("grad_of.twice", "grad_of", "calling grad_of twice must give the same answer twice",
                ("twice",), "a second call, with a hint when it is twice the first"),
    Requirement("second_derivative.autograd_twice", "second_derivative",
                "return f''(x_i) at every element, by autograd twice: torch.autograd.grad with "
                "create_graph=True, then again", ("values", "leaves_x_alone", "detached"),
                "-sin for sin, 6x for x³, 2x for x**2 * x.detach() (autograd, not differences)"),
    Requirement("second_derivative.shape", "second_derivative", "a tensor of x's shape",
                ("values", "leaves_x_alone", "detached"), "the result's values at x of shape (3,) and (2,)"),
    Requirement("second_derivative.leaves_x_alone", "second_derivative",
                "work on a detached copy of x: the caller's x is left as it was", ("leaves_x_alone",),
                "x.requires_grad and x.grad afterwards"),
    Requirement("second_derivative.detached", "second_derivative",
                "return a tensor that does not require gradients", ("detached",),
                "result.requires_grad is False"),
    Requirement("train_step.loss", "train_step", "L = (1/n) Σ ½ (ŷ_i - y_i)², the mean squared loss with the ½",
                ("one_step", "loss", "many_steps", "in_place", "flat_labels"),
                "the loss 8.5 and the parameters after a step of a (2, 1) example"),
    Requirement("train_step.update", "train_step", "computes L, backpropagates, updates w and b",
                ("one_step", "many_steps", "flat_labels"), "w and b after one and two steps"),
    Requirement("train_step.in_place", "train_step", "updates w and b **in place**", ("in_place",),
                "the caller's w and b change, with a hint when w did not"),
    Requirement("train_step.no_grad", "train_step", "without recording the update",
                ("one_step", "loss", "many_steps", "in_place", "flat_labels"),
                "w stays a leaf that requires grad (an update outside no_grad raises)"),
    Requirement("train_step.returns_float", "train_step", "returns the loss ... as a Python float",
                ("loss",), "type(loss) is float"),
    Requirement("train_step.loss_before", "train_step", "the loss computed *before* the update",
                ("loss", "many_steps"), "the first call returns 8.5"),
    Requirement("train_step.flat_y", "train_step", "y of shape (n, 1) or (n,)", ("flat_labels",),
                "one step with y of shape (2,)"),
    Requirement("train_step.many_calls", "train_step",
                "correct when called many times in a row on the same w and b", ("many_steps",),
                "a second call, with a hint for gradients that were not cleared"),
    Requirement("Value.attributes", "Value", "Value(data) stores data (a Python float) and grad = 0.0",
                ("attributes",), "Value(2).data is 2.0, a float; grad 0.0"),
    Requirement("Value.ops", "Value", "+, * and - between two Values",
                ("backward", "shared_nodes", "numbers"), "tanh(a*b + a**2) and its gradients"),
    Requirement("Value.numbers", "Value",
                "with a Python number on either side (define __radd__, __rmul__, __rsub__ too)",
                ("numbers",), "2*d - 1 + ..., (1 - g) * (3 + g)"),
    Requirement("Value.pow", "Value", "v ** k for a number k (derivative k v^(k-1))",
                ("backward", "shared_nodes", "numbers"), "a**2 and d**3 and their gradients"),
    Requirement("Value.exp_tanh", "Value", "v.exp() and v.tanh() (tanh' = 1 - tanh²)",
                ("backward", "shared_nodes"), "tanh(...) and exp(d) and their gradients"),
    Requirement("Value.backward_seed", "Value", "v.backward() sets v.grad = 1",
                ("attributes", "backward", "shared_nodes", "numbers"), "out.grad is 1 after backward()"),
    Requirement("Value.topological", "Value", "then calls every node's _backward in reversed topological order",
                ("shared_nodes",), "c*c + c at 3 gives 7"),
    Requirement("Value.accumulate", "Value",
                "afterwards each Value that v depends on holds ∂v/∂(that value) in grad (a value used "
                "several times gets every contribution)", ("shared_nodes",), "c*c + c at 3 gives 7"),
]
