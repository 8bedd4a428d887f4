# flags: --timeout 300ms
# exit: 124
# stdout: sorting
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# `sorted` of a long list with a key, again and again: C code calling back
# into Python.
data = list(range(2_000_000, 0, -1))
print("sorting", flush=True)
while True:
    sorted(data, key=lambda x: -x)
