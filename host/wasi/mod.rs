//! The WASI functions isolate serves itself, in place of wasmtime-wasi's:
//! sleeps that end at the run's deadline and on cancellation
//! ([`poll`]), a cap on the files a guest holds open ([`files`]), and the
//! first random draws of a template booted with a fixed hash seed
//! ([`random`]).
//!
//! They reach the store through [`WasiHost`], as wasmtime-wasi's own reach
//! it through `WasiView`: this folder knows nothing of the interpreter
//! behind the store.

use wasmtime::{AsContextMut, Caller, Linker, Memory};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wiggle::GuestMemory;

use crate::hash_seed::PendingSecret;
use crate::stop::Stop;

pub(crate) mod files;
pub(crate) mod poll;
pub(crate) mod random;

pub(crate) use files::{HandleLimit, OpenFiles};

/// The module of WASI preview 1's imports.
const WASI: &str = "wasi_snapshot_preview1";

/// WASI's codes (`wasi_snapshot_preview1.witx`).
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;

/// What the WASI functions served here need of a store's data.
pub(crate) trait WasiHost: Send + 'static {
    /// wasmtime-wasi's context, which serves everything else.
    fn wasi_ctx(&mut self) -> &mut WasiP1Ctx;
    /// The guest's memory; `None` until the instance exists.
    fn memory(&self) -> Option<Memory>;
    /// The files and directories the guest holds open, and its cap.
    fn open_files(&mut self) -> &mut OpenFiles;
    /// What the guest's first random draws get, if not the system's bytes.
    fn pending_secret(&mut self) -> &mut Option<PendingSecret>;
    /// What ends the current run early: a wait in the guest ends with it.
    fn stop(&self) -> &Stop;
}

/// Replaces wasmtime-wasi's `poll_oneoff`, `path_open`, `fd_close` and
/// `random_get` in `linker` (which must already hold them).
pub(crate) fn add_to_linker<T: WasiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(WASI, "poll_oneoff", poll::poll_oneoff::<T>)?;
    linker.func_wrap(WASI, "path_open", files::path_open::<T>)?;
    linker.func_wrap(WASI, "fd_close", files::fd_close::<T>)?;
    linker.func_wrap(WASI, "random_get", random::random_get::<T>)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Calls wasmtime-wasi's own implementation of a WASI function, as its
/// linker's entry would: with the guest's memory and its host-call fuel
/// (the bytes one call may copy).
fn with_wasi<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut wasmtime_wasi::p1::WasiP1Ctx, &mut GuestMemory<'_>) -> wasmtime::Result<i32>,
) -> wasmtime::Result<i32> {
    use wasi::WasiSnapshotPreview1;
    let Some(memory) = caller.data().memory() else {
        return Ok(ERRNO_FAULT);
    };
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (data, state) = memory.data_and_store_mut(caller);
    let ctx = state.wasi_ctx();
    ctx.set_hostcall_fuel(fuel);
    call(ctx, &mut GuestMemory::Unshared(data))
}
