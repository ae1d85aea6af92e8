//! SemVer 2.0 precedence, read leniently as OSV's SEMVER ranges need it: an optional `v`, any
//! number of numeric components (missing ones are 0), numbers of any size, build metadata
//! ignored. Prerelease identifiers: numeric by value, numeric before alphanumeric, alphanumeric
//! by ASCII; a version without prerelease is greater than one with.

use std::cmp::Ordering;

use super::cmp_digits;

struct Parsed<'a> {
    nums: Vec<&'a str>,
    pre: Option<&'a str>,
}

fn parse(v: &str) -> Parsed<'_> {
    let v = v.trim();
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let v = v.split_once('+').map_or(v, |(core, _)| core);
    let (core, mut pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let mut nums = Vec::new();
    for (i, part) in core.split('.').enumerate() {
        let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        nums.push(&part[..digits]);
        if digits < part.len() {
            // `1.2.3rc1`: the rest of the core starts the prerelease.
            let offset = core.split('.').take(i).map(|p| p.len() + 1).sum::<usize>() + digits;
            pre = Some(&v[offset..]);
            break;
        }
    }
    Parsed { nums, pre }
}

pub fn compare(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (parse(a), parse(b));
    let n = pa.nums.len().max(pb.nums.len());
    for i in 0..n {
        let x = pa.nums.get(i).copied().unwrap_or("0");
        let y = pb.nums.get(i).copied().unwrap_or("0");
        match cmp_digits(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (pa.pre, pb.pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => compare_pre(x, y),
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut xs = a.split('.');
    let mut ys = b.split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let xn = !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
                let yn = !y.is_empty() && y.bytes().all(|c| c.is_ascii_digit());
                let o = match (xn, yn) {
                    (true, true) => cmp_digits(x, y),
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}
