"""isolate-wasm's speed from host Python, beside its peers in the same run.

    python3 python/run_tests.py --bench        (builds, installs, then runs this
                                               with CPython 3.13 when pyenv has it)

Prints medians (µs or ms) of: `call("len", "abc")` and `exec("x = 1")`
beside CPython 3.13's own subinterpreters (`test.support.interpreters`,
whose `call` takes a function of no arguments and drops its result);
a pool of 4 running 256 small tasks, per task, against
`ProcessPoolExecutor` with spawn and forkserver; the environment example's
8 jobs in forks, the pool's start included, against a spawn pool whose
workers rebuild the environment (spawn cannot send it); and `import isolate_wasm` + the first `create()` in a new process
(warm cache) against `import multiprocessing`.
"""

import concurrent.futures
import multiprocessing
import statistics
import subprocess
import sys
import time

import isolate_wasm as iso


def per_call(function, repeat=2000, rounds=7):
    """The median over `rounds` of the mean time of one call, in µs."""
    for _ in range(repeat // 10):
        function()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        samples.append((time.perf_counter() - start) / repeat * 1e6)
    return statistics.median(samples)


def _noop():
    pass


def _small(x):
    return x * 2


def subinterpreter_peer():
    try:
        from test.support import interpreters
    except ImportError:
        return None, None
    interp = interpreters.create()
    return per_call(lambda: interp.call(_noop)), per_call(lambda: interp.exec("x = 1"))


def pool_per_task(make_pool, task, tasks=256):
    with make_pool() as pool:
        list(pool.map(task, range(8)))  # the workers started
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            list(pool.map(task, range(tasks)))
            samples.append((time.perf_counter() - start) / tasks * 1e6)
    return statistics.median(samples)


ENVIRONMENT = "import math\nscale = 3\nscorer = lambda x: math.sqrt(x) * scale\ndef job(n):\n    return scorer(n)"


def environment_jobs():
    """From an environment built once to 8 jobs' results, the pool's start
    and end included."""
    env = iso.create()
    env.exec(ENVIRONMENT)
    samples = []
    for _ in range(8):
        start = time.perf_counter()
        with iso.InterpreterPoolExecutor(max_workers=4, template=env) as pool:
            list(pool.map("job", range(8)))
        samples.append((time.perf_counter() - start) * 1e3)
    env.close()
    return statistics.median(samples[1:])


def _rebuild_environment():
    exec(ENVIRONMENT, globals())


def _environment_job(n):
    return job(n)  # noqa: F821 (defined by _rebuild_environment)


def spawn_environment_jobs():
    """The same with `multiprocessing`'s spawn, which cannot send the
    environment (a lambda): each worker process rebuilds it."""
    spawn = multiprocessing.get_context("spawn")
    samples = []
    for _ in range(3):
        start = time.perf_counter()
        with concurrent.futures.ProcessPoolExecutor(4, mp_context=spawn, initializer=_rebuild_environment) as pool:
            list(pool.map(_environment_job, range(8)))
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def new_process(code):
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def main():
    interp = iso.create()
    call = per_call(lambda: interp.call("len", "abc"))
    exec_ = per_call(lambda: interp.exec("x = 1"))
    peer_call, peer_exec = subinterpreter_peer()
    rows = [
        ('call("len", "abc")', f"{call:.1f} µs", f"{peer_call:.1f} µs" if peer_call else "-", "≤ 20 µs"),
        ('exec("x = 1")', f"{exec_:.1f} µs", f"{peer_exec:.1f} µs" if peer_exec else "-", "≤ 10 µs"),
    ]
    # The pool's task by name: "_small" is defined in its interpreters.
    ours = pool_per_task(
        lambda: iso.InterpreterPoolExecutor(max_workers=4, initializer="def _small(x):\n    return x * 2"), "_small"
    )
    spawn = pool_per_task(
        lambda: concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")), _small
    )
    forkserver = pool_per_task(
        lambda: concurrent.futures.ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("forkserver")), _small
    )
    rows.append(("pool of 4, 256 tasks, per task (fork per task)", f"{ours:.0f} µs",
                 f"spawn {spawn:.0f} µs, forkserver {forkserver:.0f} µs", "≤ 200 µs"))
    rows.append(("8 jobs in forks of an environment, pool included", f"{environment_jobs():.1f} ms",
                 f"spawn, environment rebuilt {spawn_environment_jobs():.0f} ms", "≤ 5 ms"))
    first = new_process("import isolate_wasm; isolate_wasm.create().exec('x = 1')")
    bare = new_process("import multiprocessing")
    rows.append(("import + first create() + exec, new process", f"{first:.0f} ms", f"import multiprocessing {bare:.0f} ms",
                 "≤ 100 ms"))
    width = max(len(row[0]) for row in rows)
    print(f"{'':<{width}}  {'isolate_wasm':>14}  {'peer (CPython ' + sys.version.split()[0] + ')':<40} target")
    for name, value, peer, target in rows:
        print(f"{name:<{width}}  {value:>14}  {peer:<40} {target}")


if __name__ == "__main__":
    main()
