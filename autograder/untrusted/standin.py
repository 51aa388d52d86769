"""Stand-ins: a working function in place of a student's failed one, answered by the trusted side.

When exercise B (or a training check) calls the student's own A and A failed its own checks,
B is graded with A *standing in*: ``ns["A"]`` is replaced, for B's probes only, by a proxy
(:func:`make_proxy`). The proxy holds no code of A. It sends its arguments, as plain data,
to the trusted grader, which runs the reference A on them (autograder/oracle.py) and sends
back what A returned and what it did to its arguments. So the harness never sees reference
code, and a proxy only ever answers questions it is asked, like the "expected …" of a
feedback message.

What crosses (both ways, one message per call each way in the lean format of
:func:`autograder.untrusted.wire.dumps_message`):

* tensors and NumPy arrays (each once, however often it appears), with ``requires_grad``
  and ``.grad``; after the call, their new values and gradients — so an in-place update
  (``sgd``) happens to the caller's own tensors;
* ``torch.Generator`` states, and torch's global random state, before and (when the call
  drew from it) after — so a stand-in draws exactly the random numbers the reference would
  (``data_iter``);
* numbers, strings, ``None``, dtypes, devices, lists, tuples and dicts of these;
* the probe's own objects (a model, a loss, an updater, a batch iterator; objects, or plain
  functions with a ``standin_state`` attribute), which describe themselves with
  ``standin_state()`` and are rebuilt by the checks module's
  ``STANDIN_TYPES`` on the trusted side;
* results that are iterators (materialised as lists) and ``DataLoader``s over a
  ``TensorDataset`` (rebuilt here, so that iterating draws from this process's random state).

When the caller records gradients, outputs that depend on the inputs are connected to them
through an ``autograd.Function`` whose backward asks the trusted side for the
vector-Jacobian product.

Ordering (grader.py): stand-ins exist only in a second phase, in processes that run no
check of the exercise whose function they stand for; the first phase, where every
exercise's own checks run, has no stand-in and no channel to the trusted side.
"""
from __future__ import annotations

import socket
import struct
import types
from typing import Any, Callable

import numpy as np
import torch

from autograder.untrusted import wire

MAX_MESSAGE = 64 << 20  # bytes of one request or answer (the largest real one is a few MB)
MAX_ITEMS = 100_000  # items of an iterator a stand-in returns
_ABSENT = object()  # marks a name that was not defined before install()


class StandInError(RuntimeError):
    """A stand-in could not be called with these arguments, or its answer was unusable."""


