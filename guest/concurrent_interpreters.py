"""PEP 734's `concurrent.interpreters`, for code running in an isolate sandbox.

The API is CPython's (3.14); code written for it runs here unchanged. Every
interpreter is a separate WebAssembly instance: its own memory, its own
`sys.modules`, no shared GIL, so interpreters really run in parallel. They
exchange data only through queues (and PEP 554's channels, from the
`interpreters` module), which the host owns.

Where isolate differs from CPython:

- The sandbox has no threads of its own. `Interpreter.call_in_thread()`
  runs the call on a host thread, in parallel, and returns a `CallThread`
  with `join()` and `is_alive()`. As with CPython's thread, the result is
  discarded; an uncaught exception is printed to stderr (as
  `threading.excepthook` prints it) when the call is joined. When the
  program ends, the calls not joined are waited for, as CPython waits for
  threads that are not daemons.
- `call()` sends the callable by its name when its module names it (`len`,
  `math.sqrt`), else by cloudpickle, which the guest ships: lambdas,
  closures and functions defined in `__main__` work, where CPython's
  pickle refuses them. Arguments, results and `prepare_main()` values that
  are not shareable are copied by pickle, as PEP 734 and CPython's
  documentation say (CPython 3.14 itself refuses them in `prepare_main()`
  with NotShareableError); lists and dicts of shareable values are copied
  without it.
- A function of `__main__` called in another interpreter runs with that
  interpreter's `__main__` as its globals, as PEP 734 says: the globals it
  uses are copied there on its first call (names already there keep their
  values), and what one call changes the next sees. CPython 3.14 keeps
  them in a hidden module instead, out of `__main__`'s names.
- A `memoryview` (or any buffer sent as one) is copied, not shared, and
  arrives as a read-only `memoryview` of bytes (format "B", one
  dimension): interpreters share no memory at all. This holds for queue
  items, `prepare_main()` values, and a call's arguments and result. The
  items an interpreter put count against its sandbox's memory limit until
  they are taken: a `put` past it raises MemoryError.
- `Queue.get()` and `Queue.put()` wait on the host, with real timeouts in
  fractions of a second (CPython polls every 10 ms and truncates the
  timeout to whole seconds).
- `list_all()` lists the interpreters of this sandbox: the one the host
  created (`get_main()`, whence "runtime init") and those created from
  inside it. Others are invisible. Only interpreters created by Python
  code can be closed; the one the host created belongs to the host.
- `create()` accepts no configuration: every interpreter is isolated.
- `UNBOUND`, `UNBOUND_ERROR` and `UNBOUND_REMOVE` (CPython keeps them in
  its private `_queues` and `_crossinterp` modules, which are here too)
  are in this module.
- `Queue(id)` reaches a queue an interpreter of this sandbox created, as
  in CPython; a queue from outside the sandbox only by being given it.

An interpreter created with this module is the same interpreter as seen
by PEP 554's `interpreters` module, and the other way round.
"""

import marshal as _marshal
import operator as _operator
import queue as _queue
import struct as _struct
import sys
import weakref

import _host
import _isolate_codec
import _isolate_copy
import _isolate_door
from _isolate_door import CREATE_INTERPRETER as _CREATE_INTERPRETER
from _isolate_door import CURRENT_INTERPRETER as _CURRENT_INTERPRETER
from _isolate_door import DESTROY_INTERPRETER as _DESTROY_INTERPRETER
from _isolate_door import GET_BRIEFLY as _GET_BRIEFLY
from _isolate_door import GET_NOW as _GET_NOW
from _isolate_door import GET_WAITING as _GET_WAITING
from _isolate_door import ID as _ID
from _isolate_door import INTERPRETER_IS_RUNNING as _INTERPRETER_IS_RUNNING
from _isolate_door import INVOKE_INTERPRETER as _INVOKE_INTERPRETER
from _isolate_door import JOIN_RUN as _JOIN_RUN
from _isolate_door import LIST_INTERPRETERS as _LIST_INTERPRETERS
from _isolate_door import NO_TIMEOUT as _NO_TIMEOUT
from _isolate_door import OPS as _OPS
from _isolate_door import QUEUE_BIND as _QUEUE_BIND
from _isolate_door import QUEUE_CREATE as _QUEUE_CREATE
from _isolate_door import QUEUE_GET as _QUEUE_GET
from _isolate_door import QUEUE_INFO as _QUEUE_INFO
from _isolate_door import QUEUE_PUT as _QUEUE_PUT
from _isolate_door import QUEUE_PUT_TAGGED as _QUEUE_PUT_TAGGED
from _isolate_door import QUEUE_RELEASE as _QUEUE_RELEASE
from _isolate_door import QUEUE_WITHDRAW as _QUEUE_WITHDRAW
from _isolate_door import RUN_IS_DONE as _RUN_IS_DONE
from _isolate_door import START_INVOKE as _START_INVOKE
from _isolate_door import host_call as _host_call

