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
- A channel end is released by `release()`, a `with` block, or the
  destruction of its interpreter; unlike the PEP, not when the object is
  garbage-collected.
- Python code may destroy only interpreters that Python code created; those
  the host created belong to the host.
"""

import struct
import sys

from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.host import ChannelEnd

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

# Must match host/value.rs.
MAX_DEPTH = 512
_NONE, _FALSE, _TRUE, _INT, _FLOAT, _STR, _BYTES, _BUFFER, _TUPLE, _RECV, _SEND = range(11)
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


def _raise_from_host(error, interpreter_id=None):
    """Raises the Python exception for a host error."""
    name = type(error).__name__.removeprefix("Error_")
    simple = {
        "ChannelNotFound": ChannelNotFoundError,
        "ChannelClosed": ChannelClosedError,
        "ChannelReleased": ChannelReleasedError,
        "ChannelNotEmpty": ChannelNotEmptyError,
        "NotReceived": NotReceivedError,
        "Timeout": TimeoutError,
    }
    if name in simple:
        raise simple[name]() from None
    if name == "InvalidValue":
        raise ValueError(error.value) from None
    if name == "LimitReached":
        raise RuntimeError(error.value) from None
    if name == "InterpreterNotFound":
        raise RuntimeError(f"interpreter {interpreter_id} not found") from None
    if name == "InterpreterRunning":
        raise RuntimeError(f"interpreter {interpreter_id} is running") from None
    if name == "InterpreterFailed":
        raise RuntimeError(f"interpreter {interpreter_id}: {error.value}") from None
    if name == "RunExited":
        remote = RemoteException("SystemExit", str(error.value), f"SystemExit: {error.value}\n", interpreter_id)
        raise RunFailedError(str(remote)) from remote
    if name == "RunFailed":
        failure = error.value
        remote = RemoteException(failure.type_name, failure.message, failure.traceback, interpreter_id)
        raise RunFailedError(str(remote)) from remote
    raise RuntimeError(f"unexpected error from the host: {error!r}")


def _call(function, *args, interpreter_id=None):
    try:
        return function(*args)
    except Err as err:
        error = err.value
        # The binding raised `err` from a frame that holds it: a cycle
        # through its traceback, which only the garbage collector frees, and
        # with it the call's arguments (a whole message). Break it now (`Err`
        # is a frozen dataclass: `with_traceback` sets it all the same).
        err.with_traceback(None)
    # Raised here, not in the handler: the host's error is no context of it.
    _raise_from_host(error, interpreter_id)


def _flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _timeout_ns(timeout):
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError("timeout must be non-negative")
    return min(int(timeout * 1e9), 2**64 - 1)


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


_TAGS = [bytes([tag]) for tag in range(11)]
# Tag and one-byte length of the short values `_encode` writes directly.
_SHORT_BYTES = [bytes([_BYTES, n]) for n in range(0x80)]
_SHORT_STR = [bytes([_STR, n]) for n in range(0x80)]


def _encode(obj, buffer=False):
    """Encodes a shareable object; ValueError names what is not shareable.

    The pieces are joined once at the end, so a large payload is copied
    once, not once per growth of a buffer.
    """
    kind = type(obj)
    # Fast paths for the most common messages: short bytes and str.
    if kind is bytes and len(obj) < 0x80:
        return _SHORT_BYTES[len(obj)] + obj
    if kind is str and len(obj) < 0x20 and obj.isascii():
        return _SHORT_STR[len(obj)] + obj.encode("ascii")
    parts = []
    if buffer:
        try:
            view = memoryview(obj)
        except TypeError:
            raise ValueError(f"{type(obj).__name__!r} object does not support the buffer protocol") from None
        if not view.c_contiguous:
            view = memoryview(view.tobytes())
        view = view.cast("B")
        return b"".join((_TAGS[_BUFFER], _varint(view.nbytes), view))
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
        elif kind is tuple:
            if depth >= MAX_DEPTH:
                raise ValueError(f"tuples nested deeper than {MAX_DEPTH} levels are not shareable")
            parts += (_TAGS[_TUPLE], _varint(len(obj)))
            pending.extend((item, depth + 1) for item in reversed(obj))
        elif kind is RecvChannel:
            parts += (_TAGS[_RECV], _U64.pack(obj.id))
        elif kind is SendChannel:
            parts += (_TAGS[_SEND], _U64.pack(obj.id))
        else:
            raise ValueError(f"{kind.__name__!r} object is not shareable")
    return b"".join(parts)


def _decode(data):
    """Decodes a value the host checked."""
    # Fast paths for a lone short value (one length byte), the most common
    # message; the host checked it, so the length is right.
    if len(data) >= 2 and data[1] < 0x80 and len(data) == data[1] + 2:
        tag = data[0]
        if tag == _BYTES:
            return data[2:]
        if tag == _STR:
            return str(data[2:], "utf-8")
        if tag == _INT:
            return int.from_bytes(data[2:], "little", signed=True)
    elif data == b"\x00":
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

    # Open tuples: [items, remaining]; the message is a tuple of one.
    root = [[], 1]
    stack = [root]
    while stack:
        top = stack[-1]
        if top[1] == 0:
            stack.pop()
            if stack:
                parent = stack[-1]
                parent[0].append(tuple(top[0]))
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
        elif tag == _TUPLE:
            count = varint()
            if count:
                stack.append([[], count])
                continue
            value = ()
        elif tag in (_RECV, _SEND):
            (channel_id,) = _U64.unpack_from(view, at)
            at += 8
            value = RecvChannel(channel_id) if tag == _RECV else SendChannel(channel_id)
        else:
            raise ValueError(f"unknown value tag {tag}")
        top[0].append(value)
    return root[0][0]


# Interpreters ---------------------------------------------------------------


def _bindings(channels):
    if channels is None:
        return []
    bindings = []
    for name, value in dict(channels).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"binding names must be identifiers, not {name!r}")
        if type(value) not in (RecvChannel, SendChannel):
            raise ValueError(f"channels must be RecvChannel or SendChannel objects, not {type(value).__name__!r}")
        bindings.append((name, _sendable(_encode(value))))
    return bindings


# The size of the pieces a large value is sent in.
_PIECE = 256 << 10


def _sendable(data):
    """An encoded value (or a piece of one) as the host takes it from the
    guest (`sent-value` in wit/world.wit): its bytes as ASCII text, or as
    hex digits, and which. Not `bytes`: componentize-py would leak a copy of
    each."""
    if data.isascii():
        return data.decode("ascii"), False
    return data.hex(), True


def _source(source):
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, not {type(source).__name__!r}")
    if not source.isascii():
        # A lone surrogate cannot reach the host as UTF-8: say so here, as
        # `str.encode` does, rather than in the call.
        source.encode("utf-8")
    return source


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
        return _call(host.interpreter_is_running, self._id, interpreter_id=self._id)

    def destroy(self):
        """Finalizes and destroys the interpreter, with every interpreter it
        created. RuntimeError if it is running."""
        _call(host.destroy_interpreter, self._id, interpreter_id=self._id)

    def run(self, source, /, *, channels=None):
        """Runs source code in the interpreter's `__main__` and waits.

        `channels` maps names to channel ends, bound in its `__main__` first.
        An uncaught exception raises `RunFailedError`. RuntimeError if the
        interpreter is already running.
        """
        source, bindings = _source(source), _bindings(channels)
        _flush_stdio()
        _call(host.run_interpreter, self._id, source, bindings, interpreter_id=self._id)

    def run_in_thread(self, source, /, *, channels=None):
        """Runs source code on a new host thread; returns a `RunHandle`."""
        source, bindings = _source(source), _bindings(channels)
        _flush_stdio()
        handle = _call(host.start_interpreter, self._id, source, bindings, interpreter_id=self._id)
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
        return self._done or host.run_is_done(self._handle)

    def join(self, timeout=None):
        """Waits for the run to finish, at most `timeout` seconds.

        Raises `TimeoutError` if it has not finished by then, and
        `RunFailedError` if the code raised: on every call, as
        `concurrent.futures.Future.result()` does.
        """
        if not self._done:
            _flush_stdio()
            try:
                _call(host.join_run, self._handle, _timeout_ns(timeout), interpreter_id=self._interpreter.id)
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
    return Interpreter(_call(host.create_interpreter))


def list_all():
    """The interpreters of this interpreter's family."""
    return [Interpreter(id) for id in host.list_interpreters()]


