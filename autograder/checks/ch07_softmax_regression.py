"""Checks for chapter 07, softmax regression: one-hot, softmax, entropy and cross-entropy,
two classes as logistic regression, and decisions with asymmetric costs.

``REQUIREMENTS`` (at the end) maps each sentence of the exercises' prompts to the checks
that fail when it is broken; tests/test_chapter_07.py holds a submission per row.
``softmax_ce_grad`` may use the student's ``softmax`` and ``one_hot`` (its prompt says so):
when one of them fails its own checks, a working one stands in for it there.
"""
from __future__ import annotations

import math

import torch

from autograder.checks.common import call, randn, student_calls
from autograder.compare import describe, expect_tensor, preview
from autograder.policy import forbid_attributes, forbid_loops
from autograder.spec import Check, CheckFailed, Exercise, Requirement
from autograder.untrusted.wire import WireTensor

CHAPTER = "07_softmax_regression"
SOFTMAX_NAMES = ("softmax", "log_softmax", "logsumexp", "Softmax", "LogSoftmax")
# Logits that overflow (exp(1000) = inf) and underflow (exp(-1000) = 0) a naive softmax.
BIG_LOGITS = [[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1001.0], [1000.0, 1000.0, 999.0]]
BIG_LABELS = [1, 2, 0]


def _shape(t) -> tuple:
    return tuple(t.shape)


def _with_hint(got, want, what, tol, hints):
    """``expect_tensor``; on failure, add the first hint whose wrong answer ``got`` matches.

    ``hints`` maps an explanation to a function of the reference values returning the
    value a particular mistake produces.
    """
    try:
        expect_tensor(got, want, what, tol)
    except CheckFailed as e:
        if isinstance(got, WireTensor) and got.shape == want.shape and want.values.is_floating_point():
            g, w = got.values.double(), want.values.double()
            for text, wrong in hints.items():
                value = wrong(w)
                if value is not None and torch.isfinite(g).all() and \
                        torch.allclose(g, value, rtol=1e-4, atol=1e-5):
                    raise CheckFailed(f"{e} — {text}") from None
        raise


def _grad_of(ns, ctx, name, X, *rest, weights=None):
    """The gradient of (name(X, *rest) * weights).sum() with respect to X, or None."""
    X = X.clone().to(ctx.device).requires_grad_()
    out = call(ctx, ns, name, X, *(r.to(ctx.device) if isinstance(r, torch.Tensor) else r for r in rest))
    w = weights if weights is not None else torch.ones(out.shape)
    (out * w.to(out.device, out.dtype)).sum().backward()
    return X.grad


def _no_grad_message(what):
    return (f"{what}: no gradient reached the input; compute the result from it with tensor "
            "operations (no .item(), .detach(), .numpy() or in-place writes into a fresh tensor)")


# -- one_hot ----------------------------------------------------------------------------
def _one_hot_inputs(gen):
    return {"cases": [
        {"y": torch.randint(0, 4, (6,), generator=gen), "q": 4},
        {"y": torch.randint(0, 10, (25,), generator=gen), "q": 10},
        {"y": torch.tensor([0, 1, 1]), "q": 5},
        {"y": torch.tensor([2]), "q": 3},
    ]}


def _one_hot_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "one_hot", c["y"].to(ctx.device), c["q"]) for c in inputs["cases"]]}


def _cmp_one_hot(exact):
    """The ones and zeros in place (any dtype); ``exact``: also float32 on y's device."""
    def compare(got, want, inputs, tol):
        for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
            what = f"one_hot(y of shape {_shape(case['y'])} with labels {case['y'][:5].tolist()}, num_classes={case['q']})"
            if isinstance(g, WireTensor) and len(g.shape) == 2 and g.shape[0] == w.shape[0] and g.shape[1] != w.shape[1]:
                raise CheckFailed(f"{what} returned shape {g.shape}; expected {w.shape} — use "
                                  "num_classes columns, not the largest label + 1")
            if exact and isinstance(g, WireTensor) and g.dtype != w.dtype:
                raise CheckFailed(f"{what} returned dtype {g.dtype}; expected {w.dtype} — convert the "
                                  "comparison's booleans with .to(torch.float32)")
            expect_tensor(g, w, what, tol, check_dtype=exact, check_device=exact)
    return compare


