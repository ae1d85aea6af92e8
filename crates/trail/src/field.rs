//! Values kept exactly as given: a field can be absent, `null`, or set, and all three survive a
//! round trip. The history records what happened; it does not correct it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl Field<String> {
    pub fn as_deref(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Field::Value(v),
            None => Field::Null,
        })
    }
}

/// A boolean as real files write it: `true`, or sometimes the string `"true"`
/// (`sessionCredentialFromConsole`, `mfaAuthenticated`). The original form is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

/// Read straight from the value's kind. (The untagged derive buffered every value and, for the
/// strings most records carry in `mfaAuthenticated`, built an error for the `Bool` try first:
/// a few per cent of parsing a record.)
impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Kind;
        impl serde::de::Visitor<'_> for Kind {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a boolean or a string")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Flag, E> {
                Ok(Flag::Bool(b))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Flag, E> {
                Ok(Flag::Text(s.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Flag, E> {
                Ok(Flag::Text(s))
            }
        }
        d.deserialize_any(Kind)
    }
}

impl Flag {
    /// `Some(b)` for `true`/`false` in either form, `None` for any other text.
    pub fn value(&self) -> Option<bool> {
        match self {
            Flag::Bool(b) => Some(*b),
            Flag::Text(t) if t.eq_ignore_ascii_case("true") => Some(true),
            Flag::Text(t) if t.eq_ignore_ascii_case("false") => Some(false),
            Flag::Text(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keep_their_form_and_refuse_other_kinds() {
        let read = |t: &str| serde_json::from_str::<Flag>(t);
        assert_eq!(read("true").unwrap(), Flag::Bool(true));
        assert_eq!(read(r#""false""#).unwrap(), Flag::Text("false".into()));
        assert_eq!(read(r#""maybe""#).unwrap().value(), None);
        for bad in ["1", "null", "[]", "{}", "1.5"] {
            let e = read(bad).unwrap_err().to_string();
            assert!(e.contains("expected a boolean or a string"), "{bad}: {e}");
        }
        assert_eq!(
            serde_json::to_string(&Flag::Text("true".into())).unwrap(),
            r#""true""#
        );
        assert_eq!(serde_json::to_string(&Flag::Bool(false)).unwrap(), "false");
    }
}
