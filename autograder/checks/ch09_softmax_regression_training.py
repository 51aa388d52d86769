"""Checks for chapter 09, softmax regression trained on Fashion-MNIST.

``REQUIREMENTS`` (at the end) maps each sentence of the exercises' prompts to the checks that
fail when it is broken; tests/test_chapter_09.py holds a submission per row. ``evaluate_accuracy``
and ``train_epoch`` call the student's ``accuracy``, and the training exercise runs the
student's ``train_epoch``, ``accuracy`` and ``evaluate_accuracy``: a piece that failed its own
checks stands in as a working one there (the probe's model, loss, updater and data cross to
the grader by description, :data:`STANDIN_TYPES`).

Training checks: band rules and calibration
-------------------------------------------
The training exercise's probe trains the chapter's from-scratch model with the grader's own
data iterator; a correct ``train_epoch`` reproduces the reference run with the same data order
to float32 rounding (the correct variants below differ from it by at most 1e-8). The bands
are wider than that, because SGD over *any* data order is correct — a ``train_epoch`` may
reorder the batches it is given — and a fresh order moves a short run a lot:

* ``trajectory`` (3 epochs on 10,000 images): after each epoch, each of the training loss,
  the training accuracy and the test accuracy lies in ``[min - s, max + s]`` of
  :data:`REFERENCE_ORDERS` reference runs over different data orders, ``s`` = :data:`SLACK`.
  Rule: ``s`` is 1.5 times the farthest that any of 60 further reference runs, each over a
  fresh data order, fell outside the four runs' range (loss 0.0184, training accuracy
  0.0151, test accuracy 0.1555: the test accuracy of an epoch's last step swings by ±0.1
  with the order), rounded up to 0.005 — so a correct run over an unseen order passes.
  The figures are ``train_epoch``'s and ``evaluate_accuracy``'s, computed in the student's
  process, so the grader binds them to the parameters the run returns after each epoch: the
  test accuracy it measures itself (below), and the training loss and accuracy must lie within
  :data:`TRAIN_CLAIM_SLACK` of its own measure of those parameters on the first
  :data:`TRAIN_CLAIM_N` training images (:func:`_check_training_claims`, about 2 ms).
* ``test_accuracy`` (:data:`NUM_EPOCHS` = 3 epochs on all 60,000 images): after some epoch
  the model's own test accuracy is at least :data:`TARGET_ACCURACY`, and ``evaluate_accuracy``
  reports exactly it (1e-6) after every epoch. The model's own accuracy is measured by the
  grader, from the parameters the run returns after each epoch, on its own copy of the test
  split (:func:`_verified_accuracies`; the run's own measurement must agree within
  :data:`CLAIM_SLACK` images), so that a replaced probe cannot claim one; the trajectory's
  test accuracy is checked the same way. Rule: the best epoch of 52 reference runs over
  fresh orders reached 0.7972–0.8205; the target sits 0.0072 below the lowest. The best
  epoch, not the last: the test accuracy after an epoch's last step swings with the order
  (epoch 3 alone gave 0.7764–0.8205). This run used to be 10 epochs with the last epoch
  against 0.82, which 12 runs over fresh orders had passed (0.8255–0.8343) — but 12 more
  gave 0.8182–0.8353, so a correct ``train_epoch`` that reorders its batches, or any correct
  one under another ``--seed``, could be refused. No bug in :data:`CALIBRATION` needs
  the longer run: each that this check catches is caught by the three epochs too (the
  table below is measured with them), and 7 epochs fewer make it 0.9 s cheaper for every
  submission.
* ``train_epoch``'s ``optimizer`` and ``custom_updater`` (one epoch of 4 batches, the order
  given): the gradient at each step and the parameters after the epoch within the
  ``trajectory`` tolerance (rtol 1e-3) of the reference's; correct variants differ by < 1e-6.

``tests/test_chapter_09.py::test_training_checks_calibrated`` measures all four on every run,
in :data:`CALIBRATION` (variants: other spellings of each piece, float64 and NumPy sums,
``net.zero_grad()`` or ``set_to_none``, another order of the batches; bugs: what students get
wrong in each piece):

===============================  ========  ================  ====  ======
check                            variants  false rejections  bugs  caught
===============================  ========  ================  ====  ======
train_epoch / optimizer                20                 0    20      20
train_epoch / custom_updater           20                 0    20      20
training / trajectory                  22                 0    30      30
training / test_accuracy               20                 0    23      23
===============================  ========  ================  ====  ======

A variant counts for the checks that run what it changes (one that only changes the
optimizer branch is not a variant of the training runs, which use a custom updater), and a
bug for the checks that look at what it changes: an ``evaluate_accuracy`` that
averages the batches' accuracies is off by 0.0005 on the test set — far inside the
trajectory's band, caught by ``test_accuracy``'s exact report; a step twice too large leaves
the model above the target accuracy, caught by the trajectory (its loss after epoch 3 is
0.011 above the band) and by ``custom_updater``. Each of ``test_accuracy``'s runs takes
seconds, so it is measured on the fewest variants and bugs the rule allows.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from autograder.checks.common import call, randn, student_calls
from autograder.compare import describe, expect_number, expect_tensor
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor
from course.selfcheck import error_hint

CHAPTER = "09_softmax_regression_training"
TARGET_ACCURACY = 0.79  # after the best of 3 epochs; 52 runs over fresh data orders gave 0.7972–0.8205


def _number(value, what: str) -> float:
    """A returned number (or one-element tensor) as a float; CheckFailed otherwise."""
    if isinstance(value, WireTensor) and value.values.numel() == 1:
        return float(value.values.item())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} returned {describe(value)}; expected a number")
    return float(value)


def _batches(X, y, batch_size, device):
    X, y = X.to(device), y.to(device)
    return [(X[i: i + batch_size], y[i: i + batch_size]) for i in range(0, len(X), batch_size)]


def _linear(W, b, device):
    net = nn.Sequential(nn.Flatten(), nn.Linear(W.shape[0], W.shape[1]))
    with torch.no_grad():
        net[1].weight.copy_(W.T)
        net[1].bias.copy_(b)
    return net.to(device)


# -- accuracy ------------------------------------------------------------------------------
def _acc_inputs(gen):
    return {
        "probabilities": [(torch.softmax(randn(gen, n, 10), 1), torch.randint(0, 10, (n,), generator=gen))
                          for n in (10, 50, 1)],  # n = 10 first: y_hat == y broadcasts instead of failing
        "logits": [(3 * randn(gen, 40, 10) - 5, torch.randint(0, 10, (40,), generator=gen))],
        "indices": [(torch.randint(0, 10, (30,), generator=gen), torch.randint(0, 10, (30,), generator=gen))],
    }


def _acc_probe(key):
    def probe(ns, inputs, ctx):
        first = inputs[key][0]
        # predicted classes also as floats and as a column (n, 1)
        cases = list(inputs[key]) + ([(first[0].float(), first[1]), (first[0].reshape(-1, 1), first[1])]
                                     if key == "indices" else [])
        out = []
        for y_hat, y in cases:  # each case on its own, so the first wrong answer is the one reported
            try:
                out.append(call(ctx, ns, "accuracy", y_hat.to(ctx.device), y.to(ctx.device)))
            except Exception as e:  # noqa: BLE001  reported by compare, with the call
                out.append({"raised": f"{type(e).__name__}: {str(e)[:200]}"})
        return {"results": out}
    return probe


def _cmp_acc(key, kind):
    def compare(got, want, inputs, tol):
        first = inputs[key][0]
        cases = list(inputs[key]) + ([first, (first[0].reshape(-1, 1), first[1])] if key == "indices" else [])
        for i, ((y_hat, y), g, w) in enumerate(zip(cases, got["results"], want["results"])):
            dtype = "float32" if key == "indices" and i == 1 else str(y_hat.dtype)[6:]
            what = f"accuracy(y_hat {kind} of shape {tuple(y_hat.shape)} [{dtype}], y of shape {tuple(y.shape)})"
            if y_hat.dim() == 2 and y_hat.shape[1] == 1 and not (isinstance(g, dict) and "raised" in g) \
                    and isinstance(g, (int, float)) and abs(g - w) > 1e-6:
                raise CheckFailed(f"{what} returned {g:g}; expected {w:g} correct predictions — a column "
                                  "(n, 1) compared with y (n,) broadcasts to an (n, n) table: flatten the "
                                  "predicted classes with reshape(-1) first")
            if isinstance(g, dict) and "raised" in g:
                if g["raised"].startswith("NotImplementedError"):
                    raise CheckFailed("`accuracy` is not written yet: it still raises NotImplementedError")
                hint = error_hint("accuracy", g["raised"])
                raise CheckFailed(f"{what} raised {g['raised']}" + (f" — {hint}" if hint else ""))
            value = _number(g, what)
            n = len(y)
            if n > 1 and math.isclose(value, w / n, abs_tol=1e-6) and w > 0:
                raise CheckFailed(f"{what} returned {value:.4g}, the fraction; return the number of "
                                  f"correct predictions, {w:g} (evaluate_accuracy divides by the total)")
            if key != "indices" and abs(value - w) > 1e-6:
                raise CheckFailed(f"{what} returned {value:g}; expected {w:g} correct predictions. "
                                  "The prediction is the index of the largest entry of each row "
                                  "(y_hat.argmax(1)); compare that with y, not y_hat itself")
            expect_number(value, w, what, tol)
    return compare


def _cmp_acc_float(got, want, inputs, tol):
    for (y_hat, y), g in zip(inputs["probabilities"], got["results"]):
        if isinstance(g, dict) and "raised" in g:
            raise CheckFailed(f"accuracy(y_hat of shape {tuple(y_hat.shape)}, y) raised {g['raised']}")
        if isinstance(g, bool) or not isinstance(g, float):
            raise CheckFailed(f"accuracy(y_hat of shape {tuple(y_hat.shape)}, y) returned {describe(g)}; "
                              "expected a Python float: convert the count with float(...)")


_ACC_PROBABILITIES = _acc_probe("probabilities")  # one run for the two checks that read it


# -- evaluate_accuracy ----------------------------------------------------------------------
def _eval_inputs(gen):
    return {"X": randn(gen, 70, 1, 4, 4), "y": torch.randint(0, 5, (70,), generator=gen),
            "W": randn(gen, 16, 5), "b": randn(gen, 5), "batch_size": 32}


def _eval_value(ns, inputs, ctx):
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
    net = _linear(inputs["W"], inputs["b"], ctx.device)
    with torch.no_grad():
        batch_accs = [float((net(X).argmax(1) == y).float().mean()) for X, y in batches]
    return {"result": call(ctx, ns, "evaluate_accuracy", net, batches), "batch_accs": batch_accs}


def _eval_function(ns, inputs, ctx):
    W = inputs["W"].clone().to(ctx.device).requires_grad_()
    b = inputs["b"].clone().to(ctx.device).requires_grad_()

    def net(X):
        return torch.softmax(X.reshape(-1, 16) @ W + b, 1)
    # two batches of 35: the mean of the batches' accuracies is the right answer here, so this
    # check tests only that net may be a plain function (the value check tests the weighting)
    batches = _batches(inputs["X"], inputs["y"], 35, ctx.device)
    return {"result": call(ctx, ns, "evaluate_accuracy", net, batches)}


class _Recorder(nn.Module):
    """A linear model that records, on every call, its mode and whether autograd is recording."""

    def __init__(self, W, b):
        super().__init__()
        self.linear = _linear(W, b, W.device)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, X):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(X)


def _eval_modes(ns, inputs, ctx):
    net = _Recorder(inputs["W"].to(ctx.device), inputs["b"].to(ctx.device))
    net.train()
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
    call(ctx, ns, "evaluate_accuracy", net, batches)
    return {"training": [t for t, _ in net.calls], "grad": [g for _, g in net.calls]}


WHAT_EVAL = "evaluate_accuracy(net, 3 batches of 32, 32 and 6 examples of shape (1, 4, 4))"


def _cmp_eval_value(got, want, inputs, tol):
    value = _number(got["result"], WHAT_EVAL)
    accs = got["batch_accs"]
    if abs(value - want["result"]) > 1e-6:
        if abs(value - sum(accs) / len(accs)) < 1e-6:
            raise CheckFailed(f"{WHAT_EVAL} returned {value:.4f}, the mean of the batches' accuracies; "
                              f"expected {want['result']:.4f}: add up the correct predictions and the "
                              "examples over all batches and divide once, so the small last batch "
                              "does not count as much as a full one")
        raise CheckFailed(f"{WHAT_EVAL} returned {value:.4g}; expected {want['result']:.4f}, the "
                          "number of correct predictions over all 70 examples divided by 70")


def _cmp_eval_function(got, want, inputs, tol):
    what = "evaluate_accuracy(a plain Python function as net, 2 batches of 35)"
    value = _number(got["result"], what)
    if abs(value - want["result"]) > 1e-6:
        raise CheckFailed(f"{what} returned {value:.4g}; expected {want['result']:.4f}")


def _cmp_eval_mode(got, want, inputs, tol):
    if not got["training"]:
        raise CheckFailed(f"{WHAT_EVAL} never called net")
    if any(got["training"]):
        raise CheckFailed(f"{WHAT_EVAL} called an nn.Module that was in training mode; call "
                          "net.eval() first when net is an nn.Module")


def _cmp_eval_grad(got, want, inputs, tol):
    if not got["grad"]:
        raise CheckFailed(f"{WHAT_EVAL} never called net")
    if any(got["grad"]):
        raise CheckFailed(f"{WHAT_EVAL} called net with gradient recording on; make the "
                          "predictions inside `with torch.no_grad():`")


# -- train_epoch -------------------------------------------------------------------------------
def _epoch_inputs(gen):
    return {"X": randn(gen, 100, 1, 4, 4), "y": torch.randint(0, 4, (100,), generator=gen),
            "W": 0.1 * randn(gen, 16, 4), "b": torch.zeros(4), "lr": 0.5, "batch_size": 32}


class _RecordingSGD(torch.optim.SGD):
    """SGD that records the calls made to it and the gradient's norm at each step."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.events: list[str] = []
        self.grad_norms: list[float] = []

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.events.append("z")
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        self.events.append("s")
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.grad_norms.append(float(sum((g.double() ** 2).sum() for g in grads)) ** 0.5 if grads else 0.0)
        return super().step(closure)


