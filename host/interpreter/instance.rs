//! One guest instance: the exports the host calls, how it boots, and how a
//! run enters it.

use std::sync::Arc;

use wasmtime::{Global, Instance, InstancePre, Memory, Store, TypedFunc, Val};

use crate::error::ChainNode;
use crate::guest;
use crate::guest_memory::checked_range;
use crate::interpreter::snapshot::Snapshot;
use crate::interpreter::store::HostState;
use crate::memory_image::{self, MemoryImage};
use crate::tripwire::Interruption;
use crate::value::{self, Message, Value};

/// The guest's exports the host calls.
pub(crate) struct Exports {
    pub(crate) memory: Memory,
    pub(crate) host_alloc: TypedFunc<i32, i32>,
    turn: TypedFunc<(i32, i32), i32>,
    gil_ensure: TypedFunc<(), i32>,
    gil_release: TypedFunc<i32, ()>,
    call_no_args: TypedFunc<i32, i32>,
    decref: TypedFunc<i32, ()>,
    clear_error: TypedFunc<(), ()>,
    /// The guest's one mutable global: a copy starts from its original's.
    stack_pointer: Global,
    /// Makes the guest's C library ask the host for its folders again: a
    /// copy may have been granted others than its original.
    reset_preopens: TypedFunc<(), ()>,
}

impl Exports {
    fn of(instance: &Instance, store: &mut Store<HostState>) -> wasmtime::Result<Self> {
        Ok(Exports {
            memory: instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| wasmtime::Error::msg("the guest exports no memory"))?,
            host_alloc: instance.get_typed_func(&mut *store, "host_alloc")?,
            turn: instance.get_typed_func(&mut *store, "turn")?,
            gil_ensure: instance.get_typed_func(&mut *store, "PyGILState_Ensure")?,
            gil_release: instance.get_typed_func(&mut *store, "PyGILState_Release")?,
            call_no_args: instance.get_typed_func(&mut *store, "PyObject_CallNoArgs")?,
            decref: instance.get_typed_func(&mut *store, "_Py_DecRef")?,
            clear_error: instance.get_typed_func(&mut *store, "PyErr_Clear")?,
            stack_pointer: instance
                .get_global(&mut *store, "__stack_pointer")
                .ok_or_else(|| wasmtime::Error::msg("the guest exports no stack pointer"))?,
            reset_preopens: instance.get_typed_func(&mut *store, "__wasilibc_reset_preopens")?,
        })
    }
}

/// What a run does with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// Runs it as a module's code, in `__main__`.
    Exec = 0,
    /// Evaluates it as an expression in `__main__`; the value is the result.
    Eval = 1,
    /// Calls the callable it names with the arguments bound; the value
    /// returned is the result.
    Call = 2,
    /// A PEP 734 exec or call from another interpreter, its request bound
    /// (no source; the driver gets it as the source); the value is what it
    /// returned or raised.
    Invoke = 3,
}

/// A run waiting for the guest to take it ([`Op::TakeRun`](crate::door::Op::TakeRun)).
pub(crate) struct RunRequest {
    pub(crate) kind: RunKind,
    pub(crate) source: Vec<u8>,
    pub(crate) filename: String,
    pub(crate) bindings: Vec<(String, Message)>,
    /// Whether the driver took it already.
    pub(crate) taken: bool,
    /// The setup of a copy, done before the code of its first run (see
    /// [`Live::copy`]).
    pub(crate) setup: Option<Vec<u8>>,
}

/// How a run ended, as the driver reported it ([`Op::RunOutcome`](crate::door::Op::RunOutcome)).
pub(crate) enum RunOutcome {
    Completed,
    /// An `eval` or `call` completed: its result, encoded
    /// ([`Op::RunResult`](crate::door::Op::RunResult)), unchecked.
    Result(Vec<u8>),
    Exit(i32),
    /// The exception's chain, the raised one first.
    Exception(Vec<ChainNode>),
    /// The driver itself failed (it raised out of `serve`).
    DriverFailed,
}

/// A booted instance.
pub(crate) struct Live {
    pub(crate) store: Store<HostState>,
    /// The same exports as the store data's.
    exports: Arc<Exports>,
    /// The driver's `serve`: the Python callable the host calls for a run.
    entry: i32,
    /// The image the memory was made from: what its own pages are told
    /// from when it is snapshotted.
    image: Arc<MemoryImage>,
    /// A snapshot of the memory as it is, until the next run changes it:
    /// forks in a row share one.
    snapshot: Option<Snapshot>,
    /// A copy's setup (an encoded value, see [`Live::copy`]), done just
    /// before its first run: a copy that never runs never writes a page.
    setup: Option<Vec<u8>>,
}

