//! Forks: a copy of an idle interpreter, from Rust and from Python.

use std::time::Duration;

use isolate::{DirAccess, Error, Limit, Value};

use crate::{interpreter, runtime};

/// State that `pickle` cannot carry, built once in `interp`.
const ENVIRONMENT: &str = r#"
import re
double = lambda x: 2 * x
def make_adder(n):
    def add(x):
        return x + n
    return add
add3 = make_adder(3)
def make_class():
    class Local:
        def __init__(self, v):
            self.v = v
    return Local
Local = make_class()
item = Local(7)
def numbers():
    yield from range(10)
counter = numbers()
next(counter), next(counter)
pattern = re.compile(r"(\d+)-(\d+)")
"#;

#[test]
fn a_fork_has_its_originals_state_without_pickling() {
    let original = interpreter();
    original.run(ENVIRONMENT).unwrap();
    let fork = original.fork().unwrap();
    assert_ne!(fork.id(), original.id());
    fork.run(
        "print(double(21), add3(4), item.v, type(item).__qualname__, next(counter), pattern.match('12-34').groups())",
    )
    .unwrap();
    assert_eq!(fork.take_stdout().text(), "42 7 7 make_class.<locals>.Local 2 ('12', '34')\n");
}

#[test]
fn a_fork_and_its_original_are_independent() {
    let original = interpreter();
    original.run("import sys; value = 1; items = [1]").unwrap();
    let fork = original.fork().unwrap();
    fork.run("value = 2; items.append(2); sys.marker = 'fork'").unwrap();
    original.run("items.append(3); print(value, items, hasattr(sys, 'marker'))").unwrap();
    fork.run("print(value, items, sys.marker)").unwrap();
    assert_eq!(original.take_stdout().text(), "1 [1, 3] False\n");
    assert_eq!(fork.take_stdout().text(), "2 [1, 2] fork\n");
    // A fork outlives its original.
    drop(original);
    fork.run("print(items)").unwrap();
    assert_eq!(fork.take_stdout().text(), "[1, 2]\n");
}

#[test]
fn forks_in_a_row_and_forks_of_forks() {
    let original = interpreter();
    original.run("generation = 0").unwrap();
    let forks: Vec<_> = (0..4).map(|_| original.fork().unwrap()).collect();
    let grandchild = {
        forks[0].run("generation += 1").unwrap();
        forks[0].fork().unwrap()
    };
    grandchild.run("generation += 1; print(generation)").unwrap();
    assert_eq!(grandchild.take_stdout().text(), "2\n");
    for fork in &forks[1..] {
        fork.run("print(generation)").unwrap();
        assert_eq!(fork.take_stdout().text(), "0\n");
    }
}

#[test]
fn random_reseeds_in_a_fork_and_at_fork_callbacks_run_there() {
    let original = interpreter();
    original
        .run("import os, random\nevents = []\nos.register_at_fork(after_in_child=lambda: events.append('child'), before=print)")
        .unwrap();
    let first = original.fork().unwrap();
    let second = original.fork().unwrap();
    let draw = |interp: &isolate::Interpreter| {
        interp.run("print(random.random(), events)").unwrap();
        interp.take_stdout().text()
    };
    let (a, b, c) = (draw(&original), draw(&first), draw(&second));
    assert!(a.ends_with(" []\n"), "{a}");
    assert!(b.ends_with(" ['child']\n") && c.ends_with(" ['child']\n"), "{b}{c}");
    assert!(a != b && b != c && a != c, "the same random draws: {a}{b}{c}");
}

#[test]
fn new_interpreters_draw_different_random_numbers() {
    let draws: Vec<String> = (0..3)
        .map(|_| {
            let interp = interpreter();
            interp.run("import random; print(random.getrandbits(64))").unwrap();
            interp.take_stdout().text()
        })
        .collect();
    assert!(draws[0] != draws[1] && draws[1] != draws[2], "{draws:?}");
}

#[test]
fn register_at_fork_checks_its_arguments_as_cpython_does() {
    let interp = interpreter();
    interp
        .run(
            "import os
for kwargs in ({}, {'before': 1}):
    try:
        os.register_at_fork(**kwargs)
    except TypeError as e:
        print(e)",
        )
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "At least one argument is required.\n'before' must be callable, not int\n");
}