# -- softmax ------------------------------------------------------------------------------
def _softmax_inputs(gen):
    return {"cases": [randn(gen, 2, 5), 3 * randn(gen, 7, 3), randn(gen, 4, 10, dtype=torch.float64),
                      randn(gen, 1, 4)],
            "weights": randn(gen, 7, 3)}


def _softmax_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "softmax", X.to(ctx.device)) for X in inputs["cases"]]}


def _softmax_hints(X):
    X = X.double()
    return {"it normalises over dim 0 (each column sums to 1); each row must sum to 1":
            lambda w: torch.exp(X) / torch.exp(X).sum(0, keepdim=True)}


def _cmp_softmax_values(got, want, inputs, tol):
    for X, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = f"softmax(X of shape {_shape(X)}) [{str(X.dtype)[6:]}]"
        _with_hint(g, w, what, tol, _softmax_hints(X))


def _softmax_big(ns, inputs, ctx):
    return {"result": call(ctx, ns, "softmax", torch.tensor(BIG_LOGITS).to(ctx.device))}


def _cmp_stable(name):
    def compare(got, want, inputs, tol):
        what = f"{name}(logits {BIG_LOGITS}" + (f", y {BIG_LABELS})" if name != "softmax" else ")")
        result = got["result"]
        if isinstance(result, WireTensor) and result.values.is_floating_point() and \
                not torch.isfinite(result.values).all():
            raise CheckFailed(f"{what} returned {result.values.tolist()}: exp overflows to inf for "
                              "logits near 1000 and underflows to 0 near -1000; subtract each row's "
                              "max before exp" + (" and never take the log of a probability"
                                                   if name == "cross_entropy_from_logits" else "")
                              + (" (it calls your `softmax`: make that one stable too)"
                                 if name == "softmax_ce_grad" and student_calls(name, "softmax", method=False)
                                 else ""))
        expect_tensor(result, want["result"], what, tol)
    return compare


def _softmax_grad(ns, inputs, ctx):
    return {"grad": _grad_of(ns, ctx, "softmax", inputs["cases"][1], weights=inputs["weights"])}


def _cmp_grad(what):
    def compare(got, want, inputs, tol):
        if not isinstance(got["grad"], WireTensor):
            raise CheckFailed(_no_grad_message(what))
        expect_tensor(got["grad"], want["grad"], what, tol)
    return compare


# -- entropy --------------------------------------------------------------------------------
def _dist(gen, *shape, dtype=torch.float32):
    return torch.softmax(2 * randn(gen, *shape, dtype=dtype), -1)


def _entropy_inputs(gen):
    return {"cases": [_dist(gen, 5), _dist(gen, 4, 6), _dist(gen, 3, 8, dtype=torch.float64)]}


def _entropy_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "entropy", p.to(ctx.device)) for p in inputs["cases"]]}


_ENTROPY_HINTS = {
    "it is in bits (log2); use the natural logarithm for nats": lambda w: w / math.log(2),
    "the sign is flipped: entropy is -Σ p log p": lambda w: -w,
}


def _cmp_entropy(got, want, inputs, tol):
    for p, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = f"entropy(p of shape {_shape(p)}) [{str(p.dtype)[6:]}]"
        if isinstance(g, WireTensor) and g.shape != w.shape and g.shape == ():
            raise CheckFailed(f"{what} returned a single number; expected shape {w.shape} — sum "
                              "over the last dimension only (.sum(-1))")
        _with_hint(g, w, what, tol, _ENTROPY_HINTS)


ZERO_DISTS = [[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.2, 0.0, 0.8]]


def _entropy_zeros(ns, inputs, ctx):
    return {"result": call(ctx, ns, "entropy", torch.tensor(ZERO_DISTS).to(ctx.device))}


