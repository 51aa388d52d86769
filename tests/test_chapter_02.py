"""Chapter 02: the solutions score full marks, the stubs and code that does nothing zero, and
each realistic wrong submission — one per requirement the prompts state — loses exactly the
points it should, with a message naming the problem; the training check passes every correct
variant and catches every realistic bug; each self-check judges its own exercise; the text
says what its outputs show and fits a phone."""
import re

import pytest

from autograder import notebooks, paths
from autograder.checks import ch02_autograd_computation_graphs as checks
from tests.book_text import assert_equations_fit_a_phone, stored_text
from tests.corpus import (SOLUTION, STUB, Case, assert_case, assert_requirements_covered,
                          check_verdicts, doing_nothing_cases, grade_corpus, requirement_case)
from tests.kernel import assert_selfchecks_judge_one_exercise

CHAPTER = "02_autograd_computation_graphs"


# -- wrong answers (each used by the grading corpus and by the self-check matrix) ------------
def numerical_grad(loop_body: str, head: str = "grad = torch.zeros_like(x)", tail: str = "") -> str:
    """A numerical_grad whose loop over the elements of x runs ``loop_body``."""
    body = "\n".join("        " + line for line in loop_body.strip("\n").splitlines())
    return (f"def numerical_grad(f, x, h=1e-5):\n    {head}\n    for i in range(x.numel()):\n"
            f"{body}\n{tail}    return grad\n")


CENTRAL = """
step = torch.zeros_like(x)
step.view(-1)[i] = h
grad.view(-1)[i] = (float(f(x + step)) - float(f(x - step))) / (2 * h)
"""
NG_FORWARD = numerical_grad(CENTRAL.replace("float(f(x - step))) / (2 * h)", "float(f(x))) / h"))
NG_FIXED_H = numerical_grad(CENTRAL.replace("= h", "= 1e-5").replace("(2 * h)", "2e-5"))
NG_FLAT = numerical_grad(CENTRAL.replace("grad.view(-1)[i]", "grad[i]"),
                         head="grad = torch.zeros(x.numel(), dtype=x.dtype)")
NG_FLOAT32 = numerical_grad(CENTRAL, head="grad = torch.zeros(x.shape)")
NG_ITEM = numerical_grad(CENTRAL.replace("float(f(x + step)) - float(f(x - step))",
                                         "f(x + step).item() - f(x - step).item()"))
NG_FLAT_CALLS = numerical_grad("""
flat = x.reshape(-1)
step = torch.zeros_like(flat)
step[i] = h
grad.view(-1)[i] = (float(f(flat + step)) - float(f(flat - step))) / (2 * h)
""")
NG_IN_PLACE = numerical_grad("""
old = x.view(-1)[i].item()
x.view(-1)[i] = old + h
up = float(f(x))
x.view(-1)[i] = old - h
grad.view(-1)[i] = (up - float(f(x))) / (2 * h)
""")
NG_AUTOGRAD_CHECK = numerical_grad(CENTRAL, tail="""    probe = x.detach().clone().requires_grad_()
    out = f(probe)
    if isinstance(out, torch.Tensor) and out.requires_grad:   # compared with autograd while debugging
        out.backward()
        if not torch.allclose(grad, probe.grad, atol=1e-3):
            print("numerical_grad and autograd disagree")
""")
GO_FLAT = """
def grad_of(f, x):
    x_ = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x_), x_)
    return grad.reshape(-1)
"""
GO_FINITE = """
def grad_of(f, x):
    xd, grad = x.detach().double(), torch.zeros(x.shape, dtype=torch.float64)
    for i in range(x.numel()):
        step = torch.zeros_like(xd)
        step.view(-1)[i] = 1e-6
        grad.view(-1)[i] = (float(f(xd + step)) - float(f(xd - step))) / 2e-6
    return grad.to(x.dtype)
"""
GO_REQUIRES_GRAD = """
def grad_of(f, x):
    x.requires_grad_(True)
    f(x).backward()
    g = x.grad.clone()
    x.grad = None
    return g
"""
GO_ACCUMULATES = """
def grad_of(f, x):
    x.requires_grad_(True)
    f(x).backward()
    return x.grad
"""
GO_CACHED_BUFFER = """
_buffer = None

def grad_of(f, x):
    global _buffer
    if _buffer is None or _buffer.shape != x.shape or _buffer.dtype != x.dtype:
        _buffer = torch.zeros_like(x, requires_grad=True)    # made once, reused for speed
    with torch.no_grad():
        _buffer.copy_(x)
    f(_buffer).backward()
    return _buffer.grad.clone()
"""

