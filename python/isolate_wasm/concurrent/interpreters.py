"""`import isolate_wasm.concurrent.interpreters as interpreters`: the names
of the standard library's `concurrent.interpreters` (PEP 734), each
interpreter in a sandbox of its own.

The host program is not one of these interpreters, so there is no
`get_main()` or `get_current()`; `list_all()` lists the interpreters this
process made that are not closed."""

from .. import (
    ExecutionFailed,
    Interpreter,
    InterpreterError,
    InterpreterNotFoundError,
    NotShareableError,
    Queue,
    QueueEmpty,
    QueueError,
    QueueFull,
    create,
    create_queue,
    list_all,
)

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
    "create",
    "create_queue",
    "list_all",
]
