//! `poll_oneoff` (`time.sleep`, `select`) that ends at the run's deadline
//! and on cancellation.
//!
//! wasmtime-wasi serves it by parking the thread, where nothing that stops
//! a running guest (its memory revoked, or an epoch check) can reach it: `time.sleep(3600)` would outlive a one-second
//! time limit. A poll on clocks alone is served here instead, by a wait
//! that ends at the clock, the deadline or a cancellation, whichever comes
//! first; polls on files go on to wasmtime-wasi (a file is always ready).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Caller, Trap};
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1 as wasi;
use wasmtime_wasi::runtime::in_tokio;
use wiggle::GuestMemory;

use super::descriptors::Open;
use super::{ERRNO_FAULT, ERRNO_SUCCESS, WasiHost, serve};
use crate::guest_memory::checked_range;
use crate::stop::{CancelFlag, earlier};
use crate::sync::Watched;

/// WASI's sizes and codes (`wasi_snapshot_preview1.witx`).
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;

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

pub(super) fn poll_oneoff<T: WasiHost>(
    mut caller: Caller<'_, T>,
    subs: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(memory) = caller.data().memory() else {
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
        clocks.iter_mut().try_for_each(|clock| clock.relative(state.wasi_and_files().0, &mut memory)).map(|()| clocks)
    });
    let Some(clocks) = clocks else {
        return poll_files(&mut caller, subs, events, count, nevents);
    };

    let start = Instant::now();
    let shortest = clocks.iter().map(|clock| clock.after).min().expect("not empty");
    let until = start.checked_add(shortest);
    let stop = caller.data().stop();
    wait_until(stop.cancel_flag(), earlier(until, stop.deadline()));
    if stop.must_stop() {
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

/// A poll that waits on files too. The files served here are always ready:
/// if one is polled, the answer is at once, those ready. Otherwise
/// wasmtime-wasi answers, with its own descriptors (a file is always
/// ready there too; a clock waits alongside).
fn poll_files<T: WasiHost>(
    caller: &mut Caller<'_, T>,
    subs: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    serve(caller, |parts| {
        let len = (count as u32).checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::Fault)?;
        let mut subscriptions = parts.guest.slice(subs, len)?.to_vec();
        parts.guest.check(events, (count as u32) * EVENT_SIZE)?;
        parts.guest.check(nevents, 4)?;
        let mut ready = Vec::new();
        for sub in subscriptions.chunks_exact_mut(SUBSCRIPTION_SIZE as usize) {
            if sub[8] != EVENTTYPE_FD_READ && sub[8] != EVENTTYPE_FD_WRITE {
                continue;
            }
            let fd = i32::from_le_bytes(sub[16..20].try_into().expect("4 bytes"));
            match &*parts.open(fd)? {
                Open::Host { fd: inner, .. } => sub[16..20].copy_from_slice(&inner.to_le_bytes()),
                _ => ready.push((sub[..8].to_vec(), sub[8])),
            }
        }
        if !ready.is_empty() {
            let mut out = Vec::with_capacity(ready.len() * EVENT_SIZE as usize);
            for (userdata, kind) in &ready {
                let mut event = [0u8; EVENT_SIZE as usize];
                event[..8].copy_from_slice(userdata);
                event[10] = *kind;
                out.extend_from_slice(&event);
            }
            parts.guest.write(events, &out)?;
            return Ok(parts.guest.write_u32(nevents, ready.len() as u32)?);
        }
        let answer =
            parts.scratch(&[&subscriptions], (count as usize) * EVENT_SIZE as usize + 8, |ctx, memory, at, out| {
                in_tokio(wasi::poll_oneoff(ctx, memory, at[0], out + 8, count, out))
            })?;
        let got = u32::from_le_bytes(answer[..4].try_into().expect("4 bytes")).min(count as u32);
        parts.guest.write(events, &answer[8..8 + (got * EVENT_SIZE) as usize])?;
        Ok(parts.guest.write_u32(nevents, got)?)
    })
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
fn wait_until(cancel: &CancelFlag, until: Option<Instant>) {
    let woken = Arc::new(Watched::new(()));
    let nudged = woken.clone();
    let _watch = cancel.watch(move || nudged.nudge());
    let mut guard = woken.lock();
    loop {
        if cancel.is_set() {
            return;
        }
        let (next, in_time) = woken.wait(guard, until);
        if !in_time {
            return;
        }
        guard = next;
    }
}