def _cmp_entropy_zeros(got, want, inputs, tol):
    what = f"entropy(p = {ZERO_DISTS})"
    result = got["result"]
    if isinstance(result, WireTensor) and result.values.is_floating_point() and \
            not torch.isfinite(result.values).all():
        raise CheckFailed(f"{what} returned {result.values.tolist()}: p * log(p) is 0 * -inf = nan "
                          "where p = 0; count those terms as 0 (torch.where or torch.special.xlogy)")
    expect_tensor(result, want["result"], what, tol)


# -- cross_entropy ----------------------------------------------------------------------------
def _ce_inputs(gen):
    cases = []
    for n, q, dtype in ((6, 3, torch.float32), (4, 10, torch.float64), (1, 5, torch.float32)):
        cases.append({"y_hat": _dist(gen, n, q, dtype=dtype), "y": torch.randint(0, q, (n,), generator=gen)})
    return {"cases": cases}


def _ce_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "cross_entropy", c["y_hat"].to(ctx.device), c["y"].to(ctx.device))
                        for c in inputs["cases"]]}


def _cmp_ce_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        n, q = case["y_hat"].shape
        what = f"cross_entropy(y_hat of shape ({n}, {q}), y of shape ({n},)) [{str(case['y_hat'].dtype)[6:]}]"
        if isinstance(g, WireTensor) and g.shape == () and n > 1:
            raise CheckFailed(f"{what} returned a single number; expected shape {w.shape} — return "
                              "the loss of each example, without averaging over the batch")
        if isinstance(g, WireTensor) and g.shape == (n, q):
            raise CheckFailed(f"{what} returned shape {g.shape}; expected {w.shape} — pick each "
                              "row's entry at its label (y_hat[range(n), y]) rather than taking the "
                              "log of the whole matrix")
        _with_hint(g, w, what, tol, {
            f"it averages over the {q} classes; the loss is the sum (one term: the true class's)":
                lambda w, q=q: w / q,
            "the sign is flipped: the loss is -log of the true class's probability": lambda w: -w,
        })


ZERO_PROBS = [[0.0, 1.0, 0.0], [0.25, 0.0, 0.75], [0.0, 0.0, 1.0]]
ZERO_LABELS = [1, 2, 2]


def _ce_zeros(ns, inputs, ctx):
    return {"result": call(ctx, ns, "cross_entropy", torch.tensor(ZERO_PROBS).to(ctx.device),
                           torch.tensor(ZERO_LABELS).to(ctx.device))}


def _cmp_ce_zeros(got, want, inputs, tol):
    what = f"cross_entropy(y_hat = {ZERO_PROBS}, y = {ZERO_LABELS})"
    result = got["result"]
    if isinstance(result, WireTensor) and result.values.is_floating_point() and \
            not torch.isfinite(result.values).all():
        raise CheckFailed(f"{what} returned {result.values.tolist()}: multiplying log(y_hat) by a "
                          "one-hot matrix computes 0 * log 0 = nan for the other classes; pick the "
                          "true class's probability with y_hat[range(n), y] instead")
    expect_tensor(result, want["result"], what, tol)


# -- cross_entropy_from_logits -----------------------------------------------------------------
def _logits_inputs(gen):
    cases = []
    for n, q, scale, dtype in ((6, 3, 1.0, torch.float32), (5, 10, 4.0, torch.float64),
                               (8, 4, 20.0, torch.float32)):
        cases.append({"O": scale * randn(gen, n, q, dtype=dtype), "y": torch.randint(0, q, (n,), generator=gen)})
    return {"cases": cases, "weights": randn(gen, 6)}


def _cefl_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "cross_entropy_from_logits", c["O"].to(ctx.device), c["y"].to(ctx.device))
                        for c in inputs["cases"]]}


