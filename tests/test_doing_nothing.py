"""No points for doing nothing (DESIGN.md §3): in every chapter, submissions whose functions do
nothing — return None, or return their first argument — score zero on every exercise. A
check that such code passes (an "in place" check, a "no gradients recorded" check) is a
guard, awarded only with a check that proves the function works.

The submissions are graded in each chapter's own corpus batch (tests/test_chapter_NN.py,
where assert_case checks the zeros); this test makes sure no chapter leaves them out."""
import importlib

import pytest

from autograder.chapter import graded_chapters, load_chapter
from tests.corpus import doing_nothing_cases


@pytest.mark.parametrize("chapter", graded_chapters())
def test_every_chapter_grades_doing_nothing(chapter):
    module = importlib.import_module(f"tests.test_chapter_{chapter[:2]}")
    cases = {c.name: c for c in module.CASES}
    for nothing in doing_nothing_cases(chapter):
        assert nothing.name in cases, f"{chapter}: its corpus lacks the case {nothing.name}"
        assert cases[nothing.name].scores == nothing.scores, f"{chapter}: {nothing.name} must score 0 everywhere"
        assert cases[nothing.name].replace == nothing.replace


# -- a guard's own no-op: code that does only what the guard looks at (issue 18, attack 7) ----------
# For every exercise with a guard, its function doing exactly what the guard checks and nothing
# else: an sgd whose body only sets p.grad = None (it scored 2/3: the zero-grad check accepts None,
# which unlocked the in-place guard), a generator that yields nothing, an evaluate_accuracy that
# calls net.eval() under no_grad and returns nothing useful... Each must score 0.
GUARD_NOOPS = {
    "01_tensors_broadcasting": {
        "row_normalize": "def row_normalize(X):\n    return X.clone()",  # X unchanged
        "standardize_columns": "def standardize_columns(X):\n    return X.clone()",
    },
    "02_autograd_computation_graphs": {
        "numerical_grad": "def numerical_grad(f, x, h=1e-5):\n    return torch.zeros_like(x)",  # x unchanged
        "grad_of": "def grad_of(f, x):\n    return torch.zeros_like(x)",  # x's requires_grad and grad untouched
        "second_derivative": "def second_derivative(f, x):\n    return torch.zeros_like(x)",  # x untouched, detached
        "train_step": "def train_step(w, b, X, y, lr):\n    with torch.no_grad():\n"
                      "        w.add_(0.0)\n        b.add_(0.0)",  # in place, leaves that require grad
    },
    "04_gradient_descent_numpy": {
        "compute_loss": "def compute_loss(w, b, points):\n    return 0.0",  # a Python float
        "mse_grad": "def mse_grad(w, b, points):\n    return 0.0, 0.0",  # a pair of floats
        "max_stable_lr": "def max_stable_lr(points):\n    return 0.0",  # a Python float
    },
    "05_linear_regression_scratch": {
        "data_iter": "def data_iter(batch_size, features, labels, generator=None):\n"
                     "    return\n    yield",  # a generator (of nothing)
        "sgd": "def sgd(params, lr, batch_size):\n    for param in params:\n"
               "        param.grad = None",  # zeroes (to None), in place, leaves
    },
    "06_linear_regression_concise": {
        "load_array": "def load_array(data_arrays, batch_size, is_train=True):\n"
                      "    return data.DataLoader(data.TensorDataset(*data_arrays), 1)",  # over a TensorDataset
        "train_concise": "def train_concise(features, labels, num_epochs, lr, batch_size, loss):\n"
                         "    load_array((features, labels), batch_size, is_train=True)\n"
                         "    return nn.Sequential(nn.Linear(features.shape[1], 1))",  # the recipe's layer and loader
    },
    "09_softmax_regression_training": {
        "accuracy": "def accuracy(y_hat, y):\n    return 0.0",  # a Python float
        "evaluate_accuracy": "def evaluate_accuracy(net, data_iter):\n"
                             "    if isinstance(net, torch.nn.Module):\n        net.eval()\n"
                             "    with torch.no_grad():\n        for X, y in data_iter:\n            net(X)\n"
                             "    return 0.0",  # eval mode, no gradients
        "train_epoch": "def train_epoch(net, train_iter, loss, updater):\n"
                       "    if isinstance(net, torch.nn.Module):\n        net.train()\n"
                       "    for X, y in train_iter:\n        net(X)\n    return 0.0, 0.0",  # training mode
        "predict": "def predict(net, X):\n    with torch.no_grad():\n        net(X)\n"
                   "    return torch.full((X.shape[0],), -1)",  # under no_grad
    },
}


def guarded_exercises(chapter: str) -> set[str]:
    return {ex.name for ex in load_chapter(chapter).exercises if any(c.guard for c in ex.checks)}


def test_every_guard_has_its_no_op():
    for chapter in graded_chapters():
        chap = load_chapter(chapter)
        needed = {f for ex in chap.exercises if any(c.guard for c in ex.checks) for f in ex.own}
        assert needed == set(GUARD_NOOPS.get(chapter, {})), f"{chapter}: guarded functions {needed}"


def test_a_guards_no_op_scores_nothing(tmp_path):
    """Each chapter with guards, one submission: the released stubs with every guarded function
    doing only what its guards check. Every exercise scores 0 (the stubs score 0 elsewhere)."""
    import json
    from autograder import batch, notebooks, paths
    submitted = tmp_path / "submitted"
    chapters = [ch for ch in graded_chapters() if GUARD_NOOPS.get(ch)]
    for chapter in chapters:
        nb = notebooks.read_notebook(paths.release_notebook(chapter))
        for cell in notebooks.code_cells(nb):
            if notebooks.is_solution(cell) and notebooks.grade_id(cell) in GUARD_NOOPS[chapter]:
                cell["source"] = GUARD_NOOPS[chapter][notebooks.grade_id(cell)]
        path = submitted / "noop" / chapter / f"{chapter}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(nb, indent=1))
    results = batch.grade_all(submitted, chapters, tmp_path / "out", device="cpu", jobs=2, progress=False)
    assert {r.chapter for r in results} == set(chapters)
    for result in results:
        for ex in result.exercises:
            assert ex.score == 0, f"{result.chapter}/{ex.exercise} scored {ex.score}: {ex.message}"
            if ex.exercise in guarded_exercises(result.chapter):
                passed_guards = [c for c in ex.checks if c.status == "failed" and "not awarded" in c.message]
                assert passed_guards, f"{result.chapter}/{ex.exercise}: no guard passed on its own no-op"
