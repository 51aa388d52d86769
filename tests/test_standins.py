"""Stand-ins: a working function in place of a student's failed one, answered by the trusted
grader (autograder/oracle.py) through the harness's proxy (autograder/untrusted/standin.py).

First the proxy itself: it must behave exactly like the reference (values, gradients, in-place
updates, random draws, data loaders). Then hostile submissions that try to capture and reuse a
stand-in, or the channel behind it, to raise a grade: none may."""
import inspect
import json
import math
import socket
import struct
import threading
import time

import numpy as np
import pytest
import torch

from autograder.chapter import load_chapter, reference_namespace
from autograder.oracle import Oracle, OracleServer
from autograder.runner import Limits
from autograder.untrusted import standin, wire
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


def test_a_backward_uses_the_arguments_as_they_were_at_the_call():
    X = torch.randn(6, 2)
    X0 = X.clone()
    w, b = torch.randn(2, 1, requires_grad=True), torch.randn(1, requires_grad=True)
    out = proxy(CH05, "linreg")(X, w, b)
    X.mul_(10)  # after the call: the gradient the trusted side computes must not see it
    out.sum().backward()
    assert torch.allclose(w.grad, X0.sum(0).reshape(2, 1))


class Recording(standin.DirectTransport):
    """A DirectTransport that keeps the answers."""

    def __init__(self, answer):
        super().__init__(answer)
        self.answers = []

    def ask(self, message):
        self.answers.append(super().ask(message))
        return self.answers[-1]


def test_the_random_state_comes_back_only_when_the_reference_drew():
    oracle = Oracle(load_chapter(CH05), "cpu", ["linreg", "data_iter"])
    transport = Recording(oracle.answer)
    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10.0).reshape(-1, 1)
    before = torch.get_rng_state()
    standin.make_proxy("linreg", transport)(X, torch.ones(2, 1), torch.zeros(1))
    assert "rng" not in transport.answers[-1]["effects"] and torch.equal(torch.get_rng_state(), before)
    mine = list(standin.make_proxy("data_iter", transport)(4, X, y))  # draws from the global state
    assert "rng" in transport.answers[-1]["effects"]
    after = torch.get_rng_state()
    torch.set_rng_state(before)
    theirs = list(reference(CH05, "data_iter")(4, X, y))
    assert torch.equal(torch.get_rng_state(), after)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(mine, theirs))


# -- the channel's messages: the trusted side reads them as untrusted plain data --------------
def raw(text: str | bytes, payload: bytes = b"") -> bytes:
    """A message written by hand: the JSON text's length (big-endian u32), the text, then
    ``payload`` (the arrays' bytes) from the next multiple of wire.ALIGN."""
    text = text if isinstance(text, bytes) else text.encode()
    head = struct.pack("!I", len(text)) + text
    return head + bytes(-len(head) % wire.ALIGN) + payload if payload else head


def tensor_ref(dtype: str, shape: list) -> str:
    return '{"@":["t","%s",%s,"cpu","Tensor",false]}' % (dtype, json.dumps(shape))


