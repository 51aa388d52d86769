"""Checks for chapter 09, softmax regression trained on Fashion-MNIST."""
from __future__ import annotations

import functools
import math

import torch
from torch import nn

from autograder.checks.common import call, randn
from autograder.compare import describe, expect_number, expect_tensor
from autograder.spec import Check, CheckFailed, Exercise
from autograder.tolerances import Tolerance
from autograder.untrusted.wire import WireTensor

CHAPTER = "09_softmax_regression_training"
TARGET_ACCURACY = 0.82  # d2l's result is about 0.83; independent runs gave 0.829–0.835


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
        cases = list(inputs[key]) + ([(inputs[key][0][0].float(), inputs[key][0][1])] if key == "indices" else [])
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
        cases = list(inputs[key]) + ([inputs[key][0]] if key == "indices" else [])
        for i, ((y_hat, y), g, w) in enumerate(zip(cases, got["results"], want["results"])):
            dtype = "float32" if key == "indices" and i == 1 else str(y_hat.dtype)[6:]
            what = f"accuracy(y_hat {kind} of shape {tuple(y_hat.shape)} [{dtype}], y of shape {tuple(y.shape)})"
            if isinstance(g, dict) and "raised" in g:
                if g["raised"].startswith("NotImplementedError"):
                    raise CheckFailed("`accuracy` is not written yet: it still raises NotImplementedError")
                raise CheckFailed(f"{what} raised {g['raised']}")
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
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
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
    what = "evaluate_accuracy(a plain Python function as net, 3 batches)"
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
    net = _linear(inputs["W"], inputs["b"], ctx.device)
    optimizer = _RecordingSGD(net.parameters(), inputs["lr"])
    batches = _batches(inputs["X"], inputs["y"], inputs["batch_size"], ctx.device)
    result = call(ctx, ns, "train_epoch", net, batches, nn.CrossEntropyLoss(reduction="none"), optimizer)
    return {"result": result, "weight": net[1].weight.detach(), "bias": net[1].bias.detach(),
            "events": "".join(optimizer.events), "grad_norms": optimizer.grad_norms}


