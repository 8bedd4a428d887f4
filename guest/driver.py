"""The guest driver: what the host enters for each run, inside the sandbox.

The host loads it once per interpreter (host/guest.rs, `BOOT`): `boot()`
makes the persistent `__main__`, opens stdio and tells the host where
`serve` is. Each run is then one call of `serve()` by the host (through the
C API functions build.rs exports), which takes the run through the door
(host/door.rs), runs it, and reports how it ended if it did not succeed.
"""

import io
import linecache
import os
import sys
import types
from importlib.machinery import BuiltinImporter

import _host
import marshal as _marshal
import _isolate_codec
import _isolate_copy
import _isolate_door
import wasi_patches
from _isolate_door import RUN_OUTCOME as _RUN_OUTCOME
from _isolate_door import RUN_RESULT as _RUN_RESULT
from _isolate_door import TAKE_BINDINGS as _TAKE_BINDINGS
from _isolate_door import U32 as _U32
from _isolate_door import flush_stdio as _flush_stdio

_MARSHAL_FIRST = _isolate_codec.MARSHAL_FIRST
_door = _isolate_door.call


# The persistent `__main__`: every run executes in its namespace, as in a
# REPL. The module's own `__main__` belongs to its `turn` export.
_MAIN = types.ModuleType("__main__")
_MAIN.__spec__ = None
# As CPython's `__main__` before a script sets its own (`-c`, an
# interpreter PEP 734 creates).
_MAIN.__loader__ = BuiltinImporter


def boot(door):
    """Called once by the boot code, with the door it used."""
    sys.modules["__main__"] = _MAIN
    wasi_patches.install()
    _open_stdio()
    argv = _isolate_codec.decode(door(_isolate_door.READY, _U32.pack(id(serve))))
    sys.argv = list(argv)
    # What code that works with other interpreters needs, imported once
    # here instead of in every copy: in the sandbox, importing cloudpickle
    # (which a callable sent by value needs) takes ~80 ms, PEP 734's module
    # ~15 ms, and each fresh interpreter a call or a pool worker lands in
    # paid that before it could start.
    import cloudpickle
    import concurrent.futures.interpreter
    import concurrent.interpreters
    # Every interpreter is a copy of this one (the runtime's template): its
    # objects go to the collector's permanent generation, so that no
    # interpreter's collections scan them, or write to their pages, which
    # are shared with every other copy until written (CPython's advice
    # before `os.fork()`).
    import gc

    gc.freeze()


def _open_stdio():
    """stdout and stderr as this module decides.

    Both are UTF-8 and line-buffered, as CPython's are on a terminal: what a
    script printed before a limit stopped it has reached the host. stderr
    escapes what it cannot encode, as CPython's does.
    """
    def stream(fd, errors):
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors=errors, line_buffering=True)

    sys.stdout = sys.__stdout__ = stream(1, "strict")
    sys.stderr = sys.__stderr__ = stream(2, "backslashreplace")


# CPython reads a script from stdin as a stream and keeps none of its lines,
# so tracebacks for `-` show no source; every other run keeps its source for
# `traceback` and `linecache`.
_NO_SOURCE_LINES = "<stdin>"

# The filename of code run as `python -c` (the host's `Interpreter.run`).
_COMMAND_FILENAME = "<string>"

_I32_MIN, _I32_MAX = -(2**31), 2**31 - 1

_TAKE_RUN = _isolate_door.OPS[_isolate_door.TAKE_RUN]

# What a run does with its source (flags, bits 2-3).
_EXEC, _EVAL, _CALL, _INVOKE = 0, 1, 2, 3
# The flags of an invoke that is not a copy's first run.
_INVOKING = _INVOKE << 2


