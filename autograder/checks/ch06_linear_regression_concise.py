"""Checks for chapter 06, linear regression with PyTorch's building blocks.

Training checks: band rule and calibration
------------------------------------------
``train_concise`` is run from the seed of the reference's run 0, with a loss that records
each minibatch's value; the reference trains :data:`REFERENCE_SEEDS` times from as many
seeds (each seed moves the initial weights and the shuffles). Rules:

* ``trajectory``: the mean minibatch loss of each epoch lies within a factor :data:`BAND`
  of the reference runs' range, ``[min / BAND, max · BAND]``, over exactly
  3 epochs × 100 minibatches. The factor is at least 5 times the largest spread of 40
  reference runs (their epoch means spread by 2 %, 3.5 % and 1.2 %), so that it holds every
  correct run on any device; a step twice too large (epoch 1 at 0.52 of the band's
  reference) or momentum (0.82, then 2.1) falls outside.
* ``final_parameters``: the layer's weight and bias lie within :data:`PARAMETER_SLACK` of
  the reference runs' range (40 seeds spanned 2.7e-3).
* ``same_draws``: the prompt asks for its recipe *exactly*, so that the run makes the same
  random draws as the reference's run from the same seed: every minibatch loss must equal
  that run's within relative :data:`STEP_RTOL`. Correct variants differ by rounding only:
  at most 7e-6 relative in float32 (a summed loss with the learning rate divided by the
  batch size), 1.8e-4 for a model trained in float64 — ten times inside; the nearest bug,
  a gradient applied one step late, is 8 % off at its second minibatch, and a seed set
  inside, an extra draw or another initialisation changes the very first loss.

``tests/test_chapter_06.py::test_training_checks_calibrated`` measures all three on every
run (variants: the order of ``zero_grad``, other spellings of the initialisation, a summed
loss with the learning rate divided by the batch size, a float64 model, a loader made in
every epoch...; bugs: what students get wrong in the loop), in :data:`CALIBRATION`:

==================================  ========  ================  ====  ======
check                               variants  false rejections  bugs  caught
==================================  ========  ================  ====  ======
train_concise / trajectory                22                 0    28      28
train_concise / final_parameters          22                 0    22      22
train_concise / same_draws                22                 0    35      35
==================================  ========  ================  ====  ======

A bug counts for the checks that look at what it changes: a seed set inside the function
trains as well as the reference, from other draws — only ``same_draws`` can see it; a
summed loss with the learning rate unchanged converges to the right parameters, too fast.

What the grader believes (a report is a claim, DESIGN.md §2): the probe runs in the student's
process, so none of these rules reads a number computed there. The data's true parameters are
drawn by the grader (:func:`_true_parameters`, never the chapter's 2, -3.4 and 4.2) and stay
in it; the run comes back as each minibatch's predictions and labels (:class:`_Run`): the
grader finds every label among its own data, measures each minibatch's loss itself, and, after
the band's and the draws' rules, checks that each minibatch's predictions are one linear model
of its examples and that each model is one SGD step from the one before (about 2 ms a check).
``final_parameters`` compares the returned layer with the reference's runs on the same data.
``tensor_dataset`` and ``recipe`` look at types and calls seen only in the student's process:
they are guards, awarded only with a verified check of the same exercise.
"""
from __future__ import annotations

import inspect
import math

import torch
from torch import nn
from torch.utils import data

from autograder.checks.common import call, randn, take
from autograder.compare import describe, expect_tensor, expect_values, preview
from autograder.policy import forbid_attributes
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor

CHAPTER = "06_linear_regression_concise"
TRUE_W, TRUE_B = (2.0, -3.4), 4.2


def _tensors(value) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(t, WireTensor) for t in value)


# -- load_array ----------------------------------------------------------------------
def _load_inputs(gen):
    """(n, d, batch_size, labels as a column?) — the last batch is smaller in most cases."""
    return {"cases": [(25, 2, 10, True), (8, 3, 20, True), (30, 2, 7, False), (12, 1, 4, True)]}


def _indexed(n, d, column):
    """Features whose first column is the example's index; labels 10 × the index."""
    idx = torch.arange(n, dtype=torch.float32)
    X = torch.stack([idx] + [-idx * (j + 1) for j in range(d - 1)], 1)
    y = 10 * idx
    return X, (y.reshape(-1, 1) if column else y)


def _epoch(ns, ctx, n, d, batch_size, column, is_train):
    X, y = _indexed(n, d, column)
    loader = call(ctx, ns, "load_array", (X.to(ctx.device), y.to(ctx.device)), batch_size, is_train)
    return [tuple(b) if isinstance(b, (tuple, list)) else b for b in take(loader)]


def _load_ordered(ns, inputs, ctx):
    return {"results": [_epoch(ns, ctx, *case, False) for case in inputs["cases"]]}


def _what(case, is_train):
    n, d, batch_size, column = case
    y_shape = (n, 1) if column else (n,)
    return (f"load_array((features of shape ({n}, {d}), labels of shape {y_shape}), "
            f"{batch_size}, is_train={is_train})")


def _check_batches(batches, case, what):
    for item in batches:
        if not _tensors(item) or len(item) != 2:
            raise CheckFailed(f"iterating over {what} gave {describe(item)}; expected (X, y) batches")
    n, _, batch_size, _ = case
    sizes = [len(Xb.values) for Xb, _ in batches]
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    if sizes != expected:
        raise CheckFailed(f"iterating over {what} gave batches of sizes {sizes[:8]}; "
                          f"expected {expected[:8]} (pass batch_size to the DataLoader)")