# train_step, from pieces: each variant changes one of them.
CLEAR = "w.grad, b.grad = None, None"
LOSS = "y_hat = X @ w + b\nloss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()"
UPDATE = "with torch.no_grad():\n    w -= lr * w.grad\n    b -= lr * b.grad"


def step(*parts: str, ret: str = "return loss.item()") -> str:
    """A train_step whose body is ``parts`` (lines of code) and then ``ret``."""
    body = "\n".join(parts + (ret,))
    return "def train_step(w, b, X, y, lr):\n" + "\n".join("    " + ln for ln in body.splitlines()) + "\n"


def with_loss(expression: str) -> str:
    return f"y_hat = X @ w + b\nloss = {expression}"


def with_update(w_step: str, b_step: str) -> str:
    return f"with torch.no_grad():\n    w -= {w_step}\n    b -= {b_step}"


TS_NEVER_CLEARS = step(LOSS, "loss.backward()", UPDATE)
TS_NO_HALF = step(CLEAR, with_loss("((y_hat - y.reshape(y_hat.shape)) ** 2).mean()"), "loss.backward()", UPDATE)
TS_NO_UPDATE = step(LOSS, "loss.backward()", "w.grad.zero_()\nb.grad.zero_()", UPDATE)
TS_DATA = step(CLEAR, LOSS, "loss.backward()", "w.data = w.data - lr * w.grad\nb.data = b.data - lr * b.grad")
TS_RECORDED = step(CLEAR, LOSS, "loss.backward()", "w -= lr * w.grad\nb -= lr * b.grad")
TS_TENSOR = step(LOSS, "loss.backward()", UPDATE + "\n    w.grad.zero_()\n    b.grad.zero_()", ret="return loss")
TS_LOSS_AFTER = step(CLEAR, LOSS, "loss.backward()", UPDATE,
                     ret="return ((X @ w + b - y.reshape(-1, 1)) ** 2 / 2).mean().item()")
TS_BROADCASTS = step(CLEAR, "loss = ((X @ w + b - y) ** 2 / 2).mean()", "loss.backward()", UPDATE)

