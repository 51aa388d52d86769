"""Plain data across the process boundary: JSON for structure, ``.npz`` for arrays.

Nothing is pickled. Whatever the student's code returns is turned into plain data in the
child (:func:`pack`); the parent reads it back (:func:`unpack`) with ``allow_pickle=False``
and gets only :class:`WireTensor`, numbers, strings, lists, dicts and
:class:`WireObject` descriptions of anything else.

The stand-in channel, thousands of small messages per job, has a leaner format of its own
(:func:`dumps_message`, :func:`loads_message`): no description of what cannot cross (it is
refused), one walk, and arrays read back as views of the received buffer.
"""
from __future__ import annotations

import functools
import io
import json
import json.encoder
import math
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

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


def unpack(data: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Inverse of :func:`pack`; unknown shapes of data become :class:`WireObject`.

    Raises:
        ValueError: the data is malformed in a way that no description can stand for (a
            reference to an array that is not there, nesting deeper than :func:`pack` makes).
    """
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if depth > MAX_UNPACK_DEPTH:
        raise ValueError("the data is nested too deeply")
    if isinstance(data, list):
        return WireObject("list", "malformed")
    if not isinstance(data, dict):
        return WireObject(type(data).__name__, "malformed")
    if "__float__" in data:
        text = data["__float__"]
        return float(text) if text in ("nan", "inf", "-inf") else WireObject("float", "malformed")
    if "__tensor__" in data:
        values = torch.from_numpy(np.asarray(_array_ref(arrays, data["__tensor__"])).copy())
        dtype = getattr(torch, str(data.get("dtype", "")), None)
        if isinstance(dtype, torch.dtype) and dtype != values.dtype:
            values = values.to(dtype)
        return WireTensor(values, _str(data.get("device", "?")), _str(data.get("type", "?")),
                          bool(data.get("requires_grad", False)))
    if "__ndarray__" in data:
        return np.asarray(_array_ref(arrays, data["__ndarray__"]))
    if "__seq__" in data:
        items = data.get("items", [])
        if not isinstance(items, list):
            return WireObject("sequence", "malformed")
        items = [unpack(v, arrays, depth + 1) for v in items]
        return tuple(items) if data["__seq__"] == "tuple" else items
    if "__dict__" in data:
        entries = data["__dict__"]
        if not isinstance(entries, dict):
            return WireObject("dict", "malformed")
        return {str(k): unpack(v, arrays, depth + 1) for k, v in entries.items()}
    if "__object__" in data:
        return WireObject(_str(data["__object__"]), _str(data.get("text", "")))
    return WireObject("dict", "malformed")


MAX_UNPACK_DEPTH = 64  # pack() nests at most 21 levels (two JSON levels each)


def _array_ref(arrays: dict[str, np.ndarray], key: Any) -> np.ndarray:
    if type(key) is not str or key not in arrays:
        raise ValueError("a reference to an array that is not in the message")
    return arrays[key]


def _str(value: Any) -> str:
    """A name or text that came from the other side: a string, at most ``MAX_REPR`` long."""
    return value[:MAX_REPR] if type(value) is str else "?"


def _malformed(read: Callable[..., Any]) -> Callable[..., Any]:
    """``read`` raising only ValueError on malformed input (whatever json, NumPy or PyTorch
    raise on it: a wrong type, a missing key, nesting deeper than Python recurses)."""
    @functools.wraps(read)
    def wrapper(*args, **kwargs):
        try:
            return read(*args, **kwargs)
        except ValueError:
            raise
        except (TypeError, LookupError, AttributeError, RuntimeError, ArithmeticError, MemoryError,
                EOFError, OSError, struct.error, zipfile.BadZipFile) as e:
            raise ValueError(f"malformed data ({type(e).__name__})") from None
    return wrapper


def dumps(obj: Any) -> tuple[str, bytes]:
    """Pack ``obj`` into a JSON text and the bytes of an ``.npz`` file."""
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(pack(obj, arrays))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return text, buf.getvalue()


@_malformed
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


@_malformed
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


# -- the stand-in channel's messages -------------------------------------------------------
# One message per call each way, thousands per job: written in one walk (dispatch on the exact
# type), read back by json's own parser with an object hook. Layout: a big-endian u32, the
# length of the JSON text; the JSON text, where each tensor is {"@": ["t", dtype, shape,
# device, type, requires_grad]} and each NumPy array {"@": ["a", dtype, shape]}; then their
# bytes, in the order they appear in the text, each starting at a multiple of ALIGN. The
# reader gives each its place in that order, so no two overlap and none runs past the end.
REF = "@"  # the key of a tensor or array; a dict of the data that has this key is escaped:
# {"@": [[key, value], ...]}
ALIGN = 16  # every array starts at a multiple of this (complex128's size), for aligned views
MAX_DEPTH = 100  # nesting of lists and dicts in one message (encoded arguments take two a level)
MAX_ENTRIES = 100_000  # tensors and arrays in one message
MAX_DIMS = 32  # dimensions of one tensor or array
_MAX_SPAN = 1 << 40  # the product of a shape's dimensions (0 counted as 1): strides fit int64
_HEAD = struct.Struct("!I")
_PLAIN = frozenset({str, int, float, bool, type(None)})  # what JSON writes as it is
_PAD = bytes(ALIGN)
_TORCH_DTYPES = {name: getattr(torch, name) for name in (
    "bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128") if hasattr(torch, name)}
_TORCH_NAMES = {dtype: name for name, dtype in _TORCH_DTYPES.items()}
# how a tensor's bytes are read: as this NumPy dtype, then viewed as the torch dtype (NumPy
# has no bfloat16; a bool is read as a byte, then made 0 or 1)
_READ_AS = {name: np.dtype("int16" if name == "bfloat16" else "uint8" if name == "bool" else name)
            for name in _TORCH_DTYPES}
_NUMPY_DTYPES: dict[str, np.dtype] = {}  # the dtype texts met so far that are plain numbers


def _json_encoder() -> Callable[[Any], str]:
    """JSON text of data that :func:`_put` made: compact, NaN and ±Infinity as JSON's
    extensions, which :mod:`json` reads back. The C encoder is made once: ``json.dumps``
    makes one per call, two thirds of its time on a small message."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(separators=(",", ":")).encode
    encoder = make(None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda obj: "".join(encoder(obj, 0))


_ENCODE = _json_encoder()


def dumps_message(obj: Any, limit: int) -> bytearray:
    """``obj`` (``None``, bools, numbers, strings, lists, tuples, dicts with string keys,
    tensors, :class:`WireTensor` and NumPy arrays of plain numbers) as one message.

    The tensors' bytes are read now: what is written is what they hold at this call.

    Raises:
        ValueError: something in ``obj`` cannot cross, or the message would exceed ``limit``.
    """
    chunks: list = []
    text = _ENCODE(_put(obj, chunks, 0)).encode()
    parts: list = [_HEAD.pack(len(text)), text]
    end = _HEAD.size + len(text)
    for chunk in chunks:
        pad = -end % ALIGN
        if pad:
            parts.append(_PAD[:pad])
        parts.append(chunk)
        end += pad + chunk.nbytes
    if end > limit:
        raise ValueError(f"the message would be larger than the limit ({limit} bytes)")
    return bytearray().join(parts)


def _put(obj: Any, chunks: list, depth: int) -> Any:
    """``obj`` as JSON-able data, the bytes of its tensors and arrays appended to ``chunks``."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if depth > MAX_DEPTH:
        raise ValueError("the message is nested too deeply")
    if kind is dict:
        out = {}
        for key, value in obj.items():
            if type(key) is not str:
                raise ValueError(f"a dict key of type {type(key).__name__} cannot cross")
            out[key] = value if type(value) in _PLAIN else _put(value, chunks, depth + 1)
        return {REF: [[k, v] for k, v in out.items()]} if REF in out else out
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _put(v, chunks, depth + 1) for v in obj]
    if kind is WireTensor:
        return _put_tensor(obj.values, obj.device, obj.type_name, obj.requires_grad, chunks)
    if isinstance(obj, torch.Tensor):
        device = "cpu" if obj.is_cpu else str(obj.device)
        return _put_tensor(obj, device, kind.__name__, obj.requires_grad, chunks)
    if kind is np.ndarray:
        return _put_array(obj, chunks)
    raise ValueError(f"a {kind.__name__} cannot cross the stand-in channel")


def _put_tensor(t: torch.Tensor, device: str, type_name: str, requires_grad: bool, chunks: list) -> dict:
    plain = t if type(t) is torch.Tensor else torch.Tensor.as_subclass(t, torch.Tensor)
    name = _TORCH_NAMES.get(plain.dtype)
    if name is None or plain.layout != torch.strided or plain.is_meta:
        raise ValueError(f"a tensor of dtype {plain.dtype} ({plain.layout}, {plain.device.type}) cannot cross")
    if plain.numel() > MAX_ELEMENTS:
        raise ValueError(f"a tensor of {plain.numel()} elements is larger than the limit ({MAX_ELEMENTS})")
    if plain.requires_grad:
        plain = plain.detach()
    if not plain.is_cpu:
        plain = plain.cpu()
    if plain.is_conj() or plain.is_neg():
        plain = plain.resolve_conj().resolve_neg()
    plain = plain.contiguous()
    if name == "bfloat16":  # NumPy has no bfloat16: its bits cross as int16
        plain = plain.view(torch.int16)
    chunks.append(plain.numpy())
    return {REF: ["t", name, list(plain.shape), device, type_name, bool(requires_grad)]}


def _put_array(a: np.ndarray, chunks: list) -> dict:
    if a.dtype.kind not in SAFE_KINDS or a.dtype.hasobject:
        raise ValueError(f"an array of dtype {a.dtype} cannot cross")
    chunks.append(np.ascontiguousarray(a))
    return {REF: ["a", a.dtype.str, list(a.shape)]}


@_malformed
def loads_message(buffer: bytearray) -> Any:
    """Read back what :func:`dumps_message` wrote, as untrusted data: tensors come back as
    :class:`WireTensor`, arrays as ``np.ndarray``, both views of ``buffer`` (so ``buffer``
    must be the message's own, never reused); only plain-number dtypes are accepted.

    Raises:
        ValueError: the message is malformed.
    """
    if len(buffer) < _HEAD.size:
        raise ValueError("the message is shorter than its header")
    (size,) = _HEAD.unpack_from(buffer)
    start = _HEAD.size + size
    if start > len(buffer):
        raise ValueError("the message is shorter than its header says")
    reader = _Reader(buffer, start)
    data = json.JSONDecoder(object_hook=reader.resolve).decode(str(memoryview(buffer)[_HEAD.size:start], "utf-8"))
    if reader.offset != len(buffer):
        raise ValueError("the message does not end where its arrays end")
    return data


class _Reader:
    """The object hook of one message: gives each tensor or array, in the order met, the next
    place in the buffer; unescapes escaped dicts."""

    def __init__(self, buffer: bytearray, offset: int):
        self.buffer, self.offset, self.entries = buffer, offset, 0

    def resolve(self, obj: dict) -> Any:
        if REF not in obj:
            return obj
        entry = obj[REF]
        if len(obj) != 1 or type(entry) is not list or not entry:
            raise ValueError("malformed reference")
        kind = entry[0]
        if type(kind) is list:
            if not all(type(p) is list and len(p) == 2 and type(p[0]) is str for p in entry):
                raise ValueError("malformed escaped dict")
            return dict(entry)
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise ValueError("too many arrays in one message")
        if kind == "t" and len(entry) == 6:
            return self._tensor(*entry[1:])
        if kind == "a" and len(entry) == 3:
            return self._array(*entry[1:])
        raise ValueError("malformed reference")

    def _place(self, count: int, itemsize: int) -> int:
        """The offset of the next array, of ``count`` items; it is taken."""
        offset = self.offset + (-self.offset % ALIGN)
        end = offset + count * itemsize
        if end > len(self.buffer):
            raise ValueError("an array runs past the end of the message")
        self.offset = end
        return offset

    def _tensor(self, name: Any, shape: Any, device: Any, type_name: Any, requires_grad: Any) -> WireTensor:
        read = _READ_AS.get(name) if type(name) is str else None
        if read is None or type(device) is not str or type(type_name) is not str or type(requires_grad) is not bool:
            raise ValueError("malformed tensor")
        count = _count(shape)
        values = torch.from_numpy(np.frombuffer(self.buffer, read, count, self._place(count, read.itemsize))
                                  .reshape(shape))
        dtype = _TORCH_DTYPES[name]
        if dtype == torch.bool:
            values = values != 0
        elif values.dtype != dtype:
            values = values.view(dtype)
        return WireTensor(values, device, type_name, requires_grad)

    def _array(self, text: Any, shape: Any) -> np.ndarray:
        dtype = _numpy_dtype(text)
        count = _count(shape)
        if dtype.kind == "b":  # read as bytes, then made 0 or 1
            return np.frombuffer(self.buffer, np.uint8, count, self._place(count, 1)).reshape(shape) != 0
        return np.frombuffer(self.buffer, dtype, count, self._place(count, dtype.itemsize)).reshape(shape)


def _count(shape: Any) -> int:
    """The number of elements of a shape that came from outside, checked."""
    if type(shape) is not list or len(shape) > MAX_DIMS:
        raise ValueError("malformed shape")
    count, span = 1, 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise ValueError("malformed shape")
        count, span = count * d, span * max(d, 1)
        if span > _MAX_SPAN:
            raise ValueError("a shape is too large")
    return count


def _numpy_dtype(text: Any) -> np.dtype:
    """The dtype named by ``text`` (``np.dtype.str``), when it is one of plain numbers."""
    dtype = _NUMPY_DTYPES.get(text) if type(text) is str else None
    if dtype is None:
        if type(text) is not str or len(text) > 8:
            raise ValueError("malformed dtype")
        dtype = np.dtype(text)
        if dtype.kind not in SAFE_KINDS or dtype.hasobject or dtype.fields is not None \
                or dtype.subdtype is not None or dtype.itemsize == 0:
            raise ValueError(f"an array of dtype {dtype} is not plain data")
        _NUMPY_DTYPES[text] = dtype
    return dtype