def _cmp_cefl_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        n, q = case["O"].shape
        what = (f"cross_entropy_from_logits(O of shape ({n}, {q}) with logits up to "
                f"{case['O'].abs().max():.0f}, y of shape ({n},)) [{str(case['O'].dtype)[6:]}]")
        if isinstance(g, WireTensor) and g.shape == () and n > 1:
            raise CheckFailed(f"{what} returned a single number; expected shape {w.shape} — return "
                              "the loss of each example, without averaging over the batch")
        _with_hint(g, w, what, tol, {
            f"it averages over the {q} classes; the loss is logsumexp(o) - o_y": lambda w, q=q: w / q,
            "the sign is flipped: the loss is logsumexp(o) - o_y": lambda w: -w,
        })


def _cefl_big(ns, inputs, ctx):
    return {"result": call(ctx, ns, "cross_entropy_from_logits", torch.tensor(BIG_LOGITS).to(ctx.device),
                           torch.tensor(BIG_LABELS).to(ctx.device))}


def _cefl_grad(ns, inputs, ctx):
    c = inputs["cases"][0]
    return {"grad": _grad_of(ns, ctx, "cross_entropy_from_logits", c["O"], c["y"], weights=inputs["weights"])}


# -- softmax_ce_grad --------------------------------------------------------------------------
def _grad_inputs(gen):
    cases = []
    for n, q, scale, dtype in ((6, 3, 1.0, torch.float64), (5, 10, 3.0, torch.float64),
                               (8, 4, 1.0, torch.float32), (1, 5, 2.0, torch.float64)):
        cases.append({"O": scale * randn(gen, n, q, dtype=dtype), "y": torch.randint(0, q, (n,), generator=gen)})
    return {"cases": cases}


def _sceg_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "softmax_ce_grad", c["O"].to(ctx.device), c["y"].to(ctx.device))
                        for c in inputs["cases"]]}


def _autograd(O, y):
    """What autograd says: the gradient of the mean cross-entropy F.cross_entropy(O, y)."""
    O = O.detach().clone().double().requires_grad_()
    torch.nn.functional.cross_entropy(O, y).backward()
    return O.grad


def _cmp_sceg_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        n, q = case["O"].shape
        what = f"softmax_ce_grad(O of shape ({n}, {q}), y of shape ({n},)) [{str(case['O'].dtype)[6:]}]"
        auto = _autograd(case["O"], case["y"]).to(w.dtype)
        auto_wire = WireTensor(auto, w.device, "Tensor", False)
        _with_hint(g, auto_wire, what + ", compared with autograd's gradient of F.cross_entropy(O, y)", tol, {
            f"it is n = {n} times too large: the loss is the mean over the batch, divide by n":
                (lambda w, n=n: w * n) if n > 1 else (lambda w: None),
            "the sign is flipped: the gradient is softmax(O) - one_hot(y)": lambda w: -w,
        })


def _sceg_big(ns, inputs, ctx):
    return {"result": call(ctx, ns, "softmax_ce_grad", torch.tensor(BIG_LOGITS).to(ctx.device),
                           torch.tensor(BIG_LABELS).to(ctx.device))}


# -- logistic_from_softmax ----------------------------------------------------------------------
def _logistic_inputs(gen):
    cases = []
    for d, dtype in ((2, torch.float32), (5, torch.float64), (1, torch.float32)):
        cases.append({"W": randn(gen, d, 2, dtype=dtype), "b": randn(gen, 2, dtype=dtype),
                      "X": 2 * randn(gen, 7, d, dtype=dtype)})
    return {"cases": cases}


def _logistic_values(ns, inputs, ctx):
    out = []
    for c in inputs["cases"]:
        result = call(ctx, ns, "logistic_from_softmax", c["W"].to(ctx.device), c["b"].to(ctx.device))
        out.append(tuple(result) if isinstance(result, (tuple, list)) else result)
    return {"results": out}


def _logistic_what(case):
    d = case["W"].shape[0]
    return f"logistic_from_softmax(W of shape ({d}, 2), b of shape (2,)) [{str(case['W'].dtype)[6:]}]"