def _epoch_optimizer(ns, inputs, ctx):
    net = _Recorder(inputs["W"].to(ctx.device), inputs["b"].to(ctx.device))
    net.eval()  # train_epoch must put it in training mode
    optimizer = _RecordingSGD(net.parameters(), inputs["lr"])
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
    call(ctx, ns, "train_epoch", net, batches, nn.CrossEntropyLoss(reduction="none"), optimizer)
    layer = net.linear[1]
    return {"weight": layer.weight.detach(), "bias": layer.bias.detach(), "grad_norms": optimizer.grad_norms,
            "sizes": [len(y) for _, y in batches], "training": [t for t, _ in net.calls]}


class _AffineT(torch.autograd.Function):
    """``(X W + b)ᵀ`` with its gradient, its products in the shapes a BLAS does fast.

    For a batch of 256 × 784 and ten classes, MKL multiplies ``X @ W`` (and autograd's
    gradient ``Xᵀ @ G``) three to four times slower than the same products written with the
    ten-row operand first (``Wᵀ Xᵀ``, ``Gᵀ X``): measured on one CPU thread, fresh batches,
    69 ms against 29 ms per epoch of forward products. And a softmax over the ten classes of a
    (256, 10) tensor takes 46 µs, over the 256 columns of its (10, 256) transpose 3 µs. So the
    logits are made transposed, the softmax taken over dim 0, and the probabilities handed
    over as the usual contiguous (n, 10). This is the grader's model, so every student's
    training (and the reference's) runs on it: an epoch of chapter 09's training check took
    0.24 s with ``softmax(X @ W + b, 1)``, 0.12 s with this. The values are the same sums, in
    another order (equal to rounding)."""

    @staticmethod
    def forward(ctx, X, W, b):
        # like autograd's mm: W is kept (and version-checked) only when X needs a gradient
        ctx.save_for_backward(X, W if ctx.needs_input_grad[0] else None)
        return torch.addmm(b.unsqueeze(1), W.t(), X.t())

    @staticmethod
    def backward(ctx, Gt):
        X, W = ctx.saved_tensors
        dX = (W @ Gt).t() if ctx.needs_input_grad[0] else None
        return dX, (Gt @ X).t(), Gt.sum(1)


