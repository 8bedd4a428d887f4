//! Python scripts under tests/py/ and examples/, run through `isolate run`
//! by one harness.
//!
//! Each script states what it expects in comment lines at its top:
//!
//! ```text
//! # args: one two        arguments after the script (split on spaces)
//! # exit: 1              the exit status (default 0)
//! # stdout: text         a line of the exact stdout (repeat for more lines)
//! # stderr: text         a line of the exact stderr; `{script}` stands for
//!                        the script's absolute path
//! # sandbox-only: why    the script shows what the sandbox does differently
//!                        from a native CPython, on purpose
//! # flags: --timeout 1s  `isolate run` options before the script; in them
//!                        `{fixtures}` is a folder prepared by the harness
//!                        (see `Fixtures`) and `{port}` the port of a
//!                        loopback listener, which must see no connection
//! # output: discard      stdout goes nowhere and is not checked (floods)
//! ```
//!
//! Every script runs with a canary variable in isolate's own environment, which no script
//! may see.
//!
//! `tests/check_expectations.py` runs the same scripts with a native CPython
//! (all but the sandbox-only ones) to check that the expectations are what
//! CPython really prints.
//!
//! Without `# stdout:` lines stdout must be empty, and likewise stderr.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::cli::isolate;

/// The variable set in isolate's environment that no script may see.
const CANARY: (&str, &str) = ("ISOLATE_TEST_CANARY", "the host's secret");

struct Expectation {
    args: Vec<String>,
    flags: Vec<String>,
    discard_stdout: bool,
    exit: i32,
    stdout: String,
    stderr: String,
}

fn parse_header(script: &Path, source: &str) -> Expectation {
    let absolute = std::path::absolute(script).unwrap();
    let mut expected = Expectation {
        args: Vec::new(),
        flags: Vec::new(),
        discard_stdout: false,
        exit: 0,
        stdout: String::new(),
        stderr: String::new(),
    };
    for line in source.lines().take_while(|line| line.starts_with('#')) {
        let Some((key, value)) = line[1..].split_once(':') else { continue };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match key.trim() {
            "args" => expected.args = value.split_whitespace().map(str::to_owned).collect(),
            "flags" => expected.flags = value.split_whitespace().map(str::to_owned).collect(),
            "output" => expected.discard_stdout = value.trim() == "discard",
            "exit" => expected.exit = value.trim().parse().expect("`# exit:` takes a number"),
            "stdout" => {
                expected.stdout.push_str(value);
                expected.stdout.push('\n');
            }
            "stderr" => {
                expected.stderr.push_str(&value.replace("{script}", &absolute.to_string_lossy()));
                expected.stderr.push('\n');
            }
            _ => {}
        }
    }
    expected
}

fn scripts(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Modules examples load, not scripts; and the Python package's
        // examples, host programs that its own tests run (python/tests/).
        if path == Path::new("examples/plugins")
            || path == Path::new("examples/pep734/lib")
            || path == Path::new("examples/python")
        {
            continue;
        }
        if path.is_dir() {
            scripts(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "py") {
            found.push(path);
        }
    }
}

/// A folder for the scripts that probe granted directories:
///
/// ```text
/// {fixtures}/secret.txt           outside the grant: must stay unreachable
/// {fixtures}/data/hello.txt       "hello from the host"
/// {fixtures}/data/etc -> /etc     a symlink out of the grant
/// {fixtures}/data/secret -> ../secret.txt
/// ```
struct Fixtures {
    dir: tempfile::TempDir,
}

impl Fixtures {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "the host's secret file\n").unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("hello.txt"), "hello from the host\n").unwrap();
        std::os::unix::fs::symlink("/etc", data.join("etc")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", data.join("secret")).unwrap();
        Fixtures { dir }
    }
}

/// Runs an empty script with `env`, with fuel and without, so that both
/// ways of compiling the guest are cached before the scripts run: the run
/// that compiles says so on stderr.
fn warm_up(env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("empty.py");
    std::fs::write(&script, "").unwrap();
    for flags in [&[][..], &["--fuel", "1000000000"]] {
        let mut command = isolate();
        command.arg("run").args(flags).arg(&script).envs(env.iter().copied()).stdin(Stdio::null());
        let out = command.output().unwrap();
        assert!(out.status.success(), "warming up: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Runs one script; a description of what went wrong, if anything did.
fn check(script: &Path, expected: &Expectation, fixtures: &Fixtures) -> Option<String> {
    check_with(script, expected, fixtures, &[])
}

/// Runs one script with `env` in isolate's environment.
fn check_with(script: &Path, expected: &Expectation, fixtures: &Fixtures, env: &[(&str, &str)]) -> Option<String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let fixtures_dir = fixtures.dir.path().to_string_lossy();
    let flags = expected.flags.iter().map(|flag| flag.replace("{fixtures}", &fixtures_dir).replace("{port}", &port));

    let mut command = isolate();
    command.arg("run");
    command.args(flags).arg(script).args(&expected.args).env(CANARY.0, CANARY.1).envs(env.iter().copied());
    command.stdin(Stdio::null());
    if expected.discard_stdout {
        command.stdout(Stdio::null());
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = script.display().to_string();
    if let Ok((_, peer)) = listener.accept() {
        return Some(format!("{name}:\n  the loopback listener was reached from {peer}"));
    }
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let stdout_ok = expected.discard_stdout || stdout == expected.stdout;
    if out.status.code() != Some(expected.exit) || !stdout_ok || stderr != expected.stderr {
        return Some(format!(
            "{name}:\n  exit {:?} (expected {})\n  stdout {stdout:?}\n  expected {:?}\n  stderr {stderr:?}\n  expected {:?}",
            out.status.code(),
            expected.exit,
            expected.stdout,
            expected.stderr
        ));
    }
    None
}

#[test]
fn every_script_under_tests_py_and_examples_does_what_its_header_says() {
    let mut found = Vec::new();
    scripts(Path::new("tests/py"), &mut found);
    scripts(Path::new("examples"), &mut found);
    found.sort();
    assert!(found.len() >= 50, "expected the scripts under tests/py and examples, found {found:?}");

    let fixtures = Fixtures::new();
    warm_up(&[]);
    let mut failures = Vec::new();
    let mut runs = 0;
    for script in &found {
        let source = std::fs::read_to_string(script).unwrap();
        let expected = parse_header(script, &source);
        runs += 1;
        failures.extend(check(script, &expected, &fixtures));
    }
    assert!(failures.is_empty(), "{} of {runs} runs failed:\n{}", failures.len(), failures.join("\n"));
}

/// The sandbox's scripts again with the guest compiled with epoch checks,
/// the way isolate stops a running guest where it cannot revoke its memory
/// (`ISOLATE_INTERRUPT=epoch`): both ways must hold every limit.
#[test]
fn every_sandbox_script_holds_with_epoch_checks_too() {
    let mut found = Vec::new();
    scripts(Path::new("tests/py/sandbox"), &mut found);
    found.sort();
    assert!(found.len() >= 30, "expected the scripts under tests/py/sandbox, found {found:?}");

    let fixtures = Fixtures::new();
    warm_up(&[("ISOLATE_INTERRUPT", "epoch")]);
    let failures: Vec<String> = found
        .iter()
        .filter_map(|script| {
            let expected = parse_header(script, &std::fs::read_to_string(script).unwrap());
            check_with(script, &expected, &fixtures, &[("ISOLATE_INTERRUPT", "epoch")])
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} runs failed:\n{}", failures.len(), found.len(), failures.join("\n"));
}
