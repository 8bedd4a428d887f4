# stdout: linear fit: coef 2.0 intercept 1.0
# stdout: classifier accuracy above 0.9: True
# stdout: clusters found: 3
import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression

rng = np.random.default_rng(554)
x = rng.random((50, 1))
model = LinearRegression().fit(x, 2 * x[:, 0] + 1)
print("linear fit: coef", round(float(model.coef_[0]), 6), "intercept", round(float(model.intercept_), 6))
points = rng.normal(size=(200, 2))
labels = (points[:, 0] + points[:, 1] > 0).astype(int)
print("classifier accuracy above 0.9:", LogisticRegression().fit(points, labels).score(points, labels) > 0.9)
blobs = np.concatenate([rng.normal(center, 0.1, size=(30, 2)) for center in (0, 5, 10)])
print("clusters found:", len(set(KMeans(n_clusters=3, n_init=3, random_state=0).fit_predict(blobs))))
