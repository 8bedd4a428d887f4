# flags: --timeout 3s
# exit: 124
# stdout: multiplying
# stderr: isolate: time limit of 3s exceeded
# sandbox-only: the time limit
# Matrix products far longer than the limit, inside numpy's C code (and
# its BLAS), one after another.
import numpy as np

a = np.ones((1500, 1500)) / 1500
print("multiplying", flush=True)
while True:
    a = a @ a
