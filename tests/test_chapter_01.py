"""Chapter 01: the solutions score full marks, the stubs and code that does nothing zero, and
each realistic wrong submission — one per requirement the prompts state — loses exactly the
points it should, with a message naming the problem; each self-check judges its own exercise;
the text says what its outputs show and fits a phone."""
import re

import pytest

from tests.book_text import assert_equations_fit_a_phone, stored_text
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "01_tensors_broadcasting"

# -- wrong answers (each used by the grading corpus and by the self-check matrix) ------------
BS_LIST = """
def broadcast_shape(shape_a, shape_b):
    ndim = max(len(shape_a), len(shape_b))
    a = [1] * (ndim - len(shape_a)) + list(shape_a)
    b = [1] * (ndim - len(shape_b)) + list(shape_b)
    out = []
    for k, (m, n) in enumerate(zip(a, b)):
        if m != n and 1 not in (m, n):
            raise ValueError(f"dimension {k - ndim}: sizes {m} and {n} clash")
        out.append(n if m == 1 else m)
    return out
"""
BS_TORCH = """
def broadcast_shape(shape_a, shape_b):
    try:
        return tuple(torch.broadcast_shapes(shape_a, shape_b))
    except RuntimeError:
        for k in range(1, min(len(shape_a), len(shape_b)) + 1):
            if 1 not in (shape_a[-k], shape_b[-k]) and shape_a[-k] != shape_b[-k]:
                raise ValueError(f"dimension {-k}: sizes {shape_a[-k]} and {shape_b[-k]} differ") from None
"""
BS_NONE_WHEN_INCOMPATIBLE = """
def broadcast_shape(shape_a, shape_b):
    ndim = max(len(shape_a), len(shape_b))
    a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
    b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    if any(m != n and 1 not in (m, n) for m, n in zip(a, b)):
        return None
    return tuple(n if m == 1 else m for m, n in zip(a, b))
"""


def _bs_raising(message: str, result: str = "tuple(n if m == 1 else m for m, n in zip(a, b))") -> str:
    """A broadcast_shape whose ValueError says ``message`` (an f-string of k, m, n) and that
    returns ``result``."""
    return f"""
def broadcast_shape(shape_a, shape_b):
    ndim = max(len(shape_a), len(shape_b))
    a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)
    b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    for k, (m, n) in enumerate(zip(a, b)):
        if m != n and 1 not in (m, n):
            raise ValueError(f"{message}")
    return {result}
"""


BS_VAGUE = _bs_raising("the shapes do not broadcast")
BS_NO_SIZES = _bs_raising("dimension {k - ndim} does not broadcast")
BS_NO_DIMENSION = _bs_raising("sizes {m} and {n} differ and neither is 1")
BS_MAX_RULE = _bs_raising("dimension {k - ndim}: sizes {m} and {n} differ", result="tuple(max(m, n) for m, n in zip(a, b))")
RN_COLUMNS = "def row_normalize(X):\n    return X / X.sum(0, keepdim=True)"
RN_WITHOUT_KEEPDIM = "def row_normalize(X):\n    return X / X.sum(1)"
RN_FLAT = "def row_normalize(X):\n    return (X / X.sum(1, keepdim=True)).reshape(-1)"
RN_IN_PLACE = "def row_normalize(X):\n    X /= X.sum(1, keepdim=True)\n    return X"
SC_ROWS = """
def standardize_columns(X):
    return (X - X.mean(1, keepdim=True)) / X.std(1, correction=0, keepdim=True)
"""
SC_SAMPLE_STD = "def standardize_columns(X):\n    return (X - X.mean(0)) / X.std(0)"
SC_FLOAT32 = """
def standardize_columns(X):
    X = X.float()
    return (X - X.mean(0)) / X.std(0, correction=0)
"""
SC_SQUEEZE = """
def standardize_columns(X):
    return ((X - X.mean(0)) / X.std(0, correction=0)).squeeze()
"""
SC_IN_PLACE = """
def standardize_columns(X):
    X -= X.mean(0, keepdim=True)
    X /= X.std(0, correction=0, keepdim=True)
    return X
"""
PD_SQRT = "def pairwise_sq_dists(X, Y):\n    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1).sqrt()"
PD_FLOAT64 = """
def pairwise_sq_dists(X, Y):
    diff = X[:, None, :].double() - Y[None, :, :].double()   # float64, for accuracy
    return (diff ** 2).sum(-1)
"""
PD_LOOP = """
def pairwise_sq_dists(X, Y):
    D = torch.empty(len(X), len(Y), dtype=X.dtype, device=X.device)
    for i in range(len(X)):
        D[i] = ((X[i] - Y) ** 2).sum(1)
    return D
"""
PD_CDIST = "def pairwise_sq_dists(X, Y):\n    return torch.cdist(X, Y) ** 2"


