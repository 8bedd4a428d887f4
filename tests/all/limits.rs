//! Limits: memory over the whole store, wall-clock time, interpreters created.

use std::time::Duration;

use isolate::{Error, Limit};

use crate::runtime;

#[test]
fn a_large_allocation_past_the_memory_limit_raises_memory_error_and_the_interpreter_goes_on() {
    let interp = runtime().interpreter().memory_limit(64 << 20).build().unwrap();
    let err = interp.run("huge = bytearray(100 << 20)").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "MemoryError");
    interp.run("print(sum(range(10)))").unwrap();
    assert_eq!(interp.take_stdout().text(), "45\n");
}

#[test]
fn many_small_allocations_stop_at_the_limit_too() {
    let interp = runtime().interpreter().memory_limit(64 << 20).build().unwrap();
    interp
        .run("chunks = []\ntry:\n    while True:\n        chunks.append(bytearray(1 << 20))\nexcept MemoryError:\n    n = len(chunks)\n    chunks.clear()\nprint(20 < n < 64)")
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "True\n");
}

#[test]
fn the_default_memory_limit_allows_real_work() {
    let interp = runtime().create_interpreter().unwrap();
    interp.run("data = bytearray(200 << 20)\nprint(len(data) >> 20)").unwrap();
    assert_eq!(interp.take_stdout().text(), "200\n");
}

#[test]
fn a_loop_that_catches_everything_cannot_escape_the_time_limit() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(300)).build().unwrap();
    let source = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass";
    match interp.run(source) {
        Err(Error::LimitExceeded { id, limit: Limit::Time(limit) }) => {
            assert_eq!(id, interp.id());
            assert_eq!(limit, Duration::from_millis(300));
        }
        other => panic!("expected the time limit, got {other:?}"),
    }
    // The interpreter stays dead, and says why.
    let again = interp.run("x = 1").unwrap_err();
    assert_eq!(again.to_string(), format!("interpreter `{}` stopped: time limit of 300ms exceeded", interp.id()));
    // Others go on.
    let other = runtime().create_interpreter().unwrap();
    other.run("x = 1").unwrap();
}

#[test]
fn the_time_limit_is_per_run() {
    let interp = runtime().interpreter().timeout(Duration::from_secs(2)).build().unwrap();
    for _ in 0..3 {
        interp.run("import time\ntime.sleep(0.8)").unwrap();
    }
}

#[test]
fn a_wait_stops_at_the_time_limit_and_what_was_printed_is_kept() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(200)).build().unwrap();
    let (rx, _tx) = runtime().create_channel();
    let err = interp
        .run_with("print('waiting')\ntry:\n    inbox.recv()\nfinally:\n    print('never')", [("inbox", rx.into())])
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err:?}");
    // Stopped inside the wait: not even a `finally` runs after the limit.
    assert_eq!(interp.take_stdout().text(), "waiting\n");
}

#[test]
fn a_join_stops_at_the_time_limit() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(200)).build().unwrap();
    let err = interp
        .run("import interpreters\nr, s = interpreters.create_channel()\ninterpreters.create().run_in_thread('gate.recv()', channels={'gate': r}).join()")
        .unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err:?}");
}

#[test]
fn a_nested_run_ends_by_its_callers_deadline() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(300)).build().unwrap();
    let err = interp.run("import interpreters\ninterpreters.create().run('while True: pass')").unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err:?}");
}

#[test]
fn create_past_the_interpreter_limit_raises_naming_the_limit() {
    let interp = runtime().interpreter().max_interpreters(3).build().unwrap();
    interp
        .run("import interpreters\nkids = [interpreters.create() for _ in range(3)]\ntry:\n    interpreters.create()\nexcept RuntimeError as e:\n    print(e)\nkids.pop().destroy()\nkids.append(interpreters.create())\nprint(len(interpreters.list_all()))")
        .unwrap();
    assert_eq!(
        interp.take_stdout().text(),
        "cannot create an interpreter: the limit of 3 interpreters per sandbox is reached\n4\n"
    );
}

#[test]
fn children_inherit_the_limits() {
    let interp = runtime().interpreter().memory_limit(64 << 20).build().unwrap();
    interp
        .run("import interpreters\ntry:\n    interpreters.create().run('b = bytearray(100 << 20)')\nexcept interpreters.RunFailedError as e:\n    print(e)")
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "MemoryError\n");
}
