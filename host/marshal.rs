//! Values written in CPython's `marshal` format, for the guest to read with
//! `marshal.loads`: C code, about a tenth of the time the value codec's
//! Python half takes to decode the same value in the guest (1.9 µs against
//! 25.5 µs for a binding holding a small dict).
//!
//! Only the host writes it, and only for what goes into an interpreter
//! outside channels (a run's bindings, a call's arguments); the guest tells
//! it from the value codec by its first byte (the codec's tags are below
//! 0x20, marshal's type codes are printable). Channel ends and buffers have
//! no `marshal` form: a value holding one is sent in the codec instead.
//!
//! The types written (those of `Python/marshal.c`): `N` None, `T`/`F`
//! bools, `i` a 32-bit int, `l` a longer int as 15-bit digits, `g` a
//! binary float, `u` a UTF-8 str, `s` bytes, `(` a tuple, `[` a list, `{`
//! a dict (pairs, then `0`). Lengths and counts are 32-bit little-endian.

use num_bigint::{BigInt, Sign};

use crate::value::Value;

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
            Value::Buffer(_) | Value::RecvChannel(_) | Value::SendChannel(_) | Value::Queue(_) => return None,
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
    fn containers_and_what_marshal_cannot_carry() {
        let value = Value::Dict(vec![("a".into(), Value::List(vec![Value::None, (true, 1.5).into()]))]);
        assert_eq!(
            to_marshal(&value).unwrap(),
            b"{u\x01\x00\x00\x00a[\x02\x00\x00\x00N(\x02\x00\x00\x00Tg\x00\x00\x00\x00\x00\x00\xf8?0"
        );
        assert!(to_marshal(&Value::List(vec![Value::Buffer(vec![1])])).is_none());
    }
}
