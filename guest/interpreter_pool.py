"""`concurrent.futures.InterpreterPoolExecutor`, for code running in an
isolate sandbox.

As CPython's (3.14): an executor whose workers are interpreters, each
running its calls in parallel with the others (here on host threads, as
the sandbox has no threads of its own). Its futures work with
`concurrent.futures.wait()` and `as_completed()`.

How it differs from CPython's:

- The interpreter that owns the executor hands tasks to the workers and
  takes their results while it waits: in `Future.result()`, `wait()`,
  `as_completed()`, `map()` or `shutdown()`. Each worker has one task
  queued ahead, so workers stay busy while the owner does something else
  for a while, but a future only completes in an owner that waits.
- Functions, arguments and results cross as `concurrent.interpreters`
  sends them: by name, as shareable values, or by cloudpickle (lambdas
  and functions of `__main__` work).
- A task that raises fails its future with `ExecutionFailed`, which
  describes the exception (as CPython's does); an initializer that raises
  breaks the pool (`BrokenInterpreterPool`).
"""

import collections
import os
import sys

from concurrent.futures import _base
from concurrent.futures.thread import BrokenThreadPool

import concurrent.interpreters as _interpreters
import interpreters as _pep554
import wasi_patches

__all__ = ["BrokenInterpreterPool", "ExecutionFailed", "InterpreterPoolExecutor"]

ExecutionFailed = _interpreters.ExecutionFailed


class BrokenInterpreterPool(BrokenThreadPool):
    """A worker's initializer failed: the pool is not usable any more."""


# A worker's answers, on its owner's results queue: (executor, task, kind,
# detail) with kind 0 (detail: the packed result), 1 (an excinfo tuple), 2
# (why the result cannot be sent back); task -1 is the initializer.
_RESULT, _RAISED, _NOT_SENT = 0, 1, 2
_INITIALIZER = -1


def _worker(tasks, results, executor_id, initializer, initargs):
    """A worker's loop, in its own interpreter: runs tasks until it gets
    `None`."""
    excinfo = sys.modules["_isolate_driver"]._excinfo
    unpack = _pep554._unpack
    if initializer is not None:
        try:
            if isinstance(initializer, str):
                exec(initializer, sys.modules["__main__"].__dict__)
            else:
                _pep554._in_main(unpack(initializer))(*unpack(initargs))
        except BaseException as exc:
            results.put((executor_id, _INITIALIZER, _RAISED, excinfo(exc)))
            return
    while (task := tasks.get()) is not None:
        task_id, fn, args, kwargs = task
        try:
            if type(fn) is str:
                exec(fn, sys.modules["__main__"].__dict__)
                result = None
            else:
                result = _pep554._in_main(unpack(fn))(*unpack(args), **unpack(kwargs))
        except BaseException as exc:
            results.put((executor_id, task_id, _RAISED, excinfo(exc)))
            continue
        try:
            answer = (executor_id, task_id, _RESULT, _pep554._pack(result))
        except BaseException as exc:
            why = f"the result, a {type(result).__name__!r} object, cannot be sent back: {exc}"
            answer = (executor_id, task_id, _NOT_SENT, why)
        results.put(answer)


# The results of every executor of this interpreter come on one queue, so
# that a wait takes whichever comes first.
_results = None
_executors = {}
_next_executor = 0


def _progress(timeout):
    """Takes one result, waiting at most `timeout` seconds (None: no
    bound), and completes its future. None if no executor of this
    interpreter has work out; else whether a result came."""
    if not any(executor._in_flight for executor in _executors.values()):
        return None
    try:
        executor_id, task_id, kind, detail = _results.get(timeout=timeout)
    except _interpreters.QueueEmpty:
        return False
    executor = _executors.get(executor_id)
    if executor is not None:
        executor._complete(task_id, kind, detail)
    return True


