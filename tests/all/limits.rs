//! Limits: memory over the whole store, wall-clock time, stack, fuel,
//! interpreters created.

use std::sync::OnceLock;
use std::time::Duration;

use isolate::{Error, Limit, Runtime};

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
    let source =
        "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass";
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
    // Each interpreter counts 40 MiB from its start: room for two.
    let interp = runtime().interpreter().memory_limit(100 << 20).build().unwrap();
    interp
        .run("import interpreters\ntry:\n    interpreters.create().run('b = bytearray(100 << 20)')\nexcept interpreters.RunFailedError as e:\n    print(e)")
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "MemoryError\n");
}

#[test]
fn a_sleep_stops_at_the_time_limit() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(200)).build().unwrap();
    let err = interp.run("import time\ntime.sleep(3600)").unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err:?}");
}

#[test]
fn recursion_through_c_code_raises_recursion_error() {
    let out = crate::stdout_of(
        "class Loop:\n    def __repr__(self):\n        return repr(self)\ntry:\n    repr(Loop())\nexcept RecursionError as exc:\n    print(type(exc).__name__)",
    );
    assert_eq!(out, "RecursionError\n");
}

/// C code that CPython does not guard with its recursion limit (walking a
/// container nested 100,000 deep) raises `RecursionError` too: CPython's
/// C-stack guard trips before the native stack (4 MiB) runs out. With the
/// previous guest these trapped.
#[test]
fn deep_c_recursion_raises_recursion_error_and_the_interpreter_goes_on() {
    let interp = crate::interpreter();
    interp.run("import copy, json, pickle\nnested, other = [], []\nfor _ in range(100_000):\n    nested, other = [nested], [other]").unwrap();
    for expression in [
        "repr(nested)",
        "nested == other",
        "pickle.dumps(nested)",
        "copy.deepcopy(nested)",
        "json.dumps(nested)",
        "json.loads('[' * 100_000 + ']' * 100_000)",
    ] {
        let source = format!("try:\n    {expression}\nexcept RecursionError:\n    print('RecursionError')");
        interp.run(&source).unwrap_or_else(|err| panic!("{expression}: {err}"));
        assert_eq!(interp.take_stdout().text(), "RecursionError\n", "{expression}");
    }
    interp.run("x = 1").unwrap();
}

/// A runtime that meters fuel (compiled once per test binary).
fn fuel_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::builder().fuel(true).build().expect("a fuel-metering runtime builds"))
}

#[test]
fn fuel_stops_a_run_at_the_same_point_every_time() {
    let count_until_stopped = || {
        let interp = fuel_runtime().interpreter().fuel(30_000_000).build().unwrap();
        // Progress is printed unbuffered (stdout is line-buffered), so what
        // was printed before the stop is kept.
        let err = interp.run("n = 0\nwhile True:\n    n += 1\n    if n % 1000 == 0:\n        print(n)").unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { limit: Limit::Fuel(30_000_000), .. }), "{err:?}");
        interp.take_stdout().text().lines().last().unwrap().to_owned()
    };
    let first = count_until_stopped();
    assert!(first.parse::<u64>().unwrap() >= 1000);
    assert_eq!(count_until_stopped(), first);
}

#[test]
fn fuel_is_per_run_and_optional() {
    // Each run takes well over half the budget (it fits between 12,000 and
    // 16,000 iterations): three in a row fit only if each gets it anew.
    let limited = fuel_runtime().interpreter().fuel(30_000_000).build().unwrap();
    for _ in 0..3 {
        limited.run("n = 0\nwhile n < 9000:\n    n += 1").unwrap();
    }
    // Without a budget, an interpreter of a metering runtime is unlimited.
    let unlimited = fuel_runtime().create_interpreter().unwrap();
    unlimited.run("sum(range(3_000_000))").unwrap();
}

#[test]
fn a_fuel_limit_needs_a_metering_runtime() {
    let err = runtime().interpreter().fuel(1_000).build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid configuration: a fuel limit needs a runtime built with `RuntimeBuilder::fuel(true)`"
    );
}

/// A value received when the guest has no memory left to take it is not
/// lost: the receive raises `MemoryError`, and the next receive on that
/// channel gets the value.
#[test]
fn a_receive_past_the_memory_limit_loses_nothing() {
    let interp = runtime().interpreter().memory_limit(100 << 20).build().unwrap();
    let (recv, send) = runtime().create_channel();
    let source = "ballast = []\ntry:\n    while True:\n        ballast.append(bytearray(1 << 20))\nexcept MemoryError:\n    pass\ntry:\n    inbox.recv()\nexcept MemoryError:\n    print('MemoryError')\nballast.clear()\nprint(len(inbox.recv()))";
    std::thread::scope(|scope| {
        let run = scope.spawn(|| interp.run_with(source, [("inbox", isolate::Value::from(recv))]));
        send.send(vec![7u8; 15 << 20]).unwrap();
        run.join().unwrap().unwrap();
    });
    assert_eq!(interp.take_stdout().text(), format!("MemoryError\n{}\n", 15 << 20));
}