def bits(t: torch.Tensor) -> bytes:
    """A tensor's bytes: NaN equals NaN, -0.0 differs from 0.0."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def test_messages_round_trip_every_kind_of_value():
    values = {"f32": torch.randn(3, 4), "bf16": torch.randn(5, dtype=torch.bfloat16),
              "f16": torch.randn(2, dtype=torch.float16), "bool": torch.tensor([True, False]),
              "c64": torch.randn(2, dtype=torch.complex64), "i8": torch.tensor([-3, 7], dtype=torch.int8),
              "0d": torch.tensor(2.5), "empty": torch.zeros(0, 3), "transposed": torch.arange(12.0).reshape(3, 4).t(),
              "param": torch.nn.Parameter(torch.ones(2)), "special": torch.tensor([math.nan, math.inf, -0.0]),
              "array": np.arange(6, dtype=np.int32).reshape(2, 3), "mask": np.array([True, False]),
              "nan": math.nan, "inf": -math.inf, "none": None, "nested": [1, "a", (2.5, True), {"k": []}]}
    back = standin.parse(standin.frame(values))
    for key, value in values.items():
        if isinstance(value, torch.Tensor):
            got = back[key]
            assert isinstance(got, wire.WireTensor) and got.dtype == value.dtype and got.shape == value.shape
            assert bits(got.values) == bits(value) and got.requires_grad == value.requires_grad
    assert back["param"].type_name == "Parameter" and back["param"].requires_grad
    for key in ("array", "mask"):
        assert back[key].dtype == values[key].dtype and np.array_equal(back[key], values[key])
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back["none"] is None
    assert back["nested"] == [1, "a", [2.5, True], {"k": []}]
    back["f32"].values.add_(1)  # each read back has bytes of its own, writable
    assert torch.equal(back["bf16"].values, values["bf16"]) and torch.equal(back["0d"].values, values["0d"])


def test_a_dict_with_the_reference_key_is_data_not_a_tensor():
    tricky = {wire.REF: ["t", "float32", [1000], "cpu", "Tensor", False], "x": 1}
    lone = {wire.REF: 0}
    back = standin.parse(standin.frame({"a": tricky, "b": [lone, {wire.REF: [[wire.REF, 1]]}], "t": torch.ones(2)}))
    assert back["a"] == tricky and back["b"] == [lone, {wire.REF: [[wire.REF, 1]]}]
    assert torch.equal(back["t"].values, torch.ones(2))


def test_bool_bytes_other_than_0_and_1_are_read_as_true():
    back = standin.parse(raw('{"t":%s}' % tensor_ref("bool", [3]), bytes([0, 1, 7])))
    assert back["t"].values.tolist() == [False, True, True]
    assert back["t"].values.view(torch.uint8).tolist() == [0, 1, 1]


TWO_FLOATS = standin.frame({"t": torch.ones(2)})


@pytest.mark.parametrize("body", [
    b"", b"\x00\x00", b"junk bytes, not a message at all", bytes(range(256)) * 4,
    bytes(TWO_FLOATS[:-3]),  # cut short: the array runs past the end
    bytes(TWO_FLOATS[:6]),  # cut short in the text
    bytes(TWO_FLOATS) + bytes(16),  # bytes after the last array
    raw('{"t":%s}' % tensor_ref("float32", [4]), bytes(8)),  # an array running past the end
    raw('{"t":%s}' % tensor_ref("float32", [-1])),  # a negative dimension
    raw('{"t":%s}' % tensor_ref("float32", [1 << 30, 1 << 30, 0])),  # huge, even with no element
    raw('{"t":%s}' % tensor_ref("float32", [True])),  # a dimension that is not an int
    raw('{"t":%s}' % tensor_ref("float32", [1] * 40)),  # too many dimensions
    raw('{"t":%s}' % tensor_ref("object", [1]), bytes(8)),  # a tensor of objects
    raw('{"a":{"@":["a","|O",[1]]}}', bytes(8)),  # a NumPy array of objects
    raw('{"a":{"@":["a","<U2",[1]]}}', bytes(8)),  # of strings
    raw('{"a":{"@":["a","V8",[1]]}}', bytes(8)),  # of raw records
    raw('{"a":{"@":["a","[(\\"x\\",\\"|O\\")]",[1]]}}', bytes(8)),  # a structured dtype
    raw('{"t":{"@":["t","float32",[1],"cpu","Tensor",false],"x":1}}', bytes(4)),  # a reference and more
    raw('{"t":{"@":7}}'), raw('{"t":{"@":["x"]}}'), raw('{"t":{"@":[[1,2]]}}'),  # malformed references
    raw('{"t":%s}' % tensor_ref("float32", [1]).replace("false", "0"), bytes(4)),  # requires_grad not a bool
    raw("[1,2]"),  # not a dict
    raw("[" * 100_000 + "]" * 100_000),  # nested too deeply for the parser
    raw('{"x":1%s}' % ("9" * 5000)),  # an integer too long to read
    raw(b'{"x":"\xff"}'),  # not UTF-8
])
def test_a_malformed_message_is_refused(body):
    with pytest.raises(standin.StandInError):
        standin.parse(body)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [np.array([object()]), np.array(["text"]), object(), {1: "an int key"},
                                   torch.zeros(2, device="meta"), torch.zeros(2).to_sparse(),
                                   nested(wire.MAX_DEPTH + 2)])
def test_what_cannot_cross_is_refused_by_the_sender(value):
    with pytest.raises(standin.StandInError):
        standin.frame({"x": value})


def test_a_message_over_the_size_limit_is_refused(monkeypatch):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(struct.pack("!Q", standin.MAX_MESSAGE + 1))  # announced, never sent
        with pytest.raises(standin.StandInError, match="limit"):
            standin.receive(b)
    monkeypatch.setattr(standin, "MAX_MESSAGE", 4096)
    with pytest.raises(standin.StandInError, match="limit"):
        standin.frame({"x": torch.zeros(2048)})
    assert "error" in standin.parse(standin.frame_answer({"x": torch.zeros(2048)}))  # an answer says why


def test_a_large_message_crosses_a_socket_whole():
    big = torch.randn(700_000)  # 2.8 MB: more than the first read's buffer
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=standin.send, args=(a, standin.frame({"x": big})))
        sender.start()
        assert torch.equal(standin.receive(b)["x"].values, big)
        sender.join()


def test_the_server_answers_junk_with_an_error_and_serves_on(tmp_path):
    path = tmp_path / "oracle.sock"
    with OracleServer(path, Oracle(load_chapter(CH05), "cpu", ["linreg"]), None):
        for junk in (b"junk", raw('{"a":{"@":["a","|O",[1]]}}', bytes(8)), bytes(TWO_FLOATS[:-3])):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(path))
                s.sendall(struct.pack("!Q", len(junk)) + junk)
                assert "malformed" in standin.receive(s)["error"]
        X, w, b = torch.randn(4, 2), torch.randn(2, 1), torch.randn(1)
        mine = standin.make_proxy("linreg", standin.SocketTransport(str(path)))(X, w, b)
        assert torch.equal(mine, reference(CH05, "linreg")(X, w, b))


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


# -- the oracle is bounded by the grader (issue 18, attack 4) --------------------------------------
def _bounded_proxy(name: str, budget=None):
    from autograder.oracle import Budget
    oracle = Oracle(load_chapter(CH05), "cpu", [name], budget or Budget())
    return standin.make_proxy(name, standin.DirectTransport(oracle.answer))


def test_an_expensive_call_and_a_broadcast_bomb_fail_their_caller_quickly():
    """A float16 2000×2000 product (like the 3000×3000 ones that took 23–356 s of grader CPU
    before; 3000² the sender refuses now) and a 14 MB request that
    torch.matmul broadcasts to 2 × 21.6 GB (the grader was OOM-killed) are refused before any
    work, with a message that says why."""
    linreg = _bounded_proxy("linreg")
    start = time.monotonic()
    X = torch.randn(2000, 2000, dtype=torch.float16)
    with pytest.raises(standin.StandInError, match=r"OverBudget: .*float16.*count 64 times"):
        linreg(X, X, torch.zeros(1, dtype=torch.float16))
    X, w = torch.randn(3000, 1, 1, 600), torch.randn(1, 3000, 600, 1)  # 7.2 MB each
    with pytest.raises(standin.StandInError, match=r"OverBudget: .*would allocate 20.1 GiB in one operation"):
        linreg(X, w, torch.zeros(1))
    assert time.monotonic() - start < 10
    # the same stand-in still answers a reasonable call
    X, w, b = torch.randn(6, 2), torch.randn(2, 1), torch.randn(1)
    assert torch.equal(linreg(X, w, b), reference(CH05, "linreg")(X, w, b))


def test_a_submission_over_its_budget_is_refused_and_another_is_not():
    from autograder.oracle import Budget
    spent, other = Budget(flops=1e6), Budget(flops=1e6)
    X, w, b = torch.randn(300, 300), torch.randn(300, 1), torch.randn(1)
    mine, theirs = _bounded_proxy("linreg", spent), _bounded_proxy("linreg", other)
    mine(X, w, b)  # 1.8e5 multiply-adds: within the budget
    for _ in range(5):
        try:
            mine(torch.randn(300, 300), torch.randn(300, 300), b)  # 5.4e7: over it
        except standin.StandInError:
            pass
    with pytest.raises(standin.StandInError, match="this submission's stand-ins have done their"):
        mine(X, w, b)
    assert torch.equal(theirs(X, w, b), reference(CH05, "linreg")(X, w, b))


def test_no_lock_is_shared_between_students():
    """One student's long call does not hold up another's, and concurrent random draws stay each
    caller's own: every call draws from a generator of its own, started from the caller's random
    state, not from torch's global one (which the old RNG_LOCK guarded for the whole call). The
    long call is a reference function that waits until told, so the test does not depend on the
    machine's speed; with the lock, the other student's calls waited for it."""
    from autograder.oracle import Budget
    started, release, done = threading.Event(), threading.Event(), {}
    slow = Oracle(load_chapter(CH05), "cpu", ["linreg"], Budget())
    slow.ns = dict(slow.ns)

    def linreg(X, w, b):
        torch.rand(3)  # draws, as the call it stands for might
        started.set()
        release.wait(60)
        return X @ w + b
    slow.ns["linreg"] = linreg
    X, y = torch.arange(40.0).reshape(20, 2), torch.arange(20.0).reshape(-1, 1)

    def heavy():
        standin.make_proxy("linreg", standin.DirectTransport(slow.answer))(torch.ones(2, 2), torch.ones(2, 1), torch.zeros(1))
        done["heavy"] = True

    def light():
        data_iter = _bounded_proxy("data_iter")
        orders = []
        for seed in range(5):
            torch.manual_seed(seed)
            orders.append(torch.cat([Xb[:, 0] for Xb, _ in data_iter(5, X, y)]))
        done["orders"] = orders

    t1 = threading.Thread(target=heavy, daemon=True)
    t1.start()
    assert started.wait(30)
    t2 = threading.Thread(target=light, daemon=True)
    t2.start()
    t2.join(60)
    finished_first = "orders" in done and "heavy" not in done
    release.set()
    t1.join(60)
    assert finished_first, "the other student's calls waited for the long call"
    assert done.get("heavy")
    ref = reference(CH05, "data_iter")
    for seed, order in enumerate(done["orders"]):
        torch.manual_seed(seed)
        assert torch.equal(order, torch.cat([Xb[:, 0] for Xb, _ in ref(5, X, y)]))


def test_a_calls_own_generator_draws_what_the_global_one_would():
    """Every kind of random operation, drawn under the oracle's guard from a call's own generator,
    gives the numbers and the generator state that torch's global generator would have, and
    leaves the global generator alone (so no lock is needed around a call)."""
    from autograder.oracle import _Guard
    ops = [lambda: torch.randint(0, 10, (5,)), lambda: torch.randint(10, (5,)), lambda: torch.randn(4),
           lambda: torch.rand(2, 2), lambda: torch.randperm(7), lambda: torch.empty(3).normal_(),
           lambda: torch.bernoulli(torch.full((6,), 0.5)), lambda: torch.multinomial(torch.ones(5), 3),
           lambda: torch.nn.functional.dropout(torch.ones(8), 0.5), lambda: torch.normal(0., 1., (3,)),
           lambda: torch.randint_like(torch.ones(3), 5), lambda: torch.empty(4).exponential_(),
           lambda: torch.poisson(torch.ones(4)),
           lambda: list(torch.utils.data.DataLoader(torch.arange(10.0), batch_size=3, shuffle=True))]
    for op in ops:
        torch.manual_seed(1)
        want, after = op(), torch.get_rng_state()
        generator = torch.Generator().manual_seed(1)
        torch.manual_seed(99)
        untouched = torch.get_rng_state()
        with _Guard("a call", generator):
            got = op()
        assert all(map(torch.equal, got, want)) if isinstance(got, list) else torch.equal(got, want)
        assert torch.equal(generator.get_state(), after)
        assert torch.equal(torch.get_rng_state(), untouched)


def test_a_reduction_over_a_huge_expanded_view_is_refused():
    """A (1, 1) tensor expanded to 2e5 × 2e5 costs nothing to send and nothing to allocate, but
    summing it reads 4e10 elements: counted, and refused."""
    from autograder.oracle import _Guard, OverBudget
    with pytest.raises(OverBudget, match="would cost more than"):
        with _Guard("a call", torch.Generator()):
            torch.ones(1, 1).expand(200_000, 200_000).sum()