class _ScratchNet:
    """The chapter's from-scratch model, softmax(X W + b); it can cross to a stand-in."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, X):
        return torch.softmax(X.reshape(-1, self.W.shape[0]) @ self.W + self.b, 1)

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


def _scratch_model(W, b):
    return _ScratchNet(W, b), _CrossEntropy()


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


WHAT_OPT = ("train_epoch(nn.Sequential(Flatten, Linear(16, 4)), 4 batches of 32, 32, 32 and 4, "
            "nn.CrossEntropyLoss(reduction='none'), torch.optim.SGD(lr=0.5))")
WHAT_CUSTOM = ("train_epoch(a from-scratch softmax model with W (16, 4), 4 batches of 32, 32, 32 and 4, "
               "cross-entropy, updater(batch_size))")


def _cmp_epoch_optimizer(got, want, inputs, tol):
    _pair(got["result"], WHAT_OPT)
    events = got["events"]
    if "s" not in events:
        raise CheckFailed(f"{WHAT_OPT} never called updater.step()")
    if events.count("s") != 4:
        raise CheckFailed(f"{WHAT_OPT} called updater.step() {events.count('s')} times; expected once per batch, 4")
    if any("z" not in between for between in events.split("s")[1:-1]) or events.count("z") == 0:
        raise CheckFailed(f"{WHAT_OPT} did not call updater.zero_grad() between steps (calls: {events!r}); "
                          "gradients accumulate in PyTorch, so zero them before each backward()")
    g, w = got["grad_norms"][0], want["grad_norms"][0]
    if w > 0 and abs(g / w - inputs["batch_size"]) < 0.05 * inputs["batch_size"]:
        raise CheckFailed(f"{WHAT_OPT}: the first gradient is {inputs['batch_size']} times the "
                          "reference's; with an optimizer call backward() on the mean loss, l.mean()")
    for key in ("weight", "bias"):
        expect_tensor(got[key], want[key], f"{WHAT_OPT}: the layer's {key} after the epoch", tol)


def _cmp_epoch_custom(got, want, inputs, tol):
    _pair(got["result"], WHAT_CUSTOM)
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


# -- predict -----------------------------------------------------------------------------------
def _predict_inputs(gen):
    return {"X": randn(gen, 20, 1, 4, 4), "W": randn(gen, 16, 6), "b": randn(gen, 6)}


def _predict_probe(ns, inputs, ctx):
    net = _linear(inputs["W"], inputs["b"], ctx.device)
    X = inputs["X"].to(ctx.device)
    return {"many": call(ctx, ns, "predict", net, X), "one": call(ctx, ns, "predict", net, X[:1])}


def _cmp_predict(key, what):
    def compare(got, want, inputs, tol):
        expect_tensor(got[key], want[key], what, tol)
    return compare


# -- training ----------------------------------------------------------------------------------
LR, BATCH_SIZE, NUM_EPOCHS = 0.1, 256, 10
SHORT = {"n_train": 10_000, "n_test": 2_000, "num_epochs": 3}  # the loss-trajectory run


@functools.lru_cache(maxsize=2)
def _fashion_mnist(train: bool):
    """The split as uint8 images and labels, read once per process (the data set is public)."""
    from course.data import load_fashion_mnist_uint8
    return load_fashion_mnist_uint8(train=train)


def _batches_of(split: str, n: int, shuffle: bool, generator, device):
    """Minibatches of the first ``n`` examples of a Fashion-MNIST split, as TensorBatches that
    can cross to a stand-in by name (the data set is public; the grader reads it too)."""
    from course.batches import TensorBatches

    class Batches(TensorBatches):
        def standin_state(self):
            return "fashion_mnist", {"split": split, "n": n, "shuffle": shuffle,
                                     "generator": generator, "device": str(device)}
    X, y = _fashion_mnist(split == "train")
    return Batches(X[:n], y[:n], BATCH_SIZE, shuffle=shuffle, generator=generator, device=device)


def _train_inputs(gen):
    return {}


def _softmax_regression(ns, ctx, n_train, n_test, num_epochs, shuffle_seed):
    """The chapter's from-scratch training, with the student's train_epoch, accuracy and
    evaluate_accuracy; returns per-epoch metrics and the model's own test accuracy."""
    train_iter = _batches_of("train", n_train, True, torch.Generator().manual_seed(shuffle_seed), ctx.device)
    test_iter = _batches_of("test", n_test, False, None, ctx.device)
    W = torch.normal(0, 0.01, (784, 10), generator=torch.Generator().manual_seed(ctx.seed))
    W = W.to(ctx.device).requires_grad_()
    b = torch.zeros(10, device=ctx.device, requires_grad=True)
    net, loss = _scratch_model(W, b)
    updater = _SGD([W, b], LR)
    epochs, test_accs = [], []
    for _ in range(num_epochs):
        epochs.append(call(ctx, ns, "train_epoch", net, train_iter, loss, updater))
        test_accs.append(call(ctx, ns, "evaluate_accuracy", net, test_iter))
    with torch.no_grad():
        correct = sum(int((net(X).argmax(1) == y).sum()) for X, y in test_iter)
    return {"epochs": epochs, "test_accs": test_accs, "own_test_acc": correct / n_test}


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


def _metrics(out, what):
    epochs = out["epochs"]
    if not isinstance(epochs, list) or not epochs:
        raise CheckFailed(f"{what}: train_epoch returned {describe(epochs)}")
    pairs = [_pair(e, f"train_epoch in {what}") for e in epochs]
    tests = [_number(a, f"evaluate_accuracy in {what}") for a in out["test_accs"]]
    return [p[0] for p in pairs], [p[1] for p in pairs], tests


def _cmp_trajectory(got, want, inputs, tol: Tolerance):
    what = (f"training from scratch on the first {SHORT['n_train']:,} images for {SHORT['num_epochs']} "
            f"epochs (lr {LR}, batch size {BATCH_SIZE})")
    loss, train_acc, test_acc = _metrics(got, what)
    refs = [_metrics(w, what) for w in want]
    # every quantity over the reference's, for the feedback page; a failed one is plotted first
    curves = [{"student": mine, "reference": ref, "ylabel": label, "xlabel": "epoch", "first": 1}
              for label, mine, ref in zip(("training loss", "training accuracy", "test accuracy"),
                                          (loss, train_acc, test_acc), refs[0])]
    detail = {"curves": curves}
    for name, mine, ref_values, slack in (("training loss", loss, [r[0] for r in refs], 0.03),
                                          ("training accuracy", train_acc, [r[1] for r in refs], 0.01),
                                          ("test accuracy", test_acc, [r[2] for r in refs], 0.02)):
        for epoch, value in enumerate(mine, 1):
            column = [r[epoch - 1] for r in ref_values]
            lo, hi = min(column) - slack, max(column) + slack
            if not math.isfinite(value) or not lo <= value <= hi:
                err = CheckFailed(f"{what}: the {name} after epoch {epoch} is {value:.4f}; the reference's "
                                  f"runs give {min(column):.4f}–{max(column):.4f} (accepted "
                                  f"{lo:.4f}–{hi:.4f}). Check train_epoch (backward on the summed loss "
                                  "with a custom updater, which gets the batch size) and what it returns")
                err.detail = {"curves": sorted(curves, key=lambda c: c["ylabel"] != name)}
                raise err
    return detail


