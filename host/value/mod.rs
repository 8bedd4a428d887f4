//! Values: what crosses between the Rust program and interpreters, and
//! the formats it crosses in.
//!
//! - [`Value`] itself, here; its conversions from and to Rust types in
//!   `convert.rs`, and serde's in `serde.rs`;
//! - the encoding of our own, in `codec.rs`, and CPython's `marshal`
//!   format, its fast twin for plain values, in `marshal.rs`;
//! - `format.rs`, the one place that tells the two apart;
//! - `message.rs`: a checked value in flight, with the handles it holds.
//!
//! Lists and dicts are copies, not shareable objects: they cross between
//! the Rust program and an interpreter (bindings, [`eval`] and [`call`]
//! results and arguments), never through a channel, which carries only
//! what PEP 554 calls shareable ([`Copies::Refused`]).
//!
//! [`eval`]: crate::Interpreter::eval
//! [`call`]: crate::Interpreter::call

use num_bigint::BigInt;

mod array;
mod codec;
mod convert;
pub(crate) mod format;
pub(crate) mod marshal;
mod message;
mod serde;

pub use array::{Array, MAX_DIMENSIONS};
pub(crate) use codec::{encode, put_varint, tag};
pub use convert::WrongType;
#[cfg(feature = "fuzzing")]
pub use format::check_decoder;
pub(crate) use format::{decode, handle_value};
pub(crate) use message::{Held, Item, Message, channel_ends};
pub use message::{Queue, RecvChannel, SendChannel};
pub use serde::{from_value, to_value};

/// The deepest nesting of tuples a value may have.
///
/// CPython's own recursion limit is 1,000, so deeper tuples are rare in
/// practice; the cap bounds the work and memory of decoding and of dropping
/// a decoded value, which is recursive.
pub const MAX_DEPTH: usize = 512;

/// The largest encoded value, in bytes: 1 GiB.
///
/// A bound on what a guest can make the host allocate for one message. The
/// interpreters' memory limits are usually far lower.
pub const MAX_MESSAGE_SIZE: usize = 1 << 30;

/// Whether a message may hold lists and dicts, which are copied rather
/// than shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Copies {
    /// Between the Rust program and an interpreter, outside channels.
    Allowed,
    /// Through a channel, or between interpreters: shareable values only.
    Refused,
}

/// A value that crosses between the Rust program and interpreters: what
/// PEP 554 calls shareable, and lists and dicts, which are copied (as PEP
/// 734 copies by pickle what is not shareable) and only go between the
/// Rust program and an interpreter, never through a channel.
///
/// `Value`s convert from and to Rust types (`i64`, `&str`, `Vec<u8>`,
/// tuples, `Option`, maps, …) with `From`/`TryFrom`, and serialize with
/// serde (channel ends excepted: they are capabilities, not data);
/// [`to_value`](crate::to_value) and [`from_value`](crate::from_value)
/// convert any serde type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `bool`.
    Bool(bool),
    /// `int`, of any size.
    Int(BigInt),
    /// `float`.
    Float(f64),
    /// `str`.
    Str(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// Data sent with `send_buffer`: the receiver gets a read-only
    /// `memoryview` of it.
    Buffer(Vec<u8>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `list`: a copy. Not shareable through a channel.
    List(Vec<Value>),
    /// `dict`: a copy, its items in order. Not shareable through a channel.
    Dict(Vec<(Value, Value)>),
    /// A `numpy.ndarray`: a copy of its elements, with its dtype and shape.
    /// Not shareable through a channel.
    Array(Array),
    /// The receiving end of a channel.
    RecvChannel(RecvChannel),
    /// The sending end of a channel.
    SendChannel(SendChannel),
    /// A queue (PEP 734).
    Queue(Queue),
}

impl Value {
    /// The Python type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Buffer(_) => "memoryview",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Array(_) => "numpy.ndarray",
            Value::RecvChannel(_) => "RecvChannel",
            Value::SendChannel(_) => "SendChannel",
            Value::Queue(_) => "Queue",
        }
    }
}
