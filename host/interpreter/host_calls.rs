//! What a guest's driver and `interpreters` module ask of the host through
//! the door ([`door`](crate::door)): PEP 554's interpreters and channels,
//! and the driver's own boot and run steps.
//!
//! Nothing a guest sends is trusted. Every frame is parsed with bounds
//! checks, every id is checked against what that interpreter may reach (its
//! sandbox's interpreters, the channel ends it holds) and every value is
//! decoded and checked before use. What a guest cannot reach is "not
//! found", whether or not it exists.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use wasmtime::{Caller, Linker};

use crate::channel::Channel;
use crate::door::{self, Answer, Args, Fault, Op};
use crate::error::Error;
use crate::guest;
use crate::guest_memory::checked_range;
use crate::host_function::Called;
use crate::ids::{ChannelId, End, HandleId, InterpreterId, Party, QueueId};
use crate::interpreter::instance::{HostState, RunKind, RunOutcome, RunRequest};
use crate::interpreter::{InterpreterBuilder, InterpreterInner, InterpreterRef, Invoked, Reserved};
use crate::limits::{Limit, MAX_CHANNELS, MAX_UNJOINED_RUNS};
use crate::queue::{Got, Item, QueueState, Unbound};
use crate::runtime::Runtime;
use crate::stop::{CancelFlag, Stop, Wait};
use crate::sync::lock;
use crate::value::{self, Copies, Message, Value, format, marshal};

/// Stack size of the threads that `run_in_thread` starts: room for one
/// call into a guest ([`limits::MAX_WASM_STACK`](crate::limits::MAX_WASM_STACK)
/// of wasm, and the host calls below it) without a new stack segment.
const RUN_THREAD_STACK: usize = crate::limits::MAX_WASM_STACK + (4 << 20);

/// What a store needs to serve its guest's requests.
pub(crate) struct GuestLink {
    runtime: Runtime,
    me: InterpreterRef,
    runs: HashMap<u64, Arc<RunSlot>>,
    next_run: u64,
    /// When the current run must end, and the interpreter's cancellation:
    /// blocking calls wait no longer, and wake when it is set.
    stop: Stop,
    /// `sys.argv`, given to the driver when it boots.
    argv: Vec<String>,
    /// The driver's entry point, once it booted.
    entry: Option<i32>,
    /// The run the host is making, until the driver takes it.
    request: Option<RunRequest>,
    /// How the run ended, if the driver reported it.
    outcome: Option<RunOutcome>,
    /// An eval's or call's result, as the driver reported it.
    result: Option<Vec<u8>>,
    /// A value received for the guest that it had no memory to take, with
    /// its channel: its next receive on that channel gets it, so that a
    /// memory limit loses no message.
    undelivered: Option<(u64, Answer)>,
    /// The large `bytes` or buffers received for the guest, until it takes
    /// them with [`Op::TakePayload`].
    ///
    /// One per channel or queue: a guest that could not take one (no
    /// memory for it) may receive from elsewhere before it asks again. The
    /// last announced is the one [`Op::TakePayload`] takes.
    payloads: Vec<Payload>,
}

/// A received lone `bytes` or buffer, handed over without its encoding.
struct Payload {
    /// The channel's receiving end or the queue it came from.
    from: HandleId,
    /// The value's tag, which the guest needs to know what to make of it.
    tag: u8,
    /// The encoded value; the payload starts at `start`.
    message: Vec<u8>,
    start: usize,
}

impl Payload {
    /// `message` as a payload, if it is one lone `bytes` or buffer of
    /// [`door::LARGE_PAYLOAD`] bytes or more.
    fn of(from: HandleId, message: Vec<u8>) -> Result<Payload, Vec<u8>> {
        if message.len() < door::LARGE_PAYLOAD {
            return Err(message);
        }
        // A checked message: its length field is right.
        match format::lone_bytes(&message) {
            Some((tag, start)) => Ok(Payload { from, tag, start, message }),
            None => Err(message),
        }
    }

    /// How the guest hears of it: 2, its tag and its length.
    fn announced(&self) -> Answer {
        // A message is below 4 GiB: MAX_MESSAGE_SIZE.
        Answer::ok().u8(2).u8(self.tag).u32((self.message.len() - self.start) as u32)
    }
}

/// What a run started on a new thread does with its interpreter.
type ThreadRun = dyn FnOnce(&Reserved) -> Result<Option<Invoked>, Error> + Send;

/// The result of a run started by `run_in_thread` (or `StartInvoke`),
/// once it is known: for an invoke, what the guest reported.
#[derive(Default)]
struct RunSlot {
    result: Mutex<Option<Result<Option<Invoked>, Error>>>,
    done: Condvar,
}

impl GuestLink {
    pub(crate) fn new(runtime: Runtime, cancel: Arc<CancelFlag>, argv: Vec<String>) -> Self {
        GuestLink {
            runtime,
            me: InterpreterRef::new(),
            runs: HashMap::new(),
            next_run: 0,
            stop: Stop::new(cancel),
            argv,
            entry: None,
            request: None,
            outcome: None,
            result: None,
            undelivered: None,
            payloads: Vec::new(),
        }
    }

