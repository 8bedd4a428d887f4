"""Stdlib and package modules made to work in the sandbox, patched as they
are first imported (so that interpreters that never use them never load
them).

- asyncio's selector event loop opens a socket pair, the "self-pipe", that
  other threads and signal handlers write to in order to wake it. WASI has
  no socketpair, and the sandbox grants no sockets, so creating any event
  loop failed with an OSError and `asyncio.run` could not work. Nothing in
  a single-threaded sandbox without signals could write to that pipe
  anyway, so the loop simply goes without one. Its selector waits for
  what the host brings (`WAIT_SOURCES`) while something is on its way,
  so `run_in_executor()` works with an `InterpreterPoolExecutor`, and
  the loop shuts its default executor down itself, not from a thread
  (without a time limit: it waits for the executor's tasks).
- matplotlib insists on a writable configuration and cache folder, and the
  sandbox has none unless one is granted. The host mounts a read-only one
  (`MPLCONFIGDIR` below) holding the font list that matplotlib would
  otherwise build on every import (seconds) and fail to save; matplotlib
  is pointed at it while it is imported, unless the script set
  `MPLCONFIGDIR` itself. Its default backend is Agg: `savefig` works with
  no configuration.
- WASI has no `fork`, so CPython leaves out `os.register_at_fork`. An
  interpreter here can be copied (a fork, and every new interpreter, which
  is a copy of the runtime's template), and a copy is what a child is after
  `os.fork()`: `register_at_fork` is back, and a copy runs its
  `after_in_child` callbacks, in the order they were registered, once
  `random` is reseeded. `before` and `after_in_parent` are accepted and
  never called: the original is idle while it is copied, and runs nothing.
- The sandbox has no threads, so a blocking wait on a `threading`
  condition (`Event.wait`, `Future.result`, `concurrent.futures.wait`)
  could never be woken by another thread: CPython's lock aborted the
  interpreter. A condition's wait now waits for what the host can bring
  (`WAIT_SOURCES`: an `InterpreterPoolExecutor`'s results), else sleeps
  out its timeout, else raises RuntimeError instead of waiting forever.
- CPython 3.15 ends the message of a ModuleNotFoundError, when site
  initialization is off (it always is here), with advice to add the
  site-packages directory to `sys.path` or to enable a virtual
  environment, which cannot help in the sandbox: `traceback` says what
  the sandbox imports from instead.
- WASI has no call to duplicate a descriptor, so `os.dup` and `os.dup2`
  failed with ENOTSUP, and pytest's output capture and faulthandler plugin
  with them. The host's descriptor table duplicates them (host/wasi/
  descriptors.rs): `os.dup` and `os.dup2` ask it through the door.
- wasi-libc keeps the working directory as the path it was given:
  `os.chdir("..")` from `/usr` left `os.getcwd()` at `/usr/..`. `os.chdir`
  normalizes the path first, as the sandbox resolves `..` by name
  (host/wasi/tree.rs).
- WASI has no file modes, and CPython leaves out `os.umask`, which pytest's
  cache calls: it is back, and remembers a mask that nothing applies.
- WASI has no users, and CPython leaves out `os.getuid` and its kin, which
  pytest calls on every platform but Windows and Emscripten before it makes
  a test's `tmp_path` (and compares with the folder's owner). Every file's
  `st_uid` and `st_gid` are 0 in WASI, so the sandbox's one user is 0 too,
  as in a container (file modes still apply to nothing).
- WASI has no processes. `subprocess` says so (`OSError`, ENOTSUP), but
  `multiprocessing` failed on a missing `os.pipe` or `os.WNOHANG`:
  starting a process, making a process `Pool` and a
  `ProcessPoolExecutor` now raise that `OSError` (the executor its own
  `NotImplementedError`, which callers test for), naming what to use; a
  `multiprocessing.pool.ThreadPool`, whose workers wait for each other,
  raises `RuntimeError`, as CPython does where it cannot start a thread.
- isolate's own modules that are loaded when first imported (PEP 734's
  `concurrent.interpreters`, `_interpreters`, and the
  `InterpreterPoolExecutor`) come from the driver's code, in place of the
  stdlib's, which need threads and C modules WASI builds lack.
"""

