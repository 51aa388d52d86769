"""The trusted side of stand-ins: answers a harness's calls with the reference's functions.

See :mod:`autograder.untrusted.standin` for what a stand-in is and what crosses. Here, in
the grader, an :class:`Oracle` holds the reference namespace (``solutions/``) of one
chapter and the names it may answer for one job; :class:`OracleServer` serves it on a Unix
socket in the job's folder, for as long as the job runs. Everything that arrives is plain
data (read by :func:`autograder.untrusted.wire.loads_message`: JSON and arrays of plain
numbers, bounds-checked, no pickle) and treated as untrusted: only the named functions are
called, on tensors, arrays and numbers, and the probe's own object types that the checks
module lists in ``STANDIN_TYPES``.

The oracle is a resource the student controls, so it is bounded here, on the receiving side
(DESIGN.md §2). Each request is validated before any work (sizes and dtypes of its tensors),
and each answer is computed under :class:`_Guard`, which looks at every PyTorch operation
*before* it runs: what it would allocate (from its shapes, or a dry run on ``meta`` tensors,
which costs no memory and no arithmetic) and what it would cost (the multiply-adds of a
matrix product from its shapes; float16 and bfloat16 products count :data:`SLOW_ON_CPU`
times on a CPU, where they are that much slower). An operation over :data:`MAX_OP_BYTES`, a
call over :data:`MAX_CALL_FLOPS`, or a submission over its :class:`Budget` (time and work of
all its stand-in calls together) is refused with :class:`OverBudget`: the calling check fails
with a message saying so, and nothing else does. No lock is shared across students: each
call draws its random numbers from a generator of its own, started from the harness's
random state (a seeded operation gets it as its ``generator``), not from torch's global one.
"""
from __future__ import annotations

import importlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves  # results only (operations' arguments: _tensors)

from autograder.chapter import Chapter, reference_namespace
from autograder.references import RNG_LOCK  # only for a seeded operation without a generator argument
from autograder.untrusted import wire
from autograder.untrusted.standin import (Live, Slots, StandInError, decode, encode, frame_answer,
                                          receive, send)

MAX_CALLS = 200_000  # calls one job may make to its stand-ins
MAX_CONNECTIONS = 4  # connections one job may open to its stand-ins' socket
# Bounds of the stand-ins' work in the grader. The largest real call, a stand-in train_epoch
# over all 60,000 Fashion-MNIST images, counts about 1e10 here (products, and every element
# read and written) and allocates under 1 MB per operation; all stand-in calls of a chapter-09
# submission whose train_epoch stands in count 4.2e10 and took 1.4-2.7 s of grader time on a
# quiet machine (16 s on a loaded one). The guard costs 10-70 µs per operation: a 10,000-image
# epoch of that stand-in takes 0.044 s guarded, 0.022 s alone; the whole submission 7.8 s,
# 7.3 s before (its stand-in phase 4.6 s, 4.0 s).
MAX_TENSOR_ELEMENTS = 1 << 24  # of one tensor or array sent to a stand-in
MAX_REQUEST_ELEMENTS = 1 << 25  # of all tensors and arrays of one request together
MAX_OP_BYTES = 1 << 30  # what one operation of an answer may allocate
MAX_CALL_FLOPS = 2e10  # multiply-adds (times SLOW_ON_CPU) of one call: about 10 s of one core
SLOW_ON_CPU = 64  # float16 / bfloat16 matrix products on a CPU: this many times slower (measured 23-356 s for 3000²)
SUBMISSION_SECONDS = 300.0  # grader time of all stand-in calls of one submission
SUBMISSION_FLOPS = 2e11  # work of all stand-in calls of one submission
_SMALL = 4096  # operations on tensors at most this large cannot allocate much (but factories can)


class OverBudget(StandInError):
    """A stand-in call over a bound of the grader: refused before the work it would do."""


