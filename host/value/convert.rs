//! Conversions between [`Value`]s and Rust types: `From` for what becomes
//! a value, `TryFrom` (failing with [`WrongType`]) for what a value may be.

use std::fmt;

use num_bigint::BigInt;

use super::message::{Queue, RecvChannel, SendChannel};
use super::{Array, Value};

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Value::Int(BigInt::from(n))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl From<BigInt> for Value {
    fn from(n: BigInt) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Value::Bytes(bytes)
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Self {
        Value::Bytes(bytes.to_vec())
    }
}

impl From<()> for Value {
    fn from(_: ()) -> Self {
        Value::None
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(option: Option<T>) -> Self {
        option.map_or(Value::None, Into::into)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Tuple(items)
    }
}

impl<K: Into<Value>, V: Into<Value>> From<std::collections::BTreeMap<K, V>> for Value {
    fn from(map: std::collections::BTreeMap<K, V>) -> Self {
        Value::Dict(map.into_iter().map(|(key, value)| (key.into(), value.into())).collect())
    }
}

impl<K: Into<Value>, V: Into<Value>, S> From<std::collections::HashMap<K, V, S>> for Value {
    fn from(map: std::collections::HashMap<K, V, S>) -> Self {
        Value::Dict(map.into_iter().map(|(key, value)| (key.into(), value.into())).collect())
    }
}

impl From<Array> for Value {
    fn from(array: Array) -> Self {
        Value::Array(array)
    }
}

impl From<RecvChannel> for Value {
    fn from(end: RecvChannel) -> Self {
        Value::RecvChannel(end)
    }
}

impl From<SendChannel> for Value {
    fn from(end: SendChannel) -> Self {
        Value::SendChannel(end)
    }
}

impl From<Queue> for Value {
    fn from(queue: Queue) -> Self {
        Value::Queue(queue)
    }
}

macro_rules! from_tuple {
    ($($name:ident),+) => {
        impl<$($name: Into<Value>),+> From<($($name,)+)> for Value {
            #[allow(non_snake_case)]
            fn from(($($name,)+): ($($name,)+)) -> Self {
                Value::Tuple(vec![$($name.into()),+])
            }
        }
    };
}
from_tuple!(A);
from_tuple!(A, B);
from_tuple!(A, B, C);
from_tuple!(A, B, C, D);
from_tuple!(A, B, C, D, E);
from_tuple!(A, B, C, D, E, F);
from_tuple!(A, B, C, D, E, F, G);
from_tuple!(A, B, C, D, E, F, G, H);
from_tuple!(A, B, C, D, E, F, G, H, I);
from_tuple!(A, B, C, D, E, F, G, H, I, J);
from_tuple!(A, B, C, D, E, F, G, H, I, J, K);
from_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);

// Conversions to Rust values.

/// A [`Value`] was not of the Rust type asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct WrongType {
    /// The type asked for.
    pub expected: &'static str,
    /// The value, handed back.
    pub value: Value,
}

impl fmt::Display for WrongType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got a Python `{}`", self.expected, self.value.type_name())
    }
}

impl std::error::Error for WrongType {}

macro_rules! try_into_int {
    ($($t:ty),*) => {$(
        impl TryFrom<Value> for $t {
            type Error = WrongType;
            fn try_from(value: Value) -> Result<Self, WrongType> {
                match &value {
                    Value::Int(n) => <$t>::try_from(n).map_err(|_| WrongType { expected: stringify!($t), value }),
                    _ => Err(WrongType { expected: stringify!($t), value }),
                }
            }
        }
    )*};
}
try_into_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

macro_rules! try_into_variant {
    ($t:ty, $expected:literal, $($pattern:pat => $out:expr),+) => {
        impl TryFrom<Value> for $t {
            type Error = WrongType;
            fn try_from(value: Value) -> Result<Self, WrongType> {
                match value {
                    $($pattern => Ok($out),)+
                    value => Err(WrongType { expected: $expected, value }),
                }
            }
        }
    };
}
try_into_variant!(bool, "bool", Value::Bool(b) => b);
try_into_variant!(f64, "float", Value::Float(x) => x);
try_into_variant!(String, "str", Value::Str(s) => s);
try_into_variant!(BigInt, "int", Value::Int(n) => n);
try_into_variant!(Vec<u8>, "bytes", Value::Bytes(bytes) => bytes, Value::Buffer(bytes) => bytes);
try_into_variant!(Vec<Value>, "tuple or list", Value::Tuple(items) => items, Value::List(items) => items);
try_into_variant!(Vec<(Value, Value)>, "dict", Value::Dict(items) => items);
try_into_variant!(Array, "numpy.ndarray", Value::Array(array) => array);
try_into_variant!(RecvChannel, "RecvChannel", Value::RecvChannel(end) => end);
try_into_variant!(SendChannel, "SendChannel", Value::SendChannel(end) => end);
