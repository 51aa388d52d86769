"""Checks for chapter 05, linear regression from scratch."""
from __future__ import annotations

import torch

from autograder.checks.common import call, randn, take
from autograder.compare import describe, expect_tensor, expect_values, preview
from autograder.spec import Check, CheckFailed, Exercise
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
    out = []
    for n, batch_size in inputs["cases"]:
        X, y = _indexed(n)
        g = torch.Generator().manual_seed(ctx.seed)
        out.append(take(call(ctx, ns, "data_iter", batch_size, X, y, g)))
    return {"results": out}


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
            raise CheckFailed(f"linreg: no gradient reached {key[0]}; build the output from X, w "
                              "and b with tensor operations so autograd can follow it")
        expect_tensor(got[key], want[key], f"the gradient of linreg's output with respect to {key[0]}", tol)


# -- squared_loss ----------------------------------------------------------------------
def _loss_inputs(gen):
    return {"y_hat": randn(gen, 8, 1), "y": randn(gen, 8, 1)}


def _loss_same(ns, inputs, ctx):
    return {"result": call(ctx, ns, "squared_loss", inputs["y_hat"].to(ctx.device), inputs["y"].to(ctx.device))}


def _loss_flat(ns, inputs, ctx):
    return {"result": call(ctx, ns, "squared_loss", inputs["y_hat"].to(ctx.device),
                           inputs["y"].reshape(-1).to(ctx.device))}


def _cmp_loss(what):
    def compare(got, want, inputs, tol):
        expect_tensor(got["result"], want["result"], what, tol)
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
    call(ctx, ns, "sgd", params, inputs["lr"], inputs["batch_size"])
    same = ids == (id(params[0]), id(params[1]), params[0].data_ptr(), params[1].data_ptr())
    return {"w": params[0], "b": params[1], "same_objects": same,
            "leaf": all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in params),
            "grads": [None if p.grad is None else p.grad for p in params]}


def _cmp_sgd_update(got, want, inputs, tol):
    what = f"sgd([w, b], lr={inputs['lr']}, batch_size={inputs['batch_size']})"
    for key in ("w", "b"):
        if isinstance(got[key], WireTensor) and isinstance(want[key], WireTensor):
            base = inputs[key].reshape(want[key].shape)
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
NUM_EPOCHS, LR, BATCH_SIZE = 3, 0.03, 10


def _train_inputs(gen):
    X = randn(gen, 1000, 2)
    y = X @ torch.tensor(TRUE_W).reshape(-1, 1) + TRUE_B + 0.01 * randn(gen, 1000, 1)
    return {"features": X, "labels": y}


def _train(ns, inputs, ctx):
    """The chapter's training loop, built from the four functions in ``ns``."""
    X, y = inputs["features"].to(ctx.device), inputs["labels"].to(ctx.device)
    shuffle = torch.Generator().manual_seed(ctx.seed + 1000 * inputs.get("variant", 0))
    w = torch.normal(0, 0.01, (2, 1), generator=torch.Generator().manual_seed(ctx.seed))
    w = w.to(ctx.device).requires_grad_()
    b = torch.zeros(1, device=ctx.device, requires_grad=True)
    steps, epochs = [], []
    for _ in range(NUM_EPOCHS):
        for Xb, yb in take(call(ctx, ns, "data_iter", BATCH_SIZE, X, y, shuffle), 1000):
            ctx.call = "squared_loss(linreg(X_batch, w, b), y_batch).sum().backward()"
            loss = ns["squared_loss"](ns["linreg"](Xb, w, b), yb)
            loss.sum().backward()
            call(ctx, ns, "sgd", [w, b], LR, BATCH_SIZE)
            steps.append(loss.detach().mean())
        with torch.no_grad():
            epochs.append(ns["squared_loss"](ns["linreg"](X, w, b), y).mean())
    return {"step_losses": torch.stack(steps).cpu(), "epoch_losses": torch.stack(epochs).cpu(),
            "w": w.detach(), "b": b.detach()}


def _curves(got, want):
    ref = want[0]["step_losses"].values.tolist()
    mine = got["step_losses"].values.tolist() if isinstance(got.get("step_losses"), WireTensor) else []
    return {"curve": {"student": mine, "reference": ref, "ylabel": "minibatch loss", "xlabel": "step"}}


def _cmp_trajectory(got, want, inputs, tol: Tolerance):
    detail = _curves(got, want)
    ref = torch.stack([w["epoch_losses"].values.double() for w in want])
    mine = got["epoch_losses"]
    if not isinstance(mine, WireTensor) or mine.shape != (NUM_EPOCHS,):
        raise CheckFailed(f"training produced {describe(mine)} as per-epoch losses")
    lo, hi = ref.min(0).values * 0.5 - tol.atol, ref.max(0).values * 2.0 + tol.atol
    values = mine.values.double()
    for epoch, (v, a, b) in enumerate(zip(values.tolist(), lo.tolist(), hi.tolist()), 1):
        if not (a <= v <= b):
            err = CheckFailed(f"training with your functions (lr {LR}, batch {BATCH_SIZE}): the loss "
                              f"after epoch {epoch} is {v:.3g}; the reference's runs over "
                              f"{len(want)} shuffles give {ref[:, epoch - 1].min():.3g}–"
                              f"{ref[:, epoch - 1].max():.3g} (accepted {max(a, 0):.3g}–{b:.3g})")
            err.detail = detail
            raise err
    return detail


def _cmp_final_params(got, want, inputs, tol):
    for key in ("w", "b"):
        ref = torch.stack([w[key].values.double() for w in want])
        mine = got[key]
        if not isinstance(mine, WireTensor) or mine.shape != tuple(ref.shape[1:]):
            raise CheckFailed(f"training produced {key} = {describe(mine)}")
        lo, hi = ref.min(0).values - 5e-3, ref.max(0).values + 5e-3
        v = mine.values.double()
        if not torch.isfinite(v).all() or (v < lo).any() or (v > hi).any():
            raise CheckFailed(f"after training, {key} = {preview(v, v.numel())}; the reference's "
                              f"runs end within {preview(lo, lo.numel())}–{preview(hi, hi.numel())} "
                              f"(true value {TRUE_W if key == 'w' else TRUE_B})")


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
        Check("zero_grad", 1, "the gradients are zeroed after the step",
              make_inputs=_sgd_inputs, probe=_sgd_run, compare=_cmp_sgd_zero),
        Check("in_place", 1, "in place, without tracking: the same leaf tensors",
              make_inputs=_sgd_inputs, probe=_sgd_run, compare=_cmp_sgd_inplace),
    )),
    Exercise("training", (
        Check("trajectory", 2, "the loss per epoch follows the reference's training",
              kind="training", make_inputs=_train_inputs, probe=_train, compare=_cmp_trajectory,
              tolerance="trajectory", timeout=60, reference_variants=5),
        Check("final_parameters", 2, "the learned w and b match the reference's",
              kind="training", make_inputs=_train_inputs, probe=_train, compare=_cmp_final_params,
              tolerance="trajectory", timeout=60, reference_variants=5),
    ), functions=(), uses=("data_iter", "linreg", "squared_loss", "sgd")),
]

