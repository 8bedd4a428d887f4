"""The exceptions of isolate_wasm, PEP 734's names where it has them."""

from __future__ import annotations

import builtins
import queue
import types

__all__ = [
    "InterpreterError",
    "InterpreterNotFoundError",
    "ExecutionFailed",
    "NotShareableError",
    "LimitExceeded",
    "TimeLimitExceeded",
    "MemoryLimitExceeded",
    "StackExhausted",
    "FuelExhausted",
    "HandleLimitExceeded",
    "Cancelled",
    "QueueError",
    "QueueEmpty",
    "QueueFull",
    "ToolError",
]


class InterpreterError(Exception):
    """An interpreter cannot do what was asked (PEP 734)."""


class InterpreterNotFoundError(InterpreterError):
    """The interpreter was closed, or a limit or a crash discarded it."""


class NotShareableError(ValueError):
    """A value cannot cross into or out of a sandbox (PEP 734)."""


class ExecutionFailed(InterpreterError):
    """Code run in the interpreter raised an exception it did not catch.

    `excinfo` is PEP 734's snapshot of it: `type` (with `__name__`,
    `__qualname__` and `__module__`), `msg` (`str()` of it) and `formatted`
    (the traceback as CPython prints it, chained exceptions first)."""

    def __init__(self, excinfo: ExceptionInfo) -> None:
        self.excinfo = excinfo
        super().__init__(excinfo)

    def __str__(self) -> str:
        return str(self.excinfo)


class ExceptionInfo(types.SimpleNamespace):
    """What PEP 734's `ExecutionFailed.excinfo` holds."""

    type: types.SimpleNamespace
    msg: str
    formatted: str

    def __str__(self) -> str:
        return f"{self.type.__qualname__}: {self.msg}" if self.msg else self.type.__qualname__


class LimitExceeded(InterpreterError):
    """A run was stopped by a limit; `limit` is the limit's value (seconds,
    bytes, fuel or handles). The interpreter is discarded: what it held is
    gone, and later calls raise this error again."""

    def __init__(self, message: str, limit: float) -> None:
        self.limit = limit
        super().__init__(message)


class TimeLimitExceeded(LimitExceeded, TimeoutError):
    """The run reached its time limit (`timeout=`)."""


class MemoryLimitExceeded(LimitExceeded):
    """The interpreter ran out of its memory limit (`memory=`) where Python
    could not raise MemoryError."""


class StackExhausted(LimitExceeded):
    """C code in the interpreter recursed deeper than the native stack."""


class FuelExhausted(LimitExceeded):
    """The run used up its fuel (`fuel=`)."""


class HandleLimitExceeded(LimitExceeded):
    """The interpreter held too many files and folders open (`max_handles=`)."""


class Cancelled(InterpreterError):
    """The run was stopped by `cancel()`; the interpreter is discarded."""


class ToolError(Exception):
    """Raised by a host function (`create(functions=...)`) to fail the call
    with this message alone; the sandbox sees `host.ToolError` with it. Any
    other exception reaches the sandbox as `host.ToolError("Type: message")`."""


class QueueError(InterpreterError):
    """A queue cannot do what was asked (PEP 734)."""


class QueueEmpty(QueueError, queue.Empty):
    """`get()` found the queue empty, or it stayed empty for `timeout`."""


class QueueFull(QueueError, queue.Full):
    """`put()` found the queue full, or it stayed full for `timeout`."""


_LIMITS = {
    "time": TimeLimitExceeded,
    "memory": MemoryLimitExceeded,
    "stack": StackExhausted,
    "fuel": FuelExhausted,
    "handles": HandleLimitExceeded,
}


def _limit_exceeded(kind: str, message: str, amount: float) -> LimitExceeded:
    cls = _LIMITS.get(kind, LimitExceeded)
    return cls(message, int(amount) if kind != "time" else amount)


def _exception_type(type_name: str) -> types.SimpleNamespace:
    """The namespace PEP 734 gives as `excinfo.type`, from the name CPython
    prints: `module.Qualname`, or the bare name for builtins and
    `__main__`."""
    module, _, qualname = type_name.rpartition(".")
    if not module:
        found = getattr(builtins, type_name, None)
        is_builtin = isinstance(found, type) and issubclass(found, BaseException)
        module = "builtins" if is_builtin else "__main__"
        qualname = type_name
    name = qualname.rpartition(".")[2]
    return types.SimpleNamespace(__name__=name, __qualname__=qualname, __module__=module)


def _execution_failed(type_name: str, msg: str, formatted: str) -> ExecutionFailed:
    excinfo = ExceptionInfo(type=_exception_type(type_name), msg=msg, formatted=formatted)
    return ExecutionFailed(excinfo)
