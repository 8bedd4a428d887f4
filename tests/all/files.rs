//! The sandbox's own file system through the library: the working
//! directory, `/tmp` across the interpreters of a sandbox, forks and
//! snapshots, and duplicates under the handle cap.

use isolate::{DirAccess, Error, Limit, Value};

use crate::runtime;

#[test]
fn the_working_directory_is_set_and_checked_at_build() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/data.txt"), "relative").unwrap();
    let interp = runtime()
        .interpreter()
        .preopened_dir(root.path(), "/proj", DirAccess::ReadOnly)
        .working_dir("/proj/sub/../sub")
        .build()
        .unwrap();
    assert_eq!(interp.eval("__import__('os').getcwd()").unwrap(), Value::from("/proj/sub"));
    assert_eq!(interp.eval("open('data.txt').read()").unwrap(), Value::from("relative"));
    let fork = interp.fork().unwrap();
    assert_eq!(fork.eval("__import__('os').getcwd()").unwrap(), Value::from("/proj/sub"), "a fork keeps it");

    for (dir, why) in [("/proj/missing", "not a folder"), ("/elsewhere", "not inside"), ("proj", "not an absolute")] {
        let err = runtime()
            .interpreter()
            .preopened_dir(root.path(), "/proj", DirAccess::ReadOnly)
            .working_dir(dir)
            .build()
            .unwrap_err();
        assert!(matches!(&err, Error::Config(message) if message.contains(why)), "{dir}: {err}");
    }
}

#[test]
fn tmp_is_shared_in_a_sandbox_copied_by_a_fork_and_empty_from_a_snapshot() {
    let interp = runtime().interpreter().build().unwrap();
    interp.run("open('/tmp/note', 'w').write('original')").unwrap();
    let fork = interp.fork().unwrap();
    assert_eq!(fork.eval("open('/tmp/note').read()").unwrap(), Value::from("original"));
    fork.run("open('/tmp/note', 'w').write('changed in the fork')").unwrap();
    assert_eq!(interp.eval("open('/tmp/note').read()").unwrap(), Value::from("original"), "copied, not shared");

    // An interpreter the script creates is in the same sandbox: the same /tmp.
    interp
        .run(
            "import interpreters\n\
             child = interpreters.create()\n\
             child.run(\"open('/tmp/from_child', 'w').write('child')\")",
        )
        .unwrap();
    assert_eq!(interp.eval("open('/tmp/from_child').read()").unwrap(), Value::from("child"));

    let snapshot = interp.snapshot().unwrap();
    let restored = runtime().interpreter().snapshot(&snapshot).build().unwrap();
    assert_eq!(restored.eval("__import__('os').listdir('/tmp')").unwrap(), Value::List(vec![]));
}

#[test]
fn an_open_file_of_tmp_refuses_a_copy_and_the_cap_holds() {
    let interp = runtime().interpreter().tmp_size(64 << 10).build().unwrap();
    interp.run("f = open('/tmp/open', 'w')").unwrap();
    assert!(matches!(interp.fork(), Err(Error::CannotCopy { .. })));
    interp.run("f.close()").unwrap();
    interp.fork().unwrap();
    let full = interp
        .eval("(lambda f: (lambda: [f.write(b'x' * 1024) for _ in range(100)])())(open('/tmp/big', 'wb', buffering=0))")
        .unwrap_err();
    assert!(full.to_string().contains("No space left on device"), "{full}");
    assert_eq!(interp.eval("1 + 1").unwrap(), Value::from(2), "the interpreter goes on");
}

#[test]
fn duplicates_count_against_the_handle_cap() {
    let interp = runtime().interpreter().max_handles(8).build().unwrap();
    interp.run("import os\nfds = [os.dup(1) for _ in range(8)]").unwrap();
    let err = interp.run("os.dup(1)").unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { limit: Limit::Handles(8), .. }), "{err}");
}