class _ScratchNet:
    """The chapter's from-scratch model, softmax(X W + b); it can cross to a stand-in."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, X):
        logits_t = _AffineT.apply(X.reshape(-1, self.W.shape[0]), self.W, self.b)
        return torch.softmax(logits_t, 0).t().contiguous()

    def standin_state(self):
        return "scratch_net", {"W": self.W, "b": self.b}


class _CrossEntropy:
    """The cross-entropy of chosen probabilities, one loss per example."""

    def __call__(self, y_hat, y):
        return -torch.log(y_hat.gather(1, y.reshape(-1, 1)).reshape(-1))

    def standin_state(self):
        return "cross_entropy", {}


class _SGD:
    """The custom updater of chapter 05: ``param -= lr * grad / batch_size``, then zero."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def __call__(self, batch_size):
        with torch.no_grad():
            for param in self.params:
                param -= self.lr * param.grad / batch_size
                param.grad.zero_()

    def standin_state(self):
        return "sgd", {"params": self.params, "lr": self.lr}


def _as_function(function, obj):
    """``function`` (calling ``obj``) made to cross to a stand-in as ``obj`` does."""
    function.standin_state = obj.standin_state
    return function


def _scratch_model(W, b):
    """The chapter's net and loss as the plain functions they are there, ``net(X)`` and
    ``cross_entropy(y_hat, y)`` ("net may also be a plain function like ours"): a student's
    code may treat them as functions (``__code__``, ``inspect.isfunction``)."""
    model, ce = _ScratchNet(W, b), _CrossEntropy()

    def net(X):
        return model(X)

    def cross_entropy(y_hat, y):
        return ce(y_hat, y)
    return _as_function(net, model), _as_function(cross_entropy, ce)


def _scratch_updater(params, lr):
    """The chapter's ``updater(batch_size)``, a plain function calling chapter 05's sgd."""
    sgd = _SGD(params, lr)

    def updater(batch_size):
        return sgd(batch_size)
    return _as_function(updater, sgd)


def _epoch_custom(ns, inputs, ctx, step=True):
    W = inputs["W"].clone().to(ctx.device).requires_grad_()
    b = inputs["b"].clone().to(ctx.device).requires_grad_()
    net, loss = _scratch_model(W, b)
    sizes, grad_norms = [], []

    def updater(batch_size):
        sizes.append(batch_size if isinstance(batch_size, (int, float)) else repr(batch_size)[:40])
        grad_norms.append(float(W.grad.double().norm()) if W.grad is not None else 0.0)
        with torch.no_grad():
            for param in (W, b):
                if step and param.grad is not None:
                    param -= inputs["lr"] * param.grad / batch_size
                if param.grad is not None:
                    param.grad.zero_()
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
    result = call(ctx, ns, "train_epoch", net, batches, loss, updater)
    return {"result": result, "W": W.detach(), "b": b.detach(), "sizes": sizes, "grad_norms": grad_norms}


def _epoch_returns(ns, inputs, ctx):
    """train_epoch with an updater that only clears gradients: the returned values are then
    those of the fixed initial model, whatever the update does."""
    return _epoch_custom(ns, inputs, ctx, step=False)


def _pair(result, what):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{what} returned {describe(result)}; expected a pair (mean loss, accuracy)")
    return _number(result[0], what + "'s mean loss"), _number(result[1], what + "'s accuracy")


WHAT_OPT = ("train_epoch(an nn.Module with Linear(16, 4), in evaluation mode, 4 batches of 32, 32, 32 "
            "and 4, nn.CrossEntropyLoss(reduction='none'), torch.optim.SGD(lr=0.5))")
WHAT_CUSTOM = ("train_epoch(a from-scratch softmax model with W (16, 4), 4 batches of 32, 32, 32 and 4, "
               "cross-entropy, updater(batch_size))")


def _cmp_epoch_optimizer(got, want, inputs, tol):
    steps, expected = got["grad_norms"], want["grad_norms"]
    if not steps:
        raise CheckFailed(f"{WHAT_OPT} never called updater.step()")
    if len(steps) != len(expected):
        raise CheckFailed(f"{WHAT_OPT} called updater.step() {len(steps)} times; expected once per "
                          f"batch, {len(expected)}")
    for i, (g, w, size) in enumerate(zip(steps, expected, got["sizes"]), 1):
        if abs(g - w) > tol.rtol * w + tol.atol:
            raise CheckFailed(f"{WHAT_OPT}: when updater.step() was called for batch {i}, the gradient's "
                              f"norm was {g:.5g}; expected {w:.5g}{_optimizer_hint(i, g, w, size, steps, expected)}")
    for key in ("weight", "bias"):
        expect_tensor(got[key], want[key], f"{WHAT_OPT}: the layer's {key} after the epoch", tol)


def _optimizer_hint(i, g, w, size, steps, expected) -> str:
    """Why the gradient at step ``i`` differs: the usual mistakes with an optimizer."""
    if g == 0:
        return (" — the gradients were zeroed (or never computed) before step(): call "
                "updater.zero_grad(), then backward(), then step()")
    if w > 0 and abs(g / w - size) < 0.02 * size:
        return (f" — {size} times too large, the gradient of the summed loss: with an optimizer call "
                "backward() on the mean loss, l.mean()")
    if i > 1 and all(abs(a - b) <= 1e-3 * b for a, b in zip(steps[:i - 1], expected[:i - 1])):
        return (" — the earlier steps were right, so the gradients probably accumulate over batches: "
                "call updater.zero_grad() before each backward()")
    return " — call updater.zero_grad(), backward() on the batch's mean loss, then updater.step()"


def _cmp_epoch_train_mode(got, want, inputs, tol):
    modes = got["training"]
    if not modes:
        raise CheckFailed(f"{WHAT_OPT} never called net")
    if not all(modes):
        raise CheckFailed(f"{WHAT_OPT} called net in evaluation mode (it came in that way); call "
                          "net.train() first when net is an nn.Module")


