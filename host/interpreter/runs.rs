//! Runs a guest started on threads of their own (`run_in_thread`, PEP
//! 734's `call_in_thread`), and their results until the guest joins them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::door::Fault;
use crate::error::Error;
use crate::ids::InterpreterId;
use crate::interpreter::{Invoked, Reserved};
use crate::limits::{MAX_UNJOINED_RUNS, RUN_THREAD_STACK};
use crate::stop::Stop;
use crate::sync::Watched;

/// What a run started on a new thread does with its interpreter.
pub(crate) type ThreadRun = dyn FnOnce(&Reserved) -> RunResult + Send;

/// How a run on a thread ended: for an invoke, what the guest reported.
pub(crate) type RunResult = Result<Option<Invoked>, Error>;

/// One interpreter's runs on threads, by the handle its guest knows them by.
#[derive(Default)]
pub(crate) struct Runs {
    slots: HashMap<u64, Arc<RunSlot>>,
    next: u64,
}

/// The result of one run, once it is known.
type RunSlot = Watched<Option<RunResult>>;

impl Runs {
    /// Starts `run` of `target` (interpreter `id`, reserved for it) on a new
    /// thread, and gives its handle.
    pub(crate) fn start(&mut self, id: u64, target: Reserved, run: Box<ThreadRun>) -> Result<u64, Fault> {
        let slot = Arc::new(RunSlot::new(None));
        let finished = slot.clone();
        std::thread::Builder::new()
            .name(format!("isolate-run-{id}"))
            .stack_size(RUN_THREAD_STACK)
            .spawn(move || {
                let result = run(&target);
                // Idle again before the joiner hears of it.
                drop(target);
                let mut slot = finished.lock();
                *slot = Some(result);
                finished.notify();
            })
            .map_err(|err| Fault::InterpreterFailed(format!("cannot start a thread: {err}")))?;
        let handle = self.next;
        self.next += 1;
        if self.slots.len() >= MAX_UNJOINED_RUNS {
            // Handles count up: the smallest finished ones are the oldest.
            let mut finished: Vec<u64> =
                self.slots.iter().filter(|(_, slot)| slot.lock().is_some()).map(|(h, _)| *h).collect();
            finished.sort_unstable();
            for old in finished.into_iter().take(MAX_UNJOINED_RUNS / 2) {
                self.slots.remove(&old);
            }
        }
        self.slots.insert(handle, slot);
        Ok(handle)
    }

    /// Whether run `handle` ended; one that was joined or dropped did.
    pub(crate) fn is_done(&self, handle: u64) -> bool {
        self.slots.get(&handle).is_none_or(|slot| slot.lock().is_some())
    }

    /// Waits for run `handle` to end, no longer than `timeout` and the
    /// caller's `stop` allow, and takes its result.
    ///
    /// Cancelling the caller (`me`) wakes the wait; its fault then stops
    /// the caller, as every wait's does (see `host_calls`).
    pub(crate) fn join(
        &mut self,
        handle: u64,
        me: InterpreterId,
        stop: &Stop,
        timeout: Option<Duration>,
    ) -> Result<RunResult, Fault> {
        let Some(slot) = self.slots.get(&handle).cloned() else {
            return Err(if handle < self.next {
                Fault::InterpreterFailed(format!(
                    "the result of this run was discarded: more than {MAX_UNJOINED_RUNS} runs were never joined"
                ))
            } else {
                Fault::InterpreterNotFound
            });
        };
        let deadline = stop.until(timeout);
        let nudged = slot.clone();
        let _watch = stop.cancel_flag().watch(move || nudged.nudge());
        let mut result = slot.lock();
        let outcome = loop {
            if let Some(outcome) = result.take() {
                break outcome;
            }
            if stop.cancel_flag().is_set() {
                return Err(Error::Cancelled(me).into());
            }
            let (next, in_time) = slot.wait(result, deadline);
            result = next;
            if !in_time && result.is_none() {
                return Err(Fault::Timeout);
            }
        };
        drop(result);
        self.slots.remove(&handle);
        Ok(outcome)
    }
}
