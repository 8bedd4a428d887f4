//! Errors: Python exceptions as surrogates, SystemExit, syntax errors.

use isolate::{Error, PythonException};

use crate::interpreter;

fn exception_of(source: &str) -> PythonException {
    match interpreter().run(source) {
        Err(Error::RunFailed(exc)) => *exc,
        other => panic!("expected RunFailed from {source:?}, got {other:?}"),
    }
}

#[test]
fn an_exception_carries_type_message_and_cpython_traceback() {
    let exc = exception_of("def f(n):\n    return 10 // n\n\nf(0)\n");
    assert_eq!(exc.type_name(), "ZeroDivisionError");
    assert_eq!(exc.message(), "division by zero");
    assert_eq!(
        exc.traceback(),
        "Traceback (most recent call last):\n  \
           File \"<string>\", line 4, in <module>\n    \
             f(0)\n    ~^^^\n  \
           File \"<string>\", line 2, in f\n    \
             return 10 // n\n           ~~~^^~~\n\
         ZeroDivisionError: division by zero\n"
    );
    assert_eq!(exc.to_string(), "`ZeroDivisionError`: division by zero");
    assert!(exc.cause().is_none() && exc.context().is_none());
}

#[test]
fn the_error_message_names_the_exception() {
    let err = interpreter().run("raise KeyError('k')").unwrap_err();
    assert_eq!(err.to_string(), "python code raised `KeyError`: 'k'");
}

#[test]
fn type_names_are_qualified_as_cpython_prints_them() {
    assert_eq!(exception_of("import json; json.loads('{')").type_name(), "json.decoder.JSONDecodeError");
    assert_eq!(exception_of("class Oops(Exception): pass\nraise Oops()").type_name(), "Oops");
    assert_eq!(
        exception_of("class Outer:\n    class Inner(Exception): pass\nraise Outer.Inner('x')").type_name(),
        "Outer.Inner"
    );
}

#[test]
fn the_cause_chain_is_kept_and_printed_as_cpython_does() {
    let exc =
        exception_of("try:\n    {}['missing']\nexcept KeyError as e:\n    raise ValueError('bad config') from e\n");
    assert_eq!(exc.type_name(), "ValueError");
    let cause = exc.cause().expect("a __cause__");
    assert_eq!(cause.type_name(), "KeyError");
    assert_eq!(cause.message(), "'missing'");
    assert!(exc.context().is_none());
    let report = exc.traceback();
    assert!(report.starts_with(cause.own_traceback()), "{report}");
    assert!(report.contains("\nThe above exception was the direct cause of the following exception:\n\n"));
    assert!(report.ends_with(exc.own_traceback()));
}

#[test]
fn the_context_chain_is_kept_unless_suppressed() {
    let exc = exception_of("try:\n    1/0\nexcept ZeroDivisionError:\n    undefined_name\n");
    assert_eq!(exc.type_name(), "NameError");
    assert_eq!(exc.context().unwrap().type_name(), "ZeroDivisionError");
    assert!(exc.traceback().contains("\nDuring handling of the above exception, another exception occurred:\n\n"));

    let suppressed = exception_of("try:\n    1/0\nexcept ZeroDivisionError:\n    raise KeyError('k') from None\n");
    assert!(suppressed.context().is_none() && suppressed.cause().is_none());
}

