# stdout: minimum at [1. 1.]
# stdout: integral of x**2 on [0, 3]: 9.0
# stdout: normal cdf at 1.96: 0.975
# stdout: sparse matrix-vector: [3. 3.]
import numpy as np
from scipy import integrate, optimize, sparse, stats

result = optimize.minimize(optimize.rosen, np.array([1.3, 0.7]), method="BFGS")
print("minimum at", result.x.round(4))
print("integral of x**2 on [0, 3]:", round(integrate.quad(lambda x: x * x, 0, 3)[0], 9))
print("normal cdf at 1.96:", round(float(stats.norm.cdf(1.96)), 3))
print("sparse matrix-vector:", sparse.csr_matrix(np.array([[1.0, 2.0], [0.0, 3.0]])) @ np.ones(2))
