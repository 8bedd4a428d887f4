//! A checked value in flight, and the handles it holds.

use std::sync::Arc;

use super::{Copies, Value, codec, decode, validate};
use crate::channel::{self, Channel};
use crate::error::{Error, Result};
use crate::ids::HandleId;
use crate::queue::{Queue, QueueState};

/// What a handle stands for.
#[derive(Clone)]
pub(crate) enum Held {
    /// A channel, for one of its ends.
    Channel(Arc<Channel>),
    Queue(Arc<QueueState>),
}

/// An encoded, validated value in flight, with the handles it carries.
pub(crate) struct Message {
    pub(crate) bytes: Vec<u8>,
    /// The handles the value names (channel ends, queues), each with what
    /// it stands for. The message holds them: a channel or queue whose
    /// every other holder goes while the message is on its way (the Rust
    /// program dropped the `Value`, the sender released its end) is still
    /// there for the receiver.
    pub(crate) ends: Vec<(HandleId, Held)>,
}

impl Message {
    /// Checks `bytes` (from a guest: untrusted); `held` gives what each
    /// handle the value names stands for, `None` for one the sender does
    /// not hold. Lists and dicts only if `copies` allows them.
    pub(crate) fn from_guest(bytes: Vec<u8>, copies: Copies, held: impl Fn(HandleId) -> Option<Held>) -> Result<Self> {
        let ends = validate(&bytes, copies)?
            .into_iter()
            .map(|end| held(end).map(|held| (end, held)).ok_or(Error::not_found(end)))
            .collect::<Result<_>>()?;
        Ok(Message { bytes, ends })
    }

    /// Encodes a value from the Rust program; one nested deeper than
    /// [`MAX_DEPTH`](crate::MAX_DEPTH) or too large is refused like a
    /// guest's would be, and so is one holding a list or dict unless
    /// `copies` allows them.
    pub(crate) fn from_value(value: &Value, copies: Copies) -> Result<Self> {
        let mut ends = Vec::new();
        let bytes = codec::encode_with(value, |handle| match handle {
            Value::RecvChannel(end) => ends.push((HandleId::Recv(end.id()), Held::Channel(end.channel.clone()))),
            Value::SendChannel(end) => ends.push((HandleId::Send(end.id()), Held::Channel(end.channel.clone()))),
            Value::Queue(queue) => ends.push((HandleId::Queue(queue.id()), Held::Queue(queue.state.clone()))),
            _ => {}
        });
        validate(&bytes, copies)?;
        Ok(Message { bytes, ends })
    }

    /// The value's handle `end` as a Rust handle.
    pub(crate) fn end_value(&self, end: HandleId) -> Result<Value> {
        let held = self.ends.iter().find(|(named, _)| *named == end).map(|(_, held)| held.clone());
        Ok(handle_value(end, held.ok_or(Error::not_found(end))?))
    }

    /// Decodes the value, its handles as Rust handles.
    pub(crate) fn decode(&self) -> Result<Value> {
        decode(&self.bytes, |end| self.end_value(end))
    }
}

/// The handle `handle`, standing for `held`, as a Rust handle.
pub(crate) fn handle_value(handle: HandleId, held: Held) -> Value {
    match (handle, held) {
        (HandleId::Recv(_), Held::Channel(channel)) => Value::RecvChannel(channel::ends(channel).0),
        (HandleId::Send(_), Held::Channel(channel)) => Value::SendChannel(channel::ends(channel).1),
        (_, Held::Queue(state)) => Value::Queue(Queue { state }),
        (HandleId::Queue(_), Held::Channel(_)) => unreachable!("a queue's handle stands for a queue"),
    }
}
