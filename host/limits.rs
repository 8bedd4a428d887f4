//! Per-interpreter limits: memory, wall-clock time, stack, fuel, interpreters
//! created.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

use crate::tripwire::Tripwires;

/// The default cap on a sandbox's memory: 4 GiB, for the interpreter the
/// host created and those its code creates, together.
///
/// How it counts: every byte of every linear memory, from the moment it
/// exists. An interpreter's memory starts at 40 MiB (a 16 MiB stack and
/// the started interpreter's data), and all of it is charged at creation
/// (a fork is charged its original's whole memory), although most of it
/// stays shared with the template it was copied from: the guest could write to
/// every page, and each page written is a copy the host commits. The
/// charge is therefore a bound on what a sandbox can make the host commit,
/// not an estimate. 4 GiB lets a sandbox hold its 64 interpreters (2.6 GiB
/// at rest) with room for real work, while a guest that allocates without
/// end stops long before a machine's memory does.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The default cap on the interpreters a sandbox's Python code may have
/// alive at once (created with `interpreters.create()`): 64.
///
/// Each one is a full interpreter, taking 40 MiB of the sandbox's memory
/// budget (see [`DEFAULT_MEMORY_LIMIT`]); the cap also bounds the host
/// threads and handles a sandbox can hold.
pub const DEFAULT_MAX_INTERPRETERS: usize = 64;

/// The default cap on the files and directories an interpreter may hold
/// open at once: 1,024, the soft limit on open files that most Linux
/// systems give a process.
///
/// Every open file and directory of the guest is a file descriptor of the
/// host process: without a cap, one interpreter opening files in a loop
/// took all of them (19,990 of the process's 20,000), and every other
/// interpreter, and the host, could open nothing more.
pub const DEFAULT_MAX_HANDLES: usize = 1024;

/// The default cap of a sandbox's `/tmp`, in bytes:
/// [`InterpreterBuilder::tmp_size`](crate::InterpreterBuilder::tmp_size).
pub const DEFAULT_TMP_SIZE: usize = 64 << 20;

/// How many open channels an interpreter may hold ends of at once. Each
/// costs the host a few hundred bytes outside the guest's memory limit:
/// without a cap, a loop of `create_channel()` took 525 MB of the host's
/// memory in nine seconds.
pub(crate) const MAX_CHANNELS: usize = 4096;

/// How many runs started with `run_in_thread()` and never joined an
/// interpreter keeps the results of; past it, the oldest finished ones are
/// dropped (their `join()` then fails).
pub(crate) const MAX_UNJOINED_RUNS: usize = 256;

/// The largest table a guest may grow to, in elements. The guest's own table
/// has 47,157 entries and never grows; growth far beyond is no legitimate use.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The native stack a guest's WebAssembly may use, per call into it.
///
/// CPython guards its C recursion by the guest's own (shadow) stack, but
/// wasm frames live on the native stack too. build.rs makes the shadow
/// stack a measure of the native one (`build/stack_guard.rs`): every
/// recursion measured there raises `RecursionError` at most 1.85 MiB deep
/// in this stack, and the rest is for what runs after. 4 MiB, because a call
/// into a guest needs this much native stack and more: with 8 MiB it never
/// fit on a main thread's 8 MiB stack, and every run paid ~15 µs for a new
/// stack segment (`run("x = 1")` 17.8 µs instead of the figure below).
pub(crate) const MAX_WASM_STACK: usize = 4 << 20;

// The native stacks, all sized from `MAX_WASM_STACK`.

/// Native stack a call into a guest needs at least: wasmtime lets wasm use
/// [`MAX_WASM_STACK`], and the host calls it makes run below that. With
/// less left, the call runs on a new stack segment.
///
/// Without this, a guest whose runs nest (A runs B runs C ...) enters store
/// after store on one thread, and each entry gets its own wasm stack: about
/// 1,270 levels of 512 KiB overflowed the 8 MiB main thread and aborted the
/// host.
pub(crate) const STACK_RED_ZONE: usize = MAX_WASM_STACK + (1 << 20);

/// The size of each new stack segment: several nested runs' worth.
pub(crate) const STACK_SEGMENT: usize = 4 * STACK_RED_ZONE;

/// Stack size of the threads runs on threads of their own start on: room
/// for one call into a guest without a new stack segment.
pub(crate) const RUN_THREAD_STACK: usize = MAX_WASM_STACK + (4 << 20);

/// The stack wasmtime gives an async call into a guest.
pub(crate) const ASYNC_STACK: usize = STACK_RED_ZONE;