# -- encoding ------------------------------------------------------------------------------
class Slots:
    """The tensors, arrays and generators met while encoding, each once (by identity)."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self.arrays: list[np.ndarray] = []
        self.generators: list[torch.Generator] = []

    def index(self, kind: str, obj: Any) -> int:
        found = getattr(self, kind)
        for i, seen in enumerate(found):
            if seen is obj:
                return i
        found.append(obj)
        return len(found) - 1


def encode(obj: Any, slots: Slots, depth: int = 0) -> Any:
    """``obj`` as plain data, its tensors/arrays/generators replaced by slot references."""
    if depth > 30:
        raise StandInError("the arguments are nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)) and type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, torch.Tensor):
        return {"__t__": slots.index("tensors", obj)}
    if isinstance(obj, np.ndarray):
        return {"__a__": slots.index("arrays", obj)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, torch.Generator):
        return {"__g__": slots.index("generators", obj)}
    if isinstance(obj, (torch.dtype, torch.device)):
        return {"__dtype__" if isinstance(obj, torch.dtype) else "__device__": str(obj)}
    if type(obj) in (list, tuple):
        return {"__seq__": type(obj).__name__, "items": [encode(v, slots, depth + 1) for v in obj]}
    if type(obj) is dict and all(type(k) is str for k in obj):
        return {"__map__": {k: encode(v, slots, depth + 1) for k, v in obj.items()}}
    if hasattr(type(obj), "standin_state") or (isinstance(obj, types.FunctionType)
                                               and "standin_state" in obj.__dict__):
        kind, state = obj.standin_state()
        return {"__obj__": kind, "state": encode(state, slots, depth + 1)}
    loader = _loader_state(obj)
    if loader is not None:
        return {"__loader__": encode(loader, slots, depth + 1)}
    if isinstance(obj, (types.GeneratorType, map, filter, zip)) or hasattr(obj, "__next__"):
        items = []
        for item in obj:
            items.append(encode(item, slots, depth + 1))
            if len(items) > MAX_ITEMS:
                raise StandInError(f"the iterator yielded more than {MAX_ITEMS} items")
        return {"__iter__": items}
    raise StandInError(f"a {type(obj).__name__} cannot be passed to or returned by a stand-in")


def _loader_state(obj: Any) -> dict | None:
    """A ``DataLoader`` over a ``TensorDataset`` as plain settings, else None."""
    from torch.utils import data
    if not isinstance(obj, data.DataLoader) or not isinstance(obj.dataset, data.TensorDataset):
        return None
    return {"tensors": list(obj.dataset.tensors), "batch_size": obj.batch_size,
            "shuffle": isinstance(obj.sampler, data.RandomSampler), "drop_last": obj.drop_last}


def decode(data: Any, live: "Live", rebuild: Callable[[str, Any], Any] | None = None) -> Any:
    """Inverse of :func:`encode`, with slots filled from ``live``; ``rebuild(kind, state)``
    makes described objects (trusted side only)."""
    if not isinstance(data, dict):
        return tuple(decode(v, live, rebuild) for v in data) if isinstance(data, tuple) else data
    if "__t__" in data:
        return live.tensors[int(data["__t__"])]
    if "__a__" in data:
        return live.arrays[int(data["__a__"])]
    if "__g__" in data:
        return live.generators[int(data["__g__"])]
    if "__dtype__" in data:
        return getattr(torch, str(data["__dtype__"]).replace("torch.", ""))
    if "__device__" in data:
        return torch.device(str(data["__device__"]))
    if "__seq__" in data:
        items = [decode(v, live, rebuild) for v in data.get("items", [])]
        return tuple(items) if data["__seq__"] == "tuple" else items
    if "__map__" in data:
        return {str(k): decode(v, live, rebuild) for k, v in data["__map__"].items()}
    if "__iter__" in data:
        return iter([decode(v, live, rebuild) for v in data["__iter__"]])
    if "__loader__" in data:
        return _make_loader(decode(data["__loader__"], live, rebuild))
    if "__obj__" in data:
        if rebuild is None:
            raise StandInError(f"the answer holds a {data['__obj__']}, which cannot be rebuilt here")
        return rebuild(str(data["__obj__"]), decode(data.get("state"), live, rebuild))
    raise StandInError("malformed stand-in data")


def _make_loader(state: dict):
    from torch.utils import data
    return data.DataLoader(data.TensorDataset(*state["tensors"]), batch_size=state["batch_size"],
                           shuffle=bool(state["shuffle"]), drop_last=bool(state["drop_last"]))


class Live:
    """The live objects behind the slots of one message."""

    def __init__(self, tensors=(), arrays=(), generators=()):
        self.tensors, self.arrays, self.generators = list(tensors), list(arrays), list(generators)


def slot_payload(slots: Slots) -> dict:
    """What the slots hold, as wire data: values, grads, generator states.

    The tensors and arrays are the slots' own (detached), not copies: a message is written out
    when it is sent, before anything can change them (a request kept for later is a
    :func:`snapshot`)."""
    return {"tensors": [t.detach() for t in slots.tensors],
            "requires_grad": [bool(t.requires_grad) for t in slots.tensors],
            "grads": [None if t.grad is None else t.grad.detach() for t in slots.tensors],
            "arrays": list(slots.arrays),
            "generators": [g.get_state() for g in slots.generators]}


def snapshot(request: dict) -> dict:
    """``request`` with copies of its tensors and arrays: what it says now, kept for later."""
    return {**request, "tensors": [t.clone() for t in request["tensors"]],
            "grads": [None if g is None else g.clone() for g in request["grads"]],
            "arrays": [a.copy() for a in request["arrays"]]}


# -- messages ------------------------------------------------------------------------------
def frame(message: dict) -> bytearray:
    """A message's bytes (:func:`wire.dumps_message`).

    Raises:
        StandInError: something in it cannot cross, or it is larger than ``MAX_MESSAGE``.
    """
    try:
        return wire.dumps_message(message, MAX_MESSAGE)
    except Exception as e:  # noqa: BLE001  a tensor subclass's own methods may raise anything
        raise StandInError(f"{type(e).__name__}: {str(e)[:300]}") from None


def frame_answer(answer: dict) -> bytearray:
    """An answer's bytes; an answer that cannot cross becomes an ``error`` answer."""
    try:
        return frame(answer)
    except StandInError as e:
        return frame({"error": f"StandInError: {e}"})


