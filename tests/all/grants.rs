//! Deny by default, grant explicitly: directories, environment, stdin.

use std::fs;

use isolate::DirAccess;

use crate::cli::isolate;
use crate::runtime;

/// `data/` (granted) holds a file and symlinks out; `outside/` is not granted.
fn fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("data")).unwrap();
    fs::create_dir(root.path().join("outside")).unwrap();
    fs::write(root.path().join("data/in.txt"), "from the host").unwrap();
    fs::write(root.path().join("outside/secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("../outside/secret.txt", root.path().join("data/link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.path().join("data/etc")).unwrap();
    root
}

#[test]
fn nothing_outside_a_granted_directory_is_reachable() {
    let root = fixture();
    let interp =
        runtime().interpreter().preopened_dir(root.path().join("data"), "/data", DirAccess::ReadWrite).build().unwrap();
    interp
        .run(
            "print(open('/data/in.txt').read())\n\
             for path in ['/data/../outside/secret.txt', '/data/link.txt', '/data/etc/passwd', '/etc/passwd', '/usr/local/lib/../../etc/passwd', '/data/./../../../../etc/hostname']:\n\
             \x20   try:\n\
             \x20       open(path).read()\n\
             \x20       print('ESCAPED', path)\n\
             \x20   except OSError:\n\
             \x20       pass\n\
             open('/data/out.txt', 'w').write('written inside')",
        )
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "from the host\n");
    assert_eq!(fs::read_to_string(root.path().join("data/out.txt")).unwrap(), "written inside");
}

#[test]
fn a_read_only_grant_refuses_every_write() {
    let root = fixture();
    let interp =
        runtime().interpreter().preopened_dir(root.path().join("data"), "/data", DirAccess::ReadOnly).build().unwrap();
    interp
        .run(
            "import os\n\
             print(open('/data/in.txt').read())\n\
             for attempt in [lambda: open('/data/new.txt', 'w'), lambda: open('/data/in.txt', 'a'), lambda: os.remove('/data/in.txt'),\n\
             \x20               lambda: os.mkdir('/data/sub'), lambda: os.rename('/data/in.txt', '/data/moved.txt')]:\n\
             \x20   try:\n\
             \x20       attempt()\n\
             \x20       print('WROTE')\n\
             \x20   except PermissionError:\n\
             \x20       print('refused')",
        )
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "from the host\nrefused\nrefused\nrefused\nrefused\nrefused\n");
    assert_eq!(fs::read_dir(root.path().join("data")).unwrap().count(), 3, "nothing was added or removed");
}

#[test]
fn only_granted_environment_variables_are_visible() {
    let interp = runtime().interpreter().env("GREETING", "hi").build().unwrap();
    interp.run("import os\nprint(dict(os.environ), os.getenv('HOME'))").unwrap();
    assert_eq!(interp.take_stdout().text(), "{'GREETING': 'hi'} None\n");
}

#[test]
fn stdin_is_given_explicitly() {
    let interp = runtime().interpreter().stdin(b"line one\nline two\n".to_vec()).build().unwrap();
    interp.run("import sys\nprint(input())\nprint(sys.stdin.read())").unwrap();
    assert_eq!(interp.take_stdout().text(), "line one\nline two\n\n");
}

#[test]
fn grants_are_not_inherited_by_interpreters_created_from_python() {
    let root = fixture();
    let interp = runtime()
        .interpreter()
        .env("TOKEN", "t")
        .preopened_dir(root.path().join("data"), "/data", DirAccess::ReadOnly)
        .build()
        .unwrap();
    interp
        .run("import interpreters\ninterpreters.create().run(\"import os\\nprint(dict(os.environ), os.path.exists('/data/in.txt'))\")")
        .unwrap();
    assert_eq!(interp.take_stdout().text(), "{} False\n");
}

#[test]
fn the_cli_grants_dirs_env_and_stdin() {
    let root = fixture();
    let data = root.path().join("data");
    let mut child = isolate()
        .arg("run")
        .arg("--dir")
        .arg(format!("{}:/in:ro", data.display()))
        .args(["--env", "GREETING=hi", "--env", "PATH", "--env", "ISOLATE_SURELY_UNSET", "--stdin", "-c"])
        .arg("import os, sys\nprint(open('/in/in.txt').read(), sorted(os.environ), sys.stdin.read().strip())")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped in\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from the host ['GREETING', 'PATH'] piped in\n");
}

#[test]
fn the_cli_refuses_bad_grants() {
    let out = isolate().args(["run", "--dir", "/no/such/folder:/x", "-c", "pass"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "isolate: cannot grant `/no/such/folder`: No such file or directory\n"
    );
    let out = isolate().args(["run", "--stdin", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = isolate().args(["run", "--dir", ":ro", "-c", "pass"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
