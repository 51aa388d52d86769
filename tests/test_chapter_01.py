"""Chapter 01: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "01_tensors_broadcasting"

CASES = [
    SOLUTION,
    STUB,
    Case("broadcast_shape_returns_a_list", replace={"broadcast_shape": """
        def broadcast_shape(shape_a, shape_b):
            ndim = max(len(shape_a), len(shape_b))
            a = [1] * (ndim - len(shape_a)) + list(shape_a)
            b = [1] * (ndim - len(shape_b)) + list(shape_b)
            out = []
            for m, n in zip(a, b):
                if m != n and 1 not in (m, n):
                    raise ValueError(f"sizes {m} and {n} clash")
                out.append(max(m, n) if 0 not in (m, n) else 0)
            return out
        """}, scores={"broadcast_shape": 2}, messages={"broadcast_shape": "expected the tuple"}),
    Case("broadcast_shape_calls_torch", replace={"broadcast_shape": """
        def broadcast_shape(shape_a, shape_b):
            try:
                return tuple(torch.broadcast_shapes(shape_a, shape_b))
            except RuntimeError as e:
                raise ValueError(str(e)) from None
        """}, scores={"broadcast_shape": 3.5}, messages={"broadcast_shape": "torch.broadcast_shapes"}),
    Case("broadcast_shape_returns_none_when_incompatible", replace={"broadcast_shape": """
        def broadcast_shape(shape_a, shape_b):
            ndim = max(len(shape_a), len(shape_b))
            a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
            b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
            if any(m != n and 1 not in (m, n) for m, n in zip(a, b)):
                return None
            return tuple(n if m == 1 else m for m, n in zip(a, b))
        """}, scores={"broadcast_shape": 2.5}, messages={"broadcast_shape": "should raise ValueError"}),
    Case("broadcast_shape_vague_error", replace={"broadcast_shape": """
        def broadcast_shape(shape_a, shape_b):
            ndim = max(len(shape_a), len(shape_b))
            a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
            b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
            if any(m != n and 1 not in (m, n) for m, n in zip(a, b)):
                raise ValueError("the shapes do not broadcast")
            return tuple(n if m == 1 else m for m, n in zip(a, b))
        """}, scores={"broadcast_shape": 3.5}, messages={"broadcast_shape": "should name"}),
    Case("row_normalize_without_keepdim", replace={"row_normalize": """
        def row_normalize(X):
            return X / X.sum(1)
        """}, scores={"row_normalize": 0}, messages={"row_normalize": "keepdim=True"}),
    Case("row_normalize_in_place", replace={"row_normalize": """
        def row_normalize(X):
            X /= X.sum(1, keepdim=True)
            return X
        """}, scores={"row_normalize": 3}, messages={"row_normalize": "changed X itself"}),
    Case("standardize_sample_std", replace={"standardize_columns": """
        def standardize_columns(X):
            return (X - X.mean(0)) / X.std(0)
        """}, scores={"standardize_columns": 1}, messages={"standardize_columns": "correction=0"}),
    Case("standardize_in_place", replace={"standardize_columns": """
        def standardize_columns(X):
            X -= X.mean(0, keepdim=True)
            X /= X.std(0, correction=0, keepdim=True)
            return X
        """}, scores={"standardize_columns": 3}, messages={"standardize_columns": "changed X itself"}),
    Case("standardize_rows", replace={"standardize_columns": """
        def standardize_columns(X):
            return (X - X.mean(1, keepdim=True)) / X.std(1, correction=0, keepdim=True)
        """}, scores={"standardize_columns": 1}, messages={"standardize_columns": "standardised the rows"}),
    Case("pairwise_loop_over_rows", replace={"pairwise_sq_dists": """
        def pairwise_sq_dists(X, Y):
            D = torch.empty(len(X), len(Y), dtype=X.dtype, device=X.device)
            for i in range(len(X)):
                D[i] = ((X[i] - Y) ** 2).sum(1)
            return D
        """}, scores={"pairwise_sq_dists": 3}, messages={"pairwise_sq_dists": "for loop"}),
    Case("pairwise_expanded_formula", replace={"pairwise_sq_dists": """
        def pairwise_sq_dists(X, Y):
            sq = (X ** 2).sum(1, keepdim=True) - 2 * X @ Y.T + (Y ** 2).sum(1)
            return sq.clamp_min(0)
        """}),
    Case("pairwise_returns_distances", replace={"pairwise_sq_dists": """
        def pairwise_sq_dists(X, Y):
            return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1).sqrt()
        """}, scores={"pairwise_sq_dists": 0}, messages={"pairwise_sq_dists": "return their squares"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch01"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
