//! The one error type of the crate, and the surrogate of a Python exception.

use std::fmt;
use std::path::PathBuf;

use crate::ids::{ChannelId, HandleId, InterpreterId, QueueId};
use crate::limits::Limit;

/// Everything that can go wrong in `isolate`.
///
/// Match on the variant to learn what happened; the messages are for people.
/// New variants may be added, hence `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Python code raised an exception that it did not catch.
    ///
    /// The interpreter is fine and can run again.
    #[error("python code raised {0}")]
    RunFailed(Box<PythonException>),

    /// Python code raised `SystemExit` (for example by calling `sys.exit`).
    ///
    /// `code` is the status CPython would exit with: `0` for `sys.exit()`,
    /// the integer for `sys.exit(n)`, and `1` for any other argument, which
    /// has then been printed to the interpreter's stderr as CPython does.
    /// The interpreter is fine and can run again.
    #[error("python code exited with status {code}")]
    SystemExit {
        /// The exit status.
        code: i32,
    },

    /// The interpreter was asked to run while it was already running.
    /// Runs never wait for each other.
    #[error("interpreter `{0}` is already running")]
    AlreadyRunning(InterpreterId),

    /// [`Interpreter::fork`](crate::Interpreter::fork) or
    /// [`Interpreter::snapshot`](crate::Interpreter::snapshot) refused: the
    /// interpreter is running (a copy is taken between runs), or holds open
    /// files, which a copy could not share.
    #[error("interpreter `{id}` cannot be copied: {reason}")]
    CannotCopy {
        /// The interpreter asked to fork or to make a snapshot.
        id: InterpreterId,
        /// Why it cannot, now.
        reason: String,
    },

    /// The interpreter hit a limit that Python could not handle (time, fuel,
    /// the native stack, open handles; memory when the guest could not raise
    /// `MemoryError`), so it was stopped and discarded: its channel ends are
    /// released, and every later call on it returns this error again.
    /// Creating an interpreter past its sandbox's memory budget also
    /// returns it.
    #[error("interpreter `{id}` stopped: {limit}")]
    LimitExceeded {
        /// The interpreter.
        id: InterpreterId,
        /// The limit it hit.
        limit: Limit,
    },

    /// The interpreter's WebAssembly instance trapped, so it was discarded.
    /// Every later call on it returns this error again.
    #[error("interpreter `{id}` trapped and was discarded: {reason}")]
    Trapped {
        /// The interpreter that trapped.
        id: InterpreterId,
        /// What the trap was, as wasmtime describes it.
        reason: String,
    },

    /// The interpreter was cancelled with a
    /// [`CancelHandle`](crate::CancelHandle) (or destroyed while it ran), so
    /// it was stopped and discarded. Every later call on it returns this
    /// error again.
    #[error("interpreter `{0}` was cancelled")]
    Cancelled(InterpreterId),

    /// Host code that the interpreter called panicked: a bug of `isolate` or
    /// of a Rust callback (such as an [`Output::writer`](crate::Output::writer)),
    /// never the guest's doing alone. The panic was caught, the interpreter
    /// discarded, and the rest of the process goes on. Every later call on
    /// it returns this error again.
    #[error("interpreter `{id}` was discarded: host code it called panicked: {message}")]
    Panicked {
        /// The interpreter.
        id: InterpreterId,
        /// The panic's message.
        message: String,
    },

    /// No channel with this id is known to the caller.
    #[error("channel `{0}` not found")]
    ChannelNotFound(ChannelId),

    /// The channel is closed.
    #[error("channel `{0}` is closed")]
    ChannelClosed(ChannelId),

    /// The caller released this end of the channel, and may not use it again.
    #[error("channel `{0}` was released")]
    ChannelReleased(ChannelId),

    /// `close` without `force` on a channel with senders waiting.
    #[error("channel `{0}` is not empty")]
    ChannelNotEmpty(ChannelId),

    /// A `try_send` found no receiver waiting; the value was not sent.
    #[error("nothing was waiting to receive on channel `{0}`")]
    NotReceived(ChannelId),

    /// No queue with this id is known to the caller.
    #[error("queue `{0}` not found")]
    QueueNotFound(QueueId),

    /// The queue had no item to take: a `try_get`, or a `get_timeout` whose
    /// time passed.
    #[error("queue `{0}` is empty")]
    QueueEmpty(QueueId),

    /// The queue had no room for the item: a `try_put`, or a `put_timeout`
    /// whose time passed. The item was not put.
    #[error("queue `{0}` is full")]
    QueueFull(QueueId),

    /// The item taken from the queue was put by an interpreter since
    /// destroyed (see [`Unbound`](crate::Unbound)).
    #[error("an item of queue `{0}` was put by an interpreter since destroyed")]
    ItemInterpreterDestroyed(QueueId),

    /// A blocking operation's timeout passed.
    #[error("timed out")]
    Timeout,

    /// An encoded value was malformed (see [`Value`](crate::Value)'s
    /// encoding), or a binding was not shareable.
    #[error("invalid value: {0}")]
    InvalidValue(String),

    /// The interpreter was destroyed (by its creator's code, or with it).
    #[error("interpreter `{0}` was destroyed")]
    Destroyed(InterpreterId),

    /// A directory could not be granted to an interpreter.
    #[error("cannot grant `{}`", path.display())]
    Grant {
        /// The host directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A snapshot file could not be written, or read: missing, not a
    /// snapshot, corrupt or truncated, or made by another build of
    /// isolate's guest.
    #[error("snapshot `{}` cannot be used", path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: std::io::Error,
    },

    /// A folder of the runtime's cache could not be used.
    #[error("cache folder `{}` is unusable", path.display())]
    Cache {
        /// The folder.
        path: PathBuf,
        /// Why it could not be used.
        #[source]
        source: std::io::Error,
    },

    /// A setting that cannot work: a fuel limit on an interpreter of a
    /// runtime that does not meter fuel, for one.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// wasmtime failed to compile, load or instantiate the guest: a problem
    /// of the host or of the embedded guest, not of the Python code.
    #[error("the WebAssembly engine failed: {0}")]
    Engine(String),
}