__all__ = [
    "ExecutionFailed",
    "Interpreter",
    "InterpreterError",
    "InterpreterNotFoundError",
    "NotShareableError",
    "Queue",
    "QueueEmpty",
    "QueueError",
    "QueueFull",
    "QueueNotFoundError",
    "ItemInterpreterDestroyed",
    "UNBOUND",
    "UNBOUND_ERROR",
    "UNBOUND_REMOVE",
    "create",
    "create_queue",
    "get_current",
    "get_main",
    "is_shareable",
    "list_all",
]

_I64 = _struct.Struct("<q")
_encode = _isolate_codec.encode
_decode = _isolate_codec.decode
_MARSHAL_FIRST = _isolate_codec.MARSHAL_FIRST



# Exceptions -----------------------------------------------------------------


class InterpreterError(Exception):
    """A cross-interpreter operation failed."""


class InterpreterNotFoundError(InterpreterError):
    """The interpreter does not exist (any more), or is not this sandbox's."""


class NotShareableError(ValueError):
    """The object cannot be sent to another interpreter."""


_EXEC_FAILURE_STR = "{superstr}\n\nUncaught in the interpreter:\n\n{formatted}"


class ExecutionFailed(InterpreterError):
    """An unhandled exception happened during execution.

    This is raised from `Interpreter.exec()` and `Interpreter.call()`. Its
    `excinfo` describes the exception, which stayed in its interpreter:
    `type` (with `__name__`, `__qualname__` and `__module__`), `msg`,
    `formatted` (`"Type: msg"`) and `errdisplay` (the full traceback).
    """

    def __init__(self, excinfo):
        msg = excinfo.formatted
        if not msg:
            if excinfo.type and excinfo.msg:
                msg = f"{excinfo.type.__name__}: {excinfo.msg}"
            else:
                msg = excinfo.type.__name__ or excinfo.msg
        super().__init__(msg)
        self.excinfo = excinfo

    def __str__(self):
        try:
            formatted = self.excinfo.errdisplay
        except Exception:
            return super().__str__()
        return _EXEC_FAILURE_STR.format(superstr=super().__str__(), formatted=formatted.rstrip())


class _ExceptionType:
    """Stands for the type of an exception raised in another interpreter."""

    def __init__(self, name, qualname, module):
        self.__name__ = name
        self.__qualname__ = qualname
        self.__module__ = module

    def __repr__(self):
        return f"<exception type {self.__module__}.{self.__qualname__} (in another interpreter)>"


class ExceptionInfo:
    """`ExecutionFailed.excinfo`: a snapshot of an exception raised in
    another interpreter."""

    __slots__ = ("type", "msg", "formatted", "errdisplay")

    def __init__(self, name, qualname, module, msg, formatted, errdisplay):
        self.type = _ExceptionType(name, qualname, module)
        self.msg = msg
        self.formatted = formatted
        self.errdisplay = errdisplay

    def __repr__(self):
        return f"ExceptionInfo(type={self.type.__qualname__}, msg={self.msg!r})"


class QueueError(RuntimeError):
    """A queue operation failed."""


class QueueNotFoundError(QueueError):
    """The queue does not exist (any more), or this interpreter does not hold it."""


class QueueEmpty(QueueError, _queue.Empty):
    """Raised from `get_nowait()` when the queue is empty, and from `get()`
    when it times out."""


class QueueFull(QueueError, _queue.Full):
    """Raised from `put_nowait()` when the queue is full, and from `put()`
    when it times out."""


