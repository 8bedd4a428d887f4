# stdout: EOFError
# stdout: ''
import sys

try:
    input()
except EOFError as exc:
    print(type(exc).__name__)
print(repr(sys.stdin.read()))
