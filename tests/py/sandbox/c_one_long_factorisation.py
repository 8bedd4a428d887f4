# flags: --timeout 1s
# exit: 124
# stdout: solving
# stderr: isolate: time limit of 1s exceeded
# sandbox-only: the time limit
# One LU factorisation of several seconds, which the host computes for the
# guest's LAPACK (host/lu.rs): the time limit still ends it, between two of
# its parts.
import numpy as np

n = 5000
a = np.full((n, n), 1.0) + n * np.eye(n)
print("solving", flush=True)
np.linalg.solve(a, np.ones(n))
print("finished")
