//! The host side of the WIT `host` interface: what a guest's `interpreters`
//! module calls.
//!
//! Nothing a guest sends is trusted. Every id is checked against what that
//! interpreter may reach (its family's interpreters, the channel ends it
//! holds) and every value is decoded and checked before use. What a guest
//! cannot reach is `not-found`, whether or not it exists.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::cancel::CancelFlag;
use crate::channel::{ChannelId, End, Message, Party, Wait};
use crate::sync::lock;
use crate::error::Error;
use crate::guest::isolate::sandbox::host::{self as wit, ChannelEnd};
use crate::guest::isolate::sandbox::types as wit_types;
use crate::interpreter::{HostState, InterpreterBuilder, InterpreterId, InterpreterInner, InterpreterRef};
use crate::limits::{Limit, MAX_CHANNELS, MAX_UNJOINED_RUNS};
use crate::runtime::Runtime;
use crate::value::EndRef;

/// Stack size of the threads that `run_in_thread` starts: room for one
/// call into a guest ([`limits::MAX_WASM_STACK`](crate::limits::MAX_WASM_STACK)
/// of wasm, and the host calls below it) without a new stack segment.
const RUN_THREAD_STACK: usize = 8 << 20;

/// What a store needs to serve its guest's host calls.
pub(crate) struct GuestLink {
    runtime: Runtime,
    me: InterpreterRef,
    runs: HashMap<u64, Arc<RunSlot>>,
    next_run: u64,
    /// When the current run must end: blocking calls wait no longer.
    deadline: Option<Instant>,
    /// The interpreter's cancellation: blocking calls wake when it is set.
    cancel: Arc<CancelFlag>,
    /// The pieces of the value the guest is about to send (`stage-piece`).
    staged: Vec<u8>,
}

/// The result of a run started by `start-interpreter`, once it is known.
#[derive(Default)]
struct RunSlot {
    result: Mutex<Option<Result<(), Error>>>,
    done: Condvar,
}

impl GuestLink {
    pub(crate) fn new(runtime: Runtime, cancel: Arc<CancelFlag>) -> Self {
        GuestLink {
            runtime,
            me: InterpreterRef::new(),
            runs: HashMap::new(),
            next_run: 0,
            deadline: None,
            cancel,
            staged: Vec::new(),
        }
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn cancel_flag(&self) -> &Arc<CancelFlag> {
        &self.cancel
    }

    /// True when the guest must stop where it is: its run's deadline passed,
    /// or it was cancelled.
    pub(crate) fn must_stop(&self) -> bool {
        self.cancel.is_set() || self.expired()
    }

    /// A wait that the run's deadline or a cancellation ended stops the
    /// guest right there, as the epoch callback would a moment later; rather
    /// than hand Python an error it has no time left to handle.
    fn stop_if_interrupted<T>(&self, result: Result<T, wit::Error>) -> wasmtime::Result<Result<T, wit::Error>> {
        match result {
            Err(_) if self.must_stop() => Err(wasmtime::Trap::Interrupt.into()),
            other => Ok(other),
        }
    }

    /// The earlier of a call's own timeout and the run's deadline.
    fn wait(&self, nowait: bool, timeout_ns: Option<u64>) -> Wait {
        if nowait {
            return Wait::No;
        }
        let own = timeout_ns.and_then(|ns| Instant::now().checked_add(Duration::from_nanos(ns)));
        Wait::Until(crate::limits::earlier(own, self.deadline))
    }

    pub(crate) fn set_interpreter(&mut self, me: InterpreterRef) {
        self.me = me;
    }

    /// The interpreter making the call. It is alive: it is running.
    fn me(&self) -> Result<Arc<InterpreterInner>, wit::Error> {
        self.me.upgrade().ok_or_else(|| wit::Error::InterpreterFailed("this interpreter was destroyed".to_owned()))
    }

    /// An interpreter of the caller's family.
    fn interpreter(&self, id: u64) -> Result<Arc<InterpreterInner>, wit::Error> {
        let me = self.me()?;
        self.runtime.interpreter_in(me.family(), InterpreterId(id)).ok_or(wit::Error::InterpreterNotFound)
    }

    /// A channel end the caller holds, as `(channel, party)`.
    fn end(&self, end: EndRef) -> Result<(Arc<crate::channel::Channel>, Party), wit::Error> {
        let me = self.me()?;
        let channel = me.known_channel(end).ok_or(wit::Error::ChannelNotFound)?;
        Ok((channel, Party::Interpreter(me.id())))
    }

    /// A value the guest sent as text (`sent-value`), checked.
    fn message(&self, sent: (String, bool)) -> Result<Message, wit::Error> {
        self.checked(crate::value::from_sent(sent).map_err(to_wit)?)
    }

    /// Checks the bytes of a value from the guest; it may only carry ends
    /// the guest holds.
    fn checked(&self, bytes: Vec<u8>) -> Result<Message, wit::Error> {
        let me = self.me()?;
        Message::from_guest(bytes, |end| me.known_channel(end)).map_err(to_wit)
    }

    /// Wakes a wait on `channel` if the caller is cancelled.
    fn watch(&self, channel: &Arc<crate::channel::Channel>) -> crate::cancel::Watch<'_> {
        let channel = Arc::downgrade(channel);
        self.cancel.watch(move || {
            if let Some(channel) = channel.upgrade() {
                channel.nudge();
            }
        })
    }

