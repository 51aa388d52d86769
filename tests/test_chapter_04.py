"""Chapter 04: the solutions score full marks, the stubs zero, doing nothing zero; each
requirement of a prompt has a submission that breaks it alone and loses exactly its checks;
a broken helper costs points once; the training checks are calibrated; each self-check
judges its own exercise; the prose quotes its outputs right and its equations fit a phone."""
import math
import re

import pytest

from autograder.checks import ch04_gradient_descent_numpy as checks
from tests import book_text, prose
from tests.calibration import assert_calibrated, calibrate
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "04_gradient_descent_numpy"


def req(req_id: str, **kwargs) -> Case:
    return requirement_case(CHAPTER, req_id, **kwargs)


def loop(update: str = "w, b = w - lr * dw, b - lr * db", record: str = "losses.append(compute_loss(w, b, points))",
         before: str = "", grad: str = "dw, db = mse_grad(w, b, points)", returns: str = "w, b, losses",
         iters: str = "range(num_iters)", head: str = "") -> str:
    """A gradient_descent built from pieces, so that each variant or bug says what it changes."""
    return f"""
def gradient_descent(points, w0, b0, lr, num_iters):
    {head}
    w, b, losses = w0, b0, []
    {before}
    for t in {iters}:
        {record}
        {grad}
        {update}
    return {returns}
"""


def epochs(order: str = "order = rng.permutation(n)", batch: str = "batch = points[order[start:start + batch_size]]",
           starts: str = "range(0, n, batch_size)", record: str = "losses.append(compute_loss(w, b, batch))",
           grad: str = "dw, db = mse_grad(w, b, batch)", update: str = "w, b = w - lr * dw, b - lr * db",
           outer: str = "range(num_epochs)", before: str = "", returns: str = "w, b, losses") -> str:
    """A minibatch_sgd built from pieces, likewise."""
    return f"""
def minibatch_sgd(points, w0, b0, lr, batch_size, num_epochs, rng):
    w, b, losses = w0, b0, []
    n = len(points)
    {before}
    for epoch in {outer}:
        {order}
        for start in {starts}:
            {batch}
            {record}
            {grad}
            {update}
    return {returns}
"""


BROKEN_HALF_LOSS = """
def compute_loss(w, b, points):
    return float(np.mean((w * points[:, 0] + b - points[:, 1]) ** 2) / 2)
"""
OVERWRITING_GRAD = """
def mse_grad(w, b, points):
    n = len(points)
    for i in range(n):
        x, y = points[i, 0], points[i, 1]
        dw = (2 / n) * (w * x + b - y) * x
        db = (2 / n) * (w * x + b - y)
    return dw, db
"""

MSL_NO_TWO_IN_H = """
def max_stable_lr(points):
    X1 = np.column_stack([points[:, 0], np.ones(len(points))])
    return float(2 / np.linalg.eigvalsh(X1.T @ X1 / len(points))[-1])
"""
MSL_NO_BIAS = "def max_stable_lr(points):\n    return float(2 / (2 * np.mean(points[:, 0] ** 2)))"
MSL_ARRAY = """
def max_stable_lr(points):
    X1 = np.column_stack([points[:, 0], np.ones(len(points))])
    return 2 / np.linalg.eigvalsh(2 / len(points) * X1.T @ X1)[-1:]
"""
MSL_TORCH = """
import torch

def max_stable_lr(points):
    X1 = torch.from_numpy(np.column_stack([points[:, 0], np.ones(len(points))]))
    return float(2 / torch.linalg.eigvalsh(2 / len(points) * X1.T @ X1)[-1])
"""
MSL_ONE_OVER = """
def max_stable_lr(points):
    X1 = np.column_stack([points[:, 0], np.ones(len(points))])
    return float(1 / np.linalg.eigvalsh(2 / len(points) * X1.T @ X1)[-1])
"""

CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    # -- issue 21: messages that point the right way --------------------------------------
    Case("gradient_descent_renamed", replace={"gradient_descent": loop().replace(
        "def gradient_descent(", "def descend(") + "\nSTEPS = 100\n"}, scores={"gradient_descent": 0},
         messages={"gradient_descent": "`gradient_descent` is not defined: the cell `gradient_descent` does "
                                       "not define it (it defines `descend`)"}),
    Case("mse_grad_without_transpose", replace={"mse_grad": """
        def mse_grad(w, b, points):
            x, y = points[:, :1], points[:, 1:]
            residual = w * x + b - y
            return float(2 * (x @ residual) / len(x)), float(2 * np.mean(residual))
        """}, scores={"mse_grad": 0},
         messages={"mse_grad": "transpose the first operand (x.T @ r"}),
    # -- compute_loss; its break alone costs gradient_descent and minibatch_sgd nothing ------
    req("compute_loss.mean_squared_error", replace={"compute_loss": BROKEN_HALF_LOSS},
        messages={"compute_loss": "no ½", "gradient_descent": "graded with a working `compute_loss`",
                  "minibatch_sgd": "graded with a working `compute_loss`"}),
    req("compute_loss.float", replace={"compute_loss": """
        def compute_loss(w, b, points):
            return np.mean((w * points[:, 0] + b - points[:, 1]) ** 2, keepdims=True)
        """}, messages={"compute_loss": "a NumPy array of shape (1,)"}),
    req("compute_loss.no_loops", replace={"compute_loss": """
        def compute_loss(w, b, points):
            total = 0.0
            for x, y in points:
                total += (w * x + b - y) ** 2
            return float(total / len(points))
        """}, messages={"compute_loss": "for loop"}),
    req("compute_loss.no_torch", replace={"compute_loss": """
        import torch

        def compute_loss(w, b, points):
            p = torch.from_numpy(points)
            return float(((w * p[:, 0] + b - p[:, 1]) ** 2).mean())
        """}, messages={"compute_loss": "import torch"}),
    # -- mse_grad: the chapter's "find the bug", alone; the loops are graded with a working one
    req("mse_grad.gradient", replace={"mse_grad": OVERWRITING_GRAD},
        messages={"mse_grad": "overwritten each time", "gradient_descent": "graded with a working `mse_grad`",
                  "minibatch_sgd": "graded with a working `mse_grad`"}),
    req("mse_grad.floats", replace={"mse_grad": """
        def mse_grad(w, b, points):
            r = w * points[:, 0] + b - points[:, 1]
            return 2 * np.array([np.mean(r * points[:, 0]), np.mean(r)])
        """}, messages={"mse_grad": "two floats"}),
    req("mse_grad.no_torch", replace={"mse_grad": """
        def mse_grad(w, b, points):
            import torch
            p = torch.tensor(points)
            r = w * p[:, 0] + b - p[:, 1]
            return float(2 * (r * p[:, 0]).mean()), float(2 * r.mean())
        """}, messages={"mse_grad": "import torch"}),
    # -- gradient_descent -----------------------------------------------------------------
    req("gradient_descent.same_old_parameters", replace={"gradient_descent": loop(
        grad="", update="w = w - lr * mse_grad(w, b, points)[0]\n        b = b - lr * mse_grad(w, b, points)[1]")},
        messages={"gradient_descent": "same old (w, b)"}),
    req("gradient_descent.loss_before_step", replace={"gradient_descent": loop(
        record="", update="w, b = w - lr * dw, b - lr * db\n        losses.append(compute_loss(w, b, points))")},
        messages={"gradient_descent": "shifted by one step"}),
    req("gradient_descent.num_losses", replace={"gradient_descent": loop(
        returns="w, b, losses + [compute_loss(w, b, points)]")}, messages={"gradient_descent": "one too many"}),
    req("gradient_descent.returns_last_parameters", replace={"gradient_descent": loop(  # the lowest loss seen
        before="best = (w0, b0, float('inf'))",
        record="losses.append(compute_loss(w, b, points))\n        best = (w, b, losses[-1]) if losses[-1] < best[2] else best",
        returns="best[0], best[1], losses")}, messages={"gradient_descent": "ended at (w, b)"}),
    req("gradient_descent.uses_helpers", replace={"gradient_descent": loop(
        record="r = w * points[:, 0] + b - points[:, 1]\n        losses.append(float(np.mean(r ** 2)))",
        grad="dw, db = 2 * np.mean(r * points[:, 0]), 2 * np.mean(r)")},
        messages={"gradient_descent": "called compute_loss 0 times"}),
    req("gradient_descent.no_torch", replace={"gradient_descent": loop(
        head="import torch", update="w, b = (torch.tensor([w, b]) - lr * torch.tensor([dw, db])).tolist()")},
        messages={"gradient_descent": "import torch"}),
    # -- minibatch_sgd --------------------------------------------------------------------
    req("minibatch_sgd.one_permutation_per_epoch", replace={"minibatch_sgd": epochs(
        before="order = rng.permutation(n)", order="")}, messages={"minibatch_sgd": "first step of epoch 2"}),
    req("minibatch_sgd.consecutive_slices", replace={"minibatch_sgd": epochs(
        starts="range(0, n - batch_size + 1, batch_size)")},
        messages={"minibatch_sgd": "returned 18 losses; expected 21"}),
    req("minibatch_sgd.loss_before_step", replace={"minibatch_sgd": epochs(
        record="", update="w, b = w - lr * dw, b - lr * db\n            losses.append(compute_loss(w, b, batch))")},
        messages={"minibatch_sgd": "losses[0]"}),
    req("minibatch_sgd.step_on_minibatch", replace={"minibatch_sgd": epochs(
        grad="dw, db = mse_grad(w, b, points)")}, messages={"minibatch_sgd": "losses[1]"}),
    req("minibatch_sgd.num_losses", replace={"minibatch_sgd": epochs(
        returns="w, b, losses + [compute_loss(w, b, points)]")}, messages={"minibatch_sgd": "one too many"}),
    req("minibatch_sgd.uses_helpers", replace={"minibatch_sgd": epochs(
        record="r = w * batch[:, 0] + b - batch[:, 1]\n            losses.append(float(np.mean(r ** 2)))",
        grad="dw, db = 2 * np.mean(r * batch[:, 0]), 2 * np.mean(r)")},
        messages={"minibatch_sgd": "called compute_loss 0 times"}),
    req("minibatch_sgd.no_torch", replace={"minibatch_sgd": epochs(
        order="import torch\n        order = torch.from_numpy(rng.permutation(n)).numpy()")},
        messages={"minibatch_sgd": "import torch"}),
    # -- other realistic submissions ------------------------------------------------------
    Case("minibatch_sgd_without_rng", replace={"minibatch_sgd": """
        def minibatch_sgd(points, w0, b0, lr, batch_size, num_epochs):
            w, b, losses = w0, b0, []
            for _ in range(num_epochs):
                order = np.random.permutation(len(points))
                for start in range(0, len(points), batch_size):
                    batch = points[order[start:start + batch_size]]
                    losses.append(compute_loss(w, b, batch))
                    dw, db = mse_grad(w, b, batch)
                    w, b = w - lr * dw, b - lr * db
            return w, b, losses
        """}, scores={"minibatch_sgd": 0}, messages={"minibatch_sgd": "takes no `rng` argument"}),
    Case("both_helpers_broken", replace={"compute_loss": BROKEN_HALF_LOSS, "mse_grad": OVERWRITING_GRAD},
         scores={"compute_loss": 0, "mse_grad": 0},  # and nothing else lost
         messages={"gradient_descent": "graded with a working `compute_loss` and `mse_grad`"}),
    # -- max_stable_lr ---------------------------------------------------------------------
    req("max_stable_lr.two_over_lambda_max", replace={"max_stable_lr": MSL_NO_TWO_IN_H},
        messages={"max_stable_lr": "(2/n)·X̃ᵀX̃"}),
    req("max_stable_lr.both_parameters", replace={"max_stable_lr": MSL_NO_BIAS},
        messages={"max_stable_lr": "include the column of ones for b"}),
    req("max_stable_lr.float", replace={"max_stable_lr": MSL_ARRAY},
        messages={"max_stable_lr": "a NumPy array of shape (1,)"}),
    req("max_stable_lr.no_torch", replace={"max_stable_lr": MSL_TORCH},
        messages={"max_stable_lr": "import torch"}),
    Case("max_stable_lr_one_over_lambda", replace={"max_stable_lr": MSL_ONE_OVER},
         scores={"max_stable_lr": 0}, messages={"max_stable_lr": "1/λ_max"}),
    Case("max_stable_lr_spelled_out", replace={"max_stable_lr": """
        def max_stable_lr(points):
            x = points[:, 0]
            H = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
            return 2.0 / float(np.max(np.linalg.eigvals(H).real))
        """}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch04"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


# -- calibration of the training checks ---------------------------------------------------------
GD_VARIANTS = {
    "reference": loop(),
    "in_place_updates": loop(update="w -= lr * dw\n        b -= lr * db"),
    "step_then_scale": loop(update="w, b = w - dw * lr, b - db * lr"),
    "negative_lr": loop(update="w, b = w + (-lr) * dw, b + (-lr) * db"),
    "halves": loop(update="w, b = w - (2 * lr) * (dw / 2), b - (2 * lr) * (db / 2)"),
    "array_step": loop(update="w, b = np.array([w, b]) - lr * np.array([dw, db])"),
    "floats_each_step": loop(update="w, b = float(w - lr * dw), float(b - lr * db)"),
    "longdouble": loop(update="w, b = (float(np.longdouble(w) - np.longdouble(lr) * dw), "
                              "float(np.longdouble(b) - np.longdouble(lr) * db))"),
    "b_first": loop(update="b = b - lr * db\n        w = w - lr * dw"),
    "grad_first": loop(record="", grad="dw, db = mse_grad(w, b, points)\n        losses.append(compute_loss(w, b, points))"),
    "grad_as_tuple": loop(grad="grad = mse_grad(w, b, points)", update="w, b = w - lr * grad[0], b - lr * grad[1]"),
    "new_names": loop(update="w_new = w - lr * dw\n        b_new = b - lr * db\n        w, b = w_new, b_new"),
    "while_loop": """
def gradient_descent(points, w0, b0, lr, num_iters):
    w, b, losses = w0, b0, []
    while len(losses) < num_iters:
        losses.append(compute_loss(w, b, points))
        dw, db = mse_grad(w, b, points)
        w, b = w - lr * dw, b - lr * db
    return w, b, losses
""",
    "preallocated": loop(before="losses = [0.0] * num_iters", record="losses[t] = compute_loss(w, b, points)"),
    "losses_as_array": loop(returns="w, b, np.array(losses)"),
    "float_start": loop(before="w, b = float(w0), float(b0)"),
    "copied_points": loop(before="points = np.array(points, dtype=np.float64, copy=True)"),
    "contiguous_columns": loop(before="points = np.ascontiguousarray(points)"),
    "tuple_return": loop(returns="(w, b, list(losses))"),
    "enumerate_range": loop(iters="list(range(num_iters))"),
    "reversed_range": loop(iters="reversed(range(num_iters))"),
    "scaled_lr_name": loop(before="eta = lr", update="w, b = w - eta * dw, b - eta * db"),
}
GD_BUGS = {  # bug → the training checks that must catch it (both unless named)
    "records_after_step": (loop(record="", update="w, b = w - lr * dw, b - lr * db\n        "
                                                  "losses.append(compute_loss(w, b, points))"), ("trajectory",)),
    "b_with_new_w": (loop(grad="", update="w = w - lr * mse_grad(w, b, points)[0]\n        "
                                          "b = b - lr * mse_grad(w, b, points)[1]"), None),
    "sign_flipped": (loop(update="w, b = w + lr * dw, b + lr * db"), None),
    "no_learning_rate": (loop(update="w, b = w - dw, b - db"), None),
    "lr_squared": (loop(update="w, b = w - lr * lr * dw, b - lr * lr * db"), None),
    "one_step_short": (loop(iters="range(num_iters - 1)"), None),
    "one_loss_too_many": (loop(returns="w, b, losses + [compute_loss(w, b, points)]"), ("trajectory",)),
    "starts_at_zero": (loop(before="w, b = 0.0, 0.0"), None),
    "dw_db_swapped": (loop(grad="db, dw = mse_grad(w, b, points)"), None),
    "returns_b_w": (loop(returns="b, w, losses"), ("final_parameters",)),
    "forgets_b": (loop(update="w = w - lr * dw"), None),
    "forgets_w": (loop(update="b = b - lr * db"), None),
    "stale_gradient": (loop(before="dw, db = mse_grad(w0, b0, points)", grad=""), None),
    "records_first_loss_only": (loop(record="losses.append(compute_loss(w0, b0, points))"), ("trajectory",)),
    "lr_over_n": (loop(update="w, b = w - lr / len(points) * dw, b - lr / len(points) * db"), None),
    "lr_doubled": (loop(update="w, b = w - 2 * lr * dw, b - 2 * lr * db"), None),
    "half_gradient": (loop(update="w, b = w - lr * dw / 2, b - lr * db / 2"), None),
    "w_stepped_twice": (loop(update="w, b = w - lr * dw, b - lr * db\n        w = w - lr * dw"), None),
    "clipped_gradient": (loop(update="w, b = w - lr * np.clip(dw, -1, 1), b - lr * np.clip(db, -1, 1)"), None),
    "drops_last_point": (loop(grad="dw, db = mse_grad(w, b, points[:-1])"), None),
    "integer_start": (loop(before="w, b = int(w0), int(b0)"), ("trajectory",)),  # converges all the same
    "returns_the_start": (loop(returns="w0, b0, losses"), ("final_parameters",)),
    "hard_coded_lr": (loop(update="w, b = w - 0.01 * dw, b - 0.01 * db"), None),
    "momentum": (loop(before="vw = vb = 0.0", update="vw, vb = 0.9 * vw + dw, 0.9 * vb + db\n        "
                                                     "w, b = w - lr * vw, b - lr * vb"), None),
    "decaying_lr": (loop(update="w, b = w - lr * 0.99 ** t * dw, b - lr * 0.99 ** t * db"), None),
    "arguments_swapped": (loop(grad="dw, db = mse_grad(b, w, points)"), None),
}
SGD_VARIANTS = {
    "reference": epochs(),
    "len_shape": epochs(before="n = points.shape[0]"),
    "permutation_of_len": epochs(order="order = rng.permutation(len(points))"),
    "shuffled_arange": epochs(order="order = np.arange(n)\n        rng.shuffle(order)"),
    "permuted_rows": epochs(order="shuffled = rng.permutation(points)", batch="batch = shuffled[start:start + batch_size]"),
    "array_split": epochs(starts="np.array_split(order, range(batch_size, n, batch_size))", batch="batch = points[start]"),
    "precomputed_slices": epochs(starts="[order[i:i + batch_size] for i in range(0, n, batch_size)]",
                                 batch="batch = points[start]"),
    "ceil_count": epochs(starts="range(math.ceil(n / batch_size))", before="import math",
                         batch="batch = points[order[start * batch_size:(start + 1) * batch_size]]"),
    "in_place_updates": epochs(update="w -= lr * dw\n            b -= lr * db"),
    "b_first": epochs(update="b = b - lr * db\n            w = w - lr * dw"),
    "float_losses": epochs(record="losses.append(float(compute_loss(w, b, batch)))"),
    "losses_as_array": epochs(returns="w, b, np.array(losses)"),
    "permute_then_slice": epochs(batch="batch = points[order][start:start + batch_size]"),
    "sorted_rows": epochs(batch="batch = points[np.sort(order[start:start + batch_size])]"),
    "take": epochs(batch="batch = points.take(order[start:start + batch_size], axis=0)"),
    "grad_first": epochs(record="", grad="dw, db = mse_grad(w, b, batch)\n            "
                                         "losses.append(compute_loss(w, b, batch))"),
    "array_step": epochs(update="w, b = np.array([w, b]) - lr * np.array([dw, db])"),
    "step_then_scale": epochs(update="w, b = w - dw * lr, b - db * lr"),
    "longdouble": epochs(update="w, b = (float(np.longdouble(w) - np.longdouble(lr) * dw), "
                                "float(np.longdouble(b) - np.longdouble(lr) * db))"),
    "epochs_as_list": epochs(outer="list(range(num_epochs))"),
    "index_list": epochs(batch="batch = points[list(order[start:start + batch_size])]"),
    "new_names": epochs(update="w_new, b_new = w - lr * dw, b - lr * db\n            w, b = w_new, b_new"),
}
SGD_BUGS = {
    "drops_last_batch": (epochs(starts="range(0, n - batch_size + 1, batch_size)"), None),
    "with_replacement": (epochs(order="order = rng.integers(0, n, size=n)"), None),
    "one_permutation": (epochs(before="order = rng.permutation(n)", order=""), None),
    "no_shuffle": (epochs(order="order = np.arange(n)"), None),
    "permutation_per_batch": (epochs(order="", batch="batch = points[rng.permutation(n)[:batch_size]]"), None),
    "shuffles_points_in_place": (epochs(order="rng.shuffle(points)", batch="batch = points[start:start + batch_size]"), None),
    "records_after_step": (epochs(record="", update="w, b = w - lr * dw, b - lr * db\n            "
                                                    "losses.append(compute_loss(w, b, batch))"), ("trajectory",)),
    "gradient_on_all_points": (epochs(grad="dw, db = mse_grad(w, b, points)"), None),
    "loss_on_all_points": (epochs(record="losses.append(compute_loss(w, b, points))"), ("trajectory",)),
    "lr_over_batch_size": (epochs(update="w, b = w - lr / batch_size * dw, b - lr / batch_size * db"), None),
    "slices_ignore_order": (epochs(batch="batch = points[start:start + batch_size]"), None),
    "global_rng": (epochs(order="order = np.random.permutation(n)"), None),
    "two_draws_per_epoch": (epochs(order="rng.permutation(n)\n        order = rng.permutation(n)"), None),
    "b_with_new_w": (epochs(grad="", update="w = w - lr * mse_grad(w, b, batch)[0]\n            "
                                            "b = b - lr * mse_grad(w, b, batch)[1]"), None),
    "forgets_b": (epochs(update="w = w - lr * dw"), None),
    "one_epoch_short": (epochs(outer="range(num_epochs - 1)"), None),
    "slice_one_short": (epochs(batch="batch = points[order[start:start + batch_size - 1]]"), None),
    "restarts_every_epoch": (epochs(order="order = rng.permutation(n)\n        w, b = w0, b0"), None),
    "first_batch_always": (epochs(batch="batch = points[order[:batch_size]]"), None),
    "sign_flipped": (epochs(update="w, b = w + lr * dw, b + lr * db"), None),
    "permutation_of_n_minus_1": (epochs(order="order = rng.permutation(n - 1)"), None),
    "returns_b_w": (epochs(returns="b, w, losses"), ("final_parameters",)),
    "split_into_batch_size_parts": (epochs(starts="np.array_split(order, batch_size)", batch="batch = points[start]"), None),
    "stale_batch_gradient": (epochs(before="previous = points[:batch_size]",
                                    grad="dw, db = mse_grad(w, b, previous)\n            previous = batch"), None),
    "epoch_mean_losses": (epochs(before="step_losses = []", record="step_losses.append(compute_loss(w, b, batch))",
                                 returns="w, b, [float(np.mean(step_losses))]"), ("trajectory",)),
}
CHECKS = ("trajectory", "final_parameters")


def deviations(exercise: str, variants: dict) -> float:
    """The largest relative difference between a variant's losses or final (w, b) and the
    reference's, on the checks' inputs (in this process)."""
    import numpy as np
    import torch
    from autograder.chapter import reference_namespace
    base = reference_namespace(CHAPTER)
    make = checks._gd_inputs if exercise == "gradient_descent" else checks._sgd_inputs
    cases = make(torch.Generator().manual_seed(0))["cases"]

    def run(ns, k, case):
        args = checks._gd_args(case) if exercise == "gradient_descent" else \
            checks._sgd_args(case, np.random.default_rng(k))
        w, b, losses = ns[exercise](*args)
        return np.array([w, b, *losses], dtype=float)
    worst = 0.0
    for src in variants.values():
        ns = dict(base)
        exec(src, ns)
        for k, case in enumerate(cases):
            mine, ref = run(ns, k, case), run(base, k, case)
            worst = max(worst, float(np.max(np.abs(mine - ref) / np.maximum(np.abs(ref), 1e-12))))
    return worst


def test_training_band_far_outside_rounding():
    """The band rule: the trajectory tolerance lies at least 1000 times outside the largest
    deviation of any correct variant."""
    from autograder.tolerances import tolerance
    band = tolerance("trajectory", "cpu").rtol
    for exercise, variants in (("gradient_descent", GD_VARIANTS), ("minibatch_sgd", SGD_VARIANTS)):
        assert deviations(exercise, variants) * 1000 <= band


def test_training_checks_calibrated():
    """At least 20 correct variants per training check pass, at least as many realistic bugs are
    caught, and the module's table says so."""
    for exercise, variants, bugs in (("gradient_descent", GD_VARIANTS, GD_BUGS),
                                     ("minibatch_sgd", SGD_VARIANTS, SGD_BUGS)):
        figures = calibrate(CHAPTER, exercise, {k: {exercise: v} for k, v in variants.items()},
                            {k: ({exercise: v}, which) for k, (v, which) in bugs.items()}, CHECKS)
        assert_calibrated(figures, checks.CALIBRATION, exercise)


# -- self-checks ------------------------------------------------------------------------------
WRONG = {
    "compute_loss": [BROKEN_HALF_LOSS, """
        def compute_loss(w, b, points):
            return float(np.sum((w * points[:, 0] + b - points[:, 1]) ** 2))
        """, """
        def compute_loss(w, b, points):
            return sum((w * x + b - y) ** 2 for x, y in points) / len(points)
        """],
    "mse_grad": [(OVERWRITING_GRAD, "", "tensor("), ("""
        def mse_grad(w, b, points):
            x, y = points[:, :1], points[:, 1:]
            residual = w * x + b - y
            return float(2 * (x @ residual) / len(x)), float(2 * np.mean(residual))
        """, "transpose the first operand (x.T @ r", ""), """
        def mse_grad(w, b, points):
            r = w * points[:, 0] + b - points[:, 1]
            return float(np.mean(r * points[:, 0])), float(np.mean(r))
        """],
    "gradient_descent": [(GD_BUGS["records_after_step"][0], "array([", "tensor("), GD_BUGS["b_with_new_w"][0],
                         re.sub(r"compute_loss\(w, b, points\)", "float(np.mean((w * points[:, 0] + b - points[:, 1]) ** 2))",
                                GD_VARIANTS["reference"])],
    "max_stable_lr": [MSL_NO_TWO_IN_H, MSL_NO_BIAS, MSL_ONE_OVER, MSL_TORCH],
    "minibatch_sgd": [SGD_BUGS["one_permutation"][0], SGD_BUGS["drops_last_batch"][0],
                      SGD_BUGS["records_after_step"][0]],
}


def test_selfchecks_judge_one_exercise(tmp_path):
    clean = lambda s: (_dedent(s[0]), *s[1:]) if isinstance(s, tuple) else _dedent(s)  # noqa: E731
    assert_selfchecks_judge_one_exercise(CHAPTER, {k: [clean(s) for s in v] for k, v in WRONG.items()}, tmp_path)


def _dedent(src: str) -> str:
    import textwrap
    return textwrap.dedent(src).strip("\n")


# -- the prose against its outputs ----------------------------------------------------------
def test_prose_quotes_its_outputs():
    text = prose.markdown(CHAPTER)
    wells = book_text.stored_text(CHAPTER, "code-82ba66bb")
    assert "f = -1.07" in wells and "f = -3.51" in wells and "f \\approx -1.07" in text and "f \\approx -3.51" in text
    sgd = book_text.stored_text(CHAPTER, "code-d8ead753")
    assert "Most SGD runs" in text and prose.number_after(sgd, "deep valley in") > 50
    annealing = book_text.stored_text(CHAPTER, "code-7d43280b")
    assert "almost every time" in text and prose.number_after(annealing, "deep valley in") >= 90
    raw = book_text.stored_text(CHAPTER, "code-d3364c97")
    start, after = (float(v) for v in re.findall(r"loss = +([\d.]+)", raw)[:2])
    assert "a factor of about fifty" in text and 35 <= start / after <= 70, start / after
    scaled = book_text.stored_text(CHAPTER, "code-e7946fa4")
    loss_50, exact = re.search(r"loss = ([\d.]+)\s+\(exact: ([\d.]+)\)", scaled).groups()
    assert "a few dozen steps suffice" in text and loss_50 == exact
    buggy, correct = (float(v) for v in re.findall(r"loss = ([\d.]+)", book_text.stored_text(CHAPTER, "code-3d5a26c1")))
    assert "stalls far above the correct loss" in text and buggy > 5 * correct
    fixed, vectorised = re.findall(r"w = ([-\d.]+), b = ([-\d.]+)", book_text.stored_text(CHAPTER, "code-5f4c338a"))
    assert "agree to the last digits" in text and fixed == vectorised


def test_stability_limit_is_measured():
    """The largest stable learning rate the text quotes, and what it says happens on either
    side of it, are the notebook's own measurements (not the 4e-4 the text once guessed)."""
    text = prose.markdown(CHAPTER)
    out = book_text.stored_text(CHAPTER, "code-19ee9088")
    assert "\\approx 4 \\times 10^{-4}" not in text
    lam_min, lam_max = prose.number_after(out, "lambda_min ="), prose.number_after(out, "lambda_max =")
    lr_max = prose.number_after(out, "2 / lambda_max =")
    assert "about $5.3 \\times 10^{-4}$" in text and round(lr_max, 5) == 5.3e-4 and lr_max == pytest.approx(2 / lam_max, rel=1e-3)
    runs = dict(re.findall(r"lr = ([\d.e+-]+) .*loss after 1000 steps = ([\d.e+-]+)", out))
    assert float(runs["5.0e-04"]) < 100 and float(runs["5.2e-04"]) < 100, "'5.0e-4 and 5.2e-4 converge'"
    assert "a loss above $10^{40}$" in text and float(runs["5.4e-04"]) > 1e40
    assert "grows by 4 % a step" in text and abs(prose.number_after(out, "(1.02 x the limit): |1 - lr lambda_max| =") - 1.04) < 0.005
    assert "$\\eta\\lambda_{\\min}$ is of the order of $10^{-4}$" in text and 0.5e-4 < 5.2e-4 * lam_min < 2e-4


def test_answers_quote_their_outputs():
    """Each worked answer's numbers against the collapsed cell that measures them."""
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    assert "[3. 0. 0.]" in book_text.stored_text(CHAPTER, "code-80217088")
    q2 = book_text.stored_text(CHAPTER, "code-0e9c7af0")
    steep = [float(v) for v in re.findall(r"steep factor ([-+\d.]+)", q2)]
    assert "$-0.97$ at $5.2" in text and "$-1.04$ at $5.4" in text and [round(v, 2) for v in steep] == [-0.97, -1.04]
    assert "about $10^{19}$ in distance" in text and 18.5 <= 1000 * math.log10(-steep[1]) <= 19.5
    assert "is $0.9999$" in text and "about a tenth of the way" in text
    assert 0.85 <= prose.number_after(q2, "shallow factor ** 1000 =") <= 0.95
    q3 = dict(((n, c), (float(d), float(s))) for n, c, d, s in re.findall(
        r"noise +(\d+), (with|without) +the cut: deep valley in +(\d+)% of runs, spread of the deep ends ([\d.]+)", book_text.stored_text(CHAPTER, "code-4ec7c22d")))
    assert abs(q3["10", "with"][0] - q3["10", "without"][0]) <= 10, "'crosses into the deep valley about as often'"
    assert q3["10", "without"][1] >= 3 * q3["10", "with"][1], "'scatter several times more widely'"
    assert q3["30", "with"][0] < q3["10", "with"][0] - 10 and q3["30", "without"][0] < q3["10", "without"][0] - 10
    q4 = book_text.stored_text(CHAPTER, "code-479d0123")
    ratio = prose.number_after(q4, "batch of  3: spread (std) of dw over 2000 draws =") / prose.number_after(
        q4, "batch of 10: spread (std) of dw over 2000 draws =")
    assert "measures about 1.9" in text and 1.85 <= ratio < 1.95, ratio
    q5 = book_text.stored_text(CHAPTER, "code-35ef9514")
    through, y_last = (float(v) for v in re.findall(r"largest x: ([\d.]+) vs y = ([\d.]+)", q5)[0])
    assert "ends passing through *it*" in text and abs(through - y_last) < 0.05
    shuffled, correct = prose.number_after(q5, "shuffled:      loss"), prose.number_after(q5, "correct step:  loss")
    assert "creeps close to the least-squares line" in text and shuffled < 1.1 * correct


def test_no_promise_of_chapters_that_do_not_exist():
    text = prose.markdown(CHAPTER)
    assert "momentum, Adam" not in text and "we will meet methods that adapt" not in text


def test_summary_says_eta_one_oscillates():
    text = prose.markdown(CHAPTER)
    assert "exactly at $\\eta = 1$)" not in text
    assert "a bounce that never settles at exactly $\\eta = 1$" in text


def test_display_equations_fit_a_phone():
    book_text.assert_equations_fit_a_phone(CHAPTER)
