//! Configuring and creating an interpreter: its grants, limits and output,
//! its store, and the boot of its guest.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::handles::HeldHandles;
use super::instance::Live;
use super::sandbox::Sandbox;
use super::snapshot::Snapshot;
use super::store::{GuestLink, HostState};
use super::{Interpreter, InterpreterInner, State};
use crate::error::{Error, Result};
use crate::grants::{DirAccess, Grants, Stdin};
use crate::guest;
use crate::hash_seed::{HashSeed, PendingSecret};
use crate::host_function::Functions;
use crate::limits::{self, Limit, Limits, MemoryBudget, MemoryLimiter};
use crate::memory_image::MemoryImage;
use crate::output::Output;
use crate::runtime::Runtime;
use crate::stop::{CancelFlag, Stop};
use crate::sync::lock;
use crate::tripwire::{Interruption, Tripwire};
use crate::value::{self, Value};
use crate::wasi::{Files, TmpFolder};

/// Configures and creates an [`Interpreter`]; from [`Runtime::interpreter`].
///
/// By default an interpreter:
/// - captures stdout and stderr, up to
///   [`DEFAULT_CAPTURE_LIMIT`](crate::DEFAULT_CAPTURE_LIMIT) bytes each;
/// - has `sys.argv == [""]`, as an embedded CPython does;
/// - sees no host files (only its own read-only stdlib under `/usr/local/lib`), no
///   environment variables, no stdin (reads get end of file) and no network;
///   [`preopened_dir`](Self::preopened_dir), [`env`](Self::env),
///   [`stdin`](Self::stdin) and [`inherit_stdin`](Self::inherit_stdin) each
///   grant one thing, to this interpreter only (not to those it creates);
/// - has a private, empty `/tmp` in memory ([`tmp_size`](Self::tmp_size)),
///   `/dev/null` and `/dev/urandom`, and starts in `/`, which lists what it
///   has ([`working_dir`](Self::working_dir));
/// - holds no channel ends but those it creates or is given.
#[derive(Debug)]
pub struct InterpreterBuilder {
    runtime: Runtime,
    argv: Vec<String>,
    stdout: Output,
    stderr: Output,
    limits: Limits,
    grants: Grants,
    /// What it starts as: the runtime's template if none.
    snapshot: Option<Snapshot>,
    /// The host functions its code may call (names checked at build).
    functions: Functions,
    /// Whether the interpreters its code creates get them too.
    share_functions: bool,
    /// For a fork into a sandbox of its own: the original's `/tmp`, copied.
    tmp_of: Option<Arc<Mutex<TmpFolder>>>,
}

impl InterpreterBuilder {
    pub(crate) fn new(runtime: Runtime) -> Self {
        InterpreterBuilder {
            runtime,
            argv: vec![String::new()],
            stdout: Output::capture(),
            stderr: Output::capture(),
            limits: Limits::default(),
            grants: Grants::default(),
            snapshot: None,
            functions: Functions::default(),
            share_functions: false,
            tmp_of: None,
        }
    }

    /// Gives the interpreter a function of the host program to call:
    /// Python reaches it as `from host import tools` and `tools.NAME(*args)`.
    ///
    /// `f` gets copies of the positional arguments and returns the result,
    /// copied into the interpreter; an `Err(message)`, or a panic in `f`,
    /// raises `host.ToolError` with the message there, and the interpreter
    /// goes on. A call counts against the run's time limit, and
    /// cancelling the interpreter ends the run while `f` runs on (on a
    /// thread of the runtime's) and its result is dropped.
    ///
    /// Only this interpreter gets it, not those its code creates, unless
    /// [`share_functions`](Self::share_functions) says so; its forks do.
    ///
    /// ```
    /// use isolate::Value;
    /// # let runtime = isolate::Runtime::new()?;
    /// let interp = runtime
    ///     .interpreter()
    ///     .function("get_setting", |args| match args {
    ///         [Value::Str(key)] if key == "greeting" => Ok("hello".into()),
    ///         _ => Err(format!("no setting {args:?}")),
    ///     })
    ///     .build()?;
    /// interp.run("from host import tools\nprint(tools.get_setting('greeting'))")?;
    /// assert_eq!(interp.take_stdout().text(), "hello\n");
    /// # Ok::<(), isolate::Error>(())
    /// ```
    ///
    /// The name must be a Python identifier not starting with `__`; another
    /// is [`Error::Config`] when the interpreter is built.
    pub fn function<F>(mut self, name: impl Into<String>, f: F) -> Self
    where
        F: Fn(&[Value]) -> std::result::Result<Value, String> + Send + Sync + 'static,
    {
        self.functions.insert(name.into(), Arc::new(f));
        self
    }

