"""Stdlib and package modules made to work in the sandbox, patched as they
are first imported (so that interpreters that never use them never load
them).

- asyncio's selector event loop opens a socket pair, the "self-pipe", that
  other threads and signal handlers write to in order to wake it. WASI has
  no socketpair, and the sandbox grants no sockets, so creating any event
  loop failed with an OSError and `asyncio.run` could not work. Nothing in
  a single-threaded sandbox without signals could write to that pipe
  anyway, so the loop simply goes without one.
- matplotlib insists on a writable configuration and cache folder, and the
  sandbox has none unless one is granted. The host mounts a read-only one
  (`MPLCONFIGDIR` below) holding the font list that matplotlib would
  otherwise build on every import (seconds) and fail to save; matplotlib
  is pointed at it while it is imported, unless the script set
  `MPLCONFIGDIR` itself. Its default backend is Agg: `savefig` works with
  no configuration.
"""

import os
import sys

# Where the host mounts matplotlib's configuration (host/guest.rs).
MPLCONFIGDIR = "/usr/local/etc/matplotlib"


def install() -> None:
    sys.meta_path.insert(0, _PatchOnImport)


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


_PATCHES = {"asyncio.selector_events": _patch_asyncio, "matplotlib": _patch_matplotlib}


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