import os
import sys

# Where the host mounts matplotlib's configuration (host/guest.rs).
MPLCONFIGDIR = "/usr/local/etc/matplotlib"


# The driver's modules loaded when first imported: name → code (filled by
# the boot code, host/guest.rs).
GUEST_MODULES = {}
# Of those, the packages.
GUEST_PACKAGES = {"concurrent.interpreters"}


def install() -> None:
    sys.meta_path.insert(0, _PatchOnImport)
    if not hasattr(os, "register_at_fork"):
        os.register_at_fork = register_at_fork
    for patched in (dup, dup2, chdir):
        patched.__doc__ = getattr(os, patched.__name__).__doc__
    os.chdir, _wasi_chdir[0] = chdir, os.chdir
    os.dup = dup
    os.dup2 = dup2
    if not hasattr(os, "umask"):
        os.umask = umask
    for name in ("getuid", "geteuid", "getgid", "getegid"):
        if not hasattr(os, name):
            setattr(os, name, _user(name))
    if not hasattr(os, "getgroups"):
        os.getgroups = lambda: [0]
        os.getgroups.__name__ = os.getgroups.__qualname__ = "getgroups"
        os.getgroups.__doc__ = "Return list of supplemental group IDs for the process: [0] in the sandbox."


def _user(name):
    def user_id():
        return 0

    user_id.__name__ = user_id.__qualname__ = name
    kind = "group" if "gid" in name else "user"
    real = "effective" if name.startswith("gete") else "real"
    user_id.__doc__ = f"Return the current process's {real} {kind} id: 0 in the sandbox, the owner of every file."
    return user_id


def _duplicate(op, *fds):
    import _isolate_door as door

    for fd in fds:
        if fd < 0:
            raise OSError(9, os.strerror(9))
    answer = door.call(getattr(door, op), b"".join(door.U32.pack(fd) for fd in fds))
    errno, new = door.TWO_U32.unpack_from(answer, 1)
    if errno:
        raise OSError(errno, os.strerror(errno))
    return new


def dup(fd, /):
    return _duplicate("DUP", fd.__index__())


def dup2(fd, fd2, inheritable=True):
    return _duplicate("DUP_ONTO", fd.__index__(), fd2.__index__())


# The file mode creation mask `os.umask` reports: WASI has no file modes,
# so it is only remembered.
_UMASK = [0o022]


def umask(mask, /):
    """Set the current numeric umask and return the previous umask.

    WASI files have no modes: the sandbox remembers the mask and applies it
    to nothing."""
    previous, _UMASK[0] = _UMASK[0], mask.__index__() & 0o777
    return previous


# wasi-libc's `chdir`.
_wasi_chdir = [None]


def chdir(path):
    if isinstance(path, int):
        return _wasi_chdir[0](path)
    given = path
    path = os.fsdecode(os.fspath(path))
    import posixpath

    full = posixpath.normpath(posixpath.join(os.getcwd(), path))
    if full.startswith("//"):
        full = "/" + full.lstrip("/")
    try:
        _wasi_chdir[0](full)
    except OSError as exc:
        exc.filename = given
        raise


# The callbacks of `register_at_fork`: only those that run in a copy.
_AFTER_IN_CHILD = []


def register_at_fork(*, before=None, after_in_child=None, after_in_parent=None):
    """Register callables to be called when the interpreter is copied.

    As CPython's `os.register_at_fork`; in the sandbox only `after_in_child`
    is ever called, in the copy, before anything else runs there.
    """
    if before is None and after_in_child is None and after_in_parent is None:
        raise TypeError("At least one argument is required.")
    for name, func in (("before", before), ("after_in_child", after_in_child), ("after_in_parent", after_in_parent)):
        if func is not None and not callable(func):
            raise TypeError(f"'{name}' must be callable, not {type(func).__name__}")
    if after_in_child is not None:
        _AFTER_IN_CHILD.append(after_in_child)


