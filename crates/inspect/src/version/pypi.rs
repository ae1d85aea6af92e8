//! PEP 440 through `pep440_rs`. Versions that are not PEP 440 ("legacy" versions, e.g.
//! `2004d`, `1.0-SNAPSHOT`) order before every PEP 440 version, among themselves as `packaging`'s
//! `LegacyVersion` ordered them, as PyPI's history still holds such releases.

use std::cmp::Ordering;
use std::str::FromStr;

use pep440_rs::Version;

enum Parsed {
    Pep440(Version),
    Legacy(Vec<String>),
}

fn parse(v: &str) -> Parsed {
    match Version::from_str(v.trim()) {
        Ok(p) => Parsed::Pep440(p),
        Err(_) => Parsed::Legacy(legacy_key(v)),
    }
}

/// `packaging` 20's `_legacy_cmpkey`: split into numeric and other parts, numbers zero-padded to
/// 8, `pre`/`preview`/`rc` → `c`, `-` → `final-`, `dev` → `@`, other parts prefixed `*`, trailing
/// zero numbers before an alpha part removed, ending with `*final`.
fn legacy_key(v: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let lower = v.trim().to_lowercase();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        let c = rest.chars().next().unwrap_or('.');
        let len = if c.is_ascii_digit() {
            rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len()
        } else if c.is_ascii_lowercase() {
            rest.len()
                - rest
                    .trim_start_matches(|c: char| c.is_ascii_lowercase())
                    .len()
        } else if c == '.' || c == '-' {
            1
        } else {
            // A run of anything else is one part, as `re.split` leaves it.
            rest.len()
                - rest
                    .trim_start_matches(|c: char| {
                        !(c.is_ascii_digit() || c.is_ascii_lowercase() || c == '.' || c == '-')
                    })
                    .len()
        };
        let token = &rest[..len];
        rest = &rest[len..];
        let token = match token {
            "pre" | "preview" | "rc" => "c",
            "-" => "final-",
            "dev" => "@",
            t => t,
        };
        if token.is_empty() || token == "." {
            continue;
        }
        if token.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            parts.push(format!("{token:0>8}"));
        } else {
            parts.push(format!("*{token}"));
        }
    }
    parts.push("*final".into());
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        if p.starts_with('*') {
            if p.as_str() < "*final" {
                while out.last().is_some_and(|l| l == "*final-") {
                    out.pop();
                }
            }
            while out.last().is_some_and(|l| l == "00000000") {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

pub fn compare<'a>(a: &'a str, b: &'a str) -> Result<Ordering, (&'a str, String)> {
    Ok(match (parse(a), parse(b)) {
        (Parsed::Pep440(x), Parsed::Pep440(y)) => x.cmp(&y),
        (Parsed::Legacy(_), Parsed::Pep440(_)) => Ordering::Less,
        (Parsed::Pep440(_), Parsed::Legacy(_)) => Ordering::Greater,
        (Parsed::Legacy(x), Parsed::Legacy(y)) => x.cmp(&y),
    })
}
