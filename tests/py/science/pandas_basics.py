# stdout: pandas 3
# stdout: city
# stdout: Lyon     15.0
# stdout: Paris    22.5
# stdout: Name: temp, dtype: float64
# stdout: round trip through CSV: True
# stdout: rolling [nan, 1.5, 2.5, 3.5]
import io

import pandas as pd

print("pandas", pd.__version__.split(".")[0])
df = pd.DataFrame({"city": ["Paris", "Lyon", "Paris", "Lyon"], "temp": [20.0, 14.0, 25.0, 16.0]})
print(df.groupby("city")["temp"].mean())
text = df.to_csv(index=False)
print("round trip through CSV:", pd.read_csv(io.StringIO(text)).equals(df))
print("rolling", pd.Series([1.0, 2.0, 3.0, 4.0]).rolling(2).mean().tolist())