def _cmp_epoch_custom(got, want, inputs, tol):
    sizes, expected = got["sizes"], want["sizes"]
    if sizes != expected:
        hint = (" — pass the size of each batch, X.shape[0]: the last batch is smaller"
                if len(sizes) == len(expected) else "")
        raise CheckFailed(f"{WHAT_CUSTOM} called updater with {sizes}; expected {expected}{hint}")
    g, w = got["grad_norms"][0], want["grad_norms"][0]
    if w > 0 and abs(g * inputs["batch_size"] / w - 1) < 0.05:
        raise CheckFailed(f"{WHAT_CUSTOM}: the gradient the updater received is the reference's divided "
                          f"by {inputs['batch_size']}; with a custom updater call backward() on the "
                          "summed loss, l.sum() — the updater divides by the batch size")
    for key in ("W", "b"):
        expect_tensor(got[key], want[key], f"{WHAT_CUSTOM}: {key} after the epoch", tol)


def _cmp_epoch_returns(got, want, inputs, tol):
    what = WHAT_CUSTOM.replace("updater(batch_size))", "an updater that leaves the parameters unchanged)")
    loss, acc = _pair(got["result"], what)
    ref_loss, ref_acc = _pair(want["result"], what)
    n = len(inputs["y"])
    if abs(loss - ref_loss) > 1e-4 * abs(ref_loss) + 1e-5:
        hint = (" — that is the sum; divide by the number of examples" if abs(loss - ref_loss * n) < 1e-3 * n
                else " — divide the sum of all per-example losses by the number of examples, not "
                     "the number of batches or the batch size")
        raise CheckFailed(f"{what} returned a mean loss of {loss:.5g}; expected {ref_loss:.5g}{hint}")
    if abs(acc - ref_acc) > 1e-6:
        raise CheckFailed(f"{what} returned an accuracy of {acc:.5g}; expected {ref_acc:.5g}: the correct "
                          f"predictions (your accuracy) summed over the epoch, divided by the {n} examples")
    for name, value in zip(("mean loss", "accuracy"), got["result"]):
        if isinstance(value, bool) or not isinstance(value, (float, int)):
            raise CheckFailed(f"{what} returned the {name} as {describe(value)}; return both as Python "
                              "floats (float(...) or .item())")


# -- predict -----------------------------------------------------------------------------------
def _predict_inputs(gen):
    return {"X": randn(gen, 20, 1, 4, 4), "W": randn(gen, 16, 6), "b": randn(gen, 6)}


def _predict_probe(ns, inputs, ctx):
    net = _linear(inputs["W"], inputs["b"], ctx.device)
    X = inputs["X"].to(ctx.device)
    return {"many": call(ctx, ns, "predict", net, X), "one": call(ctx, ns, "predict", net, X[:1])}


def _predict_modes(ns, inputs, ctx):
    net = _Recorder(inputs["W"].to(ctx.device), inputs["b"].to(ctx.device))
    call(ctx, ns, "predict", net, inputs["X"].to(ctx.device))
    return {"grad": [g for _, g in net.calls]}


def _cmp_predict_grad(got, want, inputs, tol):
    what = "predict(net, X of shape (20, 1, 4, 4))"
    if not got["grad"]:
        raise CheckFailed(f"{what} never called net")
    if any(got["grad"]):
        raise CheckFailed(f"{what} called net with gradient recording on; make the predictions "
                          "inside `with torch.no_grad():`")


def _cmp_predict(key, what):
    def compare(got, want, inputs, tol):
        g = got[key]
        if key == "one" and isinstance(g, WireTensor) and g.shape == () and \
                student_calls("predict", "squeeze", method=True, no_args=True):
            raise CheckFailed(f"{what} returned shape (); expected (1,) — squeeze() with no dim drops "
                              "every dimension of size 1, the one example's too: use argmax(1) "
                              "without keepdim, or squeeze(1)")
        expect_tensor(g, want[key], what, tol)
    return compare


# -- early_stopping ------------------------------------------------------------------------------
# Two runs of the student's loop, with training and validation the grader writes:
# * "drift": softmax regression on 1,000 training images whose labels turn wrong (shifted by
#   one class) after ES_CLEAN epochs, validated on 2,000 other training images — the
#   validation accuracy rises, then collapses, so the best epoch is certainly not the last
#   (five seeds: 0.72–0.74 after epoch 3, below 0.08 after epoch 4);
# * "tie": a tiny model that each epoch adds 1 to every parameter, with a scripted validation
#   accuracy whose best value comes twice: the first of the two epochs must be kept.
# The grader recomputes the validation accuracy of the returned parameters itself.
ES_TRAIN, ES_VAL, ES_CLEAN, ES_EPOCHS, ES_LR, ES_BATCH = 1_000, (50_000, 52_000), 3, 5, 0.1, 50
TIE_ACCS = [0.4, 0.7, 0.55, 0.7, 0.6]


def _es_net():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.normal_(net[1].weight, std=0.01)
    nn.init.zeros_(net[1].bias)
    return net


def _es_val_data(device="cpu"):
    X, y = _fashion_mnist(True)
    lo, hi = ES_VAL
    return X[lo:hi].float().div(255).to(device), y[lo:hi].to(device)


def _es_returned(result, calls):
    """What the student's early_stopping returned, as plain data: the kept weight and bias,
    the accuracies it reports, and how often it trained."""
    out = {"calls": calls, "returned": type(result).__name__, "w": None, "b": None, "accs": None}
    if isinstance(result, (tuple, list)) and len(result) == 2:
        state, accs = result
        if hasattr(state, "get"):
            out["w"], out["b"] = state.get("1.weight"), state.get("1.bias")
            out["w"] = out["w"].detach().clone() if isinstance(out["w"], torch.Tensor) else None
            out["b"] = out["b"].detach().clone() if isinstance(out["b"], torch.Tensor) else None
        out["accs"] = [float(a) if isinstance(a, (int, float, torch.Tensor)) and not isinstance(a, bool)
                       and (not isinstance(a, torch.Tensor) or a.numel() == 1) else None
                       for a in accs] if isinstance(accs, (list, tuple)) else None
    return out


def _es_drift(ns, ctx):
    X, y = _fashion_mnist(True)
    Xt, yt = X[:ES_TRAIN].float().div(255).to(ctx.device), y[:ES_TRAIN].to(ctx.device)
    Xv, yv = _es_val_data(ctx.device)
    torch.manual_seed(ctx.seed)
    net = _es_net().to(ctx.device)
    optimizer, ce = torch.optim.SGD(net.parameters(), lr=ES_LR), nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(ctx.seed)
    epochs = [0]

    def train_one_epoch():
        labels = yt if epochs[0] < ES_CLEAN else (yt + 1) % 10  # the source goes bad
        epochs[0] += 1
        perm = torch.randperm(ES_TRAIN, generator=order).to(ctx.device)
        for i in range(0, ES_TRAIN, ES_BATCH):
            idx = perm[i: i + ES_BATCH]
            optimizer.zero_grad()
            ce(net(Xt[idx]), labels[idx]).backward()
            optimizer.step()

    def val_accuracy(model):
        with torch.no_grad():
            return float((model(Xv).argmax(1) == yv).float().mean())

    result = call(ctx, ns, "early_stopping", net, train_one_epoch, val_accuracy, ES_EPOCHS)
    return _es_returned(result, epochs[0])