impl Live {
    /// Instantiates the guest in `store`, its memory a copy of `image` (the
    /// module's own), starts CPython in it, and boots the driver.
    ///
    /// Starting is CPython's initialisation and the imports the wheel's
    /// build chose (`encodings`, `io`, `os`, `json`, `csv`, `re`): about
    /// 0.12 s, once per template. It draws the hash secret from WASI's
    /// `random_get`, so the store's random source decides it (see
    /// [`HashSeed`](crate::hash_seed::HashSeed)).
    pub(crate) fn boot(
        mut store: Store<HostState>,
        pre: &InstancePre<HostState>,
        image: &Arc<MemoryImage>,
    ) -> std::result::Result<Live, (Store<HostState>, wasmtime::Error)> {
        let started = (|| {
            let (instance, exports) = instantiate(&mut store, pre, image)?;
            for start in ["_initialize", "wizer_initialize"] {
                instance.get_typed_func::<(), ()>(&mut store, start)?.call(&mut store, ())?;
            }
            let boot = guest::BOOT_TURN;
            let at = alloc(&mut store, &exports, boot.as_bytes())?;
            let status = exports.turn.call(&mut store, (at, boot.len() as i32))?;
            let entry = store.data().link.entry();
            match (status, entry) {
                (0, Some(entry)) => Ok((exports, entry)),
                _ => Err(wasmtime::Error::msg(format!("the guest's driver failed to start (status {status})"))),
            }
        })();
        match started {
            Ok((exports, entry)) => {
                Ok(Live { store, exports, entry, image: image.clone(), snapshot: None, setup: None })
            }
            Err(err) => Err((store, err)),
        }
    }

    /// Instantiates the guest in `store` as a copy of `snapshot`: its
    /// memory maps the snapshot's, copy-on-write, and nothing runs in it
    /// yet. Before its first run, the copy becomes an interpreter of its
    /// own, as a child does after `os.fork()`: its C library finds its own
    /// folders, the callbacks registered with
    /// `os.register_at_fork(after_in_child=...)` run once `random` reseeds,
    /// and if `settings` (an encoded `(argv, environ, module_paths, scripts,
    /// working_dir)`) are given, `sys.argv`, `os.environ` and `sys.path`
    /// become them, `linecache` has the scripts and the working directory is
    /// `working_dir` (unless `None`); a fork (`None`) keeps its original's.
    pub(crate) fn copy(
        mut store: Store<HostState>,
        pre: &InstancePre<HostState>,
        snapshot: &Snapshot,
        settings: Option<Vec<u8>>,
    ) -> std::result::Result<Live, (Store<HostState>, wasmtime::Error)> {
        // What a memory made from the snapshot maps now: a layered
        // snapshot itself the first time, its flat copy after that.
        let image = snapshot.image.resolved();
        let started = (|| {
            let (_, exports) = instantiate(&mut store, pre, &image)?;
            exports.stack_pointer.set(&mut store, Val::I32(snapshot.stack_pointer))?;
            store.data_mut().link.set_entry(snapshot.entry);
            Ok(exports)
        })();
        let exports = match started {
            Ok(exports) => exports,
            Err(err) => return Err((store, err)),
        };
        // Until it runs, a fork's memory is its original's: a fork of it
        // maps the same image.
        let same_memory = settings.is_none().then(|| snapshot.clone());
        let setup = settings.unwrap_or_else(|| value::encode(&Value::None));
        Ok(Live { store, exports, entry: snapshot.entry, image, snapshot: same_memory, setup: Some(setup) })
    }

    /// Does a copy's setup now, if it is still to do: before its memory is
    /// copied (a run of no code).
    fn finish_setup(&mut self) -> wasmtime::Result<()> {
        if self.setup.is_none() {
            return Ok(());
        }
        let request = RunRequest {
            kind: RunKind::Exec,
            source: Vec::new(),
            filename: crate::interpreter::STRING_FILENAME.to_owned(),
            bindings: Vec::new(),
            taken: false,
            setup: None,
        };
        match self.run(request)? {
            RunOutcome::Completed => Ok(()),
            _ => Err(wasmtime::Error::msg("the guest's driver failed to set up a copy")),
        }
    }

    /// The memory as it is now, with what a copy needs to start from it.
    /// The first time after a run, the pages the memory changed are copied
    /// aside (see `memory_image`), or the whole memory if it wrote more
    /// than 16 MiB (34 ms after `import numpy, pandas`); forks in a row
    /// share the copy.
    pub(crate) fn snapshot(&mut self) -> wasmtime::Result<Snapshot> {
        self.snapshot_with(MemoryImage::image_of)
    }