    /// Whether the interpreters this one's code creates (with
    /// `interpreters.create()`) get its host functions too. By default
    /// they do not.
    pub fn share_functions(mut self, share: bool) -> Self {
        self.share_functions = share;
        self
    }

    /// Starts the interpreter as a copy of `snapshot`'s state, rather than
    /// as a new interpreter: what that interpreter's code imported and
    /// defined is there. Its grants, limits, output, `sys.argv` and
    /// `os.environ` are this builder's; as after `os.fork()`, the callbacks
    /// registered with `os.register_at_fork(after_in_child=...)` run before
    /// its first code, once `random` is reseeded.
    pub fn snapshot(mut self, snapshot: &Snapshot) -> Self {
        self.snapshot = Some(snapshot.clone());
        self
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

    /// Grants the host directory `host` at `guest` inside the sandbox (an
    /// absolute path such as `/data`; relative paths in Python resolve from
    /// `/`). Nothing outside it is reachable through it: not with `..`, nor
    /// an absolute path, nor a symlink pointing out.
    pub fn preopened_dir(mut self, host: impl Into<PathBuf>, guest: impl Into<String>, access: DirAccess) -> Self {
        self.grants.dirs.push((host.into(), guest.into(), access));
        self
    }

    /// Starts the interpreter in the folder `dir` of the sandbox (an absolute
    /// path), as `docker run --workdir` does: `os.getcwd()` is `dir`, and
    /// relative paths resolve from it. It must be `/`, `/tmp`, or a folder
    /// inside a granted one (checked at `build`: [`Error::Config`]
    /// otherwise). By default an interpreter starts in `/`, and one made
    /// from a snapshot or a fork in the folder its original was in.
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.grants.working_dir = Some(dir.into());
        self
    }

    /// Caps the sandbox's `/tmp`, in bytes: a private folder in the host's
    /// memory, empty at first, shared by the interpreters of one sandbox
    /// and gone with them. Its files' contents count, and 256 bytes for
    /// each file and folder; a write past the cap fails as on a full disk
    /// (`OSError: [Errno 51] No space left on device`). By default
    /// [`DEFAULT_TMP_SIZE`](crate::DEFAULT_TMP_SIZE) (64 MiB); 0 leaves it
    /// empty and read-only in effect. A fork into a sandbox of its own
    /// ([`Interpreter::fork`]) gets a copy of its original's `/tmp` (the
    /// files shared until either side writes); an interpreter made from a
    /// [`Snapshot`] gets an empty one, as a snapshot holds no files. It is
    /// not counted in [`memory_limit`](Self::memory_limit).
    pub fn tmp_size(mut self, bytes: usize) -> Self {
        self.limits.tmp_size = bytes;
        self
    }

    /// Grants the host folder `host` read-only at its own absolute path and
    /// puts it at the front of `sys.path` (in the order of the calls), as
    /// `PYTHONPATH` would: pure-Python packages, or a project's source
    /// tree. Unlike other grants, the interpreters its code creates (PEP
    /// 554's and 734's, an `InterpreterPoolExecutor`'s workers) get it too,
    /// so that they import the same modules. Fails at `build` if the path
    /// is not valid UTF-8.
    pub fn module_path(mut self, host: impl Into<PathBuf>) -> Self {
        let host = host.into();
        let host = std::path::absolute(&host).unwrap_or(host);
        let guest = host.to_string_lossy().into_owned();
        self.grants.module_paths.push((host, guest));
        self
    }

