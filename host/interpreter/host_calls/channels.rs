//! PEP 554's channels: creating and listing them, sending and receiving,
//! releasing and closing their ends.

use std::sync::Arc;

use crate::channel::Channel;
use crate::door::{Answer, Args, Fault, Op};
use crate::ids::{ChannelId, End, HandleId, InterpreterId, Party};
use crate::interpreter::staging::Payload;
use crate::interpreter::store::{GuestLink, HostState};
use crate::limits::MAX_CHANNELS;
use crate::value::Copies;

use super::ids;

impl GuestLink {
    /// A channel end the caller holds, as `(channel, party)`.
    fn end(&self, end: HandleId) -> Result<(Arc<Channel>, Party), Fault> {
        let me = self.me()?;
        let channel = me.known_channel(end).ok_or(Fault::ChannelNotFound)?;
        Ok((channel, Party::Interpreter(me.id())))
    }
}

/// The channel a request receives from, for [`Op::ChannelRecv`]: an answer
/// the guest has no memory for is kept for its next receive there.
pub(super) fn received_on(frame: &[u8]) -> Option<u64> {
    let (&op, args) = frame.split_first()?;
    (Op::from_byte(op) == Some(Op::ChannelRecv)).then(|| Args::new(args, &[]).u64().ok()).flatten()
}

fn channel_end(end: u8, id: u64) -> Result<(End, HandleId), Fault> {
    let id = ChannelId(id);
    match end {
        0 => Ok((End::Recv, HandleId::Recv(id))),
        1 => Ok((End::Send, HandleId::Send(id))),
        other => Err(Fault::InvalidValue(format!("a channel end of {other}"))),
    }
}

/// A new channel; the caller holds both its ends.
pub(super) fn create(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    args.end()?;
    let me = host.link.me()?;
    if !me.handles().has_room() {
        return Err(Fault::LimitReached(format!(
            "cannot create a channel: this interpreter holds ends of {MAX_CHANNELS} open channels, the limit"
        )));
    }
    let channel = host.link.runtime.new_channel();
    let id = channel.id();
    me.handles().grant_channel(channel);
    Ok(Answer::ok().u64(id.as_u64()))
}

/// The open channels the caller holds an end of.
pub(super) fn list(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    args.end()?;
    let me = host.link.me()?;
    Ok(ids(me.known_channels().into_iter().filter(|c| !c.is_closed()).map(|c| c.id().as_u64())))
}

pub(super) fn send(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let link = &host.link;
    let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
    let (channel, party) = link.end(HandleId::Send(ChannelId(id)))?;
    let message = link.message(args, Copies::Refused)?;
    let _watch = link.watch(&channel, Channel::nudge);
    channel.send(party, message, link.stop.wait(nowait, timeout), Some(link.stop.cancel_flag()))?;
    Ok(Answer::ok())
}

/// A receive: nothing (0), a value (1), or a large payload announced (2),
/// which the guest then takes.
pub(super) fn recv(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let asked = args.clone().u64().ok();
    if let Some(announced) = asked.and_then(|id| host.staging.pending(HandleId::Recv(ChannelId(id)))) {
        return Ok(announced);
    }
    let (id, nowait, timeout) = (args.u64()?, args.flag()?, args.timeout()?);
    args.end()?;
    if let Some(answer) = host.staging.take_undelivered(id) {
        return Ok(answer);
    }
    let link = &host.link;
    let from = HandleId::Recv(ChannelId(id));
    let (channel, party) = link.end(from)?;
    let _watch = link.watch(&channel, Channel::nudge);
    let Some(message) = channel.recv(party, link.stop.wait(nowait, timeout), Some(link.stop.cancel_flag()))? else {
        return Ok(Answer::ok().u8(0));
    };
    // The receiver now holds whatever channel ends the value carries.
    link.me()?.grant(message.ends);
    Ok(match Payload::of(from, message.bytes) {
        Ok(payload) => host.staging.stage(payload),
        Err(bytes) => Answer::ok().u8(1).body(bytes),
    })
}

/// Releases the caller's end; the answer says whether the channel closed.
pub(super) fn release(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (id, end) = (args.u64()?, args.u8()?);
    args.end()?;
    let (end, handle) = channel_end(end, id)?;
    let (channel, party) = host.link.end(handle)?;
    Ok(Answer::ok().u8(u8::from(channel.release(party, end)?)))
}

pub(super) fn close(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (id, end, force) = (args.u64()?, args.u8()?, args.flag()?);
    args.end()?;
    let (end, handle) = channel_end(end, id)?;
    let (channel, _) = host.link.end(handle)?;
    channel.close(end, force)?;
    Ok(Answer::ok())
}

/// The interpreters that hold one end of a channel.
pub(super) fn interpreters(host: &mut HostState, args: &mut Args<'_>) -> Result<Answer, Fault> {
    let (id, end) = (args.u64()?, args.u8()?);
    args.end()?;
    let (end, handle) = channel_end(end, id)?;
    let (channel, _) = host.link.end(handle)?;
    Ok(ids(channel.interpreters(end)?.into_iter().map(InterpreterId::as_u64)))
}
