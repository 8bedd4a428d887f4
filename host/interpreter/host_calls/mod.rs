//! What a guest's driver and `interpreters` modules ask of the host through
//! the door ([`door`](crate::door)): this file is the door's entry and its
//! one dispatch; each concern answers in a file of its own:
//! - `boot.rs`: the driver's boot, and the exchange of a run with the host;
//! - `interpreters.rs`: creating, forking, running and destroying the
//!   interpreters of the caller's sandbox, and runs on threads;
//! - `channels.rs`: PEP 554's channels;
//! - `queues.rs`: PEP 734's queues;
//! - `functions.rs`: the host functions the embedder offers;
//! - `files.rs`: duplicating descriptors, which WASI cannot.
//!
//! Nothing a guest sends is trusted. Every frame is parsed with bounds
//! checks, every id is checked against what that interpreter may reach (its
//! sandbox's interpreters, the channel ends it holds) and every value is
//! decoded and checked before use. What a guest cannot reach is "not
//! found", whether or not it exists.

mod boot;
mod channels;
mod files;
mod functions;
mod interpreters;
mod queues;

use std::ops::Range;
use std::sync::Arc;

use wasmtime::{Caller, Linker};

use crate::door::{self, Answer, Args, Fault, Op};
use crate::guest_memory::checked_range;
use crate::interpreter::InterpreterInner;
use crate::interpreter::store::{GuestLink, HostState};
use crate::stop::{Stop, Watch};
use crate::value::{self, Copies, Message, Value};

