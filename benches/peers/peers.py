"""The peers of `cargo bench --bench compare`, measured in the same run.

    python3.13 benches/peers/peers.py [--quick]

Run it with a CPython >= 3.12 (for its subinterpreters); `compare` finds one
and runs this for you. It prints one JSON object: for each workload, the
median in seconds (or GB/s, or bytes) of each peer it could measure:

- `subinterpreters`: CPython's own (`_interpreters`, `_interpchannels`);
- `multiprocessing`: worker processes started with `spawn`, over a `Pipe`;
- `eryx`: `pyeryx` (CPython in wasmtime) if it is importable;
- `native`: this CPython itself, for the CPU-bound workloads.

A peer that cannot do a workload (eryx has no channels) is left out of it.
"""

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time

QUICK = "--quick" in sys.argv
SAMPLES = 20 if QUICK else 100
ROUND_TRIPS = 500 if QUICK else 5_000
BIG = 8 << 20
BIG_MESSAGES = 10 if QUICK else 30
IDLE = 100 if QUICK else 1_000

# The operands of the linear algebra rows, made once per interpreter (here,
# once per row's globals).
LINALG = """import numpy as np
try:
    a300
except NameError:
    rng = np.random.default_rng(0)
    a300 = rng.random((300, 300)) + 300 * np.eye(300)
    a1000 = rng.random((1000, 1000)) + 1000 * np.eye(1000)
    a1000_32 = a1000.astype(np.float32)
    x5000 = rng.random((5000, 200))
    x20000 = rng.random((20000, 200))
    y20000 = x20000 @ rng.random(200)
"""

# The CPU-bound workloads: the same source runs natively here and in the
# sandbox (benches/compare.rs reads it from this file's output).
CPU = {
    "fib": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(25)",
    "int_loop": "t = 0\nfor i in range(1_000_000):\n    t = (t + i * i) % 1_000_003",
    "dict_and_sort": "d = {str(i): i for i in range(200_000)}\nsorted(d.items(), key=lambda kv: -kv[1])",
    "string_building": "parts = []\nfor i in range(200_000):\n    parts.append(f'{i}:{i * 2};')\ns = ''.join(parts).upper()",
    # The scientific stack (natively: numpy and pandas in the peer's venv).
    "numpy_matmul": "import numpy as np\na = np.arange(300 * 300, dtype=np.float64).reshape(300, 300) / 1e4\nfloat((a @ a).sum())",
    "numpy_elementwise": "import numpy as np\nx = np.linspace(0, 10, 2_000_000)\nfloat((np.sin(x) ** 2 + np.sqrt(x)).sum())",
    "pandas_groupby": "import numpy as np, pandas as pd\ndf = pd.DataFrame({'k': np.arange(300_000) % 100, 'v': np.arange(300_000, dtype=np.float64)})\nfloat(df.groupby('k').v.mean().sum())",
    # Dense linear algebra (in the sandbox, the products run on the host:
    # host/gemm.rs). The operands are made at the first run only, here as
    # in the sandbox: the rows time the linear algebra.
    "matmul_300_f32": LINALG + "float((a300.astype(np.float32) @ a300.astype(np.float32)).sum())",
    "matmul_1000_f64": LINALG + "float((a1000 @ a1000).sum())",
    "matmul_1000_f32": LINALG + "float((a1000_32 @ a1000_32).sum())",
    "linalg_solve_1000": LINALG + "float(np.linalg.solve(a1000, np.ones(1000)).sum())",
    "linalg_svd_300": LINALG + "float(np.linalg.svd(a300)[1].sum())",
    "numpy_cov_5000x200": LINALG + "float(np.cov(x5000, rowvar=False).sum())",
    "sklearn_pca": LINALG + "from sklearn.decomposition import PCA\nfloat(PCA(20).fit(x20000).explained_variance_.sum())",
    "sklearn_ridge": LINALG + "from sklearn.linear_model import Ridge\nfloat(Ridge(1.0).fit(x20000, y20000).coef_.sum())",
}
# How long a fresh interpreter (here: a fresh process) takes to import both.
IMPORT_NUMPY_PANDAS = "import numpy, pandas"


