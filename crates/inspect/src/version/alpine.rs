//! Alpine (apk) versions: `number{.number}[letter]{_suffix[number]}[~hash][-rN]`, ordered part
//! by part as osv.dev orders them (which is what OSV's Alpine ranges mean, and agrees with
//! `apk version -t` on every real version in the fixtures): numbers by value, except that after
//! the first a component with a leading zero compares as a string (`1.01` < `1.1`); a letter
//! beats none; suffixes `_alpha` < `_beta` < `_pre` < `_rc` < none < `_cvs` < `_svn` < `_git` <
//! `_hg` < `_p`; then the `-r` build number; a version with unparsed leftovers is less than one
//! without. Two versions that are both malformed compare as plain strings.

use std::cmp::Ordering;

use super::cmp_digits;

const SUFFIXES: [&str; 10] = [
    "alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p",
];
const NO_SUFFIX: usize = 4;

#[derive(Debug, Default)]
struct Parsed<'a> {
    components: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(usize, &'a str)>,
    build: &'a str,
    remainder: &'a str,
    invalid: bool,
}

fn digits(s: &str) -> usize {
    s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len()
}

fn parse(v: &str) -> Parsed<'_> {
    let mut p = Parsed {
        build: "0",
        ..Default::default()
    };
    let mut s = v;
    // Numbers, each optionally followed by a dot.
    loop {
        let n = digits(s);
        if n == 0 {
            break;
        }
        p.components.push(&s[..n]);
        s = &s[n..];
        match s.strip_prefix('.') {
            Some(rest) => s = rest,
            None => break,
        }
    }
    if let Some(&c) = s.as_bytes().first()
        && c.is_ascii_lowercase()
    {
        p.letter = Some(c);
        s = &s[1..];
    }
    while let Some(rest) = s.strip_prefix('_') {
        let Some(k) = SUFFIXES
            .iter()
            .enumerate()
            .filter(|(k, name)| *k != NO_SUFFIX && rest.starts_with(**name))
            .map(|(k, _)| k)
            // `pre` before `p`: the longest name that fits.
            .max_by_key(|k| SUFFIXES[*k].len())
        else {
            break;
        };
        let rest = &rest[SUFFIXES[k].len()..];
        let n = digits(rest);
        p.suffixes.push((k, if n == 0 { "0" } else { &rest[..n] }));
        s = &rest[n..];
    }
    if let Some(rest) = s.strip_prefix('~') {
        let n = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || ('a'..='f').contains(&c))
                .len();
        if n > 0 {
            s = &rest[n..];
        }
    }
    if !s.is_empty() {
        match s.strip_prefix("-r") {
            Some(rest) => {
                let n = digits(rest);
                if n > 0 {
                    p.build = &rest[..n];
                }
                s = &rest[n..];
            }
            None => p.invalid = true,
        }
    }
    p.remainder = s;
    p
}

fn cmp_component(a: (usize, &str), b: (usize, &str)) -> Ordering {
    if a.0 != 0 && b.0 != 0 && (a.1.starts_with('0') || b.1.starts_with('0')) {
        return a.1.cmp(b.1);
    }
    cmp_digits(a.1, b.1)
}

pub fn compare<'a>(a: &'a str, b: &'a str) -> Result<Ordering, (&'a str, String)> {
    let (a, b) = (a.trim(), b.trim());
    let (x, y) = (parse(a), parse(b));
    if x.invalid && y.invalid {
        return Ok(a.cmp(b));
    }
    for i in 0..x.components.len().max(y.components.len()) {
        let p = x.components.get(i).map_or((0, "0"), |c| (i, *c));
        let q = y.components.get(i).map_or((0, "0"), |c| (i, *c));
        match cmp_component(p, q) {
            Ordering::Equal => {}
            o => return Ok(o),
        }
    }
    match x.letter.cmp(&y.letter) {
        Ordering::Equal => {}
        o => return Ok(o),
    }
    for i in 0..x.suffixes.len().max(y.suffixes.len()) {
        let p = x.suffixes.get(i).copied().unwrap_or((NO_SUFFIX, "0"));
        let q = y.suffixes.get(i).copied().unwrap_or((NO_SUFFIX, "0"));
        match p.0.cmp(&q.0).then_with(|| cmp_digits(p.1, q.1)) {
            Ordering::Equal => {}
            o => return Ok(o),
        }
    }
    match cmp_digits(x.build, y.build) {
        Ordering::Equal => {}
        o => return Ok(o),
    }
    Ok(match (x.remainder.is_empty(), y.remainder.is_empty()) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => Ordering::Equal,
    })
}