def req(req_id: str, exercise: str, source: str, phrase: str) -> Case:
    """The corpus case of one requirement row: the exercise's cell replaced by ``source``, its
    feedback saying ``phrase``."""
    return requirement_case(CHAPTER, req_id, replace={exercise: source}, messages={exercise: phrase})


CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    req("broadcast_shape.rules", "broadcast_shape", BS_MAX_RULE, "returned (1, 3); expected (0, 3)"),
    req("broadcast_shape.tuple", "broadcast_shape", BS_LIST, "expected the tuple"),
    req("broadcast_shape.raises", "broadcast_shape", BS_NONE_WHEN_INCOMPATIBLE, "should raise ValueError"),
    req("broadcast_shape.message_sizes", "broadcast_shape", BS_NO_SIZES, "should name the dimension"),
    req("broadcast_shape.message_dimension", "broadcast_shape", BS_NO_DIMENSION,
        "but not the dimension where they clash"),
    req("broadcast_shape.no_torch", "broadcast_shape", BS_TORCH, "torch.broadcast_shapes"),
    # issue 21: "at -2" names the dimension (counted from the right) as the prompt allows
    Case("broadcast_shape_at_dimension", replace={"broadcast_shape": _bs_raising(
        "shapes {shape_a} and {shape_b} clash at {k - ndim}: sizes {m} and {n}")}),
    Case("broadcast_shape_vague_error", replace={"broadcast_shape": BS_VAGUE},
         scores={"broadcast_shape": 3.5}, messages={"broadcast_shape": "should name"}),
    req("row_normalize.rows_sum_to_one", "row_normalize", RN_COLUMNS, "made the columns sum to one"),
    req("row_normalize.shape", "row_normalize", RN_FLAT, "returned shape"),
    req("row_normalize.input_unchanged", "row_normalize", RN_IN_PLACE, "changed X itself"),
    Case("row_normalize_without_keepdim", replace={"row_normalize": RN_WITHOUT_KEEPDIM},
         scores={"row_normalize": 0}, messages={"row_normalize": "keepdim=True"}),
    req("standardize_columns.values", "standardize_columns", SC_ROWS, "standardised the rows"),
    req("standardize_columns.population", "standardize_columns", SC_SAMPLE_STD, "correction=0"),
    req("standardize_columns.dtype", "standardize_columns", SC_FLOAT32, "returned dtype torch.float32"),
    req("standardize_columns.shape", "standardize_columns", SC_SQUEEZE, "returned shape (10,)"),
    req("standardize_columns.input_unchanged", "standardize_columns", SC_IN_PLACE, "changed X itself"),
    req("pairwise_sq_dists.values", "pairwise_sq_dists", PD_SQRT, "return their squares"),
    req("pairwise_sq_dists.dtype_device", "pairwise_sq_dists", PD_FLOAT64, "returned dtype torch.float64"),
    req("pairwise_sq_dists.no_loops", "pairwise_sq_dists", PD_LOOP, "for loop"),
    req("pairwise_sq_dists.no_cdist", "pairwise_sq_dists", PD_CDIST, "torch.cdist"),
    Case("pairwise_expanded_formula", replace={"pairwise_sq_dists": """
        def pairwise_sq_dists(X, Y):
            sq = (X ** 2).sum(1, keepdim=True) - 2 * X @ Y.T + (Y ** 2).sum(1)
            return sq.clamp_min(0)
        """}),
]