def after_fork_in_child() -> None:
    """What a copy does first: `random` reseeds (CPython's registers its own
    callback only where `os.fork` exists), then the registered callbacks run.
    A callback's exception is reported as CPython reports it, and the
    others still run."""
    random = sys.modules.get("random")
    if random is not None and hasattr(random, "_inst"):
        random._inst.seed()
    for func in _AFTER_IN_CHILD:
        try:
            func()
        except BaseException as exc:
            _report_unraisable(exc, "Exception ignored in fork hook", func)


def _report_unraisable(exc, err_msg, obj):
    """Reports `exc` as CPython reports an exception it cannot raise: through
    `sys.unraisablehook` if the program set one, else as its default hook
    prints it (which only accepts CPython's own argument type)."""
    if sys.unraisablehook is not sys.__unraisablehook__:
        sys.unraisablehook(_Unraisable(exc, err_msg, obj))
        return
    import traceback

    try:
        sys.stderr.write(f"{err_msg}: {obj!r}\n" + "".join(traceback.format_exception(exc)))
        sys.stderr.flush()
    except BaseException:
        pass


class _Unraisable:
    """What `sys.unraisablehook` is given (CPython's is a private struct sequence)."""

    def __init__(self, exc, err_msg, obj):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = err_msg
        self.object = obj


def _patch_asyncio(exec_module, module) -> None:
    exec_module(module)
    loop = module.BaseSelectorEventLoop
    make_self_pipe = loop._make_self_pipe
    close_self_pipe = loop._close_self_pipe

    def _make_self_pipe(self):
        try:
            make_self_pipe(self)
        except OSError:
            # `_write_to_self` already treats a missing pipe as nothing to wake.
            self._ssock = self._csock = None

    def _close_self_pipe(self):
        if self._ssock is not None:
            close_self_pipe(self)

    loop._make_self_pipe = _make_self_pipe
    loop._close_self_pipe = _close_self_pipe

    init = loop.__init__

    def __init__(self, selector=None):
        init(self, selector)
        self._selector = _SelectorWaitingOnHost(self._selector)

    __init__.__doc__ = init.__doc__
    loop.__init__ = __init__

    async def shutdown_default_executor(self, timeout=None):
        """Schedule the shutdown of the default executor (in the sandbox,
        which has no thread to do it in: here, waiting for its tasks)."""
        self._executor_shutdown_called = True
        if self._default_executor is not None:
            self._default_executor.shutdown(wait=True)

    module.base_events.BaseEventLoop.shutdown_default_executor = shutdown_default_executor


class _SelectorWaitingOnHost:
    """An event loop's selector that, while the host has something on its
    way for this interpreter (`WAIT_SOURCES`: an InterpreterPoolExecutor's
    results, for `run_in_executor()`), waits for that instead of for files
    alone: no thread can wake the loop here. With files registered too, it
    looks at them every `FILE_POLL` seconds meanwhile."""

    FILE_POLL = 0.01

    def __init__(self, selector):
        self._selector = selector

    def __getattr__(self, name):
        return getattr(self._selector, name)

    def select(self, timeout=None):
        selector = self._selector
        if timeout is not None and timeout <= 0:
            return selector.select(timeout)
        files = bool(selector.get_map())
        wait = timeout
        if files:
            wait = self.FILE_POLL if timeout is None else min(timeout, self.FILE_POLL)
        for progress in WAIT_SOURCES:
            if progress(wait) is not None:
                return selector.select(0) if files else []
        if not files and timeout is None:
            raise RuntimeError(
                "the event loop would wait forever: the sandbox has no other thread to wake it, "
                "and nothing it waits for is on its way"
            )
        return selector.select(timeout)