def _cmp_logistic_values(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        what = _logistic_what(case)
        if not isinstance(g, tuple) or len(g) != 2:
            raise CheckFailed(f"{what} returned {describe(g)}; expected a pair (w, b)")
        for name, mine, ref in (("w", g[0], w[0]), ("b", g[1], w[1])):
            _with_hint(mine, ref, f"{what}: {name}", tol, {
                "the sign is flipped: that is the logit of class 0; take class 1's minus class 0's":
                    lambda v: -v})


def _cmp_logistic_probabilities(got, want, inputs, tol):
    """Recompute sigmoid(X w + b) from the returned pair and compare with softmax's class 1."""
    for case, g in zip(inputs["cases"], got["results"]):
        what = _logistic_what(case)
        if not isinstance(g, tuple) or len(g) != 2 or not all(isinstance(t, WireTensor) for t in g):
            raise CheckFailed(f"{what} returned {describe(g)}; expected a pair of tensors (w, b)")
        w, b = (t.values.double() for t in g)
        d = case["W"].shape[0]
        if w.numel() != d or b.numel() != 1:
            raise CheckFailed(f"{what} returned w with {w.numel()} and b with {b.numel()} numbers; "
                              f"expected {d} weights and one bias")
        X = case["X"].double()
        mine = torch.sigmoid(X @ w.reshape(-1) + b.reshape(()))
        truth = torch.softmax(X @ case["W"].double() + case["b"].double(), 1)[:, 1]
        if not torch.allclose(mine, truth, rtol=1e-4, atol=1e-5):
            hint = (" — that is 1 - p: the sign is flipped" if torch.allclose(mine, 1 - truth, atol=1e-5)
                    else "")
            raise CheckFailed(f"{what}: sigmoid(X @ w + b) on 7 examples gives {preview(mine)}; softmax of "
                              f"the two-class model gives class 1 the probabilities {preview(truth)}{hint}")


# -- min_cost_decision ----------------------------------------------------------------------------
def _cost_matrix(gen, q):
    """Asymmetric costs: 0 on the diagonal, positive elsewhere."""
    return (torch.rand(q, q, generator=gen) * 10).fill_diagonal_(0.0)


def _decision_inputs(gen):
    # First a case where the argmax, the transposed costs and the argmax of the expected cost
    # each give other decisions than the right ones ([1, 1, 1]), so a message can say which.
    cases = [{"P": torch.tensor([[0.8, 0.2], [0.3, 0.7], [0.02, 0.98]]),
              "cost": torch.tensor([[0.0, 1.0], [20.0, 0.0]])}]
    for n, q in ((8, 2), (12, 4), (1, 3)):
        cases.append({"P": torch.softmax(2 * randn(gen, n, q), 1), "cost": _cost_matrix(gen, q)})
    return {"cases": cases}


def _decision_values(ns, inputs, ctx):
    return {"results": [call(ctx, ns, "min_cost_decision", c["P"].to(ctx.device), c["cost"].to(ctx.device))
                        for c in inputs["cases"]]}


def _cmp_decision(got, want, inputs, tol):
    for case, g, w in zip(inputs["cases"], got["results"], want["results"]):
        P, cost = case["P"], case["cost"]
        what = f"min_cost_decision(P of shape {_shape(P)}, cost of shape {_shape(cost)})"
        if isinstance(g, WireTensor) and g.shape == w.shape and not g.values.is_floating_point():
            mine = g.values.long()
            for text, wrong in (
                    ("that is the most probable class: it ignores the costs", P.argmax(1)),
                    ("that reads the cost matrix transposed: row i is the true class, column j the "
                     "decision, so the expected cost of j is (P @ cost)[:, j]", (P @ cost.T).argmin(1)),
                    ("that maximises the expected cost; take the argmin", (P @ cost).argmax(1))):
                if torch.equal(mine, wrong) and not torch.equal(mine, w.values.long()):
                    raise CheckFailed(f"{what} returned {mine.tolist()}; expected {w.values.tolist()} — {text}")
        expect_tensor(g, w, what, tol)


ZERO_ONE_P = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]]


