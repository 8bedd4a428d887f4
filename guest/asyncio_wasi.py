"""asyncio in the sandbox: event loops without a self-pipe.

asyncio's selector event loop opens a socket pair, the "self-pipe", that
other threads and signal handlers write to in order to wake it. WASI has no
socketpair, and the sandbox grants no sockets, so creating any event loop
fails with PermissionError and `asyncio.run` cannot work. Nothing in a
single-threaded sandbox without signals could write to that pipe anyway, so
the loop simply goes without one.

The patch is applied when `asyncio.selector_events` is first imported, so
that interpreters that never use asyncio never load it.
"""

import sys

_TARGET = "asyncio.selector_events"


def install() -> None:
    sys.meta_path.insert(0, _PatchOnImport)


def _patch(module) -> None:
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


class _PatchOnImport:
    """A meta-path finder that finds nothing itself: for the one target
    module, it asks the other finders and patches the module once loaded."""

    @staticmethod
    def find_spec(name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is _PatchOnImport or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch
        return spec
