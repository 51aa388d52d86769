"""Checks for chapter 05, linear regression from scratch.

The training exercise has no code of its own: its probe runs the chapter's loop (3 epochs,
lr 0.03, batches of 10, the summed loss's ``backward()``) with the student's ``data_iter``,
``linreg``, ``squared_loss`` and ``sgd``, and measures the learned ``(w, b)`` after each
epoch with a yardstick of its own, ``½ mean((X w + b - y)²)`` on all 1,000 examples, so
that a piece's mistake shows in what was learned rather than in how it is measured.

Training checks: band rule and calibration
------------------------------------------
The reference trains :data:`REFERENCE_SHUFFLES` times, from the same initial ``w`` and over
as many different shuffles (any shuffle drawn from the generator is correct: the student's
``data_iter`` may order the examples differently). Rules:

* ``trajectory``: after each epoch the loss lies within a factor :data:`BAND` of the
  reference runs' range, ``[min / BAND, max · BAND]``; the run takes exactly 300 minibatch
  steps. The factor is at least 3 times the largest spread of 40 reference runs (over 40
  shuffles the epoch losses spread by 2.5 % in epoch 1, 13 % in epoch 2 and 2 % in
  epoch 3), so every correct order stays inside on any device, while a step too large or too
  small by half leaves epoch 1's band by far.
* ``final_parameters``: ``w`` and ``b`` lie within :data:`PARAMETER_SLACK` of the
  reference runs' range (40 shuffles spanned 1.5e-3).

Both rest only on what the grader verifies (a report is a claim, DESIGN.md §2): the probe
returns the run — ``(w, b)`` before the first step and after each, and each step's minibatch
— and the grader checks that every minibatch is rows of the data with their labels,
re-derives every step (:func:`_verified_run`: within :data:`STEP_ATOL` + :data:`STEP_RTOL`
of the step's change; correct variants differ by float32 rounding, about 1e-7), and measures
the epoch losses itself from the recorded parameters.

``tests/test_chapter_05.py::test_training_checks_calibrated`` measures both on every run
(variants: other correct shuffles from the generator, other spellings of each piece, a
float64 update; bugs: what students get wrong in each piece), in :data:`CALIBRATION`:

==========================  ========  ================  ====  ======
check                       variants  false rejections  bugs  caught
==========================  ========  ================  ====  ======
training / trajectory             24                 0    31      31
training / final_parameters       24                 0    24      24
==========================  ========  ================  ====  ======

A bug counts for the checks that look at what it changes: an ``sgd`` that forgets to divide
by the batch size, or a ``squared_loss`` without its ½, converges to the right parameters,
only too fast — the trajectory catches it (its loss after epoch 1 is 300–400 times below
the reference runs'), the final parameters cannot.
"""
from __future__ import annotations

import inspect

import torch

from autograder.checks.common import call, randn, student_calls, take
from autograder.compare import describe, expect_tensor, expect_values, preview
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor

CHAPTER = "05_linear_regression_scratch"
TRUE_W, TRUE_B = (2.0, -3.4), 4.2


# -- synthetic_data ------------------------------------------------------------------
def _synth_cases(gen):
    return {"cases": [
        {"w": torch.tensor(TRUE_W), "b": TRUE_B, "n": 7},
        {"w": randn(gen, 3), "b": float(randn(gen, 1)), "n": 5},
    ]}


def _synth_shapes(ns, inputs, ctx):
    out = []
    for case in inputs["cases"]:
        g = torch.Generator().manual_seed(ctx.seed)
        out.append(call(ctx, ns, "synthetic_data", case["w"], case["b"], case["n"], 0.01, g))
    return {"results": out}


def _pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}; expected a pair (X, y)")
    return result


def _cmp_synth_shapes(got, want, inputs, tol):
    for case, res in zip(inputs["cases"], got["results"]):
        what = f"synthetic_data(w of shape {tuple(case['w'].shape)}, b, {case['n']})"
        X, y = _pair(res, what)
        n, d = case["n"], len(case["w"])
        for name, value, shape in (("X", X, (n, d)), ("y", y, (n, 1))):
            if not isinstance(value, WireTensor) or value.shape != shape:
                got_text = value.shape if isinstance(value, WireTensor) else describe(value)
                raise CheckFailed(f"{what} returned {name} of shape {got_text}; expected {shape}")


def _synth_noiseless(ns, inputs, ctx):
    case = inputs["cases"][1]
    g = torch.Generator().manual_seed(ctx.seed)
    return {"result": call(ctx, ns, "synthetic_data", case["w"], case["b"], case["n"], 0.0, g)}