def _decision_zero_one(ns, inputs, ctx):
    P = torch.tensor(ZERO_ONE_P).to(ctx.device)
    return {"result": call(ctx, ns, "min_cost_decision", P, (1 - torch.eye(3)).to(ctx.device))}


def _cmp_decision_zero_one(got, want, inputs, tol):
    expect_tensor(got["result"], want["result"], f"min_cost_decision(P = {ZERO_ONE_P}, cost = 1 - I) "
                  "(every mistake costs 1: the rule is the argmax)", tol)


EXERCISES = [
    Exercise("one_hot", (
        Check("values", 1.5, "one row of shape (num_classes,) per label, 1 at the label and 0 elsewhere",
              make_inputs=_one_hot_inputs, probe=_one_hot_values, compare=_cmp_one_hot(False), tolerance="exact"),
        Check("float32", 0.5, "the one-hot rows as float32, on y's device",
              make_inputs=_one_hot_inputs, probe=_one_hot_values, compare=_cmp_one_hot(True), tolerance="exact"),
        Check("no_library_one_hot", 1, "written without F.one_hot", kind="policy",
              rule=forbid_attributes("one_hot")),
    )),
    Exercise("softmax", (
        Check("values", 1.5, "the softmax of each row, in X's shape and dtype",
              make_inputs=_softmax_inputs, probe=_softmax_values, compare=_cmp_softmax_values),
        Check("stable", 1.5, "finite and correct for logits of ±1000",
              make_inputs=_softmax_inputs, probe=_softmax_big, compare=_cmp_stable("softmax")),
        Check("gradient", 1, "gradients flow through it as through the reference", kind="gradient",
              tolerance="grad", make_inputs=_softmax_inputs, probe=_softmax_grad,
              compare=_cmp_grad("the gradient of (softmax(X) * weights).sum() with respect to X (7, 3)")),
        Check("no_library_softmax", 1, "written without PyTorch's softmax, log_softmax or logsumexp",
              kind="policy", rule=forbid_attributes(*SOFTMAX_NAMES)),
    )),
    Exercise("entropy", (
        Check("values", 2, "the entropy in nats along the last dimension",
              make_inputs=_entropy_inputs, probe=_entropy_values, compare=_cmp_entropy),
        Check("zero_probabilities", 1, "finite and exact when some probabilities are 0",
              make_inputs=_entropy_inputs, probe=_entropy_zeros, compare=_cmp_entropy_zeros),
    )),
    Exercise("cross_entropy", (
        Check("values", 1.5, "-log of the true class's probability, one loss per example",
              make_inputs=_ce_inputs, probe=_ce_values, compare=_cmp_ce_values),
        Check("zero_probabilities", 1, "finite when the other classes have probability 0",
              make_inputs=_ce_inputs, probe=_ce_zeros, compare=_cmp_ce_zeros),
        Check("no_loops", 0.5, "written with tensor operations, without a Python loop over the examples",
              kind="policy", rule=forbid_loops()),
    )),
    Exercise("cross_entropy_from_logits", (
        Check("values", 1.5, "logsumexp(o) - o_y for each example, in O's dtype",
              make_inputs=_logits_inputs, probe=_cefl_values, compare=_cmp_cefl_values),
        Check("stable", 1.5, "finite and correct for logits of ±1000",
              make_inputs=_logits_inputs, probe=_cefl_big, compare=_cmp_stable("cross_entropy_from_logits")),
        Check("gradient", 1, "gradients flow through it as through the reference", kind="gradient",
              tolerance="grad", make_inputs=_logits_inputs, probe=_cefl_grad,
              compare=_cmp_grad("the gradient of (cross_entropy_from_logits(O, y) * weights).sum() "
                                "with respect to O (6, 3)")),
        Check("no_library_cross_entropy", 1, "written without PyTorch's softmax, logsumexp or "
              "cross-entropy", kind="policy",
              rule=forbid_attributes(*SOFTMAX_NAMES, "cross_entropy", "CrossEntropyLoss")),
    )),
    Exercise("softmax_ce_grad", (
        Check("autograd", 2, "equals autograd's gradient of the mean cross-entropy",
              kind="gradient", tolerance="grad",
              make_inputs=_grad_inputs, probe=_sceg_values, compare=_cmp_sceg_values),
        Check("stable", 1, "finite and correct for logits of ±1000",
              make_inputs=_grad_inputs, probe=_sceg_big, compare=_cmp_stable("softmax_ce_grad")),
        Check("no_autograd", 1, "computed from the formula, not by autograd", kind="policy",
              rule=forbid_attributes("backward", "grad", "autograd", "jacobian", "vjp")),
    ), uses=("softmax", "one_hot")),
    Exercise("logistic_from_softmax", (
        Check("values", 2, "w = W[:, 1] - W[:, 0] of shape (d,) and b = b[1] - b[0] a scalar, in W's dtype",
              make_inputs=_logistic_inputs, probe=_logistic_values, compare=_cmp_logistic_values),
        Check("probabilities", 1, "sigmoid(X @ w + b), recomputed from the returned pair, is softmax's "
              "probability of class 1", make_inputs=_logistic_inputs, probe=_logistic_values,
              compare=_cmp_logistic_probabilities),
    )),
    Exercise("min_cost_decision", (
        Check("values", 2, "the class of least expected cost (P @ cost).argmin(1), int64 of shape (n,)",
              make_inputs=_decision_inputs, probe=_decision_values, compare=_cmp_decision, tolerance="exact"),
        Check("zero_one", 1, "with every mistake costing 1 it is the argmax",
              make_inputs=_decision_inputs, probe=_decision_zero_one, compare=_cmp_decision_zero_one,
              tolerance="exact"),
        Check("no_loops", 0.5, "written with tensor operations, without a Python loop over the examples",
              kind="policy", rule=forbid_loops()),
    )),
]


