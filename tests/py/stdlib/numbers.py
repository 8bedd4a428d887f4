# stdout: 0.3
# stdout: 0.1428571428571428571428571429
# stdout: 7/6
# stdout: 3.5 1.8708286933869707 3
# stdout: (1+1.2246467991473532e-16j)
import cmath
import statistics
from decimal import Decimal, getcontext
from fractions import Fraction

print(Decimal("0.1") + Decimal("0.2"))
getcontext().prec = 28
print(Decimal(1) / Decimal(7))
print(Fraction(1, 2) + Fraction(2, 3))
data = [1, 2, 3, 4, 5, 6]
print(statistics.mean(data), statistics.stdev(data), statistics.median_low(data))
print(cmath.exp(1j * cmath.pi) + 2)
