"""`concurrent.futures.InterpreterPoolExecutor`, for code running in an
isolate sandbox.

As CPython's (3.14): an executor whose workers are interpreters, each
running its calls in parallel with the others (here on host threads, as
the sandbox has no threads of its own). Its futures work with
`concurrent.futures.wait()`, `as_completed()` and asyncio's
`run_in_executor()`.

A task that raises fails its future with that exception, copied back by
pickle, whose `__cause__` is an `ExecutionFailed` describing it as it was
raised (with the worker's traceback); an exception that cannot be copied
back fails it with the `ExecutionFailed` itself, as CPython does. A
callable or arguments that the worker cannot unpickle fail it with
NotShareableError. An initializer that raises breaks the pool
(`BrokenInterpreterPool`), and is logged as CPython logs it; so does a
worker whose interpreter stops (a trap, `os._exit`), as a dead process
breaks a ProcessPoolExecutor.

How it differs from CPython's:

- Tasks go to the workers at once, through a queue the host owns, and run
  whatever the interpreter that submitted them does meanwhile. Their
  results come back to that interpreter while it waits (in
  `Future.result()`, `wait()`, `as_completed()`, `map()`, `shutdown()` or
  an asyncio loop) or asks (`Future.done()`, `running()`), since it has no
  thread to take them as they come.
- A task can be cancelled until a worker takes it from the queue, as in
  CPython; the host decides which came first.
- Functions, arguments and results cross as `concurrent.interpreters`
  sends them: by name, as shareable values, or by cloudpickle (lambdas,
  closures and functions of `__main__` work, where CPython's pickle
  refuses them).
- A script (a `str`) is accepted as a task and as an initializer: it runs
  in the worker's `__main__`, and a task's result is None.
"""

import os
import sys
import time
import weakref

from concurrent.futures import _base
from concurrent.futures.thread import BrokenThreadPool, ThreadPoolExecutor

import concurrent.interpreters as _interpreters
import _isolate_copy
import wasi_patches

__all__ = ["BrokenInterpreterPool", "ExecutionFailed", "InterpreterPoolExecutor"]

ExecutionFailed = _interpreters.ExecutionFailed


class BrokenInterpreterPool(BrokenThreadPool):
    """A worker's initializer failed: the pool is not usable any more."""


# A worker's answers, on its owner's results queue: (executor, task, kind,
# detail), where kind says what detail is: 0 the packed result; 1 the
# exception the task raised (its excinfo tuple, and the exception packed,
# or None if it cannot be); 2 why the result cannot be sent back; 3 the
# excinfo of why the task could not be unpacked. Task -1 is the initializer.
_RESULT, _RAISED, _NOT_SENT, _NOT_RECEIVED = 0, 1, 2, 3
_INITIALIZER = -1


def _raised(exc):
    """A worker's report of `exc`: its description, and itself to copy back
    (None if it cannot be pickled)."""
    excinfo = sys.modules["_isolate_driver"]._excinfo(exc)
    try:
        packed = _isolate_copy.pack(exc)
    except BaseException:
        packed = None
    return excinfo, packed


def _worker(tasks, results, executor_id, initializer, initargs):
    """A worker's loop, in its own interpreter: runs tasks until it gets
    `None`."""
    excinfo = sys.modules["_isolate_driver"]._excinfo
    unpack = _isolate_copy.unpack
    main = sys.modules["__main__"].__dict__
    if initializer is not None:
        try:
            if isinstance(initializer, str):
                exec(initializer, main)
            else:
                _isolate_copy.in_main(unpack(initializer))(*unpack(initargs))
        except BaseException as exc:
            results.put((executor_id, _INITIALIZER, _RAISED, _raised(exc)))
            return
    while (task := tasks.get()) is not None:
        task_id, fn, args, kwargs = task
        if type(fn) is not str:
            try:
                fn, args, kwargs = _isolate_copy.in_main(unpack(fn)), unpack(args), unpack(kwargs)
            except BaseException as exc:
                results.put((executor_id, task_id, _NOT_RECEIVED, excinfo(exc)))
                continue
        try:
            if type(fn) is str:
                exec(fn, main)
                result = None
            else:
                result = fn(*args, **kwargs)
        except BaseException as exc:
            results.put((executor_id, task_id, _RAISED, _raised(exc)))
            continue
        try:
            answer = (executor_id, task_id, _RESULT, _isolate_copy.pack(result))
        except BaseException as exc:
            why = f"the result, a {type(result).__name__!r} object, cannot be sent back: {exc}"
            answer = (executor_id, task_id, _NOT_SENT, why)
        results.put(answer)


def _task_error(detail):
    """The exception a task's `_RAISED` report stands for: the task's own
    exception, caused by an ExecutionFailed that describes it; the
    ExecutionFailed alone if the exception did not survive the trip."""
    excinfo, packed = detail
    failed = ExecutionFailed(_interpreters.ExceptionInfo(*excinfo))
    if packed is not None:
        try:
            exc = _isolate_copy.unpack(packed)
        except BaseException:
            exc = None
        if isinstance(exc, BaseException):
            exc.__cause__ = failed
            return exc
    return failed


