//! R's `package_version` ordering: non-negative integers separated by `.` or `-`, compared
//! component by component; with all shared components equal, the longer version is greater.

use std::cmp::Ordering;

use super::cmp_digits;

fn parts(v: &str) -> Result<Vec<&str>, (&str, String)> {
    let parts: Vec<&str> = v.trim().split(['.', '-']).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err((v, "not numbers separated by '.' or '-'".into()));
    }
    Ok(parts)
}

pub fn compare<'a>(a: &'a str, b: &'a str) -> Result<Ordering, (&'a str, String)> {
    let (x, y) = (parts(a)?, parts(b)?);
    for (p, q) in x.iter().zip(&y) {
        match cmp_digits(p, q) {
            Ordering::Equal => {}
            o => return Ok(o),
        }
    }
    Ok(x.len().cmp(&y.len()))
}
