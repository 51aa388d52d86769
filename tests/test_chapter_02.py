"""Chapter 02: the solutions score full marks, the stubs zero, and each realistic wrong
submission loses exactly the points it should, with a message naming the problem."""
import pytest

from autograder import notebooks, paths
from tests.corpus import SOLUTION, STUB, Case, assert_case, grade_corpus

CHAPTER = "02_autograd_computation_graphs"


def _value_source() -> str:
    """The solution's class Value, for wrong variants made by small edits."""
    nb = notebooks.read_notebook(paths.solutions_notebook(CHAPTER))
    return next(notebooks.source(c) for c in notebooks.code_cells(nb) if notebooks.grade_id(c) == "Value")


def _value_with(*edits: tuple[str, str]) -> str:
    src = _value_source()
    for old, new in edits:
        assert old in src, f"the solution's Value no longer contains {old!r}"
        src = src.replace(old, new)
    return src


TOPO_BACKWARD = """    def backward(self):
        order, seen = [], set()
        def visit(node):
            if id(node) not in seen:
                seen.add(id(node))
                for child in node._prev:
                    visit(child)
                order.append(node)
        visit(self)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
"""
RECURSIVE_BACKWARD = """    def backward(self):
        self.grad = 1.0
        self._propagate()

    def _propagate(self):
        self._backward()
        for child in self._prev:
            child._propagate()
"""
REVERSED_OPS = """    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return (-self) + other
"""

CASES = [
    SOLUTION,
    STUB,
    Case("numerical_grad_forward_differences", replace={"numerical_grad": """
        def numerical_grad(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            fx = float(f(x))
            for i in range(x.numel()):
                step = torch.zeros_like(x)
                step.view(-1)[i] = h
                grad.view(-1)[i] = (float(f(x + step)) - fx) / h
            return grad
        """}, scores={"numerical_grad": 1}, messages={"numerical_grad": "forward differences"}),
    Case("numerical_grad_ignores_h", replace={"numerical_grad": """
        def numerical_grad(f, x, h=1e-5):
            grad = torch.zeros_like(x)
            for i in range(x.numel()):
                step = torch.zeros_like(x)
                step.view(-1)[i] = 1e-5
                grad.view(-1)[i] = (float(f(x + step)) - float(f(x - step))) / 2e-5
            return grad
        """}, scores={"numerical_grad": 3.5}, messages={"numerical_grad": "use the h passed in"}),
    Case("numerical_grad_uses_autograd", replace={"numerical_grad": """
        def numerical_grad(f, x, h=1e-5):
            x = x.detach().clone().requires_grad_()
            f(x).backward()
            return x.grad
        """}, scores={"numerical_grad": 3}, messages={"numerical_grad": "backward"}),
    Case("grad_of_changes_requires_grad", replace={"grad_of": """
        def grad_of(f, x):
            x.requires_grad_(True)
            f(x).backward()
            g = x.grad.clone()
            x.grad = None
            return g
        """}, scores={"grad_of": 3}, messages={"grad_of": "requires_grad is True"}),
    Case("grad_of_accumulates", replace={"grad_of": """
        def grad_of(f, x):
            x.requires_grad_(True)
            f(x).backward()
            return x.grad
        """}, scores={"grad_of": 2}, messages={"grad_of": "twice the gradient"}),
    Case("train_step_never_clears_gradients", replace={"train_step": """
        def train_step(w, b, X, y, lr):
            y_hat = X @ w + b
            loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            return loss.item()
        """}, scores={"train_step": 2.5}, messages={"train_step": "are the gradients cleared"}),
    Case("train_step_returns_tensor", replace={"train_step": """
        def train_step(w, b, X, y, lr):
            y_hat = X @ w + b
            loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
                w.grad.zero_()
                b.grad.zero_()
            return loss
        """}, scores={"train_step": 3.5}, messages={"train_step": "loss.item()"}),
    Case("train_step_without_half", replace={"train_step": """
        def train_step(w, b, X, y, lr):
            w.grad, b.grad = None, None
            y_hat = X @ w + b
            loss = ((y_hat - y.reshape(y_hat.shape)) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            return loss.item()
        """}, scores={"train_step": 0.5}, messages={"train_step": "is the ½ missing"}),
    Case("train_step_broadcasts_flat_y", replace={"train_step": """
        def train_step(w, b, X, y, lr):
            w.grad, b.grad = None, None
            loss = ((X @ w + b - y) ** 2 / 2).mean()
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                b -= lr * b.grad
            return loss.item()
        """}, scores={"train_step": 3.5}, messages={"train_step": "reshape y"}),
    Case("value_assigns_gradients", replace={"Value": _value_with(
        ("self.grad += ", "self.grad = "), ("other.grad += ", "other.grad = "))},
         scores={"Value": 2.5 + 0.5}, messages={"Value": "PyTorch's gradient"}),
    Case("value_without_topological_order", replace={"Value": _value_with(
        (TOPO_BACKWARD, RECURSIVE_BACKWARD))},
         scores={"Value": 3}, messages={"Value": "PyTorch's gradient"}),
    Case("value_wrong_tanh_derivative", replace={"Value": _value_with(
        ("(1 - out.data ** 2)", "(1 - out.data)"))},
         scores={"Value": 1.5}, messages={"Value": "PyTorch's gradient"}),
    Case("value_without_reversed_operators", replace={"Value": _value_with((REVERSED_OPS, ""))},
         scores={"Value": 3.5}, messages={"Value": "unsupported operand"}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch02"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)
