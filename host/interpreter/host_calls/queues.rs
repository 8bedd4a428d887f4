//! PEP 734's queues: creating, binding and releasing them, putting and
//! getting items, and withdrawing an item put with a tag.

use std::sync::Arc;

use crate::door::{self, Answer, Args, Fault};
use crate::ids::{HandleId, Party, QueueId};
use crate::interpreter::staging::Payload;
use crate::interpreter::store::{GuestLink, HostState};
use crate::limits::MAX_CHANNELS;
use crate::queue::QueueState;
use crate::queue::fifo::{Got, Unbound};
use crate::stop::Wait;
use crate::sync::SPIN;
use crate::value::{Copies, Item, format};

impl GuestLink {
    /// A queue the caller holds.
    fn queue(&self, id: u64) -> Result<Arc<QueueState>, Fault> {
        self.me()?.handles().queue(QueueId(id)).ok_or(Fault::QueueNotFound)
    }
}

fn unbound_policy(flag: u8) -> Result<Unbound, Fault> {
    Unbound::from_flag(flag).ok_or_else(|| Fault::invalid("an unknown unbound policy"))
}

/// A new queue of the caller's sandbox, which the caller holds.
pub(super) fn create(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (maxsize, unbound) = (args.u64()?, args.u8()?);
    args.end()?;
    let unbound = unbound_policy(unbound)?;
    // CPython's `Py_ssize_t`: zero or less is no bound.
    let maxsize = maxsize as i64;
    let me = host.link.me()?;
    if !me.handles().has_room() {
        return Err(Fault::LimitReached(format!(
            "cannot create a queue: this interpreter holds {MAX_CHANNELS} channels and queues, the limit"
        )));
    }
    let queue = host.link.runtime.new_queue(maxsize, unbound, Some(me.sandbox().root()));
    let id = queue.id();
    me.handles().grant_queue(queue);
    Ok(Answer::ok().u64(id.as_u64()))
}

/// Binds (`bind`) or releases the caller's hold on a queue. A queue of its
/// own sandbox can be bound by its id alone.
pub(super) fn bind_or_release(host: &mut HostState, args: &mut Args<'_>, bind: bool) -> Result<Answer, Fault> {
    let id = QueueId(args.u64()?);
    args.end()?;
    let me = host.link.me()?;
    if bind
        && !me.handles().holds(HandleId::Queue(id))
        && let Some(queue) = host.link.runtime.queue_of_sandbox(id, me.sandbox().root())
    {
        // A queue of its own sandbox, named by its id: reached as in
        // CPython. Any other only by being given it.
        if !me.handles().has_room() {
            return Err(Fault::LimitReached(format!(
                "cannot hold the queue: this interpreter holds {MAX_CHANNELS} channels and queues, the limit"
            )));
        }
        me.handles().grant_queue(queue);
    }
    let done = if bind { me.handles().bind_queue(id) } else { me.handles().release_queue(id) };
    if !done {
        return Err(Fault::QueueNotFound);
    }
    Ok(Answer::ok())
}

/// A put; a `tagged` one's item can be withdrawn.
pub(super) fn put(host: &mut HostState, args: &mut Args<'_>, tagged: bool) -> Result<Answer, Fault> {
    let link = &host.link;
    let tag = if tagged { Some(args.u64()?) } else { None };
    let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
    let (unbound, pickled) = (args.u8()?, args.flag()?);
    let unbound = match unbound {
        0 => None,
        flag => Some(unbound_policy(flag)?),
    };
    let queue = link.queue(id)?;
    let message = link.message(args, Copies::Allowed)?;
    let me = link.me()?;
    // Only a put that may wait needs waking when cancelled.
    let _watch = (!nowait && queue.maxsize() > 0).then(|| link.watch(&queue, QueueState::nudge));
    let budget = me.sandbox().memory_budget();
    let charge = budget
        .charge(message.bytes.len())
        .ok_or_else(|| Fault::memory_limit("cannot put the item in the queue: ", budget.limit()))?;
    let item = Item { message, pickled, sandbox: Some(me.sandbox().root()), _charge: Some(charge), tag };
    let party = Party::Interpreter(me.id());
    queue.put(party, item, unbound, link.stop.wait(nowait, timeout), Some(link.stop.cancel_flag()))?;
    Ok(Answer::ok())
}

/// A get: an item (0, then 1 if it is a pickle), the unbound policy of an
/// item whose interpreter went (1), or a large payload announced (2).
pub(super) fn get(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let asked = args.clone().u64().ok();
    if let Some(announced) = asked.and_then(|id| host.staging.pending(HandleId::Queue(QueueId(id)))) {
        return Ok(announced);
    }
    let link = &host.link;
    let (id, how, timeout) = (args.u64()?, args.u8()?, args.timeout()?);
    args.end()?;
    let queue = link.queue(id)?;
    let me = link.me()?;
    let (wait, _watch) = match how {
        door::GET_WAITING => (link.stop.wait(false, timeout), Some(link.watch(&queue, QueueState::nudge))),
        door::GET_NOW => (Wait::No, None),
        // No nudge: a cancel is seen when the moment is over.
        door::GET_BRIEFLY => (link.stop.wait(false, Some(SPIN)), None),
        other => return Err(Fault::InvalidValue(format!("a queue get of kind {other}"))),
    };
    match queue.get(Party::Interpreter(me.id()), wait, Some(link.stop.cancel_flag()))? {
        Got::Item(item) if item.pickled && item.sandbox != Some(me.sandbox().root()) => Err(Fault::invalid(
            "the item is a pickle from another sandbox's interpreter: between sandboxes only values cross \
             (a pickle is code for whoever loads it)",
        )),
        Got::Item(item) => {
            me.grant(item.message.ends);
            if item.pickled {
                // A pickle is `bytes` too, but not the item.
                return Ok(Answer::ok().u8(0).u8(1).body(item.message.bytes));
            }
            Ok(match Payload::of(HandleId::Queue(QueueId(id)), item.message.bytes) {
                Ok(payload) => host.staging.stage(payload),
                Err(bytes) if format::is_marshal(&bytes) => Answer::plain(bytes),
                Err(bytes) => Answer::ok().u8(0).u8(0).body(bytes),
            })
        }
        Got::Unbound(unbound) => Ok(Answer::ok().u8(1).u8(unbound as u8)),
    }
}

/// Withdraws the caller's item put with `tag`, if it is still there; the
/// answer says whether it was.
pub(super) fn withdraw(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (id, tag, keep) = (args.u64()?, args.u64()?, args.flag()?);
    args.end()?;
    let queue = host.link.queue(id)?;
    let me = host.link.me()?;
    Ok(Answer::ok().u8(u8::from(queue.withdraw(Party::Interpreter(me.id()), |item| item.tag == Some(tag), keep))))
}

/// A queue's maxsize, length and default unbound policy.
pub(super) fn info(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let queue = host.link.queue(args.u64()?)?;
    args.end()?;
    let maxsize = queue.given_maxsize() as u64;
    Ok(Answer::ok().u64(maxsize).u64(queue.len() as u64).u8(queue.default_unbound() as u8))
}
