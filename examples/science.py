# The scientific stack in the sandbox: numpy, pandas, scikit-learn and matplotlib.
# Run it with a folder for the chart:
#   mkdir -p out && cargo run --release -- run --dir out:/out examples/science.py /out/chart.png
# flags: --dir {fixtures}:/out
# args: /out/chart.png
# stdout: monthly sales, in thousands:
# stdout:   Jan  12.0   Feb  13.5   Mar  15.1   Apr  16.4   May  18.0   Jun  19.6
# stdout: trend: +1.51 per month (r² 0.999); July forecast 21.0
# stdout: chart saved to /out/chart.png
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

sales = pd.DataFrame(
    {"month": ["Jan", "Feb", "Mar", "Apr", "May", "Jun"], "sales": [12.0, 13.5, 15.1, 16.4, 18.0, 19.6]}
)
print("monthly sales, in thousands:")
print("  " + "   ".join(f"{row.month} {row.sales:5.1f}" for row in sales.itertuples()))

months = np.arange(len(sales)).reshape(-1, 1)
model = LinearRegression().fit(months, sales["sales"])
forecast = model.predict(np.array([[len(sales)]]))[0]
r2 = model.score(months, sales["sales"])
print(f"trend: {model.coef_[0]:+.2f} per month (r² {r2:.3f}); July forecast {forecast:.1f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(sales["month"], sales["sales"], color="#4c72b0", label="sales")
ax.plot(sales["month"], model.predict(months), color="#dd8452", label="trend")
ax.set_ylabel("thousands")
ax.set_title("Sales and trend")
ax.legend()
fig.tight_layout()
if len(sys.argv) > 1:
    fig.savefig(sys.argv[1])
    print("chart saved to", sys.argv[1])
