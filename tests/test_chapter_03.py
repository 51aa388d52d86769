"""Chapter 03: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "03_linear_models_mle"

CASES = [
    SOLUTION,
    STUB,
    Case("normal_equation_without_bias", replace={"normal_equation": """
        def normal_equation(X, y):
            w = torch.linalg.solve(X.T @ X, X.T @ y.reshape(-1, 1))
            return w, torch.zeros(1, dtype=X.dtype, device=X.device)
        """}, scores={"normal_equation": 0}, messages={"normal_equation": "normal_equation(X (20, 2)"}),
    Case("normal_equation_uses_lstsq", replace={"normal_equation": """
        def normal_equation(X, y):
            X1 = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1)
            theta = torch.linalg.lstsq(X1, y.reshape(-1, 1)).solution
            return theta[:-1], theta[-1]
        """}, scores={"normal_equation": 4}, messages={"normal_equation": "torch.linalg.lstsq"}),
    Case("normal_equation_flat_y", replace={"normal_equation": """
        def normal_equation(X, y):
            X1 = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1)
            theta = torch.linalg.solve(X1.T @ X1, X1.T @ y)
            return theta[:-1], theta[-1]
        """}, scores={"normal_equation": 4},
         messages={"normal_equation": "returned shape (2,); expected (2, 1)"}),
    Case("gaussian_nll_broadcasts", replace={"gaussian_nll": """
        def gaussian_nll(y_hat, y, sigma):
            sigma = torch.as_tensor(sigma, dtype=y_hat.dtype)
            return (0.5 * torch.log(2 * math.pi * sigma ** 2) + (y - y_hat) ** 2 / (2 * sigma ** 2)).mean()
        """}, scores={"gaussian_nll": 3}, messages={"gaussian_nll": "broadcasts to (n, n)"}),
    Case("gaussian_nll_math_log", replace={"gaussian_nll": """
        def gaussian_nll(y_hat, y, sigma):
            r = y.reshape(y_hat.shape) - y_hat
            return 0.5 * math.log(2 * math.pi * sigma ** 2) + (r ** 2).mean() / (2 * sigma ** 2)
        """}, scores={"gaussian_nll": 3}, messages={"gaussian_nll": "gradient with respect to sigma"}),
    Case("gaussian_nll_sums", replace={"gaussian_nll": """
        def gaussian_nll(y_hat, y, sigma):
            sigma = torch.as_tensor(sigma, dtype=y_hat.dtype)
            r = y.reshape(y_hat.shape) - y_hat
            return (0.5 * torch.log(2 * math.pi * sigma ** 2) + r ** 2 / (2 * sigma ** 2)).sum()
        """}, scores={"gaussian_nll": 0}, messages={"gaussian_nll": "sum over examples instead of the mean"}),
    Case("mle_sigma_uses_std", replace={"mle_sigma": """
        def mle_sigma(y_hat, y):
            return (y.reshape(y_hat.shape) - y_hat).std()
        """}, scores={"mle_sigma": 0}, messages={"mle_sigma": "torch.std subtracts their mean"}),
    Case("mle_sigma_returns_variance", replace={"mle_sigma": """
        def mle_sigma(y_hat, y):
            return ((y.reshape(y_hat.shape) - y_hat) ** 2).mean()
        """}, scores={"mle_sigma": 0}, messages={"mle_sigma": "instead of σ"}),
    Case("best_constant_median_with_dim", replace={"best_constant": """
        def best_constant(y, loss):
            if loss == 'l2':
                return y.mean()
            if loss == 'l1':
                return torch.median(y, dim=0)
            raise ValueError(loss)
        """}, scores={"best_constant": 1.5}, messages={"best_constant": "expected a scalar tensor"}),
    Case("best_constant_mean_for_l1", replace={"best_constant": """
        def best_constant(y, loss):
            return y.mean()
        """}, scores={"best_constant": 1}, messages={"best_constant": "that is the mean"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch03"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