    /// A received payload from `from` the guest has not taken yet,
    /// announced again: a receive or get after one that could not take it
    /// (no memory for it) gets it, and nothing is lost.
    fn pending_payload(&mut self, from: HandleId) -> Option<Answer> {
        let at = self.payloads.iter().position(|payload| payload.from == from)?;
        let payload = self.payloads.remove(at);
        Some(self.stage(payload))
    }

    /// Keeps `payload` until the guest takes it ([`Op::TakePayload`]), and
    /// announces it.
    fn stage(&mut self, payload: Payload) -> Answer {
        let announced = payload.announced();
        self.payloads.push(payload);
        announced
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

    /// A wait that the run's deadline or a cancellation ended stops the
    /// guest right there, as the epoch callback would a moment later; rather
    /// than hand Python an error it has no time left to handle.
    fn stop_if_interrupted(&self, result: Result<Answer, Fault>) -> wasmtime::Result<Answer> {
        match result {
            Err(_) if self.stop.must_stop() => Err(wasmtime::Trap::Interrupt.into()),
            other => Ok(other.into()),
        }
    }

    pub(crate) fn set_interpreter(&mut self, me: InterpreterRef) {
        self.me = me;
    }

    /// The interpreter making the call. It is alive: it is running.
    fn me(&self) -> Result<Arc<InterpreterInner>, Fault> {
        self.me.upgrade().ok_or_else(|| Fault::InterpreterFailed("this interpreter was destroyed".to_owned()))
    }

    /// An interpreter of the caller's sandbox.
    fn interpreter(&self, id: u64) -> Result<Arc<InterpreterInner>, Fault> {
        let me = self.me()?;
        self.runtime.interpreter_in(me.family(), InterpreterId(id)).ok_or(Fault::InterpreterNotFound)
    }

    /// A channel end the caller holds, as `(channel, party)`.
    fn end(&self, end: HandleId) -> Result<(Arc<Channel>, Party), Fault> {
        let me = self.me()?;
        let channel = me.known_channel(end).ok_or(Fault::ChannelNotFound)?;
        Ok((channel, Party::Interpreter(me.id())))
    }

    /// Checks the value that ends a request from the guest; it may only
    /// carry ends the guest holds.
    fn message(&self, args: &mut Args<'_>) -> Result<Message, Fault> {
        let bytes = args.value(value::MAX_MESSAGE_SIZE)?;
        let me = self.me()?;
        Ok(Message::from_guest(bytes, Copies::Refused, |end| me.handles().get(end))?)
    }

    /// A value from the guest that may hold copies (lists, dicts): a queue's
    /// item, a PEP 734 call's request or result.
    fn copied_message(&self, args: &mut Args<'_>) -> Result<Message, Fault> {
        let bytes = args.value(value::MAX_MESSAGE_SIZE)?;
        let me = self.me()?;
        Ok(Message::from_guest(bytes, Copies::Allowed, |end| me.handles().get(end))?)
    }

    /// A queue the caller holds.
    fn queue(&self, id: u64) -> Result<Arc<QueueState>, Fault> {
        self.me()?.handles().queue(QueueId(id)).ok_or(Fault::QueueNotFound)
    }

    /// Wakes a wait on `queue` if the caller is cancelled.
    fn watch_queue(&self, queue: &Arc<QueueState>) -> crate::stop::Watch<'_> {
        let queue = Arc::downgrade(queue);
        self.stop.cancel_flag().watch(move || {
            if let Some(queue) = queue.upgrade() {
                queue.nudge();
            }
        })
    }

    /// Bindings from the guest: an encoded tuple of `(name, value)` pairs.
    fn bindings(&self, bytes: &[u8]) -> Result<Vec<(String, Message)>, Fault> {
        let decoded = self.me()?.decode_held(bytes)?;
        let Value::Tuple(pairs) = decoded else { return Err(invalid("bindings that are not a tuple")) };
        pairs
            .into_iter()
            .map(|pair| match pair {
                Value::Tuple(mut pair) if pair.len() == 2 => {
                    let value = pair.pop().expect("two items");
                    let Some(Value::Str(name)) = pair.pop() else {
                        return Err(invalid("a binding's name is not a str"));
                    };
                    Ok((name, Message::from_value(&value, Copies::Refused)?))
                }
                _ => Err(invalid("a binding that is not a (name, value) pair")),
            })
            .collect()
    }

    /// Runs `run`, a run of `target` nested in the caller's: it ends by the
    /// caller's deadline too, and cancelling the caller cancels it; if that
    /// is what ended it, the caller stops as well.
    fn nested(
        &self,
        target: &Arc<InterpreterInner>,
        run: impl FnOnce() -> Result<Answer, Fault>,
    ) -> wasmtime::Result<Answer> {
        let nested = Arc::downgrade(target);
        let _watch = self.stop.cancel_flag().watch(move || {
            if let Some(nested) = nested.upgrade() {
                nested.cancel();
            }
        });
        if self.stop.cancel_flag().is_set() {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        self.stop_if_interrupted(run())
    }

    /// Wakes a wait on `channel` if the caller is cancelled.
    fn watch(&self, channel: &Arc<Channel>) -> crate::stop::Watch<'_> {
        let channel = Arc::downgrade(channel);
        self.stop.cancel_flag().watch(move || {
            if let Some(channel) = channel.upgrade() {
                channel.nudge();
            }
        })
    }
}