def _cmp_load_ordered(got, want, inputs, tol):
    for case, mine, ref in zip(inputs["cases"], got["results"], want["results"]):
        what = _what(case, False)
        _check_batches(mine, case, what)
        order = torch.cat([Xb.values[:, 0] for Xb, _ in mine]).long().tolist()
        if order != list(range(case[0])):
            raise CheckFailed(f"iterating over {what} gave the examples in the order {order[:10]}…; "
                              "with is_train=False they must come in their stored order (shuffle=is_train)")
        for i, ((Xb, yb), (Xr, yr)) in enumerate(zip(mine, ref)):
            expect_tensor(Xb, Xr, f"{what}: X of batch {i}", tol)
            expect_tensor(yb, yr, f"{what}: y of batch {i}", tol)


def _load_shuffled(ns, inputs, ctx):
    return {"results": [_epoch(ns, ctx, *case, True) for case in inputs["cases"]]}


def _cmp_load_shuffled(got, want, inputs, tol):
    for case, mine in zip(inputs["cases"], got["results"]):
        what = _what(case, True)
        _check_batches(mine, case, what)
        rows = torch.cat([Xb.values[:, 0] for Xb, _ in mine]).long()
        labels = torch.cat([yb.values.reshape(-1) for _, yb in mine])
        if sorted(rows.tolist()) != list(range(case[0])):
            raise CheckFailed(f"iterating over {what}: examples were dropped or repeated; "
                              "each must appear exactly once per epoch")
        if not torch.equal(labels, 10 * rows.float()):
            raise CheckFailed(f"iterating over {what}: features and labels are no longer paired; "
                              "wrap both in one data.TensorDataset")
        if case[0] >= 20 and rows.tolist() == list(range(case[0])):
            raise CheckFailed(f"iterating over {what} gave the examples in order; with "
                              "is_train=True the DataLoader must shuffle (shuffle=is_train)")


def _load_rng_inputs(gen):
    return {"n": 60, "batch_size": 8}


def _load_rng(ns, inputs, ctx):
    X, y = _indexed(inputs["n"], 2, True)
    loader = call(ctx, ns, "load_array", (X, y), inputs["batch_size"], True)
    epochs = [torch.cat([b[0][:, 0] for b in take(loader)]) for _ in range(2)]
    torch.manual_seed(ctx.seed)
    again = torch.cat([b[0][:, 0] for b in take(call(ctx, ns, "load_array", (X, y), inputs["batch_size"], True))])
    return {"epochs": epochs, "again": again, "is_dataloader": isinstance(loader, data.DataLoader),
            "type": type(loader).__name__,
            "dataset": type(getattr(loader, "dataset", None)).__name__}


def _cmp_load_dataset(got, want, inputs, tol):
    if got["dataset"] != "TensorDataset":
        where = f"a DataLoader over a {got['dataset']}" if got["is_dataloader"] else f"a {got['type']}"
        raise CheckFailed(f"load_array((features, labels), {inputs['batch_size']}) returned {where}; "
                          "wrap the tensors in one data.TensorDataset(*data_arrays), which keeps them "
                          "paired, and return a DataLoader over it")


def _cmp_load_rng(got, want, inputs, tol):
    what = f"load_array((features ({inputs['n']}, 2), labels ({inputs['n']}, 1)), {inputs['batch_size']})"
    if not got["is_dataloader"]:
        raise CheckFailed(f"{what} returned a {got['type']}; expected a torch.utils.data.DataLoader")
    first, second = (e.values for e in got["epochs"])
    if torch.equal(first, second):
        raise CheckFailed(f"{what}: two epochs over the same loader gave the same order; "
                          "it must reshuffle every epoch (shuffle=True)")
    if not torch.equal(first, got["again"].values):
        raise CheckFailed(f"{what}: after the same torch.manual_seed, the order of the examples "
                          "differed; draw the shuffle from the global torch RNG (no generator)")
    ref = want["epochs"][0].values
    if not torch.equal(first, ref):
        raise CheckFailed(f"{what}: after torch.manual_seed the examples came in the order "
                          f"{first[:8].long().tolist()}…; data.DataLoader(dataset, batch_size, "
                          f"shuffle=True) gives {ref[:8].long().tolist()}… — shuffle with the "
                          "DataLoader itself, with no generator and no extra random draws")


# -- huber_loss ------------------------------------------------------------------------
def _huber_inputs(gen):
    return {"cases": [
        {"y_hat": 2 * randn(gen, 8, 1), "y": 2 * randn(gen, 8, 1), "delta": 1.0},
        {"y_hat": 3 * randn(gen, 12, 1, dtype=torch.float64),
         "y": randn(gen, 12, 1, dtype=torch.float64), "delta": 0.5},
        {"y_hat": 4 * randn(gen, 5, 3), "y": randn(gen, 5, 3), "delta": 2.0},
        {"y_hat": torch.tensor([[0.0], [1.0], [-1.0], [1.5]]), "y": torch.zeros(4, 1), "delta": 1.0},
    ]}