#[test]
fn the_report_matches_the_guests_own_traceback_module() {
    // The host rebuilds the chained report; the guest's `traceback` module
    // prints the same chain itself. They must agree to the byte.
    let interp = interpreter();
    let source = "def inner():\n    raise KeyError('a')\n\ndef outer():\n    try:\n        inner()\n    except KeyError as e:\n        raise RuntimeError('b') from e\n";
    interp.run(source).unwrap();
    interp.run("import traceback\ntry:\n    outer()\nexcept RuntimeError as e:\n    report = ''.join(traceback.format_exception(e))").unwrap();
    let err = interp.run("outer()").unwrap_err();
    interp.run("import sys; sys.stdout.write(report)").unwrap();
    let guest_report = interp.take_stdout().text();
    let host_report = err.python_exception().unwrap().traceback();
    // Only the outermost frame differs: the guest caught it one level deeper.
    let strip_first_frame = |report: &str| {
        report
            .lines()
            .filter(|line| {
                !line.contains("<module>")
                    && !line.trim_start().starts_with("outer()")
                    && !line.trim().chars().all(|c| "~^ ".contains(c))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip_first_frame(&host_report), strip_first_frame(&guest_report));
}

#[test]
fn a_chain_with_a_cycle_ends() {
    let exc = exception_of("a = ValueError('a'); b = KeyError('b')\na.__context__ = b; b.__context__ = a\nraise a");
    assert_eq!(exc.context().unwrap().type_name(), "KeyError");
    assert!(exc.context().unwrap().context().is_none());
}

#[test]
fn a_syntax_error_is_reported_as_cpython_prints_it() {
    let exc = exception_of("x = (1,\n");
    assert_eq!(exc.type_name(), "SyntaxError");
    assert_eq!(
        exc.traceback(),
        "  File \"<string>\", line 1\n    x = (1,\n        ^\nSyntaxError: '(' was never closed\n"
    );
}

#[test]
fn a_hostile_str_does_not_break_reporting() {
    let exc =
        exception_of("class Evil(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise Evil()");
    assert_eq!(exc.type_name(), "Evil");
    assert!(exc.traceback().starts_with("Traceback (most recent call last):\n"));
}

#[test]
fn system_exit_gives_cpythons_status() {
    let status = |source: &str| match interpreter().run(source) {
        Err(Error::SystemExit { code }) => code,
        other => panic!("expected SystemExit from {source:?}, got {other:?}"),
    };
    assert_eq!(status("import sys; sys.exit()"), 0);
    assert_eq!(status("import sys; sys.exit(3)"), 3);
    assert_eq!(status("raise SystemExit(True)"), 1);
    assert_eq!(status("import sys; sys.exit(2**100)"), i32::MAX);

    let interp = interpreter();
    match interp.run("import sys; sys.exit('fatal: no input')") {
        Err(Error::SystemExit { code: 1 }) => {}
        other => panic!("expected SystemExit(1), got {other:?}"),
    }
    assert_eq!(interp.take_stderr().text(), "fatal: no input\n");
}

#[test]
fn the_interpreter_goes_on_after_an_error() {
    let interp = interpreter();
    interp.run("x = 1").unwrap();
    interp.run("1/0").unwrap_err();
    interp.run("import sys; sys.exit(4)").unwrap_err();
    interp.run("def broken(:").unwrap_err();
    interp.run("print(x)").unwrap();
    assert_eq!(interp.take_stdout().text(), "1\n");
}

#[test]
fn tracebacks_show_lines_of_earlier_runs() {
    let interp = interpreter();
    interp.run("def fail():\n    raise ValueError('from run one')").unwrap();
    interp.run("y = 2").unwrap();
    let exc = interp.run("fail()").unwrap_err();
    let report = exc.python_exception().unwrap().traceback();
    assert!(report.contains("File \"<string>\", line 2, in fail\n    raise ValueError('from run one')\n"), "{report}");
}

#[test]
fn scripts_are_named_by_their_filename() {
    let interp = interpreter();
    let err = interp.run_script("/home/user/job.py", b"print(__file__)\nraise OSError('disk')\n").unwrap_err();
    assert_eq!(interp.take_stdout().text(), "/home/user/job.py\n");
    assert_eq!(
        err.python_exception().unwrap().traceback(),
        "Traceback (most recent call last):\n  File \"/home/user/job.py\", line 2, in <module>\n    raise OSError('disk')\nOSError: disk\n"
    );
}

#[test]
fn a_coding_cookie_is_honoured() {
    let interp = interpreter();
    let source = b"# -*- coding: latin-1 -*-\nprint('caf\xe9')\n";
    interp.run_script("latin.py", source).unwrap();
    assert_eq!(interp.take_stdout().text(), "caf\u{e9}\n");
}

#[test]
fn running_the_same_source_again_gives_the_same_traceback() {
    // The guest reuses the compiled code of a source it has run before.
    let interp = crate::interpreter();
    let source = "def f():\n    return 1 / 0\nf()";
    let first = interp.run(source).unwrap_err().python_exception().unwrap().traceback();
    let again = interp.run(source).unwrap_err().python_exception().unwrap().traceback();
    assert_eq!(first, again);
    assert!(first.contains("    return 1 / 0\n"), "{first}");
}

/// The driver that runs code lives in the guest's memory, where the code it
/// runs can break it: that is the interpreter's end, as a typed error,
/// never the host's.
#[test]
fn code_that_breaks_the_guests_driver_ends_only_its_interpreter() {
    let interp = interpreter();
    interp.run("import sys, gc\ndel sys.modules['_isolate_driver'].serve\ngc.collect()").unwrap();
    for _ in 0..2 {
        match interp.run("print(1)") {
            Err(Error::Trapped { .. }) => {}
            other => panic!("expected the interpreter to be discarded, got {other:?}"),
        }
    }
    assert_eq!(crate::stdout_of("print('others go on')"), "others go on\n");
}
