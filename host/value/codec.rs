//! The encoding of our own that values cross the sandbox boundary in.
//!
//! A value travels as bytes in a compact encoding, written by the guest
//! (`guest/_isolate_codec.py`) or by [`encode`], and checked by the host,
//! where it lies in the guest's memory, before anything else reads it:
//!
//! ```text
//! value := tag payload
//!   0x00 None            0x01 False            0x02 True
//!   0x03 int     len:varint, then len bytes: two's complement, little-endian
//!   0x04 float   8 bytes: IEEE 754 binary64, little-endian
//!   0x05 str     len:varint, then len bytes of UTF-8
//!   0x06 bytes   len:varint, then len bytes
//!   0x07 buffer  len:varint, then len bytes (received as a read-only memoryview)
//!   0x08 tuple   count:varint, then count values
//!   0x09 recv    channel id: 8 bytes little-endian (a `RecvChannel`)
//!   0x0a send    channel id: 8 bytes little-endian (a `SendChannel`)
//!   0x0b list    count:varint, then count values
//!   0x0c dict    count:varint, then count pairs of values: key, value
//!   0x0d queue   queue id: 8 bytes little-endian (a PEP 734 `Queue`)
//!   0x0e array   dtype: len:varint, then len bytes (numpy's `dtype.str`);
//!                ndim:varint, then ndim varints (the shape);
//!                len:varint, then len bytes (the elements, C order)
//! varint := unsigned LEB128, at most 10 bytes
//! ```
//!
//! A value without handles or buffers may come in CPython's `marshal`
//! format instead (see `marshal.rs`), told apart by its first byte
//! (`format.rs`).
//!
//! A message is exactly one value. Decoding is iterative (no recursion a
//! guest could exhaust) and refuses, with [`Error::InvalidValue`], anything
//! malformed: an unknown tag, a length past the end, invalid UTF-8, nesting
//! deeper than [`MAX_DEPTH`], a message larger than [`MAX_MESSAGE_SIZE`], or
//! trailing bytes.

use num_bigint::BigInt;

use super::{Array, Copies, MAX_DEPTH, MAX_DIMENSIONS, MAX_MESSAGE_SIZE, Value};
use crate::error::{Error, Result};
use crate::ids::{ChannelId, HandleId, QueueId};

pub(crate) mod tag {
    pub const NONE: u8 = 0x00;
    pub const FALSE: u8 = 0x01;
    pub const TRUE: u8 = 0x02;
    pub const INT: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const STR: u8 = 0x05;
    pub const BYTES: u8 = 0x06;
    pub const BUFFER: u8 = 0x07;
    pub const TUPLE: u8 = 0x08;
    pub const RECV: u8 = 0x09;
    pub const SEND: u8 = 0x0a;
    pub const LIST: u8 = 0x0b;
    pub const DICT: u8 = 0x0c;
    pub const QUEUE: u8 = 0x0d;
    pub const ARRAY: u8 = 0x0e;
}

/// The kinds of container a message nests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Tuple,
    List,
    Dict,
}

/// Encodes `value`. Iterative: a deep value does not exhaust the stack.
pub(crate) fn encode(value: &Value) -> Vec<u8> {
    encode_with(value, |_| {})
}

