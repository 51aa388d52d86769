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
