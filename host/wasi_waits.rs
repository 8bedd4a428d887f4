//! The WASI functions isolate wraps: sleeps that end at the run's deadline
//! and on cancellation, and a cap on the files a guest holds open.
//!
//! wasmtime-wasi serves `poll_oneoff` (`time.sleep`, `select`) by parking
//! the thread, where the epoch callback cannot reach the guest:
//! `time.sleep(3600)` would outlive a one-second time limit. A poll on
//! clocks alone is served here instead, by a wait that ends at the clock,
//! the deadline or a cancellation, whichever comes first; polls on files
//! go on to wasmtime-wasi (a file is always ready).
//!
//! Every open file is a descriptor of the host process: `path_open` and
//! `fd_close` are counted, and an open past
//! [`max_handles`](crate::InterpreterBuilder::max_handles) stops the guest
//! with [`HandleLimit`].

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::{AsContextMut, Caller, Linker, Trap};
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;
use wiggle::GuestMemory;

use crate::door::checked_range;
use crate::interpreter::instance::HostState;
use crate::sync::lock;

pub(crate) const WASI: &str = "wasi_snapshot_preview1";

/// WASI's sizes and codes (`wasi_snapshot_preview1.witx`).
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const ERRNO_SUCCESS: i32 = 0;
pub(crate) const ERRNO_FAULT: i32 = 21;

/// The guest's count of open files.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    open: usize,
    max: usize,
}

impl Handles {
    pub(crate) fn new(max: usize) -> Self {
        Handles { open: 0, max }
    }

    /// How many files and directories the guest holds open.
    pub(crate) fn open(&self) -> usize {
        self.open
    }
}

/// The trap of a guest that opened more files than it may hold.
#[derive(Debug)]
pub(crate) struct HandleLimit;

impl std::fmt::Display for HandleLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many open handles")
    }
}

impl std::error::Error for HandleLimit {}