class Budget:
    """What one submission's stand-in calls may spend in the grader, all together; each
    submission has its own (grader.py), so that one student's calls never use up another's."""

    def __init__(self, seconds: float = SUBMISSION_SECONDS, flops: float = SUBMISSION_FLOPS):
        self.seconds, self.flops = seconds, flops
        self.spent_seconds, self.spent_flops = 0.0, 0.0
        self._lock = threading.Lock()  # this submission's own (its jobs' connections)

    def check(self) -> None:
        if self.spent_seconds > self.seconds:
            raise OverBudget(f"this submission's stand-ins have used their {self.seconds:g} s of grader "
                             "time; further calls are refused")
        if self.spent_flops > self.flops:
            raise OverBudget(f"this submission's stand-ins have done their {self.flops:.3g} operations "
                             "of grader work; further calls are refused")

    def charge(self, seconds: float = 0.0, flops: float = 0.0) -> None:
        with self._lock:
            self.spent_seconds += seconds
            self.spent_flops += flops


_MATMULS = {torch.ops.aten.mm: (0, 1), torch.ops.aten.addmm: (1, 2), torch.ops.aten.bmm: (0, 1),
            torch.ops.aten.baddbmm: (1, 2), torch.ops.aten.addbmm: (1, 2)}


def _matmul_cost(func, args) -> tuple[float, int]:
    """Multiply-adds and result elements of a matrix product, from its operands' shapes."""
    i, j = _MATMULS[func._overloadpacket]
    a, b = args[i], args[j]
    batch = a.shape[0] if a.dim() == 3 else 1
    n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
    out = n * m * (batch if func._overloadpacket is not torch.ops.aten.addbmm else 1)
    return 2.0 * batch * n * k * m, out


_KINDS: dict = {}  # id(operation) -> (allocates, draws random numbers, matrix product)


def _kind(func) -> tuple[bool, bool, bool]:
    kind = (not func.is_view, torch.Tag.nondeterministic_seeded in func.tags, func._overloadpacket in _MATMULS)
    _KINDS[id(func)] = kind  # operations are kept by torch for the process's life: their ids hold
    return kind


def _tensors(args, kwargs) -> list[torch.Tensor]:
    """The tensors among an operation's arguments (and in its lists of tensors)."""
    out = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out += [v for v in value if isinstance(v, torch.Tensor)]
    return out


_SEEN: dict = {}  # an operation's signature -> bytes its results take (a dry run each, once)


def _signature(func, args, kwargs):
    """What an operation's result size depends on: the operation, its tensors' shapes, strides
    and dtypes, and its other arguments; None when something is not hashable."""
    def one(v):
        if isinstance(v, torch.Tensor):
            return (tuple(v.shape), v.stride(), v.dtype, v.device.type)
        if isinstance(v, (list, tuple)):
            return tuple(one(x) for x in v)
        return v
    try:
        key = (id(func), tuple(one(a) for a in args), tuple((k, one(v)) for k, v in kwargs.items() if k != "generator"))
        hash(key)
    except TypeError:
        return None
    return key


def _meta(value):
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_meta(v) for v in value)
    return value


