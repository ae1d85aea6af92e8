//! A record as Sigma rules read it, parsed lazily: one pass finds the record's top-level fields
//! and keeps each as borrowed text; an object is split into its fields the first time a rule
//! reads a path through it, and only the value at the end of the path is parsed. Rules read a
//! handful of fields (`eventSource`, `eventName`, some `requestParameters.…`), so most of a
//! record is never parsed — a full `serde_json::Value` per record cost more than the rules.
//!
//! Field paths resolve exactly as rsigma's own `JsonEvent` resolves them: plain dotted paths
//! by the walk below; paths with array indexes or escapes (and paths through arrays) by a
//! `JsonEvent` of the one-key object `{field: value}`, which answers a path through that field
//! as the whole record would. A unit test holds the two to the same answers.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use rsigma_eval::{Event, EventValue, JsonEvent};
use rsigma_parser::fieldpath::{first_unescaped, unescape_brackets};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use mamori_trail::scan::{Scan, ScanError};

struct Field<'a> {
    key: Cow<'a, str>,
    /// The value's JSON text.
    raw: &'a str,
    /// The field as a whole record of one field (paths through arrays, string searches).
    parsed: OnceCell<JsonEvent<'static>>,
    /// The value itself, when a path ends here.
    value: OnceCell<Value>,
    /// The fields of an object, when a path goes through it.
    children: OnceCell<Option<LazyEvent<'a>>>,
}

pub struct LazyEvent<'a> {
    fields: Vec<Field<'a>>,
}

impl<'a> Field<'a> {
    fn new(key: Cow<'a, str>, raw: &'a str) -> Field<'a> {
        Field {
            key,
            raw,
            parsed: OnceCell::new(),
            value: OnceCell::new(),
            children: OnceCell::new(),
        }
    }
}

impl<'a> LazyEvent<'a> {
    /// Reads a record: it must be a JSON object.
    pub fn parse(text: &'a str) -> Result<LazyEvent<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads a record at the scanner (the hunt's fast path; what it accepts, `parse` accepts).
    pub fn scan(s: &mut Scan<'a>) -> Result<LazyEvent<'a>, ScanError> {
        let mut fields = Vec::with_capacity(24);
        s.object(|key, raw| {
            fields.push(Field::new(key, raw));
            Ok(())
        })?;
        Ok(LazyEvent { fields })
    }

    /// A record from the members the scanner found in it.
    pub fn from_members(
        members: impl IntoIterator<Item = (Cow<'a, str>, &'a str)>,
    ) -> LazyEvent<'a> {
        LazyEvent {
            fields: members
                .into_iter()
                .map(|(key, raw)| Field::new(key, raw))
                .collect(),
        }
    }

    /// The field's text as written (a JSON value), if the record has it. As in
    /// `serde_json::Value`, the last of repeated keys wins.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.field(key).map(|f| f.raw)
    }

    /// Every member as written, in order (repeated keys too): key and value text.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &'a str)> {
        self.fields.iter().map(|f| (&*f.key, f.raw))
    }

    fn field(&self, key: &str) -> Option<&Field<'a>> {
        self.fields.iter().rev().find(|f| f.key == key)
    }

    fn event<'s>(&'s self, f: &'s Field<'a>) -> &'s JsonEvent<'static> {
        f.parsed.get_or_init(|| {
            // The text was validated as JSON while the record was read.
            let value = serde_json::from_str(f.raw).unwrap_or(Value::Null);
            let mut one = Map::new();
            one.insert(f.key.to_string(), value);
            JsonEvent::owned(Value::Object(one))
        })
    }

    /// Each field once (the last of repeated keys).
    fn distinct(&self) -> impl Iterator<Item = &Field<'a>> {
        self.fields
            .iter()
            .enumerate()
            .filter(|(i, f)| !self.fields[i + 1..].iter().any(|g| g.key == f.key))
            .map(|(_, f)| f)
    }
}

/// The top-level key a dotted path starts with (`a` of `a.b`, `a[0].b`).
fn root_key(path: &str) -> Option<Cow<'_, str>> {
    let segment = match first_unescaped(path, b'.') {
        Some(0) => return None,
        Some(pos) => &path[..pos],
        None => path,
    };
    let name = match first_unescaped(segment, b'[') {
        Some(0) => return None,
        Some(pos) => &segment[..pos],
        None => segment,
    };
    (!name.is_empty()).then(|| unescape_brackets(name))
}

/// What a walk down a plain dotted path found.
enum Walk<'s> {
    Found(Option<EventValue<'s>>),
    /// The path goes through an array: resolve it the general way.
    Array,
}