# A worker that needs its parent's prepared state (the fork row): the state
# is pure Python, so that a fresh subinterpreter can build it too.
PREPARE = "table = {i: str(i) * 3 for i in range(100_000)}\ndef lookup(k):\n    return len(table[k])"
WORK = "result = sum(lookup(k) for k in range(0, 100_000, 1000))"


def median(samples):
    return statistics.median(samples)


def timed(fn, samples):
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def private_bytes():
    """Resident memory private to this process (as benches/support/rss.rs)."""
    with open("/proc/self/smaps_rollup") as rollup:
        return 1024 * sum(
            int(line.split()[1]) for line in rollup if line.startswith(("Private_Clean:", "Private_Dirty:"))
        )


def subinterpreters():
    import _interpreters

    results = {}

    def create_and_run():
        interp = _interpreters.create()
        _interpreters.exec(interp, "x = 1")
        return interp

    # Destroying is left out of the time, as for ours.
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        interp = create_and_run()
        times.append(time.perf_counter() - start)
        _interpreters.destroy(interp)
    results["create_and_first_run"] = median(times)

    interp = _interpreters.create()
    results["run_x_equals_1"] = timed(lambda: _interpreters.exec(interp, "x = 1"), SAMPLES * 10)
    _interpreters.destroy(interp)

    try:
        # 3.13 ships PEP 554's channels as a test helper; 3.14 dropped them.
        from test.support import interpreters
        from test.support.interpreters import channels
    except ImportError:
        channels = None
    if channels is not None:
        # An echo interpreter on its own thread, as ours.
        import threading

        to_echo, inbox = channels.create()
        from_echo, outbox = channels.create()
        echo = interpreters.create()
        echo.prepare_main(inbox=to_echo, outbox=outbox)
        source = "while (item := inbox.recv()) is not None:\n    outbox.send(item)\n"
        thread = threading.Thread(target=echo.exec, args=(source,))
        thread.start()

        def round_trip():
            inbox.send(b"ping")
            from_echo.recv()

        results["round_trip"] = timed(round_trip, ROUND_TRIPS)
        inbox.send(None)
        thread.join()
        echo.close()

    # Idle interpreters: RSS per interpreter with IDLE alive.
    before, private_before = rss_bytes(), private_bytes()
    idle = [_interpreters.create() for _ in range(IDLE)]
    results["idle_rss_per_interpreter"] = (rss_bytes() - before) / IDLE
    results["idle_private_per_interpreter"] = (private_bytes() - private_before) / IDLE
    for interp in idle:
        _interpreters.destroy(interp)
    return results


def _worker(conn):
    namespace = {}
    while True:
        item = conn.recv_bytes()
        if item == b"":
            break
        if item.startswith(b"exec:"):
            exec(item[5:].decode(), namespace)
        conn.send_bytes(b"k" if item.startswith(b"exec:") or len(item) > 64 else item)


