//! Where the shared fixtures are: `MAMORI_FIXTURES`, else `../shared/fixtures` beside the checkout.
#![allow(dead_code)]

use std::path::PathBuf;

/// `<fixtures>/<sub>`, or `None` when absent (skipped; a failure under
/// `MAMORI_REQUIRE_FIXTURES=1`).
pub fn fixtures(sub: &str) -> Option<PathBuf> {
    mamori_core::testkit::fixtures(sub)
}
