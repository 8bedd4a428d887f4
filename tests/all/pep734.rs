//! PEP 734 inside the sandbox: `concurrent.interpreters`, its queues, and
//! `concurrent.futures.InterpreterPoolExecutor`, used as CPython documents
//! them; and queues from Rust.

use std::time::Duration;

use isolate::{Error, Value};

use crate::{interpreter, runtime, stdout_of};

/// Runs `source` (which checks itself with `assert`, and `raises`) in a
/// fresh interpreter.
fn check(source: &str) {
    stdout_of(&format!("{PRELUDE}{source}"));
}

const PRELUDE: &str = r#"
from concurrent import interpreters

def raises(error, fn, *args, **kwargs):
    """The exception `fn(*args, **kwargs)` raised, which must be an `error`."""
    try:
        fn(*args, **kwargs)
    except error as exc:
        return exc
    raise AssertionError(f"no {error.__name__} from {fn!r}{args}")
"#;

#[test]
fn the_module_functions_see_the_sandboxs_interpreters() {
    check(
        r#"
main = interpreters.get_main()
assert interpreters.get_current() is main
assert main.whence == "runtime init", main.whence
interp = interpreters.create()
assert interp.whence == "_interpreters module"
assert interp.id != main.id and isinstance(interp.id, int)
assert interpreters.list_all() == [main, interp]
assert interpreters.Interpreter(interp.id) is interp
assert hash(interp) == hash(interp.id)
assert repr(interp) == f"Interpreter({interp.id})"
assert not interp.is_running() and main.is_running()
interp.close()
assert interpreters.list_all() == [main]
# No interpreter has these ids, and CPython says why as these errors.
raises(ValueError, interpreters.Interpreter, -1)
raises(OverflowError, interpreters.Interpreter, 2**64)
for bad in ("1", 1.0, None, object()):
    raises(TypeError, interpreters.Interpreter, bad)
for gone in (lambda: interp.is_running(), lambda: interp.exec("pass"), lambda: interpreters.Interpreter(10**9)):
    try:
        gone()
    except interpreters.InterpreterNotFoundError:
        pass
    else:
        raise AssertionError("a closed interpreter was found")
"#,
    );
}

#[test]
fn interpreters_from_either_module_are_the_same() {
    check(
        r#"
import interpreters as pep554
old = pep554.create()
assert interpreters.Interpreter(old.id).id == old.id
new = interpreters.create()
assert pep554.Interpreter(new.id) in pep554.list_all()
r, s = pep554.create_channel()
q = interpreters.create_queue()
new.prepare_main(s=s, q=q)
new.exec("q.put('via queue')")
pep554.Interpreter(new.id).run_in_thread("s.send(b'via channel')")
assert r.recv() == b"via channel"
assert q.get() == "via queue"
"#,
    );
}

#[test]
fn exec_runs_in_main_and_keeps_its_state() {
    check(
        r#"
interp = interpreters.create()
interp.exec("x = 40")
interp.exec("x += 2")
assert interp.call(eval, "x") == 42
def body():
    y = x * 2
interp.exec(body)
interp.exec(compile("z = 7", "<test>", "exec"))
assert interp.call(eval, "z") == 7
for bad, error in ((42, TypeError), (lambda a: a, ValueError)):
    try:
        interp.exec(bad)
    except error:
        pass
    else:
        raise AssertionError(bad)
"#,
    );
}

#[test]
fn execution_failed_describes_the_exception() {
    check(
        r#"
interp = interpreters.create()
interp.exec("class Custom(Exception): pass")
try:
    interp.exec("def inner():\n    raise Custom('boom')\ninner()")
except interpreters.ExecutionFailed as failed:
    info = failed.excinfo
    assert isinstance(failed, interpreters.InterpreterError)
    assert info.type.__name__ == "Custom" and info.type.__qualname__ == "Custom"
    assert info.type.__module__ == "__main__"
    assert info.msg == "boom" and info.formatted == "Custom: boom", info
    assert "line 2, in inner" in info.errdisplay and info.errdisplay.rstrip().endswith("Custom: boom")
    text = str(failed)
    assert text.startswith("Custom: boom\n\nUncaught in the interpreter:\n\nTraceback"), text
else:
    raise AssertionError("no ExecutionFailed")
failed = raises(interpreters.ExecutionFailed, interp.call, int, "x")
assert failed.excinfo.type.__module__ == "builtins"
assert failed.excinfo.type.__name__ == "ValueError"
failed = raises(interpreters.ExecutionFailed, interp.exec, "raise SystemExit(3)")
assert failed.excinfo.type.__name__ == "SystemExit"
failed = raises(interpreters.ExecutionFailed, interp.exec, "1 +")
assert failed.excinfo.type.__name__ == "SyntaxError"
# The interpreter goes on after each.
assert interp.call(len, "abc") == 3
"#,
    );
}

