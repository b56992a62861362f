//! JSON read strictly: a key given twice in one object is refused (a plain
//! `serde_json::Value` keeps the last one silently, so two readers could
//! see two documents in one file), and a byte-order mark is named as such.
//! Nesting is bounded by serde_json's recursion limit.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The longest part of a repeated key quoted in a message.
const MAX_KEY_SHOWN: usize = 40;

/// Why a document is not strict JSON. The text never quotes a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("it starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without a BOM")]
    ByteOrderMark,
    #[error("the key \"{key}\" appears twice in one object (line {line} column {column})")]
    DuplicateKey {
        key: String,
        line: usize,
        column: usize,
    },
    #[error("{what} at line {line} column {column}")]
    Syntax {
        what: &'static str,
        line: usize,
        column: usize,
    },
}

/// The UTF-8 byte-order mark some editors put at the start of a file.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a JSON document, refusing repeated keys anywhere in it.
pub fn to_value(bytes: &[u8]) -> Result<Value, JsonError> {
    if bytes.starts_with(BOM) {
        return Err(JsonError::ByteOrderMark);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue::deserialize(&mut de).and_then(|v| de.end().map(|()| v.0));
    parsed.map_err(|e| {
        use serde_json::error::Category;
        let (line, column) = (e.line(), e.column());
        let msg = e.to_string();
        if let Some(key) = msg
            .strip_prefix(DUPLICATE_PREFIX)
            .and_then(|rest| rest.split_once(DUPLICATE_END))
            .map(|(k, _)| k.to_string())
        {
            return JsonError::DuplicateKey { key, line, column };
        }
        let what = match e.classify() {
            Category::Eof => "it ends early (truncated?)",
            Category::Syntax => "syntax error",
            Category::Data => "unexpected data",
            Category::Io => "read error",
        };
        JsonError::Syntax { what, line, column }
    })
}

const DUPLICATE_PREFIX: &str = "duplicate key \u{1}";
const DUPLICATE_END: &str = "\u{1}";

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let shown = crate::terminal::escape_short(&key, MAX_KEY_SHOWN);
                return Err(de::Error::custom(format!(
                    "{DUPLICATE_PREFIX}{shown}{DUPLICATE_END}"
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_json() {
        let v = to_value(br#"{"a": [1, 2.5, "x", null, true], "b": {"c": {}}}"#).unwrap();
        assert_eq!(v["a"][2], "x");
        assert_eq!(v["a"][1], 2.5);
    }

    #[test]
    fn refuses_a_repeated_key_at_any_depth() {
        for doc in [
            &br#"{"format": "a", "format": "b"}"#[..],
            br#"{"x": [{"k": 1, "k": 1}]}"#,
        ] {
            match to_value(doc) {
                Err(JsonError::DuplicateKey { key, line: 1, .. }) => {
                    assert!(key == "format" || key == "k")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn names_a_bom_and_trailing_bytes() {
        assert_eq!(to_value(b"\xEF\xBB\xBF{}"), Err(JsonError::ByteOrderMark));
        assert!(matches!(
            to_value(b"{} x"),
            Err(JsonError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            to_value(b"{\"a\": "),
            Err(JsonError::Syntax { what, .. }) if what.contains("ends early")
        ));
    }

    #[test]
    fn a_repeated_key_is_shown_escaped() {
        match to_value(b"{\"\\u001b[2J\": 1, \"\\u001b[2J\": 2}") {
            Err(JsonError::DuplicateKey { key, .. }) => assert!(!key.contains('\u{1b}')),
            other => panic!("{other:?}"),
        }
    }
}