def _cmp_synth_noiseless(got, want, inputs, tol):
    case = inputs["cases"][1]
    what = f"synthetic_data(w, b, {case['n']}, noise=0)"
    X, y = _pair(got["result"], what)
    if not isinstance(X, WireTensor) or not isinstance(y, WireTensor):
        raise CheckFailed(f"{what} did not return tensors")
    expected = X.values.double() @ case["w"].double().reshape(-1, 1) + case["b"]
    if y.shape != (case["n"], 1):
        raise CheckFailed(f"{what} returned y of shape {y.shape}; expected {(case['n'], 1)}")
    expect_values(y.values.double(), expected, f"{what}: y compared with X @ w + b", tol)


def _synth_stats_inputs(gen):
    return {"w": torch.tensor([1.5, -0.5]), "b": 0.3, "n": 20000, "noise": 0.5}


def _synth_stats(ns, inputs, ctx):
    g = torch.Generator().manual_seed(ctx.seed)
    return {"result": call(ctx, ns, "synthetic_data", inputs["w"], inputs["b"], inputs["n"],
                           inputs["noise"], g)}


def _cmp_synth_stats(got, want, inputs, tol):
    what = f"synthetic_data(w, b, {inputs['n']}, noise={inputs['noise']})"
    X, y = _pair(got["result"], what)
    X, y = X.values.double(), y.values.double().reshape(-1)
    eps = y - (X @ inputs["w"].double() + inputs["b"])
    checks = [("the features' mean", X.mean().item(), 0.0, 0.02),
              ("the features' standard deviation", X.std().item(), 1.0, 0.02),
              ("the noise's mean", eps.mean().item(), 0.0, 0.02),
              ("the noise's standard deviation", eps.std().item(), inputs["noise"], 0.02)]
    for name, value, target, slack in checks:
        if abs(value - target) > slack:
            raise CheckFailed(f"{what}: {name} is {value:.3f}; expected {target} ± {slack} "
                              "(features from N(0, 1), noise from N(0, noise²))")


def _synth_generator(ns, inputs, ctx):
    def run(seed):
        return call(ctx, ns, "synthetic_data", inputs["w"], inputs["b"], 6, 0.01,
                    torch.Generator().manual_seed(seed))
    return {"same": [run(ctx.seed), run(ctx.seed)], "other": run(ctx.seed + 1)}


def _cmp_synth_generator(got, want, inputs, tol):
    what = "synthetic_data(..., generator=g)"
    (X1, y1), (X2, y2), (X3, _) = (_pair(r, what) for r in got["same"] + [got["other"]])
    if not torch.equal(X1.values, X2.values) or not torch.equal(y1.values, y2.values):
        raise CheckFailed(f"{what}: two generators seeded alike gave different data; "
                          "draw every random number with generator=generator")
    if torch.equal(X1.values, X3.values):
        raise CheckFailed(f"{what}: generators with different seeds gave the same data")


# -- data_iter -----------------------------------------------------------------------
def _iter_inputs(gen):
    return {"cases": [(47, 10), (30, 10), (8, 20), (25, 1)]}


def _indexed(n):
    idx = torch.arange(n, dtype=torch.float32)
    return torch.stack([idx, -idx], 1), (10 * idx).reshape(-1, 1)


def _iter_epochs(ns, inputs, ctx):
    out, kinds = [], []
    for n, batch_size in inputs["cases"]:
        X, y = _indexed(n)
        g = torch.Generator().manual_seed(ctx.seed)
        result = call(ctx, ns, "data_iter", batch_size, X, y, g)
        kinds.append("generator" if inspect.isgenerator(result) else type(result).__name__)
        out.append(take(result))
    return {"results": out, "kinds": kinds}


def _cmp_iter_lazy(got, want, inputs, tol):
    kind = got["kinds"][0]
    if kind != "generator":
        raise CheckFailed(f"data_iter(...) returned a {kind}; the exercise asks for a generator: "
                          "`yield` each (X_batch, y_batch) in the loop, so that a batch is made only "
                          "when the training loop asks for it")


def _batches(result, what):
    for item in result:
        if not isinstance(item, (tuple, list)) or len(item) != 2 or \
                not all(isinstance(t, WireTensor) for t in item):
            raise CheckFailed(f"{what} yielded {describe(item)}; expected (X_batch, y_batch) tensors")
    return result


def _cmp_iter_cover(got, want, inputs, tol):
    for (n, batch_size), result in zip(inputs["cases"], got["results"]):
        what = f"data_iter({batch_size}, features of shape ({n}, 2), labels of shape ({n}, 1))"
        batches = _batches(result, what)
        sizes = [len(Xb.values) for Xb, _ in batches]
        expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
        if sorted(sizes, reverse=True) != expected:
            raise CheckFailed(f"{what} yielded batches of sizes {sizes[:8]}; expected {expected[:8]}"
                              " (every batch full but a smaller last one)")
        rows = torch.cat([Xb.values[:, 0] for Xb, _ in batches]).long()
        labels = torch.cat([yb.values.reshape(-1) for _, yb in batches])
        if sorted(rows.tolist()) != list(range(n)):
            dup = len(rows) - len(set(rows.tolist()))
            raise CheckFailed(f"{what}: examples were dropped or repeated ({dup} repeated, "
                              f"{n - len(set(rows.tolist()))} missing); each must appear once per epoch")
        if not torch.equal(labels, 10 * rows.float()):
            raise CheckFailed(f"{what}: features and labels were shuffled separately; "
                              "index both with the same indices")


