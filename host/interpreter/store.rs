//! The host side of one interpreter's store: the WASI context, the memory
//! limiter, and what the host calls need to serve the guest.

use std::sync::{Arc, Weak};
use std::time::Instant;

use wasmtime::Memory;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::hash_seed::PendingSecret;
use crate::interpreter::InterpreterInner;
use crate::interpreter::instance::{Exports, RunOutcome, RunRequest};
use crate::interpreter::runs::Runs;
use crate::interpreter::staging::Staging;
use crate::limits::MemoryLimiter;
use crate::runtime::Runtime;
use crate::stop::Stop;
use crate::wasi::{Files, WasiHost};

/// The host side of one interpreter's store.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) link: GuestLink,
    /// Its runs on threads of their own.
    pub(crate) runs: Runs,
    /// What it received and has not taken yet.
    pub(crate) staging: Staging,
    /// What the door needs of the guest: set once instantiated. Shared, so
    /// that a host call takes it with a reference count (cloning the typed
    /// functions cost ~8% of a `run("x = 1")`).
    pub(crate) exports: Option<Arc<Exports>>,
    /// The guest's file tree and descriptors.
    pub(crate) files: Files,
    /// What its first random draws get, if not the system's bytes: the
    /// hash secret of a template booted with a fixed seed.
    pub(crate) pending_secret: Option<PendingSecret>,
}

impl WasiHost for HostState {
    fn wasi_and_files(&mut self) -> (&mut WasiP1Ctx, &mut Files) {
        (&mut self.wasi, &mut self.files)
    }

    fn memory(&self) -> Option<Memory> {
        self.exports.as_ref().map(|exports| exports.memory)
    }

    fn pending_secret(&mut self) -> &mut Option<PendingSecret> {
        &mut self.pending_secret
    }

    fn stop(&self) -> &Stop {
        self.link.stop()
    }
}

/// What a store needs to serve its guest's requests: who it is, what ends
/// its runs, and the exchange with its driver.
pub(crate) struct GuestLink {
    pub(super) runtime: Runtime,
    /// Its interpreter: a weak link, as the interpreter owns the store.
    pub(super) me: Weak<InterpreterInner>,
    /// When the current run must end, and the interpreter's cancellation:
    /// blocking calls wait no longer, and wake when it is set.
    pub(super) stop: Stop,
    /// `sys.argv`, given to the driver when it boots.
    pub(super) argv: Vec<String>,
    /// The driver's entry point, once it booted.
    pub(super) entry: Option<i32>,
    /// The run the host is making, until the driver takes it.
    pub(super) request: Option<RunRequest>,
    /// How the run ended, if the driver reported it.
    pub(super) outcome: Option<RunOutcome>,
    /// An eval's or call's result, as the driver reported it.
    pub(super) result: Option<Vec<u8>>,
}

impl GuestLink {
    pub(crate) fn new(runtime: Runtime, stop: Stop, argv: Vec<String>) -> Self {
        GuestLink { runtime, me: Weak::new(), stop, argv, entry: None, request: None, outcome: None, result: None }
    }

    /// What ends the current run early.
    pub(crate) fn stop(&self) -> &Stop {
        &self.stop
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.stop.set_deadline(deadline);
    }

    pub(crate) fn entry(&self) -> Option<i32> {
        self.entry
    }

    /// The entry of a copy: its original's.
    pub(crate) fn set_entry(&mut self, entry: i32) {
        self.entry = Some(entry);
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub(crate) fn set_request(&mut self, request: RunRequest) {
        self.request = Some(request);
        self.outcome = None;
        self.result = None;
    }

    pub(crate) fn take_request(&mut self) -> Option<RunRequest> {
        self.request.take()
    }

    pub(crate) fn take_result(&mut self) -> Option<Vec<u8>> {
        self.result.take()
    }

    pub(crate) fn take_outcome(&mut self) -> Option<RunOutcome> {
        self.outcome.take()
    }

    pub(crate) fn set_interpreter(&mut self, me: Weak<InterpreterInner>) {
        self.me = me;
    }
}