def _es_tie(ns, ctx):
    gen = torch.Generator().manual_seed(ctx.seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    net = net.to(ctx.device)
    epochs = [0]

    def train_one_epoch():
        epochs[0] += 1
        with torch.no_grad():
            for p in net.parameters():
                p.add_(1.0)

    def val_accuracy(model):
        return TIE_ACCS[max(0, min(epochs[0], len(TIE_ACCS)) - 1)]

    result = call(ctx, ns, "early_stopping", net, train_one_epoch, val_accuracy, len(TIE_ACCS))
    return _es_returned(result, epochs[0])


def _es_inputs(gen):
    return {}


def _es_probe(ns, inputs, ctx):
    return _one_thread(lambda: {"drift": _es_drift(ns, ctx), "tie": _es_tie(ns, ctx)})


ES_WHAT = {"drift": f"early_stopping(net, train_one_epoch, val_accuracy, {ES_EPOCHS}) on Fashion-MNIST",
           "tie": f"early_stopping(net, train_one_epoch, val_accuracy, {len(TIE_ACCS)}) with validation "
                  f"accuracies {TIE_ACCS}"}


def _es_shape(got, what):
    if got["accs"] is None and got["w"] is None:
        raise CheckFailed(f"{what} returned a {got['returned']}; expected a pair (best_state, val_accs): "
                          "a copy of net.state_dict() and a list of floats")


def _cmp_es_accs(got, want, inputs, tol):
    for key in ("drift", "tie"):
        mine, ref, what = got[key], want[key], ES_WHAT[key]
        _es_shape(mine, what)
        if mine["calls"] != ref["calls"]:
            raise CheckFailed(f"{what} called train_one_epoch() {mine['calls']} times; expected "
                              f"{ref['calls']}, once per epoch")
        accs = mine["accs"]
        if accs is None or len(accs) != len(ref["accs"]) or None in accs:
            raise CheckFailed(f"{what} returned the accuracies {describe(accs)}; expected a list of "
                              f"{len(ref['accs'])} numbers, one per epoch")
        for k, (a, r) in enumerate(zip(accs, ref["accs"]), 1):
            if abs(a - r) > 1e-6:
                raise CheckFailed(f"{what}: for epoch {k} you report {a:.4g}; the validation accuracy "
                                  f"after that epoch's training is {r:.4g} — call val_accuracy(net) once "
                                  "after each train_one_epoch() and keep every value")


def _cmp_es_best(got, want, inputs, tol):
    for key in ("drift", "tie"):
        mine, ref, what = got[key], want[key], ES_WHAT[key]
        _es_shape(mine, what)
        if not isinstance(mine["w"], WireTensor) or not isinstance(mine["b"], WireTensor) or \
                mine["w"].shape != ref["w"].shape or mine["b"].shape != ref["b"].shape:
            raise CheckFailed(f"{what}: the state returned has no '1.weight' and '1.bias' of the layer's "
                              "shapes; return a copy of net.state_dict()")
        w, b = mine["w"].values.double().cpu(), mine["b"].values.double().cpu()
        ref_w, ref_b = ref["w"].values.double().cpu(), ref["b"].values.double().cpu()
        if key == "drift":  # recomputed here from the returned parameters, on the grader's data
            Xv, yv = _es_val_data()
            acc = float(((Xv.double().reshape(len(Xv), -1) @ w.T + b).argmax(1) == yv).float().mean())
            best = max(ref["accs"])
            if abs(acc - best) > 1e-6:
                last = ref["accs"][-1]
                why = (" — those are the last epoch's parameters: the state dict holds the live tensors, "
                       "which training keeps changing; keep a copy (copy.deepcopy(net.state_dict()), "
                       "or clone each tensor)" if abs(acc - last) < 1e-6 else
                       " — keep the parameters of the epoch whose validation accuracy is highest")
                raise CheckFailed(f"{what}: the parameters returned score {acc:.4f} on the validation "
                                  f"set (recomputed by the grader); the best epoch, "
                                  f"{ref['accs'].index(best) + 1}, scored {best:.4f}{why}")
        if not (torch.allclose(w, ref_w, rtol=1e-5, atol=1e-6) and torch.allclose(b, ref_b, rtol=1e-5, atol=1e-6)):
            shift = float((w - ref_w).mean())
            why = {2.0: " — those are the parameters of the last of the two best epochs (4); keep the "
                        "first: replace the kept state only when the accuracy is strictly higher",
                   3.0: " — those are the last epoch's parameters: keep a copy of the state, not the "
                        "live tensors that training keeps changing"}.get(round(shift, 6), "") \
                if key == "tie" else ""
            raise CheckFailed(f"{what}: the parameters returned are not those after the best epoch"
                              f"{why}")


# -- training ----------------------------------------------------------------------------------
LR, BATCH_SIZE, NUM_EPOCHS = 0.1, 256, 3  # the test-accuracy run (the book trains 10)
SHORT = {"n_train": 10_000, "n_test": 2_000, "num_epochs": 3}  # the loss-trajectory run


@functools.lru_cache(maxsize=2)
def _fashion_mnist(train: bool):
    """The split as uint8 images and labels, read once per process (the data set is public)."""
    from course.data import load_fashion_mnist_uint8
    return load_fashion_mnist_uint8(train=train)


def WORKER_WARMUP() -> None:  # noqa: N802  (autograder/untrusted/worker.py calls it by this name)
    """Both splits read once per harness worker, before it forks its jobs, which share them."""
    _fashion_mnist(True)
    _fashion_mnist(False)


def _batches_of(split: str, n: int, shuffle: bool, generator, device):
    """Minibatches of the first ``n`` examples of a Fashion-MNIST split, as TensorBatches that
    can cross to a stand-in by name (the data set is public; the grader reads it too)."""
    from course.batches import TensorBatches

    class Batches(TensorBatches):
        def standin_state(self):
            return "fashion_mnist", {"split": split, "n": n, "shuffle": shuffle,
                                     "generator": generator, "device": str(device)}
    # an error about it names the class the chapter's train_iter is, not a grader's
    Batches.__name__ = Batches.__qualname__ = TensorBatches.__name__
    X, y = _fashion_mnist(split == "train")
    return Batches(X[:n], y[:n], BATCH_SIZE, shuffle=shuffle, generator=generator, device=device)


def _train_inputs(gen):
    return {}


def _softmax_regression(ns, ctx, n_train, n_test, num_epochs, shuffle_seed):
    """The chapter's from-scratch training, with the student's train_epoch, accuracy and
    evaluate_accuracy; returns per-epoch metrics and the model's own test accuracy after
    each epoch."""
    train_iter = _batches_of("train", n_train, True, torch.Generator().manual_seed(shuffle_seed), ctx.device)
    test_iter = _batches_of("test", n_test, False, None, ctx.device)
    W = torch.normal(0, 0.01, (784, 10), generator=torch.Generator().manual_seed(ctx.seed))
    W = W.to(ctx.device).requires_grad_()
    b = torch.zeros(10, device=ctx.device, requires_grad=True)
    net, loss = _scratch_model(W, b)
    updater = _scratch_updater([W, b], LR)
    epochs, test_accs, own, Ws, bs = [], [], [], [], []
    for _ in range(num_epochs):
        epochs.append(call(ctx, ns, "train_epoch", net, train_iter, loss, updater))
        test_accs.append(call(ctx, ns, "evaluate_accuracy", net, test_iter))
        with torch.no_grad():
            own.append(sum(int((net(X).argmax(1) == y).sum()) for X, y in test_iter) / n_test)
        Ws.append(W.detach().cpu().clone())
        bs.append(b.detach().cpu().clone())
    # the parameters after each epoch: the grader measures the test accuracy from them itself
    # (_verified_accuracies); "own_test_accs", measured here, is only the student's claim
    return {"epochs": epochs, "test_accs": test_accs, "own_test_accs": own,
            "W": torch.stack(Ws), "b": torch.stack(bs)}


def _one_thread(run):
    """Run ``run()`` with one intra-op thread. The products here are small (256×784 by 784×10):
    a second thread saves little, and on a machine whose cores are busy with other work its
    spinning made an epoch ten times slower. The harness child has one thread already; this
    makes the reference's runs in the grader (and the nbgrader path) as fast."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run()
    finally:
        torch.set_num_threads(threads)


def _train_short(ns, inputs, ctx):
    return _one_thread(lambda: _softmax_regression(
        ns, ctx, SHORT["n_train"], SHORT["n_test"], SHORT["num_epochs"], ctx.seed + 1000 * inputs.get("variant", 0)))


def _train_full(ns, inputs, ctx):
    return _one_thread(lambda: _softmax_regression(ns, ctx, 60_000, 10_000, NUM_EPOCHS, ctx.seed + 1))


CLAIM_SLACK = 3  # test images on which the harness's and the grader's argmax may differ (float rounding)


def _verified_accuracies(got, n_test: int, what: str, epochs: int) -> list[float]:
    """The model's test accuracy after each of the run's ``epochs``, measured here in the trusted
    grader from the parameters the run returned, on the grader's copy of the test split (the
    first ``n_test`` images): never a number computed in the student's process. About 10 ms for
    3 epochs on 10,000 images (one 10,000 × 784 by 784 × 30 product). The number of epochs is
    the grader's, checked before any product: a run that sent thousands would cost minutes."""
    W, b = got.get("W"), got.get("b")
    if not (isinstance(W, WireTensor) and isinstance(b, WireTensor) and W.shape[1:] == (784, 10)
            and b.shape == (W.shape[0], 10)):
        raise CheckFailed(f"{what}: the model's parameters after each epoch did not come back")
    if W.shape[0] != epochs:
        raise CheckFailed(f"{what}: the run did not finish its {epochs} epochs (parameters of "
                          f"{W.shape[0]} came back)")
    X, y = _test_split(n_test)
    epochs = W.shape[0]
    with torch.no_grad():  # every epoch's model in one product: (n, 784) by (784, 10 · epochs)
        logits = X @ W.values.float().permute(1, 0, 2).reshape(784, -1) + b.values.float().reshape(-1)
        right = (logits.reshape(n_test, epochs, 10).argmax(2) == y[:, None]).sum(0)
    return [float(r) / n_test for r in right.tolist()]