class InterpreterPoolExecutor(_base.Executor):
    """An executor that runs calls in a pool of interpreters, in parallel."""

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=(), shared=None):
        """Initializes a new InterpreterPoolExecutor instance.

        Args:
            max_workers: The most interpreters to run calls in (by default,
                as CPython's: the CPU count plus 4, at most 32).
            thread_name_prefix: Accepted for compatibility; unused.
            initializer: A callable, or a script (str), run first in each
                worker interpreter.
            initargs: The initializer's arguments.
            shared: A mapping of objects bound in each worker's `__main__`.
        """
        global _results, _next_executor
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not (callable(initializer) or isinstance(initializer, str)):
            raise TypeError("initializer must be a callable or a script")
        if isinstance(initializer, str):
            if initargs:
                raise ValueError(f"an initializer script does not take args, got {initargs!r}")
            compile(initializer, "<string>", "exec")
            self._initializer = (initializer, None)
        elif initializer is not None:
            self._initializer = (_pep554._pack_callable(initializer), _pep554._pack(tuple(initargs)))
        else:
            self._initializer = (None, None)
        if _results is None:
            _results = _interpreters.create_queue()
            wasi_patches.WAIT_SOURCES.append(_progress)
        self._id = _next_executor
        _next_executor += 1
        self._max_workers = max_workers
        self._shared = dict(shared) if shared else None
        self._tasks = _interpreters.create_queue()
        self._workers = []
        self._pending = collections.deque()
        self._futures = {}
        self._in_flight = 0
        self._next_task = 0
        self._shutdown = False
        self._broken = None
        _executors[self._id] = self

    def submit(self, fn, /, *args, **kwargs):
        if self._broken:
            raise BrokenInterpreterPool(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if isinstance(fn, str):
            if args or kwargs:
                raise ValueError(f"a script does not take args or kwargs, got {args!r} and {kwargs!r}")
            task = (fn, None, None)
        elif callable(fn):
            task = (_pep554._pack_callable(fn), _pep554._pack(args), _pep554._pack(kwargs))
        else:
            raise TypeError(f"{type(fn).__name__!r} object is not callable")
        future = _base.Future()
        self._pending.append((future, task))
        self._dispatch()
        return future

    submit.__doc__ = _base.Executor.submit.__doc__

    def _dispatch(self):
        """Hands pending tasks to the workers: one running and one queued
        ahead per worker, starting workers as they are needed."""
        while self._pending and not self._broken:
            if self._in_flight >= len(self._workers) and len(self._workers) < self._max_workers:
                self._start_worker()
            elif self._in_flight >= 2 * len(self._workers):
                return
            future, task = self._pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            task_id = self._next_task
            self._next_task += 1
            self._futures[task_id] = future
            self._in_flight += 1
            self._tasks.put((task_id, *task))

    def _start_worker(self):
        interp = _interpreters.create()
        if self._shared:
            interp.prepare_main(self._shared)
        initializer, initargs = self._initializer
        thread = interp.call_in_thread(_worker, self._tasks, _results, self._id, initializer, initargs)
        self._workers.append((interp, thread))

    def _complete(self, task_id, kind, detail):
        if task_id == _INITIALIZER:
            self._break(_interpreters.ExecutionFailed(_interpreters.ExceptionInfo(*detail)))
            return
        future = self._futures.pop(task_id, None)
        self._in_flight -= 1
        if future is not None:
            if kind == _RESULT:
                try:
                    future.set_result(_pep554._unpack(detail))
                except BaseException as exc:
                    future.set_exception(exc)
            elif kind == _RAISED:
                future.set_exception(ExecutionFailed(_interpreters.ExceptionInfo(*detail)))
            else:
                future.set_exception(_interpreters.NotShareableError(detail))
        self._dispatch()

    def _break(self, cause):
        self._broken = "A worker initializer failed, the interpreter pool is not usable anymore"
        error = BrokenInterpreterPool(self._broken)
        error.__cause__ = cause
        for future in list(self._futures.values()) + [future for future, _ in self._pending]:
            if not future.done():
                if future.running() or future.set_running_or_notify_cancel():
                    future.set_exception(error)
        self._futures.clear()
        self._pending.clear()
        self._in_flight = 0
        # The queued tasks are dropped with the queue; the workers stop.
        self._stop_workers(wait=False)

    def _stop_workers(self, wait):
        for _ in self._workers:
            try:
                self._tasks.put(None)
            except Exception:
                pass
        if wait:
            for interp, thread in self._workers:
                thread.join()
                try:
                    interp.close()
                except _interpreters.InterpreterError:
                    pass
            self._workers.clear()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stops taking tasks, and with `wait` waits for those submitted,
        then closes the workers. `cancel_futures` cancels the tasks not
        yet handed to a worker."""
        self._shutdown = True
        if cancel_futures:
            while self._pending:
                future, _ = self._pending.popleft()
                future.cancel()
        if not wait:
            # Hand everything over now: nobody may wait for it later.
            while self._pending:
                future, task = self._pending.popleft()
                if future.set_running_or_notify_cancel():
                    task_id = self._next_task
                    self._next_task += 1
                    self._futures[task_id] = future
                    self._in_flight += 1
                    self._tasks.put((task_id, *task))
            self._stop_workers(wait=False)
            return
        while self._in_flight and not self._broken:
            _progress(None)
        self._stop_workers(wait=True)
        _executors.pop(self._id, None)
