# stdout: a frame of 8 MiB, echoed by nothing: InvalidValue
# stdout: still working: 42
# sandbox-only: the door's frames
# `_host.call` hands the host an address and a length in the guest's own
# memory; the host checks both before it reads (host/door.rs). Python
# cannot forge an address, but it can hand over any bytes: a large frame
# is read where it lies, and refused as a whole.
import _host

FAULTS = {7: "InvalidValue"}
answer = _host.call(b"\xee" + bytes(8 << 20))
print("a frame of 8 MiB, echoed by nothing:", FAULTS[answer[1]])
print("still working:", 6 * 7)
