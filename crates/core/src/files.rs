//! Reading input files whole, within bounds: the one place that decides how much of a file
//! (or of standard input) is read and how much it may inflate to.
//!
//! A file named by a person is still hostile input (a `.json.gz` holding a 1 GiB record, a
//! gzip bomb, a truncated member): nothing past `limit` bytes is read, nothing past `limit`
//! bytes is inflated, and the size of a regular file is checked before a byte of it is read.
//! Errors name the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::input::{GunzipError, gunzip_into, is_gzip};

/// The most a file may hold, and inflate to, by default: enough for any CloudTrail, flow or
/// resolver log file AWS writes, and a bound on the memory one hostile file can take.
pub const DEFAULT_MAX_FILE_BYTES: usize = 192 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: larger than {limit} bytes{}; split it", .path.display(), if *.inflated { " once decompressed" } else { "" })]
    TooLarge {
        path: PathBuf,
        limit: usize,
        inflated: bool,
    },
    #[error("{}: gzip data is truncated or corrupt: {message}", .path.display())]
    Gzip { path: PathBuf, message: String },
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The name standard input goes by (`-` on a command line).
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new("-")
}

/// Reads `path` (`-`: standard input) into `raw`, at most `limit` bytes; when it is gzip (any
/// number of members), inflates it into `out`, at most `limit` bytes. Returns whether it was
/// gzip: the content is then `out`, else `raw`. Both buffers are cleared first and reused.
pub fn read_whole(
    path: &Path,
    limit: usize,
    raw: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<bool, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |inflated| FileError::TooLarge {
        path: path.to_path_buf(),
        limit,
        inflated,
    };
    raw.clear();
    out.clear();
    if is_stdin(path) {
        std::io::stdin()
            .lock()
            .take(limit as u64 + 1)
            .read_to_end(raw)
            .map_err(io)?;
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > limit as u64 {
            return Err(too_large(false));
        }
        raw.reserve(len as usize);
        file.take(limit as u64 + 1).read_to_end(raw).map_err(io)?;
    }
    if raw.len() > limit {
        raw.clear();
        return Err(too_large(false));
    }
    if !is_gzip(raw) {
        return Ok(false);
    }
    gunzip_into(raw, limit, out).map_err(|e| match e {
        GunzipError::TooLarge { .. } => too_large(true),
        GunzipError::Corrupt(message) => FileError::Gzip {
            path: path.to_path_buf(),
            message,
        },
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_before_and_after_inflating() {
        let dir = tempfile::tempdir().unwrap();
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        let plain = dir.path().join("a.json");
        std::fs::write(&plain, b"[1,2]").unwrap();
        assert!(!read_whole(&plain, 5, &mut raw, &mut out).unwrap());
        assert_eq!(raw, b"[1,2]");
        let e = read_whole(&plain, 4, &mut raw, &mut out).unwrap_err();
        assert!(
            matches!(
                e,
                FileError::TooLarge {
                    inflated: false,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("a.json"), "{e}");
        let gz = dir.path().join("b.json.gz");
        std::fs::write(&gz, crate::input::tests::gz(&[&[b'x'; 1000], b"yz"])).unwrap();
        assert!(read_whole(&gz, 1002, &mut raw, &mut out).unwrap());
        assert_eq!(out.len(), 1002);
        let e = read_whole(&gz, 1001, &mut raw, &mut out).unwrap_err();
        assert!(
            matches!(e, FileError::TooLarge { inflated: true, .. }),
            "{e}"
        );
        let mut cut = crate::input::tests::gz(&[&[b'x'; 1000]]);
        cut.truncate(cut.len() - 3);
        std::fs::write(&gz, cut).unwrap();
        assert!(matches!(
            read_whole(&gz, 1 << 20, &mut raw, &mut out),
            Err(FileError::Gzip { .. })
        ));
        assert!(matches!(
            read_whole(&dir.path().join("missing"), 10, &mut raw, &mut out),
            Err(FileError::Io { .. })
        ));
    }
}
