//! For tests only: where the shared, third-party fixtures are.

use std::path::PathBuf;

/// `<fixtures>/<sub>`: `MAMORI_FIXTURES`, else `../shared/fixtures` beside the checkout. When it
/// is not there the caller's test is skipped with a message — a user's clone has no
/// `../shared` — unless `MAMORI_REQUIRE_FIXTURES=1` (CI), where a missing fixture fails.
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
        return Some(dir);
    }
    if std::env::var("MAMORI_REQUIRE_FIXTURES").is_ok_and(|v| v == "1") {
        panic!(
            "fixtures required (MAMORI_REQUIRE_FIXTURES=1) but {} is missing",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: no fixtures at {} (set MAMORI_FIXTURES)",
        dir.display()
    );
    None
}

/// Gzip members, one per part, concatenated (as `cat a.gz b.gz` makes them).
pub fn gzip_members(parts: &[&[u8]]) -> Vec<u8> {
    use std::io::Write;
    let mut all = Vec::new();
    for p in parts {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(p).expect("writing to memory");
        all.extend(enc.finish().expect("writing to memory"));
    }
    all
}
