# flags: --memory 104M
# stdout: MemoryError
# stdout: MemoryError
# sandbox-only: the memory limit
# Growth by repeated doubling, and a list of a billion items.
s = "x"
try:
    while True:
        s += s
except MemoryError as exc:
    print(type(exc).__name__)
del s
try:
    items = [None] * 1_000_000_000
except MemoryError as exc:
    print(type(exc).__name__)
