"""Limits, cancel() and forks."""

import subprocess
import sys
import threading
import time

import pytest

import isolate_wasm as iso


def test_a_time_limit_stops_a_loop_and_the_interpreter_is_discarded():
    interp = iso.create(timeout=0.5)
    with pytest.raises(iso.TimeLimitExceeded) as caught:
        interp.exec("while True:\n    pass")
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.limit == 0.5
    with pytest.raises(iso.TimeLimitExceeded):
        interp.exec("x = 1")


LATE_FAULTHANDLER = """
import faulthandler
import isolate_wasm as iso

iso.create().exec("x = 1")
faulthandler.enable()
for code in ("while True:\\n    pass", "import re\\nre.match(r'(a+)+$', 'a' * 40 + 'b')"):
    try:
        iso.create(timeout=0.2).exec(code)
    except iso.TimeLimitExceeded as err:
        print(type(err).__name__)
print(iso.create().eval("2 + 2"))
"""


def test_a_time_limit_holds_when_faulthandler_is_enabled_after_the_runtime():
    # A running guest is stopped by a fault in its memory, which the
    # runtime's signal handler takes; faulthandler, enabled after it, comes
    # first and must not see it (it would print a crash and end the process).
    done = subprocess.run([sys.executable, "-c", LATE_FAULTHANDLER], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "TimeLimitExceeded\nTimeLimitExceeded\n4\n", "")


def test_the_memory_limit_raises_memory_error_inside():
    with iso.create(memory="128M") as interp:
        with pytest.raises(iso.ExecutionFailed) as caught:
            interp.exec("data = bytearray(1 << 30)")
        assert caught.value.excinfo.type.__name__ == "MemoryError"
        assert interp.eval("len(bytearray(1 << 20))") == 1 << 20


def test_fuel_stops_a_run_deterministically():
    def stopped_at():
        interp = iso.create(fuel=20_000_000, stdout="capture")
        with pytest.raises(iso.FuelExhausted):
            interp.exec("n = 0\nwhile True:\n    n += 1\n    if n % 1000 == 0:\n        print(n)")
        return interp.take_stdout().split()[-1]

    assert stopped_at() == stopped_at()


def test_cancel_from_another_thread():
    interp = iso.create()
    timer = threading.Timer(0.3, interp.cancel)
    timer.start()
    with pytest.raises(iso.Cancelled):
        interp.exec("while True:\n    pass")
    timer.join()


def test_runs_release_the_gil():
    # While a sandbox sleeps, this thread keeps running Python.
    interp = iso.create()
    ticks = []
    worker = threading.Thread(target=interp.exec, args=("import time\ntime.sleep(0.5)",))
    worker.start()
    while worker.is_alive():
        ticks.append(1)
        time.sleep(0.01)
    worker.join()
    assert len(ticks) > 5


def test_close_is_refused_while_running():
    interp = iso.create()
    worker = threading.Thread(target=interp.exec, args=("import time\ntime.sleep(0.5)",))
    worker.start()
    while not interp.is_running():
        time.sleep(0.01)
    with pytest.raises(iso.InterpreterError, match="running"):
        interp.close()
    worker.join()
    interp.close()


def test_a_fork_is_an_independent_copy(interp):
    interp.exec("import json\nstate = {'n': 1}\nsquare = lambda x: x * x")
    child = interp.fork()
    child.exec("state['n'] = 2")
    assert child.eval("state['n'], square(3)") == (2, 9)
    assert interp.eval("state['n']") == 1
    assert child.call("json.dumps", [1]) == "[1]"
    assert child.id != interp.id
    child.close()


def test_call_in_thread_runs_on_a_host_thread(interp):
    interp.exec("import time\ndef slow(x, *, then):\n    time.sleep(0.2)\n    global done\n    done = (x, then)")
    thread = interp.call_in_thread("slow", 1, then="ok")
    assert thread.is_alive()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert interp.eval("done") == (1, "ok")


def test_a_snapshot_starts_new_interpreters_and_survives_a_file(interp, tmp_path):
    interp.exec("import json\nsettings = {'scale': 10}\ndef scaled(x):\n    return x * settings['scale']")
    snapshot = interp.snapshot()
    assert snapshot.memory_size > 1 << 20
    with iso.create(snapshot=snapshot) as copy:
        assert copy.call("scaled", 4) == 40
    snapshot.save(tmp_path / "state.snap")
    loaded = iso.Snapshot.load(tmp_path / "state.snap")
    with iso.create(snapshot=loaded) as copy:
        assert copy.eval("json.dumps(settings)") == '{"scale": 10}'
    (tmp_path / "bad.snap").write_bytes(b"not a snapshot")
    with pytest.raises(OSError):
        iso.Snapshot.load(tmp_path / "bad.snap")
