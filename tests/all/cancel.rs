//! Cancellation from another thread, destroy while running or blocked, and
//! host panics caught at the guest boundary.
//!
//! No timing is asserted: each test only needs the cancelled run to end at
//! all (a test that hangs fails by the harness's timeout) and to say why.

use std::io::Write;
use std::thread;
use std::time::Duration;

use isolate::{Error, Output, Value};

use crate::{interpreter, runtime};

/// Runs `source` in a fresh interpreter on another thread, cancels it once
/// the guest says (on `ready`) it is about to block, and returns the run's
/// result.
fn cancel_while(source: &str) -> isolate::Result<()> {
    let interp = interpreter();
    let handle = interp.cancel_handle();
    let (ready, marker) = runtime().create_channel();
    thread::scope(|scope| {
        let run = scope.spawn(|| interp.run_with(source, [("ready", marker.into())]));
        assert_eq!(ready.recv().unwrap(), Value::None);
        assert!(handle.cancel(), "the first cancel cancels");
        assert!(!handle.cancel(), "a second one does nothing");
        let result = run.join().unwrap();
        assert!(matches!(interp.run("x = 1"), Err(Error::Cancelled(id)) if id == interp.id()));
        result
    })
}

fn assert_cancelled(result: isolate::Result<()>) {
    match result {
        Err(Error::Cancelled(_)) => {}
        other => panic!("expected the run to be cancelled, got {other:?}"),
    }
}

#[test]
fn cancel_stops_a_busy_loop_that_catches_everything() {
    let source =
        "ready.send(None)\nwhile True:\n    try:\n        while True: pass\n    except BaseException:\n        pass";
    assert_cancelled(cancel_while(source));
}

#[test]
fn cancel_stops_a_long_c_loop() {
    // Catastrophic backtracking: the regular expression engine never
    // returns to Python.
    assert_cancelled(cancel_while("import re\nready.send(None)\nre.match(r'(a+)+$', 'a' * 40 + 'b')"));
}

#[test]
fn cancel_stops_a_loop_of_bulk_copies_and_the_others_go_on() {
    // Copies of 16 MiB run in wasmtime's own routine, as host code: a
    // cancel that comes during one lets it finish, then stops the run.
    let other = interpreter();
    other.run("kept = list(range(1000))").unwrap();
    let source = "big = bytearray(16 << 20)\nready.send(None)\nwhile True:\n    big = bytearray(bytes(big))";
    assert_cancelled(cancel_while(source));
    // Revoking one guest's memory left every other one's alone.
    assert_eq!(other.eval("sum(kept)").unwrap(), Value::from(499_500));
    assert_eq!(interpreter().eval("2 + 2").unwrap(), Value::from(4));
}

#[test]
fn cancel_wakes_a_guest_blocked_in_recv() {
    let source = "import interpreters\nr, s = interpreters.create_channel()\nready.send(None)\nr.recv()";
    assert_cancelled(cancel_while(source));
}

#[test]
fn cancel_wakes_a_guest_blocked_in_send() {
    let source = "import interpreters\nr, s = interpreters.create_channel()\nready.send(None)\ns.send(b'x')";
    assert_cancelled(cancel_while(source));
}

#[test]
fn cancel_wakes_a_guest_blocked_in_sleep() {
    assert_cancelled(cancel_while("import time\nready.send(None)\ntime.sleep(3600)"));
}

#[test]
fn cancel_wakes_a_guest_blocked_in_join_and_stops_its_children() {
    let source = "import interpreters\nchild = interpreters.create()\nh = child.run_in_thread('while True: pass')\nready.send(None)\nh.join()";
    assert_cancelled(cancel_while(source));
}

#[test]
fn cancel_stops_a_nested_run_and_its_caller() {
    let source = "import interpreters\nchild = interpreters.create()\nready.send(None)\nchild.run('while True: pass')";
    assert_cancelled(cancel_while(source));
}

#[test]
fn cancel_before_the_run_starts_fails_the_run() {
    let interp = interpreter();
    assert!(interp.cancel());
    assert_cancelled(interp.run("x = 1"));
    assert_cancelled(interp.run("x = 1"));
}

#[test]
fn a_cancelled_interpreter_releases_its_channel_ends() {
    let interp = interpreter();
    // The interpreter is the only one associated with its channel.
    interp.run("import interpreters\nr, s = interpreters.create_channel()\nr.recv_nowait()\nprint(r.id)").unwrap();
    let id: u64 = interp.take_stdout().text().trim().parse().unwrap();
    let open = || runtime().list_channels().iter().any(|channel| channel.as_u64() == id);
    assert!(open());
    interp.cancel();
    assert!(!open(), "the channel closed once its only user was cancelled");
}

#[test]
fn a_handle_outlives_its_interpreter_harmlessly() {
    let handle = interpreter().cancel_handle();
    assert!(!handle.cancel());
}

#[test]
fn dropping_a_runtime_root_stops_the_runs_its_children_have_in_threads() {
    let (results, sender) = runtime().create_channel();
    let root = interpreter();
    let source = "import interpreters\nchild = interpreters.create()\nchild.run_in_thread('while True: out.send(1)', channels={'out': out})";
    root.run_with(source, [("out", sender.into())]).unwrap();
    assert_eq!(results.recv().unwrap(), Value::from(1));
    drop(root);
    // The child stops: after at most one more message (one may be waiting
    // already), nothing comes.
    let mut received = 0;
    loop {
        match results.recv_timeout(Duration::from_millis(500)) {
            Ok(_) => received += 1,
            Err(Error::Timeout) => break,
            Err(err) => panic!("unexpected {err}"),
        }
        assert!(received <= 1, "the child kept sending after its root was dropped");
    }
}

#[test]
fn a_root_run_by_its_child_is_cancelled_when_dropped() {
    // A child started by the root in a thread runs the root's own code, and
    // the root's handle is dropped meanwhile: the drop cancels that run and
    // waits for it. The child waits for the root's own run to end first (a
    // run of a running interpreter is refused, and a fresh interpreter can
    // get there first).
    let (ready, marker) = runtime().create_channel();
    let root = interpreter();
    let source = r#"
import interpreters
root = interpreters.get_current().id
child = interpreters.create()
child.run_in_thread(
    "import interpreters, time\n"
    f"target = interpreters.Interpreter({root})\n"
    "while target.is_running():\n"
    "    time.sleep(0.001)\n"
    "target.run('ready.send(None)\\nwhile True: pass', channels={'ready': ready})",
    channels={'ready': ready})
"#;
    root.run_with(source, [("ready", marker.into())]).unwrap();
    // Bounded, so that a child that failed fails the test instead of hanging it.
    assert_eq!(ready.recv_timeout(Duration::from_secs(120)).unwrap(), Value::None);
    assert!(root.is_running());
    drop(root);
}

#[test]
fn a_panicking_output_writer_discards_only_its_interpreter() {
    struct Panics;
    impl Write for Panics {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            panic!("the writer broke");
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let interp = runtime().interpreter().stdout(Output::writer(Panics)).build().unwrap();
    // The panic's message is printed by the default hook, as for any panic.
    match interp.run("print('hello')") {
        Err(Error::Panicked { id, message }) => {
            assert_eq!(id, interp.id());
            assert_eq!(message, "the writer broke");
        }
        other => panic!("expected the panic to be reported, got {other:?}"),
    }
    assert!(matches!(interp.run("x = 1"), Err(Error::Panicked { .. })));
    // The rest goes on.
    assert_eq!(crate::stdout_of("print(6 * 7)"), "42\n");
}