def serve():
    """One run: called by the host, with nothing else of the guest's on the
    stack. Never raises: an outcome the host cannot get is reported as
    what could be reported."""
    try:
        try:
            answer = _host.call(_TAKE_RUN)
        except OSError:
            raise MemoryError("no memory for the host's answer") from None
        if answer[0] >= _MARSHAL_FIRST:
            # PEP 734's exec and call, the most common run, in as few steps
            # as can be: the answer is its request alone, in `marshal`'s
            # format.
            _report(_invoke(answer))
            return
        if answer[0] != 0:
            _isolate_door.refused(answer)
        flags = answer[1]
        if flags == _INVOKING:
            # One whose request is in the codec's format follows the flags.
            _report(_invoke(memoryview(answer)[2:]))
            return
        at = 2
        filename = _COMMAND_FILENAME
        if flags >> 2 & 3 != _INVOKE:
            (length,) = _U32.unpack_from(answer, at)
            filename = str(answer[at + 4 : at + 4 + length], "utf-8")
            at += 4 + length
        if flags & 2:
            # The first run of a copy: its setup comes first.
            (setup_length,) = _U32.unpack_from(answer, at)
            _set_up_copy(answer[at + 4 : at + 4 + setup_length])
            at += 4 + setup_length
        source = answer[at:]
        del answer
        kind = flags >> 2 & 3
        args, kwargs = (), {}
        if flags & 1:
            bindings = _isolate_codec.decode(memoryview(_door(_TAKE_BINDINGS))[1:])
            if kind == _CALL:
                # A call's bindings are its arguments, then its keyword
                # arguments if it has any.
                args = bindings[0][1]
                if len(bindings) > 1:
                    kwargs = bindings[1][1]
            else:
                for name, value in bindings:
                    setattr(_MAIN, name, value)
        if kind == _EXEC:
            _run(source, filename)
            return
        if kind == _INVOKE:
            # Its request comes as its source.
            _report(_invoke(source))
            return
        if kind == _EVAL:
            result = eval(_compiled(source, filename, "eval"), _MAIN.__dict__)
        else:
            result = _resolve(str(source, "utf-8"))(*args, **kwargs)
        _report_result(result)
        return
    except SystemExit as exc:
        outcome = (0, _exit_status(exc))
    except BaseException as exc:
        outcome = (1, tuple(_chain(exc)))
    finally:
        _flush_stdio()
    try:
        _door(_RUN_OUTCOME, _isolate_codec.encode(outcome))
    except BaseException as exc:
        # Most likely out of memory; say what is known, with what is left.
        name = type(exc).__name__
        _door(_RUN_OUTCOME, _isolate_codec.encode((1, ((name, "", name + "\n", 0),))))




def _set_up_copy(setup: bytes) -> None:
    """Makes a copy of an interpreter this one: `setup` is `(argv, environ,
    module_paths, scripts, working_dir)` for a new interpreter (a copy of the runtime's
    template), `None` for a fork, which keeps its original's, as a child of
    `os.fork()` does. `scripts` are the `(filename, source)` of the scripts
    its sandbox ran, which it cannot open (host/interpreter/scripts.rs)."""
    settings = _isolate_codec.decode(setup)
    if settings is not None:
        # Each change writes pages this copy shares with the others: only
        # what differs from the template's (`['']`, no variables) is set.
        argv, environ, module_paths, scripts, working_dir = settings
        for filename, source in scripts:
            # Lazily: decoded only if a traceback shows one of its lines.
            linecache.cache[filename] = (lambda source=source: _decode_source(source),)
        if module_paths:
            sys.path[0:0] = module_paths
        if sys.argv != list(argv):
            sys.argv = list(argv)
        if environ or os.environ:
            os.environ.clear()
            os.environ.update(environ)
        if working_dir is not None:
            os.chdir(working_dir)
    wasi_patches.after_fork_in_child()


# The code of recent runs, by (source, filename), most recent last. Hosts
# often run the same snippet again and again (a handler, a formula), and in
# the sandbox compiling even `x = 1` costs about 21 µs (and registering its
# lines 7 µs) of a 31 µs run. Code objects are immutable, so running one
# again is what `exec` of the same code always does.
_CODE_CACHE: dict[tuple[bytes, str, str], types.CodeType] = {}
_CODE_CACHE_ENTRIES = 64
# Larger sources are compiled each time: the cache must stay small.
_CODE_CACHE_MAX_SOURCE = 16 << 10


def _compiled(source: bytes, filename: str, mode: str = "exec") -> types.CodeType:
    key = (source, filename, mode)
    code = _CODE_CACHE.pop(key, None)
    if code is None:
        code = compile(source, filename, mode, dont_inherit=True)
        if filename != _NO_SOURCE_LINES:
            _remember_source(code, source, filename)
        if len(source) > _CODE_CACHE_MAX_SOURCE:
            return code
    _CODE_CACHE[key] = code
    if len(_CODE_CACHE) > _CODE_CACHE_ENTRIES:
        del _CODE_CACHE[next(iter(_CODE_CACHE))]
    return code


