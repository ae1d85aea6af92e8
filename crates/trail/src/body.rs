//! Request bodies and files: decompression with a hard cap, and splitting into raw records.
//!
//! Accepted shapes: a JSON array of records, CloudTrail's `{"Records":[…]}` envelope, one
//! record, or NDJSON (one record per line). Each record is kept as the exact bytes it was given
//! in ([`RawValue`]), so the history returns it unchanged.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::scan::{Scan, ScanError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error(
        "body is empty: send a JSON array of records, a {{\"Records\":[…]}} envelope, or NDJSON"
    )]
    Empty,
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("gzip data is truncated or corrupt: {0}")]
    Gzip(String),
    #[error("decompressed size exceeds the limit of {limit} bytes; split the input")]
    TooLarge { limit: usize },
    #[error(
        "expected a JSON array, a {{\"Records\":[…]}} envelope or one JSON object per line; found {found}"
    )]
    Shape { found: String },
}

impl mamori_core::service::ServiceError for BodyError {
    fn code(&self) -> mamori_core::ErrorCode {
        match self {
            BodyError::TooLarge { .. } => mamori_core::ErrorCode::PayloadTooLarge,
            _ => mamori_core::ErrorCode::BadRequest,
        }
    }
}

pub use mamori_core::input::is_gzip;

/// Gunzips `bytes` when they start with the gzip magic (all members, as `gzip -c a b` writes),
/// refusing to produce more than `limit` bytes: a gzip bomb stops at the cap.
pub fn decompress_capped(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, BodyError> {
    if !is_gzip(bytes) {
        if bytes.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::new();
    gunzip_into(bytes, limit, &mut out)?;
    Ok(Cow::Owned(out))
}

/// Gunzips `bytes` (gzip, all members) into `out` with the one bounded decompressor
/// ([`mamori_core::input::gunzip_into`]), refusing to produce more than `limit` bytes.
pub fn gunzip_into(bytes: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), BodyError> {
    mamori_core::input::gunzip_into(bytes, limit, out).map_err(|e| match e {
        mamori_core::input::GunzipError::TooLarge { limit } => BodyError::TooLarge { limit },
        mamori_core::input::GunzipError::Corrupt(m) => BodyError::Gzip(m),
    })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Records", borrow)]
    records: Option<Vec<&'a RawValue>>,
}

fn syntax(e: serde_json::Error) -> BodyError {
    BodyError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_location(&e.to_string()),
    }
}

/// serde_json appends " at line L column C"; the location is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Splits a body into raw records (each the JSON text of one value). A syntax error anywhere
/// rejects the whole body (nothing is half-stored); a record that is not an object is left for
/// [`crate::ingest`] to reject by index.
pub fn split_records(body: &[u8]) -> Result<Vec<&str>, BodyError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let first = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Err(BodyError::Empty);
    };
    // An array or a `{"Records":[…]}` envelope in one pass of the scanner; anything it does not
    // read (NDJSON, one bare record, errors) goes serde_json's way, which says where it is wrong.
    if let Ok(text) = std::str::from_utf8(body)
        && let Some(records) = scan_records(text)
    {
        return Ok(records);
    }
    split_with_serde(body, first)
}

/// [`split_records`] by serde_json alone (`first`: the first byte that is not whitespace).
///
/// The body is a stream of JSON values, one or many, separated by whitespace or nothing at all
/// (NDJSON, or CloudTrail files concatenated as `zcat *.json.gz` writes them): an array gives
/// its elements, a `{"Records":[…]}` envelope its records, anything else is one record.
fn split_with_serde(body: &[u8], first: usize) -> Result<Vec<&str>, BodyError> {
    if !matches!(body[first], b'[' | b'{') {
        return Err(BodyError::Shape {
            found: format!("a body starting with {:?}", body[first] as char),
        });
    }
    let mut out = Vec::new();
    for v in serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>() {
        let v = v.map_err(syntax)?;
        let text = v.get();
        match text.as_bytes().first() {
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(syntax)?;
                out.extend(items.into_iter().map(RawValue::get));
            }
            Some(b'{') if text.contains("\"Records\"") => {
                let env: Envelope<'_> =
                    serde_json::from_str(text).map_err(|_| BodyError::Shape {
                        found: "an object whose \"Records\" is not an array of records".into(),
                    })?;
                match env.records {
                    Some(records) => out.extend(records.into_iter().map(RawValue::get)),
                    None => out.push(text),
                }
            }
            _ => out.push(text),
        }
    }
    Ok(out)
}

