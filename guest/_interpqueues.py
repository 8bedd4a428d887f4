"""CPython's low-level `_interpqueues` module, over `concurrent.interpreters`.

CPython's own tests import it (and skip when it is missing); prefer
`concurrent.interpreters`, the documented API. Queue ids, maxsize and the
unbound flags are CPython's. Where isolate differs: a queue lives while
any interpreter holds it, so `destroy()` and the last `release()` let go of
this interpreter's hold, not of the queue other interpreters still hold;
`list_all()` lists the queues this interpreter holds; `fallback` is kept
but not used (an object that is not shareable always goes by pickle).
"""

import concurrent.interpreters as _high

from concurrent.interpreters import QueueError, QueueNotFoundError  # noqa: F401  (re-exported)

# The queues this module made or bound: id -> [Queue, bindings, fallback].
_held = {}


def _queue(qid):
    entry = _held.get(qid)
    return entry[0] if entry is not None else _high.Queue(qid)


def _unbounditems(unboundop):
    if unboundop == -1:
        return None
    try:
        return _high._FLAG_TO_UNBOUND[unboundop]
    except KeyError:
        raise ValueError(f"unsupported unboundop {unboundop!r}") from None


def create(maxsize, unboundop=-1, fallback=-1):
    """Creates a queue; returns its id."""
    unbounditems = _unbounditems(unboundop)
    queue = _high.create_queue(maxsize, unbounditems=_high.UNBOUND if unbounditems is None else unbounditems)
    _held[queue.id] = [queue, 0, fallback]
    return queue.id


def destroy(qid):
    """Lets go of a queue this module made or bound."""
    if _held.pop(qid, None) is None:
        _high.Queue(qid)  # QueueNotFoundError if there is none.


def list_all():
    """`(id, unboundop, fallback)` for each queue this interpreter holds."""
    queues = {queue.id: queue for queue in _high._known_queues.values()}
    return [
        (qid, _high._UNBOUND_TO_FLAG[queue.unbounditems], _held.get(qid, (None, None, -1))[2])
        for qid, queue in sorted(queues.items())
    ]


def put(qid, obj, unboundop=-1, fallback=-1):
    """Adds an object without waiting: QueueFull if the queue is full."""
    _queue(qid).put_nowait(obj, unbounditems=_unbounditems(unboundop))


def get(qid):
    """The next object without waiting, as `(obj, None)`, or `(None, flag)`
    for an item whose interpreter was destroyed and which its policy
    replaces by UNBOUND (ItemInterpreterDestroyed for UNBOUND_ERROR);
    QueueEmpty if none."""
    obj = _queue(qid).get_nowait()
    if obj is _high.UNBOUND:
        return None, _high._UNBOUND_TO_FLAG[_high.UNBOUND]
    return obj, None


def bind(qid):
    """Holds the queue once more."""
    entry = _held.get(qid)
    if entry is None:
        entry = _held[qid] = [_high.Queue(qid), 0, -1]
    entry[1] += 1


def release(qid):
    """Holds the queue once less; with the last, lets go of it."""
    entry = _held.get(qid)
    if entry is None or entry[1] == 0:
        _queue(qid)  # QueueNotFoundError if there is none.
        raise QueueError(f"queue {qid} was not bound")
    entry[1] -= 1
    if entry[1] == 0:
        del _held[qid]


def get_maxsize(qid):
    return _queue(qid).maxsize


def get_queue_defaults(qid):
    """`(unboundop, fallback)`: the queue's defaults."""
    return _high._UNBOUND_TO_FLAG[_queue(qid).unbounditems], _held.get(qid, (None, None, -1))[2]


def is_full(qid):
    return _queue(qid).full()


def get_count(qid):
    return _queue(qid).qsize()


def _register_heap_types(queuetype, emptyerror, fullerror):
    """CPython's high-level module registers its types here; this one's
    are `concurrent.interpreters`' own already."""
