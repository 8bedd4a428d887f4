# flags: --timeout 300ms
# exit: 124
# stdout: copying
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# Copies and fills of 32 MiB, the engine's own routines (`memory.copy`,
# `memory.fill`) that run as host code: a stop that comes during one lets
# it finish and stops the run after it.
big = bytearray(32 << 20)
print("copying", flush=True)
while True:
    copy = bytes(big)
    big = bytearray(len(copy))
