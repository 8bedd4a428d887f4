//! The per-process runtime: the engine, the compiled guest, and defaults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use wasmtime::{Config, Engine, InstancePre, Linker};

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::hash_seed::HashSeed;
use crate::host_function::Workers;
use crate::ids::{ChannelId, InterpreterId, Party, QueueId};
use crate::interpreter::snapshot::Snapshot;
use crate::interpreter::store::HostState;
use crate::interpreter::{Interpreter, InterpreterBuilder};
use crate::limits::{self, Ticker};
use crate::memory_image::{ImageMemories, MemoryImage};
use crate::queue::QueueState;
use crate::queue::fifo::Unbound;
use crate::stdlib::GuestFiles;
use crate::sync::lock;
use crate::tripwire::{self, Interruption, Tripwire, Tripwires};
use crate::value::{self, Queue, RecvChannel, SendChannel};
use crate::{cache, guest, interpreter, stdlib, wasi};

/// The environment variable that overrides the default cache folder.
pub const CACHE_DIR_ENV: &str = "ISOLATE_CACHE_DIR";

/// Everything interpreters share: the wasmtime engine, the compiled and
/// pre-linked guest, and its stdlib.
///
/// **Cost:** building one is expensive — the first time on a machine it
/// compiles the 104 MB guest (about 45 s on two cores) and writes its
/// stdlib out; after that it maps both from the cache folder (milliseconds).
/// Build one per process and clone it: a clone is a reference count.
///
/// `Runtime` is `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    pre: InstancePre<HostState>,
    files: GuestFiles,
    /// The guest driver's code, compiled by the first interpreter that
    /// boots (`marshal` data), for the others to load; kept in the cache.
    driver_code: Mutex<Option<Arc<[u8]>>>,
    /// Where the driver's code is kept between processes.
    driver_code_file: PathBuf,
    /// The size of the guest's memory as the module declares it, in bytes.
    memory_minimum: usize,
    /// The interpreters every new one is a copy of, one per hash seed used:
    /// booted, nothing run. Loaded (or made) by the first interpreter's
    /// creation that needs each.
    templates: Mutex<HashMap<HashSeed, Snapshot>>,
    /// Where the template is kept between processes, and the record that
    /// this very file was checked.
    template_file: PathBuf,
    template_checked: PathBuf,
    next_interpreter: AtomicU64,
    next_channel: AtomicU64,
    next_queue: AtomicU64,
    /// The threads host functions run on.
    workers: Arc<Workers>,
    channels: Mutex<Channels>,
    queues: Mutex<Queues>,
    /// Whether the engine meters fuel, so that interpreters can have a
    /// fuel limit.
    fuel: bool,
    /// How many threads compute the matrix products guests hand over.
    product_threads: usize,
    /// Those threads, started at the first product: `None` if they could
    /// not be.
    product_pool: OnceLock<Option<rayon::ThreadPool>>,
    /// How running guests are stopped.
    interruption: Interruption,
    /// The stores whose guests the ticker stops by revoking their memory.
    tripwires: Arc<Tripwires>,
    /// Stops the ticker's thread when the runtime goes.
    _ticker: Ticker,
}

/// Every channel, by id, for the host's lookups. Weak: a channel lives as
/// long as a Rust handle or an interpreter holding one of its ends does;
/// the entries of freed channels are swept out now and then.
#[derive(Default)]
struct Channels {
    by_id: HashMap<ChannelId, Weak<Channel>>,
    /// Sweep freed channels out when the map grows to this size.
    sweep_at: usize,
}

/// Every queue, by id, as [`Channels`]: so that the items of a destroyed
/// interpreter can be unbound wherever they wait.
#[derive(Default)]
struct Queues {
    by_id: HashMap<QueueId, Weak<QueueState>>,
    sweep_at: usize,
}

impl Runtime {
    /// A runtime with the default settings: see [`RuntimeBuilder`].
    pub fn new() -> Result<Self> {
        RuntimeBuilder::new().build()
    }

