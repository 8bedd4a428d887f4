"""The peers of `cargo bench --bench pep734`, measured in the same run.

    python3.13 benches/peers/pep734_peers.py [--quick]

Prints one JSON object of medians, in seconds (the round trip and the call
timed in batches, as the sandbox times them):

- `queue_round_trip`: CPython's own PEP 734 queues between two
  subinterpreters (3.13 ships them as `test.support.interpreters`, 3.14 as
  `concurrent.interpreters`), one of them on a thread;
- `call`: `Interpreter.call()` of a stateless function on a live
  subinterpreter (3.13's `call` takes no arguments and drops the result, so
  the function calls `len("abc")` itself);
- `pool_1`, `pool_2`: `ProcessPoolExecutor` (spawn) `map` over the CPU-bound
  tasks with 1 and 2 workers, warmed up, the median of 5 maps; and `interp_pool_1`/`_2`, CPython's
  own `InterpreterPoolExecutor`, where this CPython has one (3.14+).
"""

import json
import statistics
import sys
import time

QUICK = "--quick" in sys.argv
ROUND_TRIPS = 2_000 if QUICK else 20_000
CALLS = 2_000 if QUICK else 20_000
REPEATS = 1 if QUICK else 5
TASKS = 64


def task(n):
    """A CPU-bound task (the sandbox runs this one, imported)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


TASK_SIZE = 100_000
# The round trip and the call are timed in batches: in the sandbox a
# `perf_counter` costs 0.2 µs, which timing each 5 µs operation on its own
# would add to the figure.
BATCH = 100


def medians(n, fn, batch):
    """The median time of `fn`, over `n` calls timed in batches of `batch`
    (the sandbox times itself with this one too, imported)."""
    times = []
    for _ in range(n // batch):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        times.append((time.perf_counter() - start) / batch)
    return statistics.median(times)


def interpreters_module():
    try:
        from concurrent import interpreters
    except ImportError:
        from test.support import interpreters
    try:
        from concurrent.interpreters import create_queue
    except ImportError:
        from test.support.interpreters.queues import create as create_queue
    return interpreters, create_queue


def queue_round_trip():
    interpreters, create_queue = interpreters_module()
    import threading

    ping, pong = create_queue(), create_queue()
    echo = interpreters.create()
    # 3.13 refuses a queue in `prepare_main` until the other side imported
    # the module that defines it.
    echo.exec(f"import {create_queue.__module__}")
    echo.prepare_main(ping=ping, pong=pong)
    thread = threading.Thread(target=echo.exec, args=("while (item := ping.get()) is not None:\n    pong.put(item)",))
    thread.start()
    def round_trip():
        ping.put(1)
        pong.get()

    # Each takes 10 ms (CPython polls): fewer, in smaller batches.
    median = medians(ROUND_TRIPS // 10, round_trip, BATCH // 10)
    ping.put(None)
    thread.join()
    return median


def call():
    interpreters, _ = interpreters_module()
    interp = interpreters.create()

    def stateless():
        return len("abc")

    return medians(CALLS, lambda: interp.call(stateless), BATCH)


def pool(executor_class, workers, **kwargs):
    with executor_class(workers, **kwargs) as pool:
        list(pool.map(task, [1] * workers * 2))
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            list(pool.map(task, [TASK_SIZE] * TASKS))
            times.append(time.perf_counter() - start)
        return statistics.median(times)


def main():
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    out = {"python": sys.version.split()[0]}
    # In the sandbox's order.
    out["call"] = call()
    out["queue_round_trip"] = queue_round_trip()
    spawn = mp.get_context("spawn")
    out["pool_1"] = pool(ProcessPoolExecutor, 1, mp_context=spawn)
    out["pool_2"] = pool(ProcessPoolExecutor, 2, mp_context=spawn)
    try:
        from concurrent.futures import InterpreterPoolExecutor
    except ImportError:
        pass
    else:
        out["interp_pool_1"] = pool(InterpreterPoolExecutor, 1)
        out["interp_pool_2"] = pool(InterpreterPoolExecutor, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
