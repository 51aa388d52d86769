"""Stand-ins: a working function in place of a student's failed one, answered by the trusted
grader (autograder/oracle.py) through the harness's proxy (autograder/untrusted/standin.py).

First the proxy itself: it must behave exactly like the reference (values, gradients, in-place
updates, random draws, data loaders). Then hostile submissions that try to capture and reuse a
stand-in, or the channel behind it, to raise a grade: none may."""
import inspect

import numpy as np
import pytest
import torch

from autograder.chapter import load_chapter, reference_namespace
from autograder.oracle import Oracle
from autograder.runner import Limits
from autograder.untrusted import standin
from tests.corpus import SOLUTION, Case, assert_case, grade_corpus

CH05 = "05_linear_regression_scratch"


def proxy(chapter: str, name: str):
    oracle = Oracle(load_chapter(chapter), "cpu", [name])
    return standin.make_proxy(name, standin.DirectTransport(oracle.answer))


def reference(chapter: str, name: str):
    return reference_namespace(chapter)[name]


def test_values_and_gradients_equal_the_reference():
    X = torch.randn(6, 2)
    w, b = torch.randn(2, 1, requires_grad=True), torch.randn(1, requires_grad=True)
    w2, b2 = w.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    mine = proxy(CH05, "linreg")(X, w, b)
    theirs = reference(CH05, "linreg")(X, w2, b2)
    assert torch.equal(mine, theirs)
    weights = torch.arange(6.0).reshape(-1, 1)
    (mine * weights).sum().backward()
    (theirs * weights).sum().backward()
    assert torch.equal(w.grad, w2.grad) and torch.equal(b.grad, b2.grad)


def test_an_in_place_update_happens_to_the_callers_tensors():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    w.grad = torch.tensor([4.0, -4.0])
    before = w
    proxy(CH05, "sgd")([w], 0.5, 2)
    assert w is before and w.is_leaf
    assert torch.equal(w.detach(), torch.tensor([0.0, 3.0])) and torch.equal(w.grad, torch.zeros(2))


def test_random_draws_are_the_references_and_the_generator_moves_on():
    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10.0).reshape(-1, 1)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    mine = list(proxy(CH05, "data_iter")(4, X, y, g1))
    theirs = list(reference(CH05, "data_iter")(4, X, y, g2))
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(mine, theirs))
    assert torch.equal(g1.get_state(), g2.get_state())


def test_a_returned_data_loader_shuffles_from_this_processs_random_state():
    chapter = "06_linear_regression_concise"
    X, y = torch.arange(30.0).reshape(15, 2), torch.arange(15.0)
    torch.manual_seed(7)
    mine = [b[0] for b in proxy(chapter, "load_array")((X, y), 4, True)]
    torch.manual_seed(7)
    theirs = [b[0] for b in reference(chapter, "load_array")((X, y), 4, True)]
    assert len(mine) == 4 and all(torch.equal(a, b) for a, b in zip(mine, theirs))


def test_numpy_functions_stand_in_too():
    chapter = "04_gradient_descent_numpy"
    points = np.random.default_rng(0).normal(size=(12, 2))
    assert proxy(chapter, "mse_grad")(0.5, -0.2, points) == reference(chapter, "mse_grad")(0.5, -0.2, points)


def test_the_proxy_holds_no_reference_code():
    source = inspect.getsource(proxy(CH05, "sgd"))
    assert "batch_size" not in source and "zero_" not in source


def test_the_oracle_answers_only_for_its_names():
    oracle = Oracle(load_chapter(CH05), "cpu", ["sgd"])
    for name in ("linreg", "__import__", "torch", None):
        answer = oracle.answer({"op": "call", "fn": name, "args": {"__seq__": "list", "items": []},
                                "kwargs": {"__map__": {}}, "rng": torch.get_rng_state()})
        assert "error" in answer and "no stand-in" in answer["error"]
    assert "error" in oracle.answer({"garbage": 1})


# -- hostile submissions ---------------------------------------------------------------------
BROKEN_SGD_THAT_REUSES = """
import glob
SOCKETS = glob.glob("../*.sock") + glob.glob("/tmp/**/*.sock", recursive=True)
def sgd(params, lr, batch_size):
    for found in (globals().get("_CAPTURED"), getattr(__builtins__, "_CAPTURED", None)):
        if callable(found):
            return found(params, lr, batch_size)  # the stand-in, if it were ever here
    for path in SOCKETS:  # the channel behind stand-ins, if there were one now
        try:
            from autograder.untrusted import standin
            return standin.make_proxy("sgd", standin.SocketTransport(path))(params, lr, batch_size)
        except Exception:
            pass
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size   # never zeroes the gradients
"""

CAPTURING_LINREG = """
import builtins, inspect
def linreg(X, w, b):
    standing_in = globals().get("sgd")
    if getattr(standing_in, "__doc__", "") and "stand-in" in standing_in.__doc__:
        globals()["_CAPTURED"] = standing_in          # keep it for sgd's own checks
        builtins._CAPTURED = standing_in
        try:
            print("SOURCE:", inspect.getsource(standing_in))
        except (OSError, TypeError):
            pass
        for where in ("/tmp/captured.txt", "captured.txt", "../captured.txt"):
            try:
                open(where, "w").write("captured")
            except OSError:
                pass
    return X @ w + b
"""

FLOODING_LINREG = """
import socket, glob, struct
def linreg(X, w, b):
    for path in glob.glob("../*.sock"):
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path)
            s.sendall(struct.pack("!Q", 1 << 40))          # a message larger than allowed
            s.close()
            s = socket.socket(socket.AF_UNIX); s.connect(path)
            s.sendall(struct.pack("!Q", 12) + b"not a frame!")  # garbage
            s.close()
        except OSError:
            pass
    return X @ w + b
"""

HOSTILE = [
    SOLUTION,
    # sgd fails its own checks (no zeroing); linreg captures the stand-in for sgd while the
    # training check runs, and sgd tries to reuse it: sgd's own checks never see it.
    Case("captures_the_standin", replace={"sgd": BROKEN_SGD_THAT_REUSES, "linreg": CAPTURING_LINREG},
         scores={"sgd": 2}, messages={"sgd": "zero", "training": "working `sgd`"}),
    # the same sgd alone: the same score, so capturing gained nothing
    Case("broken_sgd_alone", replace={"sgd": BROKEN_SGD_THAT_REUSES},
         scores={"sgd": 2}, messages={"sgd": "zero"}),
    # malformed and oversized messages on the channel cost nothing but the sender's own time
    Case("floods_the_channel", replace={"sgd": BROKEN_SGD_THAT_REUSES, "linreg": FLOODING_LINREG},
         scores={"sgd": 2}, messages={"training": "working `sgd`"}),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return grade_corpus(CH05, HOSTILE, tmp_path_factory.mktemp("standins"),
                        limits=Limits(check_seconds=20, submission_seconds=300))


@pytest.mark.parametrize("case", HOSTILE, ids=lambda c: c.name)
def test_no_standin_raises_a_grade(hostile, case):
    assert_case(CH05, hostile[case.name], case)


def test_what_student_code_sees_of_a_standin_is_no_reference_code(hostile):
    printed = hostile["captures_the_standin"].student_output
    reference_line = "param -= lr * param.grad / batch_size"
    assert reference_line not in printed
    messages = " ".join(e.message for e in hostile["captures_the_standin"].exercises)
    assert reference_line not in messages