#[test]
fn a_failure_in_another_interpreter_shows_the_scripts_lines() {
    // The script's file is the host's: the interpreters its code creates
    // get its source for their tracebacks, as CPython's read the file.
    let interp = interpreter();
    let script = r#"
from concurrent import interpreters

def divide(x):
    return 1 / x

try:
    interpreters.create().call(divide, 0)
except interpreters.ExecutionFailed as failed:
    print(failed.excinfo.errdisplay)
"#;
    interp.run_script("/app/divide.py", script.as_bytes()).unwrap();
    let shown = interp.take_stdout().text();
    assert!(shown.contains("File \"/app/divide.py\", line 5, in divide\n    return 1 / x\n"), "{shown}");
}

#[test]
fn call_sends_functions_arguments_and_results() {
    check(
        r#"
import math, os.path
interp = interpreters.create()
assert interp.call(len, "abc") == 3
assert interp.call(math.sqrt, 16.0) == 4.0
assert interp.call(os.path.join, "a", "b") == "a/b"
assert interp.call(divmod, 7, 2) == (3, 1)
assert interp.call(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]
def stateless(a, b):
    return {"sum": a + b, "items": [a, b]}
assert interp.call(stateless, 1, b=2) == {"sum": 3, "items": [1, 2]}
n = 10
def with_global(x):
    return x + n
assert interp.call(with_global, 1) == 11
# Globals live in the callee's `__main__`: what a call changes, the next
# sees (CPython's test_api counts so too).
count = 0
def inc(x=1):
    global count
    count += x
def get_count():
    return count
counts = [interp.call(get_count)]
interp.call(inc)
counts.append(interp.call(get_count))
interp.call(inc, 3)
counts.append(interp.call(get_count))
assert counts == [0, 1, 4] and count == 0, (counts, count)
def make(k):
    return lambda x: x * k
assert interp.call(make(3), 5) == 15
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm2(self):
        return self.x ** 2 + self.y ** 2
assert interp.call(Point.norm2, Point(3, 4)) == 25
result = interp.call(Point, 1, 2)
assert (type(result).__name__, result.x, result.y) == ("Point", 1, 2)
big = 2 ** 200
assert interp.call(abs, -big) == big
assert interp.call(bytes, 3) == b"\0\0\0"
"#,
    );
}

#[test]
fn call_runs_a_builtin_as_if_from_main_with_no_frame_of_its_own() {
    // As CPython's `Interpreter.call()`: exec, eval, dir and globals see
    // `__main__` as their globals and their locals, and nothing of the
    // driver's.
    check(
        r#"
import functools
interp = interpreters.create()
names = ["__builtins__", "__doc__", "__loader__", "__name__", "__package__", "__spec__"]
assert interp.call(dir) == names, interp.call(dir)
from importlib.machinery import BuiltinImporter
assert interp.call(eval, "__loader__") is BuiltinImporter
assert interp.call(eval, "(__name__, __spec__, __package__)") == ("__main__", None, None)
assert interp.call(exec, "spam = 42") is None
assert interp.call(eval, "spam") == 42
interp.exec("assert spam == 42 and sorted(dir()) == sorted(" + repr(names) + " + ['spam'])")
assert interp.call(eval, "sum([1, 2, 3])") == 6
assert interp.call(functools.partial(eval, "dir()")) == names + ["spam"]
assert sorted(interp.call(globals)) == names + ["spam"]
# A function's globals are the `__main__` it runs in.
def set_global(name, value):
    globals()[name] = value
interp.call(set_global, "eggs", 1)
interp.exec("assert eggs == 1")
assert "__isolate_call__" not in interp.call(eval, "dir(__builtins__)")
"#,
    );
}

#[test]
fn results_that_cannot_be_sent_are_not_shareable_errors() {
    check(
        r#"
interp = interpreters.create()
interp.exec("def gen():\n    yield 1")
try:
    interp.call(eval, "gen()")
except interpreters.NotShareableError as err:
    assert "generator" in str(err), err
else:
    raise AssertionError("a generator came back")
assert issubclass(interpreters.NotShareableError, ValueError)
assert interp.call(len, [1]) == 1
"#,
    );
}