def _cmp_full(got, want, inputs, tol):
    what = f"training from scratch on all 60,000 images for {NUM_EPOCHS} epochs (lr {LR}, batch size {BATCH_SIZE})"
    _, _, test_acc = _metrics(got, what)
    own, ref = got["own_test_acc"], want["own_test_acc"]
    detail = {"test_accuracy": _number(own, what)}  # the model's own; Gradescope's leaderboard shows it
    if own < TARGET_ACCURACY:
        err = CheckFailed(f"{what} reached a test accuracy of {own:.4f}; expected at least "
                          f"{TARGET_ACCURACY} (the reference reaches {ref:.4f})")
        err.detail = detail
        raise err
    if abs(test_acc[-1] - own) > 1e-6:
        raise CheckFailed(f"{what}: evaluate_accuracy reported a test accuracy of {test_acc[-1]:.4f}, "
                          f"but the model classifies {own:.4f} of the test images correctly")
    return detail


EXERCISES = [
    Exercise("accuracy", (
        Check("probabilities", 1, "the number of rows whose largest probability is at the true class",
              make_inputs=_acc_inputs, probe=_acc_probe("probabilities"),
              compare=_cmp_acc("probabilities", "(probabilities)")),
        Check("logits", 0.5, "logits work as well as probabilities (the largest entry wins)",
              make_inputs=_acc_inputs, probe=_acc_probe("logits"), compare=_cmp_acc("logits", "(logits)")),
        Check("class_indices", 0.5, "a vector of predicted classes is compared with y directly",
              make_inputs=_acc_inputs, probe=_acc_probe("indices"),
              compare=_cmp_acc("indices", "(predicted classes)")),
    )),
    Exercise("evaluate_accuracy", (
        Check("value", 1.5, "correct predictions over all examples divided by the number of examples",
              make_inputs=_eval_inputs, probe=_eval_value, compare=_cmp_eval_value),
        Check("function_net", 0.5, "net may be a plain function (no eval())",
              make_inputs=_eval_inputs, probe=_eval_function, compare=_cmp_eval_function),
        Check("eval_mode", 0.5, "an nn.Module is put in evaluation mode",
              make_inputs=_eval_inputs, probe=_eval_modes, compare=_cmp_eval_mode),
        Check("no_grad", 0.5, "no gradients are recorded while evaluating",
              make_inputs=_eval_inputs, probe=_eval_modes, compare=_cmp_eval_grad),
    )),
    Exercise("train_epoch", (
        Check("optimizer", 1.5, "with an optimizer: zero_grad, backward on the mean loss, step",
              kind="training", tolerance="trajectory",
              make_inputs=_epoch_inputs, probe=_epoch_optimizer, compare=_cmp_epoch_optimizer),
        Check("custom_updater", 1.5, "with a custom updater: backward on the summed loss, "
              "updater(size of the batch)", kind="training", tolerance="trajectory",
              make_inputs=_epoch_inputs, probe=_epoch_custom, compare=_cmp_epoch_custom),
        Check("returns", 1, "returns (mean loss per example, accuracy) over the epoch",
              make_inputs=_epoch_inputs, probe=_epoch_returns, compare=_cmp_epoch_returns),
    ), uses=("accuracy",)),
    Exercise("predict", (
        Check("indices", 1, "the argmax of each row: int64 of shape (n,)", tolerance="exact",
              make_inputs=_predict_inputs, probe=_predict_probe,
              compare=_cmp_predict("many", "predict(net, X of shape (20, 1, 4, 4)) with 6 classes")),
        Check("one_example", 0.5, "a single example gives shape (1,), not a 0-d tensor", tolerance="exact",
              make_inputs=_predict_inputs, probe=_predict_probe,
              compare=_cmp_predict("one", "predict(net, X of shape (1, 1, 4, 4))")),
    )),
    Exercise("training", (
        Check("trajectory", 2, "the training loss and accuracies per epoch follow the reference's runs",
              kind="training", make_inputs=_train_inputs, probe=_train_short, compare=_cmp_trajectory,
              tolerance="trajectory", timeout=60, reference_variants=4),
        Check("test_accuracy", 2, f"10 epochs on all 60,000 images reach a test accuracy of at least "
              f"{TARGET_ACCURACY}", kind="training", make_inputs=_train_inputs, probe=_train_full,
              compare=_cmp_full, tolerance="trajectory", timeout=150),
    ), functions=(), uses=("train_epoch", "accuracy", "evaluate_accuracy")),
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
