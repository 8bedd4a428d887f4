//! serde and [`Value`]: `Value` serializes as the obvious serde data (a
//! sequence for a tuple or list, a map for a dict, bytes for bytes), and
//! [`to_value`] and [`from_value`] turn any serde type into a `Value` and
//! back, as `serde_json`'s helpers of those names do for its own value.
//!
//! How Rust data becomes Python's: `None`/`()` → `None`; integers of any
//! width → `int`; floats → `float`; `char` and strings → `str`; byte
//! strings (`serde_bytes`) → `bytes`; sequences → `list`; Rust tuples and
//! tuple structs → `tuple`; maps and structs → `dict` (a struct's keys are
//! its field names); a unit enum variant → its name as a `str`; any other
//! variant → a one-item `dict` from its name to its content, as serde's
//! externally tagged enums do in JSON. Channel ends are capabilities, not
//! data: they neither serialize nor deserialize.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer};
use serde::ser::{self, Serialize};

use super::Value;
use crate::error::{Error, Result};

/// Converts any serializable Rust value into a [`Value`].
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Event { kind: String, clicks: u32, tags: Vec<String> }
///
/// let event = Event { kind: "click".into(), clicks: 2, tags: vec!["ui".into()] };
/// let value = isolate::to_value(&event)?;
/// assert_eq!(
///     value,
///     isolate::Value::Dict(vec![
///         ("kind".into(), "click".into()),
///         ("clicks".into(), 2.into()),
///         ("tags".into(), isolate::Value::List(vec!["ui".into()])),
///     ])
/// );
/// # Ok::<(), isolate::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidValue`] if `T`'s `Serialize` fails.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    value.serialize(ValueSerializer)
}

/// Converts a [`Value`] into any deserializable Rust type.
///
/// ```
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Reply { ok: bool, items: Vec<(String, f64)> }
///
/// # let runtime = isolate::Runtime::new()?;
/// let interp = runtime.create_interpreter()?;
/// let reply: Reply = isolate::from_value(interp.eval("{'ok': True, 'items': [('a', 1.5)]}")?)?;
/// assert_eq!(reply, Reply { ok: true, items: vec![("a".into(), 1.5)] });
/// # Ok::<(), isolate::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidValue`] naming what did not fit: a missing field, a
/// `str` where a number was wanted, an `int` too large for the field.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    T::deserialize(value)
}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::InvalidValue(message.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error::InvalidValue(message.to_string())
    }
}

/// Bytes that serialize as bytes, not as a sequence of numbers.
struct AsBytes<'a>(&'a [u8]);

impl serde::Serialize for AsBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        match self {
            Value::None => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => {
                if let Ok(n) = i64::try_from(n) {
                    serializer.serialize_i64(n)
                } else if let Ok(n) = u64::try_from(n) {
                    serializer.serialize_u64(n)
                } else if let Ok(n) = i128::try_from(n) {
                    serializer.serialize_i128(n)
                } else {
                    // Beyond every serde integer: decimal digits.
                    serializer.serialize_str(&n.to_string())
                }
            }
            Value::Float(x) => serializer.serialize_f64(*x),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bytes(bytes) | Value::Buffer(bytes) => serializer.serialize_bytes(bytes),
            Value::Tuple(items) | Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Dict(items) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(items.len()))?;
                for (key, value) in items {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Value::Array(array) => {
                use serde::ser::SerializeStruct;
                let mut fields = serializer.serialize_struct("Array", 3)?;
                fields.serialize_field("dtype", array.dtype())?;
                fields.serialize_field("shape", array.shape())?;
                fields.serialize_field("data", &AsBytes(array.data()))?;
                fields.end()
            }
            Value::RecvChannel(_) | Value::SendChannel(_) | Value::Queue(_) => {
                Err(S::Error::custom("a channel end or queue is a capability and cannot be serialized"))
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> serde::de::Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("None, a bool, a number, a string, bytes, or a sequence or map of those")
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(n.into())
    }
    fn visit_i128<E>(self, n: i128) -> std::result::Result<Value, E> {
        Ok(n.into())
    }
    fn visit_u128<E>(self, n: u128) -> std::result::Result<Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E>(self, x: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(s.into())
    }
    fn visit_string<E>(self, s: String) -> std::result::Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_bytes<E>(self, bytes: &[u8]) -> std::result::Result<Value, E> {
        Ok(bytes.into())
    }
    fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> std::result::Result<Value, E> {
        Ok(Value::Bytes(bytes))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(entry) = map.next_entry()? {
            items.push(entry);
        }
        Ok(Value::Dict(items))
    }
}

/// Serializes Rust data into a [`Value`].
struct ValueSerializer;