def _huber_case_what(case, flat=False):
    y_shape = (len(case["y"]),) if flat else tuple(case["y"].shape)
    return (f"huber_loss(y_hat {tuple(case['y_hat'].shape)}, y {y_shape}, delta={case['delta']}) "
            f"[{str(case['y_hat'].dtype)[6:]}]")


def _huber_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "huber_loss", c["y_hat"].to(ctx.device), c["y"].to(ctx.device),
                             c["delta"]) for c in inputs["cases"]]}


def _huber_hint(got, case):
    if not isinstance(got, WireTensor) or got.shape != tuple(case["y_hat"].shape):
        return ""
    r = (case["y_hat"] - case["y"]).abs().double()
    d = case["delta"]
    g = got.values.double()
    wrongs = {"|r| - delta/2 outside the band, without the factor delta (Huber's is delta·(|r| - delta/2))":
              torch.where(r <= d, 0.5 * r ** 2, r - 0.5 * d),
              "r²/2 everywhere (the squared loss)": 0.5 * r ** 2,
              "r²/(2·delta) inside the band (that is SmoothL1Loss(beta=delta), not Huber)":
              torch.where(r <= d, 0.5 * r ** 2 / d, r - 0.5 * d)}
    for text, value in wrongs.items():
        if torch.allclose(g, value, rtol=1e-4, atol=1e-5):
            return f" — it computes {text}"
    return ""


def _cmp_huber_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = _huber_case_what(case)
        try:
            expect_tensor(g, w, what, tol)
        except CheckFailed as e:
            raise CheckFailed(str(e) + _huber_hint(g, case)) from None


def _huber_flat(ns, inputs, ctx):
    c = inputs["cases"][0]
    return {"result": call(ctx, ns, "huber_loss", c["y_hat"].to(ctx.device),
                           c["y"].reshape(-1).to(ctx.device), c["delta"])}


def _cmp_huber_flat(got, want, inputs, tol):
    expect_tensor(got["result"], want["result"], _huber_case_what(inputs["cases"][0], flat=True), tol)


def _huber_grad(ns, inputs, ctx):
    out = []
    for c in inputs["cases"][:2]:
        y_hat = c["y_hat"].clone().to(ctx.device).requires_grad_()
        call(ctx, ns, "huber_loss", y_hat, c["y"].to(ctx.device), c["delta"]).sum().backward()
        out.append(y_hat.grad)
    return {"grads": out}


def _cmp_huber_grad(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["grads"], want["grads"]):
        what = f"the gradient of huber_loss(...).sum() with respect to y_hat (delta={case['delta']})"
        if not isinstance(g, WireTensor):
            raise CheckFailed(f"{what}: no gradient reached y_hat; compute the loss from y_hat "
                              "with tensor operations (no .item(), no .detach())")
        try:
            expect_tensor(g, w, what, tol)
        except CheckFailed as e:
            raise CheckFailed(f"{e} — it should be r inside the band |r| <= delta and "
                              "delta·sign(r) outside") from None


