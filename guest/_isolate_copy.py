"""PEP 734's copying of objects between interpreters, in the guest: what
`Interpreter.call`, `exec`'s shared names, queues and the pool send.

PEP 734 sends what is not shareable by pickle. Here lists and dicts of
shareable values go by the codec (copied, as pickle would), the rest by
cloudpickle, so that lambdas, closures and what `__main__` defines cross
too. Queues and channel ends inside a pickle travel beside it, as handles
the host checks: a pickle alone cannot grant one.
"""

import marshal as _marshal
import sys

from _isolate_codec import HANDLE_TAGS as _HANDLE_TAGS
from _isolate_codec import encode as _encode
from _isolate_codec import plain as _plain

# How an object crosses: as a value, as a pickle, or by its module's name
# for it (a callable).
BY_VALUE, BY_PICKLE, BY_NAME = 0, 1, 2
_NO_KWARGS = ((BY_VALUE, {}), True)
_pickler = None


def pack(obj):
    """`obj` made ready for another interpreter: `(0, obj)` if it crosses as
    a value (plain, or shareable: lists and dicts are copied), else
    `(1, pickle, handles)`. `_isolate_codec.dump` then encodes the whole."""
    return packed(obj)[0]


def packed(obj):
    """`pack(obj)`, and whether that is plain (`dump` need not look again)."""
    if not obj and type(obj) is dict:
        return _NO_KWARGS
    if _plain(obj):
        return (BY_VALUE, obj), True
    try:
        _encode(obj, copy=True)
        return (BY_VALUE, obj), False
    except ValueError:
        return pickled(obj)


def pickled(obj):
    """`(1, pickle, handles)` for `obj`, and whether that is plain."""
    global _pickler
    if _pickler is None:
        _pickler = _make_pickler()
    import io

    out = io.BytesIO()
    pickler = _pickler(out, protocol=5)
    pickler.handles = []
    pickler.dump(obj)
    return (BY_PICKLE, out.getvalue(), tuple(pickler.handles)), not pickler.handles


def dump_packed(obj, plain):
    """`obj` encoded for the host, `plain` saying whether it is."""
    return _marshal.dumps(obj, 2) if plain else _encode(obj, copy=True)


def _make_pickler():
    import cloudpickle

    class Pickler(cloudpickle.Pickler):
        def persistent_id(self, obj):
            if type(obj) in _HANDLE_TAGS:
                self.handles.append(obj)
                return len(self.handles) - 1
            return None

    return Pickler


def pack_callable(func):
    """A callable made ready for another interpreter (see `packed_callable`)."""
    return packed_callable(func)[0]


# Callables found by their name, and that name: most calls repeat one.
by_name = {}


def packed_callable(func):
    """A callable that its module names (`len`, `math.sqrt`, a function of
    an imported module) goes by its name, which is fast and needs no
    pickle; any other (a lambda, a closure, a function of `__main__`) as
    `packed` sends it. With whether the result is plain."""
    try:
        return by_name[func], True
    except (KeyError, TypeError):
        pass
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if type(module) is str and type(qualname) is str and module != "__main__" and "<" not in qualname:
        found = sys.modules.get(module)
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is func:
            named = (BY_NAME, module, qualname)
            if len(by_name) < 256:
                by_name[func] = named
            return named, True
    return packed(func)


_FUNCTION = type(_make_pickler)


def in_main(func):
    """A function of another interpreter's `__main__`, copied here by
    pickle, made one of this `__main__`'s: its globals are this `__main__`'s
    namespace, as PEP 734 resolves a called function's globals, so that
    what one call sets another sees. The globals it brought (the values
    its sender had for the names it uses) are set there first, for the
    names not set yet: a later call does not undo what an earlier one did
    (a counter counts, as CPython's test_api checks)."""
    if type(func) is not _FUNCTION or func.__module__ != "__main__":
        return func
    import types

    main = sys.modules["__main__"].__dict__
    if func.__globals__ is main:
        return func
    for name, value in func.__globals__.items():
        if not name.startswith("__"):
            main.setdefault(name, value)
    moved = types.FunctionType(func.__code__, main, func.__name__, func.__defaults__, func.__closure__)
    moved.__kwdefaults__ = func.__kwdefaults__
    moved.__qualname__ = func.__qualname__
    moved.__doc__ = func.__doc__
    moved.__dict__.update(func.__dict__)
    return moved


def unpack(packed):
    """The object `pack` or `pack_callable` encoded, once decoded."""
    how = packed[0]
    if how == BY_VALUE:
        return packed[1]
    if how == BY_NAME:
        found = sys.modules.get(packed[1])
        if found is None:
            import importlib

            found = importlib.import_module(packed[1])
        for part in packed[2].split("."):
            found = getattr(found, part)
        return found
    global _unpickler
    if _unpickler is None:
        _unpickler = _make_unpickler()
    import io

    unpickler = _unpickler(io.BytesIO(packed[1]))
    unpickler.handles = packed[2]
    return unpickler.load()


# The unpickler class, made once: making a class costs tens of microseconds
# here, and every pickled value (a lambda sent to `call`) was paying it.
_unpickler = None


def _make_unpickler():
    import pickle

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            return self.handles[pid]

    return Unpickler
