"""CPython's `concurrent.interpreters._queues`: the queues of
`concurrent.interpreters`, under the name CPython's own tests (and some
code written for CPython) import them by.

`create()` makes a queue as `concurrent.interpreters.create_queue()` does.
`list_all()` lists the queues this interpreter holds a `Queue` object for
(CPython's lists every queue of the process).
"""

from concurrent.interpreters import (
    UNBOUND,
    UNBOUND_ERROR,
    UNBOUND_REMOVE,
    ItemInterpreterDestroyed,
    Queue,
    QueueEmpty,
    QueueError,
    QueueFull,
    QueueNotFoundError,
    _known_queues,
    create_queue,
)

__all__ = [
    "UNBOUND",
    "UNBOUND_ERROR",
    "UNBOUND_REMOVE",
    "create",
    "list_all",
    "Queue",
    "QueueError",
    "QueueNotFoundError",
    "QueueEmpty",
    "QueueFull",
    "ItemInterpreterDestroyed",
]


def create(maxsize=0, *, unbounditems=UNBOUND):
    """Return a new cross-interpreter queue; unbounded if `maxsize` is zero
    or negative."""
    return create_queue(maxsize, unbounditems=unbounditems)


def list_all():
    """Return the queues this interpreter holds, oldest first."""
    return sorted(_known_queues.values(), key=lambda queue: queue.id)