# -- train_concise --------------------------------------------------------------------
NUM_EPOCHS, LR, BATCH_SIZE, NUM_EXAMPLES = 3, 0.03, 10, 1000
STEPS_PER_EPOCH = -(-NUM_EXAMPLES // BATCH_SIZE)
REFERENCE_SEEDS = 5  # reference runs, one per seed, that make the bands
BAND = 1.25  # an epoch's mean minibatch loss is accepted within this factor of the reference runs' range
PARAMETER_SLACK = 5e-3  # the learned weight and bias, this far outside the reference runs' range
STEP_RTOL = 2e-3  # same_draws: each minibatch loss against the reference run from the same seed


class RecordingMSE:
    """``nn.MSELoss()`` that remembers, for each call, the batch size, the loss value, and the
    predictions and labels it was given (the run's record, which the grader verifies)."""

    def __init__(self):
        self.loss, self.sizes, self.values, self.preds, self.labels = nn.MSELoss(), [], [], [], []

    def __call__(self, y_hat, y):
        l = self.loss(y_hat, y)
        self.sizes.append(len(y_hat))
        self.values.append(float(l.detach()))
        self.preds.append(y_hat.detach().reshape(-1).double().cpu())
        self.labels.append(y.detach().reshape(-1).double().cpu())
        return l


def _true_parameters(gen) -> tuple[torch.Tensor, float]:
    """The w and b the training data is made from, drawn by the grader: never the chapter's
    (2, -3.4) and 4.2, which its text gives away. Each is 0.1 to 0.5 from the chapter's value:
    w's entries nearer zero, b farther, so that the runs keep the chapter's scale and a bias
    started at 1 instead of 0 still gains at least as large a share of the initial loss as in
    the chapter (the bands were calibrated on it: ``bias_starts_at_one`` lies just outside).
    They stay in the grader: the student's process gets the data only."""
    shift = 0.1 + 0.4 * torch.rand(3, generator=gen)
    w = torch.tensor(TRUE_W)
    return w - w.sign() * shift[:2], TRUE_B + float(shift[2])


def _train_inputs(gen):
    X = randn(gen, NUM_EXAMPLES, 2)
    w, b = _true_parameters(gen)
    y = X @ w.reshape(-1, 1) + b + 0.01 * randn(gen, NUM_EXAMPLES, 1)
    return {"features": X, "labels": y, "features_3": randn(gen, 30, 3), "labels_3": randn(gen, 30, 1)}


def _linear_of(net):
    if not isinstance(net, nn.Module):
        return None
    return next((m for m in net.modules() if isinstance(m, nn.Linear)), None)


def _train(ns, inputs, ctx):
    """Seed torch as the reference's run ``variant`` does, train with the student's function.

    Training runs on the CPU whatever ``ctx.device``: the recipe builds the model on the CPU
    (as the chapter does), and a three-parameter model gains nothing from a GPU.
    """
    torch.manual_seed(ctx.seed + 1000 * inputs.get("variant", 0))
    loss = RecordingMSE()
    net = call(ctx, ns, "train_concise", inputs["features"].clone(), inputs["labels"].clone(),
               NUM_EPOCHS, LR, BATCH_SIZE, loss)
    layer = _linear_of(net)
    kept = [i for i, s in enumerate(loss.sizes) if s != NUM_EXAMPLES]  # minibatches, not a full-data loss
    empty = torch.zeros(0, dtype=torch.float64)
    # "steps" (the losses measured here) is read only from the reference's runs; a student's run
    # is judged from its record (predictions and labels per minibatch), measured by the grader
    return {"returned": type(net).__name__,
            "steps": torch.tensor([loss.values[i] for i in kept], dtype=torch.float64),
            "batch_sizes": [loss.preds[i].numel() for i in kept],
            "preds": torch.cat([loss.preds[i] for i in kept]) if kept else empty,
            "labels": torch.cat([loss.labels[i] for i in kept]) if kept else empty,
            "w": None if layer is None else layer.weight.detach().reshape(-1),
            "b": None if layer is None or layer.bias is None else layer.bias.detach().reshape(-1)}


def _curves(mine: list, want):
    ref = want[0]["steps"].values.tolist()
    return {"curve": {"student": mine, "reference": ref, "ylabel": "minibatch loss", "xlabel": "step"}}


def _epoch_means(steps: torch.Tensor) -> torch.Tensor:
    return steps.reshape(NUM_EPOCHS, STEPS_PER_EPOCH).mean(1)


TRAIN_WHAT = (f"train_concise(features ({NUM_EXAMPLES}, 2), labels ({NUM_EXAMPLES}, 1), "
              f"num_epochs={NUM_EPOCHS}, lr={LR}, batch_size={BATCH_SIZE}, loss=nn.MSELoss())")


STEP_CHECK_RTOL, STEP_CHECK_ATOL = 1e-3, 1e-5  # a recorded step against the one re-derived from its minibatch
LINEAR_TOL = 1e-4  # a prediction against the linear model fitted to its minibatch's predictions


class _Run:
    """A student's run as the grader reads it from the record (never a number the harness
    computed): the minibatches' labels, found among the grader's own data, and the losses
    measured here from the predictions the net made for them. :meth:`verify` then re-derives
    every step. About 2 ms for 300 minibatches of 10 (vectorised)."""

    def __init__(self, got, inputs):
        sizes, preds, labels = (got.get(k) for k in ("batch_sizes", "preds", "labels"))
        if not (isinstance(sizes, list) and len(sizes) <= 4 * NUM_EPOCHS * STEPS_PER_EPOCH  # bounded here
                and all(type(n) is int and n > 0 for n in sizes)
                and isinstance(preds, WireTensor) and isinstance(labels, WireTensor)
                and preds.shape == labels.shape == (sum(sizes),)):
            raise CheckFailed(f"{TRAIN_WHAT}: the run's record did not come back (each minibatch's "
                              "predictions and labels, one prediction per example)")
        self.sizes, self.preds, self.labels = sizes, preds.values.double(), labels.values.double()
        X, y = inputs["features"].double(), inputs["labels"].double().reshape(-1)
        self.X, self.n = X, len(self.preds)
        if self.n:  # every label is one of the data's (continuous: no two alike), with its features
            key, order = y.sort()
            self.rows = order[torch.searchsorted(key, self.labels.contiguous()).clamp(max=len(y) - 1)]
            if not torch.equal(y[self.rows], self.labels):
                raise CheckFailed(f"{TRAIN_WHAT}: a minibatch's labels are not the training data's; "
                                  "compute l = loss(net(X), y) on the minibatches load_array gives")
        self.step = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))
        # each minibatch's loss, measured here: the mean squared error of its predictions
        loss = torch.zeros(len(sizes), dtype=torch.float64)
        loss.index_add_(0, self.step, (self.preds - self.labels) ** 2)
        self.losses = loss / torch.tensor(sizes, dtype=torch.float64).clamp_min(1)

    def verify(self) -> None:
        """The predictions of each minibatch are those of one linear model ``x·w + b`` of its
        examples, and each model is one SGD step (lr, mean squared loss) from the one before it
        on that minibatch."""
        A = torch.cat([self.X[self.rows], torch.ones(self.n, 1, dtype=torch.float64)], 1)
        k, d = len(self.sizes), A.shape[1]
        G = torch.zeros(k, d, d, dtype=torch.float64).index_add_(0, self.step, A[:, :, None] * A[:, None, :])
        h = torch.zeros(k, d, dtype=torch.float64).index_add_(0, self.step, A * self.preds[:, None])
        theta = (torch.linalg.pinv(G) @ h[:, :, None])[:, :, 0]
        fit = (A * theta[self.step]).sum(1)
        off = ~((fit - self.preds).abs() <= LINEAR_TOL * (1 + self.preds.abs()))
        if off.any():
            b = int(self.step[off.nonzero()[0, 0]])
            raise CheckFailed(f"{TRAIN_WHAT}: the predictions on minibatch {b} are not those of a linear "
                              "model x·w + b of its examples: the net must be nn.Sequential(nn.Linear(...))")
        grad = torch.zeros(k, d, dtype=torch.float64).index_add_(
            0, self.step, A * (fit - self.labels)[:, None]) * 2 / torch.tensor(self.sizes, dtype=torch.float64)[:, None]
        after = theta[:-1] - LR * grad[:-1]  # each model but the last, one step on
        change, nxt = after - theta[:-1], theta[1:]
        miss = ~((nxt - after).abs() <= STEP_CHECK_ATOL + STEP_CHECK_RTOL * change.abs())  # nan: a miss
        if miss.any():
            j = int(miss.any(1).nonzero()[0])
            raise CheckFailed(f"{TRAIN_WHAT}: after minibatch {j} the model is {preview(nxt[j], d)} "
                              f"([w, b]), but one SGD step from the one before ({preview(theta[j], d)}) "
                              f"on that minibatch gives {preview(after[j], d)}: each minibatch must "
                              "take exactly one step of torch.optim.SGD(net.parameters(), lr=lr) on "
                              "the mean squared loss")


