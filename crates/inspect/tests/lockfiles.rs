//! Every lockfile and package-database fixture in ../shared/fixtures/lockfiles parses, with the
//! package count upstream's tests expect (osv-scanner v1.9.2 `pkg/lockfile/*_test.go`); the
//! deliberately wrong-format inputs (`not-*`) are refused. Skipped when the fixtures are absent.

mod common;

use std::path::PathBuf;

use mamori_inspect::inventory::{Context, Format, OsRelease, extract};

fn fixtures() -> Option<PathBuf> {
    common::fixtures("lockfiles/osv-scanner-v1.9.2")
}

fn format_of(folder: &str, file: &str) -> Format {
    match folder {
        "cargo" => Format::CargoLock,
        "npm" => Format::NpmLock,
        "yarn" => Format::YarnLock,
        "pnpm" => Format::PnpmLock,
        "pip" => Format::Requirements,
        "poetry" => Format::PoetryLock,
        "pipenv" => Format::PipfileLock,
        "go" => Format::GoMod,
        "bundler" => Format::GemfileLock,
        "composer" => Format::ComposerLock,
        "maven" => Format::PomXml,
        "gradle" => Format::GradleLock,
        "dpkg" => Format::DpkgStatus,
        "apk" => Format::ApkInstalled,
        other => panic!("unmapped fixture folder {other} ({file})"),
    }
}

/// (folder/file, packages) — `None` where the file must be refused.
fn expected() -> Vec<(&'static str, Option<usize>)> {
    include!("lockfile-counts.in")
}

#[test]
fn every_lockfile_fixture_parses_with_the_expected_package_count() {
    let Some(dir) = fixtures() else { return };
    let os = OsRelease::default();
    let mut got = Vec::new();
    for folder in std::fs::read_dir(&dir).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let fname = folder.file_name().unwrap().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let rel = format!("{fname}/{name}");
            let bytes = std::fs::read(&f).unwrap();
            let base = dir.clone();
            let read = move |p: &str| std::fs::read(base.join(p)).ok();
            let ctx = Context {
                os: Some(&os),
                read_relative: &read,
            };
            let r = extract(format_of(&fname, &name), &rel, &bytes, &ctx);
            got.push((rel, r.map(|e| e.packages.len()).map_err(|e| e.to_string())));
        }
    }
    got.sort();
    let want: std::collections::HashMap<_, _> = expected().into_iter().collect();
    let mut failures = Vec::new();
    for (rel, r) in &got {
        let w = want.get(rel.as_str()).copied();
        let ok = match (w, r) {
            (Some(Some(n)), Ok(m)) => n == *m,
            (Some(None), Err(_)) => true,
            _ => false,
        };
        if !ok {
            failures.push(format!("{rel}: want {w:?}, got {r:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixtures disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(got.len(), want.len(), "fixture count");
    eprintln!(
        "lockfiles: {}/{} fixtures parse as expected",
        got.len(),
        want.len()
    );
}