/// Replaces wasmtime-wasi's `poll_oneoff`, `path_open` and `fd_close` in
/// `linker` (which must already hold them).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap(WASI, "poll_oneoff", poll_oneoff)?;
    linker.func_wrap(
        WASI,
        "path_open",
        |mut caller: Caller<'_, HostState>,
         dir: i32,
         dirflags: i32,
         path: i32,
         path_len: i32,
         oflags: i32,
         rights: i64,
         inheriting: i64,
         fdflags: i32,
         opened: i32|
         -> wasmtime::Result<i32> {
            let handles = &caller.data().handles;
            if handles.open >= handles.max {
                return Err(wasmtime::Error::new(HandleLimit));
            }
            let errno = with_wasi(&mut caller, |ctx, memory| {
                in_tokio(wasi::path_open(
                    ctx, memory, dir, dirflags, path, path_len, oflags, rights, inheriting, fdflags, opened,
                ))
            })?;
            if errno == ERRNO_SUCCESS {
                caller.data_mut().handles.open += 1;
            }
            Ok(errno)
        },
    )?;
    linker.func_wrap(WASI, "fd_close", |mut caller: Caller<'_, HostState>, fd: i32| -> wasmtime::Result<i32> {
        let errno = with_wasi(&mut caller, |ctx, memory| in_tokio(wasi::fd_close(ctx, memory, fd)))?;
        if errno == ERRNO_SUCCESS {
            let handles = &mut caller.data_mut().handles;
            handles.open = handles.open.saturating_sub(1);
        }
        Ok(errno)
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Calls wasmtime-wasi's own implementation of a WASI function, as its
/// linker's entry would: with the guest's memory and its host-call fuel
/// (the bytes one call may copy).
pub(crate) fn with_wasi(
    caller: &mut Caller<'_, HostState>,
    call: impl FnOnce(&mut wasmtime_wasi::p1::WasiP1Ctx, &mut GuestMemory<'_>) -> wasmtime::Result<i32>,
) -> wasmtime::Result<i32> {
    use wasi::WasiSnapshotPreview1;
    let Some(memory) = caller.data().exports.as_ref().map(|exports| exports.memory) else {
        return Ok(ERRNO_FAULT);
    };
    let fuel = caller.as_context_mut().hostcall_fuel();
    let (data, state) = memory.data_and_store_mut(caller);
    state.wasi.set_hostcall_fuel(fuel);
    call(&mut state.wasi, &mut GuestMemory::Unshared(data))
}

/// One clock subscription: its userdata, and how long it waits once
/// [`relative`](ClockWait::relative) to now.
struct ClockWait {
    userdata: [u8; 8],
    clock: u32,
    timeout: u64,
    absolute: bool,
    after: Duration,
}

impl ClockWait {
    /// Sets `after`: for an absolute time (CPython's `time.sleep` uses
    /// `clock_nanosleep` with `TIMER_ABSTIME`), against the guest's own
    /// clock; `None` for a clock WASI does not have.
    fn relative(&mut self, ctx: &mut wasmtime_wasi::p1::WasiP1Ctx, memory: &mut GuestMemory<'_>) -> Option<()> {
        use wasi::WasiSnapshotPreview1;
        use wasmtime_wasi::p1::types::Clockid;
        if !self.absolute {
            self.after = Duration::from_nanos(self.timeout);
            return Some(());
        }
        let clock = match self.clock {
            0 => Clockid::Realtime,
            1 => Clockid::Monotonic,
            _ => return None,
        };
        let now = ctx.clock_time_get(memory, clock, 1).ok()?;
        self.after = Duration::from_nanos(self.timeout.saturating_sub(now));
        Some(())
    }
}

fn poll_oneoff(
    mut caller: Caller<'_, HostState>,
    subs: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(memory) = caller.data().exports.as_ref().map(|exports| exports.memory) else {
        return Ok(ERRNO_FAULT);
    };
    let clocks = {
        let data = memory.data(&caller);
        let Some(range) =
            (count as u32).checked_mul(SUBSCRIPTION_SIZE).and_then(|len| checked_range(subs as u32, len, data.len()))
        else {
            return Ok(ERRNO_FAULT);
        };
        clock_waits(&data[range])
    };
    let clocks = clocks.filter(|clocks| !clocks.is_empty()).and_then(|mut clocks| {
        let (data, state) = memory.data_and_store_mut(&mut caller);
        let mut memory = GuestMemory::Unshared(data);
        clocks.iter_mut().try_for_each(|clock| clock.relative(&mut state.wasi, &mut memory)).map(|()| clocks)
    });
    let Some(clocks) = clocks else {
        // Files: wasmtime-wasi's own (a file is always ready).
        return with_wasi(&mut caller, |ctx, memory| {
            in_tokio(wasi::poll_oneoff(ctx, memory, subs, events, count, nevents))
        });
    };

    let start = Instant::now();
    let shortest = clocks.iter().map(|clock| clock.after).min().expect("not empty");
    let until = start.checked_add(shortest);
    let link = &caller.data().link;
    wait_until(link.cancel_flag(), crate::limits::earlier(until, link.deadline()));
    if link.must_stop() {
        return Err(Trap::Interrupt.into());
    }

    let elapsed = start.elapsed();
    let ready: Vec<&ClockWait> = clocks.iter().filter(|clock| clock.after <= elapsed.max(shortest)).collect();
    let data = memory.data_mut(&mut caller);
    let (Some(out), Some(count_at)) = (
        checked_range(events as u32, ready.len() as u32 * EVENT_SIZE, data.len()),
        checked_range(nevents as u32, 4, data.len()),
    ) else {
        return Ok(ERRNO_FAULT);
    };
    for (event, clock) in data[out].chunks_exact_mut(EVENT_SIZE as usize).zip(&ready) {
        event.fill(0);
        event[..8].copy_from_slice(&clock.userdata);
        event[10] = EVENTTYPE_CLOCK;
    }
    data[count_at].copy_from_slice(&(ready.len() as u32).to_le_bytes());
    Ok(ERRNO_SUCCESS)
}

/// The subscriptions as clock waits; `None` if any is not one.
fn clock_waits(subs: &[u8]) -> Option<Vec<ClockWait>> {
    subs.chunks_exact(SUBSCRIPTION_SIZE as usize)
        .map(|sub| {
            if sub[8] != EVENTTYPE_CLOCK {
                return None;
            }
            let flags = u16::from_le_bytes([sub[40], sub[41]]);
            Some(ClockWait {
                userdata: sub[..8].try_into().expect("8 bytes"),
                clock: u32::from_le_bytes(sub[16..20].try_into().expect("4 bytes")),
                timeout: u64::from_le_bytes(sub[24..32].try_into().expect("8 bytes")),
                absolute: flags & SUBCLOCKFLAGS_ABSTIME != 0,
                after: Duration::ZERO,
            })
        })
        .collect()
}

/// Waits until `until` (forever if `None`), or until `cancel` is set.
fn wait_until(cancel: &Arc<crate::cancel::CancelFlag>, until: Option<Instant>) {
    let woken = Arc::new((Mutex::new(()), Condvar::new()));
    let nudged = woken.clone();
    let _watch = cancel.watch(move || {
        let _guard = lock(&nudged.0);
        nudged.1.notify_all();
    });
    let mut guard = lock(&woken.0);
    loop {
        if cancel.is_set() {
            return;
        }
        let now = Instant::now();
        match until {
            Some(until) if now >= until => return,
            Some(until) => guard = woken.1.wait_timeout(guard, until - now).unwrap_or_else(|p| p.into_inner()).0,
            None => guard = woken.1.wait(guard).unwrap_or_else(|p| p.into_inner()),
        }
    }
}