    /// A value sent in pieces: the staged ones, then `last`.
    fn staged_message(&self, mut pieces: Vec<u8>, last: (String, bool)) -> Result<Message, wit::Error> {
        pieces.extend_from_slice(&crate::value::from_sent(last).map_err(to_wit)?);
        self.checked(pieces)
    }

    fn bindings(&self, bindings: Vec<(String, (String, bool))>) -> Result<Vec<(String, Message)>, wit::Error> {
        bindings.into_iter().map(|(name, sent)| Ok((name, self.message(sent)?))).collect()
    }
}

fn channel_end(end: ChannelEnd, id: u64) -> (End, EndRef) {
    let id = ChannelId(id);
    match end {
        ChannelEnd::Recv => (End::Recv, EndRef::Recv(id)),
        ChannelEnd::Send => (End::Send, EndRef::Send(id)),
    }
}

/// The WIT error for a host error.
fn to_wit(err: Error) -> wit::Error {
    match err {
        Error::ChannelNotFound(_) => wit::Error::ChannelNotFound,
        Error::ChannelClosed(_) => wit::Error::ChannelClosed,
        Error::ChannelReleased(_) => wit::Error::ChannelReleased,
        Error::ChannelNotEmpty(_) => wit::Error::ChannelNotEmpty,
        Error::NotReceived(_) => wit::Error::NotReceived,
        Error::Timeout => wit::Error::Timeout,
        Error::InvalidValue(why) => wit::Error::InvalidValue(why),
        Error::AlreadyRunning(_) => wit::Error::InterpreterRunning,
        Error::RunFailed(exception) => wit::Error::RunFailed(wit::RemoteException {
            type_name: exception.type_name().to_owned(),
            message: exception.message().to_owned(),
            traceback: exception.traceback(),
        }),
        Error::SystemExit { code } => wit::Error::RunExited(code),
        other => wit::Error::InterpreterFailed(other.to_string()),
    }
}

/// The sandbox's memory limit refused what the guest asked for (`doing`).
fn memory_limit_reached(doing: &str, limit: usize) -> wit::Error {
    wit::Error::LimitReached(format!(
        "{doing}the sandbox's memory limit of {} is reached",
        crate::limits::format_size(limit)
    ))
}

impl wit_types::Host for HostState {}

impl HostState {
    /// Drops the pieces the guest staged, giving their memory back.
    fn drop_staged(&mut self) {
        self.link.staged = Vec::new();
        self.limiter.release_held();
    }
}

impl wit::Host for HostState {
    fn current_interpreter(&mut self) -> u64 {
        self.link.me.upgrade().map_or(u64::MAX, |me| me.id().as_u64())
    }