fn invalid(why: &str) -> Fault {
    Fault::InvalidValue(why.to_owned())
}

fn channel_end(end: u8, id: u64) -> Result<(End, HandleId), Fault> {
    let id = ChannelId(id);
    match end {
        0 => Ok((End::Recv, HandleId::Recv(id))),
        1 => Ok((End::Send, HandleId::Send(id))),
        other => Err(Fault::InvalidValue(format!("a channel end of {other}"))),
    }
}

fn ids(ids: impl IntoIterator<Item = u64>) -> Answer {
    ids.into_iter().fold(Answer::ok(), Answer::u64)
}

/// Defines the door, `host.call`, in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "host",
        "call",
        |mut caller: Caller<'_, HostState>, at: i32, len: i32, out_at: i32, out_len: i32| -> wasmtime::Result<i32> {
            let Some(exports) = caller.data().exports.clone() else { return Ok(door::BAD_ADDRESS) };
            let (memory, state) = exports.memory.data_and_store_mut(&mut caller);
            let size = memory.len();
            let (Some(request), Some(out_at), Some(out_len)) = (
                checked_range(at as u32, len as u32, size),
                checked_range(out_at as u32, 4, size),
                checked_range(out_len as u32, 4, size),
            ) else {
                return Ok(door::BAD_ADDRESS);
            };
            if request.len() > door::MAX_FRAME {
                return Ok(door::BAD_ADDRESS);
            }
            let received_on = received_on(&memory[request.clone()]);
            let answer = if let [op, args @ ..] = &memory[request.clone()]
                && *op == Op::TakePayload as u8
            {
                let args = args.to_vec();
                take_payload(&mut state.link, memory, &args).into()
            } else {
                state.answer(&memory[request.clone()], memory)?
            };
            let Ok(answer_len) = i32::try_from(answer.len()) else { return Ok(door::BAD_ADDRESS) };
            let answer_at = exports.host_alloc.call(&mut caller, answer_len)?;
            if answer_at == 0 {
                if let Some(channel) = received_on.filter(|_| answer.starts_with(&[0, 1])) {
                    caller.data_mut().link.undelivered = Some((channel, answer));
                }
                return Ok(door::NO_MEMORY);
            }
            let memory = exports.memory.data_mut(&mut caller);
            let Some(range) = checked_range(answer_at as u32, answer_len as u32, memory.len()) else {
                return Ok(door::BAD_ADDRESS);
            };
            answer.write_to(&mut memory[range]);
            memory[out_at].copy_from_slice(&answer_at.to_le_bytes());
            memory[out_len].copy_from_slice(&answer_len.to_le_bytes());
            Ok(door::OK)
        },
    )?;
    Ok(())
}

/// Writes the pending payload where the guest asks ([`Op::TakePayload`]):
/// into the `bytes` it made for it.
fn take_payload(link: &mut GuestLink, memory: &mut [u8], args: &[u8]) -> Result<Answer, Fault> {
    let mut args = Args::new(args, &[]);
    let (at, len) = (args.u32()?, args.u32()?);
    args.end()?;
    let payload = link.payloads.last().ok_or_else(|| invalid("no payload to take"))?;
    let data = &payload.message[payload.start..];
    if data.len() != len as usize {
        return Err(invalid(&format!("a payload of {} bytes taken as {len}", data.len())));
    }
    let range = checked_range(at, len, memory.len())
        .ok_or_else(|| invalid("a place for a payload outside the guest's memory"))?;
    memory[range].copy_from_slice(data);
    link.payloads.pop();
    Ok(Answer::ok())
}

/// The channel a request receives from, for [`Op::ChannelRecv`].
fn received_on(frame: &[u8]) -> Option<u64> {
    let (&op, args) = frame.split_first()?;
    (Op::from_byte(op) == Some(Op::ChannelRecv)).then(|| Args::new(args, &[]).u64().ok()).flatten()
}

impl HostState {
    /// Answers one request frame, from a guest whose memory is `memory`.
    fn answer(&mut self, frame: &[u8], memory: &[u8]) -> wasmtime::Result<Answer> {
        let Some((&op, args)) = frame.split_first() else { return Ok(Answer::fault(invalid("an empty request"))) };
        let Some(op) = Op::from_byte(op) else {
            return Ok(Answer::fault(Fault::InvalidValue(format!("an unknown request {op:#04x}"))));
        };
        let mut args = Args::new(args, memory);
        match op {
            Op::RunInterpreter => return self.run_interpreter(&mut args),
            Op::InvokeInterpreter => return self.invoke_interpreter(&mut args),
            Op::QueuePut => return self.queue_put(&mut args, false),
            Op::QueuePutTagged => return self.queue_put(&mut args, true),
            Op::QueueGet => return self.queue_get(&mut args),
            Op::CallFunction => return self.call_function(&mut args),
            Op::JoinRun => return self.join_run(&mut args),
            Op::ChannelSend => return self.channel_send(&mut args),
            Op::ChannelRecv => return self.channel_recv(&mut args),
            // A lone op byte is taken by the door itself.
            Op::TakePayload => return Ok(Answer::fault(invalid("a payload request takes no arguments"))),
            _ => {}
        }
        Ok(self.answer_at_once(op, &mut args).into())
    }

    /// Answers a request that never waits.
    fn answer_at_once(&mut self, op: Op, args: &mut Args<'_>) -> Result<Answer, Fault> {
        let link = &mut self.link;
        match op {
            Op::DriverCode => {
                args.end()?;
                Ok(Answer::ok().bytes(&link.runtime.driver_code().unwrap_or_default()))
            }
            Op::DriverSource => {
                let source = guest::driver_source(args.rest()).ok_or_else(|| invalid("no such driver module"))?;
                Ok(Answer::ok().bytes(source.as_bytes()))
            }
            Op::KeepDriverCode => {
                // Only while booting: after, the driver is the guest's to
                // change, and no other interpreter may take its word.
                if link.entry.is_none() {
                    link.runtime.keep_driver_code(args.rest().to_vec());
                }
                Ok(Answer::ok())
            }
            Op::Ready => {
                let entry = args.u32()?;
                args.end()?;
                if link.entry.is_some() {
                    return Err(invalid("the driver is already booted"));
                }
                link.entry = Some(entry as i32);
                let argv = Value::Tuple(link.argv.iter().map(|arg| Value::from(arg.as_str())).collect());
                Ok(Answer::ok().bytes(&value::encode(&argv)))
            }
            Op::TakeRun => {
                args.end()?;
                let me = link.me()?;
                // Once per run: the driver takes it as the run starts.
                let request = link.request.as_mut().filter(|r| !r.taken).ok_or_else(|| invalid("no run to take"))?;
                if request.kind == RunKind::Invoke
                    && let Some((_, message)) = request.bindings.pop()
                {
                    // An invoke's request is its source: one step less.
                    me.grant(message.ends);
                    request.source = message.bytes;
                }
                if request.kind == RunKind::Invoke
                    && request.bindings.is_empty()
                    && request.setup.is_none()
                    && format::is_marshal(&request.source)
                {
                    // The most common run, a PEP 734 call or exec: its
                    // request alone, which the driver loads as it is.
                    request.taken = true;
                    return Ok(Answer::plain(std::mem::take(&mut request.source)));
                }
                let flags = u8::from(!request.bindings.is_empty())
                    | (u8::from(request.setup.is_some()) << 1)
                    | ((request.kind as u8) << 2);
                let setup = request.setup.take();
                let capacity = request.source.len() + request.filename.len() + setup.as_ref().map_or(0, Vec::len) + 12;
                let mut answer = Answer::with_capacity(capacity).u8(flags);
                if request.kind != RunKind::Invoke {
                    answer = answer.blob(request.filename.as_bytes());
                }
                if let Some(setup) = &setup {
                    answer = answer.blob(setup);
                }
                let answer = answer.bytes(&request.source);
                request.source = Vec::new();
                request.taken = true;
                Ok(answer)
            }
            Op::TakeBindings => {
                args.end()?;
                let request = link.request.as_mut().ok_or_else(|| invalid("no run to take"))?;
                let bindings = std::mem::take(&mut request.bindings);
                let me = link.me()?;
                // In `marshal`'s format if it can carry them (the guest's
                // C reads it in a tenth of the time), else the codec's.
                if let Some(encoded) = marshalled_bindings(&bindings) {
                    return Ok(Answer::ok().body(encoded));
                }
                let mut encoded = vec![value::tag::TUPLE];
                value::put_varint(&mut encoded, bindings.len() as u64);
                for (name, message) in bindings {
                    encoded.push(value::tag::TUPLE);
                    value::put_varint(&mut encoded, 2);
                    encoded.push(value::tag::STR);
                    value::put_varint(&mut encoded, name.len() as u64);
                    encoded.extend_from_slice(name.as_bytes());
                    encoded.extend_from_slice(&message.bytes);
                    me.grant(message.ends);
                }
                Ok(Answer::ok().bytes(&encoded))
            }
            Op::RunOutcome => {
                link.outcome = Some(run_outcome(args.rest())?);
                Ok(Answer::ok())
            }
            Op::RunResult => {
                // Checked when the host decodes it, after the run.
                let wanted =
                    link.request.as_ref().is_some_and(|request| request.taken && request.kind != RunKind::Exec);
                if !wanted || link.result.is_some() {
                    return Err(invalid("no eval or call to report the result of"));
                }
                link.result = Some(args.rest().to_vec());
                Ok(Answer::ok())
            }
            Op::CurrentInterpreter => Ok(Answer::ok().u64(link.me()?.id().as_u64())),
            Op::ListFunctions => {
                args.end()?;
                let me = link.me()?;
                let names = me.functions().names().map(Value::from).collect();
                Ok(Answer::ok().bytes(&value::encode(&Value::Tuple(names))))
            }
            Op::ListInterpreters => {
                let me = link.me()?;
                Ok(ids(link.runtime.family(me.family()).into_iter().map(InterpreterId::as_u64)))
            }
            Op::CreateInterpreter | Op::ForkInterpreter => {
                let original = match op {
                    Op::ForkInterpreter => Some(link.interpreter(args.u64()?)?),
                    _ => None,
                };
                args.end()?;
                let me = link.me()?;
                let limit = me.limits().max_interpreters;
                // The sandbox's root was created by the host; the rest by Python.
                if link.runtime.family(me.family()).len() > limit {
                    return Err(Fault::LimitReached(format!(
                        "cannot create an interpreter: the limit of {limit} interpreters per sandbox is reached"
                    )));
                }
                let created = match original {
                    Some(original) => original.fork(Some(&me)),
                    None => InterpreterBuilder::for_child(link.runtime.clone(), &me).create(Some(&me)),
                };
                let child = created.map_err(|err| match err {
                    Error::LimitExceeded { limit: Limit::Memory(limit), .. } => {
                        Fault::memory_limit("cannot create an interpreter: ", limit)
                    }
                    other => other.into(),
                })?;
                let id = child.id().as_u64();
                me.adopt(child);
                Ok(Answer::ok().u64(id))
            }
            Op::InterpreterIsRunning => {
                let id = args.u64()?;
                args.end()?;
                Ok(Answer::ok().u8(u8::from(link.interpreter(id)?.is_running())))
            }
            Op::DestroyInterpreter => {
                let id = args.u64()?;
                args.end()?;
                let target = link.interpreter(id)?;
                if target.is_running() {
                    return Err(Fault::InterpreterRunning);
                }
                // The host owns the interpreters it created; Python code may
                // only destroy those that Python code created (CPython
                // likewise refuses to destroy its main interpreter).
                if target.id() == target.family() {
                    return Err(Fault::InterpreterFailed(
                        "it was created by the host, which alone can destroy it".into(),
                    ));
                }
                target.destroy()?;
                Ok(Answer::ok())
            }
            Op::StartInterpreter | Op::StartInvoke => self.start_interpreter(op, args),
            Op::QueueCreate => {
                let (maxsize, unbound) = (args.u64()?, args.u8()?);
                args.end()?;
                let unbound = Unbound::from_flag(unbound).ok_or_else(|| invalid("an unknown unbound policy"))?;
                // CPython's `Py_ssize_t`: zero or less is no bound.
                let maxsize = maxsize as i64;
                let me = link.me()?;
                if !me.handles().has_room() {
                    return Err(Fault::LimitReached(format!(
                        "cannot create a queue: this interpreter holds {MAX_CHANNELS} channels and queues, the limit"
                    )));
                }
                let queue = link.runtime.new_queue(maxsize, unbound, Some(me.family()));
                let id = queue.id();
                me.handles().grant_queue(queue);
                Ok(Answer::ok().u64(id.as_u64()))
            }
            Op::QueueBind | Op::QueueRelease => {
                let id = QueueId(args.u64()?);
                args.end()?;
                let me = link.me()?;
                if op == Op::QueueBind
                    && !me.handles().holds(HandleId::Queue(id))
                    && let Some(queue) = link.runtime.queue_of_sandbox(id, me.family())
                {
                    // A queue of its own sandbox, named by its id: reached
                    // as in CPython. Any other only by being given it.
                    if !me.handles().has_room() {
                        return Err(Fault::LimitReached(format!(
                            "cannot hold the queue: this interpreter holds {MAX_CHANNELS} channels and queues, the limit"
                        )));
                    }
                    me.handles().grant_queue(queue);
                }
                let done =
                    if op == Op::QueueBind { me.handles().bind_queue(id) } else { me.handles().release_queue(id) };
                if !done {
                    return Err(Fault::QueueNotFound);
                }
                Ok(Answer::ok())
            }
            Op::QueueWithdraw => {
                let (id, tag, keep) = (args.u64()?, args.u64()?, args.flag()?);
                args.end()?;
                let queue = link.queue(id)?;
                let me = link.me()?;
                Ok(Answer::ok().u8(u8::from(queue.withdraw(Party::Interpreter(me.id()), tag, keep))))
            }
            Op::QueueInfo => {
                let queue = link.queue(args.u64()?)?;
                args.end()?;
                let maxsize = queue.given_maxsize() as u64;
                Ok(Answer::ok().u64(maxsize).u64(queue.len() as u64).u8(queue.default_unbound() as u8))
            }

            Op::RunIsDone => {
                let handle = args.u64()?;
                args.end()?;
                let done = link.runs.get(&handle).is_none_or(|slot| lock(&slot.result).is_some());
                Ok(Answer::ok().u8(u8::from(done)))
            }
            Op::CreateChannel => {
                args.end()?;
                let me = link.me()?;
                if !me.handles().has_room() {
                    return Err(Fault::LimitReached(format!(
                        "cannot create a channel: this interpreter holds ends of {MAX_CHANNELS} open channels, the limit"
                    )));
                }
                let channel = link.runtime.new_channel();
                let id = channel.id();
                me.handles().grant_channel(channel);
                Ok(Answer::ok().u64(id.as_u64()))
            }
            Op::ListChannels => {
                args.end()?;
                let me = link.me()?;
                Ok(ids(me.known_channels().into_iter().filter(|c| !c.is_closed()).map(|c| c.id().as_u64())))
            }
            Op::ChannelRelease => {
                let (id, end) = (args.u64()?, args.u8()?);
                args.end()?;
                let (end, end_ref) = channel_end(end, id)?;
                let (channel, party) = link.end(end_ref)?;
                Ok(Answer::ok().u8(u8::from(channel.release(party, end)?)))
            }
            Op::ChannelClose => {
                let (id, end, force) = (args.u64()?, args.u8()?, args.flag()?);
                args.end()?;
                let (end, end_ref) = channel_end(end, id)?;
                let (channel, _) = link.end(end_ref)?;
                channel.close(end, force)?;
                Ok(Answer::ok())
            }
            Op::ChannelInterpreters => {
                let (id, end) = (args.u64()?, args.u8()?);
                args.end()?;
                let (end, end_ref) = channel_end(end, id)?;
                let (channel, _) = link.end(end_ref)?;
                Ok(ids(channel.interpreters(end)?.into_iter().map(InterpreterId::as_u64)))
            }
            Op::RunInterpreter
            | Op::InvokeInterpreter
            | Op::QueuePut
            | Op::QueuePutTagged
            | Op::QueueGet
            | Op::JoinRun
            | Op::ChannelSend
            | Op::ChannelRecv
            | Op::TakePayload
            | Op::CallFunction => {
                unreachable!("answered by `answer`, or by the door itself")
            }
        }
    }