def _run(source: bytes, filename: str) -> None:
    code = _compiled(source, filename)
    # As CPython: a script (even `<stdin>`) sets `__file__`, `-c` does not.
    if filename != _COMMAND_FILENAME:
        _MAIN.__file__ = filename
    exec(code, _MAIN.__dict__)
    if wasi_patches._DEFERRED_THREADS:
        # As a process waits for its threads at exit: those it started and
        # nothing waited for (daemons excepted) run now.
        wasi_patches.run_deferred_threads(daemons=False)


def _resolve(name: str):
    """The object at a dotted name: its first part looked up as a name in
    `__main__` is (its globals, then the builtins), the rest by attribute."""
    first, *rest = name.split(".")
    if not all(part.isidentifier() for part in (first, *rest)):
        raise ValueError(f"not a dotted name: {name!r}")
    namespace = _MAIN.__dict__
    if first in namespace:
        obj = namespace[first]
    else:
        builtins = namespace.get("__builtins__", __builtins__)
        builtins = getattr(builtins, "__dict__", builtins)
        if first not in builtins:
            raise NameError(f"name {first!r} is not defined", name=first)
        obj = builtins[first]
    for part in rest:
        obj = getattr(obj, part)
    return obj


# PEP 734's exec and call, asked by another interpreter (host/door.rs,
# `InvokeInterpreter`): the request is `(0, source)`, `(1, code)` (a code
# object, `marshal`led), `(2, callable, args, kwargs)` (each packed by
# `_isolate_copy.pack`) or `(3, ((name, value), ...))` (`prepare_main`, the
# values packed); the answer a plain value returned, alone (`RunResult` 2),
# else `(0, result)` (packed), `(1, excinfo)` or `(2, why the result cannot
# be sent)`.
_EXEC_SOURCE, _EXEC_CODE, _CALL_PACKED, _PREPARE_MAIN = 0, 1, 2, 3
# And `(4, module, qualname, args)`: the most common call, of a callable its
# module names, with plain arguments and no keywords, flat (each object
# `marshal` makes here costs).
_CALL_NAMED = 4


# PEP 734's `call()` runs the callable as CPython's does, with no frame of
# the caller's: the builtins that look at their caller's frame (`exec`,
# `eval`, `globals()`, `locals()`, `vars()`, `dir()`, `__import__`) see
# `__main__`'s namespace as their globals and their locals. A Python
# function or another builtin is called at once (its frame is its own);
# anything else (those builtins, a `functools.partial` of them, a class, an
# object) from an expression evaluated in `__main__` (`_MAIN_CALL`), which
# finds the call among the builtins, never among `__main__`'s names, which
# `dir()` lists. Its frame is the driver's (`<isolate:…>`), left out of
# tracebacks.
_MAIN_CALL = compile("__isolate_call__[0](*__isolate_call__[1], **__isolate_call__[2])",
                     "<isolate:_isolate_driver>", "eval")
_FRAME_SENSITIVE = frozenset(map(id, (exec, eval, globals, locals, vars, dir, __import__)))
_FUNCTION = types.FunctionType
_BUILTIN = types.BuiltinFunctionType
_NO_KWARGS = {}


def _call(func, args, kwargs):
    func_type = type(func)
    if func_type is _FUNCTION or (func_type is _BUILTIN and id(func) not in _FRAME_SENSITIVE):
        return func(*args, **kwargs)
    return _call_from_main(func, args, kwargs)


def _call_from_main(func, args, kwargs):
    builtins = _MAIN.__dict__.get("__builtins__", __builtins__)
    if type(builtins) is not dict:
        builtins = builtins.__dict__
    builtins["__isolate_call__"] = (func, args, kwargs)
    try:
        return eval(_MAIN_CALL, _MAIN.__dict__)
    finally:
        builtins.pop("__isolate_call__", None)


_BY_NAME = _isolate_copy.BY_NAME
_PLAIN_SCALARS = _isolate_codec.PLAIN_SCALARS


def _report(frame) -> None:
    """Sends the frame that reports a run's result."""
    try:
        answer = _host.call(frame)
    except OSError:
        raise MemoryError("no memory for the host's answer") from None
    if answer[0] != 0:
        _isolate_door.refused(answer)