#[test]
fn prepare_main_binds_shareable_values_and_copies() {
    check(
        r#"
interp = interpreters.create()
q = interpreters.create_queue()
interp.prepare_main({"a": 1, "b": "two"}, c=(3.0, None), data=[1, {"k": b"v"}], q=q)
interp.exec("q.put((a, b, c, data))")
assert q.get() == (1, "two", (3.0, None), [1, {"k": b"v"}])
interp.exec("q.put(q)")
assert q.get() is q
try:
    interp.prepare_main({1: 2})
except TypeError:
    pass
else:
    raise AssertionError("no TypeError")
# Nothing to bind is a mistake, as in CPython.
raises(ValueError, interp.prepare_main)
raises(ValueError, interp.prepare_main, {})
# A buffer arrives as a read-only memoryview of a copy of its bytes: bound,
# as an argument, as a result, and inside a tuple.
interp.prepare_main(view=memoryview(b"xyz"))
assert interp.call(eval, "type(view).__name__, view.readonly, bytes(view)") == ("memoryview", True, b"xyz")
got = interp.call(memoryview, b"abc")
assert type(got) is memoryview and got.readonly and got == b"abc", got
got = interp.call(tuple, (memoryview(bytearray(b"12")), 3))
assert type(got[0]) is memoryview and got[0] == b"12" and got[1] == 3, got
"#,
    );
}

#[test]
fn is_shareable_follows_the_pep() {
    check(
        r#"
for obj in (None, True, 1, 2.5, "s", b"b", (1, ("a",)), memoryview(b"x"), interpreters.create_queue()):
    assert interpreters.is_shareable(obj), obj
for obj in ([1], {"a": 1}, object(), len, (1, [2])):
    assert not interpreters.is_shareable(obj), obj
"#,
    );
}

#[test]
fn call_in_thread_runs_in_parallel_and_can_be_joined() {
    check(
        r#"
a, b = interpreters.create(), interpreters.create()
inbox_a, inbox_b, done = (interpreters.create_queue() for _ in range(3))
a.prepare_main(mine=inbox_a, theirs=inbox_b, done=done)
b.prepare_main(mine=inbox_b, theirs=inbox_a, done=done)
# Each hands its tag to the other and waits for the other's: run one after
# the other, the first would wait in vain (and fail after 30 s).
work = "def work(tag):\n    theirs.put(tag)\n    done.put((tag, mine.get(timeout=30)))"
a.exec(work)
b.exec(work)
t1 = a.call_in_thread(eval, "work('a')")
t2 = b.call_in_thread(eval, "work('b')")
t1.join()
t2.join()
assert not t1.is_alive() and not t2.is_alive()
assert sorted([done.get_nowait(), done.get_nowait()]) == [("a", "b"), ("b", "a")]
gate = interpreters.create_queue()
a.prepare_main(gate=gate)
t3 = a.call_in_thread(eval, "gate.get()")
t3.join(timeout=0.01)
assert t3.is_alive()
gate.put("go")
t3.join()
assert not t3.is_alive()
"#,
    );
}

#[test]
fn call_in_thread_reports_an_uncaught_exception_on_join() {
    let interp = interpreter();
    interp
        .run("from concurrent import interpreters\nt = interpreters.create().call_in_thread(int, 'x')\nt.join()")
        .unwrap();
    let stderr = interp.take_stderr().text();
    assert!(stderr.starts_with("Exception in thread call_in_thread(int)"), "{stderr}");
    assert!(stderr.contains("ExecutionFailed: ValueError: invalid literal for int()"), "{stderr}");
    // Nothing of the module's own frames: only the call's.
    assert!(!stderr.contains("<isolate:"), "{stderr}");
}

#[test]
fn closing_refuses_the_current_a_running_and_the_hosts_interpreter() {
    check(
        r#"
main = interpreters.get_main()
for target in (main, interpreters.get_current()):
    try:
        target.close()
    except interpreters.InterpreterError:
        pass
    else:
        raise AssertionError("closed")
interp = interpreters.create()
t = interp.call_in_thread(__import__("time").sleep, 0.3)
try:
    interp.close()
except interpreters.InterpreterError as err:
    assert "running" in str(err), err
else:
    raise AssertionError("closed a running interpreter")
t.join()
interp.close()
"#,
    );
}

#[test]
fn an_interpreter_goes_with_its_last_object() {
    check(
        r#"
import gc
interp = interpreters.create()
id = interp.id
del interp
gc.collect()
assert id not in [i.id for i in interpreters.list_all()]
"#,
    );
}