def _iter_shuffle(ns, inputs, ctx):
    X, y = _indexed(100)

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.cat([Xb[:, 0] for Xb, _ in take(call(ctx, ns, "data_iter", 10, X, y, g))])
    return {"a": order(ctx.seed), "b": order(ctx.seed), "c": order(ctx.seed + 1)}


def _cmp_iter_shuffle(got, want, inputs, tol):
    what = "data_iter(10, features (100, 2), labels (100, 1), generator=g)"
    a, b, c = (got[k].values for k in "abc")
    if torch.equal(a, torch.arange(100.0)):
        raise CheckFailed(f"{what} returned the examples in order; shuffle the indices")
    if not torch.equal(a, b):
        raise CheckFailed(f"{what}: two generators seeded alike gave different orders; "
                          "shuffle with generator=generator (torch.randperm(n, generator=generator))")
    if torch.equal(a, c):
        raise CheckFailed(f"{what}: generators with different seeds gave the same order")


# -- linreg ----------------------------------------------------------------------------
def _linreg_inputs(gen):
    return {"cases": [
        {"X": randn(gen, 6, 2), "w": randn(gen, 2, 1), "b": randn(gen, 1)},
        {"X": randn(gen, 4, 5, dtype=torch.float64), "w": randn(gen, 5, 1, dtype=torch.float64),
         "b": randn(gen, 1, dtype=torch.float64)},
        {"X": randn(gen, 1, 2), "w": randn(gen, 2, 1), "b": randn(gen, 1)},
    ]}


def _linreg_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "linreg", *(c[k].to(ctx.device) for k in "Xwb"))
                        for c in inputs["cases"]]}


def _cmp_linreg_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = (f"linreg(X {tuple(case['X'].shape)}, w {tuple(case['w'].shape)}, "
                f"b {tuple(case['b'].shape)}) [{str(case['X'].dtype)[6:]}]")
        expect_tensor(g, w, what, tol)


def _linreg_grad(ns, inputs, ctx):
    case = inputs["cases"][0]
    X = case["X"].to(ctx.device)
    w = case["w"].to(ctx.device).requires_grad_()
    b = case["b"].to(ctx.device).requires_grad_()
    out = call(ctx, ns, "linreg", X, w, b)
    (out * torch.arange(1.0, 7.0, device=ctx.device).reshape(-1, 1)).sum().backward()
    return {"w_grad": w.grad, "b_grad": b.grad}


def _cmp_linreg_grad(got, want, inputs, tol):
    for key in ("w_grad", "b_grad"):
        if not isinstance(got[key], WireTensor):
            cut = (f": `.detach()` returns a copy of {key[0]} cut off from the graph, so backward() "
                   f"never reaches {key[0]}; use {key[0]} itself") \
                if student_calls("linreg", "detach", method=True) else \
                "; build the output from X, w and b with tensor operations so autograd can follow it"
            raise CheckFailed(f"linreg: no gradient reached {key[0]}{cut}")
        expect_tensor(got[key], want[key], f"the gradient of linreg's output with respect to {key[0]}", tol)


# -- squared_loss ----------------------------------------------------------------------
def _loss_inputs(gen):
    return {"y_hat": randn(gen, 8, 1), "y": randn(gen, 8, 1)}


def _loss_same(ns, inputs, ctx):
    return {"result": call(ctx, ns, "squared_loss", inputs["y_hat"].to(ctx.device), inputs["y"].to(ctx.device))}


def _loss_flat(ns, inputs, ctx):
    return {"result": call(ctx, ns, "squared_loss", inputs["y_hat"].to(ctx.device),
                           inputs["y"].reshape(-1).to(ctx.device))}


def _loss_hint(got, want) -> str:
    """A hint when the student's loss is the expected one times a constant, or reduced."""
    if not isinstance(got, WireTensor) or not isinstance(want, WireTensor):
        return ""
    g, w = got.values.double(), want.values.double()
    if g.numel() == 1 < w.numel() and any(torch.allclose(g.reshape(()), k * r) for k in (1, 2)
                                          for r in (w.sum(), w.mean())):
        return (" — it is reduced to one number: return one loss per example (elementwise), "
                "which the training loop sums")
    if g.shape == w.shape and torch.allclose(g, 2 * w):
        return " — it is twice the expected value: the squared loss has a ½, ℓ = ½ (ŷ - y)²"
    return ""