#[test]
fn a_failing_at_fork_callback_is_reported_and_the_fork_goes_on() {
    let original = interpreter();
    original
        .run("import os\ndef broken(): raise ValueError('hook failed')\nos.register_at_fork(after_in_child=broken)\nos.register_at_fork(after_in_child=lambda: print('second hook'))")
        .unwrap();
    let fork = original.fork().unwrap();
    // The callbacks run as the fork first runs, before its code.
    fork.run("print('alive')").unwrap();
    let stderr = fork.take_stderr().text();
    assert!(
        stderr.contains("Exception ignored in fork hook") && stderr.contains("ValueError: hook failed"),
        "{stderr}"
    );
    assert_eq!(fork.take_stdout().text(), "second hook\nalive\n");
    fork.run("print('again')").unwrap();
    assert_eq!(fork.take_stdout().text(), "again\n", "the callbacks run once");
}

#[test]
fn a_running_interpreter_cannot_be_forked() {
    let interp = interpreter();
    let (recv, send) = runtime().create_channel();
    std::thread::scope(|scope| {
        let run = scope
            .spawn(|| interp.run_with("started.send(1); import time; time.sleep(0.3)", [("started", send.into())]));
        recv.recv().unwrap();
        let err = interp.fork().unwrap_err();
        assert!(matches!(err, Error::CannotCopy { id, .. } if id == interp.id()), "{err}");
        assert!(err.to_string().contains("running"), "{err}");
        run.join().unwrap().unwrap();
    });
    // Between runs it can.
    interp.fork().unwrap();
}

#[test]
fn a_dead_interpreter_cannot_be_forked() {
    let interp = runtime().interpreter().timeout(Duration::from_millis(100)).build().unwrap();
    assert!(matches!(interp.run("while True: pass"), Err(Error::LimitExceeded { .. })));
    let err = interp.fork().unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err}");
}

#[test]
fn an_interpreter_holding_open_files_cannot_be_forked() {
    let dir = tempfile::tempdir().unwrap();
    let interp = runtime().interpreter().preopened_dir(dir.path(), "/data", DirAccess::ReadWrite).build().unwrap();
    interp.run("log = open('/data/log.txt', 'w')").unwrap();
    let err = interp.fork().unwrap_err();
    assert!(matches!(err, Error::CannotCopy { .. }) && err.to_string().contains("1 open file"), "{err}");
    interp.run("log.close()").unwrap();
    interp.fork().unwrap();
}

#[test]
fn a_fork_has_its_originals_grants_environment_and_argv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), "granted").unwrap();
    let original = runtime()
        .interpreter()
        .argv(["tool", "--flag"])
        .env("MODE", "test")
        .preopened_dir(dir.path(), "/data", DirAccess::ReadOnly)
        .build()
        .unwrap();
    original.run("import os; os.environ['ADDED'] = 'later'").unwrap();
    let fork = original.fork().unwrap();
    fork.run("import sys; print(open('/data/input.txt').read(), sys.argv, os.environ['MODE'], os.getenv('ADDED'))")
        .unwrap();
    assert_eq!(fork.take_stdout().text(), "granted ['tool', '--flag'] test later\n");
    let err = fork.run("open('/data/new.txt', 'w')").unwrap_err();
    assert_eq!(err.python_exception().unwrap().type_name(), "PermissionError");
}

#[test]
fn a_fork_has_its_originals_limits() {
    let original = runtime().interpreter().timeout(Duration::from_millis(200)).build().unwrap();
    let fork = original.fork().unwrap();
    let err = fork.run("while True: pass").unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Time(_), .. }), "{err}");
    // The original is unaffected.
    original.run("print('fine')").unwrap();
}