/// Encodes `value`, and gives `handle` each channel end and queue it
/// holds, in the order of the encoding (the order [`validate`] names them).
pub(super) fn encode_with(value: &Value, mut handle: impl FnMut(&Value)) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::None => out.push(tag::NONE),
            Value::Bool(false) => out.push(tag::FALSE),
            Value::Bool(true) => out.push(tag::TRUE),
            Value::Int(int) => {
                let bytes = if int.sign() == num_bigint::Sign::NoSign { Vec::new() } else { int.to_signed_bytes_le() };
                put_bytes(&mut out, tag::INT, &bytes);
            }
            Value::Float(float) => {
                out.push(tag::FLOAT);
                out.extend_from_slice(&float.to_le_bytes());
            }
            Value::Str(text) => put_bytes(&mut out, tag::STR, text.as_bytes()),
            Value::Bytes(bytes) => put_bytes(&mut out, tag::BYTES, bytes),
            Value::Buffer(bytes) => put_bytes(&mut out, tag::BUFFER, bytes),
            Value::Tuple(items) => {
                out.push(tag::TUPLE);
                put_varint(&mut out, items.len() as u64);
                pending.extend(items.iter().rev());
            }
            Value::List(items) => {
                out.push(tag::LIST);
                put_varint(&mut out, items.len() as u64);
                pending.extend(items.iter().rev());
            }
            Value::Dict(items) => {
                out.push(tag::DICT);
                put_varint(&mut out, items.len() as u64);
                for (key, value) in items.iter().rev() {
                    pending.push(value);
                    pending.push(key);
                }
            }
            Value::Array(array) => {
                put_bytes(&mut out, tag::ARRAY, array.dtype().as_bytes());
                put_varint(&mut out, array.shape().len() as u64);
                for &n in array.shape() {
                    put_varint(&mut out, n as u64);
                }
                put_varint(&mut out, array.data().len() as u64);
                out.extend_from_slice(array.data());
            }
            Value::RecvChannel(end) => {
                handle(value);
                out.push(tag::RECV);
                out.extend_from_slice(&end.id().as_u64().to_le_bytes());
            }
            Value::SendChannel(end) => {
                handle(value);
                out.push(tag::SEND);
                out.extend_from_slice(&end.id().as_u64().to_le_bytes());
            }
            Value::Queue(queue) => {
                handle(value);
                out.push(tag::QUEUE);
                out.extend_from_slice(&queue.id().as_u64().to_le_bytes());
            }
        }
    }
    out
}

fn put_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// What a decoder does with each piece of a well-formed message.
trait Visitor {
    fn scalar(&mut self, value: Value);
    /// A container of `values` values (a dict's are its keys and values).
    fn begin(&mut self, container: Container, values: usize);
    fn end(&mut self, end: HandleId) -> Result<()>;
}

/// Checks that `bytes` is one well-formed value (holding lists and dicts
/// only if `copies` allows) and returns the channel ends it names, without
/// building the value.
pub(super) fn validate(bytes: &[u8], copies: Copies) -> Result<Vec<HandleId>> {
    struct Ends(Vec<HandleId>);
    impl Visitor for Ends {
        fn scalar(&mut self, _: Value) {}
        fn begin(&mut self, _: Container, _: usize) {}
        fn end(&mut self, end: HandleId) -> Result<()> {
            self.0.push(end);
            Ok(())
        }
    }
    let mut ends = Ends(Vec::new());
    walk(bytes, &mut ends, false, copies)?;
    Ok(ends.0)
}

/// Decodes one value (lists and dicts included); `make_end` turns each
/// channel end into its handle.
pub(super) fn decode(bytes: &[u8], make_end: impl FnMut(HandleId) -> Result<Value>) -> Result<Value> {
    struct Builder<F> {
        // Open containers: their kind, the values so far and how many are
        // still to come.
        open: Vec<(Container, Vec<Value>, usize)>,
        done: Option<Value>,
        make_end: F,
    }
    fn build(container: Container, values: Vec<Value>) -> Value {
        match container {
            Container::Tuple => Value::Tuple(values),
            Container::List => Value::List(values),
            Container::Dict => {
                let mut pairs = Vec::with_capacity(values.len() / 2);
                let mut values = values.into_iter();
                while let (Some(key), Some(value)) = (values.next(), values.next()) {
                    pairs.push((key, value));
                }
                Value::Dict(pairs)
            }
        }
    }
    impl<F: FnMut(HandleId) -> Result<Value>> Builder<F> {
        fn push(&mut self, mut value: Value) {
            loop {
                match self.open.last_mut() {
                    None => {
                        self.done = Some(value);
                        return;
                    }
                    Some((_, values, remaining)) => {
                        values.push(value);
                        *remaining -= 1;
                        if *remaining > 0 {
                            return;
                        }
                        let (container, values, _) = self.open.pop().expect("an open container");
                        value = build(container, values);
                    }
                }
            }
        }
    }
    impl<F: FnMut(HandleId) -> Result<Value>> Visitor for Builder<F> {
        fn scalar(&mut self, value: Value) {
            self.push(value);
        }
        fn begin(&mut self, container: Container, values: usize) {
            if values == 0 {
                self.push(build(container, Vec::new()));
            } else {
                // No capacity from `values`: it is the guest's claim, not
                // yet backed by bytes.
                self.open.push((container, Vec::new(), values));
            }
        }
        fn end(&mut self, end: HandleId) -> Result<()> {
            let value = (self.make_end)(end)?;
            self.push(value);
            Ok(())
        }
    }
    let mut builder = Builder { open: Vec::new(), done: None, make_end };
    walk(bytes, &mut builder, true, Copies::Allowed)?;
    builder.done.ok_or_else(|| invalid("the message holds no value"))
}

fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidValue(why.into())
}

/// The one decoder: walks `bytes` iteratively, checking everything.
fn walk(bytes: &[u8], visitor: &mut impl Visitor, build: bool, copies: Copies) -> Result<()> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(invalid(format!("a message of {} bytes exceeds the limit of {MAX_MESSAGE_SIZE}", bytes.len())));
    }
    let mut reader = Reader { bytes, at: 0 };
    // How many values each open container still expects; the message
    // itself is a "tuple" of one.
    let mut remaining: Vec<u64> = vec![1];
    while let Some(count) = remaining.last_mut() {
        if *count == 0 {
            remaining.pop();
            continue;
        }
        *count -= 1;
        let tag = reader.byte()?;
        match tag {
            tag::NONE => visitor.scalar(Value::None),
            tag::FALSE => visitor.scalar(Value::Bool(false)),
            tag::TRUE => visitor.scalar(Value::Bool(true)),
            tag::INT => {
                let bytes = reader.sized()?;
                visitor.scalar(if build { Value::Int(BigInt::from_signed_bytes_le(bytes)) } else { Value::None });
            }
            tag::FLOAT => {
                let bytes: [u8; 8] = reader.take(8)?.try_into().expect("eight bytes");
                visitor.scalar(Value::Float(f64::from_le_bytes(bytes)));
            }
            tag::STR => {
                let text = std::str::from_utf8(reader.sized()?).map_err(|_| invalid("a str is not valid UTF-8"))?;
                visitor.scalar(if build { Value::Str(text.to_owned()) } else { Value::None });
            }
            tag::BYTES => {
                let bytes = reader.sized()?;
                visitor.scalar(if build { Value::Bytes(bytes.to_vec()) } else { Value::None });
            }
            tag::BUFFER => {
                let bytes = reader.sized()?;
                visitor.scalar(if build { Value::Buffer(bytes.to_vec()) } else { Value::None });
            }
            tag::ARRAY => {
                if copies == Copies::Refused {
                    return Err(invalid("a numpy array is not shareable (PEP 554): send its bytes as a buffer"));
                }
                let dtype = std::str::from_utf8(reader.sized()?).map_err(|_| invalid("a dtype is not text"))?;
                let ndim = reader.varint()?;
                if ndim > MAX_DIMENSIONS as u64 {
                    return Err(invalid(format!("an array of {ndim} dimensions (numpy allows {MAX_DIMENSIONS})")));
                }
                let shape = (0..ndim)
                    .map(|_| usize::try_from(reader.varint()?).map_err(|_| invalid("an array's dimension overflows")))
                    .collect::<Result<Vec<_>>>()?;
                let data = reader.sized()?;
                // Checked whether built or not: a message is valid or not.
                Array::check(dtype, &shape, data.len())?;
                visitor.scalar(if build {
                    Value::Array(Array::new(dtype, shape, data.to_vec())?)
                } else {
                    Value::None
                });
            }
            tag::TUPLE | tag::LIST | tag::DICT => {
                let container = match tag {
                    tag::TUPLE => Container::Tuple,
                    tag::LIST => Container::List,
                    _ => Container::Dict,
                };
                let name = match container {
                    Container::Tuple => "a tuple",
                    Container::List => "a list",
                    Container::Dict => "a dict",
                };
                if container != Container::Tuple && copies == Copies::Refused {
                    return Err(invalid(format!(
                        "{name} is not shareable (PEP 554): send a tuple, or copy it otherwise"
                    )));
                }
                let count = reader.varint()?;
                let values = if container == Container::Dict { count.checked_mul(2) } else { Some(count) };
                // Every value takes at least one byte: a count beyond the
                // bytes left is a lie, refused before anything is reserved.
                let values = values
                    .filter(|&values| values <= reader.left() as u64)
                    .ok_or_else(|| invalid(format!("{name} claims {count} items with {} bytes left", reader.left())))?;
                if remaining.len() > MAX_DEPTH {
                    return Err(invalid(format!("containers nest deeper than {MAX_DEPTH} levels")));
                }
                visitor.begin(container, values as usize);
                if values > 0 {
                    remaining.push(values);
                }
            }
            tag::RECV | tag::SEND => {
                let id = ChannelId(u64::from_le_bytes(reader.take(8)?.try_into().expect("eight bytes")));
                visitor.end(if tag == tag::RECV { HandleId::Recv(id) } else { HandleId::Send(id) })?;
            }
            tag::QUEUE => {
                let id = QueueId(u64::from_le_bytes(reader.take(8)?.try_into().expect("eight bytes")));
                visitor.end(HandleId::Queue(id))?;
            }
            other => return Err(invalid(format!("unknown tag 0x{other:02x} at byte {}", reader.at - 1))),
        }
    }
    if reader.left() != 0 {
        return Err(invalid(format!("{} bytes follow the value", reader.left())));
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(invalid(format!("{n} bytes wanted at byte {}, {} left", self.at, self.left())));
        }
        let taken = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64> {
        let mut n: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(invalid("a length overflows 64 bits"));
            }
            n |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(invalid("a length is longer than 10 bytes"))
    }

    fn sized(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| invalid("a length overflows"))?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::format::{check_decoder, decode, validate};

    fn no_ends(end: HandleId) -> Result<Value> {
        panic!("no channel ends expected, got {end:?}")
    }

    fn roundtrip(value: Value) {
        let bytes = encode(&value);
        assert!(validate(&bytes, Copies::Allowed).unwrap().is_empty());
        assert_eq!(decode(&bytes, no_ends).unwrap(), value);
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        roundtrip(Value::None);
        roundtrip(true.into());
        roundtrip(false.into());
        for n in
            [0i128, 1, -1, 127, 128, -128, -129, 255, 256, i64::MAX as i128, i64::MIN as i128, i128::MAX, i128::MIN]
        {
            roundtrip(n.into());
        }
        roundtrip(Value::Int(BigInt::from(3).pow(1000)));
        roundtrip(Value::Int(-BigInt::from(7).pow(333)));
        for x in [0.0, -0.0, 1.5, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, f64::MAX] {
            roundtrip(x.into());
        }
        roundtrip("".into());
        roundtrip("héllo ☃ 🐍".into());
        roundtrip(b"\x00\xff".as_slice().into());
        roundtrip(Value::Buffer(vec![1, 2, 3]));
        roundtrip(Value::Array(Array::new("<f8", vec![2, 1], vec![7; 16]).unwrap()));
        roundtrip(Value::Array(Array::new("<U1", vec![], vec![b'a', 0, 0, 0]).unwrap()));
        roundtrip(Value::Tuple(vec![]));
        roundtrip((1, "two", (3.0, (), Value::Tuple(vec![Value::None]))).into());
        roundtrip(Value::List(vec![]));
        roundtrip(Value::Dict(vec![]));
        roundtrip(Value::List(vec![1.into(), Value::List(vec!["x".into()]), (2, 3).into()]));
        roundtrip(Value::Dict(vec![
            ("a".into(), Value::List(vec![1.into()])),
            ((1, 2).into(), Value::Dict(vec![(Value::None, 0.5.into())])),
        ]));
    }

    #[test]
    fn lists_and_dicts_are_refused_where_only_shareable_values_go() {
        let list = encode(&Value::List(vec![1.into()]));
        let dict = encode(&Value::Dict(vec![(1.into(), 2.into())]));
        let inside = encode(&(1, Value::Dict(vec![])).into());
        for bytes in [&list, &dict, &inside] {
            assert!(validate(bytes, Copies::Allowed).is_ok());
            let Err(Error::InvalidValue(why)) = validate(bytes, Copies::Refused) else { panic!("{bytes:?} accepted") };
            assert!(why.contains("not shareable"), "{why}");
        }
        // A dict's count is of pairs: twice as many values must follow.
        refused(&[tag::DICT, 1, tag::NONE], "claims 1 items");
        refused(&[tag::DICT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "claims");
    }

    #[test]
    fn arrays_are_checked_and_never_shared() {
        let array = encode(&Value::Array(Array::new("<i2", vec![3], vec![1, 0, 2, 0, 3, 0]).unwrap()));
        assert_eq!(array, [tag::ARRAY, 3, b'<', b'i', b'2', 1, 3, 6, 1, 0, 2, 0, 3, 0]);
        let Err(Error::InvalidValue(why)) = validate(&array, Copies::Refused) else { panic!("an array shared") };
        assert!(why.contains("not shareable"), "{why}");
        // Forged ones: elements short of the shape, a dtype numpy would
        // fill with objects, too many dimensions, a shape that overflows.
        refused(&[tag::ARRAY, 3, b'<', b'f', b'8', 1, 2, 8, 0, 0, 0, 0, 0, 0, 0, 0], "cannot hold 8 bytes");
        refused(&[tag::ARRAY, 2, b'|', b'O', 1, 1, 4, 0, 0, 0, 0], "not a dtype");
        let mut deep = vec![tag::ARRAY, 3, b'<', b'f', b'8', 65];
        deep.extend([1; 65]);
        deep.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
        refused(&deep, "65 dimensions");
        let mut huge = vec![tag::ARRAY, 3, b'<', b'f', b'8', 2, 0];
        huge.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0]);
        refused(&huge, "too large");
        refused(&[tag::ARRAY, 3, b'<', b'f', b'8', 1], "wanted");
    }

    #[test]
    fn nan_survives_bit_for_bit() {
        let bytes = encode(&Value::Float(f64::NAN));
        match decode(&bytes, no_ends).unwrap() {
            Value::Float(x) => assert_eq!(x.to_bits(), f64::NAN.to_bits()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ints_are_minimal_twos_complement() {
        assert_eq!(encode(&0.into()), [tag::INT, 0]);
        assert_eq!(encode(&1.into()), [tag::INT, 1, 0x01]);
        assert_eq!(encode(&(-1).into()), [tag::INT, 1, 0xff]);
        assert_eq!(encode(&128.into()), [tag::INT, 2, 0x80, 0x00]);
        assert_eq!(encode(&(-129).into()), [tag::INT, 2, 0x7f, 0xff]);
    }

    #[test]
    fn handles_are_reported_and_decoded_through_the_callback() {
        let mut bytes = vec![tag::TUPLE, 2, tag::RECV];
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.push(tag::SEND);
        bytes.extend_from_slice(&9u64.to_le_bytes());
        bytes[1] = 3;
        bytes.push(tag::QUEUE);
        bytes.extend_from_slice(&4u64.to_le_bytes());
        assert_eq!(
            validate(&bytes, Copies::Refused).unwrap(),
            [HandleId::Recv(ChannelId(7)), HandleId::Send(ChannelId(9)), HandleId::Queue(QueueId(4))]
        );
        let decoded = decode(&bytes, |end| Ok(Value::Str(format!("{end:?}")))).unwrap();
        assert_eq!(decoded, ("Recv(ChannelId(7))", "Send(ChannelId(9))", "Queue(QueueId(4))").into());
        // The callback's error is the decoder's error.
        assert!(matches!(decode(&bytes, |end| Err(Error::not_found(end))), Err(Error::ChannelNotFound(ChannelId(7)))));
    }

    fn refused(bytes: &[u8], why: &str) {
        match validate(bytes, Copies::Allowed) {
            Err(Error::InvalidValue(message)) => assert!(message.contains(why), "{message:?} lacks {why:?}"),
            other => panic!("{bytes:?} gave {other:?}, expected a refusal mentioning {why:?}"),
        }
        assert!(matches!(decode(bytes, no_ends), Err(Error::InvalidValue(_))));
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        refused(&[], "wanted");
        refused(&[0x1f], "unknown tag 0x1f");
        refused(&[0x42], "marshal type code 0x42");
        refused(&[tag::NONE, tag::NONE], "1 bytes follow");
        refused(&[tag::STR, 5, b'a'], "5 bytes wanted");
        refused(&[tag::STR, 2, 0xc3, 0x28], "not valid UTF-8");
        refused(&[tag::FLOAT, 1, 2, 3], "8 bytes wanted");
        refused(&[tag::RECV, 1, 2], "8 bytes wanted");
        refused(&[tag::TUPLE, 3, tag::NONE], "claims 3 items");
        refused(&[tag::TUPLE, 0xff, 0xff, 0xff, 0xff, 0x0f], "claims");
        refused(
            &[tag::BYTES, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            "longer than 10 bytes",
        );
        refused(&[tag::BYTES, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "overflows 64 bits");
    }

    #[test]
    fn nesting_is_capped() {
        let nested = |depth: usize| {
            let mut bytes = Vec::new();
            for _ in 0..depth {
                bytes.extend_from_slice(&[tag::TUPLE, 1]);
            }
            bytes.push(tag::NONE);
            bytes
        };
        assert!(validate(&nested(MAX_DEPTH), Copies::Refused).is_ok());
        let deep = decode(&nested(MAX_DEPTH), no_ends).unwrap();
        assert_eq!(encode(&deep), nested(MAX_DEPTH));
        refused(&nested(MAX_DEPTH + 1), "deeper than 512");
        // A million levels: refused early, with no recursion to overflow.
        refused(&nested(1_000_000), "deeper than 512");
    }

    /// A small xorshift generator: the property test must be reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_and_mutated_bytes_never_panic_and_agree_between_validate_and_decode() {
        let mut rng = Rng(0x5eed_1234_abcd_ef01);
        let seed: Value = (1, "two", b"three".as_slice(), (4.0, true, Value::None), Value::Buffer(vec![5; 20])).into();
        let valid = encode(&seed);
        for case in 0..20_000 {
            let bytes: Vec<u8> = if case % 2 == 0 {
                let len = (rng.next() % 40) as usize;
                (0..len).map(|_| (rng.next() % 12) as u8).collect()
            } else {
                let mut bytes = valid.clone();
                for _ in 0..=(rng.next() % 3) {
                    let at = (rng.next() as usize) % bytes.len();
                    bytes[at] = rng.next() as u8;
                }
                bytes.truncate(bytes.len() - (rng.next() % 3) as usize);
                bytes
            };
            check_decoder(&bytes);
        }
    }

    /// The fuzz target's corpus (fuzz/corpus/value_decoder), replayed on
    /// stable Rust in every test run: the inputs `cargo fuzz` kept, for the
    /// paths they reach.
    #[test]
    fn the_fuzz_corpus_passes_the_decoder_check() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/value_decoder");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            check_decoder(&std::fs::read(entry.unwrap().path()).unwrap());
            count += 1;
        }
        assert!(count >= 10, "expected the corpus in {}, found {count} files", dir.display());
    }
}
