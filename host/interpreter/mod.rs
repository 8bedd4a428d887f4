//! One sandboxed Python interpreter: a wasmtime `Store` and a guest instance.
//!
//! - this file: the [`Interpreter`] handle, and the state machine of its
//!   runs (live, dead, destroyed; claims, cancellation, destruction);
//! - `builder.rs`: configuring and creating one;
//! - `store.rs`: its store's host-side state, and what the host calls need;
//! - `instance.rs`: the guest's exports, how it boots, and how a run enters
//!   the guest;
//! - `products.rs`: the matrix products its OpenBLAS hands to the host;
//! - `host_calls/`: what the guest asks of the host through the door, a
//!   file per concern;
//! - `handles.rs`: the channel ends and queues it holds;
//! - `runs.rs`: its runs on threads of their own;
//! - `staging.rs`: what it received and has not taken yet;
//! - `snapshot.rs`: an idle interpreter's state, which copies start from,
//!   and its file;
//! - `sandbox.rs`: the sandbox it is one of the interpreters of: one
//!   memory budget, one membership;
//! - `scripts.rs`: the scripts its sandbox ran, whose lines the
//!   interpreters its code creates show in tracebacks.

mod builder;
mod handles;
mod host_calls;
pub(crate) mod instance;
mod products;
mod runs;
mod sandbox;
mod scripts;
pub(crate) mod snapshot;
mod staging;
pub(crate) mod store;

pub use builder::InterpreterBuilder;
pub(crate) use host_calls::add_to_linker;
use sandbox::Sandbox;

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use wasmtime::Trap;

use crate::channel::Channel;
use crate::error::{ChainNode, Error, PythonException, Result, panic_message};
use crate::grants::Grants;
use crate::host_function::Functions;
pub use crate::ids::InterpreterId;
use crate::ids::{HandleId, Party};
use crate::interpreter::handles::HeldHandles;
use crate::interpreter::instance::{Live, RunKind, RunOutcome, RunRequest};
pub use crate::interpreter::snapshot::Snapshot;
use crate::interpreter::store::HostState;
use crate::limits::{self, Limit, Limits};
use crate::output::{Captured, Output};
use crate::runtime::Runtime;
use crate::stop::{self, CancelFlag};
use crate::sync::lock;
use crate::value::{self, Copies, Held, Message, Value};
use crate::wasi::HandleLimit;

/// The filename of code run with [`Interpreter::run`], as for `python -c`.
pub const STRING_FILENAME: &str = "<string>";

/// Stops an interpreter from any thread; from
/// [`Interpreter::cancel_handle`](crate::Interpreter::cancel_handle).
///
/// [`cancel`](Self::cancel) stops the interpreter promptly whether it is
/// running Python or C (within a tick of the runtime's ticker, 5 ms),
/// blocked in a channel's `send`/`recv`, a `join`, a nested run or
/// `time.sleep`, or idle. A
/// cancelled interpreter is discarded: the run in progress and every later
/// call return [`Error::Cancelled`](crate::Error::Cancelled), its channel
/// ends are released, and the interpreters its Python code created are
/// cancelled too.
///
/// The handle does not keep the interpreter alive; cancelling one that is
/// gone does nothing. It is `Clone + Send + Sync`.
#[derive(Clone)]
pub struct CancelHandle {
    pub(crate) interpreter: Weak<InterpreterInner>,
}

impl CancelHandle {
    /// Cancels the interpreter. Returns at once, without waiting for it to
    /// stop; true if this call cancelled it, false if it was already
    /// cancelled or is gone.
    pub fn cancel(&self) -> bool {
        self.interpreter.upgrade().is_some_and(|interpreter| interpreter.cancel())
    }
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.interpreter.upgrade().map(|interpreter| interpreter.id());
        f.debug_struct("CancelHandle").field("interpreter", &id).finish()
    }
}

