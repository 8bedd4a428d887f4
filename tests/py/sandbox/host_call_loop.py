# flags: --timeout 300ms
# exit: 124
# stdout: writing
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# A loop that is nearly all host calls (empty writes, clock reads, stats)
# is stopped on its way into or out of one.
import os
import time

print("writing", flush=True)
while True:
    os.write(2, b"")
    time.monotonic()
    os.stat("/tmp")