/// How often the engine's epoch advances, or the ticker checks the
/// tripwires: the resolution of time limits.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The limits of one interpreter. Interpreters created by its Python code
/// get the same limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) memory: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_interpreters: usize,
    /// Fuel per run, if the runtime meters it.
    pub(crate) fuel: Option<u64>,
    pub(crate) max_handles: usize,
    /// The cap of the sandbox's `/tmp`, in bytes.
    pub(crate) tmp_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY_LIMIT,
            timeout: None,
            max_interpreters: DEFAULT_MAX_INTERPRETERS,
            fuel: None,
            max_handles: DEFAULT_MAX_HANDLES,
            tmp_size: DEFAULT_TMP_SIZE,
        }
    }
}

/// Which limit an interpreter hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The run's wall-clock time limit.
    Time(Duration),
    /// The memory limit, in bytes, when the guest could not recover from it
    /// (Python raises `MemoryError` when it can).
    Memory(usize),
    /// The native stack of the guest's WebAssembly, in bytes: C code in
    /// CPython recursed deeper than its own guards allow for (Python's own
    /// recursion raises `RecursionError` first).
    Stack(usize),
    /// The run's fuel: the deterministic instruction budget of
    /// [`InterpreterBuilder::fuel`](crate::InterpreterBuilder::fuel).
    Fuel(u64),
    /// The files and directories held open at once: [`InterpreterBuilder::max_handles`](crate::InterpreterBuilder::max_handles).
    Handles(usize),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Time(limit) => write!(f, "time limit of {} exceeded", format_duration(*limit)),
            Limit::Memory(limit) => write!(f, "memory limit of {} exceeded", format_size(*limit)),
            Limit::Stack(limit) => write!(f, "stack limit of {} exceeded", format_size(*limit)),
            Limit::Fuel(limit) => write!(f, "fuel limit of {limit} exceeded"),
            Limit::Handles(limit) => write!(f, "limit of {limit} open handles exceeded"),
        }
    }
}

/// `1s`, `1.5s`, `250ms`: as a user would write it.
pub fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration < Duration::from_secs(1) && duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

/// `512 MiB`, `1.5 GiB`, `100 bytes`.
pub fn format_size(bytes: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes.is_multiple_of(size) {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// The memory of one sandbox: the interpreter the host created and every
/// interpreter its code creates, together. Without a shared budget, a
/// script under `--memory 256M` could create 64 interpreters and hold 65
/// times that.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> Self {
        MemoryBudget { limit, used: AtomicUsize::new(0) }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `bytes` from the budget if they fit.
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Takes `bytes` of host memory a sandbox holds outside its store (an
    /// item it put in a queue) from the budget, if they fit; they go back
    /// when the charge is dropped.
    pub(crate) fn charge(self: &Arc<Self>, bytes: usize) -> Option<MemoryCharge> {
        self.take(bytes).then(|| MemoryCharge { budget: self.clone(), bytes })
    }
}

/// Host memory counted against a sandbox's budget while it is held.
pub(crate) struct MemoryCharge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Drop for MemoryCharge {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// Counts the memory of one store against its sandbox's budget, and refuses
/// growth past it.
///
/// The count is over the whole store (the guest's linear memory, and the
/// heap its exceptions live on), not per memory; it goes back to the
/// budget when the store is dropped.
pub(crate) struct MemoryLimiter {
    budget: Arc<MemoryBudget>,
    used: usize,
    /// Set when a growth was refused: a trap that follows is then the
    /// memory limit's doing.
    refused: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(budget: Arc<MemoryBudget>) -> Self {
        MemoryLimiter { budget, used: 0, refused: false }
    }

    pub(crate) fn refused(&self) -> bool {
        self.refused
    }

    pub(crate) fn limit(&self) -> usize {
        self.budget.limit()
    }

    /// Takes `bytes` more from the budget, if they fit: memory the store
    /// gets without growing (a copy's memory, larger than the module's).
    pub(crate) fn charge(&mut self, bytes: usize) -> bool {
        if self.budget.take(bytes) {
            self.used += bytes;
            true
        } else {
            self.refused = true;
            false
        }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.used);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Refused: `memory.grow` returns -1 and CPython's allocator reports
        // MemoryError (or instantiation fails, for a new one).
        Ok(self.charge(desired.saturating_sub(current)))
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Every [`EPOCH_TICK`] while the runtime lives: advances the engine's
/// epoch, which lets a store's deadline interrupt a guest compiled with
/// epoch checks, or checks the tripwires of the runtime's stores, which
/// stops the guests that must stop by revoking their memory.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub(crate) fn start(epochs: Option<Engine>, tripwires: Arc<Tripwires>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new().name("isolate-ticker".into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match &epochs {
                    Some(engine) => engine.increment_epoch(),
                    None => tripwires.check_all(),
                }
            }
        })?;
        Ok(Ticker { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
