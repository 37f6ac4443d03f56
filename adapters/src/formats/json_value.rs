//! A JSON value that borrows its strings from the input: parsing an item allocates only for
//! containers and escaped strings, which keeps JSON decoding close to typed serde parsing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed JSON value borrowing from the item's bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JVal<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<JVal<'a>>),
    /// Members in document order (items are small: a linear search beats hashing).
    Obj(Vec<(Cow<'a, str>, JVal<'a>)>),
}

impl<'a> JVal<'a> {
    /// The member or element named by one JSON Pointer token.
    pub(crate) fn get(&self, token: &str) -> Option<&JVal<'a>> {
        match self {
            JVal::Obj(members) => members.iter().find(|(k, _)| k == token).map(|(_, v)| v),
            JVal::Arr(items) => items.get(token.parse::<usize>().ok()?),
            _ => None,
        }
    }

    /// Text of a scalar (numbers as JSON writes them).
    pub(crate) fn scalar(&self) -> Option<Cow<'_, str>> {
        match self {
            JVal::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            JVal::Int(n) => Some(Cow::Owned(n.to_string())),
            JVal::Uint(n) => Some(Cow::Owned(n.to_string())),
            JVal::Float(f) => Some(Cow::Owned(
                serde_json::Number::from_f64(*f)
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            )),
            JVal::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, JVal::Obj(_))
    }
}

struct JValVisitor;

impl<'de> Visitor<'de> for JValVisitor {
    type Value = JVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<JVal<'de>, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<JVal<'de>, E> {
        Ok(JVal::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<JVal<'de>, E> {
        Ok(JVal::Uint(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<JVal<'de>, E> {
        Ok(JVal::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<JVal<'de>, E> {
        Ok(JVal::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<JVal<'de>, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E>(self) -> Result<JVal<'de>, E> {
        Ok(JVal::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(JVal::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JVal<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Key(k)) = map.next_key()? {
            members.push((k, map.next_value()?));
        }
        Ok(JVal::Obj(members))
    }
}

impl<'de> Deserialize<'de> for JVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JValVisitor)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed_and_numbers_print_like_json() {
        let text = r#"{"a":"x","b\n":"y\"","n":[1,-2,2.5,true,null]}"#;
        let v: JVal = serde_json::from_str(text).unwrap();
        assert!(matches!(v.get("a"), Some(JVal::Str(Cow::Borrowed("x")))));
        assert_eq!(
            v.get("b\n").and_then(|x| x.scalar()).as_deref(),
            Some("y\"")
        );
        let n = v.get("n").unwrap();
        let texts: Vec<_> = (0..5)
            .map(|i| {
                n.get(&i.to_string())
                    .and_then(|x| x.scalar())
                    .map(|c| c.into_owned())
            })
            .collect();
        assert_eq!(
            texts,
            [
                Some("1".into()),
                Some("-2".into()),
                Some("2.5".into()),
                Some("true".into()),
                None
            ]
        );
    }
}
