"""The guest's half of the door to the host (host/door.rs): the one copy of
the protocol's numbers, and the helpers every module that calls the host
shares (`interpreters`, `concurrent.interpreters`, the driver, `host.tools`).

A request frame is an op byte and its arguments; an answer starts with 0
(ok) or 1 (refused) and a fault code. The ops and faults must match
host/door.rs: a host test reads this file and checks every one.

The public modules map faults to their own exceptions (PEP 554's and PEP
734's differ) and fall back on `refused` for the rest.
"""

import _struct as struct  # `struct` itself is not loaded in the started interpreter
import sys

import _host
import _isolate_codec as _codec

# Ops (host/door.rs, `Op`) -------------------------------------------------------

DRIVER_CODE = 0x01
DRIVER_SOURCE = 0x02
KEEP_DRIVER_CODE = 0x03
READY = 0x04
TAKE_RUN = 0x10
TAKE_BINDINGS = 0x11
RUN_OUTCOME = 0x12
RUN_RESULT = 0x13
CURRENT_INTERPRETER = 0x20
LIST_INTERPRETERS = 0x21
CREATE_INTERPRETER = 0x22
INTERPRETER_IS_RUNNING = 0x23
DESTROY_INTERPRETER = 0x24
RUN_INTERPRETER = 0x25
START_INTERPRETER = 0x26
JOIN_RUN = 0x27
RUN_IS_DONE = 0x28
FORK_INTERPRETER = 0x29
INVOKE_INTERPRETER = 0x2A
START_INVOKE = 0x2B
CREATE_CHANNEL = 0x30
LIST_CHANNELS = 0x31
CHANNEL_SEND = 0x32
CHANNEL_RECV = 0x33
CHANNEL_RELEASE = 0x34
CHANNEL_CLOSE = 0x35
CHANNEL_INTERPRETERS = 0x36
TAKE_PAYLOAD = 0x37
LIST_FUNCTIONS = 0x40
CALL_FUNCTION = 0x41
QUEUE_CREATE = 0x50
QUEUE_BIND = 0x51
QUEUE_RELEASE = 0x52
QUEUE_PUT = 0x53
QUEUE_GET = 0x54
QUEUE_INFO = 0x55
QUEUE_PUT_TAGGED = 0x56
QUEUE_WITHDRAW = 0x57
DUP = 0x60
DUP_ONTO = 0x61

# Faults (host/door.rs, `Fault::code`) ---------------------------------------------

CHANNEL_NOT_FOUND = 1
CHANNEL_CLOSED = 2
CHANNEL_RELEASED = 3
CHANNEL_NOT_EMPTY = 4
NOT_RECEIVED = 5
TIMEOUT = 6
INVALID_VALUE = 7
INTERPRETER_NOT_FOUND = 8
INTERPRETER_RUNNING = 9
INTERPRETER_FAILED = 10
RUN_FAILED = 11
RUN_EXITED = 12
LIMIT_REACHED = 13
FUNCTION_FAILED = 14
QUEUE_NOT_FOUND = 15
QUEUE_EMPTY = 16
QUEUE_FULL = 17

# Arguments -------------------------------------------------------------------------

# How a queue get waits (host/door.rs, `GET_WAITING`): as its timeout says,
# not at all, or a moment (the host spins some microseconds) before a real
# wait.
GET_WAITING = 0
GET_NOW = 1
GET_BRIEFLY = 2
NO_TIMEOUT = 2**64 - 1
# A value given by reference (host/door.rs, `VALUE_AT`): a `bytes` this
# large or larger is read by the host where it lies, rather than joined into
# the frame (two copies of it in the guest).
VALUE_AT = 0x1F
BY_REFERENCE = 64 << 10
VALUE_AT_FRAME = struct.Struct("<BII")
# Where a `bytes` object's data starts, from its address (`id()`):
# `tp_basicsize` counts the data's first byte.
BYTES_DATA = bytes.__basicsize__ - 1
# Each op as a frame's first byte, made once.
OPS = [bytes((op,)) for op in range(256)]
U32 = struct.Struct("<I")
TWO_U32 = struct.Struct("<II")
ID = struct.Struct("<Q")
ID_END = struct.Struct("<QB")
WAIT = struct.Struct("<QBQ")


