//! Values in CPython's `marshal` format (version 2), the value codec's fast
//! twin: the guest's C code writes and reads it (`marshal.dumps(v, 2)`,
//! `marshal.loads`), in about a tenth of the time the codec's Python half
//! takes (1.9 µs against 25.5 µs to decode a small dict; 0.4 µs against
//! 8.7 µs to encode a one-item tuple).
//!
//! A value crosses in it whenever it can: both ways, between the Rust
//! program and interpreters and between interpreters. It is told from the
//! codec by its first byte (`format.rs`). Channel ends, queues and buffers have no
//! `marshal` form: a value holding one crosses in the codec instead.
//!
//! The types (those of `Python/marshal.c`): `N` None, `T`/`F` bools, `i` a
//! 32-bit int, `l` a longer int as 15-bit digits, `g` a binary float, `u`
//! (or `t`, interned) a UTF-8 str, `s` bytes, `(` a tuple, `[` a list, `{`
//! a dict (pairs, then `0`). Lengths and counts are 32-bit little-endian.
//!
//! What a guest writes is untrusted: [`read`] accepts exactly these types
//! and nothing else `marshal` knows (no code objects, sets or references),
//! with the codec's limits (depth, size), and checks every length against
//! the bytes left, as the codec's decoder does.

use num_bigint::{BigInt, Sign};

use super::{Copies, MAX_DEPTH, MAX_MESSAGE_SIZE, Value};
use crate::error::{Error, Result};

/// An open container while reading.
enum Open {
    /// A tuple or list: its items so far, how many are still to come.
    Seq { list: bool, items: Vec<Value>, left: usize },
    /// A dict: its pairs so far, and a key waiting for its value.
    Dict { pairs: Vec<(Value, Value)>, key: Option<Value> },
}

/// Reads one value in `marshal`'s format, checking everything; lists and
/// dicts only if `copies` allows them. With `build` false only checks
/// (scalars come back as `None`, without copying their bytes).
pub(crate) fn read(bytes: &[u8], copies: Copies, build: bool) -> Result<Value> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(invalid(format!("a message of {} bytes exceeds the limit of {MAX_MESSAGE_SIZE}", bytes.len())));
    }
    let mut at = 0usize;
    let mut open: Vec<Open> = Vec::new();
    loop {
        let code = *bytes.get(at).ok_or_else(|| invalid(format!("marshal data ends early, at byte {at}")))?;
        at += 1;
        let mut take = |n: usize| -> Result<&[u8]> {
            let end = at.checked_add(n).filter(|&end| end <= bytes.len());
            let end =
                end.ok_or_else(|| invalid(format!("{n} bytes wanted at byte {at}, {} left", bytes.len() - at)))?;
            let taken = &bytes[at..end];
            at = end;
            Ok(taken)
        };
        let mut value = match code {
            b'N' => Value::None,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' => Value::Int(i32::from_le_bytes(take(4)?.try_into().expect("4 bytes")).into()),
            b'l' => {
                let count = i32::from_le_bytes(take(4)?.try_into().expect("4 bytes"));
                let digits = take(count.unsigned_abs() as usize * 2)?;
                read_long(count, digits, build)?
            }
            b'g' => Value::Float(f64::from_le_bytes(take(8)?.try_into().expect("8 bytes"))),
            b'u' | b't' | b's' => {
                let len = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
                let data = take(len)?;
                if code == b's' {
                    if build { Value::Bytes(data.to_vec()) } else { Value::None }
                } else {
                    let text = std::str::from_utf8(data).map_err(|_| invalid("a str is not valid UTF-8"))?;
                    if build { Value::Str(text.to_owned()) } else { Value::None }
                }
            }
            b'(' | b'[' | b'{' => {
                if code != b'(' && copies == Copies::Refused {
                    let name = if code == b'[' { "a list" } else { "a dict" };
                    return Err(invalid(format!(
                        "{name} is not shareable (PEP 554): send a tuple, or copy it otherwise"
                    )));
                }
                if open.len() >= MAX_DEPTH {
                    return Err(invalid(format!("containers nest deeper than {MAX_DEPTH} levels")));
                }
                if code == b'{' {
                    open.push(Open::Dict { pairs: Vec::new(), key: None });
                    continue;
                }
                let count = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
                // Every item takes at least one byte: a count beyond the
                // bytes left is a lie, refused before anything is reserved.
                if count > bytes.len() - at {
                    return Err(invalid(format!(
                        "a container claims {count} items with {} bytes left",
                        bytes.len() - at
                    )));
                }
                if count > 0 {
                    open.push(Open::Seq { list: code == b'[', items: Vec::new(), left: count });
                    continue;
                }
                if code == b'[' { Value::List(Vec::new()) } else { Value::Tuple(Vec::new()) }
            }
            b'0' if matches!(open.last(), Some(Open::Dict { key: None, .. })) => {
                let Some(Open::Dict { pairs, .. }) = open.pop() else { unreachable!("matched above") };
                Value::Dict(pairs)
            }
            other => {
                return Err(invalid(format!(
                    "marshal type code 0x{other:02x} at byte {} is not a value that can cross",
                    at - 1
                )));
            }
        };
        // Hands the value to the containers it completes.
        loop {
            match open.last_mut() {
                None => {
                    if at != bytes.len() {
                        return Err(invalid(format!("{} bytes follow the value", bytes.len() - at)));
                    }
                    return Ok(value);
                }
                Some(Open::Dict { pairs, key }) => {
                    match key.take() {
                        None => {
                            if matches!(value, Value::List(_) | Value::Dict(_)) {
                                return Err(invalid("a dict key that is a list or a dict"));
                            }
                            *key = Some(value);
                        }
                        // Only checking: the containers stay empty.
                        Some(key) if build => pairs.push((key, value)),
                        Some(_) => {}
                    }
                    break;
                }
                Some(Open::Seq { items, left, .. }) => {
                    if build {
                        items.push(value);
                    }
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                    let Some(Open::Seq { list, items, .. }) = open.pop() else { unreachable!("matched above") };
                    value = if list { Value::List(items) } else { Value::Tuple(items) };
                }
            }
        }
    }
}

