//! Reading hostile input in bounded memory: one streaming decompressor with a hard cap on what
//! it produces, and a line reader that never holds more than one line of a bounded length.
//!
//! Every service that reads a body or a file a person or tenant gave goes through here, so a
//! gzip bomb, a truncated member, a 1 GiB line or invalid UTF-8 is met the same way everywhere:
//! an error that says what and where, in memory that does not grow with the input.

use std::io::{self, BufRead, BufReader, Read};

/// gzip's magic bytes (RFC 1952).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What went wrong reading an input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{what}: decompressed data exceeds the limit of {limit} bytes; split the input")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: gzip data is truncated or corrupt: {message}")]
    Gzip { what: String, message: String },
    #[error("{what}: cannot read: {source}")]
    Io { what: String, source: io::Error },
}

/// Why [`gunzip_into`] refused its input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GunzipError {
    #[error("decompressed size exceeds the limit of {limit} bytes; split the input")]
    TooLarge { limit: usize },
    #[error("gzip data is truncated or corrupt: {0}")]
    Corrupt(String),
}

/// Whether `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Gunzips `bytes` (gzip, all members) into `out`, replacing what it held and reusing its
/// memory — for callers that read many files, whose fresh buffers would otherwise each cost
/// page faults — refusing to produce more than `limit` bytes.
pub fn gunzip_into(bytes: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), GunzipError> {
    // Sized from the gzip trailer (the last member's size, mod 2^32): one allocation for the
    // usual single-member file instead of a doubling chain of copies. Only a hint — several
    // members, or a lying trailer, just grow the vector.
    let trailer = bytes
        .len()
        .checked_sub(4)
        .and_then(|i| bytes.get(i..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    let hint = if trailer > 0 {
        trailer.saturating_add(1)
    } else {
        bytes.len().saturating_mul(8)
    };
    out.clear();
    // The fast way first, in the space the trailer asks for (never past the cap); whatever it
    // cannot do — a member that does not fit, bad data — the streaming decoder redoes, and it
    // is the one that reports errors and enforces the cap.
    out.reserve(hint.saturating_sub(1).min(limit));
    if crate::inflate::gunzip(bytes, out, limit).is_some() {
        return Ok(());
    }
    out.clear();
    out.reserve(hint.min(limit.saturating_add(1)));
    let decoder = flate2::read::MultiGzDecoder::new(bytes);
    decoder
        .take(limit as u64 + 1)
        .read_to_end(out)
        .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
    if out.len() > limit {
        out.clear();
        return Err(GunzipError::TooLarge { limit });
    }
    Ok(())
}

/// A reader that fails with [`io::ErrorKind::FileTooLarge`] once more than `limit` bytes
/// have come through it (instead of stopping quietly, as `Read::take` does).
pub struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Self { inner, left: limit }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte past the limit tells "exactly at the limit" from "over it".
        let want = buf.len().min(
            usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .saturating_add(1),
        );
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "decompressed data exceeds the limit",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether `r`'s next bytes are a gzip member (looked at without consuming them).
pub fn starts_with_gzip<R: BufRead>(r: &mut R) -> io::Result<bool> {
    // fill_buf may return fewer than two bytes at a boundary; read more until it cannot.
    let buf = r.fill_buf()?;
    Ok(buf.len() >= 2 && buf[..2] == GZIP_MAGIC)
}

/// The decompressed stream of `r`: every gzip member in turn when it starts with the gzip
/// magic (as `gzip -c a b > c` or `cat a.gz b.gz` make), the bytes as they are otherwise;
/// never more than `limit` bytes. Errors come as `io::Error`s; [`classify`] names them.
pub fn decoded<'a, R: BufRead + 'a>(mut r: R, limit: u64) -> io::Result<Box<dyn BufRead + 'a>> {
    if starts_with_gzip(&mut r)? {
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            Capped::new(flate2::bufread::MultiGzDecoder::new(r), limit),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            Capped::new(r, limit),
        )))
    }
}

/// Turns an I/O error from a [`decoded`] stream into what it means, naming `what` was read.
pub fn classify(what: &str, limit: u64, e: io::Error) -> InputError {
    match e.kind() {
        io::ErrorKind::FileTooLarge => InputError::TooLarge {
            what: what.into(),
            limit,
        },
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            InputError::Gzip {
                what: what.into(),
                message: e.to_string(),
            }
        }
        _ => InputError::Io {
            what: what.into(),
            source: e,
        },
    }
}

/// Reads a [`decoded`] stream to its end without keeping it: the decompressed size, or the
/// error a later pass would meet (a bomb past the cap, a truncated member). Lets a caller refuse
/// a bad input before acting on any of it.
pub fn measure<R: BufRead>(r: R, what: &str, limit: u64) -> Result<u64, InputError> {
    let mut d = decoded(r, limit).map_err(|e| classify(what, limit, e))?;
    io::copy(&mut d, &mut io::sink()).map_err(|e| classify(what, limit, e))
}