def _steps(got, inputs) -> _Run:
    """The student's run, after checking there is one loss per minibatch."""
    run = _Run(got, inputs)
    steps = run.losses
    if len(steps) == 0:
        raise CheckFailed(f"{TRAIN_WHAT} never called the loss it was given on a minibatch; "
                          "compute l = loss(net(X), y) for each minibatch")
    if len(steps) != NUM_EPOCHS * STEPS_PER_EPOCH:
        raise CheckFailed(f"{TRAIN_WHAT} computed the loss on {len(steps)} minibatches; expected "
                          f"{NUM_EPOCHS} epochs × {STEPS_PER_EPOCH} batches = "
                          f"{NUM_EPOCHS * STEPS_PER_EPOCH} (load_array(..., batch_size, is_train=True))")
    return run


def _band_miss(v: float, lo: float, hi: float) -> str:
    """How far outside [lo, hi] the epoch's mean loss ``v`` is, and what usually makes it so."""
    if not math.isfinite(v):
        return ("the training diverged. Likely causes: gradients never zeroed (zero_grad), a "
                "summed loss with an unchanged learning rate, or a learning rate far too large")
    if v < lo:
        return (f"{lo / max(v, 1e-300):.3g} times below the lowest accepted, lower than every correct "
                "run: the steps are too large. Likely causes: a summed loss (or a loss times the "
                "batch size) with the learning rate unchanged, a larger learning rate, or step() "
                "called twice")
    return (f"{v / hi:.3g} times above the highest accepted, higher than every correct run: the "
            "steps are too small or go astray. Likely causes: the order zero_grad, backward, step "
            "(zeroing after backward, or stepping before it), gradients never zeroed, a learning "
            "rate divided by the batch size with a mean loss, or other initial weights")


def _cmp_trajectory(got, want, inputs, tol: Tolerance):
    run = _steps(got, inputs)
    detail = _curves(run.losses.tolist(), want)
    steps = run.losses
    ref = torch.stack([_epoch_means(w["steps"].values) for w in want])
    lo, hi = ref.min(0).values / BAND, ref.max(0).values * BAND
    for epoch, (v, a, b) in enumerate(zip(_epoch_means(steps).tolist(), lo.tolist(), hi.tolist()), 1):
        if not (a <= v <= b):
            err = CheckFailed(f"{TRAIN_WHAT}: the mean minibatch loss in epoch {epoch} is {v:.3g}; the "
                              f"reference's runs from {len(want)} seeds give {ref[:, epoch - 1].min():.3g}–"
                              f"{ref[:, epoch - 1].max():.3g}, and {a:.3g}–{b:.3g} is accepted. Yours is "
                              f"{_band_miss(v, a, b)}")
            err.detail = detail
            raise err
    run.verify()
    return detail


def _cmp_same_draws(got, want, inputs, tol: Tolerance):
    run = _steps(got, inputs)
    steps, ref = run.losses, want[0]["steps"].values.double()
    off = ((steps - ref).abs() / ref.abs().clamp_min(1e-12))
    bad = torch.nonzero(~(off <= STEP_RTOL)).reshape(-1)
    if len(bad):
        k = int(bad[0])
        cause = ("already the first minibatch's loss differs, so the start does: create the layer, "
                 "then normal_(0, 0.01) its weight and fill_(0) its bias, then load_array, in that "
                 "order, with no seed set inside and no other random draw" if k == 0 else
                 f"the first {k} steps agree, so the start is right and a step differs: the learning "
                 "rate, the order zero_grad, backward, step, or a random draw between epochs")
        raise CheckFailed(f"{TRAIN_WHAT}: minibatch {k}'s loss is {float(steps[k]):.6g}; the reference's "
                          f"run from the same seed gives {float(ref[k]):.6g} (off by {float(off[k]):.2g} "
                          f"relative, accepted {STEP_RTOL:g}): {cause}")
    run.verify()