    /// A builder to configure the runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    /// Creates an interpreter with the default settings: see
    /// [`InterpreterBuilder`].
    pub fn create_interpreter(&self) -> Result<Interpreter> {
        self.interpreter().build()
    }

    /// A builder to configure and create an interpreter.
    pub fn interpreter(&self) -> InterpreterBuilder {
        InterpreterBuilder::new(self.clone())
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn pre(&self) -> &InstancePre<HostState> {
        &self.inner.pre
    }

    pub(crate) fn memory_minimum(&self) -> usize {
        self.inner.memory_minimum
    }

    /// The threads that compute the matrix products guests hand to the
    /// host, or `None` if the guests' own kernels compute them: a runtime
    /// that meters fuel (so that fuel stays deterministic), one built with
    /// `product_threads(0)`, or one whose threads could not start.
    pub(crate) fn product_threads(&self) -> Option<&rayon::ThreadPool> {
        if self.inner.fuel || self.inner.product_threads == 0 {
            return None;
        }
        let threads = self.inner.product_threads;
        self.inner
            .product_pool
            .get_or_init(|| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("isolate-products-{i}"))
                    .build()
                    .ok()
            })
            .as_ref()
    }

    /// How this runtime stops running guests.
    pub(crate) fn interruption(&self) -> Interruption {
        self.inner.interruption
    }

    /// Where the compiled guest's code lies in this process.
    pub(crate) fn code_range(&self) -> std::ops::Range<usize> {
        let text = self.inner.pre.module().text();
        text.as_ptr() as usize..text.as_ptr() as usize + text.len()
    }

    /// Has the ticker check `tripwire` while its store lives.
    pub(crate) fn watch(&self, tripwire: &Arc<Tripwire>) {
        self.inner.tripwires.register(tripwire);
    }

    /// The interpreter every new one with hash seed `seed` is a copy of.
    /// The one for [`HashSeed::PerCache`] is mapped from the cache, else
    /// booted and kept in the cache; the others are booted by this runtime
    /// when first needed (see `host/hash_seed.rs`).
    pub(crate) fn template(&self, seed: HashSeed) -> Result<Snapshot> {
        let mut templates = lock(&self.inner.templates);
        if let Some(template) = templates.get(&seed) {
            return Ok(template.clone());
        }
        let cached = || match Snapshot::read(&self.inner.template_file, true, Some(&self.inner.template_checked)) {
            Ok(snapshot) if snapshot.image.len() >= self.inner.memory_minimum => Some(snapshot),
            // Missing, damaged or another build's: made anew.
            _ => None,
        };
        let snapshot = match (seed == HashSeed::PerCache).then(cached).flatten() {
            Some(snapshot) => snapshot,
            None => {
                let image_error = |err: std::io::Error| Error::Engine(format!("cannot make the guest's memory: {err}"));
                let segments = zstd::decode_all(guest::MEMORY_SEGMENTS_ZST).map_err(image_error)?;
                let image = MemoryImage::from_segments(self.inner.memory_minimum, &segments).map_err(image_error)?;
                let snapshot = InterpreterBuilder::boot_template(self, &Arc::new(image), seed)?;
                if seed == HashSeed::PerCache {
                    // A cache that cannot be written costs the next process
                    // a boot (about 0.15 s), nothing else.
                    let _ = snapshot.write(&self.inner.template_file);
                }
                snapshot
            }
        };
        templates.insert(seed, snapshot.clone());
        Ok(snapshot)
    }

    pub(crate) fn driver_code(&self) -> Option<Arc<[u8]>> {
        lock(&self.inner.driver_code).clone()
    }

    /// Forgets the driver's compiled code, here and in the cache; false if
    /// there was none.
    pub(crate) fn forget_driver_code(&self) -> bool {
        let forgotten = lock(&self.inner.driver_code).take().is_some();
        if forgotten {
            let _ = std::fs::remove_file(&self.inner.driver_code_file);
        }
        forgotten
    }

    pub(crate) fn keep_driver_code(&self, code: Vec<u8>) {
        let mut kept = lock(&self.inner.driver_code);
        if kept.is_none() {
            // A cache that cannot be written only costs the next process a
            // compile of the driver.
            let _ = cache::write_atomically(&self.inner.driver_code_file, &code);
            *kept = Some(code.into());
        }
    }

    pub(crate) fn workers(&self) -> &Arc<Workers> {
        &self.inner.workers
    }

    pub(crate) fn meters_fuel(&self) -> bool {
        self.inner.fuel
    }

    pub(crate) fn guest_files(&self) -> &GuestFiles {
        &self.inner.files
    }

    pub(crate) fn next_interpreter_id(&self) -> InterpreterId {
        InterpreterId(self.inner.next_interpreter.fetch_add(1, Ordering::Relaxed))
    }

    /// Creates a channel; returns its two ends.
    ///
    /// The Rust program is a participant like an interpreter: it can keep
    /// both ends, or give either to interpreters with
    /// [`Interpreter::run_with`] or by sending it over another channel.
    pub fn create_channel(&self) -> (RecvChannel, SendChannel) {
        value::channel_ends(self.new_channel())
    }

    /// The ids of the open channels.
    pub fn list_channels(&self) -> Vec<ChannelId> {
        let channels = lock(&self.inner.channels);
        let mut ids: Vec<_> =
            channels.by_id.values().filter_map(Weak::upgrade).filter(|c| !c.is_closed()).map(|c| c.id()).collect();
        ids.sort();
        ids
    }

    pub(crate) fn new_channel(&self) -> Arc<Channel> {
        let id = ChannelId(self.inner.next_channel.fetch_add(1, Ordering::Relaxed));
        let channel = Arc::new(Channel::new(id));
        let mut channels = lock(&self.inner.channels);
        if channels.by_id.len() >= channels.sweep_at {
            channels.by_id.retain(|_, channel| channel.strong_count() > 0);
            channels.sweep_at = (channels.by_id.len() * 2).max(64);
        }
        channels.by_id.insert(id, Arc::downgrade(&channel));
        channel
    }

    /// Creates a queue (PEP 734's `create_queue`) of at most `maxsize`
    /// items, 0 for no bound. Its items' policy for when their interpreter
    /// is destroyed is [`Unbound::Replace`]; Python code may set another.
    ///
    /// Hand it to interpreters as a [`Value`](crate::Value): a binding, a
    /// call's argument, or an item of another queue.
    pub fn create_queue(&self, maxsize: usize) -> Queue {
        let maxsize = i64::try_from(maxsize).unwrap_or(i64::MAX);
        Queue { state: self.new_queue(maxsize, Unbound::default(), None) }
    }

    /// A queue of at most `maxsize` items, none if zero or less, created by
    /// an interpreter of `sandbox` (None: by the Rust program).
    pub(crate) fn new_queue(&self, maxsize: i64, unbound: Unbound, sandbox: Option<InterpreterId>) -> Arc<QueueState> {
        let id = QueueId(self.inner.next_queue.fetch_add(1, Ordering::Relaxed));
        let queue = Arc::new(QueueState::new(id, maxsize, unbound, sandbox));
        let mut queues = lock(&self.inner.queues);
        if queues.by_id.len() >= queues.sweep_at {
            queues.by_id.retain(|_, queue| queue.strong_count() > 0);
            queues.sweep_at = (queues.by_id.len() * 2).max(64);
        }
        queues.by_id.insert(id, Arc::downgrade(&queue));
        queue
    }

    /// The queue `id`, if an interpreter of `sandbox` created it and
    /// something still holds it.
    pub(crate) fn queue_of_sandbox(&self, id: QueueId, sandbox: InterpreterId) -> Option<Arc<QueueState>> {
        let queue = lock(&self.inner.queues).by_id.get(&id)?.upgrade()?;
        (queue.sandbox() == Some(sandbox)).then_some(queue)
    }

    /// The items `id` put in any queue are unbound: it was destroyed.
    pub(crate) fn unbind_items_of(&self, id: InterpreterId) {
        let queues: Vec<Arc<QueueState>> = lock(&self.inner.queues).by_id.values().filter_map(Weak::upgrade).collect();
        for queue in queues {
            queue.unbind(Party::Interpreter(id));
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("files", &self.inner.files).finish_non_exhaustive()
    }
}