/// The records of an array or of a `{"Records":[…]}` envelope, if the scanner reads the body as
/// one of those; `None` sends the caller serde_json's way.
fn scan_records(text: &str) -> Option<Vec<&str>> {
    let mut s = Scan::new(text);
    let mut out = Vec::new();
    match s.peek()? {
        b'[' => s.array(|s| s.value().map(|v| out.push(v))).ok()?,
        b'{' => {
            let mut found = false;
            s.object_with(|s, key| {
                if key != "Records" {
                    return s.value().map(drop);
                }
                if found || s.peek() != Some(b'[') {
                    // Repeated, or not an array: serde_json's way says so.
                    return Err(ScanError {
                        at: s.pos(),
                        what: "not a records array",
                    });
                }
                found = true;
                s.array(|s| s.value().map(|v| out.push(v)))
            })
            .ok()?;
            if !found {
                return None;
            }
        }
        _ => return None,
    }
    s.end().ok()?;
    Some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn texts(body: &str) -> Vec<String> {
        split_records(body.as_bytes())
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    #[test]
    fn three_shapes_one_result() {
        assert_eq!(
            texts(r#"[{"a":1}, {"b":2}]"#),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(
            texts(r#"{"Records":[{"a":1},{"b":2}]}"#),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(
            texts("{\"a\":1}\n{\"b\":2}\n"),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
        assert_eq!(texts(r#"{"eventName":"X"}"#), vec![r#"{"eventName":"X"}"#]);
    }

    /// `zcat *.json.gz` concatenates CloudTrail files with nothing between them; `cat a.json
    /// b.json` or NDJSON of envelopes with newlines: every record of every document counts.
    #[test]
    fn concatenated_documents_give_every_record() {
        let two = r#"{"Records":[{"a":1},{"b":2}]}{"Records":[{"c":3}]}"#;
        assert_eq!(texts(two), vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]);
        assert_eq!(
            texts("{\"Records\":[{\"a\":1}]}\n[{\"b\":2}]\n{\"c\":3}"),
            vec![r#"{"a":1}"#, r#"{"b":2}"#, r#"{"c":3}"#]
        );
        assert_eq!(
            texts(r#"[{"a":1}][{"b":2}]"#),
            vec![r#"{"a":1}"#, r#"{"b":2}"#]
        );
        // A record whose text mentions "Records" only in a value stays one record.
        assert_eq!(
            texts("{\"x\":\"\\\"Records\\\"\"}\n{\"y\":1}"),
            vec![r#"{"x":"\"Records\""}"#, r#"{"y":1}"#]
        );
        assert!(matches!(
            split_records(br#"{"Records":[{"a":1}]}{"Records":5}"#),
            Err(BodyError::Shape { .. })
        ));
    }

    #[test]
    fn records_keep_their_exact_bytes() {
        let body = "{\"Records\":[{ \"b\" : 2.50 ,\"a\":null }]}";
        assert_eq!(texts(body), vec!["{ \"b\" : 2.50 ,\"a\":null }"]);
    }

    /// The scanner's split is serde_json's split: every cut and every one-byte change of an
    /// envelope and of an array split the same way or fail with the same error.
    #[test]
    fn the_scanner_splits_as_serde_json_does() {
        let envelope = r#"{"Records":[{"eventName":"A","n":[1,2.5e3,null,true]},{"eventName":"B\"q\u00e9","r":{}}],"other":"x"}"#;
        let array = r#"[{"eventName":"A"},"s",7,{"deep":[[{}]]}]"#;
        fn serde(b: &[u8]) -> Result<Vec<&str>, String> {
            let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
            match b.iter().position(|c| !c.is_ascii_whitespace()) {
                Some(first) => split_with_serde(b, first).map_err(|e| e.to_string()),
                None => Err(BodyError::Empty.to_string()),
            }
        }
        fn ours(b: &[u8]) -> Result<Vec<&str>, String> {
            split_records(b).map_err(|e| e.to_string())
        }
        let mut fast = 0;
        for text in [envelope, array] {
            let bytes = text.as_bytes();
            let mut bodies: Vec<Vec<u8>> = (1..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for i in 0..bytes.len() {
                for c in [
                    b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'1', b' ', 0x01,
                ] {
                    let mut b = bytes.to_vec();
                    b[i] = c;
                    bodies.push(b);
                }
            }
            for b in &bodies {
                assert_eq!(ours(b), serde(b), "{:?}", String::from_utf8_lossy(b));
                fast += usize::from(std::str::from_utf8(b).ok().and_then(scan_records).is_some());
            }
        }
        assert!(fast > 100, "the scanner read {fast} of them");
        assert_eq!(ours(envelope.as_bytes()).unwrap().len(), 2);
        // Repeated or misshapen "Records" still say so.
        for bad in [r#"{"Records":[{}],"Records":[{}]}"#, r#"{"Records":5}"#] {
            assert!(
                matches!(split_records(bad.as_bytes()), Err(BodyError::Shape { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = split_records(b"[{\"a\":1},\n{\"b\":}]").unwrap_err();
        assert!(
            matches!(
                err,
                BodyError::Syntax {
                    line: 2,
                    column: 6,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(split_records(b"  \n").unwrap_err(), BodyError::Empty);
        assert!(matches!(
            split_records(b"\"x\""),
            Err(BodyError::Shape { .. })
        ));
        assert!(matches!(
            split_records(b"{\"Records\":5}"),
            Err(BodyError::Shape { .. })
        ));
        assert!(matches!(
            split_records(b"[{\"a\":\"\xff\"}]"),
            Err(BodyError::Syntax { .. })
        ));
    }

    #[test]
    fn gzip_is_capped_and_checked() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b' '; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decompress_capped(&gz, 10_000).unwrap().len(), 10_000);
        assert_eq!(
            decompress_capped(&gz, 9_999),
            Err(BodyError::TooLarge { limit: 9_999 })
        );
        assert!(matches!(
            decompress_capped(&gz[..gz.len() / 2], 1 << 20),
            Err(BodyError::Gzip(_))
        ));
        assert!(matches!(
            decompress_capped(&[0x1f, 0x8b, 0, 0], 1 << 20),
            Err(BodyError::Gzip(_))
        ));
    }

    use mamori_core::testkit::gzip_members as gz;

    /// One buffer for many files: each gets exactly its own bytes, whatever came before; every
    /// member counts, whatever the trailer says; the cap holds.
    #[test]
    fn gunzip_into_reuses_one_buffer() {
        let mut buf = Vec::new();
        gunzip_into(&gz(&[&[b'a'; 5000]]), 1 << 20, &mut buf).unwrap();
        assert_eq!(buf, vec![b'a'; 5000]);
        gunzip_into(&gz(&[b"short"]), 1 << 20, &mut buf).unwrap();
        assert_eq!(buf, b"short");
        // Two members: the trailer gives only the last one's size.
        gunzip_into(&gz(&[&[b'x'; 3000], b"yz"]), 1 << 20, &mut buf).unwrap();
        assert_eq!(buf.len(), 3002);
        assert!(buf.ends_with(b"xyz"));
        // A trailer claiming far more than the cap is only a hint.
        let mut lying = gz(&[b"tiny"]);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            gunzip_into(&lying, 1 << 20, &mut buf),
            Err(BodyError::Gzip(_))
        ));
        assert_eq!(
            gunzip_into(&gz(&[&[0; 2000]]), 1000, &mut buf),
            Err(BodyError::TooLarge { limit: 1000 })
        );
        assert!(buf.is_empty(), "nothing of a refused file is left");
    }
}
