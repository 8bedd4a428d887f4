"""The host program's functions, one Python function each: see `host`.

The names are asked of the host the first time one is looked up, and kept
(a fork of this interpreter has the same functions).
"""

import _isolate_codec
import _isolate_door

_names = None


def _offered():
    global _names
    if _names is None:
        _names = tuple(_isolate_codec.decode(memoryview(_isolate_door.call(_isolate_door.LIST_FUNCTIONS))[1:]))
    return _names


def _function(name):
    encoded_name = _isolate_door.U32.pack(len(name)) + name.encode()

    def call(*args, **kwargs):
        if kwargs:
            raise TypeError(f"host function {name}() takes positional arguments only")
        try:
            request = _isolate_codec.dump(args, prefix=encoded_name, copy=True)
        except ValueError as exc:
            raise TypeError(f"host function {name}(): {exc}") from None
        answer = _isolate_door.call(_isolate_door.CALL_FUNCTION, request)
        return _isolate_codec.decode(memoryview(answer)[1:])

    call.__name__ = call.__qualname__ = name
    call.__module__ = __name__
    call.__doc__ = f"The host program's function {name!r}."
    return call


def __getattr__(name):
    if name.startswith("__") or name not in _offered():
        offered = ", ".join(_offered()) or "none"
        raise AttributeError(f"module 'host.tools' has no attribute {name!r} (the host's functions: {offered})")
    function = _function(name)
    globals()[name] = function
    return function


def __dir__():
    return sorted(set(globals()) | set(_offered()))