/// Configures a [`Runtime`].
///
/// By default the cache folder is `$ISOLATE_CACHE_DIR` if set, else the
/// user's cache folder (`~/.cache/isolate` on Linux,
/// `~/Library/Caches/isolate` on macOS); see [`default_cache_dir`].
///
/// How a running guest is stopped at its time limit or on a cancel is the
/// platform's: on Linux (x86-64, Arm64) the runtime revokes its memory,
/// and the guest runs without a check in its loops; elsewhere, or with
/// `ISOLATE_INTERRUPT=epoch` in the environment, the guest is compiled to
/// check the time at every loop and call (a quarter slower on pure Python).
/// Both stop a run within 5 ms; the README's "What a time limit costs"
/// says how.
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
    fuel: bool,
    announce_compile: bool,
    product_threads: Option<usize>,
}

impl RuntimeBuilder {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the compiled guest and its stdlib under `dir`, a folder of
    /// this user's own (created with owner-only permissions if missing; one
    /// that another user could write to is refused, since what it holds is
    /// loaded as native code).
    ///
    /// Everything in it can be deleted at any time: what is missing is
    /// rebuilt on the next start.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Meters fuel, so that interpreters can have a deterministic
    /// instruction budget ([`InterpreterBuilder::fuel`]). Metering costs
    /// speed, and compiles the guest a second way (cached like the first).
    /// Off by default.
    pub fn fuel(mut self, meter: bool) -> Self {
        self.fuel = meter;
        self
    }

