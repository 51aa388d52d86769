"""Chapter 03: the solutions score full marks, the stubs and code that does nothing zero, and
each realistic wrong submission — one per requirement the prompts state — loses exactly the
points it should, with a message naming the problem; each self-check judges its own exercise;
the text says what its outputs show and fits a phone."""
import re

import pytest

from tests.book_text import assert_equations_fit_a_phone, stored_text
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "03_linear_models_mle"


# -- wrong answers (each used by the grading corpus and by the self-check matrix) ------------
def normal_equation(theta: str, ret: str = "return theta[:-1], theta[-1]", first: str = "") -> str:
    """A normal_equation that appends the column of ones, computes ``theta`` and returns."""
    return ("def normal_equation(X, y):\n" + (f"    {first}\n" if first else "")
            + "    X1 = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1)\n"
            + f"    theta = {theta}\n    {ret}\n")


SOLVE = "torch.linalg.solve(X1.T @ X1, X1.T @ y.reshape(-1, 1))"
NE_NO_BIAS = """
def normal_equation(X, y):
    w = torch.linalg.solve(X.T @ X, X.T @ y.reshape(-1, 1))
    return w, torch.zeros(1, dtype=X.dtype, device=X.device)
"""
NE_FLAT_Y = normal_equation("torch.linalg.solve(X1.T @ X1, X1.T @ y)")
NE_W_SHAPE = normal_equation(SOLVE, ret="return theta[:-1].reshape(-1), theta[-1]")
NE_FLOAT64 = normal_equation(SOLVE, first="X, y = X.double(), y.double()   # float64 for accuracy")
NE_LSTSQ = normal_equation("torch.linalg.lstsq(X1, y.reshape(-1, 1)).solution")
NE_INV = normal_equation("torch.linalg.inv(X1.T @ X1) @ X1.T @ y.reshape(-1, 1)")


def gaussian_nll(result: str, first: str = "sigma = torch.as_tensor(sigma, dtype=y_hat.dtype, device=y_hat.device)") -> str:
    """A gaussian_nll returning ``result`` of the residual ``r``."""
    return (f"def gaussian_nll(y_hat, y, sigma):\n    {first}\n    r = y.reshape(y_hat.shape) - y_hat\n"
            f"    return {result}\n")


NLL = "0.5 * torch.log(2 * math.pi * sigma ** 2) + r ** 2 / (2 * sigma ** 2)"
GN_SUM = gaussian_nll(f"({NLL}).sum()")
GN_SHAPE = gaussian_nll(f"({NLL}).mean().reshape(1)")
GN_FLOAT_SIGMA = gaussian_nll(f"({NLL}).mean()", first="pass")
GN_MATH_LOG = gaussian_nll("0.5 * math.log(2 * math.pi * sigma ** 2) + (r ** 2).mean() / (2 * sigma ** 2)", first="pass")
GN_BROADCASTS = """
def gaussian_nll(y_hat, y, sigma):
    sigma = torch.as_tensor(sigma, dtype=y_hat.dtype)
    return (0.5 * torch.log(2 * math.pi * sigma ** 2) + (y - y_hat) ** 2 / (2 * sigma ** 2)).mean()
"""


def mle_sigma(result: str) -> str:
    return f"def mle_sigma(y_hat, y):\n    r = y.reshape(y_hat.shape) - y_hat\n    return {result}\n"


MS_VARIANCE = mle_sigma("(r ** 2).mean()")
MS_STD = mle_sigma("r.std()")
MS_SHAPE = mle_sigma("torch.sqrt((r ** 2).mean(0))")
MS_BROADCASTS = "def mle_sigma(y_hat, y):\n    return torch.sqrt(((y - y_hat) ** 2).mean())\n"


def best_constant(l2: str, l1: str, other: str = 'raise ValueError(f"unknown loss {loss!r}")') -> str:
    return (f"def best_constant(y, loss):\n    if loss == 'l2':\n        return {l2}\n"
            f"    if loss == 'l1':\n        return {l1}\n    {other}\n")