# The results of every executor of this interpreter come on one queue, so
# that a wait takes whichever comes first.
_results = None
# The pools with tasks out or workers, by executor id: a pool outlives its
# executor until its last future is done (the futures are what `map()`
# and the program hold).
_pools = {}
_next_executor = 0
# Set once the program ends (`_python_exit`): no more tasks.
_shutdown = False


# How often a wait for results looks whether a worker died (its
# interpreter trapped, or called `os._exit`): then its task never reports.
_CHECK_WORKERS_EVERY = 0.1


def _progress(timeout):
    """Takes one result, waiting at most `timeout` seconds (None: no
    bound), and completes its future. None if no pool of this interpreter
    has work out; else whether a result came (or a pool broke, which
    completes its futures too)."""
    if not any(pool.futures for pool in _pools.values()):
        return None
    if timeout == 0:
        try:
            answer = _results.get_nowait()
        except _interpreters.QueueEmpty:
            return False
    else:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _CHECK_WORKERS_EVERY
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0))
            try:
                answer = _results.get(timeout=wait)
                break
            except _interpreters.QueueEmpty:
                pass
            if any(pool.break_if_a_worker_died() for pool in list(_pools.values())):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
    executor_id, task_id, kind, detail = answer
    pool = _pools.get(executor_id)
    if pool is not None:
        pool.complete(task_id, kind, detail)
    return True


def _take_results():
    """Completes the futures whose results have come, without waiting."""
    while _progress(0):
        pass


def _python_exit():
    """The end of the program (a `threading` exit hook, as CPython's): no
    more tasks, and every pool's workers stop once they ran those queued."""
    global _shutdown
    _shutdown = True
    for pool in list(_pools.values()):
        pool.stop_workers()


def _mark_running(future):
    """A future whose task a worker took, or that will never run: running
    (so that it can be completed), if it was pending."""
    if future._state == _base.PENDING:
        future.set_running_or_notify_cancel()


def _fail(future, error):
    """Fails a future that is not done. (Its state says so: `done()` of a
    task's future would take results, here in the middle of taking one.)"""
    _mark_running(future)
    if future._state == _base.RUNNING:
        future.set_exception(error)


class _Pool:
    """An executor's workers and tasks: what its futures and the results
    need, which lives on when the executor itself is dropped."""

    def __init__(self, executor_id):
        self.id = executor_id
        self.tasks = _interpreters.create_queue()
        self.workers = []
        # The futures of the tasks handed to the workers and not finished
        # (that this interpreter knows of), by task id.
        self.futures = {}
        self.stopping = False
        self.broken = None

    def complete(self, task_id, kind, detail):
        if task_id == _INITIALIZER:
            error = _task_error(detail)
            _base.LOGGER.critical("Exception in initializer:", exc_info=error)
            self.break_(error)
            return
        future = self.futures.pop(task_id, None)
        if future is None:
            return
        _mark_running(future)
        if kind == _RESULT:
            try:
                future.set_result(_isolate_copy.unpack(detail))
            except BaseException as exc:
                future.set_exception(exc)
        elif kind == _RAISED:
            future.set_exception(_task_error(detail))
        elif kind == _NOT_RECEIVED:
            failed = ExecutionFailed(_interpreters.ExceptionInfo(*detail))
            cause = _interpreters.NotShareableError(
                f"the callable or its arguments could not be unpickled in the worker: {failed.excinfo.formatted}"
            )
            cause.__cause__ = failed
            error = _interpreters.NotShareableError("args not shareable")
            error.__cause__ = cause
            future.set_exception(error)
        else:
            future.set_exception(_interpreters.NotShareableError(detail))
        self.forget_if_idle()

    def withdraw(self, task_id):
        """Takes a task back from the queue; whether no worker took it first."""
        if not self.tasks._withdraw(task_id):
            return False
        self.futures.pop(task_id, None)
        self.forget_if_idle()
        return True

    def break_if_a_worker_died(self):
        """Breaks the pool if it has futures out and a worker ended without
        being told to: the task it ran never reports (as a process pool
        breaks when a worker process dies). Whether it did."""
        if not self.futures or self.broken:
            return False
        for _, thread in self.workers:
            if not thread.is_alive():
                thread.join()
                if thread._failure is not None:
                    self.break_(thread._failure, "A worker interpreter stopped abruptly")
                    return True
        return False

    def break_(self, cause, why="A worker initializer failed"):
        self.broken = f"{why}, the interpreter pool is not usable anymore"
        error = BrokenInterpreterPool(self.broken)
        error.__cause__ = cause
        futures = list(self.futures.values())
        self.futures.clear()
        for future in futures:
            _fail(future, error)
        # The queued tasks are dropped with the queue; the workers stop.
        self.stop_workers()

    def stop_workers(self):
        """Tells each worker to stop once it finished the tasks queued
        before (once)."""
        if self.stopping:
            return
        self.stopping = True
        for _ in self.workers:
            try:
                self.tasks.put(None)
            except Exception:
                pass
        self.forget_if_idle()

    def join_workers(self):
        for interp, thread in self.workers:
            thread.join()
            try:
                interp.close()
            except _interpreters.InterpreterError:
                pass
        self.workers.clear()

    def forget_if_idle(self):
        """A stopped pool with no future left needs no routing of results."""
        if self.stopping and not self.futures:
            _pools.pop(self.id, None)


