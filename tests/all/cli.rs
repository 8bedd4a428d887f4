//! The `isolate` command line.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub fn isolate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_isolate"))
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child =
        isolate().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[test]
fn hello_example_runs() {
    let out = isolate().args(["run", "examples/hello.py"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Hello from CPython 3.15"), "{}", text(&out.stdout));
}

#[test]
fn dash_c_runs_code_with_argv() {
    let out = isolate().args(["run", "-c", "import sys; print(sys.argv)", "a", "-x", "--flag"]).output().unwrap();
    assert_eq!(text(&out.stdout), "['-c', 'a', '-x', '--flag']\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn script_arguments_that_look_like_options_go_to_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("args.py");
    std::fs::write(&script, "import sys\nprint(sys.argv[1:])\n").unwrap();
    let out = isolate().arg("run").arg(&script).args(["-c", "--help", "x"]).output().unwrap();
    assert_eq!(text(&out.stdout), "['-c', '--help', 'x']\n");
}

#[test]
fn dash_reads_the_script_from_stdin() {
    let out = run_with_stdin(&["run", "-", "arg"], b"import sys\nprint(sys.argv, __file__)\n");
    assert_eq!(text(&out.stdout), "['-', 'arg'] <stdin>\n");
    let out = run_with_stdin(&["run", "-"], b"def f():\n    1/0\nf()\n");
    assert_eq!(out.status.code(), Some(1));
    // As CPython: no source lines for a script read from stdin.
    assert_eq!(
        text(&out.stderr),
        "Traceback (most recent call last):\n  File \"<stdin>\", line 3, in <module>\n  File \"<stdin>\", line 2, in f\nZeroDivisionError: division by zero\n"
    );
}

#[test]
fn an_uncaught_exception_prints_the_traceback_and_exits_1() {
    let out = isolate().args(["run", "-c", "print('before')\nraise ValueError('nope')"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "before\n");
    assert_eq!(
        text(&out.stderr),
        "Traceback (most recent call last):\n  File \"<string>\", line 2, in <module>\n    raise ValueError('nope')\nValueError: nope\n"
    );
}

#[test]
fn the_end_of_the_program_waits_for_threads_and_runs_atexit_as_cpython() {
    // After the script, whatever its end: a pool not shut down runs its
    // queued tasks, calls started in threads are waited for, then atexit
    // callbacks run (last first), after which no pool takes tasks.
    let script = r#"
import atexit, sys, time
from concurrent import interpreters
from concurrent.futures import InterpreterPoolExecutor
def slow_print(msg):
    time.sleep(0.2)
    print(msg, flush=True)
pool = InterpreterPoolExecutor(2)
pool.submit(slow_print, "task done")
interpreters.create().call_in_thread(slow_print, "thread done")
@atexit.register
def last():
    try:
        pool.submit(print, "never")
    except RuntimeError as err:
        print("atexit:", err)
atexit.register(print, "atexit: registered last, run first")
print("script ends")
sys.exit(3)
"#;
    let out = isolate().args(["run", "-c", script]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "script ends", "{stdout}");
    let mut middle = lines[1..3].to_vec();
    middle.sort_unstable();
    assert_eq!(middle, ["task done", "thread done"], "{stdout}");
    assert_eq!(
        &lines[3..],
        ["atexit: registered last, run first", "atexit: cannot schedule new futures after interpreter shutdown"],
        "{stdout}"
    );
    // After an uncaught exception too, with the traceback first.
    let out = isolate()
        .args(["run", "-c", "import atexit\natexit.register(print, 'bye')\nraise KeyError('k')"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "bye\n");
    assert!(text(&out.stderr).ends_with("KeyError: 'k'\n"), "{}", text(&out.stderr));
}

#[test]
fn sys_exit_sets_the_exit_status() {
    let out = isolate().args(["run", "-c", "import sys; sys.exit(7)"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let out = isolate().args(["run", "-c", "import sys; sys.exit('bye')"]).output().unwrap();
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(1), "bye\n"));
}

#[test]
fn binary_output_passes_through_unchanged() {
    let out = isolate().args(["run", "-c", "import sys; sys.stdout.buffer.write(bytes(range(256)))"]).output().unwrap();
    assert_eq!(out.stdout, (0..=255u8).collect::<Vec<_>>());
}

#[test]
fn a_closed_stdout_is_a_broken_pipe_as_in_cpython() {
    // The reader goes away at once (`isolate run … | head -1`, sooner): the
    // script's next write raises BrokenPipeError, which it may catch.
    let mut child = isolate()
        .args([
            "run",
            "-c",
            "import sys
try:
    for i in range(10**6): print(i)
except BrokenPipeError:
    sys.stderr.write('caught BrokenPipeError')
    sys.stdout = None",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(text(&out.stderr).contains("caught BrokenPipeError"), "{}", text(&out.stderr));
}

#[test]
fn a_missing_script_is_a_one_line_error() {
    let out = isolate().args(["run", "no/such/script.py"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr), "isolate: can't open file 'no/such/script.py': No such file or directory\n");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_folder_is_not_a_script() {
    let out = isolate().args(["run", "examples"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).lines().count(), 1, "{}", text(&out.stderr));
}

#[test]
fn bad_usage_exits_2() {
    let out = isolate().args(["run", "--timeout"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a value is required for '--timeout"), "{}", text(&out.stderr));
    let out = isolate().args(["run", "-i", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("-i cannot be used"), "{}", text(&out.stderr));
    let out = isolate().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_describes_the_sandbox_and_exit_statuses() {
    let out = isolate().args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for expected in ["SCRIPT", "-c <CODE>", "no files, no environment variables", "Exit status:", "125"] {
        assert!(help.contains(expected), "`isolate run --help` lacks {expected:?}:\n{help}");
    }
    let out = isolate().arg("--help").output().unwrap();
    assert!(text(&out.stdout).contains("run"));
}

#[test]
fn timeout_stops_the_script_with_status_124() {
    let out = isolate()
        .args(["run", "--timeout", "300ms", "-c", "print('started', flush=True)\nwhile True:\n    try:\n        pass\n    except BaseException:\n        pass"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert_eq!(text(&out.stdout), "started\n");
    assert_eq!(text(&out.stderr), "isolate: time limit of 300ms exceeded\n");
}

#[test]
fn memory_caps_the_script() {
    let out = isolate()
        .args([
            "run",
            "--memory",
            "64M",
            "-c",
            "try:\n    bytearray(100 << 20)\nexcept MemoryError:\n    print('MemoryError')",
        ])
        .output()
        .unwrap();
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "MemoryError\n"));
}

#[test]
fn bad_limit_values_are_usage_errors() {
    for args in [["--timeout", "soon"], ["--timeout", "1x"], ["--memory", "lots"], ["--memory", "0"]] {
        let out = isolate().arg("run").args(args).args(["-c", "pass"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(&format!("invalid value '{}'", args[1])), "{}", text(&out.stderr));
    }
}

#[test]
fn snapshot_saves_state_that_run_from_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("warm.snapshot");
    let out = isolate()
        .args(["snapshot", "--env", "SECRET=1", "-o"])
        .arg(&file)
        .args(["-c", "import os, json\nready = {'loaded': True}\nprint('made')"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "made\n");

    let script = dir.path().join("use.py");
    std::fs::write(&script, "import sys\nprint(json.dumps(ready), sys.argv[1:], os.environ.get('SECRET'))\n").unwrap();
    let out = isolate().args(["run", "--from"]).arg(&file).arg(&script).arg("x").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The snapshot's options do not carry over: no SECRET here.
    assert_eq!(text(&out.stdout), "{\"loaded\": true} ['x'] None\n");
}

#[test]
fn run_from_refuses_a_file_that_is_not_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bogus.snapshot");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    let out = isolate().args(["run", "--from"]).arg(&file).args(["-c", "print(1)"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not an isolate snapshot"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn a_failed_script_leaves_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("never.snapshot");
    let out = isolate().args(["snapshot", "-o"]).arg(&file).args(["-c", "raise SystemExit(3)"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!file.exists());
}

#[test]
fn dash_m_runs_a_module_as_python_does() {
    let out = isolate().args(["run", "-m", "calendar", "2026", "2"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("February 2026"), "{}", text(&out.stdout));
    let out = run_with_stdin(&["run", "--stdin", "-m", "json.tool", "--compact"], b"{\"a\": [1, 2]}");
    assert_eq!(text(&out.stdout), "{\"a\":[1,2]}\n", "{}", text(&out.stderr));
    let out = isolate().args(["run", "-m", "no_such_module"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).ends_with("No module named no_such_module\n"), "{}", text(&out.stderr));
}

#[test]
fn dash_m_refuses_what_is_not_a_module_name() {
    for name in ["os; import sys", "", "a..b", "1abc"] {
        let out = isolate().args(["run", "-m", name]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name:?}");
        assert!(text(&out.stderr).contains("not a module name"), "{}", text(&out.stderr));
    }
    let out = isolate().args(["run", "-m", "json.tool", "-c", "print(1)"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn path_puts_a_read_only_folder_on_sys_path() {
    let dir = tempfile::tempdir().unwrap();
    let package = dir.path().join("src/tool");
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(package.join("__init__.py"), "def greet():\n    return 'hello from tool'\n").unwrap();
    std::fs::write(
        package.join("__main__.py"),
        "import sys\nfrom tool import greet\nprint(greet(), sys.argv[1:], sys.argv[0].endswith('__main__.py'))\nraise SystemExit(3)\n",
    )
    .unwrap();
    std::fs::write(package.join("broken.py"), "def fail():\n    return 1 / 0\n").unwrap();
    let src = dir.path().join("src");
    let out = isolate().args(["run", "--path"]).arg(&src).args(["-m", "tool", "x", "--y"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello from tool ['x', '--y'] True\n");

    // Read-only, and tracebacks show the host's file and its source line.
    let code = "import tool.broken\ntry:\n    open(tool.__file__, 'a')\nexcept OSError as e:\n    print(type(e).__name__)\ntool.broken.fail()";
    let out = isolate().args(["run", "--path"]).arg(&src).args(["-c", code]).output().unwrap();
    assert_eq!(text(&out.stdout), "PermissionError\n");
    let broken = src.join("tool/broken.py");
    assert!(
        text(&out.stderr).contains(&format!("File \"{}\", line 2, in fail\n    return 1 / 0\n", broken.display())),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn max_interpreters_sets_the_cap() {
    let code = "import interpreters\nfor i in range(3):\n    interpreters.create()\nprint('three')";
    let out = isolate().args(["run", "--max-interpreters", "2", "-c", code]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("limit of 2 interpreters"), "{}", text(&out.stderr));
    let out = isolate().args(["run", "--max-interpreters", "3", "-c", code]).output().unwrap();
    assert_eq!(text(&out.stdout), "three\n", "{}", text(&out.stderr));
}

#[test]
fn dash_i_enters_the_prompt_after_the_script_as_python_does() {
    let out = run_with_stdin(&["run", "-i", "-c", "x = 21"], b"print(x * 2)\n1/0\nprint('after')\n");
    assert_eq!(text(&out.stdout), "42\nafter\n");
    assert_eq!(out.status.code(), Some(0));
    // Prompts and tracebacks go to stderr, as CPython's do without a terminal.
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(">>> >>> Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nZeroDivisionError: division by zero\n"), "{stderr}");

    // After an exception or sys.exit in the script too; exit() ends it.
    let out = run_with_stdin(&["run", "-i", "-c", "x = 2\nraise SystemExit(3)"], b"print(x)\nexit(7)\n");
    assert_eq!(text(&out.stdout), "2\n");
    assert_eq!(out.status.code(), Some(7));
    assert!(text(&out.stderr).starts_with("SystemExit: 3\n>>> "), "{}", text(&out.stderr));
}

#[test]
fn without_a_script_stdin_is_the_script_unless_it_is_a_terminal() {
    let out = run_with_stdin(&["run"], b"import sys\nprint('piped', sys.argv)\n");
    assert_eq!(text(&out.stdout), "piped ['-']\n", "{}", text(&out.stderr));

    // On a terminal: the prompt, with a banner. python3's pty module plays
    // the terminal.
    let driver = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "run"])
out = b""
def read_for(seconds):
    global out
    end = time.time() + seconds
    while time.time() < end:
        if select.select([fd], [], [], 0.05)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
        if out.endswith(b">>> "):
            return
read_for(60)
os.write(fd, b"print(6 * 7)\n")
read_for(30)
os.write(fd, b"exit(4)\n")
read_for(5)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3").args(["-c", driver, env!("CARGO_BIN_EXE_isolate")]).output().unwrap();
    let screen = text(&out.stdout);
    assert!(screen.starts_with("Python 3.15"), "{screen}");
    assert!(screen.contains(">>> print(6 * 7)\n42\n>>> exit(4)"), "{screen}");
    assert_eq!(out.status.code(), Some(4), "{screen}");
}

#[test]
fn everything_after_dash_m_or_dash_c_is_the_programs() {
    let out = isolate().args(["run", "-m", "json.tool", "--help"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("usage:") && text(&out.stdout).contains("json.tool"),
        "{}",
        text(&out.stdout)
    );
    let out = isolate().args(["run", "-c", "import sys; print(sys.argv)", "--help", "-x", "--", "y"]).output().unwrap();
    assert_eq!(text(&out.stdout), "['-c', '--help', '-x', '--', 'y']\n", "{}", text(&out.stderr));
    // The value attached, as Python takes it; options before it are isolate's.
    let out =
        isolate().args(["run", "--timeout", "5s", "-cimport sys; print(sys.argv)", "--memory", "1G"]).output().unwrap();
    assert_eq!(text(&out.stdout), "['-c', '--memory', '1G']\n", "{}", text(&out.stderr));
}
