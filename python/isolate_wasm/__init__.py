"""Sandboxed CPython interpreters for Python programs.

Each interpreter runs CPython 3.15 inside its own WebAssembly instance:
no shared memory, its own memory and time limits, nothing of the host
visible unless granted, and copies (forks) in microseconds. The names
follow PEP 734 (`concurrent.interpreters`) wherever it has one.

    import isolate_wasm as iso

    with iso.create(memory="256M", timeout=2.0) as interp:
        interp.exec("import math")
        interp.call("math.sqrt", 16.0)     # 4.0
        interp.eval("sum(range(10))")      # 45

Values cross as copies: None, bool, int, float, str, bytes, buffers, numpy
arrays (out as numpy arrays with their dtype and shape where the host has
numpy, else as a memoryview of their bytes) and numpy scalars (as the
Python numbers they stand for), tuples, lists and dicts of those, and
queues. Other objects go in by pickle, unpickled inside the sandbox (their
classes must be importable there); nothing comes out as a pickle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import re
import threading
import weakref
from typing import Any, Callable, Iterable, Mapping, Union

from . import _native
from ._errors import (
    Cancelled,
    ExecutionFailed,
    FuelExhausted,
    HandleLimitExceeded,
    InterpreterError,
    InterpreterNotFoundError,
    LimitExceeded,
    MemoryLimitExceeded,
    NotShareableError,
    QueueEmpty,
    QueueError,
    QueueFull,
    StackExhausted,
    TimeLimitExceeded,
    ToolError,
)
from ._native import Queue, Snapshot

__all__ = [
    "create",
    "create_queue",
    "list_all",
    "Interpreter",
    "InterpreterPoolExecutor",
    "Queue",
    "Snapshot",
    "Dir",
    "warmup",
    "cache_dir",
    "PYTHON_VERSION",
    "Cancelled",
    "ExecutionFailed",
    "FuelExhausted",
    "HandleLimitExceeded",
    "InterpreterError",
    "InterpreterNotFoundError",
    "LimitExceeded",
    "MemoryLimitExceeded",
    "NotShareableError",
    "QueueEmpty",
    "QueueError",
    "QueueFull",
    "StackExhausted",
    "TimeLimitExceeded",
    "ToolError",
]

#: The version of the CPython inside the sandbox, as `sys.version` begins.
PYTHON_VERSION: str = _native.PYTHON_VERSION


@dataclasses.dataclass(frozen=True)
class Dir:
    """A host folder granted to the sandbox at `guest` (an absolute path
    inside it), read-write unless `readonly`."""

    host: Union[str, "os.PathLike[str]"]
    guest: str
    readonly: bool = False


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(name: str, value: Union[int, str, None]) -> Union[int, None]:
    """Bytes from an int or a size such as "256M", "1.5G", "64KiB" (binary
    units, as the CLI's flags)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{name}={value!r}: expected a number of bytes or a size such as '256M'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{name}={value!r}: expected a positive number of bytes")
        return value
    found = _SIZE.match(value)
    if not found:
        raise ValueError(f"{name}={value!r}: expected a size such as '512K', '256M' or '2G'")
    bytes_ = int(float(found[1]) * _UNITS[found[2].upper()])
    if bytes_ <= 0:
        raise ValueError(f"{name}={value!r}: expected a positive size")
    return bytes_


def _count(name: str, value: Union[int, None]) -> Union[int, None]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name}={value!r}: expected a non-negative int")
    return value


def _output(name: str, value: Any) -> Any:
    if value is None:
        return "host"
    if value in ("host", "capture", "discard") or callable(value):
        return value
    raise ValueError(f"{name}={value!r}: expected 'host', 'capture', 'discard' or a callable taking text")


# The name a pickle is bound to in `__main__` on its way in, for as long
# as it takes to unpickle it there.
_PICKLED = "__isolate_wasm_pickled__"


