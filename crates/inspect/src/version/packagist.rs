//! Composer versions, ordered as PHP's `version_compare` orders them (which Composer and OSV's
//! Packagist ecosystem use): a leading `v` dropped; `-`, `_`, `+` read as `.`; a dot inserted
//! between digits and letters; numbers by value; words by `dev` < `alpha` = `a` < `beta` = `b` <
//! `RC` = `rc` < a number < `pl` = `p`, and any other word before `dev`.

use std::cmp::Ordering;

use super::cmp_digits;

fn canonical(v: &str) -> Vec<String> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut prev: Option<bool> = None;
    for c in v.chars() {
        if matches!(c, '.' | '-' | '_' | '+') {
            if !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
            prev = None;
            continue;
        }
        let digit = c.is_ascii_digit();
        if prev.is_some_and(|p| p != digit) && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        prev = Some(digit);
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

fn special(form: &str) -> i32 {
    const FORMS: [(&str, i32); 10] = [
        ("dev", 0),
        ("alpha", 1),
        ("a", 1),
        ("beta", 2),
        ("b", 2),
        ("RC", 3),
        ("rc", 3),
        ("#", 4),
        ("pl", 5),
        ("p", 5),
    ];
    FORMS
        .iter()
        .find(|(name, _)| form.starts_with(name))
        .map_or(-1, |(_, order)| *order)
}

fn is_num(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_digit())
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (x, y) = (canonical(a), canonical(b));
    for (p, q) in x.iter().zip(&y) {
        let o = match (is_num(p), is_num(q)) {
            (true, true) => cmp_digits(p, q),
            (false, false) => special(p).cmp(&special(q)),
            (true, false) => special("#").cmp(&special(q)),
            (false, true) => special(p).cmp(&special("#")),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    match x.len().cmp(&y.len()) {
        Ordering::Equal => Ordering::Equal,
        Ordering::Greater => {
            let next = &x[y.len()];
            if is_num(next) {
                Ordering::Greater
            } else {
                special(next).cmp(&special("#"))
            }
        }
        Ordering::Less => {
            let next = &y[x.len()];
            if is_num(next) {
                Ordering::Less
            } else {
                special("#").cmp(&special(next))
            }
        }
    }
}
