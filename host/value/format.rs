//! The one place that tells the two value formats apart: the codec
//! (`codec.rs`, whose tags are below 0x20) and CPython's `marshal`
//! (`marshal.rs`, whose type codes are printable), by a message's first
//! byte. The guest tells them apart by the same byte (`_decode` in
//! `guest/interpreters.py`, and the answers it reads).

use super::{Copies, Value, codec, marshal};
use crate::error::Result;
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
