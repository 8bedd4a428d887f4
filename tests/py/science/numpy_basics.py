# stdout: numpy 2
# stdout: sum 15 mean 2.5 shape (2, 3)
# stdout: solve [1. 2.]
# stdout: seeded draws agree: True
# stdout: fft peak at 5
# stdout: int64 sum 49999995000000
import numpy as np

print("numpy", np.__version__.split(".")[0])
a = np.arange(6).reshape(2, 3)
print("sum", a.sum(), "mean", a.mean(), "shape", a.shape)
print("solve", np.linalg.solve(np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([5.0, 5.0])).round(6))
rng = np.random.default_rng(554)
print("seeded draws agree:", bool((rng.random(3) == np.random.default_rng(554).random(3)).all()))
t = np.arange(64) / 64
print("fft peak at", int(np.abs(np.fft.rfft(np.sin(2 * np.pi * 5 * t))).argmax()))
print("int64 sum", np.arange(10_000_000, dtype=np.int64).sum())