#[test]
fn queues_are_fifo_bounded_and_shared() {
    check(
        r#"
q = interpreters.create_queue(maxsize=2)
assert q.maxsize == 2 and q.empty() and not q.full() and q.qsize() == 0
q.put(1)
q.put_nowait("two")
assert q.full() and q.qsize() == 2
try:
    q.put_nowait(3)
except interpreters.QueueFull:
    pass
else:
    raise AssertionError("put into a full queue")
import queue, time
start = time.monotonic()
try:
    q.put(3, timeout=0.1)
except queue.Full:
    pass
else:
    raise AssertionError("no QueueFull after the timeout")
waited = time.monotonic() - start
assert waited >= 0.099, waited
assert q.get() == 1 and q.get_nowait() == "two"
start = time.monotonic()
try:
    q.get(timeout=0.25)
except queue.Empty:
    pass
else:
    raise AssertionError("no QueueEmpty after the timeout")
waited = time.monotonic() - start
assert waited >= 0.249, waited
try:
    q.get(block=False)
except interpreters.QueueEmpty as err:
    assert isinstance(err, interpreters.QueueError)
else:
    raise AssertionError("no QueueEmpty")
try:
    q.get(timeout=-1)
except ValueError:
    pass
else:
    raise AssertionError("no ValueError")
# As CPython: zero or less is no bound, and reads back as given.
unbounded = interpreters.create_queue(-5)
assert unbounded.maxsize == -5 and not unbounded.full()
raises(TypeError, interpreters.create_queue, "1")
assert interpreters.Queue(q.id) is q and repr(q) == f"Queue({q.id})"
"#,
    );
}

#[test]
fn queue_items_cross_as_copies_or_handles() {
    check(
        r#"
class Local:
    def __init__(self, v):
        self.v = v
q = interpreters.create_queue()
other = interpreters.create_queue()
items = [None, True, 7, 2 ** 100, 1.5, "é", b"\0", (1, (2, 3)), [1, 2], {"a": [1]}, other]
for item in items:
    q.put(item)
for item in items:
    got = q.get()
    assert got == item and type(got) is type(item), (got, item)
q.put(Local(5))
got = q.get()
assert type(got).__name__ == "Local" and got.v == 5
q.put(memoryview(b"abc"))
view = q.get()
assert type(view) is memoryview and view.readonly and bytes(view) == b"abc"
q.put((other, Local(1)))
pair = q.get()
assert pair[0] is other and pair[1].v == 1
interp = interpreters.create()
interp.prepare_main(q=q)
interp.exec("q.put(lambda x: x + 1)")
assert q.get()(1) == 2
"#,
    );
}

#[test]
fn unbound_items_follow_their_policy() {
    check(
        r#"
q = interpreters.create_queue()
assert q.unbounditems is interpreters.UNBOUND
interp = interpreters.create()
interp.prepare_main(q=q)
interp.exec("from concurrent import interpreters as i")
interp.exec("q.put('default')")
interp.exec("q.put('error', unbounditems=i.UNBOUND_ERROR)")
interp.exec("q.put('removed', unbounditems=i.UNBOUND_REMOVE)")
q.put("mine")
assert q.qsize() == 4
interp.close()
assert q.qsize() == 3
assert q.get() is interpreters.UNBOUND
try:
    q.get()
except interpreters.ItemInterpreterDestroyed:
    pass
else:
    raise AssertionError("no ItemInterpreterDestroyed")
assert q.get() == "mine"
q2 = interpreters.create_queue(unbounditems=interpreters.UNBOUND_REMOVE)
assert q2.unbounditems is interpreters.UNBOUND_REMOVE
try:
    interpreters.create_queue(unbounditems="nonsense")
except NotImplementedError:
    pass
else:
    raise AssertionError("no NotImplementedError")
"#,
    );
}

#[test]
fn a_queue_is_freed_when_no_interpreter_holds_it() {
    check(
        r#"
import gc
q = interpreters.create_queue()
qid = q.id
interp = interpreters.create()
interp.prepare_main(q=q)
del q
gc.collect()
# Held by the other interpreter still.
interp.exec("q.put(1)")
interp.exec("del q; import gc; gc.collect()")
try:
    interpreters.Queue(qid)
except interpreters.QueueNotFoundError:
    pass
else:
    raise AssertionError("the queue outlived its holders")
"#,
    );
}

#[test]
fn a_sandbox_reaches_its_own_queues_by_id_and_no_others() {
    // Within a sandbox, as in CPython: `Queue(id)` in another of its
    // interpreters is the same queue.
    check(
        r#"
q = interpreters.create_queue()
interp = interpreters.create()
interp.exec(f"""
from concurrent import interpreters
q = interpreters.Queue({q.id})
q.put("from the other interpreter")
""")
assert q.get_nowait() == "from the other interpreter"
raises(interpreters.QueueNotFoundError, interpreters.Queue, q.id + 1000)
"#,
    );
    // Another sandbox's queue (and the Rust program's) only by being given
    // it: its id alone reaches nothing.
    let runtime = runtime();
    let owner = runtime.interpreter().build().unwrap();
    let id = owner.eval("__import__('concurrent.interpreters').interpreters.create_queue().id").unwrap();
    let host_queue = runtime.create_queue(0);
    let unseen = runtime.create_queue(0);
    let stranger = runtime.interpreter().build().unwrap();
    stranger
        .run_with(
            r#"
from concurrent import interpreters
hosts.put(1)
for qid in (owners, unseen):
    try:
        interpreters.Queue(qid)
    except interpreters.QueueNotFoundError:
        pass
    else:
        raise AssertionError(f"queue {qid} reached by its id")
"#,
            [("owners", id), ("unseen", Value::from(unseen.id().as_u64())), ("hosts", Value::from(host_queue.clone()))],
        )
        .unwrap_or_else(|err| panic!("{err}\n{}", stranger.take_stderr().text()));
    assert_eq!(host_queue.get().unwrap(), Value::from(1));
}

