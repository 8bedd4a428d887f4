# flags: --timeout 300ms
# exit: 124
# stdout: multiplying
# stderr: isolate: time limit of 300ms exceeded
# sandbox-only: the time limit
# A matrix product far longer than the limit, inside numpy's C code.
import numpy as np

a = np.ones((2000, 2000))
print("multiplying", flush=True)
a @ a
print("multiplied")
