"""Chapter 07: the solutions score full marks, the stubs and code that does nothing zero, each
row of the requirement table has a submission that loses exactly that row's points (the
two-class logistic map and the cost-weighted decision included), a broken
`softmax` or `one_hot` costs `softmax_ce_grad` nothing, each self-check judges its own
exercise only, and the text agrees with its outputs and fits a phone's width."""
import re

import pytest

from autograder import notebooks, paths
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          doing_nothing_cases, grade_corpus, requirement_case)
from tests.book_text import assert_equations_fit_a_phone, stored_text
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "07_softmax_regression"
LINEAR_CELL = "code-e4b25a00"  # nn.Linear(784, 10) and its parameter count
GRADIENT_CELL = "code-adf01968"  # softmax_ce_grad against autograd and finite differences
HESSIAN_CELL = "code-becd2c6b"  # diag(p) - p pT against torch.autograd.functional.hessian
UNIFORM_CELL = "code-117df3f7"  # the answer to question 3: log 10


def req(req_id: str, source: str, **kwargs) -> Case:
    """The corpus case for one requirement row: its exercise's cell replaced by ``source``."""
    return requirement_case(CHAPTER, req_id, replace={req_id.split(".")[0]: source}, **kwargs)


STABLE_SOFTMAX = """
    def softmax(X):
        X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
        return (X_exp / X_exp.sum(1, keepdim=True)){suffix}
    """
ONE_HOT = """
    def one_hot(y, num_classes):
        return (y.reshape(-1, 1) == torch.arange(num_classes, device=y.device)){suffix}
    """
NAIVE_SOFTMAX = """
    def softmax(X):
        X_exp = torch.exp(X)
        return X_exp / X_exp.sum(1, keepdim=True)
    """
CE_WITH_A_LOOP = """
    def cross_entropy(y_hat, y):
        return torch.stack([-torch.log(y_hat[i, y[i]]) for i in range(len(y))])
    """
CE_MEAN = """
    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y]).mean()
    """
CEFL_THROUGH_PROBABILITIES = """
    def cross_entropy_from_logits(O, y):
        return cross_entropy(softmax(O), y)
    """
CEFL_LOGSUMEXP = """
    def cross_entropy_from_logits(O, y):
        return torch.logsumexp(O, dim=1) - O[range(len(O)), y]
    """
GRAD_NOT_AVERAGED = """
    def softmax_ce_grad(O, y):
        return softmax(O) - one_hot(y, O.shape[1]).to(O.dtype)
    """
GRAD_BY_AUTOGRAD = """
    def softmax_ce_grad(O, y):
        O = O.detach().clone().requires_grad_()
        cross_entropy_from_logits(O, y).mean().backward()
        return O.grad
    """
ENTROPY_IN_BITS = """
    def entropy(p):
        return -torch.special.xlogy(p, p).sum(-1) / math.log(2)
    """
ENTROPY_NAN_AT_ZERO = """
    def entropy(p):
        return -(p * torch.log(p)).sum(-1)
    """
LOGISTIC_CLASS_ZERO = """
    def logistic_from_softmax(W, b):
        return W[:, 0] - W[:, 1], b[0] - b[1]
    """
DECISION_TRANSPOSED = """
    def min_cost_decision(P, cost):
        return (P @ cost.T).argmin(1)
    """
DECISION_ARGMAX = """
    def min_cost_decision(P, cost):
        return P.argmax(1)
    """
DECISION_WITH_A_LOOP = """
    def min_cost_decision(P, cost):
        return torch.stack([(p @ cost).argmin() for p in P])
    """
STANDS_IN = "graded with a working"

