//! A validating JSON scanner for hot paths: splitting a log file into its records (import,
//! ingest) and the hunt. It walks an object's members and hands each value over as its text,
//! unparsed: what a caller reads is then decoded on its own, and the rest (request parameters,
//! response elements, resources…) is only checked — grammar, escapes, control characters,
//! nesting depth — never built.
//!
//! Why not serde_json for this: skipping a value with serde_json walks it byte by byte (about
//! 2 µs of a 1.1 KB CloudTrail record, two thirds of the hunt); here a string's end is found 16
//! bytes at a time. The scanner only ever answers for text that serde_json reads the same way:
//! the input is a `&str` (UTF-8 checked once per file), and what it accepts serde_json accepts.
//! A caller that meets an error goes serde_json's way, which says what is wrong and where.

use std::borrow::Cow;

/// Nesting deeper than this is refused (the scanner recurses; callers then go serde_json's way,
/// which skips any depth without recursing).
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct ScanError {
    pub at: usize,
    pub what: &'static str,
}

/// A cursor over JSON text.
pub struct Scan<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Scan<'a> {
        Scan {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// Where the cursor is (a byte offset into the text).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The text read since `start` (an earlier [`Scan::pos`]).
    pub fn since(&self, start: usize) -> &'a str {
        &self.text[start..self.pos]
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn err<T>(&self, what: &'static str) -> Result<T, ScanError> {
        Err(ScanError { at: self.pos, what })
    }

    #[inline]
    fn ws(&mut self) {
        let b = self.bytes();
        while let Some(c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace (not consumed).
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), ScanError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(what)
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters"),
        }
    }

    /// Consumes `c`, the end of the object or array at this level, if it is next.
    #[inline]
    fn close(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            self.depth -= 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ScanError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("recursion limit exceeded");
        }
        Ok(())
    }

    /// Reads an object, handing `each` every member: its key (escapes resolved) and the text of
    /// its value. `each` may refuse, which ends the scan with its error.
    pub fn object(
        &mut self,
        mut each: impl FnMut(Cow<'a, str>, &'a str) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.object_with(|s, key| {
            let value = s.value()?;
            each(key, value)
        })
    }

    /// Reads an object; `each` gets the scanner at every member's value and must read it.
    pub fn object_with(
        &mut self,
        mut each: impl FnMut(&mut Scan<'a>, Cow<'a, str>) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.expect(b'{', "expected an object")?;
        self.enter()?;
        if self.close(b'}') {
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return self.err("expected a key");
            }
            let (key, escaped) = self.string()?;
            let key = decode(key, escaped).map_err(|what| ScanError { at: self.pos, what })?;
            self.expect(b':', "expected ':'")?;
            self.ws();
            each(self, key)?;
            if self.close(b'}') {
                return Ok(());
            }
            self.expect(b',', "expected ',' or '}'")?;
        }
    }

    /// Reads an array; `each` gets the scanner at every element and must read it.
    pub fn array(
        &mut self,
        mut each: impl FnMut(&mut Scan<'a>) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        self.expect(b'[', "expected an array")?;
        self.enter()?;
        if self.close(b']') {
            return Ok(());
        }
        loop {
            self.ws();
            each(self)?;
            if self.close(b']') {
                return Ok(());
            }
            self.expect(b',', "expected ',' or ']'")?;
        }
    }

    /// Reads a string or `null`; anything else is an error.
    pub fn opt_str(&mut self) -> Result<Option<Cow<'a, str>>, ScanError> {
        match self.peek() {
            Some(b'"') => {
                let (text, escaped) = self.string()?;
                decode(text, escaped)
                    .map(Some)
                    .map_err(|what| ScanError { at: self.pos, what })
            }
            Some(b'n') => self.literal("null").map(|_| None),
            _ => self.err("invalid type: expected a string"),
        }
    }

    /// Reads one value of any kind and returns its text.
    pub fn value(&mut self) -> Result<&'a str, ScanError> {
        self.ws();
        let start = self.pos;
        match self.bytes().get(self.pos) {
            Some(b'"') => {
                self.string()?;
            }
            Some(b'{' | b'[') => self.skip_nested()?,
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return self.err("expected a value"),
            None => return self.err("EOF while parsing a value"),
        }
        Ok(&self.text[start..self.pos])
    }

    /// Reads the object or array at the cursor, in a loop rather than by recursion: the bits
    /// of `objects` say which of the open levels are objects.
    fn skip_nested(&mut self) -> Result<(), ScanError> {
        let b = self.bytes();
        let base = self.depth;
        let mut objects: u128 = 0;
        'value: loop {
            // At a value.
            self.ws();
            match b.get(self.pos) {
                Some(b'"') => {
                    self.string()?;
                }
                Some(&c @ (b'{' | b'[')) => {
                    self.pos += 1;
                    if self.depth >= MAX_DEPTH {
                        return self.err("recursion limit exceeded");
                    }
                    let level = self.depth - base;
                    self.depth += 1;
                    let object = c == b'{';
                    if object {
                        objects |= 1 << level;
                    } else {
                        objects &= !(1 << level);
                    }
                    if !self.close(if object { b'}' } else { b']' }) {
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return self.err("expected a value"),
                None => return self.err("EOF while parsing a value"),
            }
            // After a value: a comma, or the end of levels.
            loop {
                if self.depth == base {
                    return Ok(());
                }
                let object = objects & (1 << (self.depth - base - 1)) != 0;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.pos += 1;
                        self.depth -= 1;
                    }
                    _ if object => return self.err("expected ',' or '}'"),
                    _ => return self.err("expected ',' or ']'"),
                }
            }
        }
    }

    /// A key and its colon, in an object being skipped.
    fn key(&mut self) -> Result<(), ScanError> {
        if self.peek() != Some(b'"') {
            return self.err("expected a key");
        }
        self.string()?;
        self.expect(b':', "expected ':'")
    }

    fn literal(&mut self, word: &'static str) -> Result<(), ScanError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    fn digits(&mut self) -> usize {
        let b = self.bytes();
        let start = self.pos;
        while b.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), ScanError> {
        let b = self.bytes();
        if b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match b.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        if b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if matches!(b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        Ok(())
    }

    /// Reads a string at the cursor (its opening quote) and returns its text, quotes included,
    /// and whether it has escapes.
    #[inline]
    fn string(&mut self) -> Result<(&'a str, bool), ScanError> {
        let b = self.bytes();
        let start = self.pos;
        let mut i = self.pos + 1;
        let mut escaped = false;
        loop {
            i = special(b, i);
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((&self.text[start..self.pos], escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    i += 1;
                    match b.get(i) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                        Some(b'u') => {
                            let hex = b.get(i + 1..i + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                self.pos = i;
                                return self.err("invalid escape");
                            }
                            i += 5;
                        }
                        _ => {
                            self.pos = i;
                            return self.err("invalid escape");
                        }
                    }
                }
                Some(_) => {
                    self.pos = i;
                    return self
                        .err("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => {
                    self.pos = i;
                    return self.err("EOF while parsing a string");
                }
            }
        }
    }
}