class ItemInterpreterDestroyed(QueueError):
    """Raised from `get()` and `get_nowait()` for an item put with
    `unbounditems=UNBOUND_ERROR` by an interpreter since destroyed."""


# The door -------------------------------------------------------------------


def _call_door(op, payload, interpreter_id=None, queue_id=None):
    """Sends a request; returns the answer. A refusal raises this module's
    exception for it."""
    answer = _host_call(_OPS[op] + payload)
    if answer[0] != 0:
        _refused(answer, interpreter_id, queue_id)
    return answer


def _refused(answer, interpreter_id=None, queue_id=None):
    """Raises the exception for a request the host refused."""
    code = answer[1]
    text = str(answer[2:], "utf-8", "replace")
    if code == _isolate_door.INTERPRETER_NOT_FOUND:
        raise InterpreterNotFoundError(f"unrecognized interpreter ID {interpreter_id}")
    if code == _isolate_door.INTERPRETER_RUNNING:
        raise InterpreterError("interpreter already running")
    if code in (_isolate_door.INTERPRETER_FAILED, _isolate_door.LIMIT_REACHED):
        raise InterpreterError(text)
    if code == _isolate_door.INVALID_VALUE:
        raise NotShareableError(text)
    if code == _isolate_door.QUEUE_NOT_FOUND:
        raise QueueNotFoundError(f"queue {queue_id} not found")
    if code == _isolate_door.QUEUE_EMPTY:
        raise QueueEmpty(f"queue {queue_id} is empty")
    if code == _isolate_door.QUEUE_FULL:
        raise QueueFull(f"queue {queue_id} is full")
    _isolate_door.refused(answer, interpreter_id)


def _timeout_ns(block, timeout):
    if not block or timeout is None:
        return _NO_TIMEOUT
    if timeout < 0:
        raise ValueError("timeout value must be non-negative")
    return _isolate_door.timeout_ns(timeout)


# Interpreters ---------------------------------------------------------------

# CPython's `whence` codes.
WHENCE_UNKNOWN, WHENCE_RUNTIME, WHENCE_LEGACY_CAPI, WHENCE_CAPI, WHENCE_XI, WHENCE_STDLIB = range(6)
_WHENCE_TO_STR = {
    WHENCE_UNKNOWN: "unknown",
    WHENCE_RUNTIME: "runtime init",
    WHENCE_LEGACY_CAPI: "legacy C-API",
    WHENCE_CAPI: "C-API",
    WHENCE_XI: "cross-interpreter C-API",
    WHENCE_STDLIB: "_interpreters module",
}


def _ids():
    return _isolate_door.ids(_call_door(_LIST_INTERPRETERS, b""))


_main_id = None


def _get_main_id():
    # The sandbox's first interpreter, which the host created: ids count
    # up, and every other one was created after it.
    global _main_id
    if _main_id is None:
        _main_id = min(_ids())
    return _main_id


def create():
    """Return a new (idle) Python interpreter.

    It is destroyed by `close()`, or when the last `Interpreter` object
    for it is deleted.
    """
    (id,) = _ID.unpack_from(_call_door(_CREATE_INTERPRETER, b""), 1)
    return Interpreter(id, _whence=WHENCE_STDLIB, _ownsref=True)


def list_all():
    """Return all existing interpreters (of this sandbox)."""
    return [Interpreter(id) for id in _ids()]


def get_current():
    """Return the currently running interpreter."""
    (id,) = _ID.unpack_from(_call_door(_CURRENT_INTERPRETER, b""), 1)
    return Interpreter(id)


def get_main():
    """Return the main interpreter: the one the host created."""
    return Interpreter(_get_main_id())


def is_shareable(obj):
    """True if `obj` crosses to another interpreter as it is, without
    pickle: `None`, `bool`, `int`, `float`, `str`, `bytes`, tuples of
    shareable objects, `memoryview`, queues and channel ends."""
    return type(obj) is memoryview or _isolate_codec.is_shareable(obj)


_known = weakref.WeakValueDictionary()


