# flags: --memory 104M
# stdout: MemoryError
# stdout: still working: 4950
# sandbox-only: the memory limit
try:
    huge = bytearray(1 << 30)
except MemoryError as exc:
    print(type(exc).__name__)
print("still working:", sum(range(100)))