class _Guard(TorchDispatchMode):
    """Every PyTorch operation of one stand-in call, looked at before it runs (see the module
    docstring); random draws from ``generator``, the call's own."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # else the first use imports torch._dynamo: 1.5-5 s of every grader process

    def __init__(self, what: str, generator: torch.Generator):
        super().__init__()
        self.what, self.generator, self.flops = what, generator, 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        kind = _KINDS.get(id(func)) or _kind(func)
        if kind[0]:  # not a view (a view allocates nothing)
            self._charge(func, args, kwargs, kind[2])
        if kind[1]:
            return self._seeded(func, args, kwargs)
        return func(*args, **kwargs)

    def _charge(self, func, args, kwargs, matmul: bool) -> None:
        tensors = _tensors(args, kwargs)
        if matmul:
            flops, out = _matmul_cost(func, args)
            dtype = tensors[0].dtype
            if dtype in (torch.float16, torch.bfloat16) and tensors[0].device.type == "cpu":
                flops *= SLOW_ON_CPU
            nbytes = out * tensors[0].element_size()
        elif tensors and all(t.numel() <= _SMALL for t in tensors):
            return
        else:
            key = _signature(func, args, kwargs)
            nbytes = _SEEN.get(key) if key is not None else None
            if nbytes is None:
                nbytes = self._dry_run(func, args, kwargs, tensors)
                if key is not None:
                    if len(_SEEN) > 10_000:
                        _SEEN.clear()
                    _SEEN[key] = nbytes
            flops = nbytes / 4 + sum(t.numel() for t in tensors)  # a sum over an expanded view reads it all
        if nbytes > MAX_OP_BYTES:
            raise OverBudget(f"{self.what} would allocate {nbytes / 2**30:.3g} GiB in one operation "
                             f"({func._overloadpacket.__name__}); the grader allows {MAX_OP_BYTES / 2**30:g} GiB")
        if self.flops + flops > MAX_CALL_FLOPS:
            raise OverBudget(f"{self.what} would cost more than {MAX_CALL_FLOPS:.3g} operations of grader "
                             f"work (float16 and bfloat16 products count {SLOW_ON_CPU} times on a CPU)")
        self.flops += flops  # charged once allowed: a refused operation costs nothing

    @staticmethod
    def _dry_run(func, args, kwargs, tensors) -> int:
        """Bytes the operation's results take, from a run on ``meta`` tensors (no memory, no
        arithmetic); for one whose result depends on the values, its inputs' bytes."""
        meta_kwargs = {k: _meta(v) for k, v in kwargs.items() if k != "generator"}
        if any(a.name == "device" for a in func._schema.arguments):
            meta_kwargs["device"] = torch.device("meta")
        try:
            out = func(*_meta(args), **meta_kwargs)
        except Exception:  # noqa: BLE001  data-dependent (nonzero, item, ...) or unsupported
            return sum(t.numel() * t.element_size() for t in tensors)
        return sum(t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor))

    def _seeded(self, func, args, kwargs):
        """A random operation, drawing from this call's generator instead of torch's global one."""
        tensors = _tensors(args, kwargs)
        device = kwargs.get("device")
        if any(t.device.type != "cpu" for t in tensors) or (device is not None and torch.device(device).type != "cpu"):
            return func(*args, **kwargs)  # the device's own generator (as before: not swapped)
        schema = {a.name: a for a in func._schema.arguments}
        if "generator" in schema and schema["generator"].kwarg_only:
            if kwargs.get("generator") is None:
                kwargs["generator"] = self.generator
            return func(*args, **kwargs)
        name = func._overloadname  # randperm.default -> randperm.generator, randint.low -> .low_generator
        overload = getattr(func._overloadpacket, "generator" if name == "default" else f"{name}_generator", None)
        if overload is not None:
            return overload(*args, generator=self.generator, **kwargs)
        with RNG_LOCK:  # no generator argument: torch's global state, for this one operation
            saved = torch.get_rng_state()
            try:
                torch.set_rng_state(self.generator.get_state())
                out = func(*args, **kwargs)
                self.generator.set_state(torch.get_rng_state())
            finally:
                torch.set_rng_state(saved)
        return out


