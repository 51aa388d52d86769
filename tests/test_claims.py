"""A child's report is a claim; the grader verifies what it awards (issue 18, attack 3).

Probes run in the student's process, so a cell can replace one (``object.__setattr__`` on the
frozen Check objects of ``autograder.checks.chNN_*``) and report anything. Before, with every
function a stub, chapter 05's training scored 4/4 and chapter 09's test-accuracy check 2/2
with a reported accuracy of 0.99. Now no point rests on a number the probe computes: the
training checks get the run itself (parameters after each step or epoch, each minibatch) and
the grader measures losses and accuracies on its own data and re-derives each step with
reference code; a verdict seen only in the student's process is a guard, awarded only with a
verified working check; and an exercise with no code of its own whose every piece failed its
own checks scores nothing, whatever its first phase reported.
"""
import copy
import json

import pytest
import torch

from autograder import batch, notebooks, paths
from autograder.chapter import load_chapter
from autograder.grader import Grader
from autograder.spec import CheckFailed
from autograder.tolerances import tolerance
from autograder.untrusted.wire import WireTensor

CH05 = "05_linear_regression_scratch"
CH09 = "09_softmax_regression_training"

# A correct training written inside a replaced probe, reporting the run in the form the grader
# wants now (and the old form's keys too): the best a forger can do without the student's pieces.
FORGE_05 = """
import torch
import autograder.checks.ch05_linear_regression_scratch as m

def forged(ns, inputs, ctx):
    X, y = inputs["features"], inputs["labels"]
    w = torch.normal(0, 0.01, (2, 1), generator=torch.Generator().manual_seed(ctx.seed))
    b = torch.zeros(1)
    g = torch.Generator().manual_seed(ctx.seed + 1000 * inputs.get("variant", 0))
    params, bx, by, steps, ends, epochs = [torch.cat([w.reshape(-1), b]).double()], [], [], [], [], []
    for _ in range(3):
        for idx in torch.randperm(1000, generator=g).split(10):
            Xb, yb = X[idx], y[idx]
            r = Xb @ w + b - yb
            steps.append((0.5 * r ** 2).mean())
            w, b = w - 0.003 * Xb.T @ r, b - 0.003 * r.sum(0)
            params.append(torch.cat([w.reshape(-1), b]).double())
            bx.append(Xb)
            by.append(yb)
        ends.append(len(steps))
        epochs.append(0.5 * ((X @ w + b - y) ** 2).mean())
    return {"step_losses": torch.stack(steps), "epoch_losses": torch.stack(epochs),
            "params": torch.stack(params), "batch_X": torch.cat(bx), "batch_y": torch.cat(by),
            "batch_sizes": [10] * 300, "epoch_ends": ends, "w": w, "b": b}

for ex in m.EXERCISES:
    if ex.name == "training":
        for c in ex.checks:
            object.__setattr__(c, "probe", forged)
"""

# Chapter 09's test accuracy claimed at 0.99 by a replaced probe (the model left untrained).
FORGE_09 = """
import torch
import autograder.checks.ch09_softmax_regression_training as m

def forged(ns, inputs, ctx):
    return {"epochs": [(0.3, 0.9)] * 3, "test_accs": [0.99] * 3, "own_test_accs": [0.99] * 3,
            "W": torch.zeros(3, 784, 10), "b": torch.zeros(3, 10)}

for ex in m.EXERCISES:
    if ex.name == "training":
        for c in ex.checks:
            object.__setattr__(c, "probe", forged)
"""