    /// Sets one environment variable in `os.environ`. By default there are
    /// none.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.grants.env.push((key.into(), value.into()));
        self
    }

    /// Gives the interpreter these bytes as its stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.grants.stdin = Stdin::Bytes(bytes.into());
        self
    }

    /// Gives the interpreter this process's stdin.
    pub fn inherit_stdin(mut self) -> Self {
        self.grants.stdin = Stdin::Inherit;
        self
    }

    /// Caps the interpreter's memory, in bytes: all of its store, not each
    /// linear memory, and the interpreters its Python code creates share
    /// the same budget (so a script cannot multiply it by creating more).
    /// When an allocation would pass it, Python raises `MemoryError` if it
    /// can; if the guest cannot recover, the interpreter stops with
    /// [`Error::LimitExceeded`]. By default
    /// [`DEFAULT_MEMORY_LIMIT`](crate::DEFAULT_MEMORY_LIMIT) (4 GiB), of
    /// which each interpreter takes 40 MiB from its start.
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.limits.memory = bytes;
        self
    }

    /// Limits each run's wall-clock time. A run still going at the limit is
    /// stopped, whatever the code does (catching `BaseException` included),
    /// and the interpreter is discarded: [`Error::LimitExceeded`]. Waits on
    /// channels and joins end at the limit too. By default there is none.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = Some(timeout);
        self
    }

    /// Caps how many interpreters this one's Python code may have alive at
    /// once; `interpreters.create()` past it raises `RuntimeError` naming
    /// the limit. By default
    /// [`DEFAULT_MAX_INTERPRETERS`](crate::DEFAULT_MAX_INTERPRETERS) (64).
    pub fn max_interpreters(mut self, count: usize) -> Self {
        self.limits.max_interpreters = count;
        self
    }

    /// Caps the files and directories the interpreter holds open at once
    /// (each one a file descriptor of this process; the stdlib's and the
    /// granted folders' own handles do not count). Past it the interpreter
    /// is stopped and discarded:
    /// [`Error::LimitExceeded`] with [`Limit::Handles`]. By default
    /// [`DEFAULT_MAX_HANDLES`](crate::DEFAULT_MAX_HANDLES) (1,024).
    ///
    /// The cap is per interpreter: a sandbox whose code creates interpreters
    /// may hold `max_interpreters + 1` times as many, which the process's
    /// limit on open files (`ulimit -n`) should allow for.
    pub fn max_handles(mut self, count: usize) -> Self {
        self.limits.max_handles = count;
        self
    }

    /// Gives each run a budget of `fuel`, a deterministic count of
    /// WebAssembly instructions (roughly): the same code with the same input
    /// stops at the same point on every machine, which a time limit does
    /// not promise. A run that uses it all is stopped and the interpreter
    /// discarded: [`Error::LimitExceeded`] with [`Limit::Fuel`]. Host calls
    /// (channels, output, sleeps) cost none. Needs a runtime built with
    /// [`RuntimeBuilder::fuel`](crate::RuntimeBuilder::fuel); by default
    /// there is no budget.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.limits.fuel = Some(fuel);
        self
    }

    /// Creates the interpreter.
    pub fn build(self) -> Result<Interpreter> {
        Ok(Interpreter { inner: self.create(None)? })
    }

    /// Creates an interpreter, the child of `parent` if given: a copy of the
    /// runtime's template (a booted interpreter nothing ran in), made this
    /// builder's own.
    pub(crate) fn create(mut self, parent: Option<&Arc<InterpreterInner>>) -> Result<Arc<InterpreterInner>> {
        self.functions.check()?;
        if self.limits.fuel.is_some() && !self.runtime.meters_fuel() {
            return Err(Error::Config("a fuel limit needs a runtime built with `RuntimeBuilder::fuel(true)`".into()));
        }
        // What `os.environ` would refuse, refused here, where it is the
        // program's mistake.
        for (key, value) in &self.grants.env {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return Err(Error::Config(format!(
                    "invalid environment variable {key:?}: a name is not empty and has no `=` or NUL, a value no NUL"
                )));
            }
        }
        if let Some((host, _)) = self.grants.module_paths.iter().find(|(host, _)| host.to_str().is_none()) {
            return Err(Error::Config(format!(
                "module path {}: not a UTF-8 path, which `sys.path` cannot name",
                host.display()
            )));
        }
        let template = match &self.snapshot {
            Some(snapshot) => snapshot.clone(),
            None => {
                // Resolved once: the interpreters its code creates inherit it.
                let seed = self.grants.hash_seed()?;
                self.grants.hash_seed = Some(seed);
                self.runtime.template(seed)?
            }
        };
        let argv = Value::Tuple(self.argv.iter().map(|arg| Value::from(arg.as_str())).collect());
        let environ =
            self.grants.env.iter().map(|(key, value)| Value::Tuple(vec![key.as_str().into(), value.as_str().into()]));
        let module_paths = self.grants.module_paths.iter().map(|(_, guest)| Value::from(guest.as_str())).collect();
        let scripts = parent.map_or_else(|| Value::Tuple(Vec::new()), |parent| parent.sandbox().scripts().to_value());
        let files = self.runtime.guest_files();
        let working_dir = self.grants.checked_working_dir(&[
            (&files.lib, guest::STDLIB_GUEST_DIR),
            (&files.mpl_config, guest::MPL_CONFIG_GUEST_PATH),
        ])?;
        let working_dir = working_dir.map_or(Value::None, Value::from);
        let settings =
            Value::Tuple(vec![argv, Value::Tuple(environ.collect()), Value::Tuple(module_paths), scripts, working_dir]);
        self.create_from(parent, &template, Some(&settings), HeldHandles::default())
    }

    /// Creates an interpreter whose state is a copy of `snapshot`'s, owned
    /// by `parent` and in its sandbox if given (else in a sandbox of its
    /// own), holding the
    /// channel ends `ends`; `settings` are its `(argv, environ,
    /// module_paths, scripts, working_dir)`, if it does not keep the snapshot's
    /// ([`Live::copy`]).
    pub(crate) fn create_from(
        self,
        parent: Option<&Arc<InterpreterInner>>,
        snapshot: &Snapshot,
        settings: Option<&Value>,
        handles: HeldHandles,
    ) -> Result<Arc<InterpreterInner>> {
        let runtime = self.runtime.clone();
        let id = runtime.next_interpreter_id();
        let cancel = Arc::new(CancelFlag::default());
        // A sandbox's interpreters share one memory budget.
        let sandbox = match parent {
            Some(parent) => parent.sandbox().clone(),
            None => {
                let tmp = match &self.tmp_of {
                    Some(original) => lock(original).copy(),
                    None => TmpFolder::new(self.limits.tmp_size),
                };
                Sandbox::new(id, self.limits.memory, tmp)
            }
        };
        let budget = sandbox.memory_budget().clone();
        let store = self.store(&budget, sandbox.tmp(), &cancel, None)?;
        let settings = settings.map(value::encode);
        let live = Live::copy(store, runtime.pre(), snapshot, settings).map_err(|(store, err)| {
            // Out of memory here is the sandbox's budget, spent by the others.
            if store.data().limiter.refused() {
                Error::LimitExceeded { id, limit: Limit::Memory(budget.limit()) }
            } else {
                Error::engine(err)
            }
        })?;

        let inner = Arc::new(InterpreterInner {
            id,
            sandbox,
            parent: parent.map_or_else(Weak::new, Arc::downgrade),
            runtime: runtime.clone(),
            state: Mutex::new(State::Live(Box::new(live))),
            running: AtomicBool::new(false),
            copying: Mutex::new(()),
            stdout: self.stdout,
            stderr: self.stderr,
            limits: self.limits,
            functions: self.functions,
            share_functions: self.share_functions,
            grants: self.grants,
            cancel,
            children: Mutex::new(Vec::new()),
            handles,
        });
        // The store's host calls reach their interpreter through a weak
        // reference: the interpreter owns the store, not the other way.
        if let State::Live(live) = &mut *lock(&inner.state) {
            live.store.data_mut().link.set_interpreter(Arc::downgrade(&inner));
        }
        inner.sandbox().join(&inner);
        Ok(inner)
    }

    /// A store for a new interpreter of this builder's: its WASI context
    /// (output, grants, the guest's own files), the secret its first draws
    /// get if any, its limits, and the checks that stop a run.
    fn store(
        &self,
        budget: &Arc<MemoryBudget>,
        tmp: &Arc<Mutex<TmpFolder>>,
        cancel: &Arc<CancelFlag>,
        secret: Option<PendingSecret>,
    ) -> Result<Store<HostState>> {
        let runtime = &self.runtime;
        let mut wasi = WasiCtxBuilder::new();
        // File operations run on the calling thread: the guest is blocked
        // on them anyway, and handing each to a thread pool and back cost
        // about 0.4 ms per `stat` and 27 ms to list the stdlib's folder,
        // most of the time of a first `import json`.
        wasi.allow_blocking_current_thread(true);
        self.stdout.attach_stdout(&mut wasi);
        self.stderr.attach_stderr(&mut wasi);
        self.grants.apply(&mut wasi)?;
        let files = runtime.guest_files();
        for (host, guest) in [
            (&files.lib, guest::STDLIB_GUEST_DIR),
            (&files.mpl_data, guest::MPL_DATA_GUEST_PATH),
            (&files.mpl_config, guest::MPL_CONFIG_GUEST_PATH),
        ] {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(|err| Error::Cache { path: host.clone(), source: std::io::Error::other(err) })?;
        }
        let mut wasi = wasi.build_p1();
        let files = Files::new(&mut wasi, tmp.clone(), self.limits.max_handles);
        let tripwire = Tripwire::new(runtime.code_range(), cancel.clone());
        let state = HostState {
            wasi,
            files,
            limiter: MemoryLimiter::new(budget.clone()),
            link: GuestLink::new(runtime.clone(), Stop::new(cancel.clone(), tripwire.clone()), self.argv.clone()),
            runs: Default::default(),
            staging: Default::default(),
            exports: None,
            pending_secret: secret,
        };
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if runtime.meters_fuel() {
            // Setting up is not the guest's doing: runs get their budget.
            store.set_fuel(u64::MAX).map_err(Error::engine)?;
        }
        match runtime.interruption() {
            // The runtime's ticker revokes the memory of a guest that must
            // stop; the hook keeps host calls from finding it revoked.
            Interruption::Revocation => {
                let hook = tripwire.clone();
                store.call_hook(move |_, call| hook.on_call(call));
                tripwire.install(&mut store);
                runtime.watch(&tripwire);
            }
            // Every epoch tick, a running guest checks whether it must
            // stop: its run's deadline passed, or it was cancelled. A few
            // hundred calls a second; the deadline itself is exact, not
            // counted in ticks.
            Interruption::Epoch => {
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(|store| {
                    if store.data().link.stop().must_stop() {
                        Err(Trap::Interrupt.into())
                    } else {
                        Ok(UpdateDeadline::Continue(1))
                    }
                });
            }
        }
        Ok(store)
    }

    /// Boots one of the runtime's templates: a new guest whose memory starts
    /// as the module's (`image`), its hash secret drawn as `seed` says,
    /// with the driver loaded and nothing run. Every interpreter is then a
    /// copy of one.
    pub(crate) fn boot_template(runtime: &Runtime, image: &Arc<MemoryImage>, seed: HashSeed) -> Result<Snapshot> {
        let builder = InterpreterBuilder::new(runtime.clone()).stdout(Output::discard()).stderr(Output::discard());
        let budget = Arc::new(MemoryBudget::new(usize::MAX));
        let cancel = Arc::new(CancelFlag::default());
        let tmp = Arc::new(Mutex::new(TmpFolder::new(0)));
        let boot = |store| {
            stacker::maybe_grow(limits::STACK_RED_ZONE, limits::STACK_SEGMENT, || {
                Live::boot(store, runtime.pre(), image)
            })
        };
        let mut live = boot(builder.store(&budget, &tmp, &cancel, seed.pending_secret())?);
        if live.is_err() && runtime.forget_driver_code() {
            // The driver's compiled code, kept in the cache, did not boot
            // (a damaged file): boot from the sources, which compiles and
            // keeps it anew.
            live = boot(builder.store(&budget, &tmp, &cancel, seed.pending_secret())?);
        }
        let mut live = live.map_err(|(_, err)| Error::engine(err))?;
        live.flat_snapshot().map_err(Error::engine)
    }

    /// A builder for a fork of `original`: `argv` is unused (a fork keeps
    /// its original's); the same limits, grants and host functions.
    pub(crate) fn for_fork(runtime: Runtime, original: &InterpreterInner, stdout: Output, stderr: Output) -> Self {
        InterpreterBuilder {
            runtime,
            argv: Vec::new(),
            stdout,
            stderr,
            limits: original.limits,
            grants: original.grants.clone(),
            snapshot: None,
            functions: original.functions().clone(),
            share_functions: original.share_functions,
            tmp_of: Some(original.sandbox().tmp().clone()),
        }
    }

    /// A builder for an interpreter created by `parent`'s code: its output
    /// goes where its creator's goes, and it has the same limits.
    pub(crate) fn for_child(runtime: Runtime, parent: &InterpreterInner) -> Self {
        InterpreterBuilder {
            runtime,
            argv: vec![String::new()],
            stdout: parent.stdout.clone(),
            stderr: parent.stderr.clone(),
            limits: parent.limits,
            // Deny by default: what the host granted the creator is its own,
            // but for the folders its modules come from.
            grants: parent.grants.for_child(),
            snapshot: None,
            // Its host functions, only if its builder said so.
            functions: if parent.share_functions { parent.functions().clone() } else { Functions::default() },
            share_functions: parent.share_functions,
            tmp_of: None,
        }
    }
}