class Interpreter:
    """A single Python interpreter.

    Attributes: `id`, the interpreter's id; `whence`, where it was created.
    There is one object for a given interpreter.
    """

    def __new__(cls, id, /, _whence=None, _ownsref=None):
        if not isinstance(id, int):
            raise TypeError(f"id must be an int, got {id!r}")
        id = int(id)
        try:
            return _known[id]
        except KeyError:
            pass
        # CPython's checks, and words, for an id no interpreter can have.
        if id < 0:
            raise ValueError(f"interpreter ID must be a non-negative int, got {id!r}")
        if id >= 2**63:
            raise OverflowError("int too big to convert")
        if _whence is None:
            if id not in _ids():
                raise InterpreterNotFoundError(f"unrecognized interpreter ID {id}")
            _whence = WHENCE_RUNTIME if id == _get_main_id() else WHENCE_STDLIB
        self = super().__new__(cls)
        self._id = id
        self._whence = _whence
        self._ownsref = bool(_ownsref)
        # The head of every exec and call frame for it.
        self._invoking = _OPS[_INVOKE_INTERPRETER] + _ID.pack(id)
        _known[id] = self
        return self

    def __repr__(self):
        return f"{type(self).__name__}({self._id})"

    def __hash__(self):
        return hash(self._id)

    def __del__(self):
        if getattr(self, "_ownsref", False):
            self._ownsref = False
            try:
                _call_door(_DESTROY_INTERPRETER, _ID.pack(self._id), self._id)
            except Exception:
                pass

    # for pickling:
    def __reduce__(self):
        return (type(self), (self._id,))

    @property
    def id(self):
        return self._id

    @property
    def whence(self):
        return _WHENCE_TO_STR[self._whence]

    def is_running(self):
        """Return whether the interpreter is executing code."""
        return _call_door(_INTERPRETER_IS_RUNNING, _ID.pack(self._id), self._id)[1] == 1

    def close(self):
        """Finalize and destroy the interpreter.

        InterpreterError for the current interpreter, one that is running,
        or the one the host created.
        """
        if self._id == get_current().id:
            raise InterpreterError("cannot destroy the current interpreter")
        _call_door(_DESTROY_INTERPRETER, _ID.pack(self._id), self._id)
        self._ownsref = False

    def prepare_main(self, ns=None, /, **kwargs):
        """Bind the given values into the interpreter's `__main__`.

        Shareable values cross as they are, others as copies (by pickle).
        """
        ns = dict(ns, **kwargs) if ns is not None else kwargs
        if not ns:
            # As CPython: a call that binds nothing is a mistake.
            raise ValueError("prepare_main() needs at least one value to bind")
        for name in ns:
            if not isinstance(name, str):
                raise TypeError(f"names must be str, not {type(name).__name__!r}")
        self._invoke((_PREPARE_MAIN, tuple((name, _pack(value)) for name, value in ns.items())))

    def exec(self, code, /):
        """Run the given source code in the interpreter's `__main__`, and
        wait for it.

        `code` is a str, a code object, or a function taking no arguments
        and using no closure, whose body runs in `__main__`. An uncaught
        exception raises ExecutionFailed, which describes it.
        """
        self._invoke(_exec_request(code))

    def call(self, callable, /, *args, **kwargs):
        """Call the object in the interpreter with the given arguments, and
        return its result.

        An uncaught exception raises ExecutionFailed, which describes it.
        """
        # The most common call, in as few steps as can be: a callable found
        # by its name before, plain arguments, no keywords.
        try:
            framing = _call_framing[callable]
        except TypeError:
            framing = None
        if framing is not None and not kwargs and (_PLAIN_SCALARS.issuperset(map(type, args)) or _plain(args)):
            frame = b"".join((self._invoking, framing[0], _dumps(args, 2), framing[1]))
        else:
            frame = self._invoking + _call_request(callable, args, kwargs)
        _flush_stdio()
        try:
            answer = _door(frame)
        except OSError:
            raise MemoryError("no memory for the host's answer") from None
        if answer[0] >= _MARSHAL_FIRST:
            # A plain value returned: the answer is its `marshal` data.
            return _loads(answer)
        return self._outcome(answer)

    def call_in_thread(self, callable, /, *args, **kwargs):
        """Call the object in the interpreter on a new (host) thread; return
        a `CallThread` to `join()`. The result is discarded."""
        request = _call_request(callable, args, kwargs)
        _isolate_door.flush_stdio()
        answer = _call_door(_START_INVOKE, _ID.pack(self._id) + request, self._id)
        (handle,) = _ID.unpack_from(answer, 1)
        thread = CallThread(handle, self, callable)
        _unjoined_calls[handle] = thread
        if len(_unjoined_calls) > _UNJOINED_PRUNE_AT:
            for other in list(_unjoined_calls.values()):
                if not other.is_alive():
                    other.join()
        return thread

    def _invoke(self, request):
        """Runs `request` (see `_call_request`), encoded or not yet."""
        if type(request) is not bytes:
            request = _isolate_codec.dump(request, copy=True)
        _flush_stdio()
        try:
            answer = _door(self._invoking + request)
        except OSError:
            raise MemoryError("no memory for the host's answer") from None
        if answer[0] >= _MARSHAL_FIRST:
            return _loads(answer)
        return self._outcome(answer)

    def _outcome(self, answer):
        """What an invoke's answer that is not a plain value says."""
        if answer[0] != 0:
            _refused(answer, self._id)
        return _result(answer, 1)