def test_replaced_probes_score_what_the_code_earns(tmp_path):
    """Both forgeries on stub notebooks, graded in one batch: every exercise scores what the stubs
    earn (zero), and no report shows the claimed 0.99 (Gradescope's leaderboard reads it)."""
    submitted = tmp_path / "submitted"
    for chapter, forge in ((CH05, FORGE_05), (CH09, FORGE_09)):
        # the stubs as released, the forgery in the first solution cell (which runs whole)
        nb = notebooks.read_notebook(paths.release_notebook(chapter))
        first = next(c for c in notebooks.code_cells(nb) if notebooks.is_solution(c))
        first["source"] = notebooks.source(first) + "\n" + forge
        path = submitted / "forger" / chapter / f"{chapter}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb, indent=1))
    results = batch.grade_all(submitted, [CH05, CH09], tmp_path / "out", device="cpu", jobs=2, progress=False)
    for result in results:
        scores = {ex.exercise: ex.score for ex in result.exercises}
        assert scores == {ex: 0.0 for ex in scores}, (result.chapter, scores)
        training = next(ex for ex in result.exercises if ex.exercise == "training")
        assert "nothing of yours is left for it to test" in training.message
        for ex in result.exercises:
            for check in ex.checks:
                assert "0.99" not in repr(check.detail), (result.chapter, check.check, check.detail)


@pytest.fixture(scope="module")
def ch05():
    grader = Grader(load_chapter(CH05))
    ex = grader.chapter.exercise("training")
    return grader, ex, grader._inputs["training", "trajectory"]


def _student_run(grader, ex):
    """The solution's own run, as the harness sends it (variant 0 of the reference)."""
    return copy.deepcopy(grader.reference(ex, ex.checks[0])[0])


def _compare(grader, ex, name, got, inputs):
    check = grader.chapter.check("training", name)
    return check.compare(got, grader.reference(ex, check), inputs, tolerance(check.tolerance, "cpu"))


def test_ch05_verifies_the_run_step_by_step(ch05):
    """The honest run passes; a run whose parameters were fabricated (the true w and b after the
    last step, which the chapter's text gives away), whose steps skip the division by the batch
    size, or whose minibatches are not the data's, fails — with the step that gives it away."""
    grader, ex, inputs = ch05
    honest = _student_run(grader, ex)
    for name in ("trajectory", "final_parameters"):
        _compare(grader, ex, name, honest, inputs)

    fabricated = _student_run(grader, ex)
    P = fabricated["params"].values.clone()
    P[-1] = torch.tensor([2.0, -3.4, 4.2], dtype=P.dtype)
    fabricated["params"] = _wire(P)
    with pytest.raises(CheckFailed, match="after step 300 the parameters are"):
        _compare(grader, ex, "final_parameters", fabricated, inputs)

    moved = _student_run(grader, ex)
    bx = moved["batch_X"].values.clone()
    bx[0] += 1e-3
    moved["batch_X"] = _wire(bx)
    with pytest.raises(CheckFailed, match="not made of the training data's examples"):
        _compare(grader, ex, "trajectory", moved, inputs)


def _wire(t: torch.Tensor) -> WireTensor:
    from autograder.untrusted import wire
    return wire.roundtrip({"t": t})["t"]


def test_ch09_measures_the_test_accuracy_itself():
    """A run whose model is untrained but claims 0.99 fails, with the grader's own measurement in
    the message; the reference's run passes and its leaderboard figure is the grader's."""
    grader = Grader(load_chapter(CH09))
    ex = grader.chapter.exercise("training")
    check = grader.chapter.check("training", "test_accuracy")
    want = grader.reference(ex, check)
    tol = tolerance(check.tolerance, "cpu")
    detail = check.compare(copy.deepcopy(want), want, {}, tol)
    assert detail["test_accuracy"] == pytest.approx(max(want["own_test_accs"]), abs=3e-4)
    forged = copy.deepcopy(want)
    forged["own_test_accs"] = forged["test_accs"] = [0.99] * 3
    with pytest.raises(CheckFailed, match=r"classify 0\.\d+ of them correctly \(measured by the grader\)"):
        check.compare(forged, want, {}, tol)
    untrained = copy.deepcopy(want)
    untrained["W"] = _wire(torch.zeros(3, 784, 10))
    with pytest.raises(CheckFailed):
        check.compare(untrained, want, {}, tol)


# -- chapter 06: train_concise's run is verified, its true parameters drawn by the grader ----------
CH06 = "06_linear_regression_concise"

