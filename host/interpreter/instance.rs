//! One guest instance: its store's host-side state, the exports the host
//! calls, how it boots, and how a run enters it.

use std::sync::Arc;

use wasmtime::{Instance, Memory, Store, TypedFunc};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::channel::Message;
use crate::door;
use crate::guest;
use crate::interpreter::host_calls::GuestLink;
use crate::limits::MemoryLimiter;
use crate::wasi_waits::Handles;

/// The host side of one interpreter's store.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) link: GuestLink,
    /// What the door needs of the guest: set once instantiated. Shared, so
    /// that a host call takes it with a reference count (cloning the typed
    /// functions cost ~8% of a `run("x = 1")`).
    pub(crate) exports: Option<Arc<Exports>>,
    /// The guest's open files, capped.
    pub(crate) handles: Handles,
}

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
        })
    }
}

/// A run waiting for the guest to take it ([`door::Op::TakeRun`]).
pub(crate) struct RunRequest {
    pub(crate) source: Vec<u8>,
    pub(crate) filename: String,
    pub(crate) bindings: Vec<(String, Message)>,
    /// Whether the driver took it already.
    pub(crate) taken: bool,
}

/// How a run ended, as the driver reported it ([`door::Op::RunOutcome`]).
pub(crate) enum RunOutcome {
    Completed,
    Exit(i32),
    /// The exception's chain: type name, message, traceback, and how each
    /// relates to the one before it (0 none, 1 cause, 2 context).
    Exception(Vec<(String, String, String, u8)>),
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
}

impl Live {
    /// Instantiates the guest in `store` and boots the driver in it.
    pub(crate) fn start(
        mut store: Store<HostState>,
        pre: &wasmtime::InstancePre<HostState>,
    ) -> std::result::Result<Live, (Store<HostState>, wasmtime::Error)> {
        let started = (|| {
            let instance = pre.instantiate(&mut store)?;
            let exports = Arc::new(Exports::of(&instance, &mut store)?);
            store.data_mut().exports = Some(exports.clone());
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
            Ok((exports, entry)) => Ok(Live { store, exports, entry }),
            Err(err) => Err((store, err)),
        }
    }

    /// Runs `request` in the guest: one call of the driver's `serve`.
    pub(crate) fn run(&mut self, request: RunRequest) -> wasmtime::Result<RunOutcome> {
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
        let taken = link.take_request().is_some_and(|request| request.taken);
        Ok(match link.take_outcome() {
            Some(outcome) => outcome,
            // A driver that raised, or that never took the run (the entry
            // no longer is `serve`): the guest broke it.
            None if result == 0 || !taken => RunOutcome::DriverFailed,
            None => RunOutcome::Completed,
        })
    }
}

/// Copies `bytes` into memory the guest allocates; returns its address.
fn alloc(store: &mut Store<HostState>, exports: &Exports, bytes: &[u8]) -> wasmtime::Result<i32> {
    let len = i32::try_from(bytes.len())?;
    let at = exports.host_alloc.call(&mut *store, len)?;
    let size = exports.memory.data_size(&*store);
    let range = door::checked_range(at as u32, len as u32, size)
        .filter(|_| at != 0)
        .ok_or_else(|| wasmtime::Error::msg("the guest had no memory for its boot code"))?;
    exports.memory.data_mut(&mut *store)[range].copy_from_slice(bytes);
    Ok(at)
}