CORRECT_TRAIN_STEPS = {
    "zero_grad_before": step("if w.grad is not None:\n    w.grad.zero_()\n    b.grad.zero_()", LOSS,
                             "loss.backward()", UPDATE),
    "zero_grad_after_update": step(LOSS, "loss.backward()", UPDATE + "\n    w.grad.zero_()\n    b.grad.zero_()"),
    "grad_zeros_like": step("w.grad, b.grad = torch.zeros_like(w), torch.zeros_like(b)", LOSS,
                            "loss.backward()", UPDATE),
    "sum_with_lr_over_n": step(CLEAR, with_loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).sum()"),
                               "loss.backward()", with_update("lr / len(X) * w.grad", "lr / len(X) * b.grad"),
                               ret="return loss.item() / len(X)"),
    "autograd_grad": step(LOSS, "gw, gb = torch.autograd.grad(loss, [w, b])", with_update("lr * gw", "lr * gb")),
    "closed_form_gradient": step("with torch.no_grad():\n    r = X @ w + b - y.reshape(-1, 1)\n"
                                 "    loss = (r ** 2 / 2).mean()\n    w -= lr * X.T @ r / len(X)\n"
                                 "    b -= lr * r.mean(0)"),
    "mse_loss_half": step(CLEAR, with_loss("torch.nn.functional.mse_loss(y_hat, y.reshape(y_hat.shape)) / 2"),
                          "loss.backward()", UPDATE),
    "MSELoss_module": step(CLEAR, with_loss("0.5 * torch.nn.MSELoss()(y_hat, y.view(-1, 1))"),
                           "loss.backward()", UPDATE),
    "half_outside_mean": step(CLEAR, with_loss("0.5 * ((y.reshape(y_hat.shape) - y_hat) ** 2).mean()"),
                              "loss.backward()", UPDATE),
    "pow_sum_over_2n": step(CLEAR, with_loss("(y_hat - y.reshape(y_hat.shape)).pow(2).sum() / (2 * len(X))"),
                            "loss.backward()", UPDATE),
    "square_mean_div2": step(CLEAR, with_loss("torch.mean(torch.square(y_hat - y.reshape(y_hat.shape))) / 2"),
                             "loss.backward()", UPDATE),
    "float64_loss": step(CLEAR, "y_hat = (X @ w + b).double()",
                         "loss = ((y_hat - y.reshape(y_hat.shape).double()) ** 2 / 2).mean()",
                         "loss.backward()", UPDATE),
    "sub_": step(CLEAR, LOSS, "loss.backward()", "with torch.no_grad():\n    w.sub_(lr * w.grad)\n    b.sub_(lr * b.grad)"),
    "data_update": step(CLEAR, LOSS, "loss.backward()", "w.data -= lr * w.grad\nb.data -= lr * b.grad"),
    "copy_": step(CLEAR, LOSS, "loss.backward()",
                  "with torch.no_grad():\n    w.copy_(w - lr * w.grad)\n    b.copy_(b - lr * b.grad)"),
    "add_alpha": step(CLEAR, LOSS, "loss.backward()",
                      "with torch.no_grad():\n    w.add_(w.grad, alpha=-lr)\n    b.add_(b.grad, alpha=-lr)"),
    "addmm": step(CLEAR, "y_hat = torch.addmm(b, X, w)", "loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()",
                  "loss.backward()", UPDATE),
    "matmul_add": step(CLEAR, "y_hat = X.matmul(w).add(b)", "loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()",
                       "loss.backward()", UPDATE),
    "einsum": step(CLEAR, "y_hat = torch.einsum('nd,dk->nk', X, w) + b",
                   "loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()", "loss.backward()", UPDATE),
    "flat_residual": step(CLEAR, "r = (X @ w + b).reshape(-1) - y.reshape(-1)", "loss = (r ** 2).mean() / 2",
                          "loss.backward()", UPDATE),
    "loop_over_params": step(CLEAR, LOSS, "loss.backward()",
                             "with torch.no_grad():\n    for p in (w, b):\n        p -= lr * p.grad"),
    "sgd_optimizer": step("opt = torch.optim.SGD([w, b], lr=lr)", "opt.zero_grad()", LOSS, "loss.backward()", "opt.step()"),
    "float64_update": step(CLEAR, LOSS, "loss.backward()",
                           "with torch.no_grad():\n    w.copy_(w.double() - lr * w.grad.double())\n"
                           "    b.copy_(b.double() - lr * b.grad.double())"),
    "float_of_loss": step(CLEAR, LOSS, "loss.backward()", UPDATE, ret="return float(loss.detach())"),
}
BUGGY_TRAIN_STEPS = {
    "no_half": TS_NO_HALF,
    "sum_not_mean": step(CLEAR, with_loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).sum()"), "loss.backward()", UPDATE),
    "never_clears": TS_NEVER_CLEARS,
    "clears_before_update": TS_NO_UPDATE,
    "updates_w_only": step(CLEAR, LOSS, "loss.backward()", "with torch.no_grad():\n    w -= lr * w.grad"),
    "updates_b_only": step(CLEAR, LOSS, "loss.backward()", "with torch.no_grad():\n    b -= lr * b.grad"),
    "ascends": step(CLEAR, LOSS, "loss.backward()", with_update("-lr * w.grad", "-lr * b.grad")),
    "lr_squared": step(CLEAR, LOSS, "loss.backward()", with_update("lr * lr * w.grad", "lr * lr * b.grad")),
    "lr_ignored": step(CLEAR, LOSS, "loss.backward()", with_update("w.grad", "b.grad")),
    "extra_division_by_n": step(CLEAR, LOSS, "loss.backward()",
                                with_update("lr * w.grad / len(X)", "lr * b.grad / len(X)")),
    "two_steps": step(CLEAR, LOSS, "loss.backward()", UPDATE, UPDATE),
    "no_bias_in_model": step(CLEAR, "y_hat = X @ w",
                             "loss = ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean() + 0 * b.sum()",
                             "loss.backward()", UPDATE),
    "loss_after_update": TS_LOSS_AFTER,
    "l1_loss": step(CLEAR, with_loss("(y_hat - y.reshape(y_hat.shape)).abs().mean()"), "loss.backward()", UPDATE),
    "rmse": step(CLEAR, with_loss("((y_hat - y.reshape(y_hat.shape)) ** 2).mean().sqrt()"), "loss.backward()", UPDATE),
    "clears_w_only": step("w.grad = None", LOSS, "loss.backward()", UPDATE),
    "clears_b_only": step("b.grad = None", LOSS, "loss.backward()", UPDATE),
    "half_lr": step(CLEAR, LOSS, "loss.backward()", with_update("lr / 2 * w.grad", "lr / 2 * b.grad")),
    "quarter_loss": step(CLEAR, with_loss("0.5 * ((y_hat - y.reshape(y_hat.shape)) ** 2 / 2).mean()"),
                         "loss.backward()", UPDATE),
    "sum_gradient_mean_loss": step(CLEAR, "y_hat = X @ w + b", "l = (y_hat - y.reshape(y_hat.shape)) ** 2 / 2",
                                   "l.sum().backward()", UPDATE, ret="return l.mean().item()"),
    "rebinds_not_in_place": step(CLEAR, LOSS, "loss.backward()",
                                 "with torch.no_grad():\n    w = w - lr * w.grad\n    b = b - lr * b.grad"),
    "stale_gradient": step(LOSS, "if w.grad is None:\n    loss.backward()", UPDATE),
    "bias_gets_w_gradient": step(CLEAR, LOSS, "loss.backward()", with_update("lr * w.grad", "lr * w.grad.mean()")),
    "loss_of_first_example": step(CLEAR, with_loss("((y_hat - y.reshape(y_hat.shape)) ** 2 / 2)[0].mean()"),
                                  "loss.backward()", UPDATE),
}


