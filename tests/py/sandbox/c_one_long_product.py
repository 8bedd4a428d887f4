# flags: --timeout 1s
# exit: 124
# stdout: multiplying
# stderr: isolate: time limit of 1s exceeded
# sandbox-only: the time limit
# One matrix product of several seconds, which the host computes for the
# guest's BLAS (host/gemm.rs): the time limit still ends it, between two of
# the parts the host computes it in.
import numpy as np

a = np.ones((4000, 4000))
print("multiplying", flush=True)
a @ a
print("finished")
