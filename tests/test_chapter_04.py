"""Chapter 04: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "04_gradient_descent_numpy"

CASES = [
    SOLUTION,
    STUB,
    # The bug of the chapter's "find the bug" section: the gradient is assigned, not summed.
    Case("mse_grad_overwrites_in_loop", replace={"mse_grad": """
        def mse_grad(w, b, points):
            n = len(points)
            for i in range(n):
                x, y = points[i, 0], points[i, 1]
                dw = (2 / n) * (w * x + b - y) * x
                db = (2 / n) * (w * x + b - y)
            return dw, db
        """}, scores={"mse_grad": 0, "gradient_descent": 0, "minibatch_sgd": 0},
         messages={"mse_grad": "overwritten each time", "gradient_descent": "losses[1]"}),
    Case("compute_loss_with_half", replace={"compute_loss": """
        def compute_loss(w, b, points):
            return float(np.mean((w * points[:, 0] + b - points[:, 1]) ** 2) / 2)
        """}, scores={"compute_loss": 0, "gradient_descent": 1.5, "minibatch_sgd": 1.5},
         messages={"compute_loss": "no ½", "gradient_descent": "losses[0]"}),
    Case("compute_loss_uses_torch", replace={"compute_loss": """
        import torch

        def compute_loss(w, b, points):
            p = torch.from_numpy(points)
            return float(((w * p[:, 0] + b - p[:, 1]) ** 2).mean())
        """}, scores={"compute_loss": 1.5, "gradient_descent": 2.5, "minibatch_sgd": 2.5},
         messages={"compute_loss": "import torch"}),
    Case("gradient_descent_records_after_step", replace={"gradient_descent": """
        def gradient_descent(points, w0, b0, lr, num_iters):
            w, b, losses = w0, b0, []
            for _ in range(num_iters):
                dw, db = mse_grad(w, b, points)
                w, b = w - lr * dw, b - lr * db
                losses.append(compute_loss(w, b, points))
            return w, b, losses
        """}, scores={"gradient_descent": 1.5}, messages={"gradient_descent": "shifted by one step"}),
    Case("gradient_descent_updates_b_with_new_w", replace={"gradient_descent": """
        def gradient_descent(points, w0, b0, lr, num_iters):
            w, b, losses = w0, b0, []
            for _ in range(num_iters):
                losses.append(compute_loss(w, b, points))
                w = w - lr * mse_grad(w, b, points)[0]
                b = b - lr * mse_grad(w, b, points)[1]
            return w, b, losses
        """}, scores={"gradient_descent": 0}, messages={"gradient_descent": "same old (w, b)"}),
    Case("minibatch_sgd_drops_last_batch", replace={"minibatch_sgd": """
        def minibatch_sgd(points, w0, b0, lr, batch_size, num_epochs, rng):
            w, b, losses = w0, b0, []
            n = len(points)
            for _ in range(num_epochs):
                order = rng.permutation(n)
                for start in range(0, n - batch_size + 1, batch_size):
                    batch = points[order[start:start + batch_size]]
                    losses.append(compute_loss(w, b, batch))
                    dw, db = mse_grad(w, b, batch)
                    w, b = w - lr * dw, b - lr * db
            return w, b, losses
        """}, scores={"minibatch_sgd": 0}, messages={"minibatch_sgd": "returned 18 losses; expected 21"}),
    Case("minibatch_sgd_samples_with_replacement", replace={"minibatch_sgd": """
        def minibatch_sgd(points, w0, b0, lr, batch_size, num_epochs, rng):
            w, b, losses = w0, b0, []
            n = len(points)
            for _ in range(num_epochs):
                for start in range(0, n, batch_size):
                    batch = points[rng.integers(0, n, size=min(batch_size, n - start))]
                    losses.append(compute_loss(w, b, batch))
                    dw, db = mse_grad(w, b, batch)
                    w, b = w - lr * dw, b - lr * db
            return w, b, losses
        """}, scores={"minibatch_sgd": 0}, messages={"minibatch_sgd": "rng.permutation(n)"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch04"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
