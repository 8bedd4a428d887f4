"""InterpreterPoolExecutor: tasks run in sandboxed interpreters, each in a
fork of a template (or in one interpreter per worker), on host threads."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Union

from . import Interpreter, create

__all__ = ["InterpreterPoolExecutor"]


class InterpreterPoolExecutor(concurrent.futures.Executor):
    """An executor whose tasks run in sandboxed interpreters, the names
    those of `concurrent.futures.InterpreterPoolExecutor` (3.14).

    `fn` is what `Interpreter.call` takes: a dotted name defined in the
    interpreters (by the template, or by `initializer`), or a function of a
    module the sandbox can import. Arguments and results are copies.

    - `template`: an idle interpreter whose state every task starts from;
      without one, each worker's interpreter is made by `create(**options)`
      and then `initializer(*initargs)` runs in it (a dotted name, or
      source code given as a str with no dots).
    - `per_task="fork"` (the default): each task runs in a fresh fork of the
      template (or of the initialized interpreter), closed after it: no task
      sees another's leftovers. `"reuse"`: each worker keeps one fork for
      all its tasks.

    Workers are host threads; every run releases the GIL, so up to
    `max_workers` tasks run at once (default: the machine's cores)."""

    def __init__(
        self,
        max_workers: Union[int, None] = None,
        *,
        template: Union[Interpreter, None] = None,
        per_task: str = "fork",
        initializer: Union[str, Callable[..., Any], None] = None,
        initargs: tuple[Any, ...] = (),
        **options: Any,
    ) -> None:
        if per_task not in ("fork", "reuse"):
            raise ValueError(f"per_task={per_task!r}: expected 'fork' or 'reuse'")
        if template is not None and (initializer is not None or options):
            raise ValueError("a template is the interpreters' state: give initializer= and options to create() for it")
        self._per_task = per_task
        self._owned_template = template is None
        if template is None:
            template = create(**options)
            if isinstance(initializer, str) and "." not in initializer and not initializer.isidentifier():
                template.exec(initializer)
            elif initializer is not None:
                template.call(initializer, *initargs)
        self._template = template
        # Forks of the template from several workers at once wait for each
        # other's brief copy, then run in parallel; this guards `_workers`.
        self._lock = threading.Lock()
        self._local = threading.local()
        self._workers: list[Interpreter] = []
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="isolate_wasm pool")

    def _run(self, fn: Union[str, Callable[..., Any]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._per_task == "fork":
            with self._template.fork() as fresh:
                return fresh.call(fn, *args, **kwargs)
        interp: Union[Interpreter, None] = getattr(self._local, "interp", None)
        if interp is None:
            interp = self._template.fork()
            self._local.interp = interp
            with self._lock:
                self._workers.append(interp)
        return interp.call(fn, *args, **kwargs)

    def submit(self, fn: Union[str, Callable[..., Any]], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Schedules `fn(*args, **kwargs)` in an interpreter of the pool."""
        return self._threads.submit(self._run, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stops taking tasks; with `wait`, waits for those running, then
        closes the pool's interpreters (and the template it made)."""
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            for interp in self._workers:
                interp.close()
            self._workers.clear()
            if self._owned_template:
                self._template.close()
