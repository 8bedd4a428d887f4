//! The WASI functions isolate serves itself, in place of wasmtime-wasi's:
//! the guest's file tree and descriptors ([`tree`], [`descriptors`],
//! [`fd`], [`path`]) with its private `/tmp` ([`tmp`]) and devices, sleeps
//! that end at the run's deadline and on cancellation ([`poll`]), and the
//! first random draws of a template booted with a fixed hash seed
//! ([`random`]).
//!
//! wasmtime-wasi still serves the files of the granted folders and the
//! standard streams, from its own table: a call on one of them is passed on
//! with its descriptor translated, and a path is passed on relative to the
//! folder it lies in (from a scratch buffer of the host's, so that the
//! guest's memory is never written but where WASI says).
//!
//! They reach the store through [`WasiHost`], as wasmtime-wasi's own reach
//! it through `WasiView`: this folder knows nothing of the interpreter
//! behind the store.

use std::sync::{Arc, Mutex};

use wasmtime::{AsContextMut, Caller, Linker, Memory};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;
use wiggle::GuestMemory;

use crate::hash_seed::PendingSecret;
use crate::stop::Stop;

mod abi;
pub(crate) mod descriptors;
mod fd;
mod path;
pub(crate) mod poll;
pub(crate) mod random;
pub(crate) mod tmp;
pub(crate) mod tree;

use abi::{Done, Failure, Guest, answer};
pub(crate) use descriptors::HandleLimit;
use descriptors::{Descriptors, Open};
pub(crate) use tmp::TmpFolder;
use tree::{Mount, MountKind, Tree};

/// The module of WASI preview 1's imports.
const WASI: &str = "wasi_snapshot_preview1";

/// WASI's codes (`wasi_snapshot_preview1.witx`).
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;

/// What the WASI functions served here need of a store's data.
pub(crate) trait WasiHost: Send + 'static {
    /// wasmtime-wasi's context, which serves the host folders' files, and
    /// the guest's own file tree and descriptors.
    fn wasi_and_files(&mut self) -> (&mut WasiP1Ctx, &mut Files);
    /// The guest's memory; `None` until the instance exists.
    fn memory(&self) -> Option<Memory>;
    /// What the guest's first random draws get, if not the system's bytes.
    fn pending_secret(&mut self) -> &mut Option<PendingSecret>;
    /// What ends the current run early: a wait in the guest ends with it.
    fn stop(&self) -> &Stop;
}

/// The guest's file tree and descriptors.
pub(crate) struct Files {
    pub(crate) descriptors: Descriptors,
    pub(crate) tree: Tree,
}

impl Files {
    /// The files of a guest whose wasmtime-wasi context is `wasi`: each of
    /// the context's preopened folders mounted at its path (a later one
    /// at the same path hides an earlier one), under the sandbox's `/tmp`
    /// and `/dev`; at most `max_handles` open at once.
    pub(crate) fn new(wasi: &mut WasiP1Ctx, tmp: Arc<Mutex<TmpFolder>>, max_handles: usize) -> Files {
        let mut mounts = vec![
            Mount { point: tree::TMP.to_owned(), kind: MountKind::Tmp(tmp) },
            Mount { point: tree::DEV.to_owned(), kind: MountKind::Devices },
        ];
        mounts.extend(preopens(wasi).into_iter().map(|(fd, point)| Mount { point, kind: MountKind::Host { fd } }));
        Files { descriptors: Descriptors::new(max_handles), tree: Tree::new(mounts) }
    }
}

/// The folders wasmtime-wasi's context has preopened: descriptor and path,
/// in order.
fn preopens(wasi: &mut WasiP1Ctx) -> Vec<(u32, String)> {
    use wasi::WasiSnapshotPreview1;
    let mut found = Vec::new();
    for fd in 3.. {
        let mut scratch = vec![0u8; 8];
        let mut memory = GuestMemory::Unshared(&mut scratch);
        let Ok(wasmtime_wasi::p1::types::Prestat::Dir(dir)) = wasi.fd_prestat_get(&mut memory, fd.into()) else {
            break;
        };
        let mut name = vec![0u8; dir.pr_name_len as usize];
        let mut memory = GuestMemory::Unshared(&mut name);
        let len = dir.pr_name_len;
        if wasi.fd_prestat_dir_name(&mut memory, fd.into(), wiggle::GuestPtr::new(0), len).is_err() {
            break;
        }
        found.push((fd, String::from_utf8_lossy(&name).into_owned()));
    }
    found
}

