//! NuGet's ordering: SemVer 2 with up to four numeric parts, release labels compared without
//! regard to case, build metadata ignored.

use std::cmp::Ordering;

pub fn compare(a: &str, b: &str) -> Ordering {
    super::semver::compare(&a.to_ascii_lowercase(), &b.to_ascii_lowercase())
}