@functools.lru_cache(maxsize=2)
def _test_split(n: int):
    """The first ``n`` test images as float32 rows ``(n, 784)`` in [0, 1], and their labels (kept:
    31 MB for all 10,000)."""
    from course.batches import to_float_images
    images, labels = _fashion_mnist(False)
    return to_float_images(images[:n]).reshape(n, 784), labels[:n]


def _check_claims(own: list[float], verified: list[float], n_test: int, what: str) -> None:
    """The accuracies the run measured in the student's process must be those of the parameters
    it returned (to a few images of float rounding)."""
    for epoch, (said, true) in enumerate(zip(own, verified), 1):
        if not abs(said - true) <= CLAIM_SLACK / n_test:
            raise CheckFailed(f"{what}: after epoch {epoch} the run reported that the model classifies "
                              f"{said:.4f} of the test images correctly, but its parameters classify "
                              f"{true:.4f} of them correctly (measured by the grader)")


def _metrics(out, what):
    epochs = out["epochs"]
    if not isinstance(epochs, list) or not epochs:
        raise CheckFailed(f"{what}: train_epoch returned {describe(epochs)}")
    pairs = [_pair(e, f"train_epoch in {what}") for e in epochs]
    tests = [_number(a, f"evaluate_accuracy in {what}") for a in out["test_accs"]]
    return [p[0] for p in pairs], [p[1] for p in pairs], tests


# How far a correct run may lie outside the reference runs' range, per quantity (the rule is in
# the module docstring).
SLACK = {"training loss": 0.03, "training accuracy": 0.025, "test accuracy": 0.235}
REFERENCE_ORDERS = 4  # reference runs of the trajectory, each over its own data order
# What a value outside the band most likely means, per quantity and side.
CAUSES = {
    ("training loss", "above"): "steps too small or missing (backward() on the mean loss with a custom "
                                "updater divides the step by the batch size twice), or a loss that is "
                                "not the mean per example (divided by the number of batches?)",
    ("training loss", "below"): "a step too large (the updater must get the batch's size, X.shape[0], "
                                "and backward() must run on the summed loss), or a loss divided by more "
                                "than the number of examples",
    ("training accuracy", "above"): "an accuracy not divided by the number of examples, or counted "
                                    "after the update",
    ("training accuracy", "below"): "an accuracy divided twice (accuracy must return a count, which "
                                    "train_epoch divides once by the number of examples), or steps "
                                    "that do not train",
    ("test accuracy", "above"): "evaluate_accuracy: correct predictions over all examples, divided once "
                                "by their number",
    ("test accuracy", "below"): "evaluate_accuracy divides twice or averages something else, or the "
                                "training does not train",
}


def _cmp_trajectory(got, want, inputs, tol: Tolerance):
    what = (f"training from scratch on the first {SHORT['n_train']:,} images for {SHORT['num_epochs']} "
            f"epochs (lr {LR}, batch size {BATCH_SIZE})")
    loss, train_acc, test_acc = _metrics(got, what)
    refs = [_metrics(w, what) for w in want]
    verified = _verified_accuracies(got, SHORT["n_test"], what, SHORT["num_epochs"])
    _check_claims([_number(a, what) for a in got["own_test_accs"]], verified, SHORT["n_test"], what)
    if len(verified) != len(test_acc) or len(verified) != len(loss):
        raise CheckFailed(f"{what}: the run did not finish its {SHORT['num_epochs']} epochs")
    # every quantity over the reference's, for the feedback page; a failed one is plotted first
    curves = [{"student": mine, "reference": ref, "ylabel": label, "xlabel": "epoch", "first": 1}
              for label, mine, ref in zip(SLACK, (loss, train_acc, test_acc), refs[0])]
    for k, (name, mine) in enumerate(zip(SLACK, (loss, train_acc, test_acc))):
        for epoch, value in enumerate(mine, 1):
            column = [r[k][epoch - 1] for r in refs]
            message = _outside_band(name, epoch, value, min(column), max(column))
            if not message and name == "test accuracy":  # the model's own, as the grader measures it
                message = _outside_band(name, epoch, verified[epoch - 1], min(column), max(column))
            if message:
                err = CheckFailed(f"{what}: {message}")
                err.detail = {"curves": sorted(curves, key=lambda c: c["ylabel"] != name)}
                raise err
    _check_training_claims(got, loss, train_acc, what)
    return {"curves": curves}


# How far train_epoch's reported training loss and accuracy of an epoch (a running mean over the
# epoch's minibatches, each before its step) may lie from the grader's own measure of the
# end-of-epoch parameters on the first TRAIN_CLAIM_N training images. Rule: 1.5 times the
# farthest of 40 reference runs over fresh data orders (reported − measured: loss −0.354 to
# +0.336, accuracy −0.114 to +0.156; the last step of an epoch at lr 0.1 swings the model a
# lot), rounded up to 0.05. Loose, but it binds the reported figures to the parameters.
TRAIN_CLAIM_N = 2_000
TRAIN_CLAIM_SLACK = {"training loss": 0.55, "training accuracy": 0.25}


def _measured_training(got, n: int) -> tuple[list[float], list[float]]:
    """The mean cross-entropy and the accuracy of each epoch's returned parameters on the first
    ``n`` training images, measured here in the grader (about 3 ms for 3 epochs on 2,000)."""
    X, y = _train_split(n)
    W, b = got["W"].values.float(), got["b"].values.float()
    epochs = W.shape[0]
    with torch.no_grad():
        logits = (X @ W.permute(1, 0, 2).reshape(784, -1) + b.reshape(-1)).reshape(n, epochs, 10)
        ce = torch.logsumexp(logits, 2) - logits.gather(2, y[:, None, None].expand(n, epochs, 1))[..., 0]
        acc = (logits.argmax(2) == y[:, None]).double().mean(0)
    return ce.double().mean(0).tolist(), acc.tolist()