/// The index of the first `"`, `\` or control character at or after `i` (or `b.len()`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn special(b: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 CPU, so these intrinsics are always available; each
    // load reads the 16 bytes at `i`, and `i + 16 <= b.len()` keeps them inside `b`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let control = _mm_set1_epi8(0x1f);
        while i + 16 <= b.len() {
            let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                // max(v, 0x1f) == 0x1f exactly when v <= 0x1f (unsigned)
                _mm_cmpeq_epi8(_mm_max_epu8(v, control), control),
            );
            let mask = _mm_movemask_epi8(hits);
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    special_scalar(b, i)
}

#[cfg(not(target_arch = "x86_64"))]
fn special(b: &[u8], i: usize) -> usize {
    special_scalar(b, i)
}

fn special_scalar(b: &[u8], i: usize) -> usize {
    b[i.min(b.len())..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map_or(b.len(), |p| i + p)
}

/// A string's text (quotes included) as the string it stands for: borrowed when it has no
/// escapes. The text must have come from the scanner.
#[inline]
fn decode(quoted: &str, escaped: bool) -> Result<Cow<'_, str>, &'static str> {
    if !escaped {
        // The quotes are one byte each: stripping them needs no check of char boundaries.
        let inner = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
        return inner.map(Cow::Borrowed).ok_or("expected a string");
    }
    serde_json::from_str::<String>(quoted)
        .map(Cow::Owned)
        .map_err(|_| "invalid escape in a string")
}

/// A value's text as an optional string: `null` is none, anything but a string is an error.
pub fn opt_str(text: &str) -> Result<Option<Cow<'_, str>>, &'static str> {
    match text.as_bytes().first() {
        Some(b'"') => decode(text, text.contains('\\')).map(Some),
        Some(b'n') => Ok(None),
        _ => Err("invalid type: expected a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a whole text as one value.
    fn whole(text: &str) -> Result<&str, ScanError> {
        let mut s = Scan::new(text);
        let v = s.value()?;
        s.end()?;
        Ok(v)
    }

    fn agrees(text: &str) {
        let ours = whole(text).is_ok();
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
        assert_eq!(
            ours, theirs,
            "{text:?}: scanner {ours}, serde_json {theirs}"
        );
    }

    #[test]
    fn accepts_and_refuses_what_serde_json_does() {
        for text in [
            "{}",
            "[]",
            r#"{"a":1,"b":[true,false,null,-0.5e+3,"x\"y\\z\u00e9\/"],"c":{"d":{}}}"#,
            " { \"a\" : [ 1 , 2 ] } ",
            "0",
            "-0",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "-",
            "+1",
            "tru",
            "nul",
            "\"abc",
            "\"a\\x\"",
            "\"a\\u12\"",
            "\"a\\u12G4\"",
            "\"tab\there\"",
            "\"nl\nhere\"",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{1:2}",
            "{\"a\":1}}",
            "{\"a\":1} x",
            "\"\\ud800\"",
            "\"0123456789abcdef0123456789abcdef\"",
            "\"0123456789abcdef0123456789abcde\\\"f\"",
            "\"0123456789abcdef0123456789abcdef\u{1}\"",
            "\"é日本語0123456789abcdef\"",
            "",
            "   ",
        ] {
            agrees(text);
        }
        agrees(&format!("{}{}", "[".repeat(128), "]".repeat(128)));
        // serde_json skips any depth (without recursing); the scanner recurses, so it stops at
        // 128 levels and leaves deeper text to serde_json.
        let deep = format!("{}1{}", "{\"a\":".repeat(129), "}".repeat(129));
        assert_eq!(whole(&deep).unwrap_err().what, "recursion limit exceeded");
    }

    #[test]
    fn members_come_with_their_text() {
        let text = r#"{"a":"x","b\u0063":{"d":[1,2]},"e":null}"#;
        let mut seen = Vec::new();
        Scan::new(text)
            .object(|k, v| {
                seen.push((k.into_owned(), v));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen,
            [
                ("a".to_string(), "\"x\""),
                ("bc".to_string(), "{\"d\":[1,2]}"),
                ("e".to_string(), "null")
            ]
        );
        assert_eq!(opt_str("\"x\\ny\"").unwrap().as_deref(), Some("x\ny"));
        assert_eq!(opt_str("null").unwrap(), None);
        assert!(opt_str("1").is_err());
    }

    /// Every cut and every one-byte change of a record is accepted or refused as serde_json
    /// accepts or refuses it.
    #[test]
    fn damaged_records_agree_with_serde_json() {
        let record = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a\"b"},"n":[1,-2.5e3,true,null],"s":"\u00e9\t"}"#;
        for cut in 0..record.len() {
            if record.is_char_boundary(cut) {
                agrees(&record[..cut]);
            }
        }
        let bytes = record.as_bytes();
        for i in 0..bytes.len() {
            for c in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'1', b'-', b'e', 0x01, b' ',
            ] {
                let mut b = bytes.to_vec();
                b[i] = c;
                if let Ok(t) = std::str::from_utf8(&b) {
                    agrees(t);
                }
            }
        }
    }
}