    /// How many threads compute the matrix products that the guests'
    /// numpy, scipy and scikit-learn hand to the host (see the README's
    /// "Scientific Python"): one pool, shared by all of the runtime's
    /// interpreters, started at the first product. By default, as many as
    /// the machine has cores. `0` keeps every product in the guest's own
    /// WebAssembly kernels, as a runtime that meters [fuel](Self::fuel)
    /// always does, so that fuel stays deterministic.
    pub fn product_threads(mut self, threads: usize) -> Self {
        self.product_threads = Some(threads);
        self
    }

    /// Says on stderr when the guest is compiled for this machine (the
    /// first start with a cache folder, about 45 s) and how long it took.
    /// Off by default; the `isolate` command turns it on.
    pub fn announce_compilation(mut self, announce: bool) -> Self {
        self.announce_compile = announce;
        self
    }

    /// Builds the runtime: compiles or loads the guest and links it.
    ///
    /// # Errors
    ///
    /// [`Error::Cache`] if the cache folder cannot be used (or is not this
    /// user's own), [`Error::Engine`] if wasmtime cannot compile or link
    /// the guest.
    pub fn build(self) -> Result<Runtime> {
        let cache_root = match self.cache_dir {
            Some(dir) => dir,
            None => default_cache_dir()?,
        };
        cache::ensure_private_dir(&cache_root)?;
        let guest_dir = cache_root.join(guest::GUEST_HASH);

        // The guest's files first: an unusable cache folder fails here, at
        // once, rather than after a long compile.
        let files = stdlib::ensure_written(&guest_dir)?;
        // Compiled by the guest's own CPython during a boot, before any
        // code of a user's runs; named after the driver's sources.
        let driver_code_file = guest_dir.join(format!("driver-{}.marshal", guest::DRIVER_HASH));
        let driver_code = std::fs::read(&driver_code_file).ok().filter(|code| !code.is_empty()).map(Arc::from);
        let interruption = Interruption::for_this_platform();
        let engine = Engine::new(&engine_config(self.fuel, interruption)).map_err(Error::engine)?;
        tripwire::remember_trap_handler();
        let module = cache::artifact::load_or_compile(&engine, &guest_dir, self.announce_compile)?;
        cache::remove_other_guests(&cache_root);
        // The template: the booted guest every interpreter is a copy of.
        let template_file = guest_dir.join(format!("template-{}.snapshot", guest::DRIVER_HASH));
        let template_checked = guest_dir.join(format!("template-{}.checked", guest::DRIVER_HASH));
        cache::remove_other_files(&guest_dir, "driver-", &[&driver_code_file]);
        cache::remove_other_files(&guest_dir, "template-", &[&template_file, &template_checked]);

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi).map_err(Error::engine)?;
        wasi::add_to_linker(&mut linker).map_err(Error::engine)?;
        interpreter::add_to_linker(&mut linker).map_err(Error::engine)?;
        let pre = linker.instantiate_pre(&module).map_err(Error::engine)?;
        let memory_minimum = module
            .exports()
            .find_map(|export| export.ty().memory().map(|memory| memory.minimum() * memory.page_size()))
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or_else(|| Error::Engine("the guest exports no memory".into()))?;

