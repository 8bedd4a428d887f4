# stdout: gemm, every scalar, transpose and conjugation: ok
# stdout: beta = 0 ignores NaN in C: ok
# stdout: alpha = 0 does not read A: ok
# stdout: NaN and infinity propagate: ok
# stdout: C aliasing A: ok
# stdout: strided and reversed views: ok
# stdout: leading dimensions BLAS forbids: refused
# stdout: shapes that do not match: refused
# stdout: empty and one-element products: ok
# stdout: syrk and herk: ok
# stdout: getrf's pivots and factors: ok
# stdout: getrf of a singular matrix: 2
# stdout: solve, inv and det: ok
# The BLAS entry points the guest has, called with every kind of argument a
# caller can make them take: products large enough that the host computes
# them (see host/gemm.rs), checked against numpy's einsum, which does not use
# BLAS; operands that alias, overlap and stride; arguments BLAS refuses.
# Whatever the guest passes, the results are BLAS's and the host is unharmed.
import numpy as np
from scipy.linalg import blas

rng = np.random.default_rng(7)


def matrix(rows, cols, dtype):
    values = rng.standard_normal((rows, cols))
    if np.issubdtype(dtype, np.complexfloating):
        values = values + 1j * rng.standard_normal((rows, cols))
    return np.asfortranarray(values.astype(dtype))


def close(got, want, dtype):
    tolerance = 1e-3 if dtype in (np.float32, np.complex64) else 1e-10
    return np.allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())


ops = {0: lambda x: x, 1: lambda x: x.T, 2: lambda x: x.conj().T}
gemm = {np.float32: blas.sgemm, np.float64: blas.dgemm, np.complex64: blas.cgemm, np.complex128: blas.zgemm}
failures = []
for dtype, routine in gemm.items():
    kinds = (0, 1, 2) if np.issubdtype(dtype, np.complexfloating) else (0, 1)
    for trans_a in kinds:
        for trans_b in kinds:
            m, n, k = 67, 45, 53
            a = matrix(*((m, k) if trans_a == 0 else (k, m)), dtype)
            b = matrix(*((k, n) if trans_b == 0 else (n, k)), dtype)
            c = matrix(m, n, dtype)
            want = 0.5 * np.einsum("ik,kj->ij", ops[trans_a](a), ops[trans_b](b)) - 2 * c
            got = routine(0.5, a, b, beta=-2.0, c=c, trans_a=trans_a, trans_b=trans_b)
            if not close(got, want, dtype):
                failures.append((dtype.__name__, trans_a, trans_b))
print("gemm, every scalar, transpose and conjugation:", failures or "ok")

a, b = matrix(64, 64, np.float64), matrix(64, 64, np.float64)
c = np.full((64, 64), np.nan, order="F")
print("beta = 0 ignores NaN in C:", "ok" if close(blas.dgemm(1.0, a, b, beta=0.0, c=c), a @ b, np.float64) else "wrong")

poisoned = a.copy(order="F")
poisoned[3, 5] = np.nan
c = matrix(64, 64, np.float64)
print("alpha = 0 does not read A:", "ok" if close(blas.dgemm(0.0, poisoned, b, beta=2.0, c=c), 2 * c, np.float64) else "wrong")

result = blas.dgemm(1.0, poisoned, b)
infinite = a.copy(order="F")
infinite[0, 0] = np.inf
propagated = np.isnan(result[3]).all() and not np.isnan(np.delete(result, 3, axis=0)).any()
propagated &= np.isinf(blas.dgemm(1.0, infinite, np.abs(b))[0]).all()
print("NaN and infinity propagate:", "ok" if propagated else "wrong")

# C is A itself, overwritten in place: BLAS leaves aliasing undefined, so
# the host leaves it to the guest, which copies as f2py does.
square = matrix(80, 80, np.float64)
expected = square @ square + square
got = blas.dgemm(1.0, square, square.copy(order="F"), beta=1.0, c=square, overwrite_c=True)
print("C aliasing A:", "ok" if close(got, expected, np.float64) else "wrong")

