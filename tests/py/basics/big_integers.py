# stdout: 302
# stdout: 1606938044258990275541962092341162602522202993782792835301376
# stdout: ValueError: Exceeds the limit (4300 digits) for integer string conversion; use sys.set_int_max_str_digits() to increase the limit
# stdout: 35660 2846259680917054518906413212119868890148051401702799230794179994274411340003764443772990786757784775
import sys

print(len(str(2**1000)))
print(2**200)
try:
    str(10**5000)
except ValueError as exc:
    print(f"{type(exc).__name__}: {exc}")
sys.set_int_max_str_digits(0)
import math
big = math.factorial(10000)
print(len(str(big)), str(big)[:100])