class _TaskFuture(_base.Future):
    """A future of a task handed to the workers' queue. Its state follows
    the task's: pending while the task waits in the queue (and cancellable),
    running once a worker took it."""

    def __init__(self, pool, task_id):
        super().__init__()
        self._pool = pool
        self._task_id = task_id

    def cancel(self):
        with self._condition:
            if self._state == _base.PENDING:
                if not self._pool.withdraw(self._task_id):
                    # A worker took it first: it runs.
                    self.set_running_or_notify_cancel()
                    return False
                super().cancel()
                # As a worker would on finding it cancelled: `wait()` and
                # `as_completed()` count it done from now on.
                self.set_running_or_notify_cancel()
                return True
        return super().cancel()

    def running(self):
        if self._state == _base.PENDING and not self._pool.tasks._withdraw(self._task_id, keep=True):
            # A worker has taken it.
            self.set_running_or_notify_cancel()
        return super().running()

    def done(self):
        if not super().done():
            _take_results()
        return super().done()


class InterpreterPoolExecutor(ThreadPoolExecutor):
    """An executor that runs calls in a pool of interpreters, in parallel.

    A ThreadPoolExecutor, as CPython's is (asyncio takes only those as its
    default executor), though none of that class's threads: it overrides
    everything it does."""

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
            self._initializer = (_isolate_copy.pack_callable(initializer), _isolate_copy.pack(tuple(initargs)))
        else:
            self._initializer = (None, None)
        if _results is None:
            _results = _interpreters.create_queue()
            wasi_patches.WAIT_SOURCES.append(_progress)
        self._id = _next_executor
        _next_executor += 1
        self._max_workers = max_workers
        self._shared = dict(shared) if shared else None
        self._pool = _Pool(self._id)
        self._next_task = 0
        self._shutdown = False
        _pools[self._id] = self._pool
        # Dropped without a shutdown, as CPython's: the workers stop once
        # they ran the tasks queued.
        weakref.finalize(self, self._pool.stop_workers)

    @property
    def _broken(self):
        """Why the pool is broken, or False (as CPython's attribute)."""
        return self._pool.broken or False

    @property
    def _threads(self):
        """The workers' threads (as CPython's attribute, for its tests)."""
        return {thread for _, thread in self._pool.workers}

    def submit(self, fn, /, *args, **kwargs):
        pool = self._pool
        if pool.broken:
            raise BrokenInterpreterPool(pool.broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _shutdown:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if isinstance(fn, str) and (args or kwargs):
            raise ValueError(f"a script does not take args or kwargs, got {args!r} and {kwargs!r}")
        task_id = self._next_task
        self._next_task += 1
        future = _TaskFuture(pool, task_id)
        try:
            if isinstance(fn, str):
                task = (task_id, fn, None, None)
            else:
                task = (task_id, _isolate_copy.pack_callable(fn), _isolate_copy.pack(args), _isolate_copy.pack(kwargs))
        except Exception as exc:
            # As in CPython, where the worker's thread finds this out.
            error = _interpreters.NotShareableError("args not shareable")
            error.__cause__ = exc
            _fail(future, error)
            return future
        pool.futures[task_id] = future
        try:
            pool.tasks._put(task, True, None, None, tag=task_id)
        except BaseException:
            del pool.futures[task_id]
            raise
        try:
            self._adjust_workers()
        except BaseException:
            if pool.workers:
                # The workers there are will run it: the pool is smaller.
                return future
            pool.withdraw(task_id)
            raise
        return future

    submit.__doc__ = _base.Executor.submit.__doc__

    def _adjust_workers(self):
        """Starts a worker if there are more unfinished tasks than workers
        and room for one more (CPython's starts one unless one is idle)."""
        pool = self._pool
        if len(pool.workers) >= self._max_workers or len(pool.futures) <= len(pool.workers):
            return
        # Results that came may show a worker idle.
        _take_results()
        if len(pool.futures) > len(pool.workers):
            interp = _interpreters.create()
            if self._shared:
                interp.prepare_main(self._shared)
            initializer, initargs = self._initializer
            thread = interp.call_in_thread(_worker, pool.tasks, _results, self._id, initializer, initargs)
            pool.workers.append((interp, thread))

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stops taking tasks, and with `wait` waits for those submitted,
        then closes the workers. `cancel_futures` cancels the tasks no
        worker has taken yet."""
        pool = self._pool
        self._shutdown = True
        if cancel_futures:
            for future in list(pool.futures.values()):
                future.cancel()
        pool.stop_workers()
        if not wait:
            return
        while pool.futures and not pool.broken:
            _progress(None)
        pool.join_workers()


import threading as _threading

try:
    _threading._register_atexit(_python_exit)
except RuntimeError:
    # Imported while the program ends: no pool of it can be waited for.
    pass
