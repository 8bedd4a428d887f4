"""PEP 554's `interpreters` module, for code running in an isolate sandbox.

Every interpreter is a separate WebAssembly instance: its own memory, its own
`sys.modules`, no shared GIL. They pass data only through channels, which the
host owns. See the PEP (and isolate's README) for the API; where the PEP
leaves a choice, this module says what it does.

Choices and additions beyond the PEP:

- `list_all()` lists the interpreters of the caller's family: the one the
  host created, and those created from inside it (transitively). Another
  program's interpreters are invisible. `list_all_channels()` likewise lists
  the open channels whose ends this interpreter holds.
- `Interpreter.run_in_thread()` (deferred by the PEP) runs on a host thread
  and returns a `RunHandle`; its `join()` raises `RunFailedError` if the
  code raised.
- `recv(timeout=None)` and `send(obj, timeout=None)` raise `TimeoutError`.
  A `RecvChannel` is iterable until its channel is closed. Both ends are
  context managers that `release()` on exit.
- Shareable: `None`, `bool`, `int`, `float`, `str`, `bytes`, tuples of
  shareable objects, and channel ends; exactly these types, not subclasses.
  `send_buffer()` takes any object with the buffer protocol, and the
  receiver gets a read-only `memoryview`.
- Before running another interpreter or waiting on a channel, the caller's
  `sys.stdout` and `sys.stderr` are flushed, so output from several
  interpreters appears in the order it was written.
- There is one object for a given channel end in an interpreter. As the
  PEP says, the end is released (as by `release()`) when that object is
  garbage-collected: when nothing in the interpreter refers to it any
  more. A `with` block, `release()` and the destruction of the
  interpreter release it too.
- Python code may destroy only interpreters that Python code created; those
  the host created belong to the host.
"""

import _struct as struct  # `struct` itself is not loaded in the started interpreter
import sys
import weakref

import _host
import marshal as _marshal

__all__ = [
    "ChannelClosedError",
    "ChannelEmptyError",
    "ChannelError",
    "ChannelNotEmptyError",
    "ChannelNotFoundError",
    "ChannelReleasedError",
    "Interpreter",
    "NotReceivedError",
    "RecvChannel",
    "RemoteException",
    "RunFailedError",
    "RunHandle",
    "SendChannel",
    "create",
    "create_channel",
    "get_current",
    "is_shareable",
    "list_all",
    "list_all_channels",
]

# Must match host/value/codec.rs (a host test checks).
MAX_DEPTH = 512
_NONE, _FALSE, _TRUE, _INT, _FLOAT, _STR, _BYTES, _BUFFER, _TUPLE, _RECV, _SEND, _LIST, _DICT, _QUEUE = range(14)
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


# Exceptions -----------------------------------------------------------------


class RunFailedError(RuntimeError):
    """`Interpreter.run()` ended with an uncaught exception.

    Its `__cause__` is a `RemoteException` describing that exception.
    """


class RemoteException(Exception):
    """Stands for an exception raised in another interpreter.

    Not the exception itself, which stays in its interpreter: its type's
    name, its message and its formatted traceback, as text. Printed, it
    shows the other interpreter's traceback.
    """

    def __init__(self, type_name, message, traceback, interpreter_id=None):
        super().__init__(type_name, message)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.interpreter_id = interpreter_id
        self.add_note(f"\nUncaught in interpreter {interpreter_id}:\n\n{traceback.rstrip()}")

    def __str__(self):
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


class ChannelError(Exception):
    """The base class of channel errors."""


class ChannelNotFoundError(ChannelError):
    """No such channel (or none this interpreter holds an end of)."""


class ChannelEmptyError(ChannelError):
    """The channel was unexpectedly empty."""


class ChannelNotEmptyError(ChannelError):
    """The channel was unexpectedly not empty (`close()` without `force`)."""


class NotReceivedError(ChannelError):
    """Nothing was waiting to receive a sent object."""


class ChannelClosedError(ChannelError):
    """The channel is closed."""


class ChannelReleasedError(ChannelClosedError):
    """This interpreter released this end of the channel."""