    fn run_interpreter(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let link = &self.link;
        let parsed = (|| {
            let id = args.u64()?;
            let source = args.blob()?;
            let bindings = link.bindings(args.rest())?;
            Ok::<_, Fault>((link.interpreter(id)?, source, bindings))
        })();
        let (target, source, bindings) = match parsed {
            Ok(parsed) => parsed,
            Err(fault) => return Ok(Answer::fault(fault)),
        };
        link.nested(&target, || {
            let result = target.run(source, crate::STRING_FILENAME, bindings, link.stop.deadline());
            result.map(|()| Answer::ok()).map_err(Fault::from)
        })
    }

    fn invoke_interpreter(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let link = &self.link;
        let parsed = (|| {
            let id = args.u64()?;
            let request = link.copied_message(args)?;
            Ok::<_, Fault>((link.interpreter(id)?, request))
        })();
        let (target, request) = match parsed {
            Ok(parsed) => parsed,
            Err(fault) => return Ok(Answer::fault(fault)),
        };
        link.nested(&target, || {
            let invoked = target.invoke(request, link.stop.deadline())?;
            Ok(invoked.answer(&*link.me()?))
        })
    }

    /// A put; a `tagged` one's item can be withdrawn ([`Op::QueuePutTagged`]).
    fn queue_put(&mut self, args: &mut Args<'_>, tagged: bool) -> wasmtime::Result<Answer> {
        let link = &self.link;
        let put = (|| {
            let tag = if tagged { Some(args.u64()?) } else { None };
            let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
            let (unbound, pickled) = (args.u8()?, args.flag()?);
            let unbound = match unbound {
                0 => None,
                flag => Some(Unbound::from_flag(flag).ok_or_else(|| invalid("an unknown unbound policy"))?),
            };
            let queue = link.queue(id)?;
            let message = link.copied_message(args)?;
            let me = link.me()?;
            // Only a put that may wait needs waking when cancelled.
            let _watch = (!nowait && queue.maxsize() > 0).then(|| link.watch_queue(&queue));
            let budget = me.memory_budget();
            let charge = budget
                .charge(message.bytes.len())
                .ok_or_else(|| Fault::memory_limit("cannot put the item in the queue: ", budget.limit()))?;
            let item = Item { message, pickled, sandbox: Some(me.family()), _charge: Some(charge), tag };
            queue.put(
                Party::Interpreter(me.id()),
                item,
                unbound,
                link.stop.wait(nowait, timeout),
                Some(link.stop.cancel_flag()),
            )?;
            Ok(Answer::ok())
        })();
        link.stop_if_interrupted(put)
    }

    fn queue_get(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let asked = args.clone().u64().ok();
        if let Some(announced) = asked.and_then(|id| self.link.pending_payload(HandleId::Queue(QueueId(id)))) {
            return Ok(announced);
        }
        let link = &self.link;
        let got = (|| {
            let (id, how, timeout) = (args.u64()?, args.u8()?, args.timeout()?);
            args.end()?;
            let queue = link.queue(id)?;
            let me = link.me()?;
            let (wait, _watch) = match how {
                door::GET_WAITING => (link.stop.wait(false, timeout), Some(link.watch_queue(&queue))),
                door::GET_NOW => (Wait::No, None),
                // No nudge: a cancel is seen when the moment is over.
                door::GET_BRIEFLY => (link.stop.wait(false, Some(crate::sync::SPIN)), None),
                other => return Err(Fault::InvalidValue(format!("a queue get of kind {other}"))),
            };
            match queue.get(Party::Interpreter(me.id()), wait, Some(link.stop.cancel_flag()))? {
                Got::Item(item) if item.pickled && item.sandbox != Some(me.family()) => Err(invalid(
                    "the item is a pickle from another sandbox's interpreter: between sandboxes only values cross \
                     (a pickle is code for whoever loads it)",
                )),
                Got::Item(item) => {
                    me.grant(item.message.ends);
                    if item.pickled {
                        // A pickle is `bytes` too, but not the item.
                        return Ok(Ok(Answer::ok().u8(0).u8(1).body(item.message.bytes)));
                    }
                    Ok(match Payload::of(HandleId::Queue(QueueId(id)), item.message.bytes) {
                        Ok(payload) => Err(payload),
                        Err(bytes) if format::is_marshal(&bytes) => Ok(Answer::plain(bytes)),
                        Err(bytes) => Ok(Answer::ok().u8(0).u8(0).body(bytes)),
                    })
                }
                Got::Unbound(unbound) => Ok(Ok(Answer::ok().u8(1).u8(unbound as u8))),
            }
        })();
        let got = got.map(|answer| answer.unwrap_or_else(|payload| self.link.stage(payload)));
        self.link.stop_if_interrupted(got)
    }