/// An `l` int: `count` 15-bit digits (negative for a negative int), least
/// significant first, the last one not zero (as CPython requires).
fn read_long(count: i32, digits: &[u8], build: bool) -> Result<Value> {
    let digits: Vec<u16> = digits.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    if digits.iter().any(|&digit| digit >= 1 << 15) {
        return Err(invalid("a marshal int digit out of range"));
    }
    if digits.last() == Some(&0) {
        return Err(invalid("an unnormalized marshal int"));
    }
    if !build {
        return Ok(Value::None);
    }
    let mut magnitude = BigInt::from(0);
    for &digit in digits.iter().rev() {
        magnitude = (magnitude << 15) + digit;
    }
    Ok(Value::Int(if count < 0 { -magnitude } else { magnitude }))
}

fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidValue(why.into())
}

/// `value` in `marshal`'s format, or `None` if it holds something `marshal`
/// cannot carry (a channel end, a buffer). Iterative: a deep value does not
/// exhaust the stack.
pub(crate) fn to_marshal(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write(&mut out, value)?;
    Some(out)
}

/// Appends `value` to `out`; `None` (and `out` partly written) if it holds
/// what `marshal` cannot carry.
pub(crate) fn write(out: &mut Vec<u8>, value: &Value) -> Option<()> {
    // What is left to write: a value, or the end of a dict.
    enum Item<'a> {
        Value(&'a Value),
        DictEnd,
    }
    let mut pending = vec![Item::Value(value)];
    while let Some(item) = pending.pop() {
        let value = match item {
            Item::DictEnd => {
                out.push(b'0');
                continue;
            }
            Item::Value(value) => value,
        };
        match value {
            Value::None => out.push(b'N'),
            Value::Bool(true) => out.push(b'T'),
            Value::Bool(false) => out.push(b'F'),
            Value::Int(n) => write_int(out, n),
            Value::Float(x) => {
                out.push(b'g');
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Str(text) => sized(out, b'u', text.as_bytes())?,
            Value::Bytes(bytes) => sized(out, b's', bytes)?,
            Value::Tuple(items) | Value::List(items) => {
                out.push(if matches!(value, Value::Tuple(_)) { b'(' } else { b'[' });
                out.extend_from_slice(&u32::try_from(items.len()).ok()?.to_le_bytes());
                pending.extend(items.iter().rev().map(Item::Value));
            }
            Value::Dict(items) => {
                out.push(b'{');
                pending.push(Item::DictEnd);
                for (key, value) in items.iter().rev() {
                    pending.push(Item::Value(value));
                    pending.push(Item::Value(key));
                }
            }
            Value::Buffer(_) | Value::Array(_) | Value::RecvChannel(_) | Value::SendChannel(_) | Value::Queue(_) => {
                return None;
            }
        }
    }
    Some(())
}

fn sized(out: &mut Vec<u8>, code: u8, bytes: &[u8]) -> Option<()> {
    out.push(code);
    out.extend_from_slice(&u32::try_from(bytes.len()).ok()?.to_le_bytes());
    out.extend_from_slice(bytes);
    Some(())
}

/// `i` for what fits 32 bits, else `l`: the count of 15-bit digits (negative
/// for a negative int), then the digits of its magnitude, least significant
/// first.
fn write_int(out: &mut Vec<u8>, n: &BigInt) {
    if let Ok(small) = i32::try_from(n) {
        out.push(b'i');
        out.extend_from_slice(&small.to_le_bytes());
        return;
    }
    let (sign, magnitude) = n.to_u32_digits();
    let mut digits: Vec<u16> = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for word in magnitude {
        acc |= u64::from(word) << bits;
        bits += 32;
        while bits >= 15 {
            digits.push((acc & 0x7fff) as u16);
            acc >>= 15;
            bits -= 15;
        }
    }
    if bits > 0 {
        digits.push((acc & 0x7fff) as u16);
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let count = digits.len() as i32;
    out.push(b'l');
    out.extend_from_slice(&(if sign == Sign::Minus { -count } else { count }).to_le_bytes());
    for digit in digits {
        out.extend_from_slice(&digit.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_are_written_as_cpython_writes_them() {
        // marshal.dumps(v, 2) for each, from CPython.
        let cases: [(i128, &[u8]); 5] = [
            (0, b"i\x00\x00\x00\x00"),
            (-1, b"i\xff\xff\xff\xff"),
            (1 << 31, b"l\x03\x00\x00\x00\x00\x00\x00\x00\x02\x00"),
            (-(1 << 40), b"l\xfd\xff\xff\xff\x00\x00\x00\x00\x00\x04"),
            (i64::MAX as i128, b"l\x05\x00\x00\x00\xff\x7f\xff\x7f\xff\x7f\xff\x7f\x07\x00"),
        ];
        for (n, expected) in cases {
            assert_eq!(to_marshal(&n.into()).unwrap(), expected, "{n}");
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let values: Vec<Value> = vec![
            Value::None,
            (true, false).into(),
            (1i64 << 62).into(),
            (-(1i128 << 100)).into(),
            (-7).into(),
            2.5.into(),
            "é and ascii".into(),
            Value::Bytes(vec![0, 255]),
            Value::List(vec![Value::Dict(vec![(1.into(), Value::List(vec![]))]), Value::Tuple(vec![])]),
        ];
        for value in values {
            let bytes = to_marshal(&value).unwrap();
            assert!(crate::value::format::is_marshal(&bytes));
            assert_eq!(read(&bytes, Copies::Allowed, true).unwrap(), value);
            assert!(read(&bytes, Copies::Allowed, false).is_ok());
        }
    }

    #[test]
    fn what_cannot_cross_is_refused_with_a_reason() {
        let refused = |bytes: &[u8], why: &str| match read(bytes, Copies::Allowed, true) {
            Err(Error::InvalidValue(message)) => assert!(message.contains(why), "{message:?} lacks {why:?}"),
            other => panic!("{bytes:?} gave {other:?}"),
        };
        // marshal.dumps({1}, 2), a code object's type, a reference.
        refused(b"<\x01\x00\x00\x00i\x01\x00\x00\x00", "0x3c");
        refused(b"c", "0x63");
        refused(b"\xe9\x01\x00\x00\x00", "0xe9");
        refused(b"(\x05\x00\x00\x00N", "claims 5 items");
        refused(b"s\xff\xff\xff\x7f", "wanted");
        refused(b"u\x01\x00\x00\x00\xff", "UTF-8");
        refused(b"l\x01\x00\x00\x00\x00\x80", "out of range");
        refused(b"l\x01\x00\x00\x00\x00\x00", "unnormalized");
        refused(b"NN", "1 bytes follow");
        refused(b"{[\x00\x00\x00\x00N0", "dict key");
        refused(b"{N", "ends early");
        refused(&b"(\x01\x00\x00\x00".repeat(600), "deeper");
        assert!(matches!(read(b"[\x00\x00\x00\x00", Copies::Refused, true), Err(Error::InvalidValue(_))));
    }

    #[test]
    fn containers_and_what_marshal_cannot_carry() {
        let value = Value::Dict(vec![("a".into(), Value::List(vec![Value::None, (true, 1.5).into()]))]);
        assert_eq!(
            to_marshal(&value).unwrap(),
            b"{u\x01\x00\x00\x00a[\x02\x00\x00\x00N(\x02\x00\x00\x00Tg\x00\x00\x00\x00\x00\x00\xf8?0"
        );
        assert!(to_marshal(&Value::List(vec![Value::Buffer(vec![1])])).is_none());
    }
}
