"""InterpreterPoolExecutor, and the standard library's names."""

import concurrent.futures
import json

import pytest

import isolate_wasm as iso
from isolate_wasm.concurrent import interpreters
from isolate_wasm.concurrent.futures import InterpreterPoolExecutor


def test_each_task_runs_in_a_fork_of_the_template():
    with iso.create() as template:
        template.exec("seen = []\ndef task(x):\n    seen.append(x)\n    return (x * x, len(seen))")
        with InterpreterPoolExecutor(max_workers=2, template=template) as pool:
            results = list(pool.map("task", range(8)))
        # Every task started from the template's state: it saw only itself.
        assert results == [(x * x, 1) for x in range(8)]
        assert template.eval("seen") == []


def test_reuse_keeps_one_interpreter_per_worker():
    setup = "count = 0\ndef bump():\n    global count\n    count += 1\n    return count"
    with InterpreterPoolExecutor(max_workers=1, per_task="reuse", initializer=setup) as pool:
        assert [pool.submit("bump").result() for _ in range(3)] == [1, 2, 3]
    with InterpreterPoolExecutor(max_workers=1, initializer=setup) as pool:
        assert [pool.submit("bump").result() for _ in range(3)] == [1, 1, 1]


def test_an_initializer_by_name_and_importable_functions():
    with InterpreterPoolExecutor(max_workers=2, initializer=json.loads, initargs=("[]",)) as pool:
        future = pool.submit(json.dumps, {"a": 1}, sort_keys=True)
        assert future.result(timeout=30) == '{"a": 1}'


def test_a_failing_task_fails_its_future_only():
    with InterpreterPoolExecutor(max_workers=2, timeout=1.0) as pool:
        bad = pool.submit("divmod", 1, 0)
        slow = pool.submit("exec", "while True:\n    pass")
        good = pool.submit("len", "abc")
        with pytest.raises(iso.ExecutionFailed):
            bad.result()
        with pytest.raises(iso.TimeLimitExceeded):
            slow.result()
        assert good.result() == 3
        done, _ = concurrent.futures.wait([bad, slow, good])
        assert len(done) == 3


def test_the_pool_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="per_task"):
        InterpreterPoolExecutor(per_task="sometimes")
    with iso.create() as template, pytest.raises(ValueError, match="template"):
        InterpreterPoolExecutor(template=template, initializer="x = 1")


def test_the_standard_librarys_names():
    interp = interpreters.create()
    assert interp in interpreters.list_all()
    queue = interpreters.create_queue()
    interp.prepare_main(q=queue)
    interp.exec("q.put(6 * 7)")
    assert queue.get() == 42
    with pytest.raises(interpreters.ExecutionFailed):
        interp.exec("raise ValueError")
    interp.close()
    assert interp not in interpreters.list_all()
    assert issubclass(interpreters.QueueEmpty, interpreters.QueueError)