impl Error {
    /// The error for a handle the caller does not hold.
    pub(crate) fn not_found(handle: HandleId) -> Self {
        match handle {
            HandleId::Recv(id) | HandleId::Send(id) => Error::ChannelNotFound(id),
            HandleId::Queue(id) => Error::QueueNotFound(id),
        }
    }

    pub(crate) fn engine(err: impl fmt::Display) -> Self {
        // `{:#}` keeps wasmtime's chain of contexts on one line.
        Error::Engine(format!("{err:#}"))
    }

    /// The Python exception, if this error is [`Error::RunFailed`].
    pub fn python_exception(&self) -> Option<&PythonException> {
        match self {
            Error::RunFailed(exc) => Some(exc),
            _ => None,
        }
    }
}

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Python exception, described without any live object.
///
/// This is what crosses the sandbox's boundary: names and text, never the
/// exception itself, so nothing of the guest's memory leaks into the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonException {
    type_name: String,
    message: String,
    own_traceback: String,
    cause: Option<Box<PythonException>>,
    context: Option<Box<PythonException>>,
}

/// How an exception relates to the next one down its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainLink {
    /// `__cause__`, from `raise ... from ...`.
    Cause,
    /// `__context__`: raised while the other one was being handled.
    Context,
}

/// One exception of a chain, as the guest reports it.
pub(crate) struct ChainNode {
    pub(crate) type_name: String,
    pub(crate) message: String,
    /// Its own part of the traceback, as CPython prints it.
    pub(crate) traceback: String,
    /// How it relates to the one before it in the chain; `None` for the
    /// first, the exception raised.
    pub(crate) link: Option<ChainLink>,
}

// The separators CPython's `traceback` module prints between the exceptions
// of a chain (`traceback._cause_message` and `_context_message`).
const CAUSE_SEPARATOR: &str = "\nThe above exception was the direct cause of the following exception:\n\n";
const CONTEXT_SEPARATOR: &str = "\nDuring handling of the above exception, another exception occurred:\n\n";

impl PythonException {
    /// Builds the surrogate from the chain the guest reports: the raised
    /// exception first, each next one linked to the one before it.
    pub(crate) fn from_chain(mut nodes: Vec<ChainNode>) -> Option<Self> {
        let mut below: Option<(Box<PythonException>, ChainLink)> = None;
        while let Some(ChainNode { type_name, message, traceback: own_traceback, link }) = nodes.pop() {
            let (mut cause, mut context) = (None, None);
            match below.take() {
                Some((exc, ChainLink::Cause)) => cause = Some(exc),
                Some((exc, ChainLink::Context)) => context = Some(exc),
                None => {}
            }
            let exc = Box::new(PythonException { type_name, message, own_traceback, cause, context });
            match link {
                Some(link) => below = Some((exc, link)),
                // The first node: the raised exception.
                None => return Some(*exc),
            }
        }
        None
    }

    /// The exception type's name as CPython prints it: the qualified name,
    /// prefixed by its module unless that is `builtins` or `__main__`
    /// (`ZeroDivisionError`, `json.decoder.JSONDecodeError`).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// `str(exception)`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The report CPython prints for this exception when nothing catches it:
    /// its `__cause__`/`__context__` chain first, then the traceback and the
    /// final `Type: message` line.
    pub fn traceback(&self) -> String {
        let mut report = String::new();
        self.write_report(&mut report);
        report
    }

    fn write_report(&self, report: &mut String) {
        if let Some(cause) = &self.cause {
            cause.write_report(report);
            report.push_str(CAUSE_SEPARATOR);
        } else if let Some(context) = &self.context {
            context.write_report(report);
            report.push_str(CONTEXT_SEPARATOR);
        }
        report.push_str(&self.own_traceback);
    }

    /// This exception's own part of [`traceback`](Self::traceback), without
    /// its chain.
    pub fn own_traceback(&self) -> &str {
        &self.own_traceback
    }

    /// `__cause__`: the exception named in `raise ... from cause`.
    pub fn cause(&self) -> Option<&PythonException> {
        self.cause.as_deref()
    }

    /// `__context__`, when CPython prints it: the exception that was being
    /// handled when this one was raised, unless a cause suppressed it.
    pub fn context(&self) -> Option<&PythonException> {
        self.context.as_deref()
    }
}

impl fmt::Display for PythonException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "`{}`", self.type_name)
        } else {
            write!(f, "`{}`: {}", self.type_name, self.message)
        }
    }
}

impl std::error::Error for PythonException {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match (&self.cause, &self.context) {
            (Some(cause), _) => Some(cause.as_ref()),
            (None, Some(context)) => Some(context.as_ref()),
            (None, None) => None,
        }
    }
}

/// What a panic said, from its payload (`catch_unwind`'s error).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(message), _) => (*message).to_owned(),
        (_, Some(message)) => message.clone(),
        _ => "a panic without a message".to_owned(),
    }
}