def _check_training_claims(got, loss: list[float], train_acc: list[float], what: str) -> None:
    """train_epoch's reported figures must be those of the parameters the run returned (within
    :data:`TRAIN_CLAIM_SLACK` of the grader's measure): no point rests on them alone."""
    measured = _measured_training(got, TRAIN_CLAIM_N)
    for name, said, true in zip(TRAIN_CLAIM_SLACK, (loss, train_acc), measured):
        for epoch, (s, t) in enumerate(zip(said, true), 1):
            if not abs(s - t) <= TRAIN_CLAIM_SLACK[name]:
                raise CheckFailed(f"{what}: after epoch {epoch} train_epoch reported a {name} of {s:.4f}, "
                                  f"but the model's parameters give {t:.4f} on the training images "
                                  f"(measured by the grader; accepted ±{TRAIN_CLAIM_SLACK[name]}): return "
                                  "the epoch's own mean loss and accuracy")


@functools.lru_cache(maxsize=1)
def _train_split(n: int):
    """The first ``n`` training images as float32 rows ``(n, 784)`` in [0, 1], and their labels."""
    from course.batches import to_float_images
    images, labels = _fashion_mnist(True)
    return to_float_images(images[:n]).reshape(n, 784), labels[:n]


def _outside_band(name: str, epoch: int, value: float, lo: float, hi: float) -> str:
    """Why ``value`` is outside the band [lo - slack, hi + slack], or "" when it is inside."""
    slack = SLACK[name]
    if not math.isfinite(value):
        return (f"the {name} after epoch {epoch} is {value}: the training diverged — "
                f"{CAUSES['training loss', 'below']}")
    if lo - slack <= value <= hi + slack:
        return ""
    side = "above" if value > hi + slack else "below"
    outside = value - (hi + slack) if side == "above" else (lo - slack) - value
    every = "higher" if side == "above" else "lower"
    return (f"the {name} after epoch {epoch} is {value:.4f}, {every} than every correct run: the "
            f"reference's runs give {lo:.4f}–{hi:.4f}, accepted {lo - slack:.4f}–{hi + slack:.4f}, "
            f"and this is {outside:.4f} {side} that. Likely causes: {CAUSES[name, side]}")


def _cmp_full(got, want, inputs, tol):
    what = f"training from scratch on all 60,000 images for {NUM_EPOCHS} epochs (lr {LR}, batch size {BATCH_SIZE})"
    _, _, reported = _metrics(got, what)
    own = [_number(a, what) for a in got["own_test_accs"]]
    verified = _verified_accuracies(got, 10_000, what, NUM_EPOCHS)
    if len(own) != NUM_EPOCHS or len(reported) != NUM_EPOCHS or len(verified) != NUM_EPOCHS:
        raise CheckFailed(f"{what}: the run did not finish its {NUM_EPOCHS} epochs")
    _check_claims(own, verified, 10_000, what)
    best, ref = max(verified), max(want["own_test_accs"])
    detail = {"test_accuracy": best}  # measured by the grader; Gradescope's leaderboard shows it
    if best < TARGET_ACCURACY:
        err = CheckFailed(f"{what} reached a test accuracy of at most {best:.4f} after any epoch; expected "
                          f"at least {TARGET_ACCURACY} (the reference reaches {ref:.4f}). Likely causes: the "
                          "steps (backward() on the summed loss with a custom updater, updater(X.shape[0])) "
                          "or a loop that does not visit every batch")
        err.detail = detail
        raise err
    for epoch, (said, true) in enumerate(zip(reported, own), 1):
        if abs(said - true) > 1e-6:
            raise CheckFailed(f"{what}: after epoch {epoch} evaluate_accuracy reported a test accuracy of "
                              f"{said:.4f}, but the model classifies {true:.4f} of the test images correctly")
    return detail


EXERCISES = [
    Exercise("accuracy", (
        Check("probabilities", 0.5, "the number of rows whose largest probability is at the true class",
              make_inputs=_acc_inputs, probe=_ACC_PROBABILITIES,
              compare=_cmp_acc("probabilities", "(probabilities)")),
        Check("logits", 0.5, "logits work as well as probabilities (the largest entry wins)",
              depends_on=("probabilities",), make_inputs=_acc_inputs, probe=_acc_probe("logits"), compare=_cmp_acc("logits", "(logits)")),
        Check("class_indices", 0.5, "a vector of predicted classes is compared with y directly",
              depends_on=("probabilities",), make_inputs=_acc_inputs, probe=_acc_probe("indices"),
              compare=_cmp_acc("indices", "(predicted classes)")),
        Check("python_float", 0.5, "the count is returned as a Python float", guard=True,
              make_inputs=_acc_inputs, probe=_ACC_PROBABILITIES, compare=_cmp_acc_float),
    )),
    Exercise("evaluate_accuracy", (
        Check("value", 1.5, "correct predictions over all examples divided by the number of examples",
              make_inputs=_eval_inputs, probe=_eval_value, compare=_cmp_eval_value),
        Check("function_net", 0.5, "net may be a plain function (no eval())",
              make_inputs=_eval_inputs, probe=_eval_function, compare=_cmp_eval_function),
        Check("eval_mode", 0.5, "an nn.Module is put in evaluation mode", guard=True,
              make_inputs=_eval_inputs, probe=_eval_modes, compare=_cmp_eval_mode),
        Check("no_grad", 0.5, "no gradients are recorded while evaluating", guard=True,
              make_inputs=_eval_inputs, probe=_eval_modes, compare=_cmp_eval_grad),
    ), uses=("accuracy",)),
    Exercise("train_epoch", (
        Check("optimizer", 1.25, "with an optimizer: zero_grad, backward on the mean loss, step",
              kind="training", tolerance="trajectory",
              make_inputs=_epoch_inputs, probe=_epoch_optimizer, compare=_cmp_epoch_optimizer),
        Check("custom_updater", 1.25, "with a custom updater: backward on the summed loss, "
              "updater(size of the batch)", kind="training", tolerance="trajectory",
              make_inputs=_epoch_inputs, probe=_epoch_custom, compare=_cmp_epoch_custom),
        Check("returns", 1, "returns (mean loss per example, accuracy) over the epoch, as floats",
              make_inputs=_epoch_inputs, probe=_epoch_returns, compare=_cmp_epoch_returns),
        Check("train_mode", 0.5, "an nn.Module is put in training mode", guard=True,
              make_inputs=_epoch_inputs, probe=_epoch_optimizer, compare=_cmp_epoch_train_mode),
    ), uses=("accuracy",)),
    Exercise("predict", (
        Check("indices", 0.5, "the argmax of each row: int64 of shape (n,)", tolerance="exact",
              make_inputs=_predict_inputs, probe=_predict_probe,
              compare=_cmp_predict("many", "predict(net, X of shape (20, 1, 4, 4)) with 6 classes")),
        Check("one_example", 0.5, "a single example gives shape (1,), not a 0-d tensor", tolerance="exact",
              make_inputs=_predict_inputs, probe=_predict_probe,
              compare=_cmp_predict("one", "predict(net, X of shape (1, 1, 4, 4))")),
        Check("no_grad", 0.5, "the predictions are made under torch.no_grad()", guard=True,
              make_inputs=_predict_inputs, probe=_predict_modes, compare=_cmp_predict_grad),
    )),
    Exercise("training", (
        Check("trajectory", 2, "the training loss and accuracies per epoch follow the reference's runs",
              kind="training", make_inputs=_train_inputs, probe=_train_short, compare=_cmp_trajectory,
              tolerance="trajectory", timeout=60, reference_variants=REFERENCE_ORDERS),
        Check("test_accuracy", 2, f"{NUM_EPOCHS} epochs on all 60,000 images reach a test accuracy of at "
              f"least {TARGET_ACCURACY}", kind="training", make_inputs=_train_inputs, probe=_train_full,
              compare=_cmp_full, tolerance="trajectory", timeout=150),
    ), functions=(), uses=("train_epoch", "accuracy", "evaluate_accuracy")),
    Exercise("early_stopping", (
        Check("validation_accuracies", 1.5, "trains once per epoch and reports the validation accuracy "
              "after each epoch", kind="training", make_inputs=_es_inputs, probe=_es_probe,
              compare=_cmp_es_accs, timeout=60),
        Check("best_parameters", 2.5, "returns a copy of the parameters of the first epoch of highest "
              "validation accuracy (their accuracy recomputed by the grader)", kind="training",
              make_inputs=_es_inputs, probe=_es_probe, compare=_cmp_es_best, timeout=60),
    )),
]