def _pickled(value: Any) -> bytes:
    """`value` pickled for the sandbox, or why it cannot go."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise NotShareableError(
            f"cannot send {type(value).__name__} to the sandbox: it is not a value that crosses as a copy, and "
            f"pickling it failed ({exc})"
        ) from exc


# The interpreters made and not yet collected, by id (for `list_all`).
_LIVE: "weakref.WeakValueDictionary[int, Interpreter]" = weakref.WeakValueDictionary()


class Interpreter:
    """One sandboxed interpreter (PEP 734's `Interpreter`). Make one with
    `create()`; close it with `close()` or a `with` block."""

    __slots__ = ("_native", "__weakref__")

    def __init__(self, native: _native.Interpreter):
        self._native = native
        _LIVE[native.id] = self

    @property
    def id(self) -> int:
        """The interpreter's id, unique in this process."""
        return self._native.id

    @property
    def whence(self) -> str:
        """How the interpreter was made (PEP 734): always by this package."""
        return "isolate_wasm"

    def exec(self, code: str, /) -> None:
        """Runs source code in the interpreter's `__main__`, as `exec()`
        would. An exception it does not catch raises `ExecutionFailed`."""
        if not isinstance(code, str):
            raise TypeError(f"exec() takes source code as a str, not {type(code).__name__}")
        self._native.exec(code)

    def eval(self, expression: str, /) -> Any:
        """The value of one expression evaluated in `__main__`, copied out."""
        if not isinstance(expression, str):
            raise TypeError(f"eval() takes an expression as a str, not {type(expression).__name__}")
        return self._native.eval(expression)

    def call(self, callable: Union[str, Callable[..., Any]], /, *args: Any, **kwargs: Any) -> Any:
        """Calls a callable in the interpreter with copies of the arguments
        and returns a copy of its result.

        `callable` is a dotted name looked up in `__main__` (then the
        builtins): `"len"`, `"math.sqrt"` once `math` is imported. A
        function of a module the sandbox can import (one on `path=`, or the
        standard library) may be passed itself: its module is imported in
        the sandbox first."""
        name = self._callable_name(callable)
        if all(map(_native.is_shareable, args)) and all(map(_native.is_shareable, kwargs.values())):
            return self._native.call(name, args, kwargs or None)
        # Some argument goes by pickle: unpickled in the sandbox, then the
        # call, as an expression (its name resolved as call() resolves it).
        for value in (*args, *kwargs.values()):
            if not _native.is_shareable(value):
                _pickled(value)  # names the argument that cannot go
        self._native.prepare_main({_PICKLED: _pickled((args, kwargs))})
        return self._native.eval(
            f"(lambda a: {name}(*a[0], **a[1]))(__import__('pickle').loads(globals().pop({_PICKLED!r})))"
        )

    def _callable_name(self, callable: Any) -> str:
        if isinstance(callable, str):
            return callable
        module = getattr(callable, "__module__", None)
        qualname = getattr(callable, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname or module == "__main__":
            raise NotShareableError(
                f"{callable!r} cannot be called in the sandbox by reference: pass its dotted name as a str "
                "(after defining it there with exec()), or put its module on create(path=[...])"
            )
        if module == "builtins":
            return qualname
        self._native.exec(f"import {module}")
        return f"{module}.{qualname}"

    def call_in_thread(self, callable: Union[str, Callable[..., Any]], /, *args: Any, **kwargs: Any) -> threading.Thread:
        """Runs `call(callable, *args, **kwargs)` on a new host thread and
        returns the thread, started (PEP 734): `join(timeout)` and
        `is_alive()` work as on any thread. The result is dropped; an
        exception goes to `threading.excepthook`, as any thread's does."""
        name = self._callable_name(callable)
        thread = threading.Thread(target=self._native.call, args=(name, args, kwargs or None), daemon=True)
        thread.start()
        return thread

    async def aexec(self, code: str, /) -> None:
        """`exec()` for asyncio: the run goes on a worker thread, and
        cancelling the awaiting task cancels the run (the interpreter is
        then discarded, as by `cancel()`)."""
        await self._in_thread(self.exec, code)

    async def aeval(self, expression: str, /) -> Any:
        """`eval()` for asyncio; see `aexec()`."""
        return await self._in_thread(self.eval, expression)

    async def acall(self, callable: Union[str, Callable[..., Any]], /, *args: Any, **kwargs: Any) -> Any:
        """`call()` for asyncio; see `aexec()`."""
        return await self._in_thread(lambda: self.call(callable, *args, **kwargs))

    async def _in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(None, function, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self.cancel()
            # The run ends at once; its error (Cancelled) is the task's
            # cancellation.
            try:
                await future
            except BaseException:
                pass
            raise

    def prepare_main(self, ns: Union[Mapping[str, Any], None] = None, /, **kwargs: Any) -> None:
        """Binds names in `__main__` to copies of the values (PEP 734)."""
        names = dict(ns or {}, **kwargs)
        for key in names:
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"prepare_main(): {key!r} is not a name")
        shared = {key: value for key, value in names.items() if _native.is_shareable(value)}
        pickled = {key: _pickled(value) for key, value in names.items() if key not in shared}
        if pickled:
            shared[_PICKLED] = pickled
        if shared:
            self._native.prepare_main(shared)
        if pickled:
            self._native.exec(
                f"globals().update((k, __import__('pickle').loads(v)) for k, v in globals().pop({_PICKLED!r}).items())"
            )

    def fork(self) -> "Interpreter":
        """A copy of this idle interpreter (what it imported and defined),
        in a sandbox of its own, with its limits and grants."""
        return Interpreter(self._native.fork())

    def snapshot(self) -> Snapshot:
        """The state of this idle interpreter: `create(snapshot=...)` starts
        new interpreters from it, `save(path)` keeps it in a file."""
        return self._native.snapshot()

    def is_running(self) -> bool:
        """Whether a run is going on in the interpreter (PEP 734)."""
        return self._native.is_running()

    def cancel(self) -> bool:
        """Stops the run going on, from any thread: it raises `Cancelled`,
        and the interpreter is discarded. True if this call stopped it."""
        return self._native.cancel()

    def take_stdout(self) -> str:
        """What the interpreter printed since the last call, with
        `stdout="capture"`."""
        return self._native.take_stdout()

    def take_stderr(self) -> str:
        """What the interpreter wrote to stderr since the last call, with
        `stderr="capture"`."""
        return self._native.take_stderr()

    def close(self) -> None:
        """Destroys the interpreter and frees its memory (PEP 734). Later
        calls raise `InterpreterNotFoundError`; closing again does nothing."""
        self._native.close()

    def __enter__(self) -> "Interpreter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._native.closed else ""
        return f"<isolate_wasm.Interpreter {self.id}{state}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interpreter) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def create(
    *,
    memory: Union[int, str, None] = None,
    timeout: Union[float, None] = None,
    fuel: Union[int, None] = None,
    dirs: Iterable[Dir] = (),
    path: Iterable[Union[str, "os.PathLike[str]"]] = (),
    env: Union[Mapping[str, str], None] = None,
    stdin: Union[bytes, str, None] = None,
    workdir: Union[str, None] = None,
    tmp_size: Union[int, str, None] = None,
    max_interpreters: Union[int, None] = None,
    max_handles: Union[int, None] = None,
    stdout: Any = None,
    stderr: Any = None,
    functions: Union[Mapping[str, Callable[..., Any]], None] = None,
    snapshot: Union[Snapshot, None] = None,
) -> Interpreter:
    """A new interpreter in a sandbox of its own (PEP 734's `create()`).

    - `memory`: the memory limit of the sandbox, in bytes or as "256M"
      (default 4 GiB, shared by the interpreters its code creates).
      `timeout`: seconds per run. `fuel`: a deterministic instruction
      budget per run.
    - `dirs`: host folders granted (`Dir(host, guest, readonly=False)`);
      `path`: host folders the sandbox imports from (read-only); `env`: its
      `os.environ`; `stdin`: what it reads from `sys.stdin`; `workdir`: its
      working directory, inside a grant; `tmp_size`: the cap of its
      private `/tmp`; `max_interpreters`, `max_handles`: caps.
    - `stdout`, `stderr`: `"host"` (default: this program's `sys.stdout` and
      `sys.stderr`, as they are at each write), `"capture"` (read with
      `take_stdout()`), `"discard"`, or a callable given the text.
    - `functions`: host functions the sandbox calls as
      `from host import tools; tools.NAME(...)`, with copies of values.
    - `snapshot`: start as a copy of a `Snapshot`'s state (what its
      interpreter imported and defined), with this call's limits and
      grants.

    The first call compiles the guest for this machine (about a minute,
    once per cache folder: see `cache_dir()` and `warmup()`)."""
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout={timeout!r}: expected a positive number of seconds")
        timeout = float(timeout)
    grants = []
    for grant in dirs:
        if not isinstance(grant, Dir):
            raise TypeError(f"dirs: expected isolate_wasm.Dir(host, guest), not {grant!r}")
        grants.append((os.fspath(grant.host), grant.guest, bool(grant.readonly)))
    if isinstance(stdin, str):
        stdin = stdin.encode()
    if env is not None:
        for key, value in env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(f"env: expected str keys and values, not {key!r}: {value!r}")
    named = []
    for name, function in (functions or {}).items():
        if not callable(function):
            raise TypeError(f"functions[{name!r}]: expected a callable, not {function!r}")
        named.append((name, function))
    native = _native.create(
        memory=_size("memory", memory),
        timeout=timeout,
        fuel=_count("fuel", fuel),
        dirs=grants,
        path=[os.fspath(folder) for folder in path],
        env=list((env or {}).items()),
        stdin=stdin,
        workdir=workdir,
        tmp_size=_size("tmp_size", tmp_size),
        max_interpreters=_count("max_interpreters", max_interpreters),
        max_handles=_count("max_handles", max_handles),
        stdout=_output("stdout", stdout),
        stderr=_output("stderr", stderr),
        functions=named,
        snapshot=snapshot,
    )
    return Interpreter(native)


def list_all() -> list[Interpreter]:
    """The interpreters this process made that are not closed (PEP 734's
    `list_all`, of this package's interpreters)."""
    return [interp for interp in list(_LIVE.values()) if not interp._native.closed]


def create_queue(maxsize: int = 0) -> Queue:
    """A new queue (PEP 734's `create_queue`) holding at most `maxsize`
    items (0: no bound), shared with the interpreters it is passed to."""
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
        raise ValueError(f"maxsize={maxsize!r}: expected a non-negative int")
    return _native.create_queue(maxsize)


def warmup(*, fuel: bool = False) -> None:
    """Compiles the guest into the cache folder now rather than at the
    first `create()` (for container images); `fuel=True` compiles the
    fuel-metering build too."""
    _native.warmup(fuel=fuel)


def cache_dir() -> str:
    """The folder the compiled guest is kept in: `$ISOLATE_WASM_CACHE_DIR`,
    else the user's cache folder's `isolate-wasm`."""
    return os.fspath(_native.cache_dir())


from ._pool import InterpreterPoolExecutor  # noqa: E402  (it uses create and Interpreter)