def _value_source() -> str:
    """The solution's class Value, for wrong variants made by small edits."""
    nb = notebooks.read_notebook(paths.solutions_notebook(CHAPTER))
    return next(notebooks.source(c) for c in notebooks.code_cells(nb) if notebooks.grade_id(c) == "Value")


def value_with(*edits: tuple[str, str]) -> str:
    src = _value_source()
    for old, new in edits:
        assert old in src, f"the solution's Value no longer contains {old!r}"
        src = src.replace(old, new)
    return src


TOPOLOGICAL = """        order, seen = [], set()
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
RECURSIVE = """        self.grad = 1.0
        self._propagate()

    def _propagate(self):
        self._backward()
        for child in self._prev:
            child._propagate()
"""
V_NO_FLOAT = value_with(("self.data = float(data)", "self.data = data"))
V_ASSIGNS = value_with(("self.grad += ", "self.grad = "), ("other.grad += ", "other.grad = "))
V_RECURSIVE = value_with((TOPOLOGICAL, RECURSIVE))
V_TANH = value_with(("(1 - out.data ** 2)", "(1 - out.data)"))
V_POW = value_with(("k * self.data ** (k - 1)", "k * self.data ** k"))
V_MUL = value_with(("self.grad += other.data * out.grad", "self.grad += self.data * out.grad"))
V_NO_SEED = value_with(("        self.grad = 1.0\n        for node", "        for node"))
V_NO_REVERSED = re.sub(r"    def __r(add|mul|sub)__\(self, other\):\n(?:        .*\n)+?\n", "", _value_source())


def second_derivative(first: str = "first, = torch.autograd.grad(f(x_).sum(), x_, create_graph=True)",
                      second: str = "second, = torch.autograd.grad(first.sum(), x_)", ret: str = "second.detach()",
                      copy: str = "x_ = x.detach().clone().requires_grad_(True)") -> str:
    """A second_derivative built from pieces, so that each bug says what it changes."""
    return f"def second_derivative(f, x):\n    {copy}\n    {first}\n    {second}\n    return {ret}\n"


SD_FIRST = second_derivative(second="second = first")
SD_FINITE = """
def second_derivative(f, x):
    h = 1e-4
    x = x.detach()
    return ((f(x + h) - 2 * f(x) + f(x - h)) / h ** 2).detach()
