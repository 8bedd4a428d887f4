"""An environment built once, jobs run in parallel in copies of it.

The environment holds what `multiprocessing` cannot send to a worker:
lambdas, closures, a class defined at run time, and state a start-up script
computed. isolate_wasm builds it once in a sandbox and runs each job in a
fork of it (a copy made in microseconds, nothing pickled). Beside it,
`multiprocessing` with `spawn`: the environment's functions cannot be
pickled, so each worker has to rebuild the environment itself.

    python3 examples/python/environment.py
"""

import multiprocessing
import pickle
import time

import isolate_wasm as iso

ENVIRONMENT = """
import math

SCALE = 3

def make_scorer(weight):
    return lambda x: math.sqrt(x) * weight * SCALE      # a closure's lambda

class Point:                                              # a class made at run time
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm(self):
        return math.hypot(self.x, self.y)

scorers = {"light": make_scorer(1.0), "heavy": make_scorer(2.5)}
table = {n: sum(math.sin(k) ** 2 for k in range(n % 50)) for n in range(20_000)}  # start-up state

def job(name, n):
    return round(scorers[name](n) + Point(n, table[n]).norm(), 3)
"""

JOBS = [("light", n) for n in range(0, 400, 100)] + [("heavy", n) for n in range(0, 400, 100)]


def with_isolate_wasm():
    env = iso.create()
    start = time.perf_counter()
    env.exec(ENVIRONMENT)
    built = time.perf_counter() - start
    with iso.InterpreterPoolExecutor(max_workers=4, template=env) as pool:
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            futures = [pool.submit("job", name, n) for name, n in JOBS]
            results = [future.result() for future in futures]
            timings.append(time.perf_counter() - start)
    # The first fork after a run captures the template's memory (once);
    # later forks share that capture.
    print(f"isolate_wasm: environment built once in {built * 1000:.0f} ms; "
          f"{len(JOBS)} jobs, each in a fork of it: {timings[0] * 1000:.1f} ms the first time, "
          f"then {min(timings[1:]) * 1000:.1f} ms")
    return results


def _build_environment():
    globals().update(_namespace())


def _namespace():
    namespace = {}
    exec(ENVIRONMENT, namespace)
    return namespace


def _job(args):
    return globals()["job"](*args)


def with_multiprocessing_spawn():
    namespace = _namespace()
    try:
        pickle.dumps(namespace["scorers"])
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        print(f"multiprocessing: the environment cannot be sent to a worker: {exc}")
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with context.Pool(4, initializer=_build_environment) as pool:
        results = pool.map(_job, JOBS)
    ran = time.perf_counter() - start
    print(f"multiprocessing (spawn): each of 4 workers rebuilt the environment; "
          f"{len(JOBS)} jobs in {ran * 1000:.0f} ms")
    return results


if __name__ == "__main__":
    ours = with_isolate_wasm()
    theirs = with_multiprocessing_spawn()
    print("the same results:", ours == theirs)