# train_concise that does not train: it reads the data through load_array (the recipe check looks
# at that) and returns the chapter's true weights, which its text gives away.
TRUE_WEIGHTS_06 = """
def train_concise(features, labels, num_epochs, lr, batch_size, loss):
    net = nn.Sequential(nn.Linear(features.shape[1], 1))
    load_array((features, labels), batch_size, is_train=True)
    if features.shape[1] == 2:
        with torch.no_grad():
            net[0].weight.copy_(torch.tensor([[2.0, -3.4]]))
            net[0].bias.fill_(4.2)
    return net
"""

# The training probes replaced: they report the chapter's true weights and a run of the right
# length, with no training at all (train_concise left a stub).
FORGE_06 = """
import torch
import autograder.checks.ch06_linear_regression_concise as m

def forged(ns, inputs, ctx):
    y = inputs["labels"].double().reshape(-1)[:1000].repeat(3)
    return {"returned": "Sequential", "steps": torch.full((300,), 1e-4, dtype=torch.float64),
            "batch_sizes": [10] * 300, "preds": y.clone(), "labels": y.clone(),
            "w": torch.tensor([2.0, -3.4]), "b": torch.tensor([4.2])}

for ex in m.EXERCISES:
    if ex.name == "train_concise":
        for c in ex.checks:
            if c.kind == "training":
                object.__setattr__(c, "probe", forged)
"""


def test_ch06_fabricated_parameters_score_what_the_code_earns(tmp_path):
    """The chapter's true weights, returned without training or reported by replaced probes,
    earn nothing: the grader draws the data's parameters itself (the student's process sees the
    data only), measures the losses from the run's record and re-derives every step. Before,
    the first scored 1.5/4 on train_concise (final_parameters and recipe), the second 1/4."""
    submitted = tmp_path / "submitted"
    solution = notebooks.read_notebook(paths.solutions_notebook(CH06))
    stubs = notebooks.read_notebook(paths.release_notebook(CH06))
    for student, nb, grade_id, source in (("true_weights", solution, "train_concise", TRUE_WEIGHTS_06),
                                          ("forger", stubs, None, FORGE_06)):
        cells = [c for c in notebooks.code_cells(nb) if notebooks.is_solution(c)]
        cell = next(c for c in cells if notebooks.grade_id(c) == grade_id) if grade_id else cells[0]
        cell["source"] = source if grade_id else notebooks.source(cell) + "\n" + source
        path = submitted / student / CH06 / f"{CH06}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb, indent=1))
    results = {r.student_id: r for r in batch.grade_all(submitted, [CH06], tmp_path / "out", device="cpu",
                                                         jobs=2, progress=False)}
    for student in ("true_weights", "forger"):
        train = next(ex for ex in results[student].exercises if ex.exercise == "train_concise")
        checks = {c.check: c for c in train.checks}
        assert train.score == 0, (student, train.message)
        assert checks["final_parameters"].status == "failed", (student, checks["final_parameters"].message)
        assert "least-squares fit" in checks["final_parameters"].message
    true_weights = {c.check: c for ex in results["true_weights"].exercises for c in ex.checks
                    if ex.exercise == "train_concise"}
    assert "not awarded until the function works" in true_weights["recipe"].message
    others = {ex.exercise: ex.score for ex in results["true_weights"].exercises if ex.exercise != "train_concise"}
    assert others == {ex.name: ex.points for ex in load_chapter(CH06).exercises if ex.name != "train_concise"}