_RESULT = bytes((_RUN_RESULT, 0))
# An invoke's plain result, which the caller gets as its answer alone.
_RETURNED = bytes((_RUN_RESULT, 2))
_modules = sys.modules


def _invoke(data) -> bytes:
    """Does the invoke `data` asks; returns the door frame that reports
    its outcome."""
    result = None
    try:
        request = _marshal.loads(data) if data[0] >= _MARSHAL_FIRST else _isolate_codec.decode(data)
        kind = request[0]
        if kind == _CALL_NAMED:
            # A callable its module names (never one of `__main__`).
            module = _modules.get(request[1])
            if module is not None and "." not in request[2]:
                func = getattr(module, request[2])
            else:
                func = _isolate_copy.unpack((_BY_NAME, request[1], request[2]))
            # `_call`, inline (the most common call).
            func_type = type(func)
            if func_type is _FUNCTION or (func_type is _BUILTIN and id(func) not in _FRAME_SENSITIVE):
                result = func(*request[3])
            else:
                result = _call_from_main(func, request[3], _NO_KWARGS)
        elif kind == _CALL_PACKED:
            unpack = _isolate_copy.unpack
            func, args, kwargs = request[1], request[2], request[3]
            result = _call(_isolate_copy.in_main(unpack(func)), unpack(args), unpack(kwargs))
        elif kind == _EXEC_SOURCE:
            exec(_compiled(request[1].encode("utf-8"), _COMMAND_FILENAME), _MAIN.__dict__)
        elif kind == _EXEC_CODE:
            exec(_marshal.loads(request[1]), _MAIN.__dict__)
        elif kind == _PREPARE_MAIN:
            for name, packed in request[1]:
                setattr(_MAIN, name, _isolate_copy.unpack(packed))
        else:
            raise ValueError(f"isolate: an unknown request {kind!r}")
    except BaseException as exc:
        return _RESULT + _isolate_codec.dump((1, _excinfo(exc)))
    if type(result) in _PLAIN_SCALARS:
        return _RETURNED + _marshal.dumps(result, 2)
    try:
        packed, plain = _isolate_copy.packed(result)
        return _RESULT + _isolate_copy.dump_packed((0, packed), plain)
    except BaseException as exc:
        why = f"the result, a {type(result).__name__!r} object, cannot be sent back: {_safe_str(exc)}"
        return _RESULT + _isolate_codec.dump((2, why))


def _excinfo(exc: BaseException) -> tuple:
    """What PEP 734's `ExecutionFailed.excinfo` says of `exc`: its type's
    `__name__`, `__qualname__` and `__module__`, its message, the line
    `traceback` would end with, and the full error display."""
    cls = type(exc)
    names = []
    for attribute in ("__name__", "__qualname__", "__module__"):
        try:
            value = getattr(cls, attribute)
        except BaseException:
            value = None
        names.append(value if type(value) is str else "<unknown>")
    msg = _safe_str(exc)
    formatted = f"{names[0]}: {msg}" if msg else names[0]
    return (*names, msg, formatted, _format_chain(exc))


def _format_chain(exc: BaseException) -> str:
    """`exc` as CPython prints it, chain included, without the guest's own
    frames."""
    try:
        import traceback

        report = traceback.TracebackException.from_exception(exc)
        pending, seen = [report], set()
        while pending:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            node.stack = traceback.StackSummary.from_list([f for f in node.stack if not _is_guest_frame(f)])
            pending += [n for n in (node.__cause__, node.__context__) if n is not None]
            pending += getattr(node, "exceptions", None) or []
        return "".join(report.format())
    except BaseException:
        return _format_alone(exc)


def _report_result(result) -> None:
    """Sends an eval's or call's result to the host, or why it cannot be
    copied (the host makes that its own error, not a Python exception)."""
    try:
        data = _isolate_codec.dump(result, prefix=b"\x00", copy=True)
    except ValueError as exc:
        data = b"\x01" + str(exc).encode("utf-8", "replace")
    _door(_RUN_RESULT, data)


def _remember_source(code, source: bytes, filename: str) -> None:
    """Make the source visible to `linecache`, as CPython does for files and `-c`."""
    text = _decode_source(source)
    if filename.startswith("<") and filename.endswith(">"):
        # Pseudo-files (`<string>`) are keyed by code object, so a function
        # defined by one run still shows its own lines after later runs.
        linecache._register_code(code, text, filename)
    else:
        lines = text.splitlines(keepends=True)
        # An mtime of None tells `linecache.checkcache` never to stat the
        # file: it is on the host, out of the sandbox's reach.
        linecache.cache[filename] = (len(text), None, lines, filename)