# What `Interpreter` asks of another interpreter's driver (guest/driver.py,
# `_invoke`).
_EXEC_SOURCE, _EXEC_CODE, _CALL, _PREPARE_MAIN, _CALL_NAMED = 0, 1, 2, 3, 4
_by_name = _isolate_copy.by_name
_pack = _isolate_copy.pack


def _framing(by_name):
    """The `marshal` data of a request to call the callable named
    `by_name` (`(_BY_NAME, module, qualname)`) with plain arguments and no
    keywords, before and after the arguments' (version 2 has no
    back-references, so that the parts join to the data of the whole)."""
    mark = "\0isolate: the arguments\0"
    request = (_CALL_NAMED, by_name[1], by_name[2], mark)
    before, after = _marshal.dumps(request, 2).split(_marshal.dumps(mark, 2))
    return before, after


class _CallFraming(dict):
    """The framing (`_framing`) of each callable found by its name."""

    def __missing__(self, callable):
        by_name = _by_name.get(callable)
        if by_name is None:
            return None
        framing = _framing(by_name)
        if len(self) < 256:
            self[callable] = framing
        return framing


_call_framing = _CallFraming()


def _exec_request(code):
    if isinstance(code, str):
        # A lone surrogate cannot cross: `encode` says so here.
        code.encode("utf-8")
        return (_EXEC_SOURCE, code)
    import marshal
    import types

    if isinstance(code, types.FunctionType):
        func = code
        if func.__closure__ or func.__code__.co_argcount or func.__code__.co_kwonlyargcount or func.__defaults__:
            raise ValueError("only a function without arguments or closure can be run by exec()")
        code = func.__code__
    if not isinstance(code, types.CodeType):
        raise TypeError(f"expected a str, a code object or a function, got {type(code).__name__!r}")
    return (_EXEC_CODE, marshal.dumps(code))


def _call_request(callable_, args, kwargs):
    if not callable(callable_):
        raise TypeError(f"{type(callable_).__name__!r} object is not callable")
    func, plain_func = _isolate_copy.packed_callable(callable_)
    args, plain_args = _isolate_copy.packed(args)
    kwargs, plain_kwargs = _isolate_copy.packed(kwargs)
    return _isolate_copy.dump_packed((_CALL, func, args, kwargs), plain_func and plain_args and plain_kwargs)


def _result(answer, at):
    """The result the other interpreter's driver reported (its encoding,
    from `at` in `answer`)."""
    outcome = _decode(memoryview(answer)[at:])
    if outcome[0] == 0:
        return _isolate_copy.unpack(outcome[1])
    if outcome[0] == 1:
        raise ExecutionFailed(ExceptionInfo(*outcome[1]))
    raise NotShareableError(outcome[1])


# The calls started in threads and not yet joined, by handle, which the end
# of the program waits for (`_join_call_threads`), as CPython's waits for
# its threads; those that ended are joined (their exceptions reported) when
# there are many.
_unjoined_calls = {}
_UNJOINED_PRUNE_AT = 128


def _join_call_threads():
    """Waits for every call started in a thread from this interpreter."""
    while _unjoined_calls:
        thread = next(iter(_unjoined_calls.values()))
        try:
            thread.join()
        finally:
            _unjoined_calls.pop(thread._handle, None)