# The door to the host (host/door.rs): request frames are an op byte and
# its arguments; an answer starts with 0 (ok) or 1 (refused) and a fault.
# Must match host/door.rs (a host test checks).
_CURRENT_INTERPRETER = 0x20
_LIST_INTERPRETERS = 0x21
_CREATE_INTERPRETER = 0x22
_INTERPRETER_IS_RUNNING = 0x23
_DESTROY_INTERPRETER = 0x24
_RUN_INTERPRETER = 0x25
_START_INTERPRETER = 0x26
_JOIN_RUN = 0x27
_RUN_IS_DONE = 0x28
_FORK_INTERPRETER = 0x29
_CREATE_CHANNEL = 0x30
_LIST_CHANNELS = 0x31
_CHANNEL_SEND = 0x32
_CHANNEL_RECV = 0x33
_CHANNEL_RELEASE = 0x34
_CHANNEL_CLOSE = 0x35
_CHANNEL_INTERPRETERS = 0x36
_TAKE_PAYLOAD = 0x37
_NO_TIMEOUT = 2**64 - 1
# A value given by reference (host/door.rs, VALUE_AT): a `bytes` this large
# or larger is read by the host where it lies, rather than joined into the
# frame (two copies of it in the guest).
_VALUE_AT = 0x1f
_BY_REFERENCE = 64 << 10
_VALUE_AT_FRAME = struct.Struct("<BII")
# Where a `bytes` object's data starts, from its address (`id()`):
# `tp_basicsize` counts the data's first byte.
_BYTES_DATA = bytes.__basicsize__ - 1
_FAULTS = {
    1: ChannelNotFoundError,
    2: ChannelClosedError,
    3: ChannelReleasedError,
    4: ChannelNotEmptyError,
    5: NotReceivedError,
    6: TimeoutError,
}
_INVALID_VALUE, _INTERPRETER_NOT_FOUND, _INTERPRETER_RUNNING, _INTERPRETER_FAILED = 7, 8, 9, 10
_RUN_FAILED, _RUN_EXITED, _LIMIT_REACHED, _FUNCTION_FAILED = 11, 12, 13, 14
_OPS = [bytes((op,)) for op in range(256)]
_U32 = struct.Struct("<I")
_TWO_U32 = struct.Struct("<II")
_ID = struct.Struct("<Q")
_ID_END = struct.Struct("<QB")
_WAIT = struct.Struct("<QBQ")


def _by_reference(data):
    """A `bytes` given by reference (host/door.rs, VALUE_AT): where its data
    lies. The caller holds `data` until the request returns."""
    return _VALUE_AT_FRAME.pack(_VALUE_AT, id(data) + _BYTES_DATA, len(data))


def _value_frame(head, obj):
    """A request frame: `head`, then `obj` as the request's value. A short
    `bytes` or ASCII `str`, the most common message, is framed here in the
    codec (a tag and a length byte); a large `bytes` goes by reference: the
    caller holds `obj` until the call returns, which is all the host
    needs."""
    kind = type(obj)
    if kind is bytes:
        size = len(obj)
        if size < 0x80:
            return b"".join((head, _SHORT_BYTES[size], obj))
        if size >= _BY_REFERENCE:
            return head + _by_reference(obj)
    elif kind is str and len(obj) < 0x80 and obj.isascii():
        return b"".join((head, _SHORT_STR[len(obj)], obj.encode("ascii")))
    return _dump(obj, prefix=head)


def _host_call(frame):
    """`_host.call`, with a failure of the door itself as MemoryError: the
    guest had no memory for the answer."""
    try:
        return _host.call(frame)
    except OSError:
        raise MemoryError("no memory for the host's answer") from None


def _door(op, payload=b"", interpreter_id=None):
    """Sends a request; returns the whole answer (its result starts at 1)."""
    answer = _host_call(_OPS[op] + payload if payload else _OPS[op])
    if answer[0] == 0:
        return answer
    _raise_fault(answer, interpreter_id)


def _ids(answer):
    return [id for (id,) in _ID.iter_unpack(memoryview(answer)[1:])]