BC_MEDIAN_FOR_L2 = best_constant("y.median()", "y.median()")
BC_MEAN_FOR_L1 = best_constant("y.mean()", "y.mean()")
BC_DIM0 = best_constant("y.mean(0)", "y.median(0).values")
BC_FLOAT32 = best_constant("torch.tensor(float(y.mean()))", "torch.tensor(float(y.median()))")
BC_NO_RAISE = best_constant("y.mean()", "y.median()", other="return None")
BC_MEDIAN_WITH_DIM = best_constant("y.mean()", "torch.median(y, dim=0)")


def ridge(system: str, ret: str = "return torch.linalg.solve(A, X.T @ y.reshape(-1, 1))", first: str = "") -> str:
    """A ridge that builds the system matrix ``A`` and returns."""
    return ("def ridge(X, y, lam):\n" + (f"    {first}\n" if first else "")
            + "    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)\n"
            + f"    A = {system}\n    {ret}\n")


RIDGE = "X.T @ X + lam * eye"
RI_NO_LAMBDA = ridge("X.T @ X")                                  # the plain normal equations
RI_LAMBDA_N = ridge("X.T @ X + lam * len(X) * eye")
RI_LAMBDA_EVERYWHERE = ridge("X.T @ X + lam")
RI_FLAT_Y = ridge(RIDGE, ret="return torch.linalg.solve(A, X.T @ y)")
RI_SHAPE = ridge(RIDGE, ret="return torch.linalg.solve(A, X.T @ y.reshape(-1, 1)).reshape(-1)")
RI_FLOAT64 = ridge(RIDGE, first="X, y = X.double(), y.double()   # float64 for accuracy")
RI_INV = ridge(RIDGE, ret="return torch.linalg.inv(A) @ X.T @ y.reshape(-1, 1)")


def req(req_id: str, exercise: str, source: str, phrase: str) -> Case:
    """The corpus case of one requirement row: the exercise's cell replaced by ``source``, its
    feedback saying ``phrase``."""
    return requirement_case(CHAPTER, req_id, replace={exercise: source}, messages={exercise: phrase})


CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    req("normal_equation.affine", "normal_equation", NE_NO_BIAS, "normal_equation(X (20, 2)"),
    req("normal_equation.flat_labels", "normal_equation", NE_FLAT_Y, "returned shape (2,); expected (2, 1)"),
    req("normal_equation.shapes", "normal_equation", NE_W_SHAPE, "the trailing dimension of size 1 is missing"),
    req("normal_equation.dtype_device", "normal_equation", NE_FLOAT64, "returned dtype torch.float64"),
    req("normal_equation.solve", "normal_equation", NE_INV, "torch.linalg.inv"),
    req("normal_equation.no_lstsq", "normal_equation", NE_LSTSQ, "torch.linalg.lstsq"),
    req("gaussian_nll.mean", "gaussian_nll", GN_SUM, "sum over examples instead of the mean"),
    req("gaussian_nll.scalar", "gaussian_nll", GN_SHAPE, "returned shape (1,); expected ()"),
    req("gaussian_nll.flat_labels", "gaussian_nll", GN_BROADCASTS, "broadcasts to (n, n)"),
    req("gaussian_nll.sigma", "gaussian_nll", GN_FLOAT_SIGMA, "must be tensor, not float"),
    req("gaussian_nll.torch_ops", "gaussian_nll", GN_MATH_LOG, "gradient with respect to sigma"),
    req("mle_sigma.values", "mle_sigma", MS_VARIANCE, "instead of σ"),
    Case("mle_sigma_uses_std", replace={"mle_sigma": MS_STD}, scores={"mle_sigma": 0},
         messages={"mle_sigma": "torch.std subtracts their mean"}),
    req("mle_sigma.scalar", "mle_sigma", MS_SHAPE, "returned shape (1,); expected ()"),
    req("mle_sigma.flat_labels", "mle_sigma", MS_BROADCASTS, "reshape y to y_hat's shape"),
    req("best_constant.l2", "best_constant", BC_MEDIAN_FOR_L2, "returned the median"),
    req("best_constant.l1", "best_constant", BC_MEAN_FOR_L1, "that is the mean"),
    req("best_constant.scalar", "best_constant", BC_DIM0, "expected a scalar tensor, shape ()"),
    req("best_constant.dtype", "best_constant", BC_FLOAT32, "returned dtype torch.float32"),
    req("best_constant.bad_loss", "best_constant", BC_NO_RAISE, "expected a valueerror"),
    Case("best_constant_median_with_dim", replace={"best_constant": BC_MEDIAN_WITH_DIM},
         scores={"best_constant": 1.5}, messages={"best_constant": "expected a scalar tensor"}),
    req("ridge.closed_form", "ridge", RI_LAMBDA_N, "λ·n on the diagonal"),
    Case("ridge_plain_normal_equations", replace={"ridge": RI_NO_LAMBDA}, scores={"ridge": 0},
         messages={"ridge": "the input matrix is singular"}),
    Case("ridge_lambda_everywhere", replace={"ridge": RI_LAMBDA_EVERYWHERE}, scores={"ridge": 0},
         messages={"ridge": "on the diagonal only"}),
    req("ridge.flat_labels", "ridge", RI_FLAT_Y, "expected (3, 1)"),
    req("ridge.shape", "ridge", RI_SHAPE, "the trailing dimension of size 1 is missing"),
    req("ridge.dtype_device", "ridge", RI_FLOAT64, "returned dtype torch.float64"),
    req("ridge.solve", "ridge", RI_INV, "torch.linalg.inv"),
    Case("ridge_dual_form", replace={"ridge": """
        def ridge(X, y, lam):
            eye = torch.eye(X.shape[0], dtype=X.dtype, device=X.device)
            return X.T @ torch.linalg.solve(X @ X.T + lam * eye, y.reshape(-1, 1))
        """}),
]