def _cmp_final_params(got, want, inputs, tol):
    """The returned layer's weight and bias against the reference's runs on the same data, whose
    true parameters the grader drew and kept (:func:`_true_parameters`)."""
    if got["w"] is None:
        raise CheckFailed(f"train_concise returned a {got['returned']}; expected the trained net, "
                          "an nn.Module containing an nn.Linear layer")
    for key in ("w", "b"):
        ref = torch.stack([w[key].values.double() for w in want])
        mine = got[key]
        if not isinstance(mine, WireTensor) or mine.shape != tuple(ref.shape[1:]):
            raise CheckFailed(f"after train_concise, the linear layer's {key} is {describe(mine)}; "
                              f"expected {tuple(ref.shape[1:])} values")
        lo, hi = ref.min(0).values - PARAMETER_SLACK, ref.max(0).values + PARAMETER_SLACK
        v = mine.values.double()
        if not torch.isfinite(v).all() or (v < lo).any() or (v > hi).any():
            raise CheckFailed(f"after train_concise, {key} = {[round(x, 4) for x in v.tolist()]}; the "
                              f"reference's runs end within {[round(x, 4) for x in lo.tolist()]}–"
                              f"{[round(x, 4) for x in hi.tolist()]} (the data's least-squares fit: "
                              f"{_best_fit(inputs, key)}). Likely causes: steps too "
                              "small to get there in 3 epochs, gradients never zeroed, or a training "
                              "that diverged")


def _best_fit(inputs, key: str) -> list[float]:
    """The least-squares ``w`` or ``b`` of the training data, measured here (for messages)."""
    X = inputs["features"].double()
    A = torch.cat([X, torch.ones(len(X), 1, dtype=torch.float64)], 1)
    fit = torch.linalg.lstsq(A, inputs["labels"].double().reshape(-1, 1)).solution.reshape(-1)
    return [round(v, 4) for v in (fit[:-1] if key == "w" else fit[-1:]).tolist()]


def _release_load_array(data_arrays, batch_size, is_train=True):
    """The signature of the exercise's load_array (for reading how a call passed its arguments)."""


def _load_array_call(args: tuple, kwargs: dict) -> dict:
    """What a call of load_array asked for: how many arrays, the batch size, is_train."""
    try:
        bound = inspect.signature(_release_load_array).bind(*args, **kwargs)
    except TypeError:
        return {"arrays": -1, "batch_size": None, "is_train": None}
    bound.apply_defaults()
    arrays = bound.arguments["data_arrays"]
    return {"arrays": len(arrays) if isinstance(arrays, (tuple, list)) else -1,
            "batch_size": bound.arguments["batch_size"], "is_train": bool(bound.arguments["is_train"])}


def _recipe(ns, inputs, ctx):
    """Train one epoch on 3 features, with the student's load_array recorded where
    train_concise looks it up; what was built and how load_array was called."""
    calls, theirs = [], ns.get("load_array")

    def recording(*args, **kwargs):
        calls.append(_load_array_call(args, kwargs))
        return theirs(*args, **kwargs)
    ns["load_array"] = recording
    try:
        torch.manual_seed(ctx.seed)
        net = call(ctx, ns, "train_concise", inputs["features_3"].clone(), inputs["labels_3"].clone(),
                   1, LR, BATCH_SIZE, nn.MSELoss())
    except RuntimeError as e:
        if "shapes cannot be multiplied" not in str(e):
            raise
        raise RuntimeError(f"{e} — the layer must take features.shape[1] inputs") from None
    finally:
        ns["load_array"] = theirs
    first = net[0] if isinstance(net, nn.Sequential) and len(net) else None
    return {"net": type(net).__name__, "first": type(first).__name__,
            "sizes": [first.in_features, first.out_features] if isinstance(first, nn.Linear) else [],
            "calls": calls}


def _cmp_recipe(got, want, inputs, tol):
    what = f"train_concise(features (30, 3), labels (30, 1), 1, {LR}, {BATCH_SIZE}, nn.MSELoss())"
    if got["net"] != "Sequential" or got["first"] != "Linear":
        raise CheckFailed(f"{what} returned a {got['net']} whose first layer is a {got['first']}; "
                          "build net = nn.Sequential(nn.Linear(features.shape[1], 1)) and return it")
    if got["sizes"] != [3, 1]:
        raise CheckFailed(f"{what} built nn.Linear({got['sizes'][0]}, {got['sizes'][1]}); expected "
                          "nn.Linear(3, 1): the layer's inputs follow the data, features.shape[1]")
    wanted = {"arrays": 2, "batch_size": BATCH_SIZE, "is_train": True}
    if wanted not in got["calls"]:
        raise CheckFailed(f"{what} did not read the data through your load_array((features, labels), "
                          f"batch_size, is_train=True) (calls seen: {got['calls'][:3]})")


# -- get_w_b_grads -----------------------------------------------------------------------
def _grads_inputs(gen):
    return {"cases": [
        {"X": randn(gen, 8, 2), "y": randn(gen, 8, 1), "W": randn(gen, 1, 2), "b": randn(gen, 1)},
        {"X": randn(gen, 6, 5), "y": randn(gen, 6, 1), "W": randn(gen, 1, 5), "b": randn(gen, 1)},
    ]}


