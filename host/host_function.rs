//! Host functions: Rust closures an interpreter's Python code calls as
//! `from host import tools; tools.NAME(*args)`
//! ([`InterpreterBuilder::function`](crate::InterpreterBuilder::function)).
//!
//! A call runs on a worker thread of the runtime's, not on the run's own:
//! the run waits for it, and gives up at its deadline or when it is
//! cancelled, while the function runs on and its result is dropped (a
//! closure cannot be interrupted). Workers are kept for the next calls; a
//! worker still busy with an abandoned call is not reused until it is done.
//! A panic in a function is caught on its worker and reaches Python as the
//! function's error.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result, panic_message};
use crate::sync::{self, Spun, lock};
use crate::value::Value;

/// A host function as the builder takes it.
pub(crate) type HostFn = dyn Fn(&[Value]) -> std::result::Result<Value, String> + Send + Sync + 'static;

/// The functions one interpreter may call, by name.
#[derive(Clone, Default)]
pub(crate) struct Functions {
    by_name: BTreeMap<String, Arc<HostFn>>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.by_name.keys()).finish()
    }
}

impl Functions {
    /// Adds one (a later one of the same name replaces it).
    pub(crate) fn insert(&mut self, name: String, function: Arc<HostFn>) {
        self.by_name.insert(name, function);
    }

    /// Refuses a name that Python could not spell as an attribute
    /// (`tools.NAME`).
    pub(crate) fn check(&self) -> Result<()> {
        for name in self.by_name.keys() {
            let mut chars = name.chars();
            let valid = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
                && !name.starts_with("__");
            if !valid {
                return Err(Error::Config(format!(
                    "a host function's name must be a Python identifier not starting with `__`, not {name:?}"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<HostFn>> {
        self.by_name.get(name)
    }
}

/// What a call's wait ended with.
pub(crate) enum Called {
    Returned(std::result::Result<Value, String>),
    /// The run's deadline passed or it was cancelled: the function runs on.
    Interrupted,
}

type Job = Box<dyn FnOnce() + Send>;

/// The runtime's idle workers for host functions.
#[derive(Default)]
pub(crate) struct Workers {
    idle: Mutex<Vec<Sender<Job>>>,
}

/// How often a waiting run checks whether it must stop.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// Workers kept idle at most; more are let go when their call ends.
const MAX_IDLE: usize = 16;

impl Workers {
    /// Calls `function` with `args` on a worker and waits for it, checking
    /// `must_stop` every few milliseconds.
    pub(crate) fn call(
        self: &Arc<Self>,
        name: &str,
        function: Arc<HostFn>,
        args: Vec<Value>,
        must_stop: impl Fn() -> bool,
    ) -> Result<Called> {
        let (reply, result) = mpsc::channel();
        let name = name.to_owned();
        let job: Job = Box::new(move || {
            let returned = panic::catch_unwind(AssertUnwindSafe(|| function(&args))).unwrap_or_else(|panic| {
                Err(format!("host function `{name}` panicked: {}", panic_message(panic.as_ref())))
            });
            let _ = reply.send(returned);
        });
        self.dispatch(job)?;
        wait(&result, must_stop)
    }

    fn dispatch(self: &Arc<Self>, job: Job) -> Result<()> {
        let idle = lock(&self.idle).pop();
        let job = match idle {
            Some(worker) => match worker.send(job) {
                Ok(()) => return Ok(()),
                // The worker is gone (its thread ended): start another.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, jobs) = mpsc::channel::<Job>();
        let workers = Arc::downgrade(self);
        let worker = sender.clone();
        std::thread::Builder::new()
            .name("isolate-host-fn".into())
            .spawn(move || serve(jobs, worker, workers))
            .map_err(|err| Error::Engine(format!("cannot start a thread for a host function: {err}")))?;
        sender.send(job).map_err(|_| Error::Engine("a host function's thread ended at once".into()))
    }
}

/// A worker: runs jobs, and after each one offers itself again (unless
/// enough are idle, or the runtime is gone).
fn serve(jobs: Receiver<Job>, me: Sender<Job>, workers: std::sync::Weak<Workers>) {
    while let Some(job) = spin_then_block(|| jobs.try_recv().ok(), || jobs.recv().ok()) {
        job();
        let Some(workers) = workers.upgrade() else { return };
        let mut idle = lock(&workers.idle);
        if idle.len() >= MAX_IDLE {
            return;
        }
        idle.push(me.clone());
    }
}

fn wait(result: &Receiver<std::result::Result<Value, String>>, must_stop: impl Fn() -> bool) -> Result<Called> {
    // Most functions answer in microseconds: waking a blocked thread costs
    // more than that on a busy machine.
    if let Some(returned) = spin_then_block(|| result.try_recv().ok(), || None) {
        return Ok(Called::Returned(returned));
    }
    loop {
        if must_stop() {
            return Ok(Called::Interrupted);
        }
        match result.recv_timeout(CHECK_EVERY) {
            Ok(returned) => return Ok(Called::Returned(returned)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Ok(Called::Returned(Err("the host function's thread ended without an answer".into())));
            }
        }
    }
}

/// `ready()` as soon as it has something, for as long as a wait spins
/// ([`sync::spin`]); then `block()`.
fn spin_then_block<T>(mut ready: impl FnMut() -> Option<T>, block: impl FnOnce() -> Option<T>) -> Option<T> {
    match sync::spin(&mut ready, None) {
        Spun::Ready(value) => Some(value),
        Spun::Passed | Spun::Tired => ready().or_else(block),
    }
}
