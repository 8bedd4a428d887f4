//! WASI's blocking calls, made to stop at the run's deadline and when the
//! interpreter is cancelled.
//!
//! wasmtime-wasi serves a blocking call (`time.sleep`, `select`, a read of
//! stdin) by parking the thread on a future, where the epoch callback cannot
//! reach the guest: `time.sleep(3600)` outlived a one-second time limit.
//! These replacements race the same futures against the deadline and the
//! cancel flag, and trap as the epoch callback would.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use wasmtime::component::{Linker, Resource};
use wasmtime::{StoreContextMut, Trap};
use wasmtime_wasi::p2::{DynInputStream, DynPollable};
use wasmtime_wasi_io::bindings::wasi::io::{poll as wasi_poll, streams as wasi_streams};

use crate::cancel::CancelFlag;
use crate::interpreter::HostState;

/// The version of `wasi:io` that wasmtime-wasi defines; its functions are
/// replaced under that exact name. (On a wasmtime upgrade that changes it,
/// instantiation fails in every test, loudly.)
const WASI_IO_VERSION: &str = "0.2.12";

/// Replaces wasmtime-wasi's blocking `wasi:io` functions in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);

    let mut poll = linker.instance(&format!("wasi:io/poll@{WASI_IO_VERSION}"))?;
    poll.func_wrap(
        "poll",
        |mut store: StoreContextMut<'_, HostState>, (pollables,): (Vec<Resource<DynPollable>>,)| {
            let (stop, table) = parts(&mut store);
            let ready = interruptible(stop, wasi_poll::Host::poll(table, pollables))??;
            Ok((ready,))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: StoreContextMut<'_, HostState>, (pollable,): (Resource<DynPollable>,)| {
            let (stop, table) = parts(&mut store);
            interruptible(stop, wasi_poll::HostPollable::block(table, pollable))??;
            Ok(())
        },
    )?;

    let mut streams = linker.instance(&format!("wasi:io/streams@{WASI_IO_VERSION}"))?;
    streams.func_wrap(
        "[method]input-stream.blocking-read",
        |mut store: StoreContextMut<'_, HostState>, (stream, len): (Resource<DynInputStream>, u64)| {
            let (stop, table) = parts(&mut store);
            let read = interruptible(stop, wasi_streams::HostInputStream::blocking_read(&mut *table, stream, len))?;
            let read = match read {
                Ok(bytes) => Ok(bytes),
                Err(err) => Err(wasi_streams::Host::convert_stream_error(table, err)?),
            };
            Ok((read,))
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}

/// When a wait must end, from the store's guest link.
struct Stop {
    cancel: Arc<CancelFlag>,
    deadline: Option<Instant>,
}

fn parts<'a>(store: &'a mut StoreContextMut<'_, HostState>) -> (Stop, &'a mut wasmtime::component::ResourceTable) {
    let state = store.data_mut();
    let stop = Stop { cancel: state.link.cancel_flag().clone(), deadline: state.link.deadline() };
    (stop, state.table_mut())
}

/// Runs `future` on wasmtime-wasi's executor until it completes, or until
/// the deadline passes or the interpreter is cancelled: then a trap.
fn interruptible<F: Future>(stop: Stop, future: F) -> wasmtime::Result<F::Output> {
    let cancelled = Arc::new(tokio::sync::Notify::new());
    let nudged = cancelled.clone();
    // `notify_one` keeps a permit if nobody waits yet: no wake-up is lost.
    let _watch = stop.cancel.watch(move || nudged.notify_one());
    if stop.cancel.is_set() || stop.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return Err(Trap::Interrupt.into());
    }
    wasmtime_wasi::runtime::in_tokio(async {
        let mut future = pin!(future);
        let mut cancelled = pin!(cancelled.notified());
        let mut deadline = pin!(async {
            match stop.deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                None => std::future::pending().await,
            }
        });
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            if cancelled.as_mut().poll(cx).is_ready() || deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(Trap::Interrupt.into()));
            }
            Poll::Pending
        })
        .await
    })
}