def _raise_fault(answer, interpreter_id):
    """Raises the Python exception for a host's refusal."""
    code = answer[1]
    if code in _FAULTS:
        raise _FAULTS[code]()
    if code == _RUN_FAILED:
        texts, at = [], 2
        for _ in range(3):
            (length,) = _U32.unpack_from(answer, at)
            texts.append(str(answer[at + 4 : at + 4 + length], "utf-8", "replace"))
            at += 4 + length
        remote = RemoteException(*texts, interpreter_id)
        raise RunFailedError(str(remote)) from remote
    if code == _RUN_EXITED:
        status = int.from_bytes(answer[2:6], "little", signed=True)
        remote = RemoteException("SystemExit", str(status), f"SystemExit: {status}\n", interpreter_id)
        raise RunFailedError(str(remote)) from remote
    text = str(answer[2:], "utf-8", "replace")
    if code == _INVALID_VALUE:
        raise ValueError(text)
    if code == _LIMIT_REACHED:
        raise RuntimeError(text)
    if code == _FUNCTION_FAILED:
        import host

        raise host.ToolError(text)
    if code == _INTERPRETER_NOT_FOUND:
        raise RuntimeError(f"interpreter {interpreter_id} not found")
    if code == _INTERPRETER_RUNNING:
        raise RuntimeError(f"interpreter {interpreter_id} is running")
    if code == _INTERPRETER_FAILED:
        raise RuntimeError(f"interpreter {interpreter_id}: {text}")
    raise RuntimeError(f"unexpected answer from the host: {bytes(answer[:64])!r}")