#[test]
fn the_pool_executor_runs_tasks_in_interpreters() {
    check(
        r#"
from concurrent.futures import InterpreterPoolExecutor, as_completed, wait, FIRST_COMPLETED
import concurrent.futures
assert "InterpreterPoolExecutor" in concurrent.futures.__all__
def square(x):
    return x * x
with InterpreterPoolExecutor(max_workers=2) as pool:
    assert list(pool.map(square, range(20))) == [x * x for x in range(20)]
    futures = [pool.submit(pow, 2, n) for n in range(8)]
    assert sorted(f.result() for f in as_completed(futures)) == [2 ** n for n in range(8)]
    done, pending = wait([pool.submit(sum, [1, 2, 3])], return_when=FIRST_COMPLETED)
    assert len(done) == 1 and done.pop().result() == 6
    # The task's own exception, caused by an ExecutionFailed describing it.
    failing = pool.submit(lambda: 1 / 0)
    assert type(failing.exception()) is ZeroDivisionError, failing.exception()
    assert type(failing.exception().__cause__) is interpreters.ExecutionFailed
    assert failing.exception().__cause__.excinfo.type.__name__ == "ZeroDivisionError"
    assert "Uncaught in the interpreter" in str(failing.exception().__cause__)
    for value in (ValueError("bad"), KeyError("k")):
        assert repr(pool.submit(lambda v: (_ for _ in ()).throw(v), value).exception()) == repr(value)
    ids = set(pool.map(lambda _: __import__("concurrent.interpreters").interpreters.get_current().id, range(8)))
    assert 1 <= len(ids) <= 2, ids
    assert pool.submit("x = 1").result() is None
"#,
    );
}

#[test]
fn the_pool_executor_has_initializers_shared_values_and_shutdown() {
    check(
        r#"
from concurrent.futures import InterpreterPoolExecutor
from concurrent.futures.interpreter import BrokenInterpreterPool
def init(value):
    global SETTING
    SETTING = value
def read():
    return SETTING, SHARED
with InterpreterPoolExecutor(2, initializer=init, initargs=("set",), shared={"SHARED": 5}) as pool:
    assert pool.submit(read).result() == ("set", 5)
with InterpreterPoolExecutor(1, initializer="SETTING = 'script'; SHARED = 0") as pool:
    assert pool.submit(read).result() == ("script", 0)
def boom():
    raise ValueError("init failed")
pool = InterpreterPoolExecutor(2, initializer=boom)
future = pool.submit(abs, -1)
try:
    future.result()
except BrokenInterpreterPool as err:
    assert "initializer" in str(err)
    assert pool._broken == str(err)
else:
    raise AssertionError("a broken pool ran a task")
try:
    pool.submit(abs, -1)
except BrokenInterpreterPool:
    pass
else:
    raise AssertionError("no BrokenInterpreterPool")
pool = InterpreterPoolExecutor(1)
slow = [pool.submit(__import__("time").sleep, 0.05) for _ in range(6)]
pool.shutdown(wait=True, cancel_futures=True)
assert any(f.cancelled() for f in slow) and all(f.done() for f in slow)
try:
    pool.submit(abs, 1)
except RuntimeError:
    pass
else:
    raise AssertionError("submitted after shutdown")
"#,
    );
}

#[test]
fn pool_workers_take_queued_tasks_while_the_owner_does_something_else() {
    // CPython's test_blocking_with_limited_workers: more tasks than workers,
    // each blocked until the owner, which never waits on a future, lets it go.
    check(
        r#"
from concurrent.futures import InterpreterPoolExecutor
ready, blocker = interpreters.create_queue(), interpreters.create_queue()
def run(task_id, ready, blocker):
    ready.put_nowait(task_id)
    blocker.get()
with InterpreterPoolExecutor(4) as pool:
    futures = [pool.submit(run, i, ready, blocker) for i in range(10)]
    seen = []
    while len(seen) < 10:
        batch = [ready.get(timeout=10)]
        while len(batch) < 10 - len(seen):
            try:
                batch.append(ready.get(timeout=0.2))
            except interpreters.QueueEmpty:
                break
        assert len(batch) <= 4, batch
        seen += batch
        for _ in batch:
            blocker.put_nowait(None)
    assert sorted(seen) == list(range(10))
assert all(f.done() and f.result() is None for f in futures)
"#,
    );
}