def _row(id_, text, checks, selfcheck=""):
    return Requirement(id_, id_.split(".")[0], text, checks, selfcheck)


_ONE_HOT_ALL = ("values", "float32", "no_library_one_hot")
_SOFTMAX_ALL = ("values", "stable", "gradient", "no_library_softmax")
_CE_ALL = ("values", "zero_probabilities", "no_loops")
_CEFL_ALL = ("values", "stable", "gradient", "no_library_cross_entropy")
_SCEG_ALL = ("autograd", "stable", "no_autograd")
_DECISION_ALL = ("values", "zero_one", "no_loops")

# Each sentence of the prompts that asks for something, and the checks that fail when it is
# broken. A function that breaks a requirement so that none of its value checks passes also
# loses its policy check ("not awarded until the function works"): those rows name it too.
REQUIREMENTS = [
    _row("one_hot.shape", "return a tensor of shape (n, num_classes)", _ONE_HOT_ALL,
         "the shape of one_hot([0, 2, 1], 4)"),
    _row("one_hot.float32", "a float32 tensor", ("float32",), "the dtype of one_hot([0, 2, 1], 4)"),
    _row("one_hot.device", "on y's device", _ONE_HOT_ALL),
    _row("one_hot.ones", "with a 1 in column y[i] of row i and zeros elsewhere", _ONE_HOT_ALL,
         "the values of one_hot([0, 2, 1], 4)"),
    _row("one_hot.num_classes", "num_classes can be larger than the largest label present", _ONE_HOT_ALL,
         "one_hot([0, 2, 1], 4) has 4 columns"),
    _row("one_hot.no_library", "Do not use F.one_hot", ("no_library_one_hot",), "no call of one_hot"),
    _row("softmax.rows", "the softmax of each row", _SOFTMAX_ALL, "softmax([1, 2, 3]); each row sums to 1"),
    _row("softmax.stable", "stable for logits as large as ±1000", ("stable",),
         "softmax of [[1000, 0], [-1000, -1000]]"),
    _row("softmax.dtype", "in X's dtype", ("values",), "a float64 matrix stays float64"),
    _row("softmax.device", "on its device", _SOFTMAX_ALL),
    _row("softmax.no_library", "Do not use torch.softmax, F.softmax, log_softmax or logsumexp",
         ("no_library_softmax",), "no call of softmax, log_softmax or logsumexp"),
    _row("entropy.nats", "the entropy in nats", ("values", "zero_probabilities"),
         "a fair coin has log 2 nats"),
    _row("entropy.last_dim", "along the last dimension of p: shape (n,) for p of shape (n, q)",
         ("values", "zero_probabilities"), "the entropy of each row of a (2, 3) matrix"),
    _row("entropy.scalar", "a scalar for p of shape (q,)", ("values",), "the entropy of a (2,) vector"),
    _row("entropy.zeros", "correct (finite, and exactly the limit) when some probabilities are 0",
         ("zero_probabilities",), "rows with zero probabilities"),
    _row("cross_entropy.per_example", "the per-example losses -log ŷ_{i, y_i}, shape (n,)", _CE_ALL,
         "cross_entropy of a (2, 3) matrix"),
    _row("cross_entropy.no_loops", "with tensor operations only — no Python loop over the examples",
         ("no_loops",), "no for loop or comprehension"),
    _row("cross_entropy.no_average", "Do not average", _CE_ALL, "one loss per example"),
    _row("cross_entropy.zeros", "finite when the probabilities of the other classes are exactly 0",
         ("zero_probabilities",), "the loss when the other classes have probability 0"),
    _row("cross_entropy_from_logits.per_example", "the per-example cross-entropy, shape (n,)", _CEFL_ALL,
         "two rows of small logits against known losses"),
    _row("cross_entropy_from_logits.stable", "stable for logits of ±1000", ("stable",),
         "the loss for logits [[1000, 0], [-1000, -1000]]"),
    _row("cross_entropy_from_logits.no_library", "Not allowed: torch.softmax, F.softmax, log_softmax, "
         "logsumexp, F.cross_entropy, nn.CrossEntropyLoss", ("no_library_cross_entropy",),
         "no call of softmax, log_softmax, logsumexp or a cross-entropy"),
    _row("softmax_ce_grad.mean", "∇_O of the mean cross-entropy over the minibatch", _SCEG_ALL,
         "the gradient for two examples against known values"),
    _row("softmax_ce_grad.dtype", "shape (n, q), O's dtype", ("autograd",)),
    _row("softmax_ce_grad.stable", "stable for logits of ±1000", ("stable",),
         "the gradient for logits [[1000, -1000, 0]]"),
    _row("softmax_ce_grad.no_autograd", "you may not use autograd (backward, torch.autograd, .grad)",
         ("no_autograd",), "no call of backward or torch.autograd"),
    _row("logistic_from_softmax.class_one", "sigmoid(X @ w + b) is the probability softmax gives class 1",
         ("values", "probabilities"), "sigmoid(X w + b) against softmax's class 1 on random X"),
    _row("logistic_from_softmax.shapes", "w of shape (d,) and b a scalar (shape ())", ("values",),
         "the shapes of w and b for d = 3"),
    _row("logistic_from_softmax.dtype", "in W's dtype", ("values",), "float64 parameters stay float64"),
    _row("min_cost_decision.expected_cost", "the class j of least expected cost Σ_i P[k, i] cost[i, j]: "
         "row i of cost is the true class, column j the decision", ("values",),
         "the medical example: a 20 % risk with a miss costing 20 is treated"),
    _row("min_cost_decision.least", "the class of *least* expected cost (with cost = 1 - I, the argmax)",
         _DECISION_ALL, "cost = 1 - I gives the argmax"),
    _row("min_cost_decision.int64", "an int64 tensor of shape (n,)", _DECISION_ALL,
         "the dtype and shape of the decisions"),
    _row("min_cost_decision.no_loops", "with tensor operations, no Python loop over the examples",
         ("no_loops",), ""),
]
