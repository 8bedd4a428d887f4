//! The one place that tells the two value formats apart: the codec
//! (`codec.rs`, whose tags are below 0x20) and CPython's `marshal`
//! (`marshal.rs`, whose type codes are printable), by a message's first
//! byte. The guest tells them apart by the same byte (`MARSHAL_FIRST` in
//! `guest/_isolate_codec.py`, which a test checks). And how a
//! [`Message`] is made from a value, checked, and read back.

use super::message::{Held, Message, Queue, channel_ends};
use super::{Copies, Value, codec, marshal};
use crate::error::{Error, Result};
use crate::ids::HandleId;

/// Whether `bytes` are in `marshal`'s format rather than the codec's.
pub(crate) fn is_marshal(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|&first| first >= 0x28)
}

/// Checks that `bytes` is one well-formed value, in either format
/// (holding lists and dicts only if `copies` allows), and returns the
/// handles it names, without building the value.
pub(crate) fn validate(bytes: &[u8], copies: Copies) -> Result<Vec<HandleId>> {
    if is_marshal(bytes) {
        // `marshal` carries no handles.
        marshal::read(bytes, copies, false)?;
        return Ok(Vec::new());
    }
    codec::validate(bytes, copies)
}

/// Decodes one value, in either format (lists and dicts included);
/// `make_end` turns each handle into its Rust handle.
pub(crate) fn decode(bytes: &[u8], make_end: impl FnMut(HandleId) -> Result<Value>) -> Result<Value> {
    if is_marshal(bytes) {
        return marshal::read(bytes, Copies::Allowed, true);
    }
    codec::decode(bytes, make_end)
}

/// Where the data of a checked message that is one lone `bytes` or buffer
/// starts, and which of the two it is (a codec tag); `None` for any other
/// value.
pub(crate) fn lone_bytes(message: &[u8]) -> Option<(u8, usize)> {
    match *message.first()? {
        // In the codec, after the tag, a varint.
        tag @ (codec::tag::BYTES | codec::tag::BUFFER) => {
            Some((tag, 1 + message[1..].iter().position(|byte| byte & 0x80 == 0).map_or(0, |at| at + 1)))
        }
        // In `marshal`'s format, `s` and a 4-byte length.
        b's' => Some((codec::tag::BYTES, 5)),
        _ => None,
    }
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
        (HandleId::Recv(_), Held::Channel(channel)) => Value::RecvChannel(channel_ends(channel).0),
        (HandleId::Send(_), Held::Channel(channel)) => Value::SendChannel(channel_ends(channel).1),
        (_, Held::Queue(state)) => Value::Queue(Queue { state }),
        (HandleId::Queue(_), Held::Channel(_)) => unreachable!("a queue's handle stands for a queue"),
    }
}

/// The decoder's consistency, checked on any bytes (the oracle of the fuzz
/// target in fuzz/ and of the corpus test): never a panic, `validate` and
/// `decode` agree, and what decodes re-encodes to bytes that decode to the
/// same encoding.
#[cfg(any(test, feature = "fuzzing"))]
pub fn check_decoder(bytes: &[u8]) {
    let checked = validate(bytes, Copies::Allowed);
    let decoded = decode(bytes, |_| Ok(Value::None));
    assert_eq!(checked.is_ok(), decoded.is_ok(), "validate and decode disagree on {bytes:?}");
    if let Ok(value) = decoded {
        let encoded = codec::encode(&value);
        let again = decode(&encoded, |_| Ok(Value::None)).expect("an encoded value decodes");
        assert_eq!(codec::encode(&again), encoded, "re-encoding {bytes:?} is not stable");
    }
}