#[test]
fn a_forks_memory_counts_against_its_own_sandbox() {
    let original = runtime().interpreter().memory_limit(160 << 20).build().unwrap();
    original.run("blob = bytearray(50 << 20)").unwrap();
    // The fork has a budget of its own, the same size: its copy of the
    // 90 MiB memory fits, and a second 50 MiB does not.
    let fork = original.fork().unwrap();
    let err = fork.run("more = bytearray(80 << 20)").unwrap_err();
    assert_eq!(err.python_exception().map(|e| e.type_name()), Some("MemoryError"), "{err}");
    fork.run("print(len(blob))").unwrap();
    assert_eq!(fork.take_stdout().text(), format!("{}\n", 50 << 20));
}

#[test]
fn a_fork_holds_its_originals_channel_ends() {
    let original = interpreter();
    let (recv, send) = runtime().create_channel();
    original.run_with("import interpreters", [("out", send.into())]).unwrap();
    let fork = original.fork().unwrap();
    std::thread::scope(|scope| {
        let from_fork = scope.spawn(|| fork.run("out.send('from the fork')"));
        assert_eq!(recv.recv().unwrap(), Value::from("from the fork"));
        from_fork.join().unwrap().unwrap();
        let from_original = scope.spawn(|| original.run("out.send('from the original')"));
        assert_eq!(recv.recv().unwrap(), Value::from("from the original"));
        from_original.join().unwrap().unwrap();
    });
}

#[test]
fn a_forks_captured_output_is_its_own() {
    let original = interpreter();
    original.run("print('before')").unwrap();
    let fork = original.fork().unwrap();
    fork.run("print('fork')").unwrap();
    assert_eq!(fork.take_stdout().text(), "fork\n");
    assert_eq!(original.take_stdout().text(), "before\n");
}

#[test]
fn forks_run_in_parallel() {
    let original = interpreter();
    original.run("def work(n):\n    return sum(i * i for i in range(n))").unwrap();
    let forks: Vec<_> = (0..4).map(|_| original.fork().unwrap()).collect();
    std::thread::scope(|scope| {
        for (i, fork) in forks.iter().enumerate() {
            scope.spawn(move || {
                fork.run(&format!("print(work({}))", 10_000 + i)).unwrap();
                let n = 10_000 + i as u64;
                assert_eq!(fork.take_stdout().text(), format!("{}\n", (n - 1) * n * (2 * n - 1) / 6));
            });
        }
    });
}

#[test]
fn python_code_forks_an_idle_interpreter_it_can_reach() {
    let interp = interpreter();
    interp
        .run(
            "import interpreters
env = interpreters.create()
env.run('import os; table = {n: n * n for n in range(10)}; os.register_at_fork(after_in_child=lambda: print(\"hook\"))')
fork = env.fork()
fork.run('table[3] = None; print(table[3], table[4])')
env.run('print(table[3])')
print(fork in interpreters.list_all(), fork != env)
try:
    interpreters.get_current().fork()
except RuntimeError as e:
    print('refused:', e)
fork.destroy()
try:
    fork.fork()
except RuntimeError as e:
    print('gone:', type(e).__name__)",
        )
        .unwrap();
    let out = interp.take_stdout().text();
    assert_eq!(
        out,
        "hook\nNone 16\n9\nTrue True\nrefused: interpreter 0: cannot be copied: it is running (a copy is taken between runs)\ngone: RuntimeError\n"
            .replace("interpreter 0", &format!("interpreter {}", interp.id())),
        "{out}"
    );
}

#[test]
fn forks_from_python_count_toward_the_interpreter_cap() {
    let interp = runtime().interpreter().max_interpreters(2).build().unwrap();
    interp
        .run(
            "import interpreters
env = interpreters.create()
one = env.fork()
try:
    env.fork()
except RuntimeError as e:
    print(e)",
        )
        .unwrap();
    assert!(interp.take_stdout().text().contains("limit of 2 interpreters"));
}

#[test]
fn a_fork_of_a_fork_that_never_ran_is_a_copy_of_the_same_state() {
    let original = interpreter();
    original.run("import os\nvalue = 'original'\nos.register_at_fork(after_in_child=lambda: print('hook'))").unwrap();
    let child = original.fork().unwrap();
    let grandchild = child.fork().unwrap();
    grandchild.run("print(value)").unwrap();
    assert_eq!(grandchild.take_stdout().text(), "hook\noriginal\n");
    child.run("print(value)").unwrap();
    assert_eq!(child.take_stdout().text(), "hook\noriginal\n");
}