def send(sock: socket.socket, body: bytearray) -> None:
    """One message's bytes (:func:`frame`) with their length in front."""
    sock.sendall(struct.pack("!Q", len(body)) + body)


def receive(sock: socket.socket, limit: int = MAX_MESSAGE) -> dict | None:
    """The next message, or None when the other side has closed.

    Raises:
        StandInError: the message is larger than ``limit`` or malformed.
    """
    head = _read_exactly(sock, 8)
    if head is None:
        return None
    (size,) = struct.unpack("!Q", head)
    if size > limit:
        raise StandInError(f"a message of {size} bytes is larger than the limit ({limit})")
    body = _read_exactly(sock, size)
    if body is None:
        raise StandInError("the message was cut short")
    return parse(body)


def parse(body: bytes | bytearray) -> dict:
    """A message's bytes as a dict. Its tensors and arrays are views of ``body`` (copied first
    unless it is a bytearray), which must therefore be this message's alone.

    Raises:
        StandInError: it is malformed.
    """
    try:
        message = wire.loads_message(body if type(body) is bytearray else bytearray(body))
    except Exception as e:  # noqa: BLE001  anything unreadable is malformed
        raise StandInError(f"malformed message ({type(e).__name__})") from None
    if not isinstance(message, dict):
        raise StandInError("malformed message")
    return message


def _read_exactly(sock: socket.socket, n: int) -> bytearray | None:
    """``n`` bytes into a new buffer, which grows as they arrive (an announced size costs
    nothing until it is sent)."""
    buf, got = bytearray(min(n, 1 << 20)), 0
    while got < n:
        if got == len(buf):
            buf += bytes(min(n - got, len(buf)))
        with memoryview(buf) as view:
            k = sock.recv_into(view[got:])
        if not k:
            return None
        got += k
    return buf


class SocketTransport:
    """The harness's end of the channel: one connection to the trusted side's socket."""

    def __init__(self, path: str):
        self.path, self.sock = path, None

    def ask(self, message: dict) -> dict:
        if self.sock is None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(self.path)
        send(self.sock, frame(message))
        answer = receive(self.sock)
        if answer is None:
            raise StandInError("the grader closed the stand-in channel")
        return answer


class DirectTransport:
    """The nbgrader path's channel: the trusted side is this process (see inline.py); the
    message still goes through the wire format, so both paths compute the same numbers."""

    def __init__(self, answer: Callable[[dict], dict]):
        self.answer = answer

    def ask(self, message: dict) -> dict:
        answer = self.answer(parse(frame(message)))
        return parse(frame_answer(answer))


# -- the proxy -----------------------------------------------------------------------------
def make_proxy(name: str, transport) -> Callable:
    """A function that answers like the reference ``name`` by asking the trusted side."""
    def proxy(*args, **kwargs):
        slots = Slots()
        request = {"op": "call", "fn": name, "args": encode(list(args), slots),
                   "kwargs": encode(dict(kwargs), slots), "rng": torch.get_rng_state(),
                   **slot_payload(slots)}
        # a backward asks again with these arguments, as they are now: only when there can be one
        kept = snapshot(request) if _may_connect(slots) else None
        answer = transport.ask(request)
        if "error" in answer:
            raise StandInError(f"{name}(...) raised {answer['error']}")
        live = Live([_on_its_device(t) for t in answer.get("out_tensors", [])],
                    [np.array(a) for a in answer.get("out_arrays", [])],
                    [_generator(s) for s in answer.get("out_generators", [])])
        _apply_effects(slots, answer.get("effects", {}))
        result = decode(answer.get("result"), live)
        return _connect(name, transport, kept, slots, answer, live, result)
    proxy.__name__ = proxy.__qualname__ = name
    proxy.__doc__ = f"A working {name}, answered by the grader (a stand-in for yours)."
    return proxy


