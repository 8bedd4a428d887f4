# stdout: RecursionError: maximum recursion depth exceeded
# stdout: RecursionError
def forever(n):
    return forever(n + 1)


try:
    forever(0)
except RecursionError as exc:
    print(f"{type(exc).__name__}: {exc}")


class Loop:
    def __repr__(self):
        return repr(self)


# Recursion through C code: CPython's guard must fire before the sandbox's
# native stack runs out.
try:
    repr(Loop())
except RecursionError as exc:
    print(type(exc).__name__)