#[test]
fn pool_futures_cancel_until_a_worker_takes_their_task() {
    check(
        r#"
import time
from concurrent.futures import InterpreterPoolExecutor, wait
gate, ran = interpreters.create_queue(), interpreters.create_queue()
def job(n, gate, ran):
    gate.get()
    ran.put(n)
pool = InterpreterPoolExecutor(1)
first = pool.submit(job, 0, gate, ran)
queued = [pool.submit(job, n, gate, ran) for n in range(1, 4)]
# The worker takes the first task and waits at the gate.
deadline = time.monotonic() + 10
while not first.running():
    assert time.monotonic() < deadline, "the worker never took its task"
    time.sleep(0.001)
assert first.cancel() is False and first.running()
assert queued[0].running() is False
assert queued[1].cancel() is True and queued[1].cancelled() and queued[1].done()
assert queued[1].cancel() is True
for _ in range(3):
    gate.put(None)
done, not_done = wait([first, queued[0], queued[2]], timeout=10)
assert not not_done, not_done
assert sorted(ran.get(timeout=1) for _ in range(3)) == [0, 1, 3]
assert ran.empty(), "a cancelled task ran"
# shutdown(cancel_futures=True) cancels what no worker took.
many = [pool.submit(time.sleep, 0.05) for _ in range(50)]
pool.shutdown(cancel_futures=True)
cancelled = [f for f in many if f.cancelled()]
assert len(cancelled) >= 40, len(cancelled)
assert all(f.done() and f.exception() is None for f in many if not f.cancelled())
"#,
    );
}

#[test]
fn pool_failures_are_the_tasks_own_exceptions_as_cpython_documents() {
    check(
        r#"
import contextlib, io, threading
from concurrent.futures import InterpreterPoolExecutor
from concurrent.futures.interpreter import BrokenInterpreterPool
class Falsy(Exception):
    def __bool__(self):
        return False
def fail(kind, msg):
    raise kind(msg)
def unpicklable():
    err = ValueError("holds a lock")
    err.lock = threading.Lock()
    raise err
class Shenanigans:
    # Pickles, but cannot be unpickled.
    def __init__(self, value):
        if value == 1:
            raise RuntimeError("gotcha")
    def __reduce__(self):
        return (type(self), (1,))
with InterpreterPoolExecutor(2) as pool:
    err = pool.submit(fail, Falsy, "falsy").exception()
    assert type(err).__name__ == "Falsy" and str(err) == "falsy", repr(err)
    cause = err.__cause__
    assert type(cause) is interpreters.ExecutionFailed
    assert (cause.excinfo.type.__name__, cause.excinfo.msg) == ("Falsy", "falsy")
    # An exception that cannot be copied back: the ExecutionFailed itself.
    err = pool.submit(unpicklable).exception()
    assert type(err) is interpreters.ExecutionFailed and err.excinfo.msg == "holds a lock", repr(err)
    # What the worker cannot unpickle never runs.
    err = pool.submit(Shenanigans(0)).exception()
    assert type(err) is interpreters.NotShareableError and "args not shareable" in str(err), repr(err)
    assert "unpickled" in str(err.__cause__) and "gotcha" in str(err.__cause__)
    # Not callable: the worker's TypeError, as a thread pool's.
    assert type(pool.submit(42).exception()) is TypeError
# A failing initializer breaks the pool and is logged, as CPython logs it.
with contextlib.redirect_stderr(io.StringIO()) as stderr:
    with InterpreterPoolExecutor(1, initializer=fail, initargs=(OSError, "init")) as pool:
        future = pool.submit(abs, -1)
        try:
            future.result()
        except BrokenInterpreterPool:
            pass
        else:
            raise AssertionError("a broken pool ran a task")
logged = stderr.getvalue()
for part in ("Exception in initializer:", "ExecutionFailed: OSError: init", "Uncaught in the interpreter:",
             "The above exception was the direct cause of the following exception:"):
    assert part in logged, logged
"#,
    );
}

#[test]
fn a_pool_whose_worker_dies_breaks_instead_of_hanging() {
    // `os._exit` in a worker ends its interpreter: its task never reports,
    // and the pool breaks as a process pool does when a worker dies.
    check(
        r#"
import contextlib, io, os
from concurrent.futures import InterpreterPoolExecutor
from concurrent.futures.interpreter import BrokenInterpreterPool
with contextlib.redirect_stderr(io.StringIO()) as stderr:
    with InterpreterPoolExecutor(1) as pool:
        err = raises(BrokenInterpreterPool, pool.submit(os._exit, 1).result, timeout=30)
        assert "stopped abruptly" in str(err) and "exit status 1" in str(err.__cause__), (err, err.__cause__)
        raises(BrokenInterpreterPool, pool.submit, abs, -3)
assert "Exception in thread call_in_thread(_worker)" in stderr.getvalue(), stderr.getvalue()
"#,
    );
}

