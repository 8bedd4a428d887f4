# flags: --timeout 300ms
# exit: 124
# stdout: growing
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# Memory that grows and is freed again while the run is stopped: growth and
# the stop never leave the guest a page it cannot use, nor the host one.
print("growing", flush=True)
held = []
while True:
    held.append(bytearray(1 << 20))
    if len(held) > 100:
        held.clear()
