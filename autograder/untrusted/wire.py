"""Plain data across the process boundary: JSON for structure, ``.npz`` for arrays.

Nothing is pickled. Whatever the student's code returns is turned into plain data in the
child (:func:`pack`); the parent reads it back (:func:`unpack`) with ``allow_pickle=False``
and gets only :class:`WireTensor`, numbers, strings, lists, dicts and
:class:`WireObject` descriptions of anything else.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MAX_REPR = 200  # characters of repr kept for an object that is not plain data
MAX_ELEMENTS = 5_000_000  # a returned tensor larger than this is described, not copied


@dataclass(frozen=True)
class WireTensor:
    """A tensor as it came back: its values on the CPU and what it was."""
    values: torch.Tensor  # CPU tensor, original dtype
    device: str
    type_name: str  # "Tensor", "Parameter", or a subclass's name
    requires_grad: bool

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype


@dataclass(frozen=True)
class WireObject:
    """Anything that was not plain data: its type and a short repr."""
    type_name: str
    text: str


def _tensor_to_numpy(t: torch.Tensor) -> tuple[np.ndarray, str]:
    plain = torch.Tensor.as_subclass(t, torch.Tensor).detach()
    plain = plain.to("cpu") if plain.device.type != "cpu" else plain
    dtype = str(plain.dtype).replace("torch.", "")
    if plain.dtype in (torch.bfloat16, torch.float16):
        plain = plain.to(torch.float32)
    if plain.is_complex() or plain.dtype == torch.bool or not plain.is_floating_point():
        return plain.numpy().copy(), dtype
    return plain.contiguous().numpy().copy(), dtype


def pack(obj: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Turn ``obj`` into JSON-able data, moving tensor and array values into ``arrays``."""
    if depth > 20:
        return {"__object__": "nested too deep", "text": ""}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and type(obj) in (int, float, bool):
        return obj if not (isinstance(obj, float) and not math.isfinite(obj)) else {"__float__": repr(obj)}
    if isinstance(obj, WireTensor):  # what came back once goes back as it came
        key = f"a{len(arrays)}"
        arrays[key], dtype = _tensor_to_numpy(obj.values)
        return {"__tensor__": key, "dtype": str(obj.dtype).replace("torch.", ""), "device": obj.device,
                "type": obj.type_name, "requires_grad": obj.requires_grad}
    if isinstance(obj, WireObject):
        return {"__object__": obj.type_name, "text": obj.text}
    if isinstance(obj, torch.Tensor):
        if obj.numel() > MAX_ELEMENTS or obj.device.type == "meta":
            return _describe(obj)
        key = f"a{len(arrays)}"
        arrays[key], dtype = _tensor_to_numpy(obj)
        return {"__tensor__": key, "dtype": dtype, "device": str(obj.device),
                "type": type(obj).__name__, "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, np.ndarray) and type(obj) is np.ndarray and obj.dtype != object:
        key = f"a{len(arrays)}"
        arrays[key] = obj.copy()
        return {"__ndarray__": key}
    if isinstance(obj, np.generic) and type(obj).__module__ == "numpy":
        return pack(obj.item(), arrays, depth + 1)
    if type(obj) in (list, tuple):
        return {"__seq__": type(obj).__name__, "items": [pack(v, arrays, depth + 1) for v in obj]}
    if type(obj) is dict and all(type(k) is str for k in obj):
        return {"__dict__": {k: pack(v, arrays, depth + 1) for k, v in obj.items()}}
    return _describe(obj)


def _describe(obj: Any) -> dict:
    try:
        text = repr(obj)[:MAX_REPR]
    except BaseException:  # a hostile __repr__ may raise anything
        text = "<repr failed>"
    return {"__object__": type(obj).__name__, "text": text}


def unpack(data: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`pack`; unknown shapes of data become :class:`WireObject`."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return WireObject("list", "malformed")
    if not isinstance(data, dict):
        return WireObject(type(data).__name__, "malformed")
    if "__float__" in data:
        return float(data["__float__"])
    if "__tensor__" in data:
        values = torch.from_numpy(np.asarray(arrays[data["__tensor__"]]).copy())
        dtype = getattr(torch, str(data.get("dtype", "")), None)
        if isinstance(dtype, torch.dtype) and dtype != values.dtype:
            values = values.to(dtype)
        return WireTensor(values, str(data.get("device", "?")), str(data.get("type", "?")),
                          bool(data.get("requires_grad", False)))
    if "__ndarray__" in data:
        return np.asarray(arrays[data["__ndarray__"]])
    if "__seq__" in data:
        items = [unpack(v, arrays) for v in data.get("items", [])]
        return tuple(items) if data["__seq__"] == "tuple" else items
    if "__dict__" in data:
        return {str(k): unpack(v, arrays) for k, v in data["__dict__"].items()}
    if "__object__" in data:
        return WireObject(str(data["__object__"]), str(data.get("text", "")))
    return WireObject("dict", "malformed")


def dumps(obj: Any) -> tuple[str, bytes]:
    """Pack ``obj`` into a JSON text and the bytes of an ``.npz`` file."""
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(pack(obj, arrays))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return text, buf.getvalue()


def loads(text: str, npz: bytes) -> Any:
    """Read back what :func:`dumps` wrote, refusing pickled arrays."""
    with np.load(io.BytesIO(npz), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return unpack(json.loads(text), arrays)


SAFE_KINDS = "biufc"  # bool, signed, unsigned, float, complex: arrays of plain numbers only


def dumps_raw(obj: Any) -> bytes:
    """Pack ``obj`` into one buffer: a JSON header (with each array's dtype, shape and place)
    and the arrays' raw bytes. The fast format of the stand-in channel (no zip, no pickle)."""
    arrays: dict[str, np.ndarray] = {}
    data = pack(obj, arrays)
    layout, chunks, offset = {}, [], 0
    for key, array in arrays.items():
        shape = list(array.shape)  # before ascontiguousarray, which makes a 0-d array 1-d
        array = np.ascontiguousarray(array)
        layout[key] = {"dtype": array.dtype.str, "shape": shape, "offset": offset}
        chunks.append(array.tobytes())
        offset += array.nbytes
    header = json.dumps({"data": data, "arrays": layout}).encode()
    return len(header).to_bytes(8, "big") + header + b"".join(chunks)


def loads_raw(buffer: bytes) -> Any:
    """Read back what :func:`dumps_raw` wrote; only arrays of plain numbers are accepted.

    Raises:
        ValueError: the buffer is malformed.
    """
    size = int.from_bytes(buffer[:8], "big")
    head = json.loads(buffer[8: 8 + size])
    body = memoryview(buffer)[8 + size:]
    arrays = {}
    for key, spec in head["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        if dtype.kind not in SAFE_KINDS or dtype.hasobject:
            raise ValueError(f"an array of dtype {dtype} is not plain data")
        count = int(np.prod(spec["shape"], dtype=np.int64))
        if int(spec["offset"]) + count * dtype.itemsize > len(body):
            raise ValueError("an array runs past the end of the message")
        arrays[key] = np.frombuffer(body, dtype, count, int(spec["offset"])).reshape(spec["shape"]).copy()
    return unpack(head["data"], arrays)


def roundtrip(obj: Any) -> Any:
    """``loads(*dumps(obj))``: what the parent would see, without a process in between."""
    return loads(*dumps(obj))
