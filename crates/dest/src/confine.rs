//! The walls around tenant-named destinations.
//!
//! A tenant names a destination in a trail or a publishing setting; the server writes there with
//! its own privileges (often root) and its own S3 credentials (the operator's). So:
//!
//! - **Directories** live under the operator's root (`[server] destinations_root`, by default
//!   `<data_dir>/destinations`), each account below its own folder `<root>/<12-digit account>/`.
//!   A tenant writes `trails/main` (or `file://trails/main`, or the absolute path of that same
//!   place); `..`, `.`, empty segments, backslashes (UNC and Windows paths), colons, control
//!   characters and paths outside the account's folder are refused. Every folder on the way is
//!   looked at without following links (`symlink_metadata`), and a link anywhere below the root
//!   is refused, so a link planted in the tree cannot lead out of it.
//! - **S3 buckets** are an operator allow-list (`[server] s3_destinations`: `bucket` or
//!   `bucket/prefix`); with an empty list no tenant may name a bucket.
//! - **Any other scheme** (`ftp://`, `http://`, …) is refused.

use std::path::{Component, Path, PathBuf};

use mamori_core::AccountId;

use crate::destination::{DestError, Destination};

/// Where a tenant's destination resolves to, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An absolute directory below `<root>/<account>/`.
    Dir(PathBuf),
    /// An allowed bucket and a key prefix (no leading or trailing `/`).
    S3 { bucket: String, prefix: String },
}

impl Target {
    /// A location string where one destination's objects all start: two targets whose
    /// locations are prefixes of one another write into the same place.
    pub fn location(&self) -> String {
        match self {
            Target::Dir(p) => format!("file://{}/", p.display()),
            Target::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}/"),
            Target::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/"),
        }
    }

    /// Whether the two targets' objects can land in the same place.
    pub fn overlaps(&self, other: &Target) -> bool {
        let (a, b) = (self.location(), other.location());
        a.starts_with(&b) || b.starts_with(&a)
    }
}

/// The operator's rules for destinations tenants name.
#[derive(Clone, Debug)]
pub struct Confinement {
    root: PathBuf,
    s3: Vec<(String, String)>,
}

/// `Some(scheme)` when `s` starts like a URL (`scheme://`).
pub(crate) fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// Checks one segment of a folder path or key prefix a tenant wrote.
fn check_segment(seg: &str) -> Result<(), String> {
    if seg.is_empty() {
        return Err("has an empty segment (`//`)".into());
    }
    if seg == "." || seg == ".." {
        return Err(format!("may not contain {seg:?} segments"));
    }
    if seg.len() > 255 {
        return Err("has a segment longer than 255 bytes".into());
    }
    if let Some(c) = seg
        .chars()
        .find(|c| c.is_control() || matches!(c, '\\' | ':'))
    {
        return Err(format!("may not contain {c:?}"));
    }
    Ok(())
}

/// Checks a key prefix a tenant wrote (CloudTrail's `S3KeyPrefix`): segments separated by `/`
/// (leading and trailing ones ignored), none empty, `.` or `..`, no control characters,
/// backslashes or colons, at most 200 bytes (CloudTrail's limit).
pub fn check_key_prefix(prefix: &str) -> Result<(), String> {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        return Ok(());
    }
    if p.len() > 200 {
        return Err(format!("key prefix {prefix:?} is longer than 200 bytes"));
    }
    check_segments(p)
        .map(|_| ())
        .map_err(|why| format!("key prefix {prefix:?} {why}"))
}

fn check_segments(path: &str) -> Result<Vec<&str>, String> {
    if path.len() > 1024 {
        return Err("is longer than 1024 bytes".into());
    }
    let segs: Vec<&str> = path.split('/').collect();
    for s in &segs {
        check_segment(s)?;
    }
    Ok(segs)
}

impl Confinement {
    /// The rules with `root` as the directory root (created 0700 if missing) and `s3` as the
    /// allowed buckets (`bucket` or `bucket/prefix`).
    pub fn new(root: &Path, s3: &[String]) -> Result<Self, DestError> {
        let fail = |message: String| DestError::Open {
            dest: root.display().to_string(),
            message,
        };
        create_private_dir_all(root).map_err(|e| fail(format!("cannot create it: {e}")))?;
        let root = std::fs::canonicalize(root).map_err(|e| fail(e.to_string()))?;
        let mut allowed = Vec::new();
        for entry in s3 {
            let e = entry
                .strip_prefix("s3://")
                .unwrap_or(entry)
                .trim_matches('/');
            let (bucket, prefix) = e.split_once('/').unwrap_or((e, ""));
            if bucket.is_empty() || !prefix.is_empty() && check_segments(prefix).is_err() {
                return Err(DestError::Open {
                    dest: entry.clone(),
                    message: "an allowed S3 destination is `bucket` or `bucket/prefix`".into(),
                });
            }
            allowed.push((bucket.to_string(), prefix.to_string()));
        }
        Ok(Self { root, s3: allowed })
    }

