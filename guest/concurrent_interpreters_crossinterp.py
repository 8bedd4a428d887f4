"""CPython's `concurrent.interpreters._crossinterp`: what becomes of an
item whose interpreter was destroyed (the `unbounditems` policies), under
the names CPython's own tests import. The objects are those of
`concurrent.interpreters`.
"""

from concurrent.interpreters import (
    UNBOUND,
    UNBOUND_ERROR,
    UNBOUND_REMOVE,
    _FLAG_TO_UNBOUND as _UNBOUND_FLAG_TO_CONSTANT,
    _UNBOUND_TO_FLAG as _UNBOUND_CONSTANT_TO_FLAG,
    _UnboundItem as UnboundItem,
)


def serialize_unbound(unbound):
    """The policy's flag, as a 1-tuple (CPython's form)."""
    try:
        return (_UNBOUND_CONSTANT_TO_FLAG[unbound],)
    except (KeyError, TypeError):
        raise NotImplementedError(f"unsupported unbound replacement op {unbound!r}") from None


def resolve_unbound(flag, exctype_destroyed):
    """What `get()` gives for an item whose interpreter is gone, by its
    policy's flag: UNBOUND, or `exctype_destroyed` raised."""
    resolved = _UNBOUND_FLAG_TO_CONSTANT[flag]
    if resolved is UNBOUND_REMOVE:
        raise NotImplementedError
    if resolved is UNBOUND_ERROR:
        raise exctype_destroyed("item's original interpreter destroyed")
    return resolved