def _patch_matplotlib(exec_module, module) -> None:
    ours = "MPLCONFIGDIR" not in os.environ
    if ours:
        os.environ["MPLCONFIGDIR"] = MPLCONFIGDIR
    try:
        exec_module(module)
        # Both are computed once and remembered: from now on matplotlib no
        # longer reads the variable.
        module.get_configdir()
        module.get_cachedir()
    finally:
        if ours:
            os.environ.pop("MPLCONFIGDIR", None)


def _without_register_at_fork(exec_module, module) -> None:
    # These stdlib modules take `os.register_at_fork` to mean that fork
    # exists, and register the locks' `_at_fork_reinit`, which WASI's locks
    # lack (so that even importing them failed). Their forks need nothing:
    # a copy is taken between runs, with no lock held and no other thread.
    register_at_fork = os.__dict__.pop("register_at_fork", None)
    try:
        exec_module(module)
    finally:
        if register_at_fork is not None:
            os.register_at_fork = register_at_fork


# What a blocking wait can wait for, in a sandbox without threads: each is
# `progress(timeout)`, which waits at most `timeout` seconds (None: no
# bound) for the host to bring something this interpreter waits for, and
# returns whether it did; None if it waits for nothing now.
WAIT_SOURCES = []


def _wait_threadless(waiter, timeout):
    """Waits until `waiter` (a held lock) is released, by what
    `WAIT_SOURCES` bring: no other thread can release it."""
    import time

    deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
    while not waiter.acquire(False):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        active = [progress for progress in WAIT_SOURCES if progress(left) is not None]
        if not active:
            if left is None:
                raise RuntimeError(
                    "this wait would never end: the sandbox has no other thread to wake it, "
                    "and nothing it waits for is on its way"
                )
            time.sleep(left)
            return waiter.acquire(False)
    return True


def _patch_threading(exec_module, module) -> None:
    _without_register_at_fork(exec_module, module)

    def wait(self, timeout=None):
        # CPython's `Condition.wait`, with the blocking acquire replaced.
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = module._allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved_state = self._release_save()
        gotit = False
        try:
            gotit = _wait_threadless(waiter, timeout)
            return gotit
        finally:
            self._acquire_restore(saved_state)
            if not gotit:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    wait.__doc__ = module.Condition.wait.__doc__
    module.Condition.wait = wait
    Lock.__doc__ = module.Lock.__doc__
    module.Lock = Lock
    _defer_threads(module)


# Threads started and not run yet, in order.
_DEFERRED_THREADS = []
# A deferred thread's states.
_PENDING, _RUNNING, _DONE = "pending", "running", "done"


def _defer_threads(module) -> None:
    """`Thread.start()` defers the thread: it runs to its end, on the
    stack of the thread that waits, the first time something waits for it
    (`join()`, a lock, a condition, an event, a queue) or when the run that
    started it ends. See the README's "Threads"."""
    original_join, original_is_alive = module.Thread.join, module.Thread.is_alive

    def start(self):
        if not self._initialized:
            raise RuntimeError("thread.__init__() not called")
        if self._started.is_set():
            raise RuntimeError("threads can only be started once")
        self._isolate_state = _PENDING
        _DEFERRED_THREADS.append(self)
        self._started.set()

    def join(self, timeout=None):
        state = self.__dict__.get("_isolate_state")
        if state is None:
            return original_join(self, timeout)
        if state is _RUNNING:
            raise RuntimeError("cannot join current thread")
        if state is _PENDING:
            _run_deferred(module, self)

    def is_alive(self):
        state = self.__dict__.get("_isolate_state")
        if state is None:
            return original_is_alive(self)
        return state is not _DONE

    for patched, original in ((start, module.Thread.start), (join, original_join), (is_alive, original_is_alive)):
        patched.__doc__ = original.__doc__
        patched.__wrapped__ = original
        setattr(module.Thread, original.__name__, patched)
    WAIT_SOURCES.append(lambda timeout: run_deferred_threads(1) or None)