    /// The folder of one account: `<root>/<12-digit account>`.
    pub fn account_dir(&self, account: AccountId) -> PathBuf {
        self.root.join(account.to_string())
    }

    /// Checks `dest` for `account` without touching anything but reading the tree's links.
    pub fn resolve(&self, account: AccountId, dest: &str) -> Result<Target, DestError> {
        let refuse = |reason: String| DestError::Refused {
            dest: dest.to_string(),
            reason,
        };
        if let Some(rest) = dest.strip_prefix("s3://") {
            let rest = rest.trim_end_matches('/');
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(refuse("no bucket name; write s3://bucket/prefix".into()));
            }
            if !prefix.is_empty() {
                check_segments(prefix).map_err(|why| refuse(format!("the key prefix {why}")))?;
            }
            let allowed = self.s3.iter().any(|(b, p)| {
                b == bucket
                    && (p.is_empty()
                        || prefix == p
                        || prefix
                            .strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('/')))
            });
            if !allowed {
                return Err(refuse(format!(
                    "bucket {bucket:?} (prefix {prefix:?}) is not among the S3 destinations the \
                     operator allows ([server] s3_destinations)"
                )));
            }
            return Ok(Target::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        let path = dest.strip_prefix("file://").unwrap_or(dest);
        if let Some(scheme) = scheme_of(path) {
            return Err(refuse(format!(
                "unknown scheme {scheme:?}; give a folder name (kept under the server's \
                 destinations root) or s3://bucket/prefix"
            )));
        }
        if path.contains('\\') {
            return Err(refuse(
                "backslashes (UNC and Windows paths) are not allowed; write folders with `/`"
                    .into(),
            ));
        }
        let home = self.account_dir(account);
        let relative = if path.starts_with('/') {
            // The absolute form of the same place is accepted; anything else is outside.
            let p = Path::new(path);
            if p.components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::RootDir))
            {
                return Err(refuse("may not contain . or .. segments".into()));
            }
            let rest = p.strip_prefix(&home).map_err(|_| {
                refuse(format!(
                    "it is outside this account's folder {}; give a folder name, which is kept \
                     there",
                    home.display()
                ))
            })?;
            rest.to_str()
                .ok_or_else(|| refuse("is not valid UTF-8".into()))?
                .to_string()
        } else {
            path.trim_end_matches('/').to_string()
        };
        if relative.is_empty() {
            return Err(refuse(
                "give a folder name below this account's folder".into(),
            ));
        }
        let segs = check_segments(&relative).map_err(|why| refuse(format!("the path {why}")))?;
        let mut at = home.clone();
        for seg in std::iter::once(None).chain(segs.iter().map(Some)) {
            if let Some(seg) = seg {
                at.push(seg);
            }
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse(format!(
                        "{} is a symbolic link; destinations are resolved without following links",
                        at.display()
                    )));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(refuse(format!("{} is not a directory", at.display())));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(refuse(format!("cannot look at {}: {e}", at.display()))),
            }
        }
        Ok(Target::Dir(at))
    }

    /// Resolves and opens `dest` for `account`, creating its folders (0700) one at a time, each
    /// checked again to be a real directory and not a link.
    pub fn open(&self, account: AccountId, dest: &str) -> Result<Destination, DestError> {
        match self.resolve(account, dest)? {
            Target::S3 { bucket, prefix } => Destination::open_s3(&bucket, &prefix, dest),
            Target::Dir(dir) => {
                let rel = dir
                    .strip_prefix(&self.root)
                    .map_err(|_| DestError::Refused {
                        dest: dest.to_string(),
                        reason: "outside the destinations root".into(),
                    })?
                    .to_path_buf();
                let mut at = self.root.clone();
                for c in rel.components() {
                    at.push(c);
                    match std::fs::symlink_metadata(&at) {
                        Ok(m) if m.is_dir() && !m.file_type().is_symlink() => continue,
                        Ok(_) => {
                            return Err(DestError::Refused {
                                dest: dest.to_string(),
                                reason: format!("{} is not a plain directory", at.display()),
                            });
                        }
                        Err(_) => create_private_dir(&at).map_err(|e| DestError::Open {
                            dest: dest.to_string(),
                            message: format!("cannot create {}: {e}", at.display()),
                        })?,
                    }
                }
                let real = std::fs::canonicalize(&dir).map_err(|e| DestError::Open {
                    dest: dest.to_string(),
                    message: e.to_string(),
                })?;
                if real != dir {
                    return Err(DestError::Refused {
                        dest: dest.to_string(),
                        reason: "resolves elsewhere than it names (a link on the way)".into(),
                    });
                }
                Destination::open_dir(&real, dest)
            }
        }
    }
}

