"""Chapter 07: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "07_softmax_regression"

CASES = [
    SOLUTION,
    STUB,
    Case("one_hot_from_the_library", replace={"one_hot": """
        def one_hot(y, num_classes):
            return F.one_hot(y, num_classes).float()
        """}, scores={"one_hot": 2}, messages={"one_hot": "F.one_hot"}),
    Case("one_hot_returns_integers", replace={"one_hot": """
        def one_hot(y, num_classes):
            return (y.reshape(-1, 1) == torch.arange(num_classes)).long()
        """}, scores={"one_hot": 0}, messages={"one_hot": "dtype torch.int64; expected torch.float32"}),
    # The naive softmax overflows; softmax_ce_grad, built on it, inherits the nan.
    Case("softmax_overflows", replace={"softmax": """
        def softmax(X):
            X_exp = torch.exp(X)
            return X_exp / X_exp.sum(1, keepdim=True)
        """}, scores={"softmax": 3.5, "softmax_ce_grad": 3},
         messages={"softmax": "subtract each row's max", "softmax_ce_grad": "nan"}),
    Case("softmax_from_the_library", replace={"softmax": """
        def softmax(X):
            return torch.softmax(X, dim=1)
        """}, scores={"softmax": 4}, messages={"softmax": "torch.softmax"}),
    Case("entropy_nan_at_zero", replace={"entropy": """
        def entropy(p):
            return -(p * torch.log(p)).sum(-1)
        """}, scores={"entropy": 2}, messages={"entropy": "0 * -inf = nan"}),
    Case("entropy_in_bits", replace={"entropy": """
        def entropy(p):
            return -torch.special.xlogy(p, p).sum(-1) / math.log(2)
        """}, scores={"entropy": 0}, messages={"entropy": "in bits"}),
    Case("cross_entropy_multiplies_one_hot", replace={"cross_entropy": """
        def cross_entropy(y_hat, y):
            return -(one_hot(y, y_hat.shape[1]).to(y_hat.dtype) * torch.log(y_hat)).sum(1)
        """}, scores={"cross_entropy": 2}, messages={"cross_entropy": "0 * log 0"}),
    Case("cross_entropy_averages_over_classes", replace={"cross_entropy": """
        def cross_entropy(y_hat, y):
            return -torch.log(torch.where(one_hot(y, y_hat.shape[1]).bool(), y_hat, 1.0)).mean(1)
        """}, scores={"cross_entropy": 0}, messages={"cross_entropy": "averages over the 3 classes"}),
    Case("cross_entropy_returns_the_mean", replace={"cross_entropy": """
        def cross_entropy(y_hat, y):
            return -torch.log(y_hat[range(len(y_hat)), y]).mean()
        """}, scores={"cross_entropy": 0}, messages={"cross_entropy": "without averaging over the batch"}),
    Case("from_logits_through_probabilities", replace={"cross_entropy_from_logits": """
        def cross_entropy_from_logits(O, y):
            return cross_entropy(softmax(O), y)
        """}, scores={"cross_entropy_from_logits": 3.5},
         messages={"cross_entropy_from_logits": "never take the log of a probability"}),
    Case("from_logits_with_the_library", replace={"cross_entropy_from_logits": """
        def cross_entropy_from_logits(O, y):
            return F.cross_entropy(O, y, reduction='none')
        """}, scores={"cross_entropy_from_logits": 4},
         messages={"cross_entropy_from_logits": "F.cross_entropy"}),
    Case("grad_summed_not_averaged", replace={"softmax_ce_grad": """
        def softmax_ce_grad(O, y):
            return softmax(O) - one_hot(y, O.shape[1]).to(O.dtype)
        """}, scores={"softmax_ce_grad": 0}, messages={"softmax_ce_grad": "divide by n"}),
    Case("grad_by_autograd", replace={"softmax_ce_grad": """
        def softmax_ce_grad(O, y):
            O = O.detach().clone().requires_grad_()
            cross_entropy_from_logits(O, y).mean().backward()
            return O.grad
        """}, scores={"softmax_ce_grad": 3}, messages={"softmax_ce_grad": "backward"}),
    Case("softmax_cell_deleted", delete=("softmax",), scores={"softmax": 0, "softmax_ce_grad": 0},
         messages={"softmax": "missing", "softmax_ce_grad": "softmax"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch07"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