/// Defines the door, `host.call`, in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "host",
        "call",
        |mut caller: Caller<'_, HostState>, at: i32, len: i32, out_at: i32, out_len: i32| -> wasmtime::Result<i32> {
            let Some(exports) = caller.data().exports.clone() else { return Ok(door::BAD_ADDRESS) };
            let (memory, host) = exports.memory.data_and_store_mut(&mut caller);
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
            let received_on = channels::received_on(&memory[request.clone()]);
            let answer = answer(host, memory, request)?;
            let Ok(answer_len) = i32::try_from(answer.len()) else { return Ok(door::BAD_ADDRESS) };
            let answer_at = exports.host_alloc.call(&mut caller, answer_len)?;
            if answer_at == 0 {
                if let Some(channel) = received_on.filter(|_| answer.starts_with(&[0, 1])) {
                    caller.data_mut().staging.keep_undelivered(channel, answer);
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

/// Answers the request frame at `request` in `memory`, the guest's.
///
/// A request answers with a fault or its result. One that waited (on a
/// channel, a queue, a run, a host function) and was ended by the run's
/// deadline or the caller's cancellation stops the guest instead: see
/// [`waited`].
fn answer(host: &mut HostState, memory: &mut [u8], request: Range<usize>) -> wasmtime::Result<Answer> {
    let shared = &*memory;
    let Some((&op, args)) = shared[request].split_first() else {
        return Ok(Answer::fault(Fault::invalid("an empty request")));
    };
    let Some(op) = Op::from_byte(op) else {
        return Ok(Answer::fault(Fault::invalid(format!("an unknown request {op:#04x}"))));
    };
    let args = &mut Args::new(args, shared);
    match op {
        Op::DriverCode => at_once(boot::driver_code(host, args)),
        Op::DriverSource => at_once(boot::driver_source(args)),
        Op::KeepDriverCode => at_once(boot::keep_driver_code(host, args)),
        Op::Ready => at_once(boot::ready(host, args)),
        Op::TakeRun => at_once(boot::take_run(host, args)),
        Op::TakeBindings => at_once(boot::take_bindings(host, args)),
        Op::RunOutcome => at_once(boot::run_outcome(host, args)),
        Op::RunResult => at_once(boot::run_result(host, args)),
        // It writes into the guest's memory, so it reads its arguments
        // first: `args` borrows that memory.
        Op::TakePayload => {
            let place = (|| {
                let (at, len) = (args.u32()?, args.u32()?);
                args.end()?;
                Ok((at, len))
            })();
            at_once(place.and_then(|(at, len)| host.staging.take(memory, at, len)))
        }

        Op::CurrentInterpreter => at_once(interpreters::current(host, args)),
        Op::ListInterpreters => at_once(interpreters::list(host, args)),
        Op::CreateInterpreter => at_once(interpreters::create(host, args, false)),
        Op::ForkInterpreter => at_once(interpreters::create(host, args, true)),
        Op::InterpreterIsRunning => at_once(interpreters::is_running(host, args)),
        Op::DestroyInterpreter => at_once(interpreters::destroy(host, args)),
        Op::RunInterpreter => interpreters::run(host, args),
        Op::InvokeInterpreter => interpreters::invoke(host, args),
        Op::StartInterpreter => at_once(interpreters::start(host, args, false)),
        Op::StartInvoke => at_once(interpreters::start(host, args, true)),
        Op::RunIsDone => at_once(interpreters::run_is_done(host, args)),
        Op::JoinRun => waited(interpreters::join_run(host, args), host.link.stop()),

        Op::CreateChannel => at_once(channels::create(host, args)),
        Op::ListChannels => at_once(channels::list(host, args)),
        Op::ChannelSend => waited(channels::send(host, args), host.link.stop()),
        Op::ChannelRecv => waited(channels::recv(host, args), host.link.stop()),
        Op::ChannelRelease => at_once(channels::release(host, args)),
        Op::ChannelClose => at_once(channels::close(host, args)),
        Op::ChannelInterpreters => at_once(channels::interpreters(host, args)),

        Op::QueueCreate => at_once(queues::create(host, args)),
        Op::QueueBind => at_once(queues::bind_or_release(host, args, true)),
        Op::QueueRelease => at_once(queues::bind_or_release(host, args, false)),
        Op::QueuePut => waited(queues::put(host, args, false), host.link.stop()),
        Op::QueuePutTagged => waited(queues::put(host, args, true), host.link.stop()),
        Op::QueueGet => waited(queues::get(host, args), host.link.stop()),
        Op::QueueWithdraw => at_once(queues::withdraw(host, args)),
        Op::QueueInfo => at_once(queues::info(host, args)),

        Op::Dup => files::dup(host, args, false),
        Op::DupOnto => files::dup(host, args, true),

        Op::ListFunctions => at_once(functions::list(host, args)),
        Op::CallFunction => waited(functions::call(host, args), host.link.stop()),
    }
}

/// The answer of a request that never waits.
fn at_once(answer: Result<Answer, Fault>) -> wasmtime::Result<Answer> {
    Ok(answer.into())
}

/// The answer of a request that waited: a wait that the run's deadline or
/// a cancellation (`stop`) ended stops the guest right there, as the
/// ticker would a moment later, rather than hand Python an error it has no
/// time left to handle.
fn waited(answer: Result<Answer, Fault>, stop: &Stop) -> wasmtime::Result<Answer> {
    match answer {
        Err(_) if stop.must_stop() => Err(wasmtime::Trap::Interrupt.into()),
        other => Ok(other.into()),
    }
}

/// What the handlers ask of the store, whatever their concern.
impl GuestLink {
    /// The interpreter making the call. It is alive: it is running.
    fn me(&self) -> Result<Arc<InterpreterInner>, Fault> {
        self.me.upgrade().ok_or_else(|| Fault::InterpreterFailed("this interpreter was destroyed".to_owned()))
    }

    /// Wakes the wait on `target` that follows, with `nudge`, if the caller
    /// is cancelled while the returned guard lives. The guard holds `target`
    /// weakly: a wait keeps nothing alive.
    fn watch<T: Send + Sync + 'static>(&self, target: &Arc<T>, nudge: fn(&T)) -> Watch<'_> {
        let target = Arc::downgrade(target);
        self.stop.cancel_flag().watch(move || {
            if let Some(target) = target.upgrade() {
                nudge(&target);
            }
        })
    }

    /// Checks the value that ends a request from the guest; it may only
    /// carry ends the guest holds, and copies (lists, dicts) only if
    /// `copies` allows them: a queue's item, a PEP 734 call's request.
    fn message(&self, args: &mut Args<'_>, copies: Copies) -> Result<Message, Fault> {
        let bytes = args.value(value::MAX_MESSAGE_SIZE)?;
        let me = self.me()?;
        Ok(Message::from_guest(bytes, copies, |end| me.handles().get(end))?)
    }
}

/// An answer of ids.
fn ids(ids: impl IntoIterator<Item = u64>) -> Answer {
    ids.into_iter().fold(Answer::ok(), Answer::u64)
}

/// Bindings from the guest: an encoded tuple of `(name, value)` pairs.
fn bindings(me: &InterpreterInner, bytes: &[u8]) -> Result<Vec<(String, Message)>, Fault> {
    let decoded = me.decode_held(bytes)?;
    let Value::Tuple(pairs) = decoded else { return Err(Fault::invalid("bindings that are not a tuple")) };
    pairs
        .into_iter()
        .map(|pair| match pair {
            Value::Tuple(mut pair) if pair.len() == 2 => {
                let value = pair.pop().expect("two items");
                let Some(Value::Str(name)) = pair.pop() else {
                    return Err(Fault::invalid("a binding's name is not a str"));
                };
                Ok((name, Message::from_value(&value, Copies::Refused)?))
            }
            _ => Err(Fault::invalid("a binding that is not a (name, value) pair")),
        })
        .collect()
}
