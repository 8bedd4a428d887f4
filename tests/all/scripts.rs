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
//! ```
//!
//! `tests/check_expectations.py` runs the same scripts with a native CPython
//! (all but the sandbox-only ones) to check that the expectations are what
//! CPython really prints.
//!
//! Without `# stdout:` lines stdout must be empty, and likewise stderr.

use std::path::{Path, PathBuf};

use crate::cli::isolate;

struct Expectation {
    args: Vec<String>,
    exit: i32,
    stdout: String,
    stderr: String,
}

fn parse_header(script: &Path, source: &str) -> Expectation {
    let absolute = std::path::absolute(script).unwrap();
    let mut expected = Expectation { args: Vec::new(), exit: 0, stdout: String::new(), stderr: String::new() };
    for line in source.lines().take_while(|line| line.starts_with('#')) {
        let Some((key, value)) = line[1..].split_once(':') else { continue };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match key.trim() {
            "args" => expected.args = value.split_whitespace().map(str::to_owned).collect(),
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
        if path.is_dir() {
            scripts(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "py") {
            found.push(path);
        }
    }
}

#[test]
fn every_script_under_tests_py_and_examples_does_what_its_header_says() {
    let mut found = Vec::new();
    scripts(Path::new("tests/py"), &mut found);
    scripts(Path::new("examples"), &mut found);
    found.sort();
    assert!(found.len() >= 30, "expected the scripts under tests/py and examples, found {found:?}");

    let mut failures = Vec::new();
    for script in &found {
        let source = std::fs::read_to_string(script).unwrap();
        let expected = parse_header(script, &source);
        let out = isolate().arg("run").arg(script).args(&expected.args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(expected.exit) || stdout != expected.stdout || stderr != expected.stderr {
            failures.push(format!(
                "{}:\n  exit {:?} (expected {})\n  stdout {stdout:?}\n  expected {:?}\n  stderr {stderr:?}\n  expected {:?}",
                script.display(),
                out.status.code(),
                expected.exit,
                expected.stdout,
                expected.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} scripts failed:\n{}", failures.len(), found.len(), failures.join("\n"));
}