def host_call(frame):
    """`_host.call`, with a failure of the door itself as MemoryError: the
    guest had no memory for the answer."""
    try:
        return _host.call(frame)
    except OSError:
        raise MemoryError("no memory for the host's answer") from None


def call(op, payload=b""):
    """Sends a request; returns the whole answer (its result starts at 1).
    A refusal raises, as `refused` says."""
    answer = host_call(OPS[op] + payload)
    if answer[0] != 0:
        refused(answer)
    return answer


def by_reference(data):
    """A `bytes` given by reference (host/door.rs, `VALUE_AT`): where its
    data lies. The caller holds `data` until the request returns."""
    return VALUE_AT_FRAME.pack(VALUE_AT, id(data) + BYTES_DATA, len(data))


def value_frame(head, obj):
    """A request frame: `head`, then `obj` as the request's value. A short
    `bytes` or ASCII `str`, the most common message, is framed here in the
    codec (a tag and a length byte); a large `bytes` goes by reference: the
    caller holds `obj` until the call returns, which is all the host
    needs."""
    kind = type(obj)
    if kind is bytes:
        size = len(obj)
        if size < 0x80:
            return b"".join((head, _SHORT_BYTES[size], obj))
        if size >= BY_REFERENCE:
            return head + by_reference(obj)
    elif kind is str and len(obj) < 0x80 and obj.isascii():
        return b"".join((head, _SHORT_STR[len(obj)], obj.encode("ascii")))
    return _dump(obj, prefix=head)


_SHORT_BYTES = _codec.SHORT_BYTES
_SHORT_STR = _codec.SHORT_STR
_dump = _codec.dump


def ids(answer):
    """The ids an answer lists."""
    return [id for (id,) in ID.iter_unpack(memoryview(answer)[1:])]


def timeout_ns(timeout):
    """A timeout in seconds as the door takes it: nanoseconds, or
    `NO_TIMEOUT` for none."""
    if timeout is None:
        return NO_TIMEOUT
    if timeout < 0:
        raise ValueError("timeout must be non-negative")
    return min(int(timeout * 1e9), NO_TIMEOUT - 1)


def take_payload(answer):
    """The large `bytes` or buffer a receive or get announced (`2, tag,
    length`): the host writes it into a `bytes` made for it here, where it
    lies (host/door.rs, `TakePayload`). One copy, and no memory beyond the
    value's; without the memory, MemoryError, and the host keeps it for the
    next receive."""
    tag, size = answer[2], U32.unpack_from(answer, 3)[0]
    data = bytes(size)
    taken = host_call(OPS[TAKE_PAYLOAD] + TWO_U32.pack(id(data) + BYTES_DATA, size))
    if taken[0] != 0:
        refused(taken)
    return data if tag == _codec.BYTES else memoryview(data).toreadonly()


def refused(answer, interpreter_id=None):
    """Raises the exception for a refusal that the calling module has no
    exception of its own for."""
    code = answer[1]
    text = str(answer[2:], "utf-8", "replace")
    if code == TIMEOUT:
        raise TimeoutError()
    if code == INVALID_VALUE:
        raise ValueError(text)
    if code == LIMIT_REACHED:
        raise RuntimeError(text)
    if code == FUNCTION_FAILED:
        import host

        raise host.ToolError(text)
    if code == INTERPRETER_NOT_FOUND:
        raise RuntimeError(f"interpreter {interpreter_id} not found")
    if code == INTERPRETER_RUNNING:
        raise RuntimeError(f"interpreter {interpreter_id} is running")
    if code == INTERPRETER_FAILED:
        raise RuntimeError(f"interpreter {interpreter_id}: {text}")
    raise RuntimeError(f"unexpected answer from the host: {bytes(answer[:64])!r}")


def flush_stdio():
    """Flushes stdout and stderr (and the original ones, if replaced): what
    was printed reaches the host before this interpreter waits on another,
    or another runs. Both are line-buffered: only a line not yet ended
    can be pending. On every wait and call, so in as few steps as can be."""
    out, err = sys.stdout, sys.stderr
    try:
        out.flush()
    except BaseException:
        pass
    try:
        err.flush()
    except BaseException:
        pass
    if sys.__stdout__ is not out or sys.__stderr__ is not err:
        for stream in (sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass
