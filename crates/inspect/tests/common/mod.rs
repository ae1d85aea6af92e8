//! Where the shared fixtures are: `MAMORI_FIXTURES`, else `../shared/fixtures` beside the checkout.
#![allow(dead_code)]

use std::path::PathBuf;

/// `<fixtures>/<sub>`, or `None` (saying the tests are skipped) when it is not there: a user's
/// clone has no `../shared`.
pub fn fixtures(sub: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MAMORI_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures"
            ))
        })
        .join(sub);
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: no fixtures at {} (set MAMORI_FIXTURES)",
            dir.display()
        );
        None
    }
}