#[test]
fn pool_workers_stop_when_the_executor_is_dropped_and_asyncio_awaits_them() {
    check(
        r#"
import asyncio, gc
from concurrent.futures import InterpreterPoolExecutor
pool = InterpreterPoolExecutor(3)
results = pool.map(abs, range(-5, 5))
threads = pool._threads
assert 1 <= len(threads) <= 3
del pool
gc.collect()
for thread in threads:
    thread.join()
    assert not thread.is_alive()
assert list(results) == [abs(n) for n in range(-5, 5)]
def where(tag):
    return interpreters.get_current().id, tag
async def main():
    loop = asyncio.get_running_loop()
    with InterpreterPoolExecutor(2) as pool:
        answers = await asyncio.gather(*(loop.run_in_executor(pool, where, n) for n in range(6)))
        assert [tag for _, tag in answers] == list(range(6))
        assert interpreters.get_current().id not in {id for id, _ in answers}
        loop.set_default_executor(pool)
        assert (await loop.run_in_executor(None, where, "default"))[1] == "default"
asyncio.run(main())
"#,
    );
}

#[test]
fn a_wait_nothing_can_end_raises_instead_of_hanging() {
    check(
        r#"
import threading, time
event = threading.Event()
start = time.monotonic()
assert event.wait(0.05) is False
assert time.monotonic() - start >= 0.049
try:
    event.wait()
except RuntimeError as err:
    assert "never end" in str(err)
else:
    raise AssertionError("waited")
"#,
    );
}

#[test]
fn the_rust_program_feeds_interpreters_through_queues() {
    let runtime = runtime();
    let (tasks, results) = (runtime.create_queue(0), runtime.create_queue(2));
    let worker = interpreter();
    let handle = {
        let (tasks, results) = (tasks.clone(), results.clone());
        std::thread::spawn(move || {
            let ran = worker.run_with(
                "for n in iter(tasks.get, None):\n    results.put({'n': n, 'square': n * n})",
                [("tasks", Value::from(tasks)), ("results", Value::from(results))],
            );
            // Alive until its items are taken: those of a destroyed
            // interpreter are unbound (PEP 734).
            (worker, ran)
        })
    };
    for n in 0..10 {
        tasks.put(n).unwrap();
    }
    tasks.put(()).unwrap();
    for n in 0..10i64 {
        let got = results.get_timeout(Duration::from_secs(30)).unwrap();
        let expected = Value::Dict(vec![("n".into(), n.into()), ("square".into(), (n * n).into())]);
        assert_eq!(got, expected);
    }
    let (_worker, ran) = handle.join().unwrap();
    ran.unwrap();
    assert_eq!(results.maxsize(), 2);
    assert!(results.is_empty() && !results.is_full());
    assert!(matches!(results.try_get(), Ok(None)));
    assert!(matches!(results.get_timeout(Duration::from_millis(20)), Err(Error::QueueEmpty(_))));
    results.try_put(1).unwrap();
    results.try_put(2).unwrap();
    assert!(matches!(results.try_put(3), Err(Error::QueueFull(_))));
    assert!(matches!(results.put_timeout(3, Duration::from_millis(20)), Err(Error::QueueFull(_))));
}

#[test]
fn rust_refuses_a_pickle_and_an_unbound_item_clearly() {
    let queue = runtime().create_queue(0);
    let interp = interpreter();
    interp
        .run_with(
            "class Local: pass\nq.put(Local())\nfrom concurrent import interpreters as i\nsub = i.create()\nsub.prepare_main(q=q)\nsub.exec(\"q.put(1, unbounditems=__import__('concurrent.interpreters').interpreters.UNBOUND_ERROR)\")\nsub.close()",
            [("q", Value::from(queue.clone()))],
        )
        .unwrap();
    assert!(matches!(queue.get(), Err(Error::InvalidValue(why)) if why.contains("pickled")));
    assert!(matches!(queue.get(), Err(Error::ItemInterpreterDestroyed(_))));
}