def _run_deferred(module, thread) -> None:
    """Runs a deferred thread to its end, as `current_thread()` meanwhile;
    an exception goes to `threading.excepthook`, as a thread's does."""
    _DEFERRED_THREADS.remove(thread)
    thread._isolate_state = _RUNNING
    ident = module.get_ident()
    waiting = module._active.get(ident)
    module._active[ident] = thread
    try:
        thread.run()
    except SystemExit:
        pass
    except BaseException:
        thread._invoke_excepthook(thread)
    finally:
        thread._isolate_state = _DONE
        if waiting is None:
            module._active.pop(ident, None)
        else:
            module._active[ident] = waiting


def run_deferred_threads(most=None, daemons=True) -> int:
    """Runs up to `most` deferred threads (all if None; with `daemons`
    false, the others only); how many ran."""
    threading = sys.modules.get("threading")
    ran = 0
    while threading is not None and (most is None or ran < most):
        thread = next((t for t in _DEFERRED_THREADS if daemons or not t.daemon), None)
        if thread is None:
            break
        _run_deferred(threading, thread)
        ran += 1
    return ran




def _patch_thread_pool(exec_module, module) -> None:
    """A `ThreadPoolExecutor` starts no thread: its tasks run one at a time,
    in order, when something waits for one (`Future.result()`, `wait`,
    `as_completed`, `map`) or at `shutdown(wait=True)`, with the
    executor's initializer run first once."""
    _without_register_at_fork(exec_module, module)
    import queue
    import weakref

    pools = weakref.WeakSet()
    original_shutdown = module.ThreadPoolExecutor.shutdown

    def _adjust_thread_count(self):
        pools.add(self)

    def run_one(pool):
        try:
            item = pool._work_queue.get_nowait()
        except queue.Empty:
            return False
        if item is None:
            return False
        context = pool.__dict__.get("_isolate_context")
        if context is None:
            context = pool._isolate_context = pool._create_worker_context()
            try:
                context.initialize()
            except BaseException:
                module._base.LOGGER.critical("Exception in initializer:", exc_info=True)
                pool._initializer_failed()
                return True
        item.run(context)
        return True

    def progress(timeout):
        for pool in list(pools):
            if run_one(pool):
                return True
        return None

    def shutdown(self, wait=True, *, cancel_futures=False):
        if wait and not cancel_futures:
            while run_one(self):
                pass
        original_shutdown(self, wait, cancel_futures=cancel_futures)
        context = self.__dict__.pop("_isolate_context", None)
        if context is not None:
            context.finalize()

    shutdown.__doc__ = original_shutdown.__doc__
    module.ThreadPoolExecutor._adjust_thread_count = _adjust_thread_count
    module.ThreadPoolExecutor.shutdown = shutdown
    WAIT_SOURCES.append(progress)


