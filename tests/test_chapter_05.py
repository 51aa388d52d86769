"""Chapter 05: the solutions score full marks, the stubs zero, doing nothing zero; each
requirement of a prompt has a submission that breaks it alone and loses exactly its checks;
a broken piece costs the training nothing; the training checks are calibrated; each
self-check judges its own exercise; the prose quotes its outputs right and its equations fit
a phone."""
import re
import textwrap

import pytest

from autograder.checks import ch05_linear_regression_scratch as checks
from tests import book_text, prose
from tests.calibration import assert_calibrated, calibrate
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          check_verdicts, doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "05_linear_regression_scratch"


def req(req_id: str, **kwargs) -> Case:
    return requirement_case(CHAPTER, req_id, **kwargs)


def synthetic(X: str = "torch.normal(0.0, 1.0, (num_examples, len(w)), generator=generator)",
              y: str = "X @ w.reshape(-1, 1) + b",
              noise: str = "torch.normal(0.0, noise, y.shape, generator=generator)") -> str:
    return f"""
def synthetic_data(w, b, num_examples, noise=0.01, generator=None):
    X = {X}
    y = {y}
    y += {noise}
    return X, y
"""


def iterator(order: str = "torch.randperm(num_examples, generator=generator)",
             starts: str = "range(0, num_examples, batch_size)", rows: str = "indices[i: i + batch_size]",
             out: str = "yield features[j], labels[j]") -> str:
    return f"""
def data_iter(batch_size, features, labels, generator=None):
    num_examples = len(features)
    indices = {order}
    for i in {starts}:
        j = {rows}
        {out}
"""


def model(body: str) -> str:
    return f"\ndef linreg(X, w, b):\n    return {body}\n"


def loss(body: str) -> str:
    return f"\ndef squared_loss(y_hat, y):\n    return {body}\n"


def step(update: str = "param -= lr * param.grad / batch_size", zero: str = "param.grad.zero_()",
         context: str = "with torch.no_grad():") -> str:
    return f"""
def sgd(params, lr, batch_size):
    {context}
        for param in params:
            {update}
            {zero}
"""


NEVER_ZEROES = step(zero="")
HALF_MISSING = loss("(y_hat - y.reshape(y_hat.shape)) ** 2")

CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    # -- synthetic_data -------------------------------------------------------------------
    req("synthetic_data.shapes", replace={"synthetic_data": synthetic(y="X @ w + b")},
        messages={"synthetic_data": "y of shape (7,); expected (7, 1)"}),
    req("synthetic_data.features", replace={"synthetic_data": synthetic(
        X="torch.rand((num_examples, len(w)), generator=generator)")},
        messages={"synthetic_data": "the features' mean"}),
    req("synthetic_data.labels", replace={"synthetic_data": synthetic(y="X @ w.reshape(-1, 1)")},
        messages={"synthetic_data": "compared with X @ w + b"}),
    req("synthetic_data.noise", replace={"synthetic_data": synthetic(
        noise="torch.normal(0.0, noise ** 2, y.shape, generator=generator)")},
        messages={"synthetic_data": "the noise's standard deviation"}),
    req("synthetic_data.generator", replace={"synthetic_data": synthetic(noise="torch.normal(0.0, noise, y.shape)")},
        messages={"synthetic_data": "generators seeded alike gave different data"}),
    # -- data_iter ------------------------------------------------------------------------
    req("data_iter.generator_function", replace={"data_iter": """
        def data_iter(batch_size, features, labels, generator=None):
            indices = torch.randperm(len(features), generator=generator)
            return [(features[indices[i: i + batch_size]], labels[indices[i: i + batch_size]])
                    for i in range(0, len(features), batch_size)]
        """}, messages={"data_iter": "returned a list"}),
    req("data_iter.batches", replace={"data_iter": iterator(starts="range(0, num_examples - batch_size + 1, batch_size)")},
        messages={"data_iter": "batches of sizes"}),
    req("data_iter.paired", replace={"data_iter": iterator(out="yield features[j], labels[i: i + batch_size]")},
        messages={"data_iter": "shuffled separately"}),
    req("data_iter.shuffled", replace={"data_iter": iterator(order="torch.arange(num_examples)")},
        messages={"data_iter": "in order"}),
    req("data_iter.generator", replace={"data_iter": iterator(order="torch.randperm(num_examples)")},
        messages={"data_iter": "seeded alike gave different orders"}),
    # -- linreg ---------------------------------------------------------------------------
    req("linreg.column", replace={"linreg": model("X @ w.reshape(-1) + b")}, messages={"linreg": "returned shape"}),
    req("linreg.differentiable", replace={"linreg": model("X @ w.data + b")}, messages={"linreg": "no gradient reached w"}),
    # -- squared_loss; without its ½ it trains too fast, but the training is graded with a working one
    req("squared_loss.half_squared", replace={"squared_loss": HALF_MISSING},
        messages={"squared_loss": "twice the expected value", "training": "graded with a working `squared_loss`"}),
    req("squared_loss.elementwise", replace={"squared_loss": loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()")},
        messages={"squared_loss": "returned shape (); expected (8, 1) — it is reduced to one number: return one "
                                  "loss per example"}),
    req("squared_loss.reshape", replace={"squared_loss": loss("(y_hat - y) ** 2 / 2")},
        messages={"squared_loss": "broadcast against an (n,)"}),
    # -- sgd ------------------------------------------------------------------------------
    req("sgd.divide_by_batch_size", replace={"sgd": step(update="param -= lr * param.grad")},
        messages={"sgd": "divide the gradient by batch_size", "training": "graded with a working `sgd`"}),
    req("sgd.in_place", replace={"sgd": """
        def sgd(params, lr, batch_size):
            with torch.no_grad():
                for i, param in enumerate(params):
                    params[i] = param - lr * param.grad / batch_size
                    param.grad.zero_()
        """}, messages={"sgd": "replaced the parameter tensors", "training": "graded with a working `sgd`"}),
    req("sgd.no_grad", replace={"sgd": step(context="if True:")},
        messages={"sgd": "inside `with torch.no_grad():`, where changing a parameter in place is allowed "
                         "(and 2 checks that depend on it)", "training": "graded with a working `sgd`"}),
    req("sgd.zero_grad", replace={"sgd": NEVER_ZEROES},
        messages={"sgd": "zero", "training": "graded with a working `sgd`"}),
    # -- other realistic submissions ------------------------------------------------------
    Case("data_iter_without_generator", replace={"data_iter": """
        def data_iter(batch_size, features, labels):
            indices = torch.randperm(len(features))
            for i in range(0, len(features), batch_size):
                yield features[indices[i: i + batch_size]], labels[indices[i: i + batch_size]]
        """}, scores={"data_iter": 0},
         messages={"data_iter": "takes no `generator` argument", "training": "graded with a working `data_iter`"}),
    Case("sgd_not_in_place", replace={"sgd": step(update="param = param - lr * param.grad / batch_size",
                                                  context="with torch.no_grad():")},
         scores={"sgd": 0}, messages={"sgd": "makes a new tensor, which has no .grad",
                                      "training": "graded with a working `sgd`"}),
    Case("every_piece_broken", replace={"data_iter": iterator(starts="range(0, num_examples - batch_size + 1, batch_size)"),
                                        "linreg": model("X @ w.reshape(-1) + b"), "squared_loss": HALF_MISSING,
                                        "sgd": NEVER_ZEROES},
         scores={"data_iter": 1.5, "linreg": 0, "squared_loss": 0, "sgd": 2, "training": 0},
         messages={"training": "not graded"}),
    # -- issue 21: each hint points at the fix, once
    Case("sgd_zeroes_first_linreg_detaches", replace={
        "sgd": step(update="param.grad.zero_()", zero="param -= lr * param.grad / batch_size"),
        "linreg": model("X @ w.detach() + b")},
         scores={"sgd": 0, "linreg": 1.5},  # its guards wait for a working update (issue 18, attack 7)
         messages={"sgd": "the gradient was zeroed before the step used it",
                   "linreg": "`.detach()` returns a copy of w cut off from the graph",
                   "training": "graded with a working"}),
    Case("warns_on_stderr", replace={"linreg": """
        import warnings
        def linreg(X, w, b):
            warnings.warn("a harmless warning", UserWarning)
            return X @ w + b
        """}),
    Case("sgd_cell_deleted", delete=("sgd",), scores={"sgd": 0},
         messages={"sgd": "missing", "training": "graded with a working `sgd`"}),
    Case("not_json", raw=b"{this is not a notebook",
         scores={"synthetic_data": 0, "data_iter": 0, "linreg": 0, "squared_loss": 0, "sgd": 0,
                 "training": 0}, messages={"sgd": "not valid JSON"}),
    Case("exits_while_loading", replace={"linreg": """
        import os
        os._exit(0)
        def linreg(X, w, b):
            return X @ w + b
        """}, scores={"linreg": 0}, messages={"linreg": "process ended", "training": "working `linreg`"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch05"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_feedback_notes_every_stand_in(results):
    """Issue 21: the feedback page gives the stand-in note under an exercise graded with one
    even when it passed (as grades.csv and results.json do)."""
    from autograder.formats.feedback import feedback_html
    sub = results["req_sgd.divide_by_batch_size"]
    training = {e.exercise: e for e in sub.exercises}["training"]
    assert training.status == "passed" and "graded with a working `sgd`" in training.note
    assert "Note: graded with a working `sgd`" in feedback_html(sub).split("id='training'")[1]


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


# -- calibration of the training checks ---------------------------------------------------------
VARIANTS = {  # each replaces one or two pieces; every other shuffle is drawn from the generator
    "reference": {},
    "index_list": {"data_iter": iterator(order="torch.randperm(num_examples, generator=generator).tolist()",
                                         rows="torch.tensor(indices[i: i + batch_size])")},
    "split": {"data_iter": iterator(starts="range(1)", rows="indices",
                                    out="for j in indices.split(batch_size):\n            yield features[j], labels[j]")},
    "argsort_shuffle": {"data_iter": iterator(order="torch.argsort(torch.rand(num_examples, generator=generator))")},
    "reversed_shuffle": {"data_iter": iterator(order="torch.randperm(num_examples, generator=generator).flip(0)")},
    "multinomial_shuffle": {"data_iter": iterator(
        order="torch.multinomial(torch.ones(num_examples), num_examples, generator=generator)")},
    "index_select": {"data_iter": iterator(out="yield features.index_select(0, j), labels.index_select(0, j)")},
    "clamped_end": {"data_iter": iterator(rows="indices[i: min(i + batch_size, num_examples)]")},
    "matmul": {"linreg": model("torch.matmul(X, w) + b")},
    "mm": {"linreg": model("torch.mm(X, w) + b")},
    "addmm": {"linreg": model("torch.addmm(b, X, w)")},
    "elementwise_sum": {"linreg": model("(X * w.reshape(1, -1)).sum(1, keepdim=True) + b")},
    "einsum": {"linreg": model("torch.einsum('nd,do->no', X, w) + b")},
    "half_times": {"squared_loss": loss("0.5 * (y_hat - y.view(y_hat.shape)) ** 2")},
    "pow": {"squared_loss": loss("(y_hat - y.reshape(-1, 1)).pow(2) / 2")},
    "product": {"squared_loss": loss("(y_hat - y.reshape(y_hat.shape)) * (y_hat - y.reshape(y_hat.shape)) / 2")},
    "square": {"squared_loss": loss("torch.square(y_hat - y.reshape(y_hat.shape)) / 2")},
    "sub_": {"sgd": step(update="param.sub_(lr * param.grad / batch_size)")},
    "data": {"sgd": step(update="param.data -= lr * param.grad / batch_size", context="if True:")},
    "scaled_lr": {"sgd": step(update="param -= (lr / batch_size) * param.grad")},
    "grad_to_none": {"sgd": step(zero="param.grad = None")},
    "float64": {"sgd": step(update="param -= (param.grad.double() * lr / batch_size).to(param.dtype)")},
    "add_alpha": {"sgd": step(update="param.add_(param.grad, alpha=-lr / batch_size)")},
    "copy_": {"sgd": step(update="param.copy_(param - lr * param.grad / batch_size)")},
}
BUGS = {  # bug → the training checks that must catch it (both unless named)
    "sgd_without_batch_division": ({"sgd": step(update="param -= lr * param.grad")}, ("trajectory",)),
    "sgd_never_zeroes": ({"sgd": NEVER_ZEROES}, None),
    "sgd_sign_flipped": ({"sgd": step(update="param += lr * param.grad / batch_size")}, None),
    "sgd_divides_twice": ({"sgd": step(update="param -= lr * param.grad / batch_size / batch_size")}, None),
    "sgd_only_w": ({"sgd": step(update="param -= lr * param.grad / batch_size if param.dim() == 2 else 0")}, None),
    "sgd_only_b": ({"sgd": step(update="param -= lr * param.grad / batch_size if param.dim() == 1 else 0")}, None),
    "sgd_zeroes_first": ({"sgd": step(update="param.grad.zero_()", zero="param -= lr * param.grad / batch_size")}, None),
    "sgd_times_batch_size": ({"sgd": step(update="param -= lr * param.grad * batch_size")}, None),
    "sgd_divides_by_len": ({"sgd": step(update="param -= lr * param.grad / len(param)")}, ("trajectory",)),
    "sgd_steps_twice": ({"sgd": step(update="param -= 2 * lr * param.grad / batch_size")}, ("trajectory",)),
    "sgd_not_in_place": ({"sgd": step(update="param = param - lr * param.grad / batch_size", zero="")}, None),
    "sgd_without_no_grad": ({"sgd": step(context="if True:")}, None),
    "sgd_decays_gradients": ({"sgd": step(zero="param.grad *= 0.9")}, ("trajectory",)),
    "sgd_averages_gradient": ({"sgd": step(update="param -= lr * param.grad.mean() / batch_size")}, None),
    "sgd_zeroes_parameters": ({"sgd": step(zero="param.zero_()")}, None),
    "loss_without_half": ({"squared_loss": HALF_MISSING}, ("trajectory",)),
    "loss_averaged": ({"squared_loss": loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()")}, None),
    "loss_absolute": ({"squared_loss": loss("(y_hat - y.reshape(y_hat.shape)).abs() / 2")}, None),
    "loss_reshapes_to_vector": ({"squared_loss": loss("(y_hat - y.reshape(-1)) ** 2 / 2")}, None),
    "loss_doubled": ({"squared_loss": loss("(y_hat - y.reshape(y_hat.shape)) ** 2 * 2")}, ("trajectory",)),
    "linreg_without_bias": ({"linreg": model("X @ w")}, None),
    "linreg_minus_bias": ({"linreg": model("X @ w - b")}, None),
    "linreg_w_detached": ({"linreg": model("X @ w.data + b")}, None),
    "linreg_output_detached": ({"linreg": model("(X @ w + b).detach()")}, None),
    "data_iter_first_batch_only": ({"data_iter": iterator(starts="range(0, batch_size, batch_size)")}, None),
    "data_iter_unpaired": ({"data_iter": iterator(out="yield features[j], labels[i: i + batch_size]")}, None),
    "data_iter_two_permutations": ({"data_iter": iterator(
        out="yield features[j], labels[torch.randperm(num_examples, generator=generator)[i: i + batch_size]]")}, None),
    "data_iter_ignores_batch_size": ({"data_iter": iterator(starts="range(num_examples)", rows="indices[i: i + 1]")},
                                     ("trajectory",)),
    "data_iter_permutes_batch_size": ({"data_iter": iterator(order="torch.randperm(batch_size, generator=generator)")},
                                      None),
    "data_iter_swapped": ({"data_iter": iterator(out="yield labels[j], features[j]")}, None),
    "data_iter_features_only": ({"data_iter": iterator(out="yield features[j]")}, None),
}
CHECKS = ("trajectory", "final_parameters")


def test_training_checks_calibrated():
    """At least 20 correct variants pass each training check, at least as many realistic bugs
    are caught by each, and the module's table says so."""
    assert_calibrated(calibrate(CHAPTER, "training", VARIANTS, BUGS, CHECKS), checks.CALIBRATION, "training")


def test_a_lower_loss_than_every_correct_run_says_why():
    """The issue's case: a trajectory below the reference's lost points with no hint why."""
    verdicts = check_verdicts(CHAPTER, "training", {"fast": BUGS["sgd_without_batch_division"][0]}, ("trajectory",))
    message = verdicts["fast"]["trajectory"].message
    assert "times below the lowest accepted" in message and "sgd not dividing by batch_size" in message


# -- self-checks ------------------------------------------------------------------------------
WRONG = {
    "synthetic_data": [synthetic(y="X @ w + b"), synthetic(noise="torch.normal(0.0, noise, y.shape)"),
                       synthetic(y="X @ w.reshape(-1, 1)")],
    "data_iter": [iterator(starts="range(0, num_examples - batch_size + 1, batch_size)"),
                  iterator(order="torch.arange(num_examples)"), iterator(order="torch.randperm(num_examples)")],
    "linreg": [model("X @ w.reshape(-1) + b"), model("X @ w"),
               (model("X @ w.detach() + b"), "`.detach()` returns a copy of w cut off from the graph", "NoneType")],
    "squared_loss": [HALF_MISSING, loss("(y_hat - y) ** 2 / 2"),
                     (loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()"),
                      "that is their mean: return one loss per example", "")],
    "sgd": [NEVER_ZEROES, step(update="param -= lr * param.grad"),
            step(update="param = param - lr * param.grad / batch_size"),
            (step(context="if True:"), "(and 5 checks that depend on it)", "must zero the gradients"),
            (step(update="param.grad.zero_()", zero="param -= lr * param.grad / batch_size"),
             "the gradient was zeroed before the step used it", "update it in place")],
}


def test_selfchecks_judge_one_exercise(tmp_path):
    def clean(s):
        return (clean(s[0]), *s[1:]) if isinstance(s, tuple) else textwrap.dedent(s).strip("\n")
    wrong = {k: [clean(s) for s in v] for k, v in WRONG.items()}
    assert_selfchecks_judge_one_exercise(CHAPTER, wrong, tmp_path)


# -- the prose against its outputs ----------------------------------------------------------
def test_prose_quotes_its_outputs():
    text = prose.markdown(CHAPTER)
    printed = book_text.stored_text(CHAPTER, "code-ae51566c")
    losses = {int(e): float(v) for e, v in re.findall(r"epoch (\d+), loss ([\d.e-]+)", printed)}
    assert "by a factor of several hundred within the first epoch" in text
    assert 200 <= losses[0] / losses[1] < 1000, losses
    floor = 0.5 * 0.01 ** 2
    assert "the floor set by the noise in epochs 2–3" in text
    assert losses[2] < 5 * floor and losses[3] < 1.5 * floor, losses
    errors = [abs(float(v)) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", book_text.stored_text(CHAPTER, "code-03f8c3a9"))]
    assert "within a thousandth of the true ones" in text and errors and max(errors) < 1e-3, errors
    timing = book_text.stored_text(CHAPTER, "code-6ea4e999")
    ms = {name: prose.number_after(timing, name) for name in ("batch 10 ", "batch 1000", "vectorised pass")}
    assert "the per-batch overhead" in text and "dominates completely" in text
    assert ms["batch 10 "] > 5 * ms["batch 1000"] > 5 * ms["vectorised pass"], ms
    per_batch = prose.number_after(timing, "per batch of 10:")
    arithmetic = prose.number_after(timing, "(at the vectorised rate)")
    assert "tens of microseconds per batch" in text and 10 <= per_batch < 100, per_batch
    assert "a few hundredths of a microsecond" in text and 0.01 <= arithmetic < 0.1, arithmetic


def test_answers_quote_their_outputs():
    """The answers to the questions quote the cell that measures them."""
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 3
    shown = book_text.stored_text(CHAPTER, "code-4b7aa9dc")
    final = {(lr, start): float(v) for lr, start, v in
             re.findall(r"lr ([\d.]+)\s+from (\w+)\s+weights: loss after training ([\d.]+)", shown)}
    start = prose.number_after(book_text.stored_text(CHAPTER, "code-ae51566c"), "epoch 0, loss")
    floor = 0.5 * 0.01 ** 2
    assert "trains from zero and ends at the same noise floor" in text
    assert final[("0.03", "zero")] < 1.5 * floor and final[("0.03", "random")] < 1.5 * floor, final
    assert "about $0.41^2 \\approx 0.17$ of the start" in text
    assert 0.12 < final[("0.003", "random")] / start < 0.22, (final, start)
    assert "the floor is reached within the first epoch" in text and final[("0.3", "random")] < 2 * floor


def test_display_equations_fit_a_phone():
    book_text.assert_equations_fit_a_phone(CHAPTER)