    fn list_interpreters(&mut self) -> Vec<u64> {
        match self.link.me() {
            Ok(me) => self.link.runtime.family(me.family()).into_iter().map(InterpreterId::as_u64).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn create_interpreter(&mut self) -> Result<u64, wit::Error> {
        let me = self.link.me()?;
        let limit = me.limits().max_interpreters;
        // The family's root was created by the host; the rest by Python.
        if self.link.runtime.family(me.family()).len() > limit {
            return Err(wit::Error::LimitReached(format!(
                "cannot create an interpreter: the limit of {limit} interpreters per sandbox is reached"
            )));
        }
        let child = InterpreterBuilder::for_child(self.link.runtime.clone(), &me).create(Some(&me)).map_err(|err| {
            match err {
                Error::LimitExceeded { limit: Limit::Memory(limit), .. } => {
                    memory_limit_reached("cannot create an interpreter: ", limit)
                }
                other => to_wit(other),
            }
        })?;
        let id = child.id().as_u64();
        me.adopt(child);
        Ok(id)
    }

    fn interpreter_is_running(&mut self, id: u64) -> Result<bool, wit::Error> {
        Ok(self.link.interpreter(id)?.is_running())
    }

    fn destroy_interpreter(&mut self, id: u64) -> Result<(), wit::Error> {
        let target = self.link.interpreter(id)?;
        if target.is_running() {
            return Err(wit::Error::InterpreterRunning);
        }
        // The host owns the interpreters it created; Python code may only
        // destroy those that Python code created (CPython likewise refuses
        // to destroy its main interpreter).
        if target.id() == target.family() {
            return Err(wit::Error::InterpreterFailed("it was created by the host, which alone can destroy it".into()));
        }
        target.destroy().map_err(to_wit)
    }

    fn run_interpreter(
        &mut self,
        id: u64,
        source: String,
        bindings: Vec<(String, (String, bool))>,
    ) -> wasmtime::Result<Result<(), wit::Error>> {
        let target = match self.link.interpreter(id) {
            Ok(target) => target,
            Err(err) => return Ok(Err(err)),
        };
        let bindings = match self.link.bindings(bindings) {
            Ok(bindings) => bindings,
            Err(err) => return Ok(Err(err)),
        };
        // The nested run ends by the caller's deadline too, and cancelling
        // the caller cancels it; if that is what ended it, the caller stops
        // as well.
        let nested = Arc::downgrade(&target);
        let _watch = self.link.cancel.watch(move || {
            if let Some(nested) = nested.upgrade() {
                nested.cancel();
            }
        });
        if self.link.cancel.is_set() {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        let result = target.run(source.as_bytes(), crate::STRING_FILENAME, bindings, self.link.deadline);
        self.link.stop_if_interrupted(result.map_err(to_wit))
    }

    fn start_interpreter(&mut self, id: u64, source: String, bindings: Vec<(String, (String, bool))>) -> Result<u64, wit::Error> {
        let target = self.link.interpreter(id)?;
        let bindings = self.link.bindings(bindings)?;
        if target.is_running() {
            return Err(wit::Error::InterpreterRunning);
        }
        let slot = Arc::new(RunSlot::default());
        let finished = slot.clone();
        std::thread::Builder::new()
            .name(format!("isolate-run-{id}"))
            .stack_size(RUN_THREAD_STACK)
            .spawn(move || {
                let result = target.run(source.as_bytes(), crate::STRING_FILENAME, bindings, None);
                *lock(&finished.result) = Some(result);
                finished.done.notify_all();
            })
            .map_err(|err| wit::Error::InterpreterFailed(format!("cannot start a thread: {err}")))?;
        let handle = self.link.next_run;
        self.link.next_run += 1;
        if self.link.runs.len() >= MAX_UNJOINED_RUNS {
            // Handles count up: the smallest finished ones are the oldest.
            let mut finished: Vec<u64> =
                self.link.runs.iter().filter(|(_, slot)| lock(&slot.result).is_some()).map(|(h, _)| *h).collect();
            finished.sort_unstable();
            for old in finished.into_iter().take(MAX_UNJOINED_RUNS / 2) {
                self.link.runs.remove(&old);
            }
        }
        self.link.runs.insert(handle, slot);
        Ok(handle)
    }

    fn join_run(&mut self, handle: u64, timeout_ns: Option<u64>) -> wasmtime::Result<Result<(), wit::Error>> {
        let Some(slot) = self.link.runs.get(&handle).cloned() else {
            return Ok(Err(if handle < self.link.next_run {
                wit::Error::InterpreterFailed(format!(
                    "the result of this run was discarded: more than {MAX_UNJOINED_RUNS} runs were never joined"
                ))
            } else {
                wit::Error::InterpreterNotFound
            }));
        };
        let Wait::Until(deadline) = self.link.wait(false, timeout_ns) else { unreachable!("a blocking wait") };
        let nudged = slot.clone();
        let _watch = self.link.cancel.watch(move || {
            let _result = lock(&nudged.result);
            nudged.done.notify_all();
        });
        let mut result = lock(&slot.result);
        while result.is_none() {
            if self.link.cancel.is_set() {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            result = match deadline {
                None => slot.done.wait(result).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        drop(result);
                        return self.link.stop_if_interrupted(Err(wit::Error::Timeout));
                    }
                    slot.done.wait_timeout(result, deadline - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
        let outcome = result.take().expect("checked above");
        drop(result);
        self.link.runs.remove(&handle);
        Ok(outcome.map_err(to_wit))
    }

    fn run_is_done(&mut self, handle: u64) -> bool {
        self.link.runs.get(&handle).is_none_or(|slot| lock(&slot.result).is_some())
    }

    fn create_channel(&mut self) -> Result<u64, wit::Error> {
        let me = self.link.me()?;
        if !me.has_room_for_a_channel() {
            return Err(wit::Error::LimitReached(format!(
                "cannot create a channel: this interpreter holds ends of {MAX_CHANNELS} open channels, the limit"
            )));
        }
        let channel = self.link.runtime.new_channel();
        let id = channel.id();
        me.grant_channel(channel);
        Ok(id.as_u64())
    }

    fn list_channels(&mut self) -> Vec<u64> {
        let Ok(me) = self.link.me() else { return Vec::new() };
        me.known_channels().into_iter().filter(|channel| !channel.is_closed()).map(|c| c.id().as_u64()).collect()
    }

    fn stage_piece(&mut self, piece: (String, bool), first: bool) -> Result<(), wit::Error> {
        if first {
            self.drop_staged();
        }
        let piece = crate::value::from_sent(piece).map_err(to_wit)?;
        // The staged bytes are the guest's, held by the host: they count
        // against its sandbox's memory, or a guest could stage piece after
        // piece past its limit.
        if self.link.staged.len() + piece.len() > crate::value::MAX_MESSAGE_SIZE {
            self.drop_staged();
            return Err(to_wit(Error::InvalidValue(format!(
                "a value larger than {} bytes",
                crate::value::MAX_MESSAGE_SIZE
            ))));
        }
        if !self.limiter.hold(piece.len()) {
            self.drop_staged();
            return Err(memory_limit_reached("", self.limiter.limit()));
        }
        self.link.staged.extend_from_slice(&piece);
        Ok(())
    }

    fn channel_send(
        &mut self,
        id: u64,
        value: (String, bool),
        staged: bool,
        nowait: bool,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Result<(), wit::Error>> {
        // Whatever was staged is used now or never.
        let pieces = std::mem::take(&mut self.link.staged);
        self.limiter.release_held();
        let link = &self.link;
        let sent = link.end(EndRef::Send(ChannelId(id))).and_then(|(channel, party)| {
            let message = if staged { link.staged_message(pieces, value)? } else { link.message(value)? };
            let _watch = link.watch(&channel);
            channel.send(party, message, link.wait(nowait, timeout_ns), Some(&link.cancel)).map_err(to_wit)
        });
        link.stop_if_interrupted(sent)
    }

    fn channel_recv(
        &mut self,
        id: u64,
        nowait: bool,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wit::Error>> {
        let link = &self.link;
        let received = link.end(EndRef::Recv(ChannelId(id))).and_then(|(channel, party)| {
            let _watch = link.watch(&channel);
            let Some(message) = channel.recv(party, link.wait(nowait, timeout_ns), Some(&link.cancel)).map_err(to_wit)?
            else {
                return Ok(None);
            };
            // The receiver now holds whatever channel ends the value carries.
            link.me()?.grant(message.ends);
            Ok(Some(message.bytes))
        });
        link.stop_if_interrupted(received)
    }

    fn channel_release(&mut self, id: u64, end: ChannelEnd) -> Result<bool, wit::Error> {
        let (end, end_ref) = channel_end(end, id);
        let (channel, party) = self.link.end(end_ref)?;
        channel.release(party, end).map_err(to_wit)
    }

    fn channel_close(&mut self, id: u64, end: ChannelEnd, force: bool) -> Result<(), wit::Error> {
        let (end, end_ref) = channel_end(end, id);
        let (channel, _) = self.link.end(end_ref)?;
        channel.close(end, force).map_err(to_wit)
    }

    fn channel_interpreters(&mut self, id: u64, end: ChannelEnd) -> Result<Vec<u64>, wit::Error> {
        let (end, end_ref) = channel_end(end, id);
        let (channel, _) = self.link.end(end_ref)?;
        Ok(channel.interpreters(end).map_err(to_wit)?.into_iter().map(InterpreterId::as_u64).collect())
    }
}
