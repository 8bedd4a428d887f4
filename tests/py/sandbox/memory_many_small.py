# flags: --memory 104M
# stdout: stopped between 32 and 64 MiB: True
# stdout: freed and allocating again: 16
# sandbox-only: the memory limit
# The interpreter itself counts 40 MiB: 64 are left.
chunks = []
try:
    while True:
        chunks.append(bytearray(1 << 20))
except MemoryError:
    pass
print("stopped between 32 and 64 MiB:", 32 <= len(chunks) < 64)
chunks.clear()
again = [bytearray(1 << 20) for _ in range(16)]
print("freed and allocating again:", len(again))
