//! A [`Value`] as a serde `Deserializer`, so that the typed model (and any
//! `Deserialize` type, such as `serde_json::Value`) can be read from a
//! document once the allow-list walk has checked it.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};

use super::value::Value;

/// Why a [`Value`] does not fit the type asked for, as serde words it:
/// `invalid type: string "x", expected u16`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Reads a `T` from `value`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, DeError> {
    T::deserialize(value)
}

impl Value {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Self::Null => Unexpected::Unit,
            Self::Bool(b) => Unexpected::Bool(*b),
            Self::Int(i) => Unexpected::Signed(*i),
            Self::UInt(u) => Unexpected::Unsigned(*u),
            Self::Float(f) => Unexpected::Float(*f),
            Self::String(s) => Unexpected::Str(s),
            Self::Sequence(_) => Unexpected::Seq,
            Self::Mapping(_) => Unexpected::Map,
        }
    }
}

impl IntoDeserializer<'_, DeError> for Value {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Self::Null => visitor.visit_unit(),
            Self::Bool(b) => visitor.visit_bool(b),
            Self::Int(i) => visitor.visit_i64(i),
            Self::UInt(u) => visitor.visit_u64(u),
            Self::Float(f) => visitor.visit_f64(f),
            Self::String(s) => visitor.visit_string(s),
            Self::Sequence(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Self::Mapping(entries) => {
                let mut map = MapDeserializer::new(entries.into_iter());
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Self::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self {
            Self::String(s) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s))
            }
            other => Err(de::Error::invalid_type(other.unexpected(), &"a string")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::yaml::value::Mapping;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Port {
        container_port: u16,
        name: Option<String>,
        labels: BTreeMap<String, String>,
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        let mut m = Mapping::default();
        for (k, v) in entries {
            m.push(Value::String(k.into()), v);
        }
        Value::Mapping(m)
    }

    #[test]
    fn structs_options_and_maps_read_from_values() {
        let v = map(vec![
            ("containerPort", Value::Int(80)),
            ("labels", map(vec![("app", Value::String("a".into()))])),
        ]);
        let port: Port = from_value(v).expect("port");
        assert_eq!(port.container_port, 80);
        assert_eq!(port.name, None);
        assert_eq!(port.labels["app"], "a");
    }

    #[test]
    fn wrong_types_are_named_as_serde_does() {
        let v = map(vec![
            ("containerPort", Value::String("web".into())),
            ("labels", map(vec![])),
        ]);
        let e = from_value::<Port>(v).expect_err("string port");
        assert_eq!(e.to_string(), "invalid type: string \"web\", expected u16");
    }
}