/// A sandboxed CPython 3.15 interpreter: its own WebAssembly instance, its
/// own linear memory, its own `__main__`.
///
/// **Cost:** creating one is a copy of the runtime's template, a booted
/// interpreter whose memory it maps copy-on-write (tens of microseconds);
/// it holds its own memory from then on (40 MiB to start, shared with the
/// template until written). Runs are cheap. [`fork`](Self::fork) copies
/// an interpreter the same way.
///
/// `__main__` persists between runs, as in a REPL: a name defined by one run
/// is there for the next.
///
/// `Interpreter` is `Send + Sync`, and its methods take `&self`, so one
/// interpreter can be shared between threads. Two runs never overlap: a run
/// while another is in progress fails at once with [`Error::AlreadyRunning`]
/// (PEP 554's rule) rather than waiting.
///
/// Dropping the interpreter destroys it, with every interpreter its Python
/// code created, and releases the channel ends they were using;
/// [`close`](Self::close) says so explicitly. If it is running (a run by an
/// interpreter of its sandbox on another thread), it is cancelled first and
/// the drop waits for it to stop.
///
/// To stop a run from another thread, take a
/// [`cancel_handle`](Self::cancel_handle) first.
pub struct Interpreter {
    inner: Arc<InterpreterInner>,
}

/// The interpreter itself, shared by its owner (a Rust [`Interpreter`] or
/// the interpreter that created it) and the runs in progress.
pub(crate) struct InterpreterInner {
    id: InterpreterId,
    /// The sandbox it is one of the interpreters of.
    sandbox: Arc<Sandbox>,
    /// The interpreter whose Python code created this one (none for one the
    /// host created); it owns this one until it is destroyed.
    parent: Weak<InterpreterInner>,
    runtime: Runtime,
    state: Mutex<State>,
    /// Claimed for the whole of a run (and of a destroy), before `state` is
    /// locked: the claim is what makes a second run fail instead of wait.
    running: AtomicBool,
    /// Held while a fork or snapshot claims it: copies wait for each other
    /// (their claim is brief), where a run fails.
    copying: Mutex<()>,
    stdout: Output,
    stderr: Output,
    limits: Limits,
    /// What the host granted it: its forks have the same.
    grants: Grants,
    /// The host functions its code may call.
    functions: Functions,
    /// Whether the interpreters its code creates get them too.
    share_functions: bool,
    /// Set to stop the interpreter wherever it is; see [`CancelHandle`].
    cancel: Arc<CancelFlag>,
    /// The interpreters this one's Python code created; they live until
    /// destroyed, or until this one is.
    children: Mutex<Vec<Arc<InterpreterInner>>>,
    /// The channel ends and queues this interpreter's code may use: those
    /// it created, was bound or was sent.
    handles: HeldHandles,
}

enum State {
    Live(Box<Live>),
    /// Stopped by a trap: the error every later call returns.
    Dead(Death),
    Destroyed,
}

#[derive(Clone)]
enum Death {
    Limit(Limit),
    Cancelled,
    Panicked(String),
    Trap(String),
}

impl Death {
    fn error(&self, id: InterpreterId) -> Error {
        match self {
            Death::Limit(limit) => Error::LimitExceeded { id, limit: *limit },
            Death::Cancelled => Error::Cancelled(id),
            Death::Panicked(message) => Error::Panicked { id, message: message.clone() },
            Death::Trap(reason) => Error::Trapped { id, reason: reason.clone() },
        }
    }
}

/// Releases a run's claim when the run ends, however it ends.
struct Claim<'a>(&'a AtomicBool);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Interpreter {
    /// This interpreter's id, unique within its runtime.
    pub fn id(&self) -> InterpreterId {
        self.inner.id
    }

    /// Runs Python source code in this interpreter's `__main__`, as
    /// `python -c` would: tracebacks name the file `<string>`.
    ///
    /// An exception that escapes the code is [`Error::RunFailed`];
    /// `sys.exit` is [`Error::SystemExit`]. Either way the interpreter goes
    /// on and can run again.
    pub fn run(&self, source: &str) -> Result<()> {
        self.inner.run(source.as_bytes(), STRING_FILENAME, Vec::new(), None)
    }