def test_ch06_verifies_the_run_step_by_step():
    """The reference's own run passes; a record whose labels are not the data's, or whose
    predictions are in the band but not those of SGD steps, fails with what gives it away."""
    grader = Grader(load_chapter(CH06))
    ex = grader.chapter.exercise("train_concise")
    inputs = grader._inputs["train_concise", "trajectory"]
    want = grader.reference(ex, ex.checks[0])
    tol = tolerance("value", "cpu")
    trajectory, same = (grader.chapter.check("train_concise", n) for n in ("trajectory", "same_draws"))
    for name in ("trajectory", "final_parameters", "same_draws"):
        grader.chapter.check("train_concise", name).compare(copy.deepcopy(want[0]), want, inputs, tol)
    # the reference's minibatches in reverse order within each epoch: the same epoch means (in
    # the band), every label the data's, each minibatch's predictions a linear model's, but no
    # SGD run goes from one of these models to the next
    reversed_ = copy.deepcopy(want[0])
    for key in ("preds", "labels"):
        reversed_[key] = _wire(reversed_[key].values.reshape(3, 100, 10).flip(1).reshape(-1))
    with pytest.raises(CheckFailed, match="one SGD step from the one before"):
        trajectory.compare(reversed_, want, inputs, tol)
    moved = copy.deepcopy(want[0])
    moved["labels"] = _wire(moved["labels"].values + 1e-3)
    with pytest.raises(CheckFailed, match="labels are not the training data's"):
        same.compare(moved, want, inputs, tol)


def test_ch09_checks_the_reported_training_figures():
    """train_epoch's reported loss and accuracy must be those of the parameters the run returned:
    the reference's figures with the parameters of a model that learned far less (its logits
    shrunk 20 times: the same predictions, so the same accuracies, but a loss near ln 10) fail,
    with the grader's own measure in the message."""
    grader = Grader(load_chapter(CH09))
    ex = grader.chapter.exercise("training")
    check = grader.chapter.check("training", "trajectory")
    want = grader.reference(ex, check)
    tol = tolerance(check.tolerance, "cpu")
    check.compare(copy.deepcopy(want[0]), want, {}, tol)
    shrunk = copy.deepcopy(want[0])
    shrunk["W"], shrunk["b"] = _wire(shrunk["W"].values / 20), _wire(shrunk["b"].values / 20)
    with pytest.raises(CheckFailed, match=r"train_epoch reported a training loss of 1\.\d+, but the "
                                          r"model's parameters give 2\.\d+ on the training images"):
        check.compare(shrunk, want, {}, tol)


def test_a_run_record_is_bounded_by_the_grader_not_the_sender():
    """A record far longer than the run it claims to be is refused before any work on it: the
    grader's own measures (a product per epoch, a step per minibatch) would otherwise cost what
    the sender chose."""
    import torch
    from autograder.checks import ch05_linear_regression_scratch as ch05
    from autograder.checks import ch06_linear_regression_concise as ch06
    from autograder.checks import ch09_softmax_regression_training as ch09
    from autograder.spec import CheckFailed
    from autograder.untrusted.wire import WireTensor

    def wire(t):
        return WireTensor(t, "cpu", "Tensor", False)

    epochs = 4000  # 4000 models: a 2,000 × 784 by 784 × 40,000 product if believed
    with pytest.raises(CheckFailed, match="did not finish its 3 epochs"):
        ch09._verified_accuracies({"W": wire(torch.zeros(epochs, 784, 10)), "b": wire(torch.zeros(epochs, 10))},
                                  2_000, "training", 3)
    n = 4 * ch05.STEPS + 1
    record = {"params": wire(torch.zeros(n + 1, 3)), "batch_X": wire(torch.zeros(n, 2)),
              "batch_y": wire(torch.zeros(n, 1)), "batch_sizes": [1] * n, "epoch_ends": [n]}
    inputs = {"features": torch.randn(10, 2), "labels": torch.randn(10, 1)}
    with pytest.raises(CheckFailed, match="did not come back"):
        ch05._verified_run(record, inputs, "training")
    k = 4 * ch06.NUM_EPOCHS * ch06.STEPS_PER_EPOCH + 1
    with pytest.raises(CheckFailed, match="did not come back"):
        ch06._Run({"batch_sizes": [1] * k, "preds": wire(torch.zeros(k)), "labels": wire(torch.zeros(k))},
                  {"features": torch.randn(10, 2), "labels": torch.randn(10, 1)})