def _cmp_loss(what):
    def compare(got, want, inputs, tol):
        try:
            expect_tensor(got["result"], want["result"], what, tol)
        except CheckFailed as e:
            raise CheckFailed(str(e) + _loss_hint(got["result"], want["result"])) from None
    return compare


# -- sgd ---------------------------------------------------------------------------------
def _sgd_inputs(gen):
    return {"w": randn(gen, 3, 1), "b": randn(gen, 1), "w_grad": randn(gen, 3, 1),
            "b_grad": randn(gen, 1), "lr": 0.05, "batch_size": 4}


def _sgd_run(ns, inputs, ctx):
    w = inputs["w"].clone().to(ctx.device).requires_grad_()
    b = inputs["b"].clone().to(ctx.device).requires_grad_()
    w.grad, b.grad = inputs["w_grad"].clone().to(ctx.device), inputs["b_grad"].clone().to(ctx.device)
    ids = (id(w), id(b), w.data_ptr(), b.data_ptr())
    params = [w, b]
    try:
        call(ctx, ns, "sgd", params, inputs["lr"], inputs["batch_size"])
    except (RuntimeError, AttributeError) as e:
        hint = _sgd_error_hint(e)
        if not hint:
            raise
        raise type(e)(f"{e} — {hint}") from None
    same = ids == (id(params[0]), id(params[1]), params[0].data_ptr(), params[1].data_ptr())
    return {"w": params[0], "b": params[1], "same_objects": same,
            "leaf": all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params),
            "grads": [None if p.grad is None else p.grad for p in params]}


def _sgd_error_hint(e: Exception) -> str:
    """What the two classic errors of an update mean, in words."""
    if isinstance(e, NotImplementedError):
        return ""
    if "leaf Variable that requires grad" in str(e):
        return "do the update inside `with torch.no_grad():`, where changing a parameter in place is allowed"
    if isinstance(e, AttributeError) and "'NoneType'" in str(e) and "zero_" in str(e):
        return ("`param = param - ...` makes a new tensor, which has no .grad; change the parameter "
                "itself in place (`param -= ...`) and zero its .grad")
    return ""


def _cmp_sgd_update(got, want, inputs, tol):
    what = f"sgd([w, b], lr={inputs['lr']}, batch_size={inputs['batch_size']})"
    for key in ("w", "b"):
        if isinstance(got[key], WireTensor) and isinstance(want[key], WireTensor):
            base = inputs[key].reshape(want[key].shape)
            zeroed = all(isinstance(g, WireTensor) and not g.values.abs().max().item() for g in got["grads"])
            if got["same_objects"] and zeroed and torch.equal(got[key].values.cpu(), base):
                raise CheckFailed(f"{what} left {key} unchanged, and its gradient is zero after the call: "
                                  "the gradient was zeroed before the step used it — step first "
                                  "(`param -= ...`), then `param.grad.zero_()`")
            if torch.allclose(got[key].values.cpu(), base - inputs["lr"] * inputs[key + "_grad"].reshape(base.shape), rtol=1e-5, atol=1e-6):
                raise CheckFailed(f"{what} updated {key} by lr * grad; divide the gradient by "
                                  "batch_size too (the loss was summed over the batch)")
        expect_tensor(got[key], want[key], f"{what}: {key} after the step", tol)


def _cmp_sgd_zero(got, want, inputs, tol):
    for name, grad in zip("wb", got["grads"]):
        if grad is None:
            continue
        if not isinstance(grad, WireTensor) or grad.values.abs().max().item() != 0:
            raise CheckFailed(f"after sgd, {name}.grad is {describe(grad)}; set it to zero "
                              f"({name}.grad.zero_()) so the next backward() does not add to it")


def _cmp_sgd_inplace(got, want, inputs, tol):
    if not got["same_objects"]:
        raise CheckFailed("sgd replaced the parameter tensors (e.g. `param = param - ...`); "
                          "update them in place (`param -= ...`) so the caller's w and b change")
    if not got["leaf"]:
        raise CheckFailed("after sgd the parameters are no longer leaf tensors that require grad; "
                          "do the update inside `with torch.no_grad():`")