def _decode_source(source: bytes) -> str:
    # The same decoding as `compile`: a BOM or a PEP 263 coding cookie,
    # else UTF-8. Without either (the usual case), `tokenize`, which a new
    # interpreter would load from the zip (~4 ms), is not needed.
    head = source.split(b"\n", 2)[:2]
    if not source.startswith(b"\xef\xbb\xbf") and not any(b"coding" in line for line in head):
        return source.decode("utf-8", errors="replace")
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError:
        encoding = "utf-8"
    return source.decode(encoding, errors="replace")


# The guest's own modules (this driver, `interpreters`) are named
# `<isolate:NAME>` (host/guest.rs, `BOOT`).
def _is_guest_frame(frame) -> bool:
    return frame.filename.startswith("<isolate:")


def _exit_status(exc: SystemExit) -> int:
    """The status CPython's `Py_Main` exits with for an uncaught `SystemExit`."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        # `int()`: `SystemExit(True)` exits with 1, and a bool is no status.
        return int(max(_I32_MIN, min(_I32_MAX, code)))
    # CPython prints any other code to stderr and exits with 1.
    try:
        sys.stderr.write(_safe_str(code) + "\n")
    except BaseException:
        pass
    return 1


# How an exception of a chain relates to the one printed after it (0: it is
# the one raised).
_CAUSE, _CONTEXT = 1, 2


def _chain(exc: BaseException) -> list:
    """The exceptions CPython prints for `exc`, first the raised one.

    Follows `__cause__`, else `__context__` unless suppressed, as
    `traceback.TracebackException` does, and stops on a cycle.
    """
    nodes = []
    seen = set()
    link = 0
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        nodes.append((_type_name(exc), _safe_str(exc), _format_alone(exc), link))
        if exc.__cause__ is not None:
            exc, link = exc.__cause__, _CAUSE
        elif exc.__context__ is not None and not exc.__suppress_context__:
            exc, link = exc.__context__, _CONTEXT
        else:
            break
    return nodes


def _format_alone(exc: BaseException) -> str:
    """`exc` as CPython prints it, without its chain and without the guest's
    own frames: like the C parts of CPython, they are not the user's code
    and their source is not in the sandbox."""
    try:
        # Imported when first needed: loading it (and what it imports) from
        # the zip costs a new interpreter ~20 ms.
        import traceback

        report = traceback.TracebackException.from_exception(exc)
        report.stack = traceback.StackSummary.from_list([f for f in report.stack if not _is_guest_frame(f)])
        return "".join(report.format(chain=False))
    except BaseException:
        # A hostile `__str__` or a MemoryError while formatting: say what we can.
        return f"{_type_name(exc)}: <exception could not be formatted>\n"


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    try:
        module, qualname = cls.__module__, cls.__qualname__
    except BaseException:
        return "<unknown>"
    if not isinstance(module, str) or module in ("builtins", "__main__"):
        return str(qualname)
    return f"{module}.{qualname}"


def _safe_str(value) -> str:
    try:
        return str(value)
    except BaseException:
        return f"<{type(value).__name__} object: str() failed>"


def _finalize() -> None:
    """What CPython does when a program ends, once the script has (the host
    calls it, `Interpreter::finalize`): the exit hooks of `threading` run
    (an InterpreterPoolExecutor's stops its workers once their queued tasks
    are done), the calls started with `call_in_thread()` are waited for, as
    threads that are not daemons are, then the `atexit` callbacks run; what
    they print is flushed."""
    threading = sys.modules.get("threading")
    if threading is not None and not threading._SHUTTING_DOWN:
        threading._SHUTTING_DOWN = True
        for hook in reversed(threading._threading_atexits):
            try:
                hook()
            except BaseException as exc:
                wasi_patches._report_unraisable(exc, "Exception ignored in threading exit hook", hook)
    pep734 = sys.modules.get("concurrent.interpreters")
    if pep734 is not None:
        pep734._join_call_threads()
    import atexit

    atexit._run_exitfuncs()
    _flush_stdio()