/// Replaces wasmtime-wasi's file and descriptor functions, `poll_oneoff`
/// and `random_get` in `linker` (which must already hold them).
pub(crate) fn add_to_linker<T: WasiHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    fd::add_to_linker(linker)?;
    path::add_to_linker(linker)?;
    linker.func_wrap(WASI, "poll_oneoff", poll::poll_oneoff::<T>)?;
    linker.func_wrap(WASI, "random_get", random::random_get::<T>)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// What a call served here works with.
pub(crate) struct Parts<'a> {
    pub(crate) guest: Guest<'a>,
    pub(crate) wasi: &'a mut WasiP1Ctx,
    pub(crate) files: &'a mut Files,
}

impl Parts<'_> {
    /// The descriptor `fd` of the guest.
    pub(crate) fn open(&self, fd: i32) -> Result<Arc<Open>, Errno> {
        self.files.descriptors.get(fd)
    }

    /// Calls wasmtime-wasi's own implementation of a WASI function with the
    /// guest's memory, as its linker's entry would.
    pub(crate) fn delegate(
        &mut self,
        call: impl FnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>) -> wasmtime::Result<i32>,
    ) -> Done {
        abi::from_wasi(call(self.wasi, &mut GuestMemory::Unshared(self.guest.bytes)))
    }

    /// Calls wasmtime-wasi's implementation with a memory of the host's
    /// own: `inputs` laid out one after the other (each at an address the
    /// call gets), then `out_len` zeroed bytes at the last address, which
    /// are returned.
    pub(crate) fn scratch(
        &mut self,
        inputs: &[&[u8]],
        out_len: usize,
        call: impl FnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>, &[i32], i32) -> wasmtime::Result<i32>,
    ) -> Done<Vec<u8>> {
        let mut memory = Vec::new();
        let mut at = Vec::with_capacity(inputs.len());
        for input in inputs {
            at.push(memory.len() as i32);
            memory.extend_from_slice(input);
            memory.resize(memory.len().next_multiple_of(8), 0);
        }
        let out_at = memory.len();
        memory.resize(out_at + out_len, 0);
        abi::from_wasi(call(self.wasi, &mut GuestMemory::Unshared(&mut memory), &at, out_at as i32))?;
        memory.drain(..out_at);
        Ok(memory)
    }

    /// Closes what a descriptor stood for, with its last descriptor.
    pub(crate) fn close(&mut self, open: Option<Open>) {
        close(self.wasi, open);
    }
}

/// Closes what a descriptor stood for, with its last descriptor: a host
/// file in wasmtime-wasi's table; a file of `/tmp` as it is dropped.
fn close(wasi: &mut WasiP1Ctx, open: Option<Open>) {
    if let Some(Open::Host { fd, .. }) = open {
        // Nothing to report: the guest's descriptor is gone already.
        let _ = in_tokio(wasi::fd_close(wasi, &mut GuestMemory::Unshared(&mut []), fd as i32));
    }
}

/// `os.dup(fd)`, or `os.dup2(fd, to)`: the new descriptor, or the errno
/// it failed with; one past the open-handle cap stops the guest
/// ([`HandleLimit`]).
pub(crate) fn dup<T: WasiHost>(state: &mut T, fd: u32, to: Option<u32>) -> wasmtime::Result<Result<u32, Errno>> {
    let (wasi, files) = state.wasi_and_files();
    let fd = fd as i32;
    let done = match to {
        None => files.descriptors.dup(fd),
        Some(to) => files.descriptors.dup2(fd, to as i32).map(|done| {
            done.map(|replaced| {
                close(wasi, replaced);
                to
            })
        }),
    };
    done.map_err(wasmtime::Error::new)
}

/// Serves a WASI call with the store's [`Parts`]: the guest's memory (its
/// host-call fuel set, the bytes one call may copy), wasmtime-wasi's
/// context and the files.
fn serve<T: WasiHost>(caller: &mut Caller<'_, T>, call: impl FnOnce(&mut Parts<'_>) -> Done) -> wasmtime::Result<i32> {
    let Some(memory) = caller.data().memory() else {
        return Ok(ERRNO_FAULT);
    };
    use wasi::WasiSnapshotPreview1;
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (bytes, state) = memory.data_and_store_mut(caller);
    let (wasi, files) = state.wasi_and_files();
    wasi.set_hostcall_fuel(fuel);
    answer(call(&mut Parts { guest: Guest { bytes }, wasi, files }))
}

/// Calls wasmtime-wasi's own implementation of a WASI function, as its
/// linker's entry would: with the guest's memory and its host-call fuel.
fn with_wasi<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    call: impl FnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>) -> wasmtime::Result<i32>,
) -> wasmtime::Result<i32> {
    serve(caller, |parts| parts.delegate(call))
}

/// A failure from an errno.
fn fail<T>(errno: Errno) -> Done<T> {
    Err(Failure::from(errno))
}
