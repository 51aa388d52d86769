"""Chapter 08: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "08_fashion_mnist"

CASES = [
    SOLUTION,
    STUB,
    Case("labels_only_for_tensors", replace={"get_fashion_mnist_labels": """
        def get_fashion_mnist_labels(labels):
            text_labels = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                           'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']
            return [text_labels[i] for i in labels.tolist()]
        """}, scores={"get_fashion_mnist_labels": 1}, messages={"get_fashion_mnist_labels": "AttributeError"}),
    Case("counts_with_unique", replace={"class_counts": """
        def class_counts(y, num_classes=10):
            return torch.unique(y, return_counts=True)[1]
        """}, scores={"class_counts": 1}, messages={"class_counts": "0 for the classes that never occur"}),
    Case("counts_as_floats", replace={"class_counts": """
        def class_counts(y, num_classes=10):
            return torch.nn.functional.one_hot(y, num_classes).float().sum(0)
        """}, scores={"class_counts": 0}, messages={"class_counts": "dtype"}),
    Case("batches_drop_last", replace={"tensor_batches": """
        def tensor_batches(X, y, batch_size, shuffle=True, generator=None):
            n = len(X)
            indices = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            for i in range(0, n - batch_size + 1, batch_size):
                yield X[indices[i:i + batch_size]], y[indices[i:i + batch_size]]
        """}, scores={"tensor_batches": 1}, messages={"tensor_batches": "batches of sizes"}),
    Case("batches_always_shuffle", replace={"tensor_batches": """
        def tensor_batches(X, y, batch_size, shuffle=True, generator=None):
            indices = torch.randperm(len(X), generator=generator)
            for i in range(0, len(X), batch_size):
                yield X[indices[i:i + batch_size]], y[indices[i:i + batch_size]]
        """}, scores={"tensor_batches": 3}, messages={"tensor_batches": "stored order"}),
    Case("batches_shuffle_x_and_y_apart", replace={"tensor_batches": """
        def tensor_batches(X, y, batch_size, shuffle=True, generator=None):
            n = len(X)
            if shuffle:
                X = X[torch.randperm(n, generator=generator)]
                y = y[torch.randperm(n, generator=generator)]
            for i in range(0, n, batch_size):
                yield X[i:i + batch_size], y[i:i + batch_size]
        """}, scores={"tensor_batches": 2}, messages={"tensor_batches": "same indices"}),
    Case("batches_ignore_generator", replace={"tensor_batches": """
        def tensor_batches(X, y, batch_size, shuffle=True, generator=None):
            indices = torch.randperm(len(X)) if shuffle else torch.arange(len(X))
            for i in range(0, len(X), batch_size):
                yield X[indices[i:i + batch_size]], y[indices[i:i + batch_size]]
        """}, scores={"tensor_batches": 3}, messages={"tensor_batches": "seeded alike"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch08"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
