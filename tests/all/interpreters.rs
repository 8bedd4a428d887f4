//! Interpreters: isolation from each other, persistence, ids, concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use isolate::{Error, Value};

use crate::{interpreter, runtime, stdout_of};

#[test]
fn main_persists_between_runs() {
    let interp = interpreter();
    interp.run("counter = 1\ndef bump():\n    global counter\n    counter += 1").unwrap();
    interp.run("bump(); bump()").unwrap();
    interp.run("print(counter, __name__)").unwrap();
    assert_eq!(interp.take_stdout().text(), "3 __main__\n");
}

#[test]
fn interpreters_do_not_share_state() {
    let first = interpreter();
    let second = interpreter();
    first.run("import sys; secret = 42; sys.shared_marker = 1").unwrap();
    let err = second.run("print(secret)").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "NameError");
    second.run("import sys; print(hasattr(sys, 'shared_marker'))").unwrap();
    assert_eq!(second.take_stdout().text(), "False\n");
}

#[test]
fn ids_are_unique() {
    let a = interpreter();
    let b = interpreter();
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id().to_string(), a.id().as_u64().to_string());
}

#[test]
fn argv_defaults_to_an_empty_name_and_can_be_set() {
    assert_eq!(stdout_of("import sys; print(sys.argv)"), "['']\n");
    let interp = runtime().interpreter().argv(["prog.py", "a", "b c"]).build().unwrap();
    interp.run("import sys; print(sys.argv)").unwrap();
    assert_eq!(interp.take_stdout().text(), "['prog.py', 'a', 'b c']\n");
}

#[test]
fn the_interpreter_is_cpython_3_15_on_wasi() {
    assert_eq!(
        stdout_of("import sys; print(sys.implementation.name, sys.version_info[:2], sys.platform)"),
        "cpython (3, 15) wasi\n"
    );
    assert_eq!(isolate::PYTHON_VERSION, "3.15.0");
}

#[test]
fn running_while_running_is_an_error_not_a_wait() {
    let interp = Arc::new(interpreter());
    let busy = {
        let interp = interp.clone();
        std::thread::spawn(move || interp.run("import time; time.sleep(2)"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !interp.is_running() {
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::yield_now();
    }
    // An error, not Ok after waiting for the first run to end.
    match interp.run("x = 1") {
        Err(Error::AlreadyRunning(id)) => assert_eq!(id, interp.id()),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    busy.join().unwrap().unwrap();
    assert!(!interp.is_running());
    interp.run("x = 1").unwrap();
}

#[test]
fn interpreters_run_in_parallel_on_threads() {
    let handles: Vec<_> = (0..4)
        .map(|n| {
            std::thread::spawn(move || {
                let interp = interpreter();
                interp.run(&format!("print(sum(range({n} * 1000)))")).unwrap();
                interp.take_stdout().text()
            })
        })
        .collect();
    let outputs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let expected: Vec<String> = (0..4u64).map(|n| format!("{}\n", (0..n * 1000).sum::<u64>())).collect();
    assert_eq!(outputs, expected);
}

#[test]
fn no_host_files_are_visible() {
    let interp = interpreter();
    let err = interp.run("open('/etc/passwd')").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "FileNotFoundError");
    interp.run("import os; print(os.environ.get('HOME'), dict(os.environ))").unwrap();
    assert_eq!(interp.take_stdout().text(), "None {}\n");
}

#[test]
fn the_stdlib_is_read_only() {
    let interp = interpreter();
    let err = interp.run("open('/usr/local/lib/python315.zip', 'a').write('# changed')").unwrap_err();
    let exc = err.python_exception().unwrap();
    assert!(matches!(exc.type_name(), "PermissionError" | "OSError"), "writing to the stdlib raised {exc}");
}

#[test]
fn stdin_is_empty() {
    let err = interpreter().run("input()").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "EOFError");
}

#[test]
fn close_destroys_the_interpreter() {
    let interp = interpreter();
    interp.run("x = 1").unwrap();
    interp.close();
}

#[test]
fn nested_runs_and_small_stacks_do_not_overflow_the_host_stack() {
    // Before calls into guests could move to a new stack segment, each
    // nested run took more of the calling thread's stack and a guest could
    // abort the host this way; 256 KiB is less than one guest call needs.
    let nested = "S = %r\nd = %d\nimport interpreters as I\nif d < 40:\n    I.create().run(S %% (S, d + 1))\nelse:\n    print('deepest', d)\n";
    let source = format!("import interpreters as I\nT = {nested:?}\nI.create().run(T % (T, 1))\n");
    let output = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            // 41 interpreters at 40 MiB each: past the default budget.
            let interp = crate::runtime().interpreter().memory_limit(2 << 30).build().unwrap();
            interp.run(&source).unwrap();
            interp.take_stdout().text()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(output, "deepest 40\n");
}

#[test]
fn python_cannot_destroy_an_interpreter_the_host_created() {
    let root = interpreter();
    let (go_rx, go_tx) = runtime().create_channel();
    let (out_rx, out_tx) = runtime().create_channel();
    // A child waits, on its own thread, until the root's run is over.
    root.run_with(
        "import interpreters\n\
         child = interpreters.create()\n\
         handle = child.run_in_thread(\n\
             'import interpreters\\n'\n\
             'go.recv()\\n'\n\
             'root = min(i.id for i in interpreters.list_all())\\n'\n\
             'try:\\n'\n\
             '    interpreters.Interpreter(root).destroy()\\n'\n\
             'except RuntimeError as e:\\n'\n\
             '    out.send(str(e))\\n',\n\
             channels={'go': go, 'out': out})",
        [("go", go_rx.into()), ("out", out_tx.into())],
    )
    .unwrap();
    assert!(!root.is_running());
    go_tx.send(()).unwrap();
    assert_eq!(
        out_rx.recv().unwrap(),
        Value::from(format!("interpreter {}: it was created by the host, which alone can destroy it", root.id()))
    );
    root.run("print('still here')").unwrap();
    assert_eq!(root.take_stdout().text(), "still here\n");
}

#[test]
fn a_channel_end_nothing_refers_to_is_released() {
    // PEP 554: "release() is automatically called in behalf of the current
    // interpreter when the channel is no longer used (i.e. has no
    // references) in that interpreter."
    let out = crate::stdout_of(
        r#"
import gc, interpreters
r, s = interpreters.create_channel()
assert interpreters.RecvChannel(r.id) is r and interpreters.SendChannel(s.id) is s
assert r.recv_nowait() is None
try:
    s.send_nowait(b"x")
except interpreters.NotReceivedError:
    pass
cid = r.id
listed = lambda: [pair[0].id for pair in interpreters.list_all_channels()]
assert cid in listed()
del r, s
gc.collect()
# Both ends were released, and nobody else was associated: closed.
print(cid in listed())
"#,
    );
    assert_eq!(out, "False\n");
}
