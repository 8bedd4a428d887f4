# stdout: OLS params [1. 2.]
# stdout: r-squared 1.0
import numpy as np
import statsmodels.api as sm

x = np.arange(20.0)
fit = sm.OLS(1 + 2 * x, sm.add_constant(x)).fit()
print("OLS params", fit.params.round(6))
print("r-squared", round(float(fit.rsquared), 6))