    /// `run_in_thread` (`StartInterpreter`) or PEP 734's `call_in_thread`
    /// (`StartInvoke`): the run goes on a new host thread.
    fn start_interpreter(&mut self, op: Op, args: &mut Args<'_>) -> Result<Answer, Fault> {
        let link = &mut self.link;
        let id = args.u64()?;
        let run: Box<ThreadRun> = if op == Op::StartInvoke {
            let request = link.copied_message(args)?;
            Box::new(move |target| target.invoke(request).map(Some))
        } else {
            let source = args.blob()?.to_vec();
            let bindings = link.bindings(args.rest())?;
            Box::new(move |target| target.run(&source, bindings).map(|()| None))
        };
        // Running from now: nothing may run or destroy it before the thread does.
        let target = link.interpreter(id)?.reserve().map_err(|_| Fault::InterpreterRunning)?;
        let slot = Arc::new(RunSlot::default());
        let finished = slot.clone();
        std::thread::Builder::new()
            .name(format!("isolate-run-{id}"))
            .stack_size(RUN_THREAD_STACK)
            .spawn(move || {
                let result = run(&target);
                // Idle again before the joiner hears of it.
                drop(target);
                *lock(&finished.result) = Some(result);
                finished.done.notify_all();
            })
            .map_err(|err| Fault::InterpreterFailed(format!("cannot start a thread: {err}")))?;
        let handle = link.next_run;
        link.next_run += 1;
        if link.runs.len() >= MAX_UNJOINED_RUNS {
            // Handles count up: the smallest finished ones are the oldest.
            let mut finished: Vec<u64> =
                link.runs.iter().filter(|(_, slot)| lock(&slot.result).is_some()).map(|(h, _)| *h).collect();
            finished.sort_unstable();
            for old in finished.into_iter().take(MAX_UNJOINED_RUNS / 2) {
                link.runs.remove(&old);
            }
        }
        link.runs.insert(handle, slot);
        Ok(Answer::ok().u64(handle))
    }