def get_current():
    """The interpreter running this code."""
    return Interpreter(host.current_interpreter())


# Channels -------------------------------------------------------------------


def create_channel():
    """Creates a channel; returns its `(RecvChannel, SendChannel)`.

    RuntimeError if this interpreter already holds ends of as many open
    channels as it may (4,096).
    """
    channel_id = _call(host.create_channel)
    return RecvChannel(channel_id), SendChannel(channel_id)


def list_all_channels():
    """The open channels this interpreter holds an end of, as
    `(RecvChannel, SendChannel)` pairs."""
    return [(RecvChannel(id), SendChannel(id)) for id in host.list_channels()]


class _ChannelEnd:
    __slots__ = ("_id",)
    _end = None

    def __init__(self, id):
        self._id = int(id)

    @property
    def id(self):
        """The channel's id."""
        return self._id

    @property
    def interpreters(self):
        """The interpreters associated with this end."""
        return [Interpreter(id) for id in _call(host.channel_interpreters, self._id, self._end)]

    def release(self):
        """This interpreter stops using this end, for good. True the first
        time."""
        return _call(host.channel_release, self._id, self._end)

    def close(self, force=False):
        """Closes the channel for every interpreter."""
        _call(host.channel_close, self._id, self._end, force)

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


class RecvChannel(_ChannelEnd):
    """The receiving end of a channel."""

    __slots__ = ()
    _end = ChannelEnd.RECV

    def recv(self, timeout=None):
        """Waits for the next object and returns it; `TimeoutError` after
        `timeout` seconds."""
        _flush_stdio()
        data = _call(host.channel_recv, self._id, False, _timeout_ns(timeout))
        return _decode(data)

    def recv_nowait(self, default=None):
        """The next object if a sender is waiting with one, else `default`."""
        data = _call(host.channel_recv, self._id, True, None)
        return default if data is None else _decode(data)

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
    _end = ChannelEnd.SEND

    def _send(self, data, nowait, timeout):
        _flush_stdio()
        # A large value goes to the host in pieces (`stage-piece` in
        # wit/world.wit), the last with the send itself. An encoded value
        # is never empty, and `data[0:]` is `data` itself, not a copy.
        starts = range(0, len(data), _PIECE)
        for start in starts[:-1]:
            _call(host.stage_piece, _sendable(data[start : start + _PIECE]), start == 0)
        text = _sendable(data[starts[-1] :])
        staged = len(starts) > 1
        del data
        _call(host.channel_send, self._id, text, staged, nowait, _timeout_ns(timeout))

    def send(self, obj, timeout=None):
        """Sends `obj` and waits until it is received; `TimeoutError` after
        `timeout` seconds (it was then not received)."""
        self._send(_encode(obj), False, timeout)

    def send_nowait(self, obj):
        """Sends `obj` if a receiver is waiting, else `NotReceivedError`."""
        self._send(_encode(obj), True, None)

    def send_buffer(self, obj, timeout=None):
        """Sends the bytes of a buffer; the receiver gets a read-only
        memoryview."""
        self._send(_encode(obj, buffer=True), False, timeout)

    def send_buffer_nowait(self, obj):
        """`send_buffer` if a receiver is waiting, else `NotReceivedError`."""
        self._send(_encode(obj, buffer=True), True, None)