# Realistic wrong answers for each self-check: each must fail its own self-check only.
WRONG = {
    "normal_equation": [NE_NO_BIAS, NE_FLAT_Y, NE_W_SHAPE, NE_FLOAT64, NE_LSTSQ, NE_INV],
    "gaussian_nll": [GN_SUM, GN_SHAPE, GN_FLOAT_SIGMA, GN_MATH_LOG, GN_BROADCASTS],
    "mle_sigma": [MS_VARIANCE, MS_STD, MS_SHAPE, MS_BROADCASTS],
    "best_constant": [BC_MEDIAN_FOR_L2, BC_MEAN_FOR_L1, BC_DIM0, BC_FLOAT32, BC_NO_RAISE, BC_MEDIAN_WITH_DIM],
    "ridge": [RI_NO_LAMBDA, RI_LAMBDA_N, RI_LAMBDA_EVERYWHERE, RI_FLAT_Y, RI_SHAPE, RI_FLOAT64, RI_INV],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch03"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


def test_selfchecks_judge_one_exercise(tmp_path):
    assert_selfchecks_judge_one_exercise(CHAPTER, WRONG, tmp_path)


def numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def test_text_says_what_the_outputs_show():
    forms = stored_text(CHAPTER, "code-d502e689")
    scalar, vector = (float(v) for v in re.findall(r"form, house 0: (\S+)", forms))
    assert scalar == vector, "'The three forms compute the same numbers'"
    fit = stored_text(CHAPTER, "code-d48d0f38").splitlines()
    w_hat, w_true = numbers(fit[0])[:2], numbers(fit[0])[2:]
    b_hat, b_true = numbers(fit[1])
    assert max(abs(a - b) for a, b in zip(w_hat, w_true)) <= 0.15, "'within about a tenth of the truth'"
    assert abs(b_hat - b_true) > max(abs(a - b) for a, b in zip(w_hat, w_true)), "'the bias is off by more'"
    minima = [numbers(line)[-1] for line in stored_text(CHAPTER, "code-5160f0cf").splitlines()]
    assert len(minima) == 4 and len(set(minima)) == 1, "'they all bottom out at the same w_area'"
    assert abs(minima[0] - w_hat[0]) <= 0.005, "'... exactly where the normal equations put it'"
    sigma = float(re.search(r"maximum-likelihood sigma: (\S+)", stored_text(CHAPTER, "code-0a2075c5")).group(1))
    assert abs(sigma - 20) < 1, "'the estimate is close to the σ = 20 we used'"
    mean, median = (float(v) for v in re.search(r"mean \(best for l2\): (\S+)\s+median \(best for l1\): (\S+)",
                                                 stored_text(CHAPTER, "code-5759f67f")).groups())
    assert mean > 310 and 210 <= median <= 310, "'the mean is dragged far from every ordinary price, the median stays among them'"


def test_display_equations_fit_a_phone():
    assert_equations_fit_a_phone(CHAPTER)


def test_why_the_log_and_the_notes_boxes():
    """03 · c16: densities can exceed 1 — the product over- or underflows, the sum of logs does
    not; the notes' "divide lr by n for a mean" and "MLE is Bayesian" are corrected, each by
    its cell."""
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert "numbers below 1" not in text
    logs = stored_text(CHAPTER, "code-7b623ad4").splitlines()
    assert "peaks near 40" in text and 39 < numbers(logs[0].split("to ")[1])[0] < 40.5
    assert "their product = inf" in logs[0] and "their product = 0.0" in logs[1]
    assert all(abs(prose.number_after(line, "sum of their logs =")) < 1e5 for line in logs)
    assert text.count(":::{admonition} From the notes") == 2
    steps = stored_text(CHAPTER, "code-b2712473")
    assert "**multiply** the learning rate by $n$" in text
    assert numbers(steps.splitlines()[0])[1:] == pytest.approx([200.0, 200.0])
    assert "lr / n: the same step as the sum with lr? False" in steps and "lr * n: the same step as the sum with lr? True" in steps
    assert "frequentist point estimate" in text and "$\\lambda = \\sigma^2/\\tau^2$" in text
    bayes = stored_text(CHAPTER, "code-e30685cf").splitlines()
    assert all(prose.number_after(line, "|gradient of -log posterior| =") < 1e-8 for line in bayes[:3])
    w_wide, w_ml = numbers(bayes[2].split("MAP w =")[1])[:2], numbers(bayes[3])
    assert w_wide == pytest.approx(w_ml, abs=2e-3), "'as the prior flattens MAP becomes maximum likelihood'"


def test_ridge_section_quotes_its_outputs():
    from tests import prose
    text = prose.markdown(CHAPTER)
    dup = stored_text(CHAPTER, "code-3dcacadc").splitlines()
    effects = [prose.number_after(line, "area effect per m² =") for line in dup[:2]]
    losses = [prose.number_after(line, "loss =") for line in dup]
    splits = [numbers(line.split("w = ")[1])[0] for line in dup[:2]]
    assert "both effects per m² agree with it" in text and effects == [prose.number_after(dup[2], "w_area =")] * 2
    assert "Both fits are as good as the one with the area once" in text and len(set(losses)) == 1
    assert "a price that falls with one of the two area columns" in text and min(splits) < 0
    ridge_out = stored_text(CHAPTER, "code-ae606efe").splitlines()
    w1 = numbers(ridge_out[0].split("w = ")[1])[:3]
    assert "in proportion to their scale" in text and w1[2] / w1[0] == pytest.approx(10.764, rel=0.03)
    assert "a small $\\lambda$ hardly changes the fit" in text
    assert prose.number_after(ridge_out[0], "loss =") == losses[0]


def test_answers_quote_their_outputs():
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    q1 = stored_text(CHAPTER, "code-ba5aa8e7").splitlines()
    assert "rank $d + 1$" in text and numbers(q1[0]) == [4, 3]
    assert len({prose.number_after(line, "loss =") for line in q1[1:]}) == 1, "'all with the same loss'"
    q2 = {line.split(":")[0].strip(): line for line in stored_text(CHAPTER, "code-67bce479").splitlines()}
    assert prose.number_after(q2["centred x"], "off-diagonal") == 0
    assert prose.number_after(q2["centred x"], "condition number") < prose.number_after(q2["raw x"], "condition number")
    assert prose.number_after(q2["standardised x"], "condition number") == 1.0
    q3 = stored_text(CHAPTER, "code-c3687349")
    assert prose.number_after(q3, "on the grid:") == prose.number_after(q3, "mean |residual|:")
    q4 = stored_text(CHAPTER, "code-f57a6a77").splitlines()
    for line in q4:
        assert prose.number_after(line, "sigma² =") == pytest.approx(prose.number_after(line, "/ n ="), abs=0.05)
    assert "$\\hat\\sigma = 0$" in text and prose.number_after(q4[-1], "sigma² =") == 0