    /// Like [`run`](Self::run), with names bound in `__main__` first: channel
    /// ends, or any other shareable [`Value`].
    ///
    /// A send waits for its receiver, so the program receives while the
    /// interpreter runs on another thread:
    ///
    /// ```
    /// use isolate::Value;
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.create_interpreter()?;
    /// let (results, sender) = runtime.create_channel();
    /// std::thread::scope(|scope| {
    ///     let run = scope.spawn(|| {
    ///         interp.run_with("out.send(sum(numbers))", [("out", sender.into()), ("numbers", (1, 2, 3).into())])
    ///     });
    ///     assert_eq!(results.recv()?, Value::from(6));
    ///     run.join().unwrap()
    /// })?;
    /// # Ok::<(), isolate::Error>(())
    /// ```
    pub fn run_with<I, K>(&self, source: &str, bindings: I) -> Result<()>
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        let bindings = bindings
            .into_iter()
            .map(|(name, value)| Ok((name.into(), Message::from_value(&value, Copies::Allowed)?)))
            .collect::<Result<_>>()?;
        self.inner.run(source.as_bytes(), STRING_FILENAME, bindings, None)
    }

    /// Evaluates one Python expression in `__main__` and returns its value,
    /// copied out: shareable values, and lists and dicts (with what nests
    /// in them).
    ///
    /// ```
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.create_interpreter()?;
    /// interp.run("prices = {'tea': 3, 'cake': 4}")?;
    /// let total: i64 = interp.eval("sum(prices.values())")?.try_into().unwrap();
    /// assert_eq!(total, 7);
    /// # Ok::<(), isolate::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::RunFailed`] if evaluating it raised (a `SyntaxError` for
    /// what is not one expression); [`Error::InvalidValue`] naming the type
    /// of a result that cannot be copied (a file, a generator, an instance
    /// of a class); the errors of [`run`](Self::run) otherwise.
    pub fn eval(&self, expr: &str) -> Result<Value> {
        self.inner.evaluate(RunKind::Eval, expr, Vec::new())
    }

    /// Calls the callable at a dotted name with positional arguments, and
    /// returns its result, copied out as [`eval`](Self::eval)'s is.
    ///
    /// The name's first part is looked up as Python looks up a name in
    /// `__main__` (its globals, then the builtins), the rest by attribute:
    /// `"handle"`, `"json.dumps"` once `json` is imported, `"str.upper"`.
    /// The arguments are copied in: lists and dicts become new objects, and
    /// what the call does to them is not seen here.
    ///
    /// ```
    /// use isolate::Value;
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.create_interpreter()?;
    /// interp.run("def greet(name, times):\n    return [f'hello {name}'] * times")?;
    /// let greeting = interp.call("greet", &["Ada".into(), 2.into()])?;
    /// assert_eq!(greeting, Value::List(vec!["hello Ada".into(), "hello Ada".into()]));
    /// assert_eq!(interp.call("str.upper", &["abc".into()])?, Value::from("ABC"));
    /// # Ok::<(), isolate::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`eval`](Self::eval); a name that is not found raises `NameError`
    /// or `AttributeError` ([`Error::RunFailed`]).
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value> {
        self.call_with(name, args, std::iter::empty::<(String, Value)>())
    }

    /// Like [`call`](Self::call), with keyword arguments too.
    ///
    /// ```
    /// use isolate::Value;
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.create_interpreter()?;
    /// interp.run("import json")?;
    /// let text = interp.call_with("json.dumps", &[Value::List(vec![1.into(), 2.into()])], [("indent", 1.into())])?;
    /// assert_eq!(text, isolate::Value::from("[\n 1,\n 2\n]"));
    /// # Ok::<(), isolate::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); a keyword the callable does not take raises
    /// `TypeError` ([`Error::RunFailed`]).
    pub fn call_with<I, K>(&self, name: &str, args: &[Value], kwargs: I) -> Result<Value>
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        let kwargs: Vec<(Value, Value)> =
            kwargs.into_iter().map(|(key, value)| (Value::Str(key.into()), value)).collect();
        let mut bindings = vec![(String::new(), Message::from_value(&Value::Tuple(args.to_vec()), Copies::Allowed)?)];
        if !kwargs.is_empty() {
            bindings.push((String::new(), Message::from_value(&Value::Dict(kwargs), Copies::Allowed)?));
        }
        self.inner.evaluate(RunKind::Call, name, bindings)
    }

    /// Runs a script's source in `__main__`, as `python FILENAME` would.
    ///
    /// `source` is bytes, decoded as CPython decodes a source file (a BOM or
    /// a `# -*- coding: ... -*-` line, else UTF-8). `filename` becomes
    /// `__file__` and names the script in tracebacks, which show its lines
    /// (except for `<stdin>`, whose lines CPython does not keep either). The
    /// file itself is never opened: the sandbox cannot see the host's files.
    pub fn run_script(&self, filename: &str, source: &[u8]) -> Result<()> {
        // For the interpreters its code creates, which cannot open it.
        self.inner.sandbox.scripts().remember(filename, source);
        self.inner.run(source, filename, Vec::new(), None)
    }

    /// Does what CPython does when a program ends, once the program has
    /// run (`isolate run` calls it after the script, whether it returned,
    /// raised or called `sys.exit`):
    ///
    /// - the exit hooks of `threading` run: an `InterpreterPoolExecutor`
    ///   that was not shut down stops its workers once they ran the tasks
    ///   queued;
    /// - the calls started with `call_in_thread()` and not joined are
    ///   waited for, as CPython waits for threads that are not daemons (an
    ///   uncaught exception of one is printed);
    /// - the `atexit` callbacks run, last registered first; an exception
    ///   in one is printed and the others still run.
    ///
    /// The interpreter stays usable; another `finalize` runs only the
    /// callbacks registered since.
    ///
    /// ```
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.interpreter().stdout(isolate::Output::capture()).build()?;
    /// interp.run("import atexit\natexit.register(print, 'goodbye')")?;
    /// interp.finalize()?;
    /// assert_eq!(interp.take_stdout().text(), "goodbye\n");
    /// # Ok::<(), isolate::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`run`](Self::run): a limit hit while it waits or runs the
    /// callbacks.
    pub fn finalize(&self) -> Result<()> {
        self.inner.evaluate(RunKind::Eval, "__import__('_isolate_driver')._finalize()", Vec::new()).map(drop)
    }

    /// A copy of this interpreter: a new interpreter whose Python state
    /// (its modules, `__main__`, every object) is this one's as it is now,
    /// independent of it from then on. Its memory is this one's pages,
    /// shared copy-on-write, so a fork costs microseconds once this
    /// interpreter's memory was captured (the first fork after a run copies
    /// the pages it has written: see [`snapshot`](Self::snapshot)).
    ///
    /// The fork is what a child is after `os.fork()`:
    /// - it runs the callbacks registered in this interpreter with
    ///   `os.register_at_fork(after_in_child=...)`, after `random` reseeds;
    /// - it has the same `sys.argv`, `os.environ`, grants (folders,
    ///   environment, stdin) and limits, in a sandbox of its own (its own
    ///   memory budget, its own interpreters);
    /// - it holds the same channel ends, as a child holds its parent's file
    ///   descriptors: a message sent to either goes to whichever receives;
    /// - its output goes where this one's goes, except that a captured
    ///   output is captured for the fork on its own
    ///   ([`take_stdout`](Self::take_stdout) of the fork).
    ///
    /// Interpreters that this one's code created are not copied; the fork's
    /// `interpreters.list_all()` holds only itself. While the first fork
    /// after a run copies its pages, the interpreter is busy: a run started
    /// then fails with [`Error::AlreadyRunning`], as during another run.
    /// Forks (and snapshots) from several threads at once wait for each
    /// other's copy instead, and then run in parallel.
    ///
    /// # Errors
    ///
    /// [`Error::CannotCopy`] while the interpreter runs (a copy is taken
    /// between runs) or holds open files (which the copy could not share;
    /// close them first); the error of its death if it was stopped;
    /// [`Error::Destroyed`]; [`Error::LimitExceeded`] if the memory limit
    /// leaves no room for the copy.
    ///
    /// ```
    /// # let runtime = isolate::Runtime::new()?;
    /// let env = runtime.create_interpreter()?;
    /// env.run("import random; handlers = {'double': lambda x: 2 * x}")?;
    /// let fork = env.fork()?;
    /// fork.run("print(handlers['double'](21))")?;
    /// assert_eq!(fork.take_stdout().text(), "42\n");
    /// # Ok::<(), isolate::Error>(())
    /// ```
    pub fn fork(&self) -> Result<Interpreter> {
        Ok(Interpreter { inner: self.inner.fork(None)? })
    }

    /// This interpreter's state as it is now, which interpreters can be
    /// made from ([`InterpreterBuilder::snapshot`]) and which can be saved
    /// to a file ([`Snapshot::save`]) for another process. The first
    /// snapshot or fork after a run copies the pages this interpreter
    /// changed since it was made (a fork after a pandas cell takes about
    /// 6 ms in all), or its whole memory if it wrote more than 16 MiB
    /// (34 ms after `import numpy, pandas`); later ones until the next run
    /// share that copy.
    ///
    /// # Errors
    ///
    /// As [`fork`](Self::fork): [`Error::CannotCopy`] while it runs or
    /// holds open files; the error of its death; [`Error::Destroyed`].
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.inner.snapshot()
    }

    /// True while a run is in progress.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// A handle that cancels this interpreter from any thread, even while
    /// this one is blocked in a run:
    ///
    /// ```
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime.create_interpreter()?;
    /// let handle = interp.cancel_handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(50));
    ///     handle.cancel();
    /// });
    /// let result = interp.run("while True: pass");
    /// assert!(matches!(result, Err(isolate::Error::Cancelled(_))));
    /// # Ok::<(), isolate::Error>(())
    /// ```
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle { interpreter: Arc::downgrade(&self.inner) }
    }

    /// Cancels this interpreter: see [`CancelHandle::cancel`].
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Takes the stdout captured so far (empty unless stdout is captured).
    /// Interpreters created by this one's Python code write to the same place.
    pub fn take_stdout(&self) -> Captured {
        self.inner.stdout.take_captured()
    }

    /// Takes the stderr captured so far (empty unless stderr is captured).
    pub fn take_stderr(&self) -> Captured {
        self.inner.stderr.take_captured()
    }

    /// Destroys the interpreter and frees its memory. The same as dropping it.
    pub fn close(self) {}
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        // Whoever runs it now (an interpreter of its sandbox, on another
        // thread) is stopped, and the drop waits for that: the store is
        // freed before the drop returns.
        self.inner.cancel();
        *lock(&self.inner.state) = State::Destroyed;
        self.inner.forget_with_descendants();
    }
}