class Lock:
    """`threading.Lock`, whose blocking acquire of a held lock waits for
    what the host brings (`WAIT_SOURCES`) or sleeps out its timeout, where
    CPython's aborted the interpreter: no other thread can release it."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self):
        import _thread

        self._lock = _thread.allocate_lock()

    def acquire(self, blocking=True, timeout=-1):
        if not blocking and timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        if timeout < 0 and timeout != -1:
            raise ValueError("timeout value must be a non-negative number")
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        return _wait_threadless(self._lock, None if timeout == -1 else timeout)

    acquire_lock = acquire
    __enter__ = acquire

    def release(self):
        self._lock.release()

    release_lock = release

    def __exit__(self, *exc_info):
        self._lock.release()

    def locked(self):
        return self._lock.locked()

    locked_lock = locked

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()

    def __repr__(self):
        state = "locked" if self._lock.locked() else "unlocked"
        return f"<{state} {type(self).__module__}.{type(self).__qualname__} object at {id(self):#x}>"


# CPython's hint, and the sandbox's in its place.
_SITE_HINT = (
    ". Site initialization is disabled, did you forget to add the site-packages directory to sys.path "
    "or to enable your virtual environment?"
)
_SANDBOX_HINT = (
    ". The sandbox imports only the standard library, the packages it bundles and the folders "
    "granted to it (isolate run --path DIR)"
)


def _patch_traceback(exec_module, module) -> None:
    exec_module(module)
    init = module.TracebackException.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        text = getattr(self, "_str", None)
        if type(text) is str and text.endswith(_SITE_HINT):
            self._str = text[: -len(_SITE_HINT)] + _SANDBOX_HINT

    __init__.__doc__ = init.__doc__
    __init__.__wrapped__ = init
    module.TracebackException.__init__ = __init__


# What `multiprocessing` says in place of starting a process.
NO_PROCESSES = (
    "the sandbox has no processes; for parallel work use "
    "concurrent.futures.InterpreterPoolExecutor (each task in an interpreter of its own)"
)


def _no_processes(*args, **kwargs):
    import errno

    raise OSError(errno.ENOTSUP, f"{sys.platform} does not support processes: {NO_PROCESSES}")


def _patch_multiprocessing_process(exec_module, module) -> None:
    exec_module(module)
    module.BaseProcess.start = _no_processes


def _patch_multiprocessing_pool(exec_module, module) -> None:
    exec_module(module)
    original = module.Pool.__init__

    def __init__(self, *args, **kwargs):
        self._state = module.INIT  # what `__del__` reads
        if isinstance(self, module.ThreadPool):
            # Its workers wait for each other, which deferred threads cannot.
            raise RuntimeError(
                "multiprocessing's ThreadPool needs threads that run alongside each other, which the "
                "sandbox has not; use concurrent.futures.ThreadPoolExecutor (its tasks run one at a "
                "time) or InterpreterPoolExecutor"
            )
        _no_processes()

    __init__.__wrapped__ = original
    module.Pool.__init__ = __init__


def _patch_process_pool(exec_module, module) -> None:
    exec_module(module)

    def _check_system_limits():
        raise NotImplementedError(NO_PROCESSES)

    module._check_system_limits = _check_system_limits


_PATCHES = {
    "traceback": _patch_traceback,
    "asyncio.selector_events": _patch_asyncio,
    "matplotlib": _patch_matplotlib,
    "threading": _patch_threading,
    "logging": _without_register_at_fork,
    "concurrent.futures.thread": _patch_thread_pool,
    "multiprocessing.resource_tracker": _without_register_at_fork,
    "multiprocessing.process": _patch_multiprocessing_process,
    "multiprocessing.pool": _patch_multiprocessing_pool,
    "concurrent.futures.process": _patch_process_pool,
    "joblib.externals.loky.backend.resource_tracker": _without_register_at_fork,
}


class _PatchingLoader:
    """Loads a module with the loader found for it, through its patch."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._patch(self._loader.exec_module, module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _PatchOnImport:
    """A meta-path finder that finds nothing itself: for a module with a
    patch, it asks the other finders and wraps the loader they found (never
    changing that loader, which zipimport shares among all its modules)."""

    @staticmethod
    def find_spec(name, path, target=None):
        code = GUEST_MODULES.get(name)
        if code is not None:
            spec = _ModuleSpec(name, _GuestLoader(code), is_package=name in GUEST_PACKAGES)
            spec.has_location = False
            return spec
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is _PatchOnImport or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


_ModuleSpec = type(sys.__spec__)


class _GuestLoader:
    """Loads one of the driver's modules from its compiled code."""

    def __init__(self, code):
        self._code = code

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # `<isolate:…>` frames are the guest's own: tracebacks leave them out.
        module.__file__ = f"<isolate:{module.__name__}>"
        exec(self._code, module.__dict__)
