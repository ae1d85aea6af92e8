//! Matching packages against OSV advisories: the package's ecosystem and name pick candidate
//! advisories; its version is tested against each affected entry's explicit `versions` and its
//! SEMVER/ECOSYSTEM ranges, with the ecosystem's exact ordering.
//!
//! A range is evaluated as the OSV schema specifies: events sorted by version, `introduced`
//! switches "affected" on, `fixed` (at or below the version) and `last_affected` (below it) switch
//! it off, and a `limit` at or below the version excludes it. The fix offered is the first
//! `fixed` above the version in the range that matched.

use std::cmp::Ordering;

use serde::Serialize;

use crate::db::{AdvisoryDb, DbError};
use crate::inventory::Package;
use crate::osv::{Advisory, Event};
use crate::version::{Scheme, VersionError};

/// The name an advisory's package is indexed under (PyPI names are normalised).
pub fn index_name(ecosystem: &str, name: &str) -> String {
    if ecosystem.split(':').next() == Some("PyPI") {
        crate::inventory::normalize_pypi(name)
    } else {
        name.to_string()
    }
}

/// The ecosystem an advisory's package is indexed under: Ubuntu's `:LTS` suffix dropped so that
/// `Ubuntu:22.04` (from os-release) finds `Ubuntu:22.04:LTS` advisories.
pub fn index_ecosystem(ecosystem: &str) -> String {
    ecosystem
        .strip_suffix(":LTS")
        .unwrap_or(ecosystem)
        .to_string()
}

/// One advisory that affects one package.
#[derive(Debug, Clone)]
pub struct Match {
    pub advisory: Advisory,
    /// The first fixed version above the installed one, if the advisory names one.
    pub fixed: Option<String>,
}

/// A version the matcher could not order: reported, never silently treated as safe.
#[derive(Debug, Clone, Serialize)]
pub struct MatchWarning {
    pub package: String,
    pub version: String,
    pub advisory: String,
    pub reason: String,
}

/// The (ecosystem, name, version) an OS package is matched by: distributions publish advisories
/// for source packages (Debian, Ubuntu, Alpine), with source versions.
fn match_key(p: &Package) -> (String, String, String) {
    let base = p.ecosystem.split(':').next().unwrap_or("");
    let by_source = matches!(base, "Debian" | "Ubuntu" | "Alpine");
    if by_source {
        (
            index_ecosystem(&p.ecosystem),
            p.source_name.clone().unwrap_or_else(|| p.name.clone()),
            p.source_version
                .clone()
                .unwrap_or_else(|| p.version.clone()),
        )
    } else {
        (
            index_ecosystem(&p.ecosystem),
            index_name(&p.ecosystem, &p.name),
            p.version.clone(),
        )
    }
}

pub fn match_package(
    db: &AdvisoryDb,
    p: &Package,
    warnings: &mut Vec<MatchWarning>,
) -> Result<Vec<Match>, DbError> {
    let (ecosystem, name, version) = match_key(p);
    let mut out = Vec::new();
    for adv in db.for_package(&ecosystem, &name)? {
        let mut hit: Option<Option<String>> = None;
        for a in &adv.affected {
            let Some(pkg) = &a.package else { continue };
            if index_ecosystem(&pkg.ecosystem) != ecosystem
                || index_name(&pkg.ecosystem, &pkg.name) != name
            {
                continue;
            }
            match affected(&pkg.ecosystem, &version, &a.versions, &a.ranges) {
                Ok(Some(fixed)) => {
                    // Several entries may match: keep the lowest fix offered.
                    hit = Some(match (hit.flatten(), fixed) {
                        (Some(x), Some(y)) => Some(lowest(&pkg.ecosystem, x, y)),
                        (x, y) => x.or(y),
                    });
                }
                Ok(None) => {}
                Err(e) => warnings.push(MatchWarning {
                    package: p.name.clone(),
                    version: p.version.clone(),
                    advisory: adv.id.clone(),
                    reason: e.to_string(),
                }),
            }
        }
        if let Some(fixed) = hit {
            out.push(Match {
                advisory: adv,
                fixed,
            });
        }
    }
    out.sort_by(|a, b| a.advisory.id.cmp(&b.advisory.id));
    Ok(out)
}

fn lowest(ecosystem: &str, a: String, b: String) -> String {
    match Scheme::of_ecosystem(ecosystem).map(|s| s.compare(&a, &b)) {
        Some(Ok(Ordering::Greater)) => b,
        _ => a,
    }
}

