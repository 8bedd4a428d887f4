# stdout: random bytes: ['InvalidValue', 'NotReceived']
# stdout: nested a million deep: InvalidValue
# stdout: a length of 2**60: InvalidValue
# stdout: an unknown request: InvalidValue
# stdout: an empty request: InvalidValue
# stdout: an empty request just before an op byte: InvalidValue
# stdout: a frame cut short: InvalidValue
# stdout: a flag of 7: InvalidValue
# stdout: trailing bytes: InvalidValue
# stdout: a forged channel id: ChannelNotFound
# stdout: a channel end inside a value, forged: ChannelNotFound
# stdout: a forged interpreter id: InterpreterNotFound
# stdout: a forged run handle: InterpreterNotFound
# stdout: itself, destroyed from here: InterpreterRunning
# stdout: boot steps after boot: InvalidValue
# stdout: a run to take when there is none: InvalidValue
# stdout: a malformed run outcome: InvalidValue
# stdout: a value by reference past the memory: InvalidValue
# stdout: a value by reference, cut short: InvalidValue
# stdout: a value by reference, with trailing bytes: InvalidValue
# stdout: a value by reference, in bounds: NotReceived
# stdout: a payload taken when there is none: InvalidValue
# stdout: a payload taken past the memory: InvalidValue
# stdout: a payload taken at another length: InvalidValue
# stdout: the payload, still there: 70000 bytes of 7
# stdout: a queue get of kind 3: InvalidValue
# stdout: a brief get of an empty queue: QueueEmpty
# stdout: a withdraw cut short: InvalidValue
# stdout: a withdraw from a forged queue: QueueNotFound
# stdout: a tagged put cut short: InvalidValue
# stdout: a withdraw of what no one put: not there
# stdout: still working: 42
# sandbox-only: calls the host's door directly
# The `interpreters` module checks what it sends; a guest need not use it.
# These frames go to the host raw (host/door.rs), with values no
# well-behaved guest sends.
import random
import struct

import _host

FAULTS = {1: "ChannelNotFound", 2: "ChannelClosed", 3: "ChannelReleased", 4: "ChannelNotEmpty", 5: "NotReceived",
          6: "Timeout", 7: "InvalidValue", 8: "InterpreterNotFound", 9: "InterpreterRunning", 10: "InterpreterFailed",
          11: "RunFailed", 12: "RunExited", 13: "LimitReached", 15: "QueueNotFound", 16: "QueueEmpty",
          17: "QueueFull"}
U64 = struct.Struct("<Q")
NO_TIMEOUT = U64.pack(2**64 - 1)


def outcome(frame):
    answer = _host.call(frame)
    return "accepted" if answer[0] == 0 else FAULTS[answer[1]]


def send(channel, value):
    """A nowait send of raw value bytes."""
    return bytes([0x32]) + U64.pack(channel) + b"\x01" + NO_TIMEOUT + value


channel = U64.unpack_from(_host.call(b"\x30"), 1)[0]
rng = random.Random(554)
seen = set()
for _ in range(3000):
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    # No receiver waits: a valid value is NotReceived, anything else
    # invalid (or, naming a channel end, one the guest does not hold).
    seen.add(outcome(send(channel, data)))
print("random bytes:", sorted(seen))
print("nested a million deep:", outcome(send(channel, b"\x08\x01" * 1_000_000 + b"\x00")))
print("a length of 2**60:", outcome(send(channel, b"\x06" + bytes([0x80] * 8 + [0x10]))))
print("an unknown request:", outcome(b"\xee"))
print("an empty request:", outcome(b""))
# Empty, at an address whose next byte is TakePayload's: nothing is read past it.
print("an empty request just before an op byte:", outcome(memoryview(b"\x37\x37")[1:1]))
print("a frame cut short:", outcome(b"\x33\x01\x02"))
print("a flag of 7:", outcome(bytes([0x33]) + U64.pack(channel) + b"\x07" + NO_TIMEOUT))
print("trailing bytes:", outcome(b"\x30" + b"junk"))
print("a forged channel id:", outcome(bytes([0x33]) + U64.pack(2**63 + 5) + b"\x01" + NO_TIMEOUT))
print("a channel end inside a value, forged:", outcome(send(channel, b"\x09" + (2**40).to_bytes(8, "little"))))
print("a forged interpreter id:", outcome(bytes([0x25]) + U64.pack(2**64 - 1) + struct.pack("<I", 5) + b"x = 1" + b"\x08\x00"))
print("a forged run handle:", outcome(bytes([0x27]) + U64.pack(987654321) + NO_TIMEOUT))
me = U64.unpack_from(_host.call(b"\x20"), 1)[0]
print("itself, destroyed from here:", outcome(bytes([0x24]) + U64.pack(me)))
print("boot steps after boot:", outcome(b"\x04" + struct.pack("<I", 1234)))
print("a run to take when there is none:", outcome(b"\x10"))
print("a malformed run outcome:", outcome(b"\x12" + b"\x08\x02\x03\x01\x07\x06\x01x"))
# A value by reference (host/door.rs, VALUE_AT): an address and length in
# the guest's memory, checked.
at = struct.Struct("<BII")
print("a value by reference past the memory:", outcome(send(channel, at.pack(0x1f, 2**32 - 16, 64))))
print("a value by reference, cut short:", outcome(send(channel, at.pack(0x1f, 0, 64)[:6])))
print("a value by reference, with trailing bytes:", outcome(send(channel, at.pack(0x1f, 0, 64) + b"x")))
print("a value by reference, in bounds:", outcome(send(channel, at.pack(0x1f, 1024, 64))))
# TakePayload writes a received payload where the guest says, checked.
take = struct.Struct("<BII")
print("a payload taken when there is none:", outcome(take.pack(0x37, 1024, 70000)))
# A queue holds the payload for the get: no thread needed.
from concurrent import interpreters as pep734
queue = pep734.create_queue()
queue.put(b"\x07" * 70000)
get = bytes([0x54]) + U64.pack(queue.id) + b"\x01" + NO_TIMEOUT
announced = _host.call(get)
assert announced[:3] == b"\x00\x02\x06", announced
print("a payload taken past the memory:", outcome(take.pack(0x37, 2**32 - 100, 70000)))
print("a payload taken at another length:", outcome(take.pack(0x37, 1024, 69999)))
# Nothing was lost: the next get announces it again.
payload = queue.get()
print("the payload, still there:", len(payload), "bytes of", payload[0])
# A get waits as long as its timeout says (0), not at all (1), or a moment
# (2: the host spins some microseconds, then says the queue is empty).
print("a queue get of kind 3:", outcome(bytes([0x54]) + U64.pack(queue.id) + b"\x03" + NO_TIMEOUT))
print("a brief get of an empty queue:", outcome(bytes([0x54]) + U64.pack(queue.id) + b"\x02" + NO_TIMEOUT))
# A tagged put's item can be withdrawn by the interpreter that put it.
withdraw = struct.Struct("<BQQB")
print("a withdraw cut short:", outcome(withdraw.pack(0x57, queue.id, 1, 0)[:12]))
print("a withdraw from a forged queue:", outcome(withdraw.pack(0x57, 2**40, 1, 0)))
print("a tagged put cut short:", outcome(bytes([0x56]) + U64.pack(1) + U64.pack(queue.id)))
print("a withdraw of what no one put:", "there" if _host.call(withdraw.pack(0x57, queue.id, 99, 0))[1] else "not there")
print("still working:", 6 * 7)