def _flush_stdio():
    """Flushes stdout and stderr (and the original ones, if replaced): what
    was printed reaches the host before this interpreter waits on another,
    or another runs. Both are line-buffered: only a line not yet ended
    can be pending. On every wait and call, so in as few steps as can be."""
    out, err = sys.stdout, sys.stderr
    try:
        out.flush()
    except BaseException:
        pass
    try:
        err.flush()
    except BaseException:
        pass
    if sys.__stdout__ is not out or sys.__stderr__ is not err:
        for stream in (sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass


def _timeout_ns(timeout):
    if timeout is None:
        return _NO_TIMEOUT
    if timeout < 0:
        raise ValueError("timeout must be non-negative")
    return min(int(timeout * 1e9), _NO_TIMEOUT - 1)


# Values ---------------------------------------------------------------------


def is_shareable(obj):
    """True if `obj` can be passed to another interpreter."""
    try:
        _encode(obj)
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


_TAGS = [bytes([tag]) for tag in range(14)]


# `concurrent.interpreters.Queue`, once that module is loaded (it sets it):
# before, no queue object can exist in this interpreter.
_Queue = None


def _queue(queue_id):
    if _Queue is None:
        import concurrent.interpreters  # noqa: F401  (sets `_Queue`)
    return _Queue(queue_id)
# Tag and one-byte length of the short values `_encode` writes directly.
_SHORT_BYTES = [bytes([_BYTES, n]) for n in range(0x80)]
_SHORT_STR = [bytes([_STR, n]) for n in range(0x80)]


def _byte_view(view):
    """`view`'s bytes as one flat `memoryview` of bytes, copied only if
    they are not contiguous."""
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B")


def _encode(obj, buffer=False, prefix=b"", copy=False):
    """Encodes a shareable object after `prefix`; ValueError names what is
    not shareable. With `copy`, lists and dicts are encoded too (for the
    host, never for a channel).

    The pieces are joined once at the end, so a large payload is copied
    once, not once per growth of a buffer.
    """
    kind = type(obj)
    # Fast paths for the most common messages: short bytes and str.
    if kind is bytes and len(obj) < 0x80 and not buffer:
        return b"".join((prefix, _SHORT_BYTES[len(obj)], obj))
    if kind is str and len(obj) < 0x20 and obj.isascii() and not buffer:
        return b"".join((prefix, _SHORT_STR[len(obj)], obj.encode("ascii")))
    parts = [prefix]
    if buffer:
        try:
            view = memoryview(obj)
        except TypeError:
            raise ValueError(f"{type(obj).__name__!r} object does not support the buffer protocol") from None
        view = _byte_view(view)
        return b"".join((prefix, _TAGS[_BUFFER], _varint(view.nbytes), view))
    pending = [(obj, 0)]
    while pending:
        obj, depth = pending.pop()
        kind = type(obj)
        if obj is None:
            parts.append(_TAGS[_NONE])
        elif kind is bool:
            parts.append(_TAGS[_TRUE] if obj else _TAGS[_FALSE])
        elif kind is int:
            data = obj.to_bytes((obj.bit_length() + 8) // 8, "little", signed=True) if obj else b""
            parts += (_TAGS[_INT], _varint(len(data)), data)
        elif kind is float:
            parts += (_TAGS[_FLOAT], _F64.pack(obj))
        elif kind is str:
            try:
                data = obj.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a str with lone surrogates is not shareable") from None
            parts += (_TAGS[_STR], _varint(len(data)), data)
        elif kind is bytes:
            parts += (_TAGS[_BYTES], _varint(len(obj)), obj)
        elif kind is tuple or (copy and kind is list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels are not shareable")
            parts += (_TAGS[_TUPLE if kind is tuple else _LIST], _varint(len(obj)))
            pending.extend((item, depth + 1) for item in reversed(obj))
        elif copy and kind is dict:
            if depth >= MAX_DEPTH:
                raise ValueError(f"containers nested deeper than {MAX_DEPTH} levels are not shareable")
            parts += (_TAGS[_DICT], _varint(len(obj)))
            for key, value in reversed(list(obj.items())):
                pending.append((value, depth + 1))
                pending.append((key, depth + 1))
        elif copy and kind is memoryview:
            # PEP 734's buffers: the receiver gets a read-only `memoryview`
            # of a copy of the bytes (interpreters share no memory).
            view = _byte_view(obj)
            parts += (_TAGS[_BUFFER], _varint(view.nbytes), view)
        elif kind is _Queue:
            parts += (_TAGS[_QUEUE], _U64.pack(obj.id))
        elif kind is RecvChannel:
            parts += (_TAGS[_RECV], _U64.pack(obj.id))
        elif kind is SendChannel:
            parts += (_TAGS[_SEND], _U64.pack(obj.id))
        else:
            raise ValueError(f"{kind.__name__!r} object {'cannot be copied' if copy else 'is not shareable'}")
    return b"".join(parts)


_PLAIN_SCALARS = frozenset((type(None), bool, int, float, str, bytes))
_PLAIN_CONTAINERS = frozenset((tuple, list, dict))
_PLAIN = _PLAIN_SCALARS | _PLAIN_CONTAINERS
_PLAIN_SHAREABLE = _PLAIN_SCALARS | {tuple}
# Beyond this many containers a value goes by the codec, which also stops
# a cycle (a list holding itself).
_PLAIN_MAX_CONTAINERS = 10_000


def _plain(obj, copy=True):
    """Whether `obj` holds only `None`, `bool`, `int`, `float`, `str`,
    `bytes`, tuples, and with `copy` lists and dicts (exactly these types):
    what crosses in `marshal`'s format (host/value/marshal.rs). Anything else
    would not, or not as itself: marshal writes any buffer (a `bytearray`,
    a numpy array) as `bytes`."""
    kind = type(obj)
    if kind in _PLAIN_SCALARS:
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
                if kinds <= _PLAIN_SCALARS:
                    continue
                if not kinds <= (_PLAIN if copy else _PLAIN_SHAREABLE):
                    return False
                pending += [item for item in items if type(item) in _PLAIN_CONTAINERS]
                continue
            for item in items:
                kind = type(item)
                if kind in _PLAIN_SCALARS:
                    continue
                if kind is tuple or (copy and (kind is list or kind is dict)):
                    pending.append(item)
                else:
                    return False
    return True


def _dump(obj, copy=False, prefix=b""):
    """`prefix`, then `obj` encoded for the host: in `marshal`'s format if
    it is plain (C code, a tenth of the codec's time), else the codec's
    (channel ends, queues, buffers). ValueError names what cannot cross;
    without `copy`, lists and dicts are not (the codec says so)."""
    if _plain(obj, copy):
        return prefix + _marshal.dumps(obj, 2)
    return _encode(obj, prefix=prefix, copy=copy)


def _container(tag, items):
    if tag == _TUPLE:
        return tuple(items)
    if tag == _LIST:
        return items
    return dict(zip(items[::2], items[1::2]))


def _decode(data):
    """Decodes a value the host checked, or wrote in `marshal`'s format
    (host/value/marshal.rs), which starts with a printable type code where the
    codec's tags are below 0x20."""
    if data and data[0] >= 0x28:
        return _marshal.loads(data)
    # Fast paths for a lone short value (one length byte), the most common
    # message; the host checked it, so the length is right.
    if len(data) >= 2 and data[1] < 0x80 and len(data) == data[1] + 2:
        tag = data[0]
        if tag == _BYTES:
            return bytes(data[2:])
        if tag == _STR:
            return str(data[2:], "utf-8")
        if tag == _INT:
            return int.from_bytes(data[2:], "little", signed=True)
    elif len(data) == 1 and data[0] == _NONE:
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
    root = [[], 1, _TUPLE]
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
        if tag == _NONE:
            value = None
        elif tag == _FALSE:
            value = False
        elif tag == _TRUE:
            value = True
        elif tag == _INT:
            value = int.from_bytes(sized(), "little", signed=True)
        elif tag == _FLOAT:
            value = _F64.unpack_from(view, at)[0]
            at += 8
        elif tag == _STR:
            value = str(sized(), "utf-8")
        elif tag == _BYTES:
            value = sized().tobytes()
        elif tag == _BUFFER:
            value = memoryview(sized().tobytes()).toreadonly()
        elif tag in (_TUPLE, _LIST, _DICT):
            count = varint() * (2 if tag == _DICT else 1)
            if count:
                stack.append([[], count, tag])
                continue
            value = _container(tag, [])
        elif tag in (_RECV, _SEND):
            (channel_id,) = _U64.unpack_from(view, at)
            at += 8
            value = RecvChannel(channel_id) if tag == _RECV else SendChannel(channel_id)
        elif tag == _QUEUE:
            (queue_id,) = _U64.unpack_from(view, at)
            at += 8
            value = _queue(queue_id)
        else:
            raise ValueError(f"unknown value tag {tag}")
        top[0].append(value)
    return root[0][0]


# Interpreters ---------------------------------------------------------------


def _bindings(channels):
    """The encoded tuple of `(name, channel end)` pairs to bind."""
    if channels is None:
        return _encode(())
    bindings = []
    for name, value in dict(channels).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"binding names must be identifiers, not {name!r}")
        if type(value) not in (RecvChannel, SendChannel):
            raise ValueError(f"channels must be RecvChannel or SendChannel objects, not {type(value).__name__!r}")
        bindings.append((name, value))
    return _encode(tuple(bindings))


def _source(source):
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__!r}")
    # A lone surrogate cannot reach the host as UTF-8: `encode` says so here.
    data = source.encode("utf-8")
    return _U32.pack(len(data)) + data


class Interpreter:
    """One interpreter: a sandbox of its own, named by its id."""

    __slots__ = ("_id",)

    def __init__(self, id):
        self._id = int(id)

    @property
    def id(self):
        """The interpreter's id (read-only)."""
        return self._id

    def __repr__(self):
        return f"{type(self).__name__}({self._id})"

    def __eq__(self, other):
        return type(other) is type(self) and other._id == self._id

    def __hash__(self):
        return hash((type(self), self._id))

    def is_running(self):
        """Whether the interpreter is executing code (always True for the
        current one)."""
        return _door(_INTERPRETER_IS_RUNNING, _ID.pack(self._id), self._id)[1] == 1

    def destroy(self):
        """Finalizes and destroys the interpreter, with every interpreter it
        created. RuntimeError if it is running."""
        _door(_DESTROY_INTERPRETER, _ID.pack(self._id), self._id)

    def fork(self):
        """Returns a copy of this idle interpreter: a new interpreter whose
        modules, `__main__` and every object are this one's as they are now,
        independent of it from then on, with nothing pickled.

        As a child after `os.fork()`, the copy runs the callbacks registered
        in it with `os.register_at_fork(after_in_child=...)` (after `random`
        reseeds) and holds the same channel ends. It belongs to the caller,
        as one from `create()` does, and counts toward the same limit.
        RuntimeError if this interpreter is running (the current one always
        is: a copy is taken between runs) or holds open files.
        """
        return Interpreter(_ID.unpack_from(_door(_FORK_INTERPRETER, _ID.pack(self._id), self._id), 1)[0])

    def run(self, source, /, *, channels=None):
        """Runs source code in the interpreter's `__main__` and waits.

        `channels` maps names to channel ends, bound in its `__main__` first.
        An uncaught exception raises `RunFailedError`. RuntimeError if the
        interpreter is already running.
        """
        request = b"".join((_ID.pack(self._id), _source(source), _bindings(channels)))
        _flush_stdio()
        _door(_RUN_INTERPRETER, request, self._id)

    def run_in_thread(self, source, /, *, channels=None):
        """Runs source code on a new host thread; returns a `RunHandle`."""
        request = b"".join((_ID.pack(self._id), _source(source), _bindings(channels)))
        _flush_stdio()
        (handle,) = _ID.unpack_from(_door(_START_INTERPRETER, request, self._id), 1)
        return RunHandle(handle, self)


class RunHandle:
    """A run started by `Interpreter.run_in_thread()`."""

    __slots__ = ("_handle", "_interpreter", "_done", "_error")

    def __init__(self, handle, interpreter):
        self._handle = handle
        self._interpreter = interpreter
        self._done = False
        self._error = None

    @property
    def interpreter(self):
        """The interpreter the code runs in."""
        return self._interpreter

    def done(self):
        """Whether the run has finished."""
        return self._done or _door(_RUN_IS_DONE, _ID.pack(self._handle))[1] == 1

    def join(self, timeout=None):
        """Waits for the run to finish, at most `timeout` seconds.

        Raises `TimeoutError` if it has not finished by then, and
        `RunFailedError` if the code raised: on every call, as
        `concurrent.futures.Future.result()` does.
        """
        if not self._done:
            _flush_stdio()
            try:
                request = _ID.pack(self._handle) + _ID.pack(_timeout_ns(timeout))
                _door(_JOIN_RUN, request, self._interpreter.id)
            except TimeoutError:
                raise
            except Exception as error:
                self._error = error
            self._done = True
        if self._error is not None:
            raise self._error

    def __repr__(self):
        return f"<RunHandle of {self._interpreter!r}, {'done' if self.done() else 'running'}>"


def create():
    """Creates a new, idle interpreter."""
    return Interpreter(_ID.unpack_from(_door(_CREATE_INTERPRETER), 1)[0])


def list_all():
    """The interpreters of this interpreter's family."""
    return [Interpreter(id) for id in _ids(_door(_LIST_INTERPRETERS))]


def get_current():
    """The interpreter running this code."""
    return Interpreter(_ID.unpack_from(_door(_CURRENT_INTERPRETER), 1)[0])


# Channels -------------------------------------------------------------------


def create_channel():
    """Creates a channel; returns its `(RecvChannel, SendChannel)`.

    RuntimeError if this interpreter already holds ends of as many open
    channels as it may (4,096).
    """
    (channel_id,) = _ID.unpack_from(_door(_CREATE_CHANNEL), 1)
    return RecvChannel(channel_id), SendChannel(channel_id)


def list_all_channels():
    """The open channels this interpreter holds an end of, as
    `(RecvChannel, SendChannel)` pairs."""
    return [(RecvChannel(id), SendChannel(id)) for id in _ids(_door(_LIST_CHANNELS))]


# The channel end objects of this interpreter, one per end.
_ends = weakref.WeakValueDictionary()


class _ChannelEnd:
    # `_waiting`: the head of this end's blocking send or receive with no
    # timeout, the most common request, made once.
    __slots__ = ("_id", "_waiting", "__weakref__")
    _end = None
    _op = None

    def __new__(cls, id):
        id = int(id)
        end = _ends.get((cls._end, id))
        if end is None:
            end = super().__new__(cls)
            end._id = id
            end._waiting = _OPS[cls._op] + _WAIT.pack(id, 0, _NO_TIMEOUT)
            _ends[(cls._end, id)] = end
        return end

    def __del__(self):
        # PEP 554: an end nothing refers to any more is released.
        try:
            _host_call(_OPS[_CHANNEL_RELEASE] + _ID_END.pack(self._id, self._end))
        except Exception:
            pass

    @property
    def id(self):
        """The channel's id."""
        return self._id

    @property
    def interpreters(self):
        """The interpreters associated with this end."""
        return [Interpreter(id) for id in _ids(_door(_CHANNEL_INTERPRETERS, _ID_END.pack(self._id, self._end)))]

    def release(self):
        """This interpreter stops using this end, for good. True the first
        time."""
        return _door(_CHANNEL_RELEASE, _ID_END.pack(self._id, self._end))[1] == 1

    def close(self, force=False):
        """Closes the channel for every interpreter."""
        _door(_CHANNEL_CLOSE, _ID_END.pack(self._id, self._end) + (b"\x01" if force else b"\x00"))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()

    def __eq__(self, other):
        return type(other) is type(self) and other._id == self._id

    def __hash__(self):
        return hash((type(self), self._id))

    def __repr__(self):
        return f"{type(self).__name__}({self._id})"


def _received(answer):
    """The value a receive answered with (`0, 1, value`): in the answer, or
    (a large `bytes` or buffer) handed over alone."""
    if answer[1] != 1:
        return _take_payload(answer)
    # A short `bytes` or `str` in the codec, the most common message: the
    # host checked it, so its length byte is right.
    if len(answer) >= 4 and answer[3] < 0x80 and len(answer) == answer[3] + 4:
        if answer[2] == _BYTES:
            return answer[4:]
        if answer[2] == _STR:
            return str(answer[4:], "utf-8")
    return _decode(memoryview(answer)[2:])


def _take_payload(answer):
    """The large `bytes` or buffer a receive or get announced (`2, tag,
    length`): the host writes it into a `bytes` made for it here, where it
    lies (host/door.rs, TakePayload). One copy, and no memory beyond the
    value's; without the memory, MemoryError, and the host keeps it for the
    next receive."""
    tag, size = answer[2], _U32.unpack_from(answer, 3)[0]
    data = bytes(size)
    taken = _host_call(_OPS[_TAKE_PAYLOAD] + _TWO_U32.pack(id(data) + _BYTES_DATA, size))
    if taken[0] != 0:
        _raise_fault(taken, None)
    return data if tag == _BYTES else memoryview(data).toreadonly()


class RecvChannel(_ChannelEnd):
    """The receiving end of a channel."""

    __slots__ = ()
    _end = 0
    _op = _CHANNEL_RECV

    def recv(self, timeout=None):
        """Waits for the next object and returns it; `TimeoutError` after
        `timeout` seconds."""
        _flush_stdio()
        if timeout is None:
            answer = _host_call(self._waiting)
        else:
            answer = _host_call(_OPS[_CHANNEL_RECV] + _WAIT.pack(self._id, 0, _timeout_ns(timeout)))
        if answer[0] != 0:
            _raise_fault(answer, None)
        return _received(answer)

    def recv_nowait(self, default=None):
        """The next object if a sender is waiting with one, else `default`."""
        answer = _door(_CHANNEL_RECV, _WAIT.pack(self._id, 1, _NO_TIMEOUT))
        return _received(answer) if answer[1] else default

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self.recv()
        except ChannelClosedError:
            raise StopIteration from None


class SendChannel(_ChannelEnd):
    """The sending end of a channel."""

    __slots__ = ()
    _end = 1
    _op = _CHANNEL_SEND

    def _send(self, obj, buffer, nowait, timeout):
        # The frame is joined once, with the value: a large value is copied
        # into it once.
        if timeout is None and not nowait:
            head = self._waiting
        else:
            head = _OPS[_CHANNEL_SEND] + _WAIT.pack(self._id, nowait, _timeout_ns(timeout))
        frame = _encode(obj, buffer, prefix=head) if buffer else _value_frame(head, obj)
        _flush_stdio()
        answer = _host_call(frame)
        del frame
        if answer[0] != 0:
            _raise_fault(answer, None)

    def send(self, obj, timeout=None):
        """Sends `obj` and waits until it is received; `TimeoutError` after
        `timeout` seconds (it was then not received)."""
        self._send(obj, False, False, timeout)

    def send_nowait(self, obj):
        """Sends `obj` if a receiver is waiting, else `NotReceivedError`."""
        self._send(obj, False, True, None)

    def send_buffer(self, obj, timeout=None):
        """Sends the bytes of a buffer; the receiver gets a read-only
        memoryview."""
        self._send(obj, True, False, timeout)

    def send_buffer_nowait(self, obj):
        """`send_buffer` if a receiver is waiting, else `NotReceivedError`."""
        self._send(obj, True, True, None)


# Copies between interpreters (PEP 734) --------------------------------------
#
# PEP 734 sends what is not shareable by pickle. Here lists and dicts of
# shareable values go by the codec (copied, as pickle would), the rest by
# cloudpickle, so that lambdas, closures and what `__main__` defines cross
# too. Queues and channel ends inside a pickle travel beside it, as handles
# the host checks: a pickle alone cannot grant one.

_BY_VALUE, _BY_PICKLE, _BY_NAME = 0, 1, 2
_NO_KWARGS = ((_BY_VALUE, {}), True)
_pickler = None


def _pack(obj):
    """`obj` made ready for another interpreter: `(0, obj)` if it crosses as
    a value (plain, or shareable: lists and dicts are copied), else
    `(1, pickle, handles)`. `_dump` then encodes the whole."""
    return _packed(obj)[0]


def _packed(obj):
    """`_pack(obj)`, and whether that is plain (`_dump` need not look again)."""
    if not obj and type(obj) is dict:
        return _NO_KWARGS
    if _plain(obj):
        return (_BY_VALUE, obj), True
    try:
        _encode(obj, copy=True)
        return (_BY_VALUE, obj), False
    except ValueError:
        return _pickled(obj)


def _pickled(obj):
    """`(1, pickle, handles)` for `obj`, and whether that is plain."""
    global _pickler
    if _pickler is None:
        _pickler = _make_pickler()
    import io

    out = io.BytesIO()
    pickler = _pickler(out, protocol=5)
    pickler.handles = []
    pickler.dump(obj)
    return (_BY_PICKLE, out.getvalue(), tuple(pickler.handles)), not pickler.handles


def _dump_packed(obj, plain):
    """`obj` encoded for the host, `plain` saying whether it is."""
    return _marshal.dumps(obj, 2) if plain else _encode(obj, copy=True)


def _make_pickler():
    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def persistent_id(self, obj):
            if type(obj) in (_Queue, RecvChannel, SendChannel):
                self.handles.append(obj)
                return len(self.handles) - 1
            return None

    return Pickler


def _pack_callable(func):
    """A callable made ready for another interpreter (see `_packed_callable`)."""
    return _packed_callable(func)[0]


# Callables found by their name, and that name: most calls repeat one.
_by_name = {}


def _packed_callable(func):
    """A callable that its module names (`len`, `math.sqrt`, a function of
    an imported module) goes by its name, which is fast and needs no
    pickle; any other (a lambda, a closure, a function of `__main__`) as
    `_packed` sends it. With whether the result is plain."""
    try:
        return _by_name[func], True
    except (KeyError, TypeError):
        pass
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if type(module) is str and type(qualname) is str and module != "__main__" and "<" not in qualname:
        found = sys.modules.get(module)
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is func:
            packed = (_BY_NAME, module, qualname)
            if len(_by_name) < 256:
                _by_name[func] = packed
            return packed, True
    return _packed(func)


_FUNCTION = type(_timeout_ns)


def _in_main(func):
    """A function of another interpreter's `__main__`, copied here by
    pickle, made one of this `__main__`'s: its globals are this `__main__`'s
    namespace, as PEP 734 resolves a called function's globals, so that
    what one call sets another sees. The globals it brought (the values
    its sender had for the names it uses) are set there first, for the
    names not set yet: a later call does not undo what an earlier one did
    (a counter counts, as CPython's test_api checks)."""
    if type(func) is not _FUNCTION or func.__module__ != "__main__":
        return func
    import types

    main = sys.modules["__main__"].__dict__
    if func.__globals__ is main:
        return func
    for name, value in func.__globals__.items():
        if not name.startswith("__"):
            main.setdefault(name, value)
    moved = types.FunctionType(func.__code__, main, func.__name__, func.__defaults__, func.__closure__)
    moved.__kwdefaults__ = func.__kwdefaults__
    moved.__qualname__ = func.__qualname__
    moved.__doc__ = func.__doc__
    moved.__dict__.update(func.__dict__)
    return moved


def _unpack(packed):
    """The object `_pack` or `_pack_callable` encoded, once decoded."""
    how = packed[0]
    if how == _BY_VALUE:
        return packed[1]
    if how == _BY_NAME:
        found = sys.modules.get(packed[1])
        if found is None:
            import importlib

            found = importlib.import_module(packed[1])
        for part in packed[2].split("."):
            found = getattr(found, part)
        return found
    global _unpickler
    if _unpickler is None:
        _unpickler = _make_unpickler()
    import io

    unpickler = _unpickler(io.BytesIO(packed[1]))
    unpickler.handles = packed[2]
    return unpickler.load()


# The unpickler class, made once: making a class costs tens of microseconds
# here, and every pickled value (a lambda sent to `call`) was paying it.
_unpickler = None


def _make_unpickler():
    import pickle

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            return self.handles[pid]

    return Unpickler
