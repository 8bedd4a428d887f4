"""CPython's low-level `_interpreters` module, under `concurrent.interpreters`.

Its presence is what `concurrent.futures` (and code probing for
subinterpreter support) looks for. isolate implements the part of it that
the high-level module's API stands on, with CPython's names and return
shapes; prefer `concurrent.interpreters`, which is the documented API.
"""

import types

import concurrent.interpreters as _high

from concurrent.interpreters import (  # noqa: F401  (re-exported)
    WHENCE_CAPI,
    WHENCE_LEGACY_CAPI,
    WHENCE_RUNTIME,
    WHENCE_STDLIB,
    WHENCE_UNKNOWN,
    WHENCE_XI,
    InterpreterError,
    InterpreterNotFoundError,
    NotShareableError,
    is_shareable,
)


def create(config=None, *, reqrefs=False):
    """Creates an interpreter; returns its id. `config` must be None or
    isolated: every interpreter here is."""
    if config not in (None, "isolated") and not getattr(config, "own_gil", True):
        raise InterpreterError("isolate's interpreters are all isolated, with their own GIL")
    interp = _high.create()
    # The id, not the object, is what this API hands out: the interpreter
    # lives until `destroy()`.
    interp._ownsref = False
    return interp.id


def destroy(id, *, restrict=False):
    _high.Interpreter(id).close()


def list_all(*, require_ready=False):
    return [(interp.id, interp._whence) for interp in _high.list_all()]


def get_current():
    interp = _high.get_current()
    return (interp.id, interp._whence)


def get_main():
    return (_high.get_main().id, WHENCE_RUNTIME)


def whence(id):
    return _high.Interpreter(id)._whence


def is_running(id, *, restrict=False):
    return _high.Interpreter(id).is_running()


def incref(id, *, implieslink=False, restrict=False):
    """Interpreters made by `create()` here live until `destroy()`."""
    _high.Interpreter(id)


def decref(id, *, restrict=False):
    _high.Interpreter(id)


def new_config(name="isolated", /, **overrides):
    if name not in ("isolated", "default", ""):
        raise ValueError(f"unsupported config name {name!r}: isolate's interpreters are all isolated")
    config = types.SimpleNamespace(
        use_main_obmalloc=False,
        allow_fork=False,
        allow_exec=False,
        allow_threads=False,
        allow_daemon_threads=False,
        check_multi_interp_extensions=True,
        gil="own",
    )
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"unsupported config field {key!r}")
        setattr(config, key, value)
    return config


def exec(id, code, shared=None, *, restrict=False):
    """Runs `code` in the interpreter; returns None, or the excinfo of the
    exception it raised."""
    interp = _high.Interpreter(id)
    if shared:
        interp.prepare_main(shared)
    try:
        interp.exec(code)
    except _high.ExecutionFailed as failed:
        return failed.excinfo
    return None


run_string = exec


def call(id, callable, args=None, kwargs=None, *, preserve_exc=False, restrict=False):
    """Calls `callable` in the interpreter; returns `(result, None)` or
    `(None, excinfo)`."""
    try:
        return _high.Interpreter(id).call(callable, *(args or ()), **(kwargs or {})), None
    except _high.ExecutionFailed as failed:
        return None, failed.excinfo


def set___main___attrs(id, updates, *, restrict=False):
    _high.Interpreter(id).prepare_main(updates)
