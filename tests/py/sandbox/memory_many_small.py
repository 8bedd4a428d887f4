# flags: --memory 104M
# stdout: stopped between 64 and 80 MiB: True
# stdout: freed and allocating again: 16
# sandbox-only: the memory limit
# The interpreter itself counts 40 MiB, of which a few are free heap: 64
# MiB of growth and those few.
chunks = []
try:
    while True:
        chunks.append(bytearray(1 << 20))
except MemoryError:
    pass
print("stopped between 64 and 80 MiB:", 64 <= len(chunks) < 80)
chunks.clear()
again = [bytearray(1 << 20) for _ in range(16)]
print("freed and allocating again:", len(again))