def _grads(ns, inputs, ctx, again: bool = False):
    """What get_w_b_grads returns after one backward pass; ``again``: looked at only after a
    second backward pass, which adds into the same ``.grad`` tensors in place."""
    out = []
    for c in inputs["cases"]:
        net = nn.Sequential(nn.Linear(c["W"].shape[1], 1)).to(ctx.device)
        with torch.no_grad():
            net[0].weight.copy_(c["W"])
            net[0].bias.copy_(c["b"])
        X, y = c["X"].to(ctx.device), c["y"].to(ctx.device)
        nn.MSELoss()(net(X), y).backward()
        result = call(ctx, ns, "get_w_b_grads", net)
        if again:
            nn.MSELoss()(net(X), y).backward()
        out.append(tuple(result) if isinstance(result, (tuple, list)) else result)
    return {"results": out}


def _grads_again(ns, inputs, ctx):
    return _grads(ns, inputs, ctx, again=True)


def _cmp_grads_kept(got, want, inputs, tol):
    """What was returned must still be the first pass's gradients after a second backward():
    a copy, not the live ``.grad`` tensor that backward() accumulates into."""
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        if isinstance(g, tuple) and len(g) == 2 and all(isinstance(t, WireTensor) and t.shape == r.shape
                                                         for t, r in zip(g, w)) \
                and all(torch.allclose(t.values.double(), 2 * r.values.double(), rtol=1e-4, atol=1e-6)
                        for t, r in zip(g, w)):
            raise CheckFailed("what get_w_b_grads returned doubled when backward() ran a second time: "
                              "backward() adds into the same .grad tensors in place (gradients "
                              "accumulate), and you returned those live tensors; return copies, "
                              "net[0].weight.grad.detach().clone() and the bias's likewise")
    _cmp_grads(got, want, inputs, tol)