impl<'a> LazyEvent<'a> {
    /// The value at the end of a path.
    fn leaf<'s>(&'s self, f: &'s Field<'a>) -> EventValue<'s> {
        let text = f.raw;
        if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
            && !inner.contains('\\')
        {
            return EventValue::Str(Cow::Borrowed(inner));
        }
        EventValue::from(
            f.value
                .get_or_init(|| serde_json::from_str(text).unwrap_or(Value::Null)),
        )
    }

    /// Follows `a.b.c` through objects, splitting each only once.
    fn walk<'s>(&'s self, path: &str) -> Walk<'s> {
        let mut node = self;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            let Some(f) = node.field(segment) else {
                return Walk::Found(None);
            };
            if segments.peek().is_none() {
                return Walk::Found(Some(node.leaf(f)));
            }
            match f.raw.as_bytes().first() {
                Some(b'{') => {
                    let children = f
                        .children
                        .get_or_init(|| LazyEvent::scan(&mut Scan::new(f.raw)).ok());
                    match children {
                        Some(c) => node = c,
                        None => return Walk::Found(None),
                    }
                }
                Some(b'[') => return Walk::Array,
                _ => return Walk::Found(None),
            }
        }
        Walk::Found(None)
    }
}

impl Event for LazyEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(f) = self.field(path) {
            return Some(self.leaf(f));
        }
        if !(path.contains('.') || path.contains('[') || path.contains('\\')) {
            return None;
        }
        if !path.contains('[')
            && !path.contains('\\')
            && let Walk::Found(v) = self.walk(path)
        {
            return v;
        }
        let root = root_key(path)?;
        let f = self.field(&root)?;
        self.event(f).get_field(path)
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        Some(self.fields.iter().map(|f| Cow::Borrowed(&*f.key)).collect())
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        for f in &self.fields {
            visit(&f.key);
        }
        true
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.distinct()
            .any(|f| self.event(f).any_string_value(pred))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.distinct()
            .flat_map(|f| self.event(f).all_string_values())
            .collect()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for f in self.distinct() {
            self.event(f).visit_string_values(visit);
        }
    }

    fn to_json(&self) -> Value {
        let mut all = Map::new();
        for f in self.distinct() {
            if let Value::Object(one) = self.event(f).to_json() {
                all.extend(one);
            }
        }
        Value::Object(all)
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        self.distinct()
            .flat_map(|f| self.event(f).field_keys())
            .collect()
    }
}

/// A string borrowed from the text when it has no escapes.
pub(crate) struct BorrowedStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<BorrowedStr<'a>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<BorrowedStr<'de>, E> {
                Ok(BorrowedStr(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<BorrowedStr<'de>, E> {
                Ok(BorrowedStr(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for LazyEvent<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LazyEvent<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LazyEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a record (a JSON object)")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<LazyEvent<'de>, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some(BorrowedStr(key)) = map.next_key()? {
                    let raw: &'de RawValue = map.next_value()?;
                    fields.push(Field::new(key, raw.get()));
                }
                Ok(LazyEvent { fields })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path form answers as rsigma's JsonEvent answers over the whole record.
    #[test]
    fn paths_resolve_as_json_event_does() {
        let text = r#"{"eventName":"PutBucketAcl","a.b":"flat","resources":[{"ARN":"x"},{"ARN":"y"}],
            "requestParameters":{"bucketName":"b","list":[1,2],"n":{"deep":"v"}},
            "esc\"aped":"q\u00e9","dup":1,"dup":2,"userIdentity":{"type":"Root"}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let full = JsonEvent::borrow(&value);
        let lazy = LazyEvent::parse(text).unwrap();
        for path in [
            "eventName",
            "a.b",
            "resources.ARN",
            "resources[1].ARN",
            "resources[-1].ARN",
            "requestParameters.bucketName",
            "requestParameters.list",
            "requestParameters.list[0]",
            "requestParameters.n.deep",
            "requestParameters.missing",
            "esc\"aped",
            "dup",
            "userIdentity.type",
            "nothing",
            "nothing.at.all",
            ".x",
            "[0]",
            "requestParameters.n",
            "requestParameters.n.deep.deeper",
            "requestParameters.bucketName.x",
            "requestParameters..n",
            "eventName.x",
            "resources.ARN.x",
        ] {
            assert_eq!(lazy.get_field(path), full.get_field(path), "path {path}");
        }
        assert_eq!(lazy.to_json(), value);
        let mut a = lazy.all_string_values();
        let mut b = full.all_string_values();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(lazy.any_string_value(&|s| s == "qé"));
        assert!(!lazy.any_string_value(&|s| s == "nope"));
    }

    #[test]
    fn a_record_must_be_an_object() {
        assert!(LazyEvent::parse("[1]").is_err());
        assert!(LazyEvent::parse("{\"a\":").is_err());
    }
}