# -- training -------------------------------------------------------------------------
NUM_EPOCHS, LR, BATCH_SIZE, NUM_EXAMPLES = 3, 0.03, 10, 1000
STEPS = NUM_EPOCHS * -(-NUM_EXAMPLES // BATCH_SIZE)
REFERENCE_SHUFFLES = 5  # reference runs, one per shuffle, that make the bands
BAND = 1.5  # an epoch's loss is accepted within this factor of the reference runs' range
PARAMETER_SLACK = 5e-3  # learned w and b are accepted this far outside the reference runs' range


def _train_inputs(gen):
    X = randn(gen, NUM_EXAMPLES, 2)
    y = X @ torch.tensor(TRUE_W).reshape(-1, 1) + TRUE_B + 0.01 * randn(gen, NUM_EXAMPLES, 1)
    return {"features": X, "labels": y}


def _yardstick(X, y, w, b) -> torch.Tensor:
    """The loss of the learned (w, b) on all the data, whatever the student's pieces compute."""
    with torch.no_grad():
        return 0.5 * ((X @ w.reshape(-1, 1) + b - y) ** 2).mean()


def _train(ns, inputs, ctx):
    """The chapter's training loop, built from the four functions in ``ns``; the shuffle's seed
    depends on the reference run ``variant`` (the student's run is variant 0).

    It returns the run itself — ``(w, b)`` before the first step and after every step, and
    each step's minibatch — not a verdict on it: the grader measures the losses and re-derives
    every step from these with reference code (:func:`_verified_run`), so that a probe the
    student replaced can report nothing the grader believes (DESIGN.md §2)."""
    X, y = inputs["features"].to(ctx.device), inputs["labels"].to(ctx.device)
    shuffle = torch.Generator().manual_seed(ctx.seed + 1000 * inputs.get("variant", 0))
    w = torch.normal(0, 0.01, (2, 1), generator=torch.Generator().manual_seed(ctx.seed))
    w = w.to(ctx.device).requires_grad_()
    b = torch.zeros(1, device=ctx.device, requires_grad=True)
    steps, params, batch_X, batch_y, epoch_ends = [], [_flat(w, b)], [], [], []
    for _ in range(NUM_EPOCHS):
        for Xb, yb in take(call(ctx, ns, "data_iter", BATCH_SIZE, X, y, shuffle), NUM_EXAMPLES):
            ctx.call = "squared_loss(linreg(X_batch, w, b), y_batch).sum().backward()"
            loss = ns["squared_loss"](ns["linreg"](Xb, w, b), yb)
            loss.sum().backward()
            call(ctx, ns, "sgd", [w, b], LR, BATCH_SIZE)
            steps.append(loss.detach().float().mean())
            params.append(_flat(w, b))
            batch_X.append(Xb.detach())
            batch_y.append(yb.detach())
        epoch_ends.append(len(steps))
    d = X.shape[1]
    return {"step_losses": torch.stack(steps).cpu(), "params": torch.stack(params).double().cpu(),
            "batch_X": torch.cat([t.reshape(-1, d) for t in batch_X]).cpu(),
            "batch_y": torch.cat([t.reshape(-1, 1) for t in batch_y]).cpu(),
            "batch_sizes": [len(t) for t in batch_X], "epoch_ends": epoch_ends,
            "w": w.detach(), "b": b.detach()}


def _flat(w, b) -> torch.Tensor:
    """``(w, b)`` as one row ``[w_1, w_2, b]``, for the run's record."""
    return torch.cat([w.detach().reshape(-1), b.detach().reshape(-1)])


STEP_RTOL, STEP_ATOL = 1e-3, 1e-5  # a recorded step against the step re-derived from its batch


def _verified_run(got, inputs, what: str, steps: bool = True) -> tuple[torch.Tensor, list[int]]:
    """The run's parameter rows and epoch ends, once the grader has re-derived every step.

    Checks, with reference code in the trusted grader: every minibatch is rows of the data with
    their labels; every recorded ``(w, b)`` is one SGD step (lr, summed ½-squared loss, divided
    by the batch size) from the one before it on that minibatch. Costs about 1 ms (300 steps of
    10 examples, vectorised). Raises CheckFailed otherwise. With ``steps=False`` only the
    record's form is checked (the band's message comes first for an honest run's bug)."""
    X, y = inputs["features"].double(), inputs["labels"].double()
    params, bx, by = (got.get(k) for k in ("params", "batch_X", "batch_y"))
    sizes, ends = got.get("batch_sizes"), got.get("epoch_ends")
    d = X.shape[1]
    if not (isinstance(params, WireTensor) and isinstance(bx, WireTensor) and isinstance(by, WireTensor)
            and isinstance(sizes, list) and isinstance(ends, list)
            and len(sizes) <= 4 * STEPS and len(ends) <= 4 * STEPS  # bounded here, not by the sender
            and all(type(n) is int and n > 0 for n in sizes + ends)):
        raise CheckFailed(f"{what}: the run's record did not come back (parameters after each step "
                          "and each step's minibatch)")
    P, bx, by = params.values.double(), bx.values.double(), by.values.double()
    n = sum(sizes)
    if (P.shape != (len(sizes) + 1, d + 1) or bx.shape != (n, d) or by.shape != (n, 1)
            or ends != sorted(ends) or ends[-1] != len(sizes)):
        raise CheckFailed(f"{what}: the run's record is inconsistent (parameters, minibatches and "
                          "steps do not match)")
    if not steps:
        return P, ends
    # every minibatch row is a row of the data (the features are continuous: no two alike)
    key, order = X[:, 0].sort()
    at = torch.searchsorted(key, bx[:, 0].contiguous()).clamp(max=len(X) - 1)
    rows = order[at]
    if not (torch.equal(X[rows], bx) and torch.equal(y[rows], by)):
        raise CheckFailed(f"{what}: a minibatch of the run is not made of the training data's "
                          "examples with their labels")
    # each step re-derived: w' = w - lr / B * Σ (x·w + b - y) x,  b' = b - lr / B * Σ (x·w + b - y)
    step = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    before = P[:-1][step]
    residual = (bx * before[:, :d]).sum(1) + before[:, d] - by[:, 0]
    grad = torch.zeros(len(sizes), d + 1, dtype=torch.float64)
    grad.index_add_(0, step, torch.cat([bx * residual[:, None], residual[:, None]], 1))
    change = -LR / BATCH_SIZE * grad
    miss = ~((P[1:] - (P[:-1] + change)).abs() <= STEP_ATOL + STEP_RTOL * change.abs())  # nan: a miss
    if miss.any():
        k = int(miss.any(1).nonzero()[0])
        raise CheckFailed(f"{what}: after step {k + 1} the parameters are {preview(P[k + 1], d + 1)}, but "
                          f"one step of SGD from the ones before ({preview(P[k], d + 1)}) on that "
                          f"minibatch gives {preview(P[k] + change[k], d + 1)}: the update is not "
                          f"w -= lr * w.grad / batch_size with the gradient of the summed ½ squared "
                          "loss. Likely causes: sgd or squared_loss")
    return P, ends


def _epoch_losses(run: tuple[torch.Tensor, list[int]], inputs) -> torch.Tensor:
    """The yardstick after each epoch, measured here on the grader's data from the run's
    parameters (never a number the harness computed)."""
    P, ends = run
    X, y = inputs["features"].double(), inputs["labels"].double()
    d = X.shape[1]
    return torch.stack([_yardstick(X, y, P[e, :d], P[e, d]) for e in ends])


def _curves(got, want):
    ref = want[0]["step_losses"].values.tolist()
    mine = got["step_losses"].values.tolist() if isinstance(got.get("step_losses"), WireTensor) else []
    return {"curve": {"student": mine, "reference": ref, "ylabel": "minibatch loss", "xlabel": "step"}}


def _band_miss(v: float, lo: float, hi: float) -> str:
    """How far outside [lo, hi] the loss ``v`` is, and what usually makes it so."""
    if not torch.isfinite(torch.tensor(v)):
        return ("the training diverged. Likely causes: a step with the wrong sign (param += ...), "
                "gradients never zeroed (they pile up step after step), or steps far too large")
    if v < lo:
        return (f"{lo / max(v, 1e-300):.3g} times below the lowest accepted, lower than every correct "
                "run: the steps are too large. Likely causes: sgd not dividing by batch_size, a "
                "squared_loss without its ½ (which doubles the gradient), or a step taken twice")
    return (f"{v / hi:.3g} times above the highest accepted, higher than every correct run: the "
            "steps are too small or go astray. Likely causes: sgd dividing by batch_size twice, a "
            "squared_loss that averages (the loop sums it), parameters not changed in place, "
            "gradients never zeroed or zeroed before the step, a model without its bias, or "
            "features and labels no longer paired")


def _cmp_trajectory(got, want, inputs, tol: Tolerance):
    detail = _curves(got, want)
    what = f"training with your functions (lr {LR}, batch {BATCH_SIZE}, {NUM_EPOCHS} epochs)"
    steps = got["step_losses"]
    if not isinstance(steps, WireTensor) or steps.shape != (STEPS,):
        count = steps.shape[0] if isinstance(steps, WireTensor) else describe(steps)
        raise CheckFailed(f"{what} took {count} minibatch steps; expected {STEPS}, {NUM_EPOCHS} "
                          f"epochs of {NUM_EXAMPLES} examples in batches of {BATCH_SIZE}: data_iter "
                          "must yield every example once per epoch, batch_size at a time")
    run = _verified_run(got, inputs, what, steps=False)
    if len(run[0]) != STEPS + 1:
        raise CheckFailed(f"{what} took {len(run[0]) - 1} minibatch steps; expected {STEPS}")
    ref = torch.stack([_epoch_losses(_trusted(w), inputs) for w in want])
    lo, hi = ref.min(0).values / BAND, ref.max(0).values * BAND
    values = _epoch_losses(run, inputs)
    if values.shape != ref.shape[1:]:
        raise CheckFailed(f"{what} ran {len(values)} epochs; expected {NUM_EPOCHS}")
    for epoch, (v, a, b) in enumerate(zip(values.tolist(), lo.tolist(), hi.tolist()), 1):
        if not (a <= v <= b):
            err = CheckFailed(f"{what}: the loss after epoch {epoch} is {v:.3g}; the reference's runs "
                              f"over {len(want)} shuffles give {ref[:, epoch - 1].min():.3g}–"
                              f"{ref[:, epoch - 1].max():.3g}, and {a:.3g}–{b:.3g} is accepted. "
                              f"Yours is {_band_miss(v, a, b)}")
            err.detail = detail
            raise err
    _verified_run(got, inputs, what)
    return detail


def _trusted(want) -> tuple[torch.Tensor, list[int]]:
    """A reference run's record (computed in the grader: nothing to verify)."""
    return want["params"].values.double(), want["epoch_ends"]


def _cmp_final_params(got, want, inputs, tol):
    what = f"training with your functions (lr {LR}, batch {BATCH_SIZE}, {NUM_EPOCHS} epochs)"
    last, _ = _verified_run(got, inputs, what, steps=False)
    refs = torch.stack([_trusted(w)[0][-1] for w in want])
    d = refs.shape[1] - 1
    for key, cols in (("w", slice(0, d)), ("b", slice(d, d + 1))):
        ref = refs[:, cols]
        lo, hi = ref.min(0).values - PARAMETER_SLACK, ref.max(0).values + PARAMETER_SLACK
        v = last[-1, cols]
        if not torch.isfinite(v).all() or (v < lo).any() or (v > hi).any():
            raise CheckFailed(f"after training, {key} = {preview(v, v.numel())}; the reference's "
                              f"runs end within {preview(lo, lo.numel())}–{preview(hi, hi.numel())} "
                              f"(true value {TRUE_W if key == 'w' else TRUE_B}). Likely causes: a "
                              "parameter that sgd does not update, a linreg that adds b with another "
                              "sign or leaves it out, steps too small to get there in 3 epochs, or "
                              "a training that diverged")
    _verified_run(got, inputs, what)


REQUIREMENTS = [
    Requirement("synthetic_data.shapes", "synthetic_data",
                "X of shape (num_examples, len(w)), and y of shape (num_examples, 1)",
                ("shapes", "noiseless_labels"), "the shapes of X and y"),
    Requirement("synthetic_data.features", "synthetic_data", "X from N(0, 1)", ("statistics",),
                "the features' mean and standard deviation"),
    Requirement("synthetic_data.labels", "synthetic_data", "y equal to X w + b plus noise",
                ("noiseless_labels", "statistics"), "y with noise=0 against X @ w + b"),
    Requirement("synthetic_data.noise", "synthetic_data", "noise from N(0, noise²)", ("statistics",),
                "the noise's standard deviation"),
    Requirement("synthetic_data.generator", "synthetic_data",
                "draw all random numbers with generator=generator", ("generator",),
                "X and y from two generators seeded alike"),
    Requirement("data_iter.generator_function", "data_iter",
                "a generator data_iter(...) that yields (X_batch, y_batch) pairs", ("yields",),
                "inspect.isgenerator"),
    Requirement("data_iter.batches", "data_iter",
                "consecutive slices of the permutation: every example once per epoch, the last "
                "batch smaller", ("epoch",), "batch sizes and coverage"),
    Requirement("data_iter.paired", "data_iter",
                "features and labels indexed with the same indices, so that they stay paired",
                ("epoch",), "labels against features"),
    Requirement("data_iter.shuffled", "data_iter", "a random permutation of the indices",
                ("shuffle",), "the order is not 0, 1, 2, ..."),
    Requirement("data_iter.generator", "data_iter",
                "the permutation drawn with torch.randperm(n, generator=generator)", ("shuffle",),
                "orders from generators seeded alike, and otherwise"),
    Requirement("linreg.column", "linreg", "predictions X w + b of shape (n, 1)",
                ("values", "gradient"), "a known answer of shape (3, 1)"),
    Requirement("linreg.differentiable", "linreg",
                "every computation that uses w and b is recorded, so that backward() can compute "
                "the gradient", ("gradient",), "gradients reach w and b"),
    Requirement("squared_loss.half_squared", "squared_loss", "ℓ(ŷ, y) = ½ (ŷ - y)²",
                ("elementwise", "flat_labels"), "known answers (hint for a missing ½)"),
    Requirement("squared_loss.elementwise", "squared_loss",
                "returns the loss of each example (elementwise); summing or averaging is the "
                "training loop's business", ("elementwise", "flat_labels"), "the shape (3, 1)"),
    Requirement("squared_loss.reshape", "squared_loss", "reshape y to y_hat's shape first",
                ("flat_labels",), "y of shape (3,) gives (3, 1), not (3, 3)"),
    Requirement("sgd.divide_by_batch_size", "sgd",
                "(w, b) ← (w, b) - η/|B| Σ ∇ℓ: divide the summed gradient by the batch size",
                ("update", "zero_grad", "in_place"), "a known step (hint for a missing division)"),
    Requirement("sgd.in_place", "sgd",
                "it changes the parameter tensors in place (param -= ...), so the caller's w and "
                "b see the new values", ("in_place",), "the same tensors, changed"),
    Requirement("sgd.no_grad", "sgd", "it runs under torch.no_grad()",
                ("update", "zero_grad", "in_place"), "leaf tensors that require grad, no error"),
    Requirement("sgd.zero_grad", "sgd", "it zeroes the gradients afterwards", ("zero_grad",),
                ".grad is zero after the step"),
]

EXERCISES = [
    Exercise("synthetic_data", (
        Check("shapes", 1, "X has shape (n, d) and y has shape (n, 1)",
              make_inputs=_synth_cases, probe=_synth_shapes, compare=_cmp_synth_shapes),
        Check("noiseless_labels", 1, "with noise=0, y equals X @ w + b",
              make_inputs=_synth_cases, probe=_synth_noiseless, compare=_cmp_synth_noiseless),
        Check("statistics", 0.5, "features from N(0, 1) and noise with the given standard deviation",
              make_inputs=_synth_stats_inputs, probe=_synth_stats, compare=_cmp_synth_stats),
        Check("generator", 0.5, "all randomness drawn from the generator passed in",
              make_inputs=_synth_stats_inputs, probe=_synth_generator, compare=_cmp_synth_generator),
    )),
    Exercise("data_iter", (
        Check("epoch", 2, "every example exactly once per epoch, full batches and a smaller last one",
              make_inputs=_iter_inputs, probe=_iter_epochs, compare=_cmp_iter_cover),
        Check("shuffle", 1, "the order is shuffled with the generator passed in",
              make_inputs=_iter_inputs, probe=_iter_shuffle, compare=_cmp_iter_shuffle),
        # Whether data_iter is a generator is seen only in the student's process (a claim),
        # and a generator that yields nothing is one too: a guard.
        Check("yields", 0.5, "a generator function: it yields the batches one by one",
              make_inputs=_iter_inputs, probe=_iter_epochs, compare=_cmp_iter_lazy, guard=True),
    )),
    Exercise("linreg", (
        Check("values", 1.5, "X @ w + b with shape (n, 1), in the inputs' dtype",
              make_inputs=_linreg_inputs, probe=_linreg_values, compare=_cmp_linreg_values),
        Check("gradient", 0.5, "gradients flow to w and b", kind="gradient", tolerance="grad",
              make_inputs=_linreg_inputs, probe=_linreg_grad, compare=_cmp_linreg_grad),
    )),
    Exercise("squared_loss", (
        Check("elementwise", 1, "(y_hat - y)² / 2 elementwise, shape (n, 1)",
              make_inputs=_loss_inputs, probe=_loss_same,
              compare=_cmp_loss("squared_loss(y_hat (8, 1), y (8, 1))")),
        Check("flat_labels", 1, "y of shape (n,) is reshaped to y_hat's (n, 1), not broadcast to (n, n)",
              make_inputs=_loss_inputs, probe=_loss_flat,
              compare=_cmp_loss("squared_loss(y_hat (8, 1), y (8,))")),
    )),
    Exercise("sgd", (
        Check("update", 1, "param -= lr * param.grad / batch_size",
              make_inputs=_sgd_inputs, probe=_sgd_run, compare=_cmp_sgd_update),
        # An sgd whose body only sets p.grad = None passes this, and the gradients are seen
        # only in the student's process (a claim): a guard, awarded with a verified update.
        Check("zero_grad", 1, "the gradients are zeroed after the step",
              make_inputs=_sgd_inputs, probe=_sgd_run, compare=_cmp_sgd_zero, guard=True),
        # An sgd that does nothing leaves the same leaf tensors too: a guard.
        Check("in_place", 1, "in place, without tracking: the same leaf tensors",
              make_inputs=_sgd_inputs, probe=_sgd_run, compare=_cmp_sgd_inplace, guard=True),
    )),
    Exercise("training", (
        Check("trajectory", 2, "the loss after each epoch within the band of the reference's "
              "trainings over several shuffles", kind="training", make_inputs=_train_inputs,
              probe=_train, compare=_cmp_trajectory, timeout=60,
              reference_variants=REFERENCE_SHUFFLES),
        Check("final_parameters", 2, "the learned w and b match the reference's",
              kind="training", make_inputs=_train_inputs, probe=_train, compare=_cmp_final_params,
              timeout=60, reference_variants=REFERENCE_SHUFFLES),
    ), functions=(), uses=("data_iter", "linreg", "squared_loss", "sgd")),
]

# Measured by tests/test_chapter_05.py::test_training_checks_calibrated (see the module docstring):
# check → (correct variants, false rejections, realistic bugs, bugs caught).
CALIBRATION = {
    "training/trajectory": (24, 0, 31, 31),
    "training/final_parameters": (24, 0, 24, 24),
}