def multiprocessing_peer():
    ctx = mp.get_context("spawn")
    results = {}

    def start():
        here, there = ctx.Pipe()
        process = ctx.Process(target=_worker, args=(there,))
        process.start()
        here.send_bytes(b"exec:x = 1")
        here.recv_bytes()
        return process, here

    times = []
    for _ in range(max(5, SAMPLES // 10)):
        begin = time.perf_counter()
        process, conn = start()
        times.append(time.perf_counter() - begin)
        conn.send_bytes(b"")
        process.join()
    results["create_and_first_run"] = median(times)

    process, conn = start()

    def run():
        conn.send_bytes(b"exec:x = 1")
        conn.recv_bytes()

    results["run_x_equals_1"] = timed(run, SAMPLES * 10)

    def round_trip():
        conn.send_bytes(b"ping")
        conn.recv_bytes()

    results["round_trip"] = timed(round_trip, ROUND_TRIPS)
    payload = bytes(BIG)

    def big():
        conn.send_bytes(payload)
        conn.recv_bytes()

    # The first messages warm the allocators up, as in benches/compare.rs.
    for _ in range(5):
        big()
    results["bytes_8mib_gbps"] = BIG / timed(big, BIG_MESSAGES) / 1e9
    conn.send_bytes(b"")
    process.join()
    return results


def _fork_worker(conn):
    namespace = {"__name__": "__worker__"}
    namespace.update(_PREPARED)
    exec(WORK, namespace)
    conn.send(namespace["result"])


def _forkserver_worker(conn, table):
    namespace = {"table": table}
    exec(PREPARE.split("\n", 1)[1], namespace)
    exec(WORK, namespace)
    conn.send(namespace["result"])


_PREPARED = {}


def fork_peers():
    """From a prepared parent to a worker's result: `fork` (the worker has
    the state), `forkserver` (the state is pickled to it), and a fresh
    subinterpreter (which must build the state itself)."""
    exec(PREPARE, _PREPARED)
    results = {}
    for method in ("fork", "forkserver"):
        ctx = mp.get_context(method)
        target, args = (_fork_worker, ()) if method == "fork" else (_forkserver_worker, (_PREPARED["table"],))
        times = []
        for _ in range(max(5, SAMPLES // 10)):
            begin = time.perf_counter()
            here, there = ctx.Pipe()
            process = ctx.Process(target=target, args=(there, *args))
            process.start()
            here.recv()
            times.append(time.perf_counter() - begin)
            process.join()
        results[method] = median(times)

    import _interpreters

    def fresh():
        interp = _interpreters.create()
        _interpreters.exec(interp, PREPARE)
        _interpreters.exec(interp, WORK)
        return interp

    times = []
    for _ in range(max(5, SAMPLES // 10)):
        begin = time.perf_counter()
        interp = fresh()
        times.append(time.perf_counter() - begin)
        _interpreters.destroy(interp)
    results["subinterpreter"] = median(times)
    return results


def eryx_peer():
    try:
        import eryx
    except ImportError:
        return None
    results = {}
    eryx.Sandbox()  # the first one compiles or loads its guest

    def create_and_run():
        eryx.Sandbox().execute("x = 1")

    results["create_and_first_run"] = timed(create_and_run, max(5, SAMPLES // 5))
    session = eryx.Session()
    session.execute("x = 1")
    results["run_x_equals_1"] = timed(lambda: session.execute("x = 1"), SAMPLES)
    return results


def native():
    results = {}
    for name, source in CPU.items():
        code = compile(source, name, "exec")
        # One namespace per row, as the sandbox runs each row in one
        # interpreter: what a row makes once, it keeps.
        namespace = {}
        try:
            exec(code, namespace)
        except ImportError:
            continue  # numpy, pandas or scikit-learn missing here: no native figure
        results[name] = timed(lambda: exec(code, namespace), 5 if QUICK else 11)
    try:
        import numpy, pandas  # noqa: F401
    except ImportError:
        return results
    command = [sys.executable, "-c", IMPORT_NUMPY_PANDAS]
    results["import_numpy_pandas"] = timed(lambda: subprocess.run(command, check=True), 5 if QUICK else 11)
    return results


def main():
    out = {
        "python": sys.version.split()[0],
        "cpu_sources": CPU,
        "import_numpy_pandas": IMPORT_NUMPY_PANDAS,
        "native": native(),
        "subinterpreters": subinterpreters(),
        "multiprocessing": multiprocessing_peer(),
        "prepare": PREPARE,
        "work": WORK,
    }
    forks = fork_peers()
    out["multiprocessing"]["fork_worker"] = forks["fork"]
    out["multiprocessing"]["fork_worker_forkserver"] = forks["forkserver"]
    out["subinterpreters"]["fork_worker"] = forks["subinterpreter"]
    eryx = eryx_peer()
    if eryx is not None:
        out["eryx"] = eryx
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    # Spawned workers import this file; only the parent measures.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
