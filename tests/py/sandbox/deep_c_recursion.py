# stdout: parsing
# stdout: RecursionError
# stdout: still working: 42
# C recursion through a container nested 100,000 deep raises RecursionError,
# as in native CPython (the previous guest trapped here).
import json

print("parsing")
try:
    json.loads("[" * 100_000 + "]" * 100_000)
except RecursionError as exc:
    print(type(exc).__name__)
print("still working:", 6 * 7)
