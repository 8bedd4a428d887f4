//! One sandboxed Python interpreter: a wasmtime `Store` and a guest instance.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::error::{ChainLink, Error, PythonException, Result};
use crate::guest::{self, ExceptionInfo, Guest, InterpreterConfig, RunError};
use crate::output::{Captured, Output};
use crate::runtime::Runtime;

/// Where the guest finds its standard library; CPython's `sys.path` starts here.
const STDLIB_GUEST_PATH: &str = "/python";

/// The filename of code run with [`Interpreter::run`], as for `python -c`.
pub const STRING_FILENAME: &str = "<string>";

/// Identifies an interpreter within its [`Runtime`]. Ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterpreterId(pub(crate) u64);

impl InterpreterId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for InterpreterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The host side of one interpreter's store.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A sandboxed CPython 3.14 interpreter: its own WebAssembly instance, its
/// own linear memory, its own `__main__`.
///
/// **Cost:** creating one instantiates the guest from the runtime's
/// pre-linked component (well under a millisecond to a few milliseconds);
/// it then holds its own memory (about 15 MB of address space, less
/// resident). Runs are cheap.
///
/// `__main__` persists between runs, as in a REPL: a name defined by one run
/// is there for the next.
///
/// `Interpreter` is `Send + Sync`, and its methods take `&self`, so one
/// interpreter can be shared between threads. Two runs never overlap: a run
/// while another is in progress fails at once with [`Error::AlreadyRunning`]
/// (PEP 554's rule) rather than waiting.
///
/// Dropping the interpreter destroys it; [`close`](Self::close) says so
/// explicitly.
pub struct Interpreter {
    id: InterpreterId,
    state: Mutex<State>,
    running: AtomicBool,
    stdout: Output,
    stderr: Output,
}

enum State {
    Live(Box<Live>),
    Trapped(String),
}

struct Live {
    store: Store<HostState>,
    guest: Guest,
}

impl Interpreter {
    /// This interpreter's id, unique within its runtime.
    pub fn id(&self) -> InterpreterId {
        self.id
    }

    /// Runs Python source code in this interpreter's `__main__`, as
    /// `python -c` would: tracebacks name the file `<string>`.
    ///
    /// An exception that escapes the code is [`Error::RunFailed`];
    /// `sys.exit` is [`Error::SystemExit`]. Either way the interpreter goes
    /// on and can run again.
    pub fn run(&self, source: &str) -> Result<()> {
        self.run_script(STRING_FILENAME, source.as_bytes())
    }

    /// Runs a script's source in `__main__`, as `python FILENAME` would.
    ///
    /// `source` is bytes, decoded as CPython decodes a source file (a BOM or
    /// a `# -*- coding: ... -*-` line, else UTF-8). `filename` is used in
    /// tracebacks, which show the script's lines; unless it has the form
    /// `<...>` it also becomes `__file__`. The file itself is never opened:
    /// the sandbox cannot see the host's files.
    pub fn run_script(&self, filename: &str, source: &[u8]) -> Result<()> {
        let mut state = self.lock_idle()?;
        let live = match &mut *state {
            State::Live(live) => live,
            State::Trapped(reason) => return Err(Error::Trapped { id: self.id, reason: reason.clone() }),
        };
        self.running.store(true, Ordering::Release);
        let result = live.guest.call_run(&mut live.store, source, filename);
        self.running.store(false, Ordering::Release);
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(RunError::Exception(info))) => Err(self.run_failed(info)),
            Ok(Err(RunError::Exit(code))) => Err(Error::SystemExit { code }),
            Err(trap) => {
                let reason = format!("{trap:#}");
                *state = State::Trapped(reason.clone());
                Err(Error::Trapped { id: self.id, reason })
            }
        }
    }

    /// True while a run is in progress.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Takes the stdout captured so far (empty unless stdout is captured).
    pub fn take_stdout(&self) -> Captured {
        self.stdout.take_captured()
    }

    /// Takes the stderr captured so far (empty unless stderr is captured).
    pub fn take_stderr(&self) -> Captured {
        self.stderr.take_captured()
    }

    /// Destroys the interpreter and frees its memory. The same as dropping it.
    pub fn close(self) {}

    fn lock_idle(&self) -> Result<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(state) => Ok(state),
            Err(TryLockError::WouldBlock) => Err(Error::AlreadyRunning(self.id)),
            // A panic mid-run leaves a store we cannot trust.
            Err(TryLockError::Poisoned(poisoned)) => {
                let mut state = poisoned.into_inner();
                *state = State::Trapped("the host panicked during a run".to_owned());
                self.state.clear_poison();
                Ok(state)
            }
        }
    }

    fn run_failed(&self, info: ExceptionInfo) -> Error {
        let chain = info.chain.into_iter().map(|node| {
            let link = node.link.map(|link| match link {
                guest::ChainLink::Cause => ChainLink::Cause,
                guest::ChainLink::Context => ChainLink::Context,
            });
            (node.type_name, node.message, node.traceback, link)
        });
        match PythonException::from_chain(chain) {
            Some(exception) => Error::RunFailed(Box::new(exception)),
            None => Error::Engine(format!("interpreter `{}` reported an exception without describing it", self.id)),
        }
    }
}

impl fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interpreter")
            .field("id", &self.id)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// Configures and creates an [`Interpreter`]; from [`Runtime::interpreter`].
///
/// By default an interpreter:
/// - captures stdout and stderr, up to
///   [`DEFAULT_CAPTURE_LIMIT`](crate::DEFAULT_CAPTURE_LIMIT) bytes each;
/// - has `sys.argv == [""]`, as an embedded CPython does;
/// - sees no host files (only its own read-only stdlib at `/python`), no
///   environment variables, no stdin (reads get end of file) and no network.
#[derive(Debug)]
pub struct InterpreterBuilder {
    runtime: Runtime,
    argv: Vec<String>,
    stdout: Output,
    stderr: Output,
}

impl InterpreterBuilder {
    pub(crate) fn new(runtime: Runtime) -> Self {
        InterpreterBuilder { runtime, argv: vec![String::new()], stdout: Output::capture(), stderr: Output::capture() }
    }

    /// Sets `sys.argv`.
    pub fn argv<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Where `sys.stdout` goes. By default it is captured.
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Where `sys.stderr` goes. By default it is captured.
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Creates the interpreter.
    pub fn build(self) -> Result<Interpreter> {
        let runtime = &self.runtime;
        let mut wasi = WasiCtxBuilder::new();
        self.stdout.attach_stdout(&mut wasi);
        self.stderr.attach_stderr(&mut wasi);
        wasi.preopened_dir(runtime.stdlib_dir(), STDLIB_GUEST_PATH, FsPerms::ReadOnly)
            .map_err(|err| Error::Cache { path: runtime.stdlib_dir().to_owned(), source: std::io::Error::other(err) })?;
        let wasi = wasi.build();
        let mut store = Store::new(runtime.engine(), HostState { wasi, table: ResourceTable::new() });
        let guest = runtime.pre().instantiate(&mut store).map_err(Error::engine)?;
        guest.call_init(&mut store, &InterpreterConfig { argv: self.argv }).map_err(Error::engine)?;
        Ok(Interpreter {
            id: runtime.next_interpreter_id(),
            state: Mutex::new(State::Live(Box::new(Live { store, guest }))),
            running: AtomicBool::new(false),
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}
