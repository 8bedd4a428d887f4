"""The value codec of the guest (host/value/codec.rs is the host's): what
crosses between interpreters and the host, as bytes.

Two formats cross: the codec's own (tags below 0x20; channel ends, queues
and buffers, which `marshal` cannot carry) and CPython's `marshal` (version
2, whose type codes are printable), which C code writes and reads in a
tenth of the time and which `dump` picks whenever it can carry a value.
The host tells them apart by the first byte, as `decode` does.

Handles (channel ends, queues) are objects of the modules that define them:
each registers its class here (`register_handle`), so that the codec
imports none of them.
"""

import _struct as struct  # `struct` itself is not loaded in the started interpreter
import marshal as _marshal
import sys

# Must match host/value/codec.rs (a host test checks).
MAX_DEPTH = 512
NONE, FALSE, TRUE, INT, FLOAT, STR, BYTES, BUFFER, TUPLE, RECV, SEND, LIST, DICT, QUEUE, ARRAY = range(15)
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
# A message in `marshal`'s format starts at this byte or above; the codec's
# tags are below 0x20. The one rule that tells the formats apart, on both
# sides (host/value/format.rs, `is_marshal`).
MARSHAL_FIRST = 0x28


def is_shareable(obj):
    """True if `obj` can be passed to another interpreter."""
    try:
        encode(obj)
    except ValueError:
        return False
    return True


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if not n:
            out.append(byte)
            return out
        out.append(byte | 0x80)


_TAGS = [bytes([tag]) for tag in range(15)]


# Tag and one-byte length of the short values `encode` writes directly.
SHORT_BYTES = [bytes([BYTES, n]) for n in range(0x80)]
SHORT_STR = [bytes([STR, n]) for n in range(0x80)]


def _byte_view(view):
    """`view`'s bytes as one flat `memoryview` of bytes, copied only if
    they are not contiguous."""
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B")