/// One line from [`Lines`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's text, without its `\n` or `\r\n`.
    Text(&'a str),
    /// Longer than the reader's maximum: skipped, never held. `len` is its length in bytes.
    TooLong { len: u64 },
    /// Not valid UTF-8 at byte `at` of the line.
    NotUtf8 { at: usize },
}

/// A line reader that holds at most `max` bytes of a line: a longer line is read through and
/// reported as [`Line::TooLong`], so a 1 GiB line costs no memory.
pub struct Lines<R> {
    r: R,
    max: usize,
    buf: Vec<u8>,
    /// 1-based number of the line last returned.
    pub number: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(r: R, max: usize) -> Self {
        Self {
            r,
            max,
            buf: Vec::new(),
            number: 0,
        }
    }

    /// The next line, `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut total: u64 = 0;
        let mut too_long = false;
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                if total == 0 {
                    return Ok(None);
                }
                break;
            }
            let (take, done) = match memchr(chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            total += take as u64;
            if !too_long {
                if self.buf.len() + take > self.max + 2 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.r.consume(take);
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong { len: total }));
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() > self.max {
            return Ok(Some(Line::TooLong { len: total }));
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Some(Line::Text(s))),
            Err(e) => Ok(Some(Line::NotUtf8 {
                at: e.valid_up_to(),
            })),
        }
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Keeps a count of rejected items and the first `keep` messages (each cut to 300 bytes), so
/// a body of a million bad lines costs a few kilobytes, not a message per line.
#[derive(Debug, Default)]
pub struct Rejections {
    pub count: u64,
    pub first: Vec<String>,
    keep: usize,
}

impl Rejections {
    pub fn keeping(keep: usize) -> Self {
        Self {
            count: 0,
            first: Vec::new(),
            keep,
        }
    }

    /// Counts one rejection; builds its message only while fewer than `keep` are kept.
    pub fn push(&mut self, message: impl FnOnce() -> String) {
        self.count += 1;
        if self.first.len() < self.keep {
            let mut m = message();
            if m.len() > 300 {
                let mut cut = 300;
                while !m.is_char_boundary(cut) {
                    cut -= 1;
                }
                m.truncate(cut);
                m.push('…');
            }
            self.first.push(m);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use crate::testkit::gzip_members as gz;

    fn gz1(b: &[u8]) -> Vec<u8> {
        gz(&[b])
    }

    #[test]
    fn members_are_all_read_and_plain_text_passes() {
        let two = gz(&[b"a\n", b"b\n"]);
        let mut s = String::new();
        decoded(&two[..], 100)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "a\nb\n");
        let mut s = String::new();
        decoded(&b"plain\n"[..], 100)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "plain\n");
    }

    #[test]
    fn the_cap_is_exact_and_loud() {
        let bomb = gz1(&vec![b'x'; 1 << 20]);
        assert_eq!(measure(&bomb[..], "b", 1 << 20).unwrap(), 1 << 20);
        assert!(matches!(
            measure(&bomb[..], "b", (1 << 20) - 1),
            Err(InputError::TooLarge { .. })
        ));
        assert!(matches!(
            measure(&vec![b'y'; 11][..], "p", 10),
            Err(InputError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let g = gz1(&vec![b'x'; 10_000]);
        let cut = &g[..g.len() - 6];
        let e = measure(cut, "file.gz", 1 << 20).unwrap_err();
        assert!(matches!(e, InputError::Gzip { .. }), "{e}");
        assert!(e.to_string().starts_with("file.gz: "), "{e}");
    }

    #[test]
    fn long_lines_are_skipped_not_held() {
        let mut input = b"short\r\n".to_vec();
        input.extend(vec![b'z'; 100_000]);
        input.extend(b"\nok\n\xff\xfe\nlast");
        let mut l = Lines::new(BufReader::with_capacity(64, &input[..]), 10);
        assert_eq!(l.next_line().unwrap(), Some(Line::Text("short")));
        assert_eq!(l.next_line().unwrap(), Some(Line::TooLong { len: 100_001 }));
        assert!(l.buf.capacity() < 1000, "the long line was not kept");
        assert_eq!(l.next_line().unwrap(), Some(Line::Text("ok")));
        assert_eq!(l.next_line().unwrap(), Some(Line::NotUtf8 { at: 0 }));
        assert_eq!(l.next_line().unwrap(), Some(Line::Text("last")));
        assert_eq!(l.number, 5);
        assert_eq!(l.next_line().unwrap(), None);
    }

    #[test]
    fn rejections_keep_few_messages() {
        let mut r = Rejections::keeping(2);
        for i in 0..1000 {
            r.push(|| format!("line {i}: {}", "é".repeat(400)));
        }
        assert_eq!(r.count, 1000);
        assert_eq!(r.first.len(), 2);
        assert!(r.first[0].len() <= 304);
    }
}
