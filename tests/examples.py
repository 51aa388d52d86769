"""A few chapter-05 submissions for the tests of the machinery around grading (batches,
formats, executors, gradebooks): fixed here, apart from the chapter's own corpus
(tests/test_chapter_05.py), which grows with the chapter's checks. They carry no expected
scores: tests compare paths with each other, or ask only that a wrong one loses points."""
from tests.corpus import Case

CHAPTER = "05_linear_regression_scratch"

SGD_NEVER_ZEROES = Case("sgd_never_zeroes", replace={"sgd": """
    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad / batch_size
    """})
SGD_NO_BATCH_DIVISION = Case("sgd_no_batch_division", replace={"sgd": """
    def sgd(params, lr, batch_size):
        with torch.no_grad():
            for param in params:
                param -= lr * param.grad
                param.grad.zero_()
    """})
SQUARED_LOSS_BROADCASTS = Case("squared_loss_broadcasts", replace={"squared_loss": """
    def squared_loss(y_hat, y):
        return (y_hat - y) ** 2 / 2
    """})
DATA_ITER_DROPS_LAST_BATCH = Case("data_iter_drops_last_batch", replace={"data_iter": """
    def data_iter(batch_size, features, labels, generator=None):
        num_examples = len(features)
        indices = torch.randperm(num_examples, generator=generator)
        for i in range(0, num_examples - batch_size + 1, batch_size):
            j = indices[i: i + batch_size]
            yield features[j], labels[j]
    """})
LINREG_RETURNS_A_VECTOR = Case("linreg_returns_a_vector", replace={"linreg": """
    def linreg(X, w, b):
        return X @ w.reshape(-1) + b
    """})
WARNS_ON_STDERR = Case("warns_on_stderr", replace={"linreg": """
    import warnings
    def linreg(X, w, b):
        warnings.warn("a harmless warning", UserWarning)
        return X @ w + b
    """})
NOT_JSON = Case("not_json", raw=b"{this is not a notebook")
WRONG = [SGD_NEVER_ZEROES, SGD_NO_BATCH_DIVISION, SQUARED_LOSS_BROADCASTS, DATA_ITER_DROPS_LAST_BATCH,
         LINREG_RETURNS_A_VECTOR, WARNS_ON_STDERR]