impl fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interpreter")
            .field("id", &self.id())
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl InterpreterInner {
    pub(crate) fn id(&self) -> InterpreterId {
        self.id
    }

    /// Its sandbox: the interpreters it may see, the memory it shares.
    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn functions(&self) -> &Functions {
        &self.functions
    }

    /// The channel ends and queues this interpreter holds.
    pub(crate) fn handles(&self) -> &HeldHandles {
        &self.handles
    }

    /// The channel of an end this interpreter holds; `None` for any other.
    pub(crate) fn known_channel(&self, end: HandleId) -> Option<Arc<Channel>> {
        self.handles.channel(end)
    }

    /// Decodes a value this interpreter's guest wrote; the handles it
    /// names must be ones this interpreter holds, and become Rust handles.
    pub(crate) fn decode_held(&self, bytes: &[u8]) -> Result<Value> {
        value::decode(bytes, |end| {
            let held = self.handles.get(end).ok_or(Error::not_found(end))?;
            Ok(value::handle_value(end, held))
        })
    }

    /// Grants the handles named in a value this interpreter was given.
    pub(crate) fn grant(&self, ends: Vec<(HandleId, Held)>) {
        self.handles.grant(ends);
    }

    /// The channels this interpreter holds an end of, each once.
    pub(crate) fn known_channels(&self) -> Vec<Arc<Channel>> {
        self.handles.channels()
    }

    /// A copy of this interpreter: owned by `parent`, in its sandbox and
    /// with its output, if given, else in a sandbox of its own. See
    /// [`Interpreter::fork`].
    pub(crate) fn fork(&self, parent: Option<&Arc<InterpreterInner>>) -> Result<Arc<InterpreterInner>> {
        let snapshot = self.snapshot()?;
        let ends = self.handles.copy();
        let (stdout, stderr) = match parent {
            Some(parent) => (parent.stdout.clone(), parent.stderr.clone()),
            None => (self.stdout.for_fork(), self.stderr.for_fork()),
        };
        let builder = InterpreterBuilder::for_fork(self.runtime.clone(), self, stdout, stderr);
        builder.create_from(parent, &snapshot, None, ends)
    }

    /// This interpreter's state, between runs. See [`Interpreter::snapshot`].
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let refuse = |reason: String| Error::CannotCopy { id: self.id, reason };
        let _copying = lock(&self.copying);
        let _claim = self.claim().map_err(|_| refuse("it is running (a copy is taken between runs)".into()))?;
        let mut state = lock(&self.state);
        let live = match &mut *state {
            State::Live(live) => live,
            State::Dead(death) => return Err(death.error(self.id)),
            State::Destroyed => return Err(Error::Destroyed(self.id)),
        };
        let open = live.store.data().files.descriptors.opened();
        if open > 0 {
            return Err(refuse(format!(
                "it holds {open} open file{}, which a copy cannot share: close {} first",
                if open == 1 { "" } else { "s" },
                if open == 1 { "it" } else { "them" }
            )));
        }
        live.snapshot().map_err(Error::engine)
    }

    pub(crate) fn adopt(&self, child: Arc<InterpreterInner>) {
        lock(&self.children).push(child);
    }

    fn claim(&self) -> Result<Claim<'_>> {
        self.running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| Claim(&self.running))
            .map_err(|_| Error::AlreadyRunning(self.id))
    }

    /// Runs `source` with `bindings` set in `__main__` first.
    ///
    /// The run ends by this interpreter's time limit, or by `outer`, the
    /// deadline of the run that called this one, whichever comes first.
    pub(crate) fn run(
        &self,
        source: &[u8],
        filename: &str,
        bindings: Vec<(String, Message)>,
        outer: Option<Instant>,
    ) -> Result<()> {
        self.execute(RunKind::Exec, source, filename, bindings, outer).map(|_| ())
    }

    /// A PEP 734 exec or call from another interpreter (`Op::InvokeInterpreter`):
    /// the driver takes `request` as its one binding and reports what the
    /// code returned or raised, which comes back checked against what this
    /// interpreter holds.
    pub(crate) fn invoke(&self, request: Message, outer: Option<Instant>) -> Result<Invoked> {
        let reported = self.execute(RunKind::Invoke, b"", STRING_FILENAME, vec![(String::new(), request)], outer)?;
        self.invoked(reported)
    }

    /// What the driver reported for an invoke, checked.
    fn invoked(&self, reported: Option<Vec<u8>>) -> Result<Invoked> {
        let held = |end| self.handles.get(end);
        match reported.as_deref().and_then(<[u8]>::split_first) {
            Some((0, encoded)) => Ok(Invoked::Outcome(Message::from_guest(encoded.to_vec(), Copies::Allowed, held)?)),
            Some((2, value)) if value::format::is_marshal(value) => {
                Ok(Invoked::Returned(Message::from_guest(value.to_vec(), Copies::Allowed, held)?))
            }
            _ => Err(Error::Trapped { id: self.id, reason: "its driver reported no result".into() }),
        }
    }

    /// Evaluates an expression, or calls a callable (`kind`), and returns
    /// the result as a value the Rust program holds.
    fn evaluate(&self, kind: RunKind, source: &str, bindings: Vec<(String, Message)>) -> Result<Value> {
        let Some(bytes) = self.execute(kind, source.as_bytes(), STRING_FILENAME, bindings, None)? else {
            return Err(Error::Trapped { id: self.id, reason: "its driver reported no result".into() });
        };
        match bytes.split_first() {
            Some((0, encoded)) => self.decode_held(encoded),
            Some((1, why)) => Err(Error::InvalidValue(format!(
                "the result cannot be copied out of the interpreter: {}",
                String::from_utf8_lossy(why)
            ))),
            _ => Err(Error::InvalidValue("a malformed result".into())),
        }
    }

    /// Runs a request; an eval's or call's result comes back encoded.
    fn execute(
        &self,
        kind: RunKind,
        source: &[u8],
        filename: &str,
        bindings: Vec<(String, Message)>,
        outer: Option<Instant>,
    ) -> Result<Option<Vec<u8>>> {
        let _claim = self.claim()?;
        self.execute_claimed(kind, source, filename, bindings, outer)
    }

    /// Claims this interpreter for a run another thread will make: it is
    /// running from now on, so that nothing else runs or destroys it in
    /// between (`run_in_thread`, `call_in_thread`).
    pub(crate) fn reserve(self: &Arc<Self>) -> Result<Reserved> {
        std::mem::forget(self.claim()?);
        Ok(Reserved(self.clone()))
    }

    /// `execute`, for a caller that claimed the interpreter.
    fn execute_claimed(
        &self,
        kind: RunKind,
        source: &[u8],
        filename: &str,
        bindings: Vec<(String, Message)>,
        outer: Option<Instant>,
    ) -> Result<Option<Vec<u8>>> {
        let mut state = lock(&self.state);
        if self.cancel.is_set() && matches!(*state, State::Live(_)) {
            return Err(self.kill(&mut state, Death::Cancelled));
        }
        let live = match &mut *state {
            State::Live(live) => live,
            State::Dead(death) => return Err(death.error(self.id)),
            State::Destroyed => return Err(Error::Destroyed(self.id)),
        };
        let request = RunRequest {
            kind,
            source: source.to_vec(),
            filename: filename.to_owned(),
            bindings,
            taken: false,
            setup: None,
        };
        let own = stop::deadline_after(self.limits.timeout);
        let deadline = stop::earlier(own, outer);
        live.store.data_mut().link.set_deadline(deadline);
        if self.runtime.meters_fuel() {
            live.store.set_fuel(self.limits.fuel.unwrap_or(u64::MAX)).map_err(Error::engine)?;
        }

        // A panic in host code the guest called (ours, or a Rust callback
        // such as an output writer) unwinds out of wasmtime; it stops here,
        // and only this interpreter is lost.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            stacker::maybe_grow(limits::STACK_RED_ZONE, limits::STACK_SEGMENT, || live.run(request))
        }));
        live.store.data_mut().link.set_deadline(None);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(panic) => return Err(self.kill(&mut state, Death::Panicked(panic_message(panic.as_ref())))),
        };
        let result = match outcome {
            Ok(RunOutcome::Completed) => Ok(None),
            Ok(RunOutcome::Result(bytes)) => Ok(Some(bytes)),
            Ok(RunOutcome::Exception(chain)) => Err(run_failed(self.id, chain)),
            Ok(RunOutcome::Exit(code)) => Err(Error::SystemExit { code }),
            // The driver that runs code in the guest is the guest's own
            // memory: code that broke it (or exhausted the memory it needs)
            // has broken the interpreter for good.
            Ok(RunOutcome::DriverFailed) => {
                let reason = "its driver failed: the code it ran broke it, or left it no memory".to_owned();
                return Err(self.kill(&mut state, Death::Trap(reason)));
            }
            Err(trap) => {
                let death = self.cause_of_death(&trap, live.store.data(), own, outer);
                return Err(self.kill(&mut state, death));
            }
        };
        // Cancelled as the run ended: the run's result stands, but the
        // interpreter goes all the same.
        if self.cancel.is_set() {
            self.kill(&mut state, Death::Cancelled);
        }
        result
    }

    /// Discards the interpreter's store for `death`, releases its channel
    /// ends, and returns the error every later call will get.
    fn kill(&self, state: &mut MutexGuard<'_, State>, death: Death) -> Error {
        let error = death.error(self.id);
        **state = State::Dead(death);
        // A dead interpreter lets go of its channels at once, and its
        // items in queues are unbound.
        for channel in self.known_channels() {
            channel.forget(Party::Interpreter(self.id));
        }
        self.runtime.unbind_items_of(self.id);
        error
    }

    /// Cancels this interpreter and those its code created; see
    /// [`CancelHandle`]. True the first time.
    pub(crate) fn cancel(&self) -> bool {
        if !self.cancel.set() {
            return false;
        }
        let children = lock(&self.children).clone();
        for child in children {
            child.cancel();
        }
        // One that is idle dies now; one that is running, when its run
        // stops (the run holds the lock).
        if let Ok(mut state) = self.state.try_lock()
            && matches!(*state, State::Live(_))
        {
            self.kill(&mut state, Death::Cancelled);
        }
        true
    }

    fn cause_of_death(
        &self,
        trap: &wasmtime::Error,
        host: &HostState,
        own: Option<Instant>,
        outer: Option<Instant>,
    ) -> Death {
        if self.cancel.is_set() {
            return Death::Cancelled;
        }
        let trap_code = trap.downcast_ref::<Trap>();
        if trap_code == Some(&Trap::StackOverflow) {
            return Death::Limit(Limit::Stack(limits::MAX_WASM_STACK));
        }
        if trap.downcast_ref::<HandleLimit>().is_some() {
            return Death::Limit(Limit::Handles(self.limits.max_handles));
        }
        if trap_code == Some(&Trap::OutOfFuel) {
            return Death::Limit(Limit::Fuel(self.limits.fuel.unwrap_or(u64::MAX)));
        }
        if trap_code == Some(&Trap::Interrupt) {
            // Interrupted at the deadline: name the limit that set it.
            let limit = match (own, outer) {
                (Some(own), Some(outer)) if outer < own => outer_limit(outer),
                (None, Some(outer)) => outer_limit(outer),
                _ => self.limits.timeout.unwrap_or_default(),
            };
            return Death::Limit(Limit::Time(limit));
        }
        if host.limiter.refused() {
            return Death::Limit(Limit::Memory(host.limiter.limit()));
        }
        // The trap's own words, without wasmtime's wasm backtrace.
        Death::Trap(match trap_code {
            Some(code) => code.to_string(),
            None => trap.root_cause().to_string(),
        })
    }

    /// Destroys this interpreter, unless it is running. Its children go too.
    pub(crate) fn destroy(&self) -> Result<()> {
        let claim = self.claim()?;
        let mut state = lock(&self.state);
        // Two destroys at once from two threads: the second finds it done.
        if matches!(*state, State::Destroyed) {
            return Err(Error::Destroyed(self.id));
        }
        *state = State::Destroyed;
        drop(state);
        drop(claim);
        if let Some(parent) = self.parent.upgrade() {
            parent.disown(self.id);
        }
        self.forget_with_descendants();
        Ok(())
    }

    /// Destroys this interpreter and its descendants at once, without
    /// waiting for a claim: one that is running (in a thread of another
    /// interpreter) is cancelled, and freed when its run stops.
    fn destroy_now(&self) {
        self.cancel();
        if let Ok(mut state) = self.state.try_lock() {
            *state = State::Destroyed;
        }
        self.forget_with_descendants();
    }

    fn forget_with_descendants(&self) {
        self.forget();
        // Taken before the loop: a child's destroy takes this lock to
        // disown itself.
        let children = std::mem::take(&mut *lock(&self.children));
        for child in children {
            child.destroy_now();
        }
    }

    /// Removes the interpreter from its sandbox: no id lookup finds it, and
    /// its channel ends are released.
    fn forget(&self) {
        self.sandbox.leave(self.id);
        for channel in self.known_channels() {
            channel.forget(Party::Interpreter(self.id));
        }
        self.runtime.unbind_items_of(self.id);
        // Let go of the channels and queues: one nobody else holds is freed.
        self.handles.clear();
    }

    /// Drops a destroyed child from this interpreter's children.
    fn disown(&self, child: InterpreterId) {
        lock(&self.children).retain(|c| c.id != child);
    }
}