/// `Some(fixed)` when `version` is affected by these versions/ranges, `None` when not.
pub fn affected(
    ecosystem: &str,
    version: &str,
    versions: &[String],
    ranges: &[crate::osv::Range],
) -> Result<Option<Option<String>>, VersionError> {
    let mut result: Option<Option<String>> = None;
    if versions.iter().any(|v| v == version) {
        result = Some(None);
    }
    for r in ranges {
        let scheme = match r.kind.as_str() {
            "SEMVER" => Scheme::SemVer,
            "ECOSYSTEM" => match Scheme::of_ecosystem(ecosystem) {
                Some(s) => s,
                None => {
                    return Err(VersionError {
                        scheme: "unknown",
                        version: version.to_string(),
                        reason: format!("no version ordering known for ecosystem {ecosystem}"),
                    });
                }
            },
            _ => continue, // GIT ranges name commits, not versions
        };
        if let Some(fixed) = in_range(scheme, version, &r.events)? {
            result = Some(match (result.flatten(), fixed) {
                (Some(x), Some(y)) => Some(if scheme.compare(&x, &y)? == Ordering::Greater {
                    y
                } else {
                    x
                }),
                (x, y) => x.or(y),
            });
        }
    }
    Ok(result)
}

fn event_version(e: &Event) -> &str {
    e.introduced
        .as_deref()
        .or(e.fixed.as_deref())
        .or(e.last_affected.as_deref())
        .or(e.limit.as_deref())
        .unwrap_or("")
}

fn cmp(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    // "0" in `introduced` means "from the beginning", whatever the scheme.
    match (a == "0", b == "0") {
        (true, true) => Ok(Ordering::Equal),
        (true, false) => Ok(Ordering::Less),
        (false, true) => Ok(Ordering::Greater),
        _ => scheme.compare(a, b),
    }
}

fn in_range(
    scheme: Scheme,
    version: &str,
    events: &[Event],
) -> Result<Option<Option<String>>, VersionError> {
    let mut sorted: Vec<&Event> = events.iter().collect();
    let mut err = None;
    sorted.sort_by(|a, b| {
        cmp(scheme, event_version(a), event_version(b)).unwrap_or_else(|e| {
            err.get_or_insert(e);
            Ordering::Equal
        })
    });
    if let Some(e) = err {
        return Err(e);
    }
    let mut affected = false;
    let mut at = 0;
    for (i, e) in sorted.iter().enumerate() {
        if let Some(intro) = &e.introduced {
            if cmp(scheme, version, intro)? != Ordering::Less {
                affected = true;
                at = i;
            }
        } else if let Some(fixed) = &e.fixed {
            if cmp(scheme, version, fixed)? != Ordering::Less {
                affected = false;
            }
        } else if let Some(last) = &e.last_affected {
            if cmp(scheme, version, last)? == Ordering::Greater {
                affected = false;
            }
        } else if let Some(limit) = &e.limit
            && cmp(scheme, version, limit)? != Ordering::Less
        {
            return Ok(None);
        }
    }
    if !affected {
        return Ok(None);
    }
    let fixed = sorted[at..]
        .iter()
        .filter_map(|e| e.fixed.as_deref())
        .find(|f| matches!(cmp(scheme, version, f), Ok(Ordering::Less)))
        .map(str::to_string);
    Ok(Some(fixed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::Range;

    fn range(events: &[(&str, &str)]) -> Vec<Range> {
        vec![Range {
            kind: "ECOSYSTEM".into(),
            events: events
                .iter()
                .map(|(k, v)| {
                    let mut e = Event::default();
                    let v = Some(v.to_string());
                    match *k {
                        "introduced" => e.introduced = v,
                        "fixed" => e.fixed = v,
                        "last_affected" => e.last_affected = v,
                        _ => e.limit = v,
                    }
                    e
                })
                .collect(),
        }]
    }

    #[test]
    fn ranges_follow_the_osv_rules() {
        let r = range(&[("introduced", "0"), ("fixed", "1.2.3")]);
        assert_eq!(
            affected("crates.io", "1.2.2", &[], &r),
            Ok(Some(Some("1.2.3".into())))
        );
        assert_eq!(affected("crates.io", "1.2.3", &[], &r), Ok(None));
        let two = range(&[
            ("introduced", "1.0.0"),
            ("fixed", "1.0.5"),
            ("introduced", "2.0.0"),
            ("fixed", "2.0.1"),
        ]);
        assert_eq!(affected("npm", "0.9.0", &[], &two), Ok(None));
        assert_eq!(
            affected("npm", "1.0.4", &[], &two),
            Ok(Some(Some("1.0.5".into())))
        );
        assert_eq!(affected("npm", "1.5.0", &[], &two), Ok(None));
        assert_eq!(
            affected("npm", "2.0.0", &[], &two),
            Ok(Some(Some("2.0.1".into())))
        );
        let last = range(&[("introduced", "0"), ("last_affected", "3.1")]);
        assert_eq!(affected("PyPI", "3.1", &[], &last), Ok(Some(None)));
        assert_eq!(affected("PyPI", "3.1.post1", &[], &last), Ok(None));
        // Debian ordering, not string ordering: 1.10 > 1.9.
        let deb = range(&[("introduced", "0"), ("fixed", "1.10-1")]);
        assert_eq!(
            affected("Debian:12", "1.9-3", &[], &deb),
            Ok(Some(Some("1.10-1".into())))
        );
        assert!(
            affected("Debian:12", "", &[], &deb).is_err(),
            "an unreadable version is an error"
        );
        assert_eq!(
            affected("crates.io", "0.1.0", &["0.1.0".into()], &[]),
            Ok(Some(None))
        );
    }
}
