//! Every command line the README's "The command line" block and
//! `isolate run --help` / `isolate snapshot --help` show, run as written
//! (by `sh`, in a folder holding the files they name) and expected to
//! succeed. Lines that need a terminal say so in their comment, and are left
//! out.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::isolate;

/// The files the documented command lines name.
fn fixtures(root: &Path) {
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("examples/hello.py", &std::fs::read_to_string("examples/hello.py").unwrap());
    write("script.py", "import sys\nprint(sys.argv)\n");
    write("input.txt", "a line of input\n");
    write("src/myproject/__init__.py", "");
    write("src/myproject/cli.py", "import sys\nprint('cli', sys.argv[1:])\n");
    write("src/myapp/__init__.py", "");
    write("src/myapp/__main__.py", "print('myapp')\n");
    write("untrusted.py", "print(sum(range(10)))\n");
    write("reproducible.py", "print(sum(range(1000)))\n");
    write("filter.py", "import sys\nopen('/out/report.txt', 'w').write(sys.stdin.read().upper())\n");
    std::fs::create_dir_all(root.join("reports")).unwrap();
    write(
        "test_example.py",
        "import unittest\n\nclass T(unittest.TestCase):\n    def test(self):\n        self.assertTrue(open('input.txt').read())\n",
    );
    write("analysis.py", "print(pandas.DataFrame({'x': numpy.arange(3)}).x.sum())\n");
    write("models/weights.txt", "1 2 3\n");
    write("load_models.py", "weights = open('/models/weights.txt').read().split()\n");
}

/// The documented command lines: each `isolate ...` line of `text`, without
/// its trailing comment in parentheses; none that needs a terminal.
fn command_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| line.starts_with("isolate ") || line.starts_with("echo "))
        .filter(|line| line.contains("isolate") && !line.contains("terminal"))
        .map(|line| line.split("   (").next().unwrap().trim().to_owned())
        .collect()
}

fn help(command: &str) -> String {
    let out = isolate().args([command, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_documented_command_line_runs_as_written() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let block = readme.split("## The command line").nth(1).unwrap().split("```").nth(1).unwrap();
    let mut lines = command_lines(block);
    for command in ["run", "snapshot"] {
        let help = help(command);
        let examples = help.split("Examples:").nth(1).unwrap_or_else(|| panic!("{command} --help has examples"));
        lines.extend(command_lines(examples));
    }
    assert!(lines.len() >= 20, "{lines:?}");
    // Snapshots before the runs that start from them.
    lines.sort_by_key(|line| !line.starts_with("isolate snapshot"));

    let root = tempfile::tempdir().unwrap();
    fixtures(root.path());
    let bin = Path::new(env!("CARGO_BIN_EXE_isolate")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut failures = Vec::new();
    for line in &lines {
        let out = Command::new("sh")
            .args(["-c", line])
            .current_dir(root.path())
            .env("PATH", &path)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!("{line}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), lines.len(), failures.join("\n"));
    assert_eq!(std::fs::read_to_string(root.path().join("reports/report.txt")).unwrap(), "A LINE OF INPUT\n");
}