/// What a caught panic said.
/// The time limit an inherited deadline stands for: what was left of the
/// calling run's time, rounded to the tick.
fn outer_limit(outer: Instant) -> Duration {
    let left = outer.saturating_duration_since(Instant::now());
    Duration::from_millis(left.as_millis() as u64)
}

fn run_failed(id: InterpreterId, chain: Vec<ChainNode>) -> Error {
    match PythonException::from_chain(chain) {
        Some(exception) => Error::RunFailed(Box::new(exception)),
        None => Error::Engine(format!("interpreter `{id}` reported an exception without describing it")),
    }
}

/// An interpreter claimed for a run on another thread; see
/// [`InterpreterInner::reserve`]. It stops counting as running when this
/// goes.
pub(crate) struct Reserved(Arc<InterpreterInner>);

impl Reserved {
    /// Runs `source` as [`InterpreterInner::run`] does, with no deadline
    /// but the interpreter's own.
    pub(crate) fn run(&self, source: &[u8], bindings: Vec<(String, Message)>) -> Result<()> {
        self.0.execute_claimed(RunKind::Exec, source, STRING_FILENAME, bindings, None).map(|_| ())
    }

    /// As [`InterpreterInner::invoke`], with no deadline but the
    /// interpreter's own.
    pub(crate) fn invoke(&self, request: Message) -> Result<Invoked> {
        let bindings = vec![(String::new(), request)];
        let reported = self.0.execute_claimed(RunKind::Invoke, b"", STRING_FILENAME, bindings, None)?;
        self.0.invoked(reported)
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// How a PEP 734 invoke ended, as its driver reported it (see
/// `guest/driver.py`, `_invoke`).
pub(crate) enum Invoked {
    /// The encoded outcome: `(0, result)`, `(1, excinfo)` or `(2, why)`.
    Outcome(Message),
    /// A plain value it returned, in `marshal`'s format.
    Returned(Message),
}

impl Invoked {
    /// The caller's answer; the caller now holds what the value names.
    pub(crate) fn answer(self, caller: &InterpreterInner) -> crate::door::Answer {
        use crate::door::Answer;
        match self {
            Invoked::Outcome(message) => {
                caller.grant(message.ends);
                Answer::ok().body(message.bytes)
            }
            // `marshal` carries no handles.
            Invoked::Returned(message) => Answer::plain(message.bytes),
        }
    }
}