"""
SD_FLAT = second_derivative(ret="second.detach().reshape(-1)")
SD_CALLERS_X = second_derivative(copy="x_ = x.requires_grad_(True)")
SD_NOT_DETACHED = second_derivative(second="second, = torch.autograd.grad(first.sum(), x_, create_graph=True)",
                                    ret="second")
SD_NO_CREATE_GRAPH = second_derivative(first="first, = torch.autograd.grad(f(x_).sum(), x_)")


def req(req_id: str, exercise: str, source: str, phrase: str) -> Case:
    """The corpus case of one requirement row: the exercise's cell replaced by ``source``, its
    feedback saying ``phrase``."""
    return requirement_case(CHAPTER, req_id, replace={exercise: source}, messages={exercise: phrase})


CASES = [
    SOLUTION,
    STUB,
    *doing_nothing_cases(CHAPTER),
    req("numerical_grad.central", "numerical_grad", NG_FORWARD, "forward differences"),
    req("numerical_grad.h", "numerical_grad", NG_FIXED_H, "use the h passed in"),
    req("numerical_grad.shape", "numerical_grad", NG_FLAT, "returned shape (6,); expected (2, 3)"),
    req("numerical_grad.dtype", "numerical_grad", NG_FLOAT32, "returned dtype torch.float32"),
    req("numerical_grad.any_shape", "numerical_grad", NG_FLAT_CALLS, "sum(tanh(x @ x.T))"),
    req("numerical_grad.number", "numerical_grad", NG_ITEM, "a python float"),
    req("numerical_grad.input_unchanged", "numerical_grad", NG_IN_PLACE, "changed x"),
    req("numerical_grad.no_autograd", "numerical_grad", NG_AUTOGRAD_CHECK, "backward"),
    req("grad_of.autograd", "grad_of", GO_FINITE, "x.detach() is a constant"),
    req("grad_of.shape", "grad_of", GO_FLAT, "returned shape (6,)"),
    req("grad_of.leaves_x_alone", "grad_of", GO_REQUIRES_GRAD, "requires_grad is True"),
    req("grad_of.twice", "grad_of", GO_CACHED_BUFFER, "the first call"),
    Case("grad_of_accumulates", replace={"grad_of": GO_ACCUMULATES}, scores={"grad_of": 2},
         messages={"grad_of": "twice the gradient"}),
    req("second_derivative.autograd_twice", "second_derivative", SD_FIRST, "the first derivative f'(x)"),
    req("second_derivative.shape", "second_derivative", SD_FLAT, "returned shape (6,)"),
    req("second_derivative.leaves_x_alone", "second_derivative", SD_CALLERS_X, "compute on a copy"),
    req("second_derivative.detached", "second_derivative", SD_NOT_DETACHED, "return it detached"),
    Case("second_derivative_by_differences", replace={"second_derivative": SD_FINITE},
         scores={"second_derivative": 0}, messages={"second_derivative": "the answer is 2x"}),
    Case("second_derivative_no_create_graph", replace={"second_derivative": SD_NO_CREATE_GRAPH},
         scores={"second_derivative": 0}, messages={"second_derivative": "does not require grad"}),
    req("train_step.loss", "train_step", TS_NO_HALF, "is the ½ missing"),
    req("train_step.update", "train_step", TS_NO_UPDATE, "did not change w"),
    req("train_step.in_place", "train_step", TS_DATA, "replaced w or b by new tensors"),
    req("train_step.no_grad", "train_step", TS_RECORDED, "in-place operation"),
    req("train_step.returns_float", "train_step", TS_TENSOR, "loss.item()"),
    req("train_step.loss_before", "train_step", TS_LOSS_AFTER, "(before the update)"),
    req("train_step.flat_y", "train_step", TS_BROADCASTS, "reshape y"),
    req("train_step.many_calls", "train_step", TS_NEVER_CLEARS, "gradients pile up from earlier calls"),
    req("Value.attributes", "Value", V_NO_FLOAT, "store data as a python float"),
    req("Value.ops", "Value", V_MUL, "PyTorch's gradient"),
    req("Value.numbers", "Value", V_NO_REVERSED, "unsupported operand"),
    req("Value.pow", "Value", V_POW, "PyTorch's gradient"),
    req("Value.exp_tanh", "Value", V_TANH, "PyTorch's gradient"),
    req("Value.backward_seed", "Value", V_NO_SEED, "sets the output's own grad to 1"),
    req("Value.topological", "Value", V_RECURSIVE, "PyTorch's gradient"),
    req("Value.accumulate", "Value", V_ASSIGNS, "PyTorch's gradient is 7"),
]

# Realistic wrong answers for each self-check: each must fail its own self-check only.
WRONG = {
    "numerical_grad": [NG_FORWARD, NG_FIXED_H, NG_FLAT, NG_FLOAT32, NG_ITEM, NG_IN_PLACE, NG_AUTOGRAD_CHECK],
    "grad_of": [GO_FINITE, GO_FLAT, GO_REQUIRES_GRAD, GO_ACCUMULATES],
    "second_derivative": [SD_FIRST, SD_FINITE, SD_FLAT, SD_CALLERS_X, SD_NOT_DETACHED, SD_NO_CREATE_GRAPH],
    "train_step": [TS_NEVER_CLEARS, TS_NO_HALF, TS_NO_UPDATE, TS_RECORDED, TS_TENSOR, TS_LOSS_AFTER,
                   TS_BROADCASTS, BUGGY_TRAIN_STEPS["rebinds_not_in_place"]],
    "Value": [V_NO_FLOAT, V_ASSIGNS, V_RECURSIVE, V_TANH, V_POW, V_MUL, V_NO_SEED, V_NO_REVERSED],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return grade_corpus(CHAPTER, CASES, tmp_path_factory.mktemp("ch02"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(results, case):
    assert_case(CHAPTER, results[case.name], case)


def test_every_requirement_has_its_case():
    assert_requirements_covered(CHAPTER, CASES)


def test_many_steps_calibration():
    """Every correct variant passes the training check, every realistic bug fails it, and the
    checks module states these figures (CALIBRATION)."""
    variants = {**CORRECT_TRAIN_STEPS, **BUGGY_TRAIN_STEPS}
    verdicts = check_verdicts(CHAPTER, "train_step", {name: {"train_step": src} for name, src in variants.items()},
                              checks=("many_steps",))
    rejected = {n: verdicts[n]["many_steps"].message for n in CORRECT_TRAIN_STEPS if not verdicts[n]["many_steps"].passed}
    missed = [n for n in BUGGY_TRAIN_STEPS if verdicts[n]["many_steps"].passed]
    assert not rejected, f"correct variants rejected: {rejected}"
    assert not missed, f"bugs not caught: {missed}"
    assert len(CORRECT_TRAIN_STEPS) >= 20 and len(BUGGY_TRAIN_STEPS) >= len(CORRECT_TRAIN_STEPS)
    assert checks.CALIBRATION["many_steps"] == {"variants": len(CORRECT_TRAIN_STEPS), "false_rejections": 0,
                                                "bugs": len(BUGGY_TRAIN_STEPS), "caught": len(BUGGY_TRAIN_STEPS)}


def test_selfchecks_judge_one_exercise(tmp_path):
    assert_selfchecks_judge_one_exercise(CHAPTER, WRONG, tmp_path)


def test_text_says_what_the_outputs_show():
    errors = stored_text(CHAPTER, "code-5f690867")
    central, h = (float(v) for v in re.search(r"best central error (\S+) at h = (\S+)", errors).groups())
    assert 1e-13 <= central < 1e-12 and 1e-6 <= h <= 1e-5, \
        "'The central difference reaches a few times 1e-13 near h = 1e-5–1e-6'"
    assert "w.grad = tensor(-14.)   b.grad = tensor(-7.)" in stored_text(CHAPTER, "code-0a4489a8")
    doubled = stored_text(CHAPTER, "code-72010840")
    assert "after a second backward: w.grad = tensor(-28.)  b.grad = tensor(-14.)" in doubled
    assert "(2a + 1 = 7)" in stored_text(CHAPTER, "code-d19eddcc") and ": 7.0" in stored_text(CHAPTER, "code-d19eddcc")
    training = stored_text(CHAPTER, "code-ab3287cc")
    w, b = (float(v) for v in re.search(r"train_step .* w = (\S+), b = (\S+)", training).groups())
    assert abs(w - 3) < 1e-3 and abs(b - 0.8) < 1e-3, "'the parameters reach w = 3, b = 0.8'"
    losses = [float(v) for v in re.findall(r"final loss (\S+)", training)]
    assert losses[1] > 1000 * losses[0], "without zeroing the loss does not settle"
    table = stored_text(CHAPTER, "code-95b383e3").splitlines()[1:]
    for line in table:
        _, ours, theirs = line.split()
        assert ours == theirs, f"'the gradients should agree to the last digits': {line}"


def test_notes_box_and_exercise_outputs():
    """The detach().numpy() box shows shared memory; the physics example gives -g."""
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert ":::{admonition} From the notes" in text and "no number is copied at either step" in text
    shared = stored_text(CHAPTER, "code-654825cd").splitlines()
    assert shared[0] == "same memory: True" and "tensor([100.," in shared[1] and "tensor([100.,   2.," in shared[2]
    assert "-9.8100, -9.8100, -9.8100, -9.8100, -9.8100" in stored_text(CHAPTER, "code-090bca6d")
    assert "`Value(2).data` is `2.0`" in text


def test_answers_quote_their_outputs():
    from tests import prose
    text = prose.markdown(CHAPTER)
    assert text.count(":::{dropdown} Answer") == 5
    steps = stored_text(CHAPTER, "code-de16ca9d").splitlines()
    central_h, forward_h = (prose.number_after(line, "best h =") for line in steps)
    central_err, forward_err = (prose.number_after(line, "mean error there") for line in steps)
    assert "is about $10^{-5}$" in text and 2e-6 <= central_h <= 3e-5
    assert "\\approx 10^{-8}$" in text and 2e-9 <= forward_h <= 5e-8
    assert 1e-12 <= central_err <= 1e-10 and 1e-9 <= forward_err <= 1e-7
    shared = stored_text(CHAPTER, "code-4a92757e")
    assert prose.number_after(shared, "w used twice:") == 6.0 and prose.number_after(shared, "two more calls:") == 12.0
    order = stored_text(CHAPTER, "code-f6dd3a87")
    assert "`a.grad` ends at 0\ninstead of 2".replace("\n", " ") in text
    assert "creation order: a.grad = 0.0" in order and "reversed topological order: a.grad = 2.0" in order
    deep = stored_text(CHAPTER, "code-91ab7861")
    assert "RecursionError" in deep and "iterative order: x.grad = 1.0" in deep
    careless = stored_text(CHAPTER, "code-ecdf4a1c")
    assert "second call: tensor([4., 8.])" in careless and "requires_grad afterwards: True" in careless


def test_display_equations_fit_a_phone():
    assert_equations_fit_a_phone(CHAPTER)