        let tripwires = Arc::new(Tripwires::default());
        let epochs = (interruption == Interruption::Epoch).then(|| engine.clone());
        let ticker = Ticker::start(epochs, tripwires.clone())
            .map_err(|err| Error::Engine(format!("cannot start the ticker thread: {err}")))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                pre,
                files,
                driver_code: Mutex::new(driver_code),
                driver_code_file,
                template_file,
                template_checked,
                memory_minimum,
                templates: Mutex::default(),
                next_interpreter: AtomicU64::new(0),
                workers: Arc::default(),
                next_channel: AtomicU64::new(0),
                next_queue: AtomicU64::new(0),
                channels: Mutex::new(Channels::default()),
                queues: Mutex::new(Queues::default()),
                fuel: self.fuel,
                product_threads: self
                    .product_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                product_pool: OnceLock::new(),
                interruption,
                tripwires,
                _ticker: ticker,
            }),
        })
    }
}

/// The engine's settings. Every guest memory is a copy-on-write mapping of
/// a memory image ([`ImageMemories`]): wasmtime's own copy-on-write
/// initialisation is off (it cannot work with a host memory, and the
/// module's data segments are in the image instead), and memory is
/// allocated on demand (the pooling allocator does not use a host memory).
fn engine_config(fuel: bool, interruption: Interruption) -> Config {
    let mut config = Config::new();
    config.memory_init_cow(false);
    config.with_host_memory(Arc::new(ImageMemories));
    config.consume_fuel(fuel);
    // Time limits: the guest's memory is revoked when it must stop
    // (`tripwire.rs`), or, where that cannot work, a store's deadline,
    // checked at function entries and loop back-edges, interrupts a guest
    // that never calls the host.
    config.epoch_interruption(interruption == Interruption::Epoch);
    // The guest raises and catches C++ exceptions (wasm exception handling).
    config.wasm_exceptions(true);
    config.max_wasm_stack(limits::MAX_WASM_STACK);
    config.async_stack_size(limits::ASYNC_STACK);
    config
}

/// `$ISOLATE_CACHE_DIR` if set, else the user's cache folder
/// (`~/.cache/isolate` on Linux, `~/Library/Caches/isolate` on macOS).
///
/// Never a shared temporary folder: what the cache holds is loaded as
/// native code, and another user could have planted it there.
///
/// # Errors
///
/// [`Error::Config`] when neither is known (no home folder).
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|dir| dir.join("isolate")).ok_or_else(|| {
        Error::Config(format!("no cache folder: this user has no home folder; set {CACHE_DIR_ENV} to one of their own"))
    })
}
