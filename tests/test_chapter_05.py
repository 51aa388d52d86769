"""Chapter 05: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "05_linear_regression_scratch"

CASES = [
    SOLUTION,
    STUB,
    Case("sgd_never_zeroes", replace={"sgd": """
        def sgd(params, lr, batch_size):
            with torch.no_grad():
                for param in params:
                    param -= lr * param.grad / batch_size
        """}, scores={"sgd": 2}, messages={"sgd": "zero", "training": "graded with a working `sgd`"}),
    Case("sgd_no_batch_division", replace={"sgd": """
        def sgd(params, lr, batch_size):
            with torch.no_grad():
                for param in params:
                    param -= lr * param.grad
                    param.grad.zero_()
        """}, scores={"sgd": 2}, messages={"sgd": "divide the gradient by batch_size"}),
    Case("squared_loss_broadcasts", replace={"squared_loss": """
        def squared_loss(y_hat, y):
            return (y_hat - y) ** 2 / 2
        """}, scores={"squared_loss": 1}, messages={"squared_loss": "broadcast against an (n,)"}),
    Case("data_iter_drops_last_batch", replace={"data_iter": """
        def data_iter(batch_size, features, labels, generator=None):
            num_examples = len(features)
            indices = torch.randperm(num_examples, generator=generator)
            for i in range(0, num_examples - batch_size + 1, batch_size):
                j = indices[i: i + batch_size]
                yield features[j], labels[j]
        """}, scores={"data_iter": 1}, messages={"data_iter": "batches of sizes"}),
    Case("data_iter_samples_with_replacement", replace={"data_iter": """
        def data_iter(batch_size, features, labels, generator=None):
            num_examples = len(features)
            for i in range(0, num_examples, batch_size):
                j = torch.randint(0, num_examples, (min(batch_size, num_examples - i),), generator=generator)
                yield features[j], labels[j]
        """}, scores={"data_iter": 1}, messages={"data_iter": "dropped or repeated"}),
    Case("linreg_returns_a_vector", replace={"linreg": """
        def linreg(X, w, b):
            return X @ w.reshape(-1) + b
        """}, scores={"linreg": 0}, messages={"linreg": "returned shape"}),
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