/// Every integer width becomes an `int`.
macro_rules! serialize_ints {
    ($($method:ident: $t:ty),* $(,)?) => {$(
        fn $method(self, v: $t) -> Result<Value> {
            Ok(v.into())
        }
    )*};
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = Variant<Items>;
    type SerializeMap = Entries;
    type SerializeStruct = Entries;
    type SerializeStructVariant = Variant<Entries>;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }
    serialize_ints! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128
    }
    fn serialize_f32(self, v: f32) -> Result<Value> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(v.into())
    }
    fn serialize_none(self) -> Result<Value> {
        Ok(Value::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::None)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Value> {
        Ok(variant.into())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<Value> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        Ok(Value::Dict(vec![(variant.into(), value.serialize(self)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Items> {
        Ok(Items { items: Vec::with_capacity(len.unwrap_or(0).min(4096)), tuple: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<Items> {
        Ok(Items { items: Vec::with_capacity(len.min(4096)), tuple: true })
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Items> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Items>> {
        Ok(Variant { name: variant, inner: self.serialize_tuple(len)? })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Entries> {
        Ok(Entries { entries: Vec::with_capacity(len.unwrap_or(0).min(4096)), key: None })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Entries> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<Entries>> {
        Ok(Variant { name: variant, inner: self.serialize_map(Some(len))? })
    }
}

/// A sequence (a `list`) or a tuple being serialized.
struct Items {
    items: Vec<Value>,
    tuple: bool,
}

impl Items {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn finish(self) -> Value {
        if self.tuple { Value::Tuple(self.items) } else { Value::List(self.items) }
    }
}

/// A sequence, tuple and tuple struct serialize alike, but for the name of
/// the method that adds an item.
macro_rules! serialize_items {
    ($($trait:ident: $method:ident),*) => {$(
        impl ser::$trait for Items {
            type Ok = Value;
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.push(value)
            }
            fn end(self) -> Result<Value> {
                Ok(self.finish())
            }
        }
    )*};
}

serialize_items!(SerializeSeq: serialize_element, SerializeTuple: serialize_element, SerializeTupleStruct: serialize_field);

/// A map or struct (a `dict`) being serialized.
struct Entries {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
}

impl ser::SerializeMap for Entries {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(ValueSerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self.key.take().ok_or_else(|| <Error as ser::Error>::custom("a map value without its key"))?;
        self.entries.push((key, value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Dict(self.entries))
    }
}

impl ser::SerializeStruct for Entries {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.entries.push((key.into(), value.serialize(ValueSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Dict(self.entries))
    }
}

/// An enum variant with content: `{name: content}`.
struct Variant<T> {
    name: &'static str,
    inner: T,
}

impl ser::SerializeTupleVariant for Variant<Items> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Dict(vec![(self.name.into(), self.inner.finish())]))
    }
}

impl ser::SerializeStructVariant for Variant<Entries> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Value> {
        Ok(Value::Dict(vec![(self.name.into(), Value::Dict(self.inner.entries))]))
    }
}

// A `Value` is itself a deserializer, for `from_value`.

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(n) => {
                if let Ok(n) = i64::try_from(&n) {
                    visitor.visit_i64(n)
                } else if let Ok(n) = u64::try_from(&n) {
                    visitor.visit_u64(n)
                } else if let Ok(n) = i128::try_from(&n) {
                    visitor.visit_i128(n)
                } else if let Ok(n) = u128::try_from(&n) {
                    visitor.visit_u128(n)
                } else {
                    Err(<Error as de::Error>::custom(format!("the int {n} is too large for any Rust integer")))
                }
            }
            Value::Float(x) => visitor.visit_f64(x),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(bytes) | Value::Buffer(bytes) => visitor.visit_byte_buf(bytes),
            Value::Tuple(items) | Value::List(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Dict(entries) => {
                let mut map = de::value::MapDeserializer::new(entries.into_iter());
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
            Value::Array(array) => {
                // As it serializes: a struct of its dtype, shape and bytes.
                let shape = array.shape().iter().map(|&n| Value::from(n as u64)).collect();
                let dtype = Value::Str(array.dtype().to_owned());
                let fields = vec![
                    (Value::Str("dtype".into()), dtype),
                    (Value::Str("shape".into()), Value::Tuple(shape)),
                    (Value::Str("data".into()), Value::Bytes(array.into_data())),
                ];
                Value::Dict(fields).deserialize_any(visitor)
            }
            Value::RecvChannel(_) | Value::SendChannel(_) | Value::Queue(_) => {
                Err(<Error as de::Error>::custom("a channel end or queue is a capability and cannot be deserialized"))
            }
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self {
            Value::None => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self {
            Value::Str(variant) => visitor.visit_enum(variant.into_deserializer()),
            Value::Dict(mut entries) if entries.len() == 1 => {
                let (variant, content) = entries.pop().expect("one entry");
                visitor.visit_enum(EnumWithContent { variant, content })
            }
            other => Err(<Error as de::Error>::custom(format!(
                "expected an enum: a variant's name, or a dict of one entry, not a `{}`",
                other.type_name()
            ))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, Error> for Value {
    type Deserializer = Value;
    fn into_deserializer(self) -> Value {
        self
    }
}

/// An enum variant given as `{name: content}`.
struct EnumWithContent {
    variant: Value,
    content: Value,
}

impl<'de> de::EnumAccess<'de> for EnumWithContent {
    type Error = Error;
    type Variant = Value;
    fn variant_seed<V: de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Value)> {
        Ok((seed.deserialize(self.variant)?, self.content))
    }
}

impl<'de> de::VariantAccess<'de> for Value {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        de::Deserialize::deserialize(self)
    }
    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: de::Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: de::Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}