class CallThread:
    """A call started by `Interpreter.call_in_thread()`, running on a host
    thread: the sandbox's stand-in for `threading.Thread`."""

    def __init__(self, handle, interpreter, target):
        self._handle = handle
        self._interpreter = interpreter
        self._done = False
        # What ended the call, once joined: an exception it raised (as an
        # ExecutionFailed) or what stopped its interpreter; None if it
        # returned.
        self._failure = None
        self.name = f"call_in_thread({getattr(target, '__qualname__', type(target).__name__)}) in {interpreter!r}"

    def is_alive(self):
        """Whether the call is still running."""
        return not self._done and _call_door(_RUN_IS_DONE, _ID.pack(self._handle))[1] == 0

    def join(self, timeout=None):
        """Wait until the call ends, at most `timeout` seconds (then check
        `is_alive()`). An uncaught exception of the call is printed to
        stderr, once."""
        if self._done:
            return
        _isolate_door.flush_stdio()
        request = _ID.pack(self._handle) + _ID.pack(_timeout_ns(True, timeout))
        try:
            answer = _call_door(_JOIN_RUN, request, self._interpreter.id)
        except TimeoutError:
            return
        except InterpreterError as exc:
            self._ended()
            self._failure = exc
            self._report(exc)
            return
        self._ended()
        if len(answer) == 1:
            # It returned (what it returned is dropped, as by a thread).
            return
        try:
            _result(answer, 1)
        except (ExecutionFailed, NotShareableError) as exc:
            self._failure = exc
            self._report(exc)

    def _ended(self):
        self._done = True
        _unjoined_calls.pop(self._handle, None)

    def _report(self, exc):
        import traceback

        sys.stderr.write(f"Exception in thread {self.name}:\n")
        # Without the frames of this module, which say nothing of the call:
        # the exception's text ends with the call's own traceback.
        traceback.print_exception(type(exc), exc, None)
        sys.stderr.flush()

    def __repr__(self):
        return f"<CallThread {self.name}, {'alive' if self.is_alive() else 'stopped'}>"


# Queues ---------------------------------------------------------------------


class _UnboundItem:
    """Represents a queue item no longer bound to an interpreter: `get()`
    returns it in place of an item whose interpreter was destroyed."""

    __slots__ = ()

    def __repr__(self):
        return "concurrent.interpreters.UNBOUND"

    def __reduce__(self):
        return "UNBOUND"


UNBOUND = object.__new__(_UnboundItem)
UNBOUND_ERROR = object()
UNBOUND_REMOVE = object()
# CPython's flags, which the host knows too (host/queue.rs, `Unbound`).
_UNBOUND_TO_FLAG = {UNBOUND_REMOVE: 1, UNBOUND_ERROR: 2, UNBOUND: 3}
_FLAG_TO_UNBOUND = {flag: unbound for unbound, flag in _UNBOUND_TO_FLAG.items()}


def _unbound_flag(unbounditems):
    try:
        return _UNBOUND_TO_FLAG[unbounditems]
    except (KeyError, TypeError):
        raise NotImplementedError(f"unsupported unbound replacement op {unbounditems!r}") from None


def create_queue(maxsize=0, *, unbounditems=UNBOUND):
    """Return a new cross-interpreter queue; unbounded if `maxsize` is zero
    or negative (`Queue.maxsize` is then what was given, as in CPython).

    `unbounditems` sets the default for `Queue.put()`: what `get()` does
    with an item whose interpreter was destroyed before it was taken.
    """
    maxsize = _operator.index(maxsize)
    if not -(2**63) <= maxsize < 2**63:
        raise OverflowError("maxsize does not fit in a C ssize_t")
    flag = _unbound_flag(unbounditems)
    answer = _call_door(_QUEUE_CREATE, _I64.pack(maxsize) + bytes((flag,)))
    return Queue(_ID.unpack_from(answer, 1)[0])


