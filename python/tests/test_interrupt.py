"""Ctrl-C while the main thread waits for a run, in a process of its own."""

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import os, signal, threading, time
    import isolate_wasm as iso

    def ctrl_c_in(seconds):
        threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()

    interp = iso.create()
    ctrl_c_in(0.5)
    try:
        interp.exec("while True:\\n    pass")
    except KeyboardInterrupt:
        print("the run: KeyboardInterrupt")
    try:
        interp.exec("x = 1")
    except iso.Cancelled:
        print("the interpreter: cancelled")
    # Python's own handling of SIGINT is untouched.
    ctrl_c_in(0.2)
    try:
        time.sleep(30)
    except KeyboardInterrupt:
        print("a sleep: KeyboardInterrupt")
    # A wait for a queue's item.
    ctrl_c_in(0.3)
    try:
        iso.create_queue().get()
    except KeyboardInterrupt:
        print("a queue's get: KeyboardInterrupt")
    # A program's own handler is its own: the run goes on to its end.
    signal.signal(signal.SIGINT, lambda *args: print("the program's handler"))
    ctrl_c_in(0.2)
    iso.create().exec("import time\\ntime.sleep(0.6)")
    print("the run ended")
    """
)


def test_ctrl_c_cancels_the_run_the_main_thread_waits_for():
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "the run: KeyboardInterrupt",
        "the interpreter: cancelled",
        "a sleep: KeyboardInterrupt",
        "a queue's get: KeyboardInterrupt",
        "the program's handler",
        "the run ended",
    ]


FORKED = textwrap.dedent(
    """
    import os
    import isolate_wasm as iso

    interp = iso.create()
    pid = os.fork()
    if pid == 0:
        for attempt in (lambda: interp.exec("x = 1"), iso.create):
            try:
                attempt()
            except iso.InterpreterError as exc:
                print("child:", "os.fork()" in str(exc) and "spawn" in str(exc))
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent:", interp.eval("6 * 7"))
    """
)


def test_a_child_of_os_fork_refuses_with_a_clear_error():
    done = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["child: True", "child: True", "parent: 42"]
