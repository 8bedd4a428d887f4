# stdout: random bytes: ['Error_InvalidValue', 'Error_NotReceived']
# stdout: nested a million deep: Error_InvalidValue
# stdout: a length of 2**60: Error_InvalidValue
# stdout: neither ASCII nor hex: Error_InvalidValue
# stdout: pieces that do not make one value: Error_InvalidValue
# stdout: a piece neither ASCII nor hex: Error_InvalidValue
# stdout: pieces dropped by a new first one: Error_NotReceived
# stdout: a forged channel id: Error_ChannelNotFound
# stdout: a channel end inside a value, forged: Error_ChannelNotFound
# stdout: a forged interpreter id: Error_InterpreterNotFound
# stdout: a forged run handle: Error_InterpreterNotFound
# stdout: itself, destroyed from here: Error_InterpreterRunning
# stdout: still working: 42
# sandbox-only: calls the sandbox's host interface directly
# The `interpreters` module checks what it sends; a guest need not use it.
# These calls go to the host raw, with values no well-behaved guest sends.
import random

from componentize_py_types import Err
from wit_world.imports import host


def outcome(call, *args):
    try:
        call(*args)
        return "accepted"
    except Err as err:
        return type(err.value).__name__


def sent(data):
    """Bytes as a host call takes a value: in hex, and saying so."""
    return data.hex(), True


channel = host.create_channel()  # a result: the id, or Err
rng = random.Random(554)
seen = set()
for _ in range(3000):
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    # No receiver waits: a valid value is NotReceived, anything else invalid.
    seen.add(outcome(host.channel_send, channel, sent(data), False, True, None))
print("random bytes:", sorted(seen))
print("nested a million deep:", outcome(host.channel_send, channel, sent(b"\x08\x01" * 1_000_000 + b"\x00"), False, True, None))
huge_length = b"\x06" + bytes([0x80] * 8 + [0x10])
print("a length of 2**60:", outcome(host.channel_send, channel, sent(huge_length), False, True, None))
print("neither ASCII nor hex:", outcome(host.channel_send, channel, ("\x06\x01\xe9", False), False, True, None))
# A value sent in pieces (`stage-piece`): the pieces and the last part
# must make one value; a first piece drops what was staged before it.
outcome(host.stage_piece, sent(b"\x06\x0a" + b"12345"), True)
print("pieces that do not make one value:", outcome(host.channel_send, channel, sent(b"6789"), True, True, None))
print("a piece neither ASCII nor hex:", outcome(host.stage_piece, ("\xe9", True), True))
outcome(host.stage_piece, sent(b"\x08\x05"), True)
outcome(host.stage_piece, sent(b"\x06\x03"), True)
print("pieces dropped by a new first one:", outcome(host.channel_send, channel, sent(b"abc"), True, True, None))
print("a forged channel id:", outcome(host.channel_recv, 2**63 + 5, True, None))
forged_end = b"\x09" + (2**40).to_bytes(8, "little")
print("a channel end inside a value, forged:", outcome(host.channel_send, channel, sent(forged_end), False, True, None))
print("a forged interpreter id:", outcome(host.run_interpreter, 2**64 - 1, "x = 1", []))
print("a forged run handle:", outcome(host.join_run, 987654321, None))
print("itself, destroyed from here:", outcome(host.destroy_interpreter, host.current_interpreter()))
print("still working:", 6 * 7)