#[test]
fn a_pickle_does_not_cross_into_another_sandbox() {
    // Two sandboxes the host gave one queue: values cross, pickles (code
    // for whoever loads them) do not.
    let queue = runtime().create_queue(0);
    let (sender, receiver) = (interpreter(), interpreter());
    sender
        .run_with("class Local: pass\nq.put(Local())\nq.put({'plain': [1, 2]})", [("q", Value::from(queue.clone()))])
        .unwrap();
    receiver
        .run_with(
            r#"
from concurrent import interpreters
try:
    q.get()
except interpreters.NotShareableError as err:
    assert "another sandbox" in str(err), err
else:
    raise AssertionError("a pickle crossed between sandboxes")
assert q.get() == {"plain": [1, 2]}
"#,
            [("q", Value::from(queue))],
        )
        .unwrap();
}

#[test]
fn the_low_level_module_is_there_for_code_that_probes_for_it() {
    check(
        r#"
import _interpreters
id = _interpreters.create()
assert (id, _interpreters.WHENCE_STDLIB) in _interpreters.list_all()
assert _interpreters.get_main() == (interpreters.get_main().id, _interpreters.WHENCE_RUNTIME)
assert _interpreters.get_current()[0] == interpreters.get_current().id
assert _interpreters.whence(id) == _interpreters.WHENCE_STDLIB and not _interpreters.is_running(id)
assert _interpreters.exec(id, "x = 6") is None
excinfo = _interpreters.exec(id, "1 / 0")
assert excinfo.type.__name__ == "ZeroDivisionError", excinfo
assert _interpreters.call(id, eval, ("x * 7",)) == (42, None)
_interpreters.set___main___attrs(id, {"y": 1})
assert _interpreters.call(id, eval, ("y",)) == (1, None)
assert _interpreters.new_config().gil == "own"
_interpreters.destroy(id)
assert id not in [i for i, _ in _interpreters.list_all()]
"#,
    );
}

#[test]
fn items_in_a_queue_count_against_their_sandboxs_memory_limit() {
    let interp = runtime().interpreter().memory_limit(192 << 20).build().unwrap();
    interp
        .run(
            r#"
from concurrent import interpreters
q = interpreters.create_queue()
block = bytes(8 << 20)
put = 0
try:
    while put < 100:
        q.put(block)
        put += 1
except MemoryError as err:
    assert "memory limit" in str(err), err
else:
    raise AssertionError("800 MiB put past a 192 MiB limit")
assert 0 < put < 24, put
# Taking the items gives their memory back.
for _ in range(put):
    assert len(q.get()) == len(block)
q.put(block)
assert q.qsize() == 1
"#,
        )
        .unwrap();
}

#[test]
fn cpythons_private_queue_modules_are_there_for_its_tests() {
    // CPython's own tests import `_queues`, `_crossinterp` and the
    // low-level `_interpqueues` (and skip everything without the latter).
    check(
        r#"
from concurrent.interpreters import _queues as queues, _crossinterp
import _interpqueues

q = queues.create()
assert q.maxsize == 0 and type(q) is interpreters.Queue
assert queues.QueueEmpty is interpreters.QueueEmpty and queues.UNBOUND is interpreters.UNBOUND
assert q in queues.list_all()

REPLACE = _crossinterp._UNBOUND_CONSTANT_TO_FLAG[_crossinterp.UNBOUND]
assert _crossinterp.serialize_unbound(interpreters.UNBOUND_ERROR) == (2,)
assert _crossinterp.resolve_unbound(REPLACE, RuntimeError) is interpreters.UNBOUND
raises(RuntimeError, _crossinterp.resolve_unbound, 2, RuntimeError)
raises(NotImplementedError, _crossinterp.serialize_unbound, "nonsense")

qid = _interpqueues.create(2, REPLACE, -1)
assert (qid, REPLACE, -1) in _interpqueues.list_all()
assert _interpqueues.get_maxsize(qid) == 2 and _interpqueues.get_count(qid) == 0
_interpqueues.put(qid, "a", -1, -1)
_interpqueues.put(qid, ("b", 1), -1, -1)
assert _interpqueues.is_full(qid)
raises(interpreters.QueueFull, _interpqueues.put, qid, "c", -1, -1)
assert _interpqueues.get(qid) == ("a", None) and _interpqueues.get(qid) == (("b", 1), None)
raises(interpreters.QueueEmpty, _interpqueues.get, qid)
raises(interpreters.QueueError, _interpqueues.release, qid)
_interpqueues.bind(qid)
_interpqueues.bind(qid)
_interpqueues.release(qid)
_interpqueues.release(qid)
assert all(entry[0] != qid for entry in _interpqueues.list_all())
raises(interpreters.QueueNotFoundError, _interpqueues.get, qid)
raises(interpreters.QueueNotFoundError, _interpqueues.destroy, qid)
other = _interpqueues.create(0, -1, -1)
_interpqueues.destroy(other)
raises(interpreters.QueueNotFoundError, _interpqueues.destroy, other)
"#,
    );
}