def _may_connect(slots: Slots) -> bool:
    """Whether the call's outputs may be connected to its inputs (see :func:`_connect`)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in slots.tensors)


def _plain(value) -> torch.Tensor:
    return value.values if isinstance(value, wire.WireTensor) else torch.as_tensor(value)


def _on_its_device(value) -> torch.Tensor:
    """A returned tensor on the device the reference computed it on (a GPU job's stand-in
    answers on the GPU), when this process has that device."""
    t = _plain(value)
    device = getattr(value, "device", "cpu")
    if device.startswith("cuda") and torch.cuda.is_available():
        return t.to(device)
    return t


def _generator(state) -> torch.Generator:
    g = torch.Generator()
    g.set_state(_plain(state))
    return g


def _apply_effects(slots: Slots, effects: dict) -> None:
    """What the reference did to its arguments, done to the caller's own objects: the
    answer lists only what changed (``effects``: slot index → new value)."""
    tensors, grads = effects.get("tensors", {}), effects.get("grads", {})
    if tensors or grads:  # mostly neither: the call only read its arguments
        with torch.no_grad():
            for i, value in tensors.items():
                t, value = slots.tensors[int(i)], _plain(value)
                if value.shape == t.shape and value.dtype == t.dtype:
                    t.copy_(value.to(t.device))
            for i, grad in grads.items():
                t = slots.tensors[int(i)]
                t.grad = None if grad is None else _plain(grad).to(t.device)
    for i, value in effects.get("arrays", {}).items():
        a = slots.arrays[int(i)]
        if np.shape(value) == a.shape:
            np.copyto(a, value, casting="unsafe")
    for g, state in zip(slots.generators, effects.get("generators", [])):
        g.set_state(_plain(state))
    if effects.get("rng") is not None:
        torch.set_rng_state(_plain(effects["rng"]))


class _Remote(torch.autograd.Function):
    """Outputs computed by the trusted side, connected to the inputs; backward asks it too."""

    @staticmethod
    def forward(ctx, call, *inputs):  # noqa: D102  (autograd's interface)
        ctx.call = call
        return tuple(o.detach().clone() for o in call["outputs"])

    @staticmethod
    def backward(ctx, *grads):  # noqa: D102
        call = ctx.call
        request = {**call["request"], "op": "vjp", "grad_outputs": [
            None if g is None else g.detach().cpu() for g in grads], "diff": call["diff"]}
        answer = call["transport"].ask(request)
        if "error" in answer:
            raise StandInError(f"the gradient of {call['name']}(...) raised {answer['error']}")
        in_grads = [None if g is None else _plain(g).to(t.device)
                    for g, t in zip(answer.get("input_grads", []), call["inputs"])]
        return (None, *in_grads)


def _connect(name, transport, request, slots, answer, live, result):
    """Connect differentiable outputs to the inputs that require grad (when recording)."""
    diff = [int(i) for i in answer.get("differentiable", [])]
    inputs = [t for t in slots.tensors if t.requires_grad]
    if not diff or not inputs or not torch.is_grad_enabled() or request is None:
        return result
    outputs = [live.tensors[i] for i in diff]
    call = {"name": name, "transport": transport, "request": request, "outputs": outputs,
            "inputs": inputs, "diff": diff}
    connected = _Remote.apply(call, *inputs)
    swap = {id(o): c for o, c in zip(outputs, connected)}
    return _replace(result, swap)


def _replace(obj, swap: dict):
    if isinstance(obj, torch.Tensor):
        return swap.get(id(obj), obj)
    if type(obj) in (list, tuple):
        return type(obj)(_replace(v, swap) for v in obj)
    if type(obj) is dict:
        return {k: _replace(v, swap) for k, v in obj.items()}
    return obj


def install(ns: dict, names: list[str], transport) -> dict:
    """Put proxies for ``names`` into ``ns``; return what they replaced (for :func:`restore`)."""
    saved = {name: ns.get(name, _ABSENT) for name in names}
    for name in names:
        ns[name] = make_proxy(name, transport)
    return saved


def restore(ns: dict, saved: dict) -> None:
    """Undo :func:`install`."""
    for name, value in saved.items():
        if value is _ABSENT:
            ns.pop(name, None)
        else:
            ns[name] = value

