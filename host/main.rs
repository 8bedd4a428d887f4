//! `isolate`: run Python scripts in sealed WebAssembly interpreters.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use isolate::{Error, Output, Runtime};

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (CPython ",
    env!("ISOLATE_PYTHON_VERSION"),
    ", componentize-py ",
    env!("ISOLATE_COMPONENTIZE_PY_VERSION"),
    ")"
);

/// Exit status when the script could not be read or the usage is wrong
/// (CPython and clap use 2 as well).
const EXIT_USAGE: u8 = 2;

/// Exit status when isolate itself failed, or the interpreter trapped.
const EXIT_ISOLATE_FAILED: u8 = 125;

#[derive(Parser)]
#[command(name = "isolate", version = VERSION, about = "Run Python in sealed WebAssembly interpreters")]
#[command(long_about = "Run Python in sealed WebAssembly interpreters.\n\n\
    Each interpreter is CPython 3.14 in its own WebAssembly instance: its own memory, \
    and nothing of the host visible unless granted.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Python script in a fresh sandboxed interpreter
    #[command(after_long_help = RUN_AFTER_HELP, override_usage = "isolate run [OPTIONS] <SCRIPT | - | -c CODE> [ARGS]...")]
    Run(RunArgs),
}

const RUN_AFTER_HELP: &str = "\
The sandbox, by default:
  the script sees the standard library (read-only, at /python) and nothing else of
  the host: no files, no environment variables, no stdin (reads get end of file),
  no network. Its stdout and stderr are this process's.

Exit status:
  0    the script ran to its end
  1    an exception escaped the script (its traceback is printed on stderr)
  N    the script called sys.exit(N)
  2    bad usage, or the script could not be read
  125  isolate itself failed, or the interpreter trapped

Examples:
  isolate run examples/hello.py
  isolate run script.py --verbose input.txt
  isolate run -c 'import sys; print(sys.version)'
  echo 'print(42)' | isolate run -";

#[derive(Args)]
struct RunArgs {
    /// Run CODE instead of a script file; sys.argv[0] is then '-c' (as `python -c`)
    #[arg(short = 'c', value_name = "CODE")]
    code: Option<String>,

    /// The script (`-` reads it from stdin), then the arguments it gets in sys.argv[1:]
    #[arg(
        value_name = "SCRIPT [ARGS]",
        required_unless_present = "code",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    script_and_args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
    }
}

/// What to run: source, the filename tracebacks show, and `sys.argv`.
struct Program {
    source: Vec<u8>,
    filename: String,
    argv: Vec<String>,
}

fn run(args: RunArgs) -> ExitCode {
    let program = match load_program(args) {
        Ok(program) => program,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    let interpreter = Runtime::new().and_then(|runtime| {
        runtime.interpreter().argv(program.argv).stdout(Output::inherit()).stderr(Output::inherit()).build()
    });
    let interpreter = match interpreter {
        Ok(interpreter) => interpreter,
        Err(err) => return fail(&err.to_string(), EXIT_ISOLATE_FAILED),
    };
    let status = match interpreter.run_script(&program.filename, &program.source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::RunFailed(exception)) => {
            let _ = std::io::stderr().write_all(exception.traceback().as_bytes());
            ExitCode::FAILURE
        }
        // The OS keeps the low 8 bits, as it does for CPython's exit status.
        Err(Error::SystemExit { code }) => ExitCode::from(code as u8),
        Err(err) => fail(&err.to_string(), EXIT_ISOLATE_FAILED),
    };
    let _ = std::io::stdout().flush();
    status
}

fn load_program(args: RunArgs) -> Result<Program, String> {
    let mut rest = args.script_and_args.into_iter();
    if let Some(code) = args.code {
        // As `python -c CODE ARGS...`: every positional is an argument.
        let argv = std::iter::once("-c".to_owned()).chain(rest).collect();
        return Ok(Program { source: code.into_bytes(), filename: "<string>".to_owned(), argv });
    }
    let script = rest.next().expect("clap requires SCRIPT unless -c is given");
    let (source, filename) = if script == "-" {
        let mut source = Vec::new();
        std::io::stdin().read_to_end(&mut source).map_err(|err| format!("can't read the script from stdin: {}", describe(&err)))?;
        (source, "<stdin>".to_owned())
    } else {
        let source =
            std::fs::read(&script).map_err(|err| format!("can't open file '{script}': {}", describe(&err)))?;
        // CPython names the main script by its absolute path in tracebacks
        // and `__file__`, and keeps it as given in `sys.argv[0]`.
        let absolute = std::path::absolute(Path::new(&script)).unwrap_or_else(|_| script.clone().into());
        (source, absolute.to_string_lossy().into_owned())
    };
    let argv = std::iter::once(script).chain(rest).collect();
    Ok(Program { source, filename, argv })
}

/// An I/O error without Rust's ` (os error N)` suffix.
fn describe(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

fn fail(message: &str, status: u8) -> ExitCode {
    eprintln!("isolate: {message}");
    ExitCode::from(status)
}