def _cmp_grads(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        d = case["W"].shape[1]
        what = (f"get_w_b_grads(nn.Sequential(nn.Linear({d}, 1))) after "
                f"nn.MSELoss()(net(X ({len(case['X'])}, {d})), y).backward()")
        if not isinstance(g, tuple) or len(g) != 2:
            raise CheckFailed(f"{what} returned {describe(g)}; expected a pair (weight grad, bias grad)")
        for name, mine, ref, param in (("weight", g[0], w[0], case["W"]), ("bias", g[1], w[1], case["b"])):
            if isinstance(mine, WireTensor) and mine.shape == ref.shape and \
                    torch.allclose(mine.values, param.reshape(ref.shape)):
                raise CheckFailed(f"{what} returned the {name} itself; return its gradient, "
                                  f"net[0].{name}.grad")
            expect_tensor(mine, ref, f"{what}: the {name}'s gradient", tol)


REQUIREMENTS = [
    Requirement("load_array.dataset", "load_array",
                "wrap the tensors in data_arrays in a data.TensorDataset", ("tensor_dataset",),
                "isinstance(loader.dataset, data.TensorDataset)"),
    Requirement("load_array.dataloader", "load_array", "return a data.DataLoader over it",
                ("global_rng", "tensor_dataset"), "isinstance(loader, data.DataLoader)"),
    Requirement("load_array.batch_size", "load_array", "with the given batch_size",
                ("in_order", "shuffled"), "batch sizes [5, 5, 5, 5, 3]"),
    Requirement("load_array.in_order", "load_array", "that shuffles exactly when is_train is true: "
                "the stored order when it is false", ("in_order",), "is_train=False keeps the order"),
    Requirement("load_array.shuffles", "load_array", "that shuffles exactly when is_train is true, "
                "every epoch", ("shuffled", "global_rng"), "is_train=True shuffles"),
    Requirement("load_array.global_rng", "load_array",
                "do not pass a generator: the shuffling must come from the global torch RNG",
                ("global_rng",), "the same order after the same torch.manual_seed"),
    Requirement("huber_loss.formula", "huber_loss",
                "½ r² where |r| <= delta, delta (|r| - ½ delta) otherwise",
                ("values", "gradient"), "known answers for delta 1 and 2 (hint for a missing delta)"),
    Requirement("huber_loss.shape", "huber_loss",
                "the elementwise Huber loss in y_hat's shape (reshape y to y_hat's shape first)",
                ("flat_labels",), "y of shape (4,) gives (4, 1)"),
    Requirement("huber_loss.differentiable", "huber_loss",
                "the gradient is r inside and delta·sign(r) outside", ("gradient",),
                "the gradient at known residuals"),
    Requirement("huber_loss.by_hand", "huber_loss",
                "F.huber_loss, F.smooth_l1_loss, nn.HuberLoss and nn.SmoothL1Loss are not allowed",
                ("no_library_huber",), "no_calls of the four"),
    Requirement("train_concise.layer", "train_concise",
                "an nn.Sequential holding one nn.Linear with one output, its inputs from "
                "features.shape[1]", ("recipe",),
                "nn.Linear(3, 1) for 3 features"),
    Requirement("train_concise.initialisation", "train_concise",
                "weights from N(0, 0.01²) and a zero bias, set right after the layer is created "
                "(nn.init or in-place under torch.no_grad(); .data also works)",
                ("same_draws",), "with 0 epochs, the weight normal_ draws after creating the layer"),
    Requirement("train_concise.load_array", "train_concise",
                "your load_array((features, labels), batch_size, is_train=True), made after the "
                "initialisation",
                ("recipe",), "the loader it asks for: (2 arrays, batch_size, is_train=True)"),
    Requirement("train_concise.optimizer", "train_concise",
                "torch.optim.SGD over the model's parameters with the lr given", ("trajectory", "same_draws"),
                "an exact fit of noise-free data after 100 epochs"),
    Requirement("train_concise.loop", "train_concise",
                "for every minibatch of every epoch one step on the loss: zero_grad, backward, step "
                "in the order that works", ("trajectory", "final_parameters", "same_draws", "recipe"),
                "an exact fit of noise-free data after 100 epochs"),
    Requirement("train_concise.given_loss", "train_concise", "use the loss you are given",
                ("trajectory", "same_draws"), "a recording loss is called once per minibatch"),
    Requirement("train_concise.no_seed", "train_concise",
                "do not seed anything inside the function, and make no other random draws",
                ("same_draws",), "two runs after different seeds differ"),
    Requirement("train_concise.returns", "train_concise", "returns it (the nn.Module)",
                ("final_parameters", "recipe"), "isinstance(net, nn.Module)"),
    Requirement("get_w_b_grads.gradients", "get_w_b_grads",
                "the pair (weight gradient, bias gradient) of net[0], as after a backward pass",
                ("values", "kept"), "known gradients of shapes (1, 2) and (1,)"),
    Requirement("get_w_b_grads.copies", "get_w_b_grads",
                "copies, which a later backward() (adding into .grad in place) leaves as they were",
                ("kept",), "the gradients returned are unchanged by a second backward()"),
]

EXERCISES = [
    Exercise("load_array", (
        Check("in_order", 1, "with is_train=False, batches of batch_size in the stored order",
              make_inputs=_load_inputs, probe=_load_ordered, compare=_cmp_load_ordered, tolerance="exact"),
        Check("shuffled", 1, "with is_train=True, every example once per epoch, paired and shuffled",
              make_inputs=_load_inputs, probe=_load_shuffled, compare=_cmp_load_shuffled),
        Check("global_rng", 2, "a DataLoader that reshuffles every epoch from the global torch RNG",
              make_inputs=_load_rng_inputs, probe=_load_rng, compare=_cmp_load_rng),
        Check("tensor_dataset", 0.5, "a DataLoader over a TensorDataset of the arrays", guard=True,
              make_inputs=_load_rng_inputs, probe=_load_rng, compare=_cmp_load_dataset),
    )),
    Exercise("huber_loss", (
        Check("values", 1.5, "the elementwise Huber loss for several shapes, deltas and dtypes",
              make_inputs=_huber_inputs, probe=_huber_values, compare=_cmp_huber_values),
        Check("flat_labels", 0.5, "y of shape (n,) is reshaped to y_hat's (n, 1), not broadcast to (n, n)",
              make_inputs=_huber_inputs, probe=_huber_flat, compare=_cmp_huber_flat),
        Check("gradient", 1, "its gradient is r inside the band and delta·sign(r) outside",
              kind="gradient", tolerance="grad",
              make_inputs=_huber_inputs, probe=_huber_grad, compare=_cmp_huber_grad),
        Check("no_library_huber", 1, "written without PyTorch's Huber or smooth-L1 losses", kind="policy",
              rule=forbid_attributes("huber_loss", "smooth_l1_loss", "HuberLoss", "SmoothL1Loss")),
    )),
    Exercise("train_concise", (
        Check("trajectory", 1.5, "the mean minibatch loss of each epoch within the band of the "
              "reference's trainings from several seeds", kind="training", make_inputs=_train_inputs,
              probe=_train, compare=_cmp_trajectory, timeout=60, reference_variants=REFERENCE_SEEDS),
        Check("final_parameters", 1, "the learned weight and bias match the reference's",
              kind="training", make_inputs=_train_inputs, probe=_train, compare=_cmp_final_params,
              timeout=60, reference_variants=REFERENCE_SEEDS),
        Check("same_draws", 1, "the recipe followed exactly: every minibatch loss equals the "
              "reference's run from the same seed", kind="training", make_inputs=_train_inputs,
              probe=_train, compare=_cmp_same_draws, timeout=60, reference_variants=REFERENCE_SEEDS),
        Check("recipe", 0.5, "nn.Sequential(nn.Linear(features.shape[1], 1)), with the data read "
              "through load_array", guard=True, make_inputs=_train_inputs, probe=_recipe, compare=_cmp_recipe),
    ), uses=("load_array",)),
    Exercise("get_w_b_grads", (
        Check("values", 2, "the weight's and the bias's gradients of net[0], in their shapes",
              kind="gradient", tolerance="grad",
              make_inputs=_grads_inputs, probe=_grads, compare=_cmp_grads),
        Check("kept", 1, "what it returned is unchanged by a second backward() (copies, not the "
              "live .grad tensors)", kind="gradient", tolerance="grad", depends_on=("values",),
              make_inputs=_grads_inputs, probe=_grads_again, compare=_cmp_grads_kept),
    )),
]

# Measured by tests/test_chapter_06.py::test_training_checks_calibrated (see the module docstring):
# check → (correct variants, false rejections, realistic bugs, bugs caught).
CALIBRATION = {
    "train_concise/trajectory": (22, 0, 28, 28),
    "train_concise/final_parameters": (22, 0, 22, 22),
    "train_concise/same_draws": (22, 0, 35, 35),
}