#[test]
fn an_environment_variable_os_environ_would_refuse_is_a_configuration_error() {
    for (key, value) in [("A=B", "1"), ("", "1"), ("NUL", "a\0b")] {
        let err = runtime().interpreter().env(key, value).build().unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{key:?}: {err}");
    }
}

#[test]
fn a_snapshot_saved_to_a_file_starts_interpreters_in_another_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.snapshot");
    let original = interpreter();
    original.run("import json, random\ntable = {'answer': 42}\nadd = lambda a, b: a + b").unwrap();
    let snapshot = original.snapshot().unwrap();
    assert!(snapshot.memory_size() >= 40 << 20, "{snapshot:?}");
    snapshot.save(&path).unwrap();

    // A runtime of its own, as another process would have.
    let runtime = isolate::Runtime::new().unwrap();
    let loaded = isolate::Snapshot::load(&path).unwrap();
    assert_eq!(loaded.memory_size(), snapshot.memory_size());
    let copies: Vec<_> = (0..2)
        .map(|_| runtime.interpreter().argv(["job"]).env("ROLE", "copy").snapshot(&loaded).build().unwrap())
        .collect();
    for copy in &copies {
        copy.run("import os, sys\nprint(json.dumps(table), add(2, 3), sys.argv, os.environ['ROLE'])").unwrap();
        assert_eq!(copy.take_stdout().text(), "{\"answer\": 42} 5 ['job'] copy\n");
    }
    copies[0].run("table['answer'] = 0").unwrap();
    copies[1].run("print(table['answer'])").unwrap();
    assert_eq!(copies[1].take_stdout().text(), "42\n");
}

#[test]
fn a_snapshot_file_that_is_not_one_of_ours_intact_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.snapshot");
    interpreter().snapshot().unwrap().save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let mut corrupt = bytes.clone();
    corrupt[(64 << 10) + 4096] ^= 1;
    let mut other_build = bytes.clone();
    other_build[24] ^= 1;
    let cases = [
        (write("truncated", &bytes[..bytes.len() / 2]), "truncated"),
        (write("header", &bytes[..100]), "truncated"),
        (write("corrupt", &corrupt), "corrupt"),
        (write("other", &other_build), "another build"),
        (write("text", b"print('not a snapshot')"), "too short"),
        (write("zeros", &vec![0; 70_000]), "not an isolate snapshot"),
        (dir.path().join("missing"), "No such file"),
    ];
    for (path, why) in cases {
        let err = isolate::Snapshot::load(&path).unwrap_err();
        assert!(matches!(&err, Error::Snapshot { path: p, .. } if *p == path), "{err}");
        let reason = std::error::Error::source(&err).map(|e| e.to_string()).unwrap_or_default();
        assert!(reason.contains(why), "{}: {reason}", path.display());
    }
}

#[test]
fn a_running_interpreter_has_no_snapshot() {
    let interp = interpreter();
    let (recv, send) = runtime().create_channel();
    std::thread::scope(|scope| {
        let run = scope
            .spawn(|| interp.run_with("started.send(1); import time; time.sleep(0.2)", [("started", send.into())]));
        recv.recv().unwrap();
        assert!(matches!(interp.snapshot(), Err(Error::CannotCopy { .. })));
        run.join().unwrap().unwrap();
    });
}

/// Threads that fork one idle interpreter at once all get their fork (the
/// first after a run copies the memory while the others wait), and forks
/// of forks that ended reuse their memory without seeing what it held.
#[test]
fn forks_from_many_threads_at_once_all_succeed_and_start_clean() {
    let env = interpreter();
    env.run("secret = None\ndef mark(n):\n    global secret\n    before, secret = secret, 'x' * 100_000 + str(n)\n    return before")
        .unwrap();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let env = &env;
                scope.spawn(move || {
                    for n in 0..25 {
                        let fork = env.fork().expect("a fork while others fork");
                        let before = fork.call("mark", &[Value::from(worker * 100 + n)]).unwrap();
                        assert_eq!(before, Value::None, "a fork saw another's state");
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