REQUIREMENT_CASES = [
    req("one_hot.shape", ONE_HOT.format(suffix=".to(torch.float32).T"),
        messages={"one_hot": "returned shape"}),
    req("one_hot.float32", ONE_HOT.format(suffix=".long()"),
        messages={"one_hot": "dtype torch.int64; expected torch.float32"}),
    req("one_hot.device", ONE_HOT.format(suffix=".to(torch.float32).to('meta')")),
    req("one_hot.ones", """
        def one_hot(y, num_classes):
            return ((y.reshape(-1, 1) + 1) % num_classes == torch.arange(num_classes)).to(torch.float32)
        """),
    # one bug, one penalty: softmax_ce_grad calls this one_hot, which fails its own checks
    req("one_hot.num_classes", """
        def one_hot(y, num_classes):
            return (y.reshape(-1, 1) == torch.arange(int(y.max()) + 1)).to(torch.float32)
        """, messages={"one_hot": "num_classes columns", "softmax_ce_grad": STANDS_IN + " `one_hot`"}),
    req("one_hot.no_library", """
        def one_hot(y, num_classes):
            return F.one_hot(y, num_classes).to(torch.float32)
        """, messages={"one_hot": "F.one_hot"}),
    req("softmax.rows", """
        def softmax(X):
            X_exp = torch.exp(X - X.max(dim=0, keepdim=True).values)
            return X_exp / X_exp.sum(0, keepdim=True)
        """, messages={"softmax": "each row must sum to 1"}),
    # one bug, one penalty: softmax_ce_grad, built on the naive softmax, is graded with a working one
    req("softmax.stable", NAIVE_SOFTMAX,
        messages={"softmax": "subtract each row's max", "softmax_ce_grad": STANDS_IN + " `softmax`"}),
    req("softmax.dtype", STABLE_SOFTMAX.format(suffix=".to(torch.float32)"),
        messages={"softmax": "dtype torch.float32; expected torch.float64"}),
    req("softmax.device", STABLE_SOFTMAX.format(suffix=".to('meta')")),
    req("softmax.no_library", """
        def softmax(X):
            return torch.softmax(X, dim=1)
        """, messages={"softmax": "torch.softmax"}),
    req("entropy.nats", ENTROPY_IN_BITS, messages={"entropy": "in bits"}),
    req("entropy.last_dim", """
        def entropy(p):
            return -torch.special.xlogy(p, p).sum()
        """, messages={"entropy": "sum over the last dimension only"}),
    req("entropy.scalar", """
        def entropy(p):
            return -torch.special.xlogy(p, p).sum(1)
        """, messages={"entropy": "IndexError"}),
    req("entropy.zeros", ENTROPY_NAN_AT_ZERO, messages={"entropy": "0 * -inf = nan"}),
    req("cross_entropy.per_example", """
        def cross_entropy(y_hat, y):
            return -torch.log(y_hat[range(len(y_hat)), y]).reshape(-1, 1)
        """, messages={"cross_entropy": "returned shape (6, 1)"}),
    req("cross_entropy.no_loops", CE_WITH_A_LOOP, messages={"cross_entropy": "listcomp loop"}),
    req("cross_entropy.no_average", CE_MEAN, messages={"cross_entropy": "without averaging over the batch"}),
    req("cross_entropy.zeros", """
        def cross_entropy(y_hat, y):
            Y = (y.reshape(-1, 1) == torch.arange(y_hat.shape[1])).to(y_hat.dtype)
            return -(Y * torch.log(y_hat)).sum(1)
        """, messages={"cross_entropy": "0 * log 0"}),
    req("cross_entropy_from_logits.per_example", """
        def cross_entropy_from_logits(O, y):
            m = O.max(dim=1, keepdim=True).values
            return (m.reshape(-1) + torch.log(torch.exp(O - m).sum(1)) - O[range(len(O)), y]).mean()
        """, messages={"cross_entropy_from_logits": "without averaging over the batch"}),
    req("cross_entropy_from_logits.stable", CEFL_THROUGH_PROBABILITIES,
        messages={"cross_entropy_from_logits": "never take the log of a probability"}),
    req("cross_entropy_from_logits.no_library", CEFL_LOGSUMEXP,
        messages={"cross_entropy_from_logits": "torch.logsumexp"}),
    req("softmax_ce_grad.mean", GRAD_NOT_AVERAGED, messages={"softmax_ce_grad": "divide by n"}),
    req("softmax_ce_grad.dtype", """
        def softmax_ce_grad(O, y):
            return ((softmax(O) - one_hot(y, O.shape[1]).to(O.dtype)) / len(O)).to(torch.float32)
        """, messages={"softmax_ce_grad": "dtype torch.float32; expected torch.float64"}),
    req("softmax_ce_grad.stable", """
        def softmax_ce_grad(O, y):
            E = torch.exp(O)
            return (E / E.sum(1, keepdim=True) - one_hot(y, O.shape[1]).to(O.dtype)) / len(O)
        """, messages={"softmax_ce_grad": "nan"}),
    req("softmax_ce_grad.no_autograd", GRAD_BY_AUTOGRAD, messages={"softmax_ce_grad": "backward"}),
    req("logistic_from_softmax.class_one", LOGISTIC_CLASS_ZERO,
        messages={"logistic_from_softmax": "the logit of class 0"}),
    req("logistic_from_softmax.shapes", """
        def logistic_from_softmax(W, b):
            return (W[:, 1] - W[:, 0]).reshape(-1, 1), (b[1] - b[0]).reshape(1)
        """, messages={"logistic_from_softmax": "returned shape"}),
    req("logistic_from_softmax.dtype", """
        def logistic_from_softmax(W, b):
            return (W[:, 1] - W[:, 0]).float(), (b[1] - b[0]).float()
        """, messages={"logistic_from_softmax": "dtype torch.float32; expected torch.float64"}),
    req("min_cost_decision.expected_cost", DECISION_TRANSPOSED,
        messages={"min_cost_decision": "transposed"}),
    req("min_cost_decision.least", """
        def min_cost_decision(P, cost):
            return (P @ cost).argmax(1)
        """, messages={"min_cost_decision": "take the argmin"}),
    req("min_cost_decision.int64", """
        def min_cost_decision(P, cost):
            return (P @ cost).argmin(1).float()
        """, messages={"min_cost_decision": "dtype torch.float32; expected torch.int64"}),
    req("min_cost_decision.no_loops", DECISION_WITH_A_LOOP, messages={"min_cost_decision": "loop"}),
]

CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    *REQUIREMENT_CASES,
    # one bug, one penalty, when the cell is missing altogether
    Case("softmax_cell_deleted", delete=("softmax",), scores={"softmax": 0},
         messages={"softmax": "missing", "softmax_ce_grad": STANDS_IN + " `softmax`"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch07"))


def test_a_hint_about_softmax_only_where_the_code_calls_it(results):
    """Issue 21: the stable check's "it calls your softmax" only for code that calls softmax."""
    message = {e.exercise: e.message for e in results["req_softmax_ce_grad.stable"].exercises}["softmax_ce_grad"]
    assert "subtract each row's max" in message and "softmax" not in message.split("subtract")[1], message


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


WRONG = {
    "one_hot": [ONE_HOT.format(suffix=".long()"), """
        def one_hot(y, num_classes):
            return F.one_hot(y, num_classes).float()
        """],
    "softmax": [NAIVE_SOFTMAX, "def softmax(X):\n    return torch.softmax(X, dim=1)"],
    "entropy": [ENTROPY_IN_BITS, ENTROPY_NAN_AT_ZERO],
    "cross_entropy": [CE_WITH_A_LOOP, CE_MEAN],
    "cross_entropy_from_logits": [CEFL_THROUGH_PROBABILITIES, CEFL_LOGSUMEXP],
    "softmax_ce_grad": [GRAD_NOT_AVERAGED, GRAD_BY_AUTOGRAD],
    "logistic_from_softmax": [LOGISTIC_CLASS_ZERO],
    "min_cost_decision": [DECISION_TRANSPOSED, DECISION_ARGMAX],
}


def test_each_selfcheck_judges_its_own_exercise(tmp_path):
    import textwrap
    wrong = {ex: [textwrap.dedent(src).strip() for src in sources] for ex, sources in WRONG.items()}
    assert_selfchecks_judge_one_exercise(CHAPTER, wrong, tmp_path)


# -- text and figures -----------------------------------------------------------------------
def test_equations_fit_a_phone():
    assert_equations_fit_a_phone(CHAPTER)


def test_numbers_in_the_text_are_the_outputs():
    prose = "\n".join(notebooks.source(c) for c in notebooks.read_notebook(
        paths.release_notebook(CHAPTER))["cells"] if c["cell_type"] == "markdown")
    assert "**7,850** parameters" in prose and "Gaussian noise in chapter 03" in prose
    assert "7850 parameters" in stored_text(CHAPTER, LINEAR_CELL)
    shown = stored_text(CHAPTER, GRADIENT_CELL)
    autograd = float(re.search(r"analytic - autograd\|:\s+([\d.e+-]+)", shown).group(1))
    finite = float(re.search(r"analytic - finite differences\|:\s+([\d.e+-]+)", shown).group(1))
    assert "float64 rounding ($10^{-17}$)" in prose and autograd < 1e-15
    assert "*rounding* error ($10^{-10}$)" in prose and 1e-12 < finite < 1e-8
    assert "truncation error" not in prose.split("*rounding* error")[0]
    hessian = stored_text(CHAPTER, HESSIAN_CELL)
    assert float(re.search(r"\(diag\(p\) - p pT\)\|: ([\d.e+-]+)", hessian).group(1)) < 1e-14
    low = float(re.search(r"eigenvalues from ([-\d.e+]+)", hessian).group(1))
    assert "positive semi-definite" in prose and "eigenvalue 0" in prose and abs(low) < 1e-14, hessian
    assert "$\\operatorname{diag}(\\mathbf{p}) - \\mathbf{p}\\mathbf{p}^\\top$" in prose


def test_answers_quote_their_outputs():
    prose = " ".join(" ".join(notebooks.source(c) for c in notebooks.read_notebook(
        paths.release_notebook(CHAPTER))["cells"] if c["cell_type"] == "markdown").split())
    assert prose.count(":::{dropdown} Answer") == 5
    uniform = stored_text(CHAPTER, UNIFORM_CELL)
    values = [float(v) for v in re.findall(r"\d+\.\d{4}", uniform)]
    assert "$\\log 10 \\approx 2.303$ nats" in prose and all(abs(v - 2.3026) < 1e-4 for v in values), values
    assert "2000.3 for the last row" in prose and "2000.3132])" in stored_text(CHAPTER, "code-63d392ab")
    row_sum = float(re.search(r"row sum of the gradient\|:\s+([\d.e+-]+)", stored_text(CHAPTER, GRADIENT_CELL)).group(1))
    assert "a largest row sum of $10^{-17}$" in prose and 1e-18 < row_sum < 1e-16, row_sum
