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

import weakref

import _isolate_codec
import _isolate_door
from _isolate_codec import BYTES as _BYTES
from _isolate_codec import STR as _STR
from _isolate_codec import decode as _decode
from _isolate_codec import encode as _encode
from _isolate_codec import is_shareable
from _isolate_door import CHANNEL_CLOSE as _CHANNEL_CLOSE
from _isolate_door import CHANNEL_INTERPRETERS as _CHANNEL_INTERPRETERS
from _isolate_door import CHANNEL_RECV as _CHANNEL_RECV
from _isolate_door import CHANNEL_RELEASE as _CHANNEL_RELEASE
from _isolate_door import CHANNEL_SEND as _CHANNEL_SEND
from _isolate_door import CREATE_CHANNEL as _CREATE_CHANNEL
from _isolate_door import CREATE_INTERPRETER as _CREATE_INTERPRETER
from _isolate_door import CURRENT_INTERPRETER as _CURRENT_INTERPRETER
from _isolate_door import DESTROY_INTERPRETER as _DESTROY_INTERPRETER
from _isolate_door import FORK_INTERPRETER as _FORK_INTERPRETER
from _isolate_door import ID as _ID
from _isolate_door import ID_END as _ID_END
from _isolate_door import INTERPRETER_IS_RUNNING as _INTERPRETER_IS_RUNNING
from _isolate_door import JOIN_RUN as _JOIN_RUN
from _isolate_door import LIST_CHANNELS as _LIST_CHANNELS
from _isolate_door import LIST_INTERPRETERS as _LIST_INTERPRETERS
from _isolate_door import NO_TIMEOUT as _NO_TIMEOUT
from _isolate_door import OPS as _OPS
from _isolate_door import RUN_INTERPRETER as _RUN_INTERPRETER
from _isolate_door import RUN_IS_DONE as _RUN_IS_DONE
from _isolate_door import START_INTERPRETER as _START_INTERPRETER
from _isolate_door import U32 as _U32
from _isolate_door import WAIT as _WAIT
from _isolate_door import flush_stdio as _flush_stdio
from _isolate_door import host_call as _host_call
from _isolate_door import ids as _ids
from _isolate_door import take_payload as _take_payload
from _isolate_door import timeout_ns as _timeout_ns
from _isolate_door import value_frame as _value_frame

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


# The door ---------------------------------------------------------------------------

# The refusals that raise this module's exceptions (the rest: see
# `_isolate_door.refused`).
_FAULTS = {
    _isolate_door.CHANNEL_NOT_FOUND: ChannelNotFoundError,
    _isolate_door.CHANNEL_CLOSED: ChannelClosedError,
    _isolate_door.CHANNEL_RELEASED: ChannelReleasedError,
    _isolate_door.CHANNEL_NOT_EMPTY: ChannelNotEmptyError,
    _isolate_door.NOT_RECEIVED: NotReceivedError,
}


def _door(op, payload=b"", interpreter_id=None):
    """Sends a request; returns the whole answer (its result starts at 1)."""
    answer = _host_call(_OPS[op] + payload if payload else _OPS[op])
    if answer[0] == 0:
        return answer
    _raise_fault(answer, interpreter_id)


def _raise_fault(answer, interpreter_id):
    """Raises the Python exception for a host's refusal."""
    code = answer[1]
    if code in _FAULTS:
        raise _FAULTS[code]()
    if code == _isolate_door.RUN_FAILED:
        texts, at = [], 2
        for _ in range(3):
            (length,) = _U32.unpack_from(answer, at)
            texts.append(str(answer[at + 4 : at + 4 + length], "utf-8", "replace"))
            at += 4 + length
        remote = RemoteException(*texts, interpreter_id)
        raise RunFailedError(str(remote)) from remote
    if code == _isolate_door.RUN_EXITED:
        status = int.from_bytes(answer[2:6], "little", signed=True)
        remote = RemoteException("SystemExit", str(status), f"SystemExit: {status}\n", interpreter_id)
        raise RunFailedError(str(remote)) from remote
    _isolate_door.refused(answer, interpreter_id)


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


_isolate_codec.register_handle(_isolate_codec.RECV, RecvChannel)
_isolate_codec.register_handle(_isolate_codec.SEND, SendChannel)