def encode(obj, buffer=False, prefix=b"", copy=False):
    """Encodes a shareable object after `prefix`; ValueError names what is
    not shareable. With `copy`, lists and dicts are encoded too (for the
    host, never for a channel).

    The pieces are joined once at the end, so a large payload is copied
    once, not once per growth of a buffer.
    """
    kind = type(obj)
    # Fast paths for the most common messages: short bytes and str.
    if kind is bytes and len(obj) < 0x80 and not buffer:
        return b"".join((prefix, SHORT_BYTES[len(obj)], obj))
    if kind is str and len(obj) < 0x20 and obj.isascii() and not buffer:
        return b"".join((prefix, SHORT_STR[len(obj)], obj.encode("ascii")))
    parts = [prefix]
    if buffer:
        try:
            view = memoryview(obj)
        except TypeError:
            raise ValueError(f"{type(obj).__name__!r} object does not support the buffer protocol") from None
        view = _byte_view(view)
        return b"".join((prefix, _TAGS[BUFFER], _varint(view.nbytes), view))
    pending = [(obj, 0)]
    while pending:
        obj, depth = pending.pop()
        kind = type(obj)
        if obj is None:
            parts.append(_TAGS[NONE])
        elif kind is bool:
            parts.append(_TAGS[TRUE] if obj else _TAGS[FALSE])
        elif kind is int:
            data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True) if obj else b""
            parts += (_TAGS[INT], _varint(len(data)), data)
        elif kind is float:
            parts += (_TAGS[FLOAT], _F64.pack(obj))
        elif kind is str:
            try:
                data = obj.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a str with lone surrogates is not shareable") from None
            parts += (_TAGS[STR], _varint(len(data)), data)
        elif kind is bytes:
            parts += (_TAGS[BYTES], _varint(len(obj)), obj)
        elif kind is tuple or (copy and kind is list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels are not shareable")
            parts += (_TAGS[TUPLE if kind is tuple else LIST], _varint(len(obj)))
            pending.extend((item, depth + 1) for item in reversed(obj))
        elif copy and kind is dict:
            if depth >= MAX_DEPTH:
                raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels are not shareable")
            parts += (_TAGS[DICT], _varint(len(obj)))
            for key, value in reversed(list(obj.items())):
                pending.append((value, depth + 1))
                pending.append((key, depth + 1))
        elif copy and kind is memoryview:
            # PEP 734's buffers: the receiver gets a read-only `memoryview`
            # of a copy of the bytes (interpreters share no memory).
            view = _byte_view(obj)
            parts += (_TAGS[BUFFER], _varint(view.nbytes), view)
        elif kind in HANDLE_TAGS:
            parts += (_TAGS[HANDLE_TAGS[kind]], _U64.pack(obj.id))
        elif copy and kind.__module__ == "numpy" and "numpy" in sys.modules:
            numpy = sys.modules["numpy"]
            if kind is numpy.ndarray:
                parts += _array(obj)
            elif isinstance(obj, numpy.generic) and obj.dtype.kind in "biufSU":
                # A numpy scalar (`np.float64(2.0)`, what `a.sum()` gives)
                # crosses as the Python value it stands for.
                pending.append((obj.item(), depth))
            else:
                raise ValueError(f"a numpy {kind.__name__!r} object cannot be copied")
        else:
            raise ValueError(f"{kind.__name__!r} object {'cannot be copied' if copy else 'is not shareable'}")
    return b"".join(parts)


def _array(array):
    """The codec's pieces of a numpy array: its dtype, shape and elements in
    C order (host/value/array.rs)."""
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcSUVMm":
        raise ValueError(f"a numpy array of dtype {dtype} cannot be copied: only arrays of numbers, strings, bytes and times")
    data = None
    if array.flags.c_contiguous:
        try:
            data = memoryview(array).cast("B")
        except (TypeError, ValueError):
            pass  # a dtype the buffer protocol lacks (datetime64)
    if data is None:
        data = array.tobytes()
    encoded = dtype.str.encode("ascii")
    shape = b"".join(_varint(n) for n in array.shape)
    return (_TAGS[ARRAY], _varint(len(encoded)), encoded, _varint(array.ndim), shape, _varint(len(data)), data)


def _decode_array(dtype, shape, data):
    import numpy

    # A writable array of its own, as any argument copied in is.
    return numpy.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


PLAIN_SCALARS = frozenset((type(None), bool, int, float, str, bytes))
_PLAIN_CONTAINERS = frozenset((tuple, list, dict))
_PLAIN = PLAIN_SCALARS | _PLAIN_CONTAINERS
_PLAIN_SHAREABLE = PLAIN_SCALARS | {tuple}
# Beyond this many containers a value goes by the codec, which also stops
# a cycle (a list holding itself).
_PLAIN_MAX_CONTAINERS = 10_000


def plain(obj, copy=True):
    """Whether `obj` holds only `None`, `bool`, `int`, `float`, `str`,
    `bytes`, tuples, and with `copy` lists and dicts (exactly these types):
    what crosses in `marshal`'s format (host/value/marshal.rs). Anything else
    would not, or not as itself: marshal writes any buffer (a `bytearray`,
    a numpy array) as `bytes`."""
    kind = type(obj)
    if kind in PLAIN_SCALARS:
        return True
    if kind is not tuple and (not copy or (kind is not list and kind is not dict)):
        return False
    pending = [obj]
    containers = 0
    while pending:
        obj = pending.pop()
        containers += 1
        if containers > _PLAIN_MAX_CONTAINERS:
            return False
        for items in (obj.keys(), obj.values()) if type(obj) is dict else (obj,):
            if len(items) > 16:
                # Many items: their types, gathered in C.
                kinds = set(map(type, items))
                if kinds <= PLAIN_SCALARS:
                    continue
                if not kinds <= (_PLAIN if copy else _PLAIN_SHAREABLE):
                    return False
                pending += [item for item in items if type(item) in _PLAIN_CONTAINERS]
                continue
            for item in items:
                kind = type(item)
                if kind in PLAIN_SCALARS:
                    continue
                if kind is tuple or (copy and (kind is list or kind is dict)):
                    pending.append(item)
                else:
                    return False
    return True


def dump(obj, copy=False, prefix=b""):
    """`prefix`, then `obj` encoded for the host: in `marshal`'s format if
    it is plain (C code, a tenth of the codec's time), else the codec's
    (channel ends, queues, buffers). ValueError names what cannot cross;
    without `copy`, lists and dicts are not (the codec says so)."""
    if plain(obj, copy):
        return prefix + _marshal.dumps(obj, 2)
    return encode(obj, prefix=prefix, copy=copy)


def _container(tag, items):
    if tag == TUPLE:
        return tuple(items)
    if tag == LIST:
        return items
    return dict(zip(items[::2], items[1::2]))


def decode(data):
    """Decodes a value the host checked, or wrote in `marshal`'s format
    (host/value/marshal.rs), which starts with a printable type code where the
    codec's tags are below 0x20."""
    if data and data[0] >= MARSHAL_FIRST:
        return _marshal.loads(data)
    # Fast paths for a lone short value (one length byte), the most common
    # message; the host checked it, so the length is right.
    if len(data) >= 2 and data[1] < 0x80 and len(data) == data[1] + 2:
        tag = data[0]
        if tag == BYTES:
            return bytes(data[2:])
        if tag == STR:
            return str(data[2:], "utf-8")
        if tag == INT:
            return int.from_bytes(data[2:], "little", signed=True)
    elif len(data) == 1 and data[0] == NONE:
        return None
    view = memoryview(data)
    at = 0

    def varint():
        nonlocal at
        n = shift = 0
        while True:
            byte = view[at]
            at += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n

    def sized():
        nonlocal at
        length = varint()
        chunk = view[at : at + length]
        at += length
        return chunk

    # Open containers: [items, remaining, tag]; the message is a tuple of one.
    root = [[], 1, TUPLE]
    stack = [root]
    while stack:
        top = stack[-1]
        if top[1] == 0:
            stack.pop()
            if stack:
                stack[-1][0].append(_container(top[2], top[0]))
            continue
        top[1] -= 1
        tag = view[at]
        at += 1
        if tag == NONE:
            value = None
        elif tag == FALSE:
            value = False
        elif tag == TRUE:
            value = True
        elif tag == INT:
            value = int.from_bytes(sized(), "little", signed=True)
        elif tag == FLOAT:
            value = _F64.unpack_from(view, at)[0]
            at += 8
        elif tag == STR:
            value = str(sized(), "utf-8")
        elif tag == BYTES:
            value = sized().tobytes()
        elif tag == BUFFER:
            value = memoryview(sized().tobytes()).toreadonly()
        elif tag in (TUPLE, LIST, DICT):
            count = varint() * (2 if tag == DICT else 1)
            if count:
                stack.append([[], count, tag])
                continue
            value = _container(tag, [])
        elif tag == ARRAY:
            dtype = str(sized(), "ascii")
            shape = tuple(varint() for _ in range(varint()))
            value = _decode_array(dtype, shape, sized())
        elif tag in (RECV, SEND, QUEUE):
            (handle_id,) = _U64.unpack_from(view, at)
            at += 8
            value = _handle(tag, handle_id)
        else:
            raise ValueError(f"unknown value tag {tag}")
        top[0].append(value)
    return root[0][0]


# Handles ----------------------------------------------------------------------------

# The class of each kind of handle, and the tag of each class.
HANDLE_TAGS = {}
_HANDLE_CLASSES = {}


def register_handle(tag, cls):
    """Makes objects of `cls` (which has an `id`, and is made from one)
    cross as handles with codec tag `tag`: `RECV`, `SEND` or `QUEUE`."""
    HANDLE_TAGS[cls] = tag
    _HANDLE_CLASSES[tag] = cls


def _handle(tag, handle_id):
    try:
        cls = _HANDLE_CLASSES[tag]
    except KeyError:
        raise ValueError(f"a value holds a handle (tag {tag}) this interpreter has no class for") from None
    return cls(handle_id)