# Realistic wrong answers for each self-check: each must fail its own self-check only.
WRONG = {
    "broadcast_shape": [BS_LIST, BS_TORCH, BS_NONE_WHEN_INCOMPATIBLE, BS_NO_SIZES, BS_NO_DIMENSION, BS_VAGUE],
    "row_normalize": [RN_COLUMNS, RN_WITHOUT_KEEPDIM, RN_FLAT, RN_IN_PLACE],
    "standardize_columns": [SC_ROWS, SC_SAMPLE_STD, SC_FLOAT32, SC_SQUEEZE, SC_IN_PLACE],
    "pairwise_sq_dists": [PD_SQRT, PD_FLOAT64, PD_LOOP, PD_CDIST],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch01"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


def test_selfchecks_judge_one_exercise(tmp_path):
    assert_selfchecks_judge_one_exercise(CHAPTER, WRONG, tmp_path)


def test_text_says_what_the_outputs_show():
    table = stored_text(CHAPTER, "code-cc1e13e5").splitlines()[1:]
    rows = [[float(v) for v in re.findall(r"\d+(?:\.\d+)?", line)] for line in table if line.strip()]
    assert len(rows) == 4
    for n, python, loop, vectorised, _ in rows:  # timings: the factors move with the load
        assert loop > python, f"n={n:g}: 'the tensor loop is the slowest of all, slower even than plain Python'"
        assert 100 <= loop / vectorised <= 10_000, f"n={n:g}: 'hundreds to thousands of times faster than the tensor loop'"
        assert 10 <= python / vectorised <= 1000, f"n={n:g}: 'tens to hundreds of times faster than pure Python'"
    assert "strides (1, 0)  same memory as col: True" in stored_text(CHAPTER, "code-9e1b6894")
    memory = stored_text(CHAPTER, "code-fe0c9b06")
    assert "Y = Y + X  keeps the memory: False" in memory and "Y += X     keeps the memory: True" in memory
    sums = stored_text(CHAPTER, "code-0b34da44")
    assert "with keepdim, row sums:    tensor([1., 1., 1.])" in sums and "no error, just wrong" in sums
    assert "col += row: RuntimeError" in stored_text(CHAPTER, "code-37d4f31b")


def test_the_jump_at_n_200_is_explained():
    """01 · c35/c37: the vectorised time grows far more than the work from n = 100 to 200; the
    text blames the (n, n, d) intermediate outgrowing the cache, and the cell that measures
    time per pair against the expanded formula (no such intermediate) bears it out."""
    from tests import prose
    text = prose.markdown(CHAPTER)
    table = {int(r[0]): r for r in ([float(v) for v in re.findall(r"\d+(?:\.\d+)?", line)]
                                    for line in stored_text(CHAPTER, "code-cc1e13e5").splitlines()[1:] if line.strip())}
    assert "the work grows fourfold, but the vectorised time grew by more than that" in text
    assert table[200][3] / table[100][3] > 4.5, "'grew by more than fourfold'"
    cell = stored_text(CHAPTER, "code-e6db7444")
    rows = {int(r[0]): r for r in ([float(v) for v in re.findall(r"\d+(?:\.\d+)?", line)]
                                   for line in cell.splitlines()[1:-1])}
    assert rows[200][1] == 2.56 and rows[100][1] == 0.64, "the (n, n, 16) float32 intermediate's size in MB"
    n_small, n_large = min(rows), max(rows)
    broadcast, buffered, expanded = (2, 3, 4)
    step = max(rows, key=lambda n: rows[n][broadcast])
    assert rows[step][1] > 1 and rows[step][broadcast] >= 3 * rows[n_small][broadcast], \
        "'several times more at some of the sizes where it is megabytes large'"
    assert rows[step][buffered] <= rows[step][broadcast] / 2, "'with one buffer reused, that step is gone'"
    assert rows[n_large][buffered] > rows[100][buffered], "'a smaller rise per pair as the tensors grow' (the cache)"
    assert rows[n_large][expanded] <= rows[100][expanded], "'the expanded formula gets no dearer per pair'"
    assert "L2 cache of one core" in cell
    assert "as long as its intermediates fit in the cache" in text
    assert "this machine has" not in text and "two cores" not in text


def test_notes_box_names_rule_3():
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert ":::{admonition} From the notes" in text and "The rule that fires is rule 3" in text
    out = stored_text(CHAPTER, "code-9fea09e0")
    assert "dimension -1: 4 vs 4" in out and "dimension -2: 2 vs 3" in out and "(1, 4) + (3, 4): torch.Size([3, 4])" in out
    assert "the clash is at dimension `-2`" in text


def test_answers_quote_their_outputs():
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    shapes = stored_text(CHAPTER, "code-3826fed4")
    for line in ("(8, 1, 6, 1) (7, 1, 5) -> (8, 7, 6, 5)", "(3,) (3, 3) -> (3, 3)", "(0,) (1,) -> (0,)",
                 "(2, 1) (8, 4, 3) -> RuntimeError"):
        assert line in shapes
    keep = stored_text(CHAPTER, "code-ce2438fd")
    assert "same: True" in keep and "cat with keepdim: torch.Size([4, 4])" in keep and "cat without keepdim: RuntimeError" in keep
    per_call = stored_text(CHAPTER, "code-ce9956eb")
    assert prose.number_after(per_call, "tensor operations") > prose.number_after(per_call, "pure Python")
    cancel = stored_text(CHAPTER, "code-1e32f84c").splitlines()
    assert prose.number_after(cancel[0], "smallest entry") < 0 and prose.number_after(cancel[1], "negative entries") == 0
    assert "more than one element of the written-to tensor refers to a single memory location" in \
        stored_text(CHAPTER, "code-480d1bbe")


def test_display_equations_fit_a_phone():
    assert_equations_fit_a_phone(CHAPTER)
