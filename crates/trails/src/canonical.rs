//! The canonical JSON form of a record: the bytes a Merkle leaf is computed over and a delivered
//! log file holds.
//!
//! Rules (a reader can re-implement them in a few lines): no whitespace; object members sorted
//! by the UTF-8 bytes of their names (a name given twice is refused); strings written with
//! serde_json's escaping (`"` `\` and control characters only, the rest as UTF-8); numbers,
//! `true`, `false` and `null` kept **exactly as written** — never re-rounded, so a 30-digit number
//! stays what the source sent. Canonicalizing canonical bytes returns them unchanged.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

#[derive(Debug, thiserror::Error)]
#[error("record is not canonicalizable JSON: {0}")]
pub struct CanonicalError(String);

/// The canonical bytes of one JSON value.
pub fn canonicalize(json: &str) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(json.len());
    write_value(json, &mut out, 0)?;
    Ok(out)
}

const MAX_DEPTH: usize = 128;

fn write_value(json: &str, out: &mut Vec<u8>, depth: usize) -> Result<(), CanonicalError> {
    if depth > MAX_DEPTH {
        return Err(CanonicalError(format!("nested deeper than {MAX_DEPTH}")));
    }
    let text = json.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    match text.as_bytes().first() {
        Some(b'{') => {
            let mut members: Vec<(String, &RawValue)> =
                serde_json::from_str::<Members>(text).map_err(err)?.0;
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            if let Some(w) = members.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(CanonicalError(format!("member {:?} given twice", w[0].0)));
            }
            out.push(b'{');
            for (i, (name, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, name).map_err(err)?;
                out.push(b':');
                write_value(value.get(), out, depth + 1)?;
            }
            out.push(b'}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(err)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item.get(), out, depth + 1)?;
            }
            out.push(b']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text).map_err(err)?;
            serde_json::to_writer(&mut *out, &s).map_err(err)?;
        }
        Some(_) => {
            // A number or literal: validated, then kept byte for byte.
            serde_json::from_str::<&RawValue>(text).map_err(err)?;
            out.extend_from_slice(text.as_bytes());
        }
        None => return Err(CanonicalError("empty value".into())),
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> CanonicalError {
    CanonicalError(e.to_string())
}

/// An object's members in source order, duplicates kept (so they can be refused).
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, &'de RawValue>()? {
                    v.push((k, val));
                }
                Ok(Members(v))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<Self::Value, S::Error> {
                Err(de::Error::custom("expected an object"))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        String::from_utf8(canonicalize(s).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_and_drops_whitespace() {
        assert_eq!(
            c(r#"{ "b" : [1, {"z":null,"a":true}], "a":"x" }"#),
            r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn keeps_numbers_exactly() {
        assert_eq!(
            c(r#"{"n":123456789012345678901234567890,"f":1.50,"e":1E5}"#),
            r#"{"e":1E5,"f":1.50,"n":123456789012345678901234567890}"#
        );
    }

    #[test]
    fn normalizes_string_escapes() {
        assert_eq!(c(r#"["\u0041\/é\u00e9\n"]"#), "[\"A/éé\\n\"]");
    }

    #[test]
    fn is_idempotent() {
        let once = c(r#"{"k":"\u2028", "a":[ ], "o":{}}"#);
        assert_eq!(c(&once), once);
    }

    #[test]
    fn refuses_duplicate_members_and_bad_json() {
        assert!(canonicalize(r#"{"a":1,"a":2}"#).is_err());
        assert!(canonicalize(r#"{"a":1"#).is_err());
        assert!(canonicalize(&"[".repeat(200)).is_err());
    }
}