    fn join_run(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let link = &mut self.link;
        let parsed = (|| {
            let (handle, timeout) = (args.u64()?, args.timeout()?);
            args.end()?;
            Ok::<_, Fault>((handle, timeout))
        })();
        let (handle, timeout) = match parsed {
            Ok(parsed) => parsed,
            Err(fault) => return Ok(Answer::fault(fault)),
        };
        let Some(slot) = link.runs.get(&handle).cloned() else {
            return Ok(Answer::fault(if handle < link.next_run {
                Fault::InterpreterFailed(format!(
                    "the result of this run was discarded: more than {MAX_UNJOINED_RUNS} runs were never joined"
                ))
            } else {
                Fault::InterpreterNotFound
            }));
        };
        let Wait::Until(deadline) = link.stop.wait(false, timeout) else { unreachable!("a blocking wait") };
        let nudged = slot.clone();
        let _watch = link.stop.cancel_flag().watch(move || {
            let _result = lock(&nudged.result);
            nudged.done.notify_all();
        });
        let mut result = lock(&slot.result);
        while result.is_none() {
            if link.stop.cancel_flag().is_set() {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            result = match deadline {
                None => slot.done.wait(result).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        drop(result);
                        return link.stop_if_interrupted(Err(Fault::Timeout));
                    }
                    slot.done.wait_timeout(result, deadline - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
        let outcome = result.take().expect("checked above");
        drop(result);
        link.runs.remove(&handle);
        let answer = match outcome {
            Ok(None) => Ok(Answer::ok()),
            // What a call in a thread returned is dropped, as CPython's
            // thread drops it; how it failed is not.
            Ok(Some(Invoked::Returned(_))) => Ok(Answer::ok()),
            Ok(Some(invoked)) => link.me().map(|me| invoked.answer(&me)),
            Err(err) => Err(Fault::from(err)),
        };
        Ok(answer.into())
    }

    /// Calls a host function on one of the runtime's workers and waits for
    /// it, as long as the run may.
    fn call_function(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let link = &self.link;
        let called = (|| {
            let name = std::str::from_utf8(args.blob()?).map_err(|_| invalid("a function name that is not UTF-8"))?;
            let me = link.me()?;
            let function = me
                .functions()
                .get(name)
                .cloned()
                .ok_or_else(|| Fault::FunctionFailed(format!("the host offers no function named {name:?}")))?;
            // Checked whole; a channel end must be one the caller holds.
            let decoded = me.decode_held(args.rest())?;
            let Value::Tuple(arguments) = decoded else { return Err(invalid("arguments that are not a tuple")) };
            match link.runtime.workers().call(name, function, arguments, || link.stop.must_stop())? {
                Called::Returned(Ok(result)) => {
                    // The codec's checks (depth, size) first, then `marshal`'s
                    // format if it can carry it (see `TakeBindings`).
                    let message = Message::from_value(&result, Copies::Allowed).map_err(|err| {
                        Fault::FunctionFailed(format!("host function `{name}` returned what cannot be copied: {err}"))
                    })?;
                    if message.ends.is_empty()
                        && let Some(encoded) = marshal::to_marshal(&result)
                    {
                        return Ok(Answer::ok().body(encoded));
                    }
                    me.grant(message.ends);
                    Ok(Answer::ok().body(message.bytes))
                }
                Called::Returned(Err(message)) => Err(Fault::FunctionFailed(message)),
                Called::Interrupted => Err(Fault::Timeout),
            }
        })();
        link.stop_if_interrupted(called)
    }

    fn channel_send(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let link = &self.link;
        let sent = (|| {
            let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
            let (channel, party) = link.end(HandleId::Send(ChannelId(id)))?;
            let message = link.message(args)?;
            let _watch = link.watch(&channel);
            channel.send(party, message, link.stop.wait(nowait, timeout), Some(link.stop.cancel_flag()))?;
            Ok(Answer::ok())
        })();
        link.stop_if_interrupted(sent)
    }

    fn channel_recv(&mut self, args: &mut Args<'_>) -> wasmtime::Result<Answer> {
        let asked = args.clone().u64().ok();
        if let Some(announced) = asked.and_then(|id| self.link.pending_payload(HandleId::Recv(ChannelId(id)))) {
            return Ok(announced);
        }
        let undelivered = match &self.link.undelivered {
            Some((channel, _)) if Some(*channel) == asked => self.link.undelivered.take(),
            _ => None,
        };
        let link = &self.link;
        let received = (|| {
            let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
            args.end()?;
            if let Some((_, answer)) = undelivered {
                return Ok(Ok(answer));
            }
            let (channel, party) = link.end(HandleId::Recv(ChannelId(id)))?;
            let _watch = link.watch(&channel);
            let Some(message) = channel.recv(party, link.stop.wait(nowait, timeout), Some(link.stop.cancel_flag()))?
            else {
                return Ok(Ok(Answer::ok().u8(0)));
            };
            // The receiver now holds whatever channel ends the value carries.
            link.me()?.grant(message.ends);
            Ok(match Payload::of(HandleId::Recv(ChannelId(id)), message.bytes) {
                Ok(payload) => Err(payload),
                Err(bytes) => Ok(Answer::ok().u8(1).body(bytes)),
            })
        })();
        let received = received.map(|answer| answer.unwrap_or_else(|payload| self.link.stage(payload)));
        self.link.stop_if_interrupted(received)
    }
}

/// The driver's report of how a run ended ([`Op::RunOutcome`]).
/// A run's bindings as a `marshal`ed tuple of `(name, value)` pairs, if
/// none holds a channel end, a queue or a buffer (which `marshal` cannot
/// carry). A value that came in `marshal`'s format is copied as it is.
fn marshalled_bindings(bindings: &[(String, Message)]) -> Option<Vec<u8>> {
    if bindings.iter().any(|(_, message)| !message.ends.is_empty()) {
        return None;
    }
    let mut out = vec![b'('];
    out.extend_from_slice(&u32::try_from(bindings.len()).ok()?.to_le_bytes());
    for (name, message) in bindings {
        out.push(b'(');
        out.extend_from_slice(&2u32.to_le_bytes());
        marshal::write(&mut out, &Value::from(name.as_str()))?;
        if format::is_marshal(&message.bytes) {
            out.extend_from_slice(&message.bytes);
        } else {
            let value = value::decode(&message.bytes, |end| Err(Error::not_found(end))).ok()?;
            marshal::write(&mut out, &value)?;
        }
    }
    Some(out)
}

fn run_outcome(bytes: &[u8]) -> Result<RunOutcome, Fault> {
    let no_ends = |end: HandleId| Err(Error::not_found(end));
    let bad = || invalid("a malformed run outcome");
    let Value::Tuple(items) = value::decode(bytes, no_ends)? else { return Err(bad()) };
    let [kind, detail]: [Value; 2] = items.try_into().map_err(|_| bad())?;
    match (i64::try_from(kind).map_err(|_| bad())?, detail) {
        (0, status) => Ok(RunOutcome::Exit(i32::try_from(status).map_err(|_| bad())?)),
        (1, Value::Tuple(chain)) => chain
            .into_iter()
            .map(|node| {
                let Value::Tuple(node) = node else { return Err(bad()) };
                let [type_name, message, traceback, link]: [Value; 4] = node.try_into().map_err(|_| bad())?;
                let text = |value: Value| String::try_from(value).map_err(|_| bad());
                let link = u8::try_from(link).map_err(|_| bad())?;
                Ok((text(type_name)?, text(message)?, text(traceback)?, link))
            })
            .collect::<Result<_, Fault>>()
            .map(RunOutcome::Exception),
        _ => Err(bad()),
    }
}