big = matrix(300, 300, np.float64)
views = [big[::2, ::3], big[::-1, :], big[10:200, 5:250].T, np.ascontiguousarray(big)[50:, :100]]
strided = all(close(v @ v.T, np.einsum("ik,jk->ij", v, v), np.float64) for v in views)
strided &= close(views[0].T @ views[1][:150, :100], np.einsum("ki,kj->ij", views[0], views[1][:150, :100]), np.float64)
print("strided and reversed views:", "ok" if strided else "wrong")

# f2py checks these before BLAS sees them, with its own exception types.
try:
    blas.dgemm(1.0, a, a, c=np.zeros((3, 3), order="F"), beta=1.0)
except Exception:
    print("leading dimensions BLAS forbids: refused")
try:
    blas.dgemm(1.0, matrix(40, 30, np.float64), matrix(40, 30, np.float64))
except Exception:
    print("shapes that do not match: refused")

tiny = [
    (np.zeros((0, 5)) @ np.zeros((5, 7))).shape == (0, 7),
    (np.zeros((5, 0)) @ np.zeros((0, 7)) == 0).all(),
    (np.array([[2.0]]) @ np.array([[3.0]]))[0, 0] == 6.0,
]
print("empty and one-element products:", "ok" if all(tiny) else "wrong")

x = matrix(500, 120, np.float64)
z = matrix(500, 120, np.complex128)
symmetric = [
    close(np.triu(blas.dsyrk(1.0, x, trans=1)), np.triu(np.einsum("ki,kj->ij", x, x)), np.float64),
    close(np.tril(blas.dsyrk(1.0, x, trans=1, lower=1)), np.tril(np.einsum("ki,kj->ij", x, x)), np.float64),
    close(np.triu(blas.zherk(1.0, z, trans=2)), np.triu(np.einsum("ki,kj->ij", z.conj(), z)), np.complex128),
    close(x.T @ x, np.einsum("ki,kj->ij", x, x), np.float64),
    close(np.cov(x, rowvar=False), np.einsum("ki,kj->ij", x - x.mean(0), x - x.mean(0)) / 499, np.float64),
]
print("syrk and herk:", "ok" if all(symmetric) else symmetric)


def plain_lu(a):
    """LAPACK's partial pivoting, one column at a time."""
    a = a.copy()
    m, n = a.shape
    pivots = []
    for j in range(min(m, n)):
        p = j + int(np.argmax(np.abs(a[j:, j])))
        pivots.append(p)
        if a[p, j] != 0:
            a[[j, p]] = a[[p, j]]
            a[j + 1 :, j] /= a[j, j]
        a[j + 1 :, j + 1 :] -= np.outer(a[j + 1 :, j], a[j, j + 1 :])
    return a, np.array(pivots)


from scipy.linalg import lu_factor

factored = []
for shape in ((130, 100), (100, 130), (257, 190)):
    for dtype in (np.float64, np.float32):
        a = rng.standard_normal(shape).astype(dtype)
        lu, pivots = lu_factor(a)
        want, want_pivots = plain_lu(a.astype(np.float64))
        factored.append((pivots == want_pivots).all() and close(lu, want, dtype))
print("getrf's pivots and factors:", "ok" if all(factored) else factored)

singular = matrix(120, 120, np.float64)
singular[:, 1] = 0.0
from scipy.linalg import lapack

print("getrf of a singular matrix:", lapack.dgetrf(singular)[2])

system = rng.random((400, 400)) + 400 * np.eye(400)
solved = np.linalg.solve(system, np.ones(400))
inverse = np.linalg.inv(system)
triangular = np.diag(np.arange(1.0, 121.0)) + np.triu(np.ones((120, 120)), 1)
checks = [
    np.abs(system @ solved - 1).max() < 1e-9,
    np.abs(system @ inverse - np.eye(400)).max() < 1e-9,
    np.isclose(np.linalg.det(triangular[::-1]), np.prod(np.arange(1.0, 121.0)) * (-1) ** 60),
]
print("solve, inv and det:", "ok" if all(checks) else checks)