_known_queues = weakref.WeakValueDictionary()
_QUEUE_WAIT = _isolate_door.WAIT
# A `put`'s two flag bytes: the item's unbound policy (0: the queue's), and
# whether it is a pickle.
_ITEM_FLAGS = [[bytes((flag, pickled)) for pickled in (0, 1)] for flag in range(4)]
_plain = _isolate_codec.plain
_PLAIN_SCALARS = _isolate_codec.PLAIN_SCALARS
_flush_stdio = _isolate_door.flush_stdio
_BY_REFERENCE = _isolate_door.BY_REFERENCE
_dumps = _marshal.dumps
# `_host.call` itself, for the paths that count every step; elsewhere
# `_host_call`, which says MemoryError when it fails.
_door = _host.call
_loads = _marshal.loads
_OK = b"\0"


class Queue:
    """A cross-interpreter queue: first in, first out, optionally bounded,
    shared by every interpreter that holds it. There is one object for a
    given queue in an interpreter; the queue lives while any interpreter
    holds one."""

    def __new__(cls, id, /):
        if not isinstance(id, int):
            raise TypeError(f"id must be an int, got {id!r}")
        id = int(id)
        try:
            return _known_queues[id]
        except KeyError:
            pass
        _call_door(_QUEUE_BIND, _ID.pack(id), queue_id=id)
        self = super().__new__(cls)
        self._id = id
        # The frames of a `put` and a `get` that wait as long as it takes
        # (the put's with the flags of a plain item, the most common).
        self._put_waiting = _OPS[_QUEUE_PUT] + _QUEUE_WAIT.pack(id, False, _NO_TIMEOUT)
        self._put_plain = self._put_waiting + _ITEM_FLAGS[0][0]
        self._get_waiting = _OPS[_QUEUE_GET] + _QUEUE_WAIT.pack(id, _GET_WAITING, _NO_TIMEOUT)
        self._get_now = _OPS[_QUEUE_GET] + _QUEUE_WAIT.pack(id, _GET_NOW, _NO_TIMEOUT)
        self._get_briefly = _OPS[_QUEUE_GET] + _QUEUE_WAIT.pack(id, _GET_BRIEFLY, _NO_TIMEOUT)
        _known_queues[id] = self
        return self

    def __del__(self):
        try:
            _host_call(_OPS[_QUEUE_RELEASE] + _ID.pack(self._id))
        except Exception:
            pass

    def __repr__(self):
        return f"{type(self).__name__}({self._id})"

    def __hash__(self):
        return hash(self._id)

    # for pickling:
    def __reduce__(self):
        return (type(self), (self._id,))

    def _info(self):
        answer = _call_door(_QUEUE_INFO, _ID.pack(self._id), queue_id=self._id)
        maxsize, count = _I64.unpack_from(answer, 1)[0], _ID.unpack_from(answer, 9)[0]
        return maxsize, count, answer[17]

    @property
    def id(self):
        return self._id

    @property
    def maxsize(self):
        return self._info()[0]

    @property
    def unbounditems(self):
        return _FLAG_TO_UNBOUND[self._info()[2]]

    def empty(self):
        return self.qsize() == 0

    def full(self):
        maxsize, count, _ = self._info()
        return 0 < maxsize <= count

    def qsize(self):
        return self._info()[1]

    def put(self, obj, block=True, timeout=None, *, unbounditems=None):
        """Add the object to the queue.

        If `block` is true, this blocks while the queue is full, at most
        `timeout` seconds, then raises QueueFull. The object received by
        `get()` is the same for a queue, and otherwise a copy, equivalent
        to the original: shareable objects cross as they are, others by
        pickle. `unbounditems` overrides the queue's default (see
        `create_queue()`) for this item.
        """
        kind = type(obj)
        if kind in _PLAIN_SCALARS and block is True and timeout is None and unbounditems is None:
            # The most common put, in as few steps as can be (each costs
            # here: this path is most of a round trip between interpreters).
            if kind is not bytes or len(obj) < _BY_REFERENCE:
                try:
                    answer = _door(self._put_plain + _dumps(obj, 2))
                except OSError:
                    raise MemoryError("no memory for the host's answer") from None
                if answer != _OK:
                    self._put_refused(answer)
                return
        self._put(obj, block, timeout, unbounditems)

    def _put(self, obj, block, timeout, unbounditems, tag=None):
        """`put()`'s general path; with a `tag` (an int), the item can be
        withdrawn by it (`_withdraw`) until someone takes it."""
        flag = 0 if unbounditems is None else _unbound_flag(unbounditems)
        if type(obj) is bytes and len(obj) >= _isolate_door.BY_REFERENCE:
            # By reference: `obj` is held until the call returns.
            value, pickled = _isolate_door.by_reference(obj), 0
        elif _plain(obj):
            value, pickled = _marshal.dumps(obj, 2), 0
        else:
            # Encoded once: by the codec (it holds handles or buffers, a
            # `memoryview` among them), else pickled.
            try:
                value, pickled = _encode(obj, copy=True), 0
            except ValueError:
                value, pickled = _isolate_copy.dump_packed(*_isolate_copy.pickled(obj)), 1
        if block and timeout is None and tag is None:
            head = self._put_waiting
        else:
            head = _OPS[_QUEUE_PUT] + _QUEUE_WAIT.pack(self._id, not block, _timeout_ns(block, timeout))
            if tag is not None:
                head = _OPS[_QUEUE_PUT_TAGGED] + _ID.pack(tag) + head[1:]
        answer = _host_call(b"".join((head, _ITEM_FLAGS[flag][pickled], value)))
        if answer[0] != 0:
            self._put_refused(answer)

    def _withdraw(self, tag, keep=False):
        """Whether the item this interpreter put with `tag` is still in the
        queue (no one took it); unless `keep`, it is removed."""
        answer = _call_door(_QUEUE_WITHDRAW, _ID.pack(self._id) + _ID.pack(tag) + bytes((keep,)), queue_id=self._id)
        return answer[1] == 1

    def _put_refused(self, answer):
        if answer[1] == _isolate_door.LIMIT_REACHED:
            # The items a sandbox put count against its memory limit.
            raise MemoryError(str(answer[2:], "utf-8", "replace"))
        _refused(answer, queue_id=self._id)

    def put_nowait(self, obj, *, unbounditems=None):
        """`put()` without waiting: QueueFull if the queue is full."""
        self.put(obj, False, unbounditems=unbounditems)

    def get(self, block=True, timeout=None):
        """Return the next object from the queue.

        If `block` is true, this blocks while the queue is empty, at most
        `timeout` seconds, then raises QueueEmpty. For an item whose
        interpreter was destroyed, what the item's `unbounditems` says:
        `UNBOUND`, or ItemInterpreterDestroyed.
        """
        # First without a real wait, which flushes stdout and stderr before
        # it (what was printed shows while this waits): an item that is
        # there is taken at once, and a blocking get without a timeout
        # waits a moment first, for an item that comes within microseconds
        # (a round trip between interpreters).
        try:
            answer = _door(self._get_briefly if block and timeout is None else self._get_now)
        except OSError:
            raise MemoryError("no memory for the host's answer") from None
        if answer[0] >= _MARSHAL_FIRST:
            # A plain item, the most common: the answer is its `marshal` data.
            return _loads(answer)
        if answer[0] != 0:
            if block and answer[1] == _isolate_door.QUEUE_EMPTY:
                if timeout is None:
                    frame = self._get_waiting
                else:
                    frame = _OPS[_QUEUE_GET] + _QUEUE_WAIT.pack(self._id, _GET_WAITING, _timeout_ns(True, timeout))
                _flush_stdio()
                answer = _host_call(frame)
                if answer[0] >= _MARSHAL_FIRST:
                    return _loads(answer)
            if answer[0] != 0:
                _refused(answer, queue_id=self._id)
        if answer[1] == 1:
            if _FLAG_TO_UNBOUND.get(answer[2]) is UNBOUND_ERROR:
                raise ItemInterpreterDestroyed("item's original interpreter destroyed")
            return UNBOUND
        if answer[1] == 2:
            return _isolate_door.take_payload(answer)
        data = memoryview(answer)[3:]
        value = _marshal.loads(data) if answer[3] >= _MARSHAL_FIRST else _decode(data)
        return _isolate_copy.unpack(value) if answer[2] else value

    def get_nowait(self):
        """`get()` without waiting: QueueEmpty if the queue is empty."""
        return self.get(False)


# Queues cross as handles in the codec.
_isolate_codec.register_handle(_isolate_codec.QUEUE, Queue)