def _rebuild_batches(state: dict):
    return _batches_of(state["split"], state["n"], state["shuffle"], state["generator"], state["device"])


# How the probe's own objects are rebuilt on the trusted side when a stand-in is called with
# them (autograder/oracle.py): the training run's model, loss, updater and data.
STANDIN_TYPES = {
    "scratch_net": lambda state: _ScratchNet(state["W"], state["b"]),
    "cross_entropy": lambda state: _CrossEntropy(),
    "sgd": lambda state: _SGD(state["params"], state["lr"]),
    "fashion_mnist": _rebuild_batches,
}


_ACCURACY = ("probabilities", "logits", "class_indices", "python_float")
_EVALUATE = ("value", "function_net", "eval_mode", "no_grad")
_PREDICT = ("indices", "one_example", "no_grad")
_EARLY_ALL = ("validation_accuracies", "best_parameters")

# Each sentence of the prompts that asks for something, and the checks that fail when it is
# broken. A function none of whose value checks passes also loses its guards ("not awarded
# until the function works"): those rows name them too. The training exercise has no code of
# its own, so no row.
REQUIREMENTS = [
    Requirement("accuracy.count", "accuracy", "returning the number (not the fraction) of correct predictions",
                _ACCURACY, "2 of 3 right gives 2.0"),
    Requirement("accuracy.float", "accuracy", "as a Python float", ("python_float",), "the type of the count"),
    Requirement("accuracy.argmax", "accuracy", "For a matrix, the prediction is the index of the largest entry "
                "in each row (argmax(1))", ("probabilities", "logits"), "2 of 3 right from probabilities"),
    Requirement("accuracy.logits", "accuracy", "probabilities or logits, it does not matter which", ("logits",),
                "negative logits"),
    Requirement("accuracy.indices", "accuracy", "or already a vector of predicted classes of shape (n,)",
                ("class_indices",), "predicted classes of shape (3,)"),
    Requirement("accuracy.column", "accuracy", "or a column of shape (n, 1), flattened to (n,) first",
                ("class_indices",), "predicted classes as a column (3, 1)"),
    Requirement("accuracy.any_dtype", "accuracy", "a vector of predicted classes in any dtype (float "
                "predictions too): tell the two apart by their shape, not their dtype", ("class_indices",),
                "predicted classes as floats"),
    Requirement("evaluate_accuracy.value", "evaluate_accuracy", "the accuracy of net on all examples of data_iter "
                "(a float between 0 and 1)", _EVALUATE, "3 of 4 right gives 0.75"),
    Requirement("evaluate_accuracy.weighting", "evaluate_accuracy", "dividing the total of correct predictions by the "
                "total of examples at the end weights every example equally", ("value",),
                "batches of 3 and 1: not the mean of the batches' accuracies"),
    Requirement("evaluate_accuracy.eval_mode", "evaluate_accuracy", "if net is a torch.nn.Module, put it in "
                "evaluation mode with net.eval() first", ("eval_mode",), "an nn.Module in eval mode"),
    Requirement("evaluate_accuracy.plain_function", "evaluate_accuracy", "net may also be a plain function like ours, "
                "which has no eval", ("function_net",), "a lambda as net"),
    Requirement("evaluate_accuracy.no_grad", "evaluate_accuracy", "compute the predictions under torch.no_grad()",
                ("no_grad",), "gradient recording off in net"),
    Requirement("train_epoch.zero_grad", "train_epoch", "with an optimizer: zero the gradients with "
                "updater.zero_grad()", ("optimizer",), "each step's gradient is one batch's"),
    Requirement("train_epoch.optimizer_mean", "train_epoch", "call backward() on the mean loss (with an optimizer)",
                ("optimizer",), "each step's gradient is the mean loss's"),
    Requirement("train_epoch.step", "train_epoch", "then updater.step()", ("optimizer",), "a step per batch"),
    Requirement("train_epoch.custom_sum", "train_epoch", "with a custom updater: call backward() on the sum of the "
                "losses", ("custom_updater",), "the updater sees the summed loss's gradient"),
    Requirement("train_epoch.batch_size", "train_epoch", "then updater(X.shape[0]); pass the actual size of the "
                "batch: the last one is smaller", ("custom_updater",), "the updater gets [16, 16, 16, 2]"),
    Requirement("train_epoch.mean_loss", "train_epoch", "returns the sum of all per-example losses divided by the "
                "number of examples", ("returns",), "the mean loss of 50 examples"),
    Requirement("train_epoch.accuracy", "train_epoch", "and the number of correct predictions (your accuracy) "
                "divided by the same", ("returns",), "the accuracy over the epoch"),
    Requirement("train_epoch.floats", "train_epoch", "(mean loss, accuracy), both floats", ("returns",)),
    Requirement("train_epoch.train_mode", "train_epoch", "If net is an nn.Module, put it in training mode "
                "(net.train()) first", ("train_mode",), "an nn.Module that came in eval mode"),
    Requirement("predict.indices", "predict", "the predicted class of each example in X as an int64 tensor of "
                "shape (n,)", _PREDICT, "the classes of 2 examples, int64"),
    Requirement("predict.one_example", "predict", "also when n = 1 (careful with squeeze())", ("one_example",),
                "a single example gives shape (1,)"),
    Requirement("predict.no_grad", "predict", "Make the predictions under torch.no_grad()", ("no_grad",),
                "gradient recording off in net"),
    Requirement("early_stopping.each_epoch", "early_stopping", "call train_one_epoch() once per epoch, "
                "num_epochs times, and val_accuracy(net) after each", _EARLY_ALL,
                "four epochs give four accuracies"),
    Requirement("early_stopping.accuracies", "early_stopping", "the list of the validation accuracies, one "
                "per epoch, in order", ("validation_accuracies",), "the scripted accuracies come back"),
    Requirement("early_stopping.copy", "early_stopping", "a copy of net.state_dict() — not the live tensors, "
                "which training keeps changing", ("best_parameters",),
                "the kept weight is epoch 2's while the net went on"),
    Requirement("early_stopping.first_best", "early_stopping", "of the first epoch of highest validation "
                "accuracy", ("best_parameters",), "a tie keeps the earlier epoch"),
]

# Measured by tests/test_chapter_09.py::test_training_checks_calibrated (see the module docstring):
# check → (correct variants, false rejections, realistic bugs, bugs caught).
CALIBRATION = {
    "train_epoch/optimizer": (20, 0, 20, 20),
    "train_epoch/custom_updater": (20, 0, 20, 20),
    "training/trajectory": (22, 0, 30, 30),
    "training/test_accuracy": (20, 0, 23, 23),
    "early_stopping/validation_accuracies": (20, 0, 20, 20),
    "early_stopping/best_parameters": (20, 0, 24, 24),
}
