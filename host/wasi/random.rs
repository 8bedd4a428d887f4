//! WASI's `random_get`, answering a template's first draws with the hash
//! secret a fixed `PYTHONHASHSEED` derives (see [`hash_seed`](crate::hash_seed)).

use wasmtime::Caller;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;

use super::{ERRNO_FAULT, WasiHost, with_wasi};
use crate::guest_memory::checked_range;

/// WASI's `random_get`: what is left of the store's pending secret first,
/// then wasmtime-wasi's answer, from the system's random source.
pub(super) fn random_get<T: WasiHost>(mut caller: Caller<'_, T>, at: i32, len: i32) -> wasmtime::Result<i32> {
    let (at, len) = (at as u32, len as u32);
    let mut given = 0;
    if let Some(mut pending) = caller.data_mut().pending_secret().take() {
        let Some(memory) = caller.data().memory() else { return Ok(ERRNO_FAULT) };
        let (memory, state) = memory.data_and_store_mut(&mut caller);
        let Some(range) = checked_range(at, len, memory.len()) else {
            // Kept for a draw the guest makes right.
            *state.pending_secret() = Some(pending);
            return Ok(ERRNO_FAULT);
        };
        let secret = pending.take(range.len());
        memory[range.start..range.start + secret.len()].copy_from_slice(secret);
        given = secret.len() as u32;
        *state.pending_secret() = Some(pending).filter(|pending| !pending.is_spent());
    }
    if given == len {
        return Ok(0);
    }
    with_wasi(&mut caller, |ctx, memory| wasi::random_get(ctx, memory, (at + given) as i32, (len - given) as i32))
}
