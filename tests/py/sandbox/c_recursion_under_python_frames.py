# stdout: deep in Python: RecursionError
# stdout: deep in C: RecursionError
# stdout: Python, C, Python: RecursionError
# stdout: under unittest: ok
# stdout: endless C re-entry: RecursionError
# stdout: endless lru_cache recursion: RecursionError
# stdout: lru_cache recursion 500 deep: 500
# stdout: still working: 42
# C recursion started from deep inside Python frames (and from inside other
# C recursion) raises RecursionError where CPython does: the guest's C-stack
# guard leaves room for the frames beneath it and for the handler, so none
# of these ends the interpreter. (CPython's own test_json recursion tests
# ended it, run under unittest.)
import functools
import json
import sys
import traceback
import unittest

sys.setrecursionlimit(100_000)
nested = None
for _ in range(200_000):
    nested = [nested]


def python_frames(n, then):
    """Runs `then` under n Python frames (which take no C stack)."""
    return python_frames(n - 1, then) if n else then()


def through_c(n, then):
    """Runs `then` under n re-entries of C: map calls back into Python."""
    return list(map(lambda _: through_c(n - 1, then), [0]))[0] if n else then()


def dumps():
    try:
        json.dumps(nested)
    except RecursionError:
        traceback.format_exc()  # the handler has room to run
        return "RecursionError"
    return "no error"


print("deep in Python:", python_frames(20_000, dumps))
print("deep in C:", through_c(200, dumps))
print("Python, C, Python:", python_frames(5_000, lambda: through_c(200, lambda: python_frames(5_000, dumps))))


class HighlyNested(unittest.TestCase):
    # test_json's test_highly_nested_objects_encoding, as CPython has it.
    def test_encoding(self):
        lists, dicts = [], {}
        for _ in range(200_000):
            lists, dicts = [lists], {"k": dicts}
        with self.assertRaises(RecursionError):
            json.dumps(lists)
        with self.assertRaises(RecursionError):
            json.dumps(dicts)


result = unittest.TextTestRunner(stream=open("/dev/null", "w")).run(
    unittest.defaultTestLoader.loadTestsFromTestCase(HighlyNested)
)
print("under unittest:", "ok" if result.wasSuccessful() else result.errors + result.failures)


def forever(n):
    return list(map(forever, [n + 1]))


try:
    forever(0)
except RecursionError:
    print("endless C re-entry: RecursionError")


@functools.lru_cache(maxsize=None)
def memoized(n):
    return memoized(n + 1)


try:
    memoized(0)
except RecursionError:
    print("endless lru_cache recursion: RecursionError")


@functools.lru_cache(maxsize=None)
def count(n):
    return 0 if n == 0 else count(n - 1) + 1


print("lru_cache recursion 500 deep:", count(500))
print("still working:", 6 * 7)