class Oracle:
    """Answers calls to the reference's ``names`` (the functions standing in for a student's).

    Args:
        chapter: the chapter whose solutions answer.
        device: where the reference computes (the grader's device).
        names: the functions this job may call.
    """

    def __init__(self, chapter: Chapter, device: str, names: Iterable[str], budget: Budget | None = None):
        self.ns = reference_namespace(chapter.slug)
        module = importlib.import_module(chapter.checks_module)
        self.types = getattr(module, "STANDIN_TYPES", {})
        self.device, self.names, self.calls = torch.device(device), set(names), 0
        self.budget = budget or Budget()

    def serve(self, path: Path, uid: int | None) -> "OracleServer":
        """A server answering this oracle's stand-ins on the socket ``path`` (for ``uid``), to
        use as a context manager around a job (runner.py knows it only as that)."""
        return OracleServer(path, self, uid)

    def answer(self, message: dict) -> dict:
        """The answer to one request; never raises (a fault is an ``error`` answer). Its time
        and work are charged to this submission's budget."""
        start = time.monotonic()
        try:
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise StandInError(f"more than {MAX_CALLS} calls to stand-ins")
            name = message.get("fn")
            if name not in self.names or not callable(self.ns.get(name)):
                raise StandInError(f"no stand-in for {name!r} here")
            self.budget.check()
            return self._vjp(message) if message.get("op") == "vjp" else self._call(message)
        except OverBudget as e:
            return {"error": f"OverBudget: the grader refused this call to the stand-in for "
                             f"`{message.get('fn')}`: {str(e)[:300]}"}
        except Exception as e:  # noqa: BLE001  the caller's fault or the reference's: reported
            return {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        finally:
            self.budget.charge(seconds=time.monotonic() - start)

    # -- calls ---------------------------------------------------------------------------
    def _run(self, message: dict) -> tuple[Live, Slots, Any, torch.Tensor | None]:
        """Call the reference on the message's arguments, with the harness's random state;
        the random state it leaves, or None when the call drew nothing."""
        live = self._inputs(message)
        args = decode(message.get("args", []), live, self._rebuild)
        kwargs = decode(message.get("kwargs", {}), live, self._rebuild)
        before = _tensor(message["rng"]).to(torch.uint8)
        generator = torch.Generator()
        generator.set_state(before)
        guard = _Guard(f"the call {message['fn']}(...)", generator)
        try:
            with guard, torch.enable_grad():
                result = self.ns[message["fn"]](*args, **kwargs)
                out = Slots()
                encoded = encode(result, out)  # materialises iterators, which may draw
        finally:
            self.budget.charge(flops=guard.flops)
        rng = generator.get_state()
        return live, out, encoded, None if _same_bytes(rng, before) else rng

    def _call(self, message: dict) -> dict:
        """The answer to a call. Its tensors and arrays are the live ones, not copies: the
        answer is written out as it is sent, before anything else runs."""
        live, out, encoded, rng = self._run(message)
        inputs_grad = any(t.requires_grad for t in live.tensors)
        effects = _effects(message, live)
        if rng is not None:  # absent: the harness's random state is already the right one
            effects["rng"] = rng
        return {"result": encoded,
                "out_tensors": [t.detach() for t in out.tensors],
                "out_arrays": out.arrays,
                "out_generators": [g.get_state() for g in out.generators],
                "differentiable": [i for i, t in enumerate(out.tensors)
                                   if inputs_grad and t.requires_grad and t.grad_fn is not None],
                "effects": effects}

    def _vjp(self, message: dict) -> dict:
        live, out, _, _ = self._run(message)
        outputs = [out.tensors[int(i)] for i in message.get("diff", [])]
        grads = [torch.zeros_like(o) if g is None else _tensor(g).to(o.device, o.dtype)
                 for o, g in zip(outputs, message.get("grad_outputs", []))]
        inputs = [t for t in live.tensors if t.requires_grad]
        guard = _Guard(f"the gradient of {message['fn']}(...)", torch.Generator())
        try:
            with guard:
                found = torch.autograd.grad(outputs, inputs, grads, allow_unused=True)
        finally:
            self.budget.charge(flops=guard.flops)
        return {"input_grads": [None if g is None else g.detach() for g in found]}

    def _inputs(self, message: dict) -> Live:
        _validate(message)
        tensors = []
        for value, rg, grad in zip(message.get("tensors", []), message.get("requires_grad", []),
                                   message.get("grads", [])):
            t = self._local(value)
            if rg and (t.is_floating_point() or t.is_complex()):
                t.requires_grad_()
            if grad is not None:
                t.grad = self._local(grad)
            tensors.append(t)
        arrays = [np.array(a) for a in message.get("arrays", [])]
        generators = []
        for state in message.get("generators", []):
            g = torch.Generator()
            g.set_state(_tensor(state).to(torch.uint8))
            generators.append(g)
        return Live(tensors, arrays, generators)

    def _local(self, value) -> torch.Tensor:
        """A tensor of the message as the reference's own: a copy, on the grader's device
        (the message's stays as it came, what :func:`_effects` compares with)."""
        if not isinstance(value, wire.WireTensor):
            raise StandInError("a tensor argument was too large or malformed")
        if self.device.type == "cpu" or not value.device.startswith(self.device.type):
            return value.values.clone()
        return value.values.to(self.device)

    def _rebuild(self, kind: str, state: Any) -> Any:
        if kind not in self.types:
            raise StandInError(f"a {kind} cannot be rebuilt by the grader")
        return self.types[kind](state)


_DTYPES = {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
           torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool}


def _validate(message: dict) -> None:
    """Sizes and dtypes of a request's tensors and arrays, before any work is done with them."""
    total = 0
    for value in [*message.get("tensors", []), *(g for g in message.get("grads", []) if g is not None)]:
        if isinstance(value, wire.WireTensor):
            if value.values.dtype not in _DTYPES:
                raise StandInError(f"a tensor of dtype {value.values.dtype} cannot be sent to a stand-in")
            n = value.values.numel()
        else:
            n = np.size(value)
        if n > MAX_TENSOR_ELEMENTS:
            raise OverBudget(f"a tensor of {n:,} elements was sent; the grader takes at most "
                             f"{MAX_TENSOR_ELEMENTS:,} per tensor")
        total += n
    total += sum(int(np.size(a)) for a in message.get("arrays", []))
    if total > MAX_REQUEST_ELEMENTS:
        raise OverBudget(f"the request holds {total:,} elements; the grader takes at most "
                         f"{MAX_REQUEST_ELEMENTS:,} per call")


def _tensor(value) -> torch.Tensor:
    return value.values if isinstance(value, wire.WireTensor) else torch.as_tensor(value)


def _same_bytes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two CPU tensors of one dtype hold the same bytes (a random state: memcmp is
    twice as fast as ``torch.equal`` on its 5 kB)."""
    return a.shape == b.shape and a.numpy().tobytes() == b.numpy().tobytes()


def _effects(message: dict, live: Live) -> dict:
    """What the call changed in its arguments: slot index (as text) → new value."""
    tensors, grads = {}, {}
    for i, (before, before_grad) in enumerate(zip(message.get("tensors", []), message.get("grads", []))):
        t = live.tensors[i]
        if not torch.equal(t.detach().cpu(), _tensor(before)):
            tensors[str(i)] = t.detach()
        now = None if t.grad is None else t.grad.detach()
        if (now is None) != (before_grad is None) or (now is not None and not torch.equal(now.cpu(), _tensor(before_grad))):
            grads[str(i)] = now
    arrays = {str(i): a for i, (a, before) in enumerate(zip(live.arrays, message.get("arrays", [])))
              if not np.array_equal(a, before)}
    return {"tensors": tensors, "grads": grads, "arrays": arrays,
            "generators": [g.get_state() for g in live.generators]}


class OracleServer:
    """Serves an :class:`Oracle` on a Unix socket at ``path`` that only ``uid`` may use.

    Each connection is served by a thread of its own (at most ``MAX_CONNECTIONS`` per job), so
    that junk sent on one connection never holds up the harness's own. Use as a context
    manager around a job; when the block ends the socket is closed and removed, and every
    connection is shut.
    """

    def __init__(self, path: Path, oracle: Oracle, uid: int | None):
        self.path, self.oracle = Path(path), oracle
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        if uid is not None:
            os.chown(self.path, uid, uid)
        self.sock.listen(MAX_CONNECTIONS)
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "OracleServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for sock in [self.sock, *self.connections]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.thread.join(timeout=5)
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if len(self.connections) >= MAX_CONNECTIONS:
                conn.close()
                continue
            self.connections.append(conn)
            threading.Thread(target=self._converse, args=(conn,), daemon=True).start()

    def _converse(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    message = receive(conn)
                except (StandInError, OSError) as e:
                    self._reply(conn, {"error": f"StandInError: {e}"})
                    return
                if message is None or not self._reply(conn, self.oracle.answer(message)):
                    return

    @staticmethod
    def _reply(conn: socket.socket, answer: dict) -> bool:
        try:
            send(conn, frame_answer(answer))
            return True
        except OSError:
            return False
