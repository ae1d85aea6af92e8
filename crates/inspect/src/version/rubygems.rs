//! RubyGems' `Gem::Version#<=>`: `-` reads as `.pre.`; segments are runs of digits (numbers) or
//! letters (strings); trailing zeros of the numeric part and of the rest are dropped; a string
//! segment is less than a number (so `1.0.a` < `1.0`).

use std::cmp::Ordering;

use super::cmp_digits;

#[derive(PartialEq, Eq, Debug)]
enum Seg {
    Num(String),
    Str(String),
}

fn valid(v: &str) -> bool {
    let (main, pre) = match v.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (v, None),
    };
    let mut parts = main.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    first_ok
        && parts.all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
        })
}

fn segments(v: &str) -> Vec<Seg> {
    let v = v.replace('-', ".pre.");
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let t = v[start..i].trim_start_matches('0');
            out.push(Seg::Num(if t.is_empty() { "0".into() } else { t.into() }));
        } else if b[i].is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Seg::Str(v[start..i].to_string()));
        } else {
            i += 1;
        }
    }
    // Canonical: drop trailing zeros of the numeric prefix and of the rest.
    let split = out
        .iter()
        .position(|s| matches!(s, Seg::Str(_)))
        .unwrap_or(out.len());
    let mut rest = out.split_off(split);
    let zero = |s: &Seg| *s == Seg::Num("0".into());
    while out.last().is_some_and(zero) {
        out.pop();
    }
    while rest.last().is_some_and(zero) {
        rest.pop();
    }
    out.extend(rest);
    out
}

pub fn compare<'a>(a: &'a str, b: &'a str) -> Result<Ordering, (&'a str, String)> {
    let (a, b) = (a.trim(), b.trim());
    for v in [a, b] {
        if !valid(v) {
            return Err((v, "not a RubyGems version".into()));
        }
    }
    let (x, y) = (segments(a), segments(b));
    let zero = Seg::Num("0".into());
    for i in 0..x.len().max(y.len()) {
        let (l, r) = (x.get(i).unwrap_or(&zero), y.get(i).unwrap_or(&zero));
        let o = match (l, r) {
            (Seg::Num(p), Seg::Num(q)) => cmp_digits(p, q),
            (Seg::Str(p), Seg::Str(q)) => p.cmp(q),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(Ordering::Equal)
}
