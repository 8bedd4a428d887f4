"""PEP 734's queues, shared by the host program and its interpreters."""

import queue
import threading

import pytest

import isolate_wasm as iso


def test_a_queue_carries_copies_between_host_and_interpreters():
    q = iso.create_queue()
    with iso.create() as a, iso.create() as b:
        a.prepare_main(q=q)
        b.prepare_main(q=q)
        a.exec("q.put({'from': 'a', 'items': [1, 2]})")
        assert b.eval("q.get()") == {"from": "a", "items": [1, 2]}
        q.put(("host", 3))
        assert a.eval("q.get()") == ("host", 3)
        b.exec("q.put(q)")  # a queue is shared, not copied
        assert q.get() == q
    assert q.empty() and q.qsize() == 0


def test_a_bounded_queue_and_its_errors():
    q = iso.create_queue(maxsize=1)
    assert q.maxsize == 1
    q.put(1)
    assert q.full()
    with pytest.raises(iso.QueueFull):
        q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.05)
    assert q.get_nowait() == 1
    with pytest.raises(iso.QueueEmpty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(iso.NotShareableError):
        q.put(object())


def test_a_blocking_get_releases_the_gil():
    q = iso.create_queue()
    got = []
    reader = threading.Thread(target=lambda: got.append(q.get(timeout=10)))
    reader.start()
    with iso.create() as interp:
        interp.prepare_main(q=q)
        interp.exec("q.put('from the sandbox')")
        reader.join()
    assert got == ["from the sandbox"]


def test_an_item_of_a_closed_interpreter_is_an_error_by_default():
    # As PEP 734's queues (unbounditems): the item went with its interpreter.
    q = iso.create_queue()
    with iso.create() as interp:
        interp.prepare_main(q=q)
        interp.exec("q.put('orphan')")
    with pytest.raises(iso.QueueError, match="destroyed"):
        q.get_nowait()