fn create_private_dir(p: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    match b.create(p) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

fn create_private_dir_all(p: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(n: u64) -> AccountId {
        AccountId::new(n).unwrap()
    }

    fn rules(dir: &Path) -> Confinement {
        Confinement::new(
            &dir.join("dest"),
            &["corp-trail".into(), "shared/team-a".into()],
        )
        .unwrap()
    }

    #[test]
    fn hostile_local_destinations_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let c = rules(tmp.path());
        let other = c.account_dir(acct(2)).join("x");
        for bad in [
            "/etc",
            "../../etc",
            "a/../../etc",
            "/proc/self",
            "file:///",
            "file:///etc",
            "ftp://x/y",
            "http://169.254.169.254/latest",
            "\\\\server\\share",
            "C:\\x",
            "c:/x",
            "a//b",
            "./a",
            "a\0b",
            "",
            "/",
            other.to_str().unwrap(),
        ] {
            let r = c.resolve(acct(1), bad);
            assert!(
                matches!(r, Err(DestError::Refused { .. })),
                "{bad:?} was {r:?}"
            );
        }
    }

    #[test]
    fn a_folder_name_lands_in_the_accounts_own_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let c = rules(tmp.path());
        let want = c.account_dir(acct(1)).join("trails/main");
        assert_eq!(
            c.resolve(acct(1), "trails/main").unwrap(),
            Target::Dir(want.clone())
        );
        assert_eq!(
            c.resolve(acct(1), "file://trails/main/").unwrap(),
            Target::Dir(want.clone())
        );
        assert_eq!(
            c.resolve(acct(1), want.to_str().unwrap()).unwrap(),
            Target::Dir(want.clone())
        );
        let d = c.open(acct(1), "trails/main").unwrap();
        assert!(want.is_dir());
        assert_eq!(d.bucket, want.display().to_string());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&want).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_on_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let c = rules(tmp.path());
        let home = c.account_dir(acct(1));
        std::fs::create_dir_all(&home).unwrap();
        std::os::unix::fs::symlink("/etc", home.join("out")).unwrap();
        for d in ["out", "out/x"] {
            assert!(
                matches!(c.resolve(acct(1), d), Err(DestError::Refused { .. })),
                "{d}"
            );
            assert!(c.open(acct(1), d).is_err(), "{d}");
        }
        // The account folder itself a link (planted by someone with shell access): refused too.
        std::os::unix::fs::symlink("/tmp", c.account_dir(acct(3))).unwrap();
        assert!(matches!(
            c.resolve(acct(3), "x"),
            Err(DestError::Refused { .. })
        ));
    }

    #[test]
    fn s3_buckets_are_an_allow_list() {
        let tmp = tempfile::tempdir().unwrap();
        let c = rules(tmp.path());
        assert!(c.resolve(acct(1), "s3://corp-trail/any/prefix").is_ok());
        assert!(c.resolve(acct(1), "s3://corp-trail").is_ok());
        assert!(c.resolve(acct(1), "s3://shared/team-a").is_ok());
        assert!(c.resolve(acct(1), "s3://shared/team-a/x").is_ok());
        for bad in [
            "s3://other-bucket/x",
            "s3://shared/team-ab",
            "s3://shared/team-b",
            "s3://shared",
            "s3://corp-trail/../x",
            "s3://corp-trail/a//b",
            "s3:///x",
        ] {
            assert!(
                matches!(c.resolve(acct(1), bad), Err(DestError::Refused { .. })),
                "{bad}"
            );
        }
        let none = Confinement::new(&tmp.path().join("d2"), &[]).unwrap();
        assert!(none.resolve(acct(1), "s3://corp-trail/x").is_err());
    }

    #[test]
    fn key_prefixes() {
        assert!(check_key_prefix("").is_ok());
        assert!(check_key_prefix("/team/a/").is_ok());
        for bad in [
            "a\0b",
            "../x",
            "a/./b",
            "a//b",
            "a\\b",
            "x:y",
            &"a".repeat(201),
        ] {
            assert!(check_key_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overlapping_locations() {
        let s3 = |b: &str, p: &str| Target::S3 {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert!(s3("b", "").overlaps(&s3("b", "x")));
        assert!(s3("b", "x").overlaps(&s3("b", "x/y")));
        assert!(!s3("b", "x").overlaps(&s3("b", "xy")));
        assert!(!s3("b", "x").overlaps(&s3("c", "x")));
    }
}