    /// The memory as it is now, copied whole: a template's, which every
    /// new interpreter maps, never to copy pages over it.
    pub(crate) fn flat_snapshot(&mut self) -> wasmtime::Result<Snapshot> {
        self.snapshot_with(|_, memory| MemoryImage::copy_of(memory).map(Arc::new))
    }

    fn snapshot_with(
        &mut self,
        image_of: impl FnOnce(&Arc<MemoryImage>, &[u8]) -> std::io::Result<Arc<MemoryImage>>,
    ) -> wasmtime::Result<Snapshot> {
        if let Some(snapshot) = &self.snapshot {
            return Ok(snapshot.clone());
        }
        self.finish_setup()?;
        let image = image_of(&self.image, self.exports.memory.data(&self.store))?;
        let stack_pointer = self.exports.stack_pointer.get(&mut self.store).i32().unwrap_or_default();
        let snapshot = Snapshot { image, stack_pointer, entry: self.entry };
        self.snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }

    /// Runs `request` in the guest: one call of the driver's `serve`. A
    /// copy's first run does its setup first.
    pub(crate) fn run(&mut self, mut request: RunRequest) -> wasmtime::Result<RunOutcome> {
        if let Some(setup) = self.setup.take() {
            self.exports.reset_preopens.call(&mut self.store, ())?;
            request.setup = Some(setup);
        }
        self.snapshot = None;
        self.store.data_mut().link.set_request(request);
        let store = &mut self.store;
        let exports = &self.exports;
        let gil = exports.gil_ensure.call(&mut *store, ())?;
        let result = exports.call_no_args.call(&mut *store, self.entry)?;
        if result == 0 {
            exports.clear_error.call(&mut *store, ())?;
        } else {
            exports.decref.call(&mut *store, result)?;
        }
        exports.gil_release.call(&mut *store, gil)?;
        let link = &mut store.data_mut().link;
        let request = link.take_request();
        let taken = request.as_ref().is_some_and(|request| request.taken);
        let wants_result = request.is_some_and(|request| request.kind != RunKind::Exec);
        let reported = link.take_result();
        Ok(match link.take_outcome() {
            Some(outcome) => outcome,
            // An eval or call that completed reported its result.
            None if wants_result && taken && result != 0 => match reported {
                Some(bytes) => RunOutcome::Result(bytes),
                None => RunOutcome::DriverFailed,
            },
            // A driver that raised, or that never took the run (the entry
            // no longer is `serve`): the guest broke it.
            None if result == 0 || !taken => RunOutcome::DriverFailed,
            None => RunOutcome::Completed,
        })
    }
}

/// Instantiates the guest in `store` with `image` as its memory, and keeps
/// its exports in the store.
fn instantiate(
    store: &mut Store<HostState>,
    pre: &InstancePre<HostState>,
    image: &Arc<MemoryImage>,
) -> wasmtime::Result<(Instance, Arc<Exports>)> {
    let minimum = store.data().link.runtime().memory_minimum();
    // The image may be larger than the module's initial memory, which is
    // all wasmtime asks the limiter for.
    if !store.data_mut().limiter.charge(image.len().saturating_sub(minimum)) {
        return Err(wasmtime::Error::msg("the memory limit leaves no room for the interpreter's memory"));
    }
    let tripwire = match store.data().link.runtime().interruption() {
        Interruption::Revocation => Some(store.data().link.stop().tripwire().clone()),
        Interruption::Epoch => None,
    };
    let instance = memory_image::instantiate_from(image, minimum, tripwire, || pre.instantiate(&mut *store))?;
    super::products::install(store, &instance)?;
    let exports = Arc::new(Exports::of(&instance, store)?);
    store.data_mut().exports = Some(exports.clone());
    Ok((instance, exports))
}

/// Copies `bytes` into memory the guest allocates; returns its address.
fn alloc(store: &mut Store<HostState>, exports: &Exports, bytes: &[u8]) -> wasmtime::Result<i32> {
    let len = i32::try_from(bytes.len())?;
    let at = exports.host_alloc.call(&mut *store, len)?;
    let size = exports.memory.data_size(&*store);
    let range = checked_range(at as u32, len as u32, size)
        .filter(|_| at != 0)
        .ok_or_else(|| wasmtime::Error::msg("the guest had no memory for its boot code"))?;
    exports.memory.data_mut(&mut *store)[range].copy_from_slice(bytes);
    Ok(at)
}
