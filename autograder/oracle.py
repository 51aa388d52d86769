"""The trusted side of stand-ins: answers a harness's calls with the reference's functions.

See :mod:`autograder.untrusted.standin` for what a stand-in is and what crosses. Here, in
the grader, an :class:`Oracle` holds the reference namespace (``solutions/``) of one
chapter and the names it may answer for one job; :class:`OracleServer` serves it on a Unix
socket in the job's folder, for as long as the job runs. Everything that arrives is plain
data (read by :func:`autograder.untrusted.wire.loads_message`: JSON and arrays of plain
numbers, bounds-checked, no pickle) and treated as untrusted: only the named functions are
called, on tensors, arrays and numbers, and the probe's own object types that the checks
module lists in ``STANDIN_TYPES``.
"""
from __future__ import annotations

import importlib
import os
import socket
import threading
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from autograder.chapter import Chapter, reference_namespace
from autograder.references import RNG_LOCK  # each answer swaps the harness's random state in
from autograder.untrusted import wire
from autograder.untrusted.standin import (Live, Slots, StandInError, decode, encode, frame_answer,
                                          receive, send)

MAX_CALLS = 200_000  # calls one job may make to its stand-ins
MAX_CONNECTIONS = 4  # connections one job may open to its stand-ins' socket


class Oracle:
    """Answers calls to the reference's ``names`` (the functions standing in for a student's).

    Args:
        chapter: the chapter whose solutions answer.
        device: where the reference computes (the grader's device).
        names: the functions this job may call.
    """

    def __init__(self, chapter: Chapter, device: str, names: Iterable[str]):
        self.ns = reference_namespace(chapter.slug)
        module = importlib.import_module(chapter.checks_module)
        self.types = getattr(module, "STANDIN_TYPES", {})
        self.device, self.names, self.calls = torch.device(device), set(names), 0

    def serve(self, path: Path, uid: int | None) -> "OracleServer":
        """A server answering this oracle's stand-ins on the socket ``path`` (for ``uid``), to
        use as a context manager around a job (runner.py knows it only as that)."""
        return OracleServer(path, self, uid)

    def answer(self, message: dict) -> dict:
        """The answer to one request; never raises (a fault is an ``error`` answer)."""
        try:
            self.calls += 1
            if self.calls > MAX_CALLS:
                raise StandInError(f"more than {MAX_CALLS} calls to stand-ins")
            name = message.get("fn")
            if name not in self.names or not callable(self.ns.get(name)):
                raise StandInError(f"no stand-in for {name!r} here")
            return self._vjp(message) if message.get("op") == "vjp" else self._call(message)
        except Exception as e:  # noqa: BLE001  the caller's fault or the reference's: reported
            return {"error": f"{type(e).__name__}: {str(e)[:300]}"}

    # -- calls ---------------------------------------------------------------------------
    def _run(self, message: dict) -> tuple[Live, Slots, Any, torch.Tensor | None]:
        """Call the reference on the message's arguments, with the harness's random state;
        the random state it leaves, or None when the call drew nothing."""
        live = self._inputs(message)
        args = decode(message.get("args", []), live, self._rebuild)
        kwargs = decode(message.get("kwargs", {}), live, self._rebuild)
        before = _tensor(message["rng"]).to(torch.uint8)
        with RNG_LOCK:
            saved = torch.get_rng_state()
            try:
                torch.set_rng_state(before)
                with torch.enable_grad():
                    result = self.ns[message["fn"]](*args, **kwargs)
                    out = Slots()
                    encoded = encode(result, out)  # materialises iterators, which may draw
                rng = torch.get_rng_state()
            finally:
                torch.set_rng_state(saved)
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
        found = torch.autograd.grad(outputs, inputs, grads, allow_unused=True)
        return {"input_grads": [None if g is None else g.detach() for g in found]}

    def _inputs(self, message: dict) -> Live:
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
