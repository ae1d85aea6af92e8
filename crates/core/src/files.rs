//! Finding input files, and reading them whole within bounds: the one place that decides which
//! files under a folder are read, how links are treated, how much of a file (or of standard
//! input) is read and how much it may inflate to.
//!
//! **Links**: a path the user names is followed, file or folder (it is their choice); inside a
//! folder, symbolic links are never followed — no loops, nothing outside the tree — and each one
//! skipped is counted, so a run can say so. `-` stands for standard input.
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

/// A file a walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Its size when listed (0 for standard input).
    pub len: u64,
}

/// What [`walk`] found under the paths it was given.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files to read: each named file as given, then each folder's accepted files in name order.
    pub files: Vec<Found>,
    /// Files inside folders that `accept` turned down (the first few are kept as examples).
    pub skipped: u64,
    pub skipped_examples: Vec<PathBuf>,
    /// Symbolic links inside folders, not followed.
    pub links: Vec<PathBuf>,
    /// Paths that could not be listed or looked at, with why.
    pub errors: Vec<String>,
}

/// Walks `paths`: a named file is taken whatever its name (`-` too); a named folder is walked
/// recursively, taking the files `accept` says yes to and never following links inside it;
/// `prune` may skip whole folders (e.g. `.git`) by path. Folders are read in name order.
pub fn walk(
    paths: &[PathBuf],
    accept: impl Fn(&Path) -> bool,
    prune: impl Fn(&Path) -> bool,
) -> Walk {
    let mut w = Walk::default();
    for p in paths {
        if is_stdin(p) {
            w.files.push(Found {
                path: p.clone(),
                len: 0,
            });
            continue;
        }
        // Named: followed if it is a link.
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                w.files.push(Found {
                    path: p.clone(),
                    len: m.len(),
                });
                continue;
            }
            Err(e) => {
                w.errors.push(format!("{}: {e}", p.display()));
                continue;
            }
        }
        let it = walkdir::WalkDir::new(p)
            .follow_links(false)
            .follow_root_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !(e.file_type().is_dir() && prune(e.path())));
        for entry in it {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let at = e
                        .path()
                        .map_or_else(|| p.display().to_string(), |x| x.display().to_string());
                    w.errors.push(format!(
                        "{at}: {}",
                        e.io_error()
                            .map_or_else(|| e.to_string(), |io| io.to_string())
                    ));
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue; // the named folder itself (followed if a link)
            }
            let ft = entry.file_type();
            if ft.is_symlink() {
                w.links.push(entry.into_path());
            } else if ft.is_file() {
                if accept(entry.path()) {
                    let len = entry.metadata().map_or(0, |m| m.len());
                    w.files.push(Found {
                        path: entry.into_path(),
                        len,
                    });
                } else {
                    w.skipped += 1;
                    if w.skipped_examples.len() < 3 {
                        w.skipped_examples.push(entry.into_path());
                    }
                }
            }
        }
    }
    w
}

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

    #[cfg(unix)]
    #[test]
    fn walks_follow_named_links_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("b/.git")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("b/2.json"), "x").unwrap();
        std::fs::write(root.join("a.json"), "xy").unwrap();
        std::fs::write(root.join("notes.md"), "").unwrap();
        std::fs::write(root.join("b/.git/x.json"), "").unwrap();
        std::fs::write(outside.join("secret.json"), "").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("b/loop")).unwrap();
        let link_to_root = dir.path().join("named-link");
        std::os::unix::fs::symlink(&root, &link_to_root).unwrap();
        let w = walk(
            &[link_to_root.clone(), outside.join("secret.json")],
            |p| p.extension().is_some_and(|e| e == "json"),
            |p| p.ends_with(".git"),
        );
        let names: Vec<_> = w.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(
            names,
            vec![
                link_to_root.join("a.json"),
                link_to_root.join("b/2.json"),
                outside.join("secret.json")
            ]
        );
        assert_eq!(w.files[0].len, 2);
        assert_eq!(w.links.len(), 2, "{:?}", w.links);
        assert_eq!(w.skipped, 1);
        let w = walk(&[dir.path().join("nope")], |_| true, |_| false);
        assert_eq!(w.errors.len(), 1);
    }

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
