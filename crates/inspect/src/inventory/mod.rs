//! Package inventories: what is installed on a host or in an image, or locked in a lockfile.
//! Each extractor reads one real file format; every package carries a PURL and the path of the
//! file it came from. What an extractor cannot use it reports as skipped, with the reason.

mod js;
mod jvm;
mod os;
mod other;
mod python;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use os::{OsRelease, parse_os_release};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error(
        "{path}: unsupported rpmdb format ({format}); only the SQLite rpmdb (rpmdb.sqlite) is read"
    )]
    UnsupportedRpmDb { path: String, format: &'static str },
}

impl InventoryError {
    pub(crate) fn parse(path: &str, message: impl std::fmt::Display) -> Self {
        InventoryError::Parse {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}

/// One installed or locked package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The OSV ecosystem (`crates.io`, `npm`, `Debian:12`, `Alpine:v3.20`, …).
    pub ecosystem: String,
    pub purl: String,
    /// The file it was read from, relative to the scanned root.
    pub file_path: String,
    /// Inspector's `PackageManager` (CARGO, NPM, OS, …).
    pub package_manager: String,
    /// OS packages: the source package and its version (Debian advisories name sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Images: the digest of the layer that last wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_layer: Option<String>,
}

/// Something an extractor saw and could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub file_path: String,
    pub line: Option<usize>,
    pub what: String,
    pub reason: String,
}

/// What one file yielded.
#[derive(Debug, Default)]
pub struct Extracted {
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
}

/// The file formats read, chosen by file name (and location, for OS databases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CargoLock,
    NpmLock,
    YarnLock,
    PnpmLock,
    Requirements,
    PoetryLock,
    PipfileLock,
    UvLock,
    GoMod,
    GemfileLock,
    ComposerLock,
    PomXml,
    GradleLock,
    DpkgStatus,
    ApkInstalled,
    RpmDb,
}

impl Format {
    /// The format of a file at `path` (relative, `/`-separated), if it is one we read.
    pub fn detect(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path);
        Some(match name {
            "Cargo.lock" => Format::CargoLock,
            "package-lock.json" | "npm-shrinkwrap.json" => Format::NpmLock,
            "yarn.lock" => Format::YarnLock,
            "pnpm-lock.yaml" => Format::PnpmLock,
            "poetry.lock" => Format::PoetryLock,
            "Pipfile.lock" => Format::PipfileLock,
            "uv.lock" => Format::UvLock,
            "go.mod" => Format::GoMod,
            "Gemfile.lock" | "gems.locked" => Format::GemfileLock,
            "composer.lock" => Format::ComposerLock,
            "pom.xml" => Format::PomXml,
            "gradle.lockfile" => Format::GradleLock,
            "rpmdb.sqlite" | "Packages" | "Packages.db" if path.contains("var/lib/rpm/") => {
                Format::RpmDb
            }
            _ if path.ends_with("var/lib/dpkg/status") => Format::DpkgStatus,
            _ if path.contains("var/lib/dpkg/status.d/") && !name.contains('.') => {
                Format::DpkgStatus
            }
            _ if path.ends_with("lib/apk/db/installed") => Format::ApkInstalled,
            n if n.ends_with(".txt") && n.contains("requirements") => Format::Requirements,
            n if n.ends_with("gradle.lockfile") => Format::GradleLock,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::CargoLock => "Cargo.lock",
            Format::NpmLock => "package-lock.json",
            Format::YarnLock => "yarn.lock",
            Format::PnpmLock => "pnpm-lock.yaml",
            Format::Requirements => "requirements.txt",
            Format::PoetryLock => "poetry.lock",
            Format::PipfileLock => "Pipfile.lock",
            Format::UvLock => "uv.lock",
            Format::GoMod => "go.mod",
            Format::GemfileLock => "Gemfile.lock",
            Format::ComposerLock => "composer.lock",
            Format::PomXml => "pom.xml",
            Format::GradleLock => "gradle.lockfile",
            Format::DpkgStatus => "dpkg status",
            Format::ApkInstalled => "apk installed",
            Format::RpmDb => "rpmdb",
        }
    }

    /// Is this an OS package database (whose ecosystem needs the OS release)?
    pub fn is_os(self) -> bool {
        matches!(
            self,
            Format::DpkgStatus | Format::ApkInstalled | Format::RpmDb
        )
    }
}

/// What an extractor may need besides the file: the OS (for OS packages), and a way to read
/// files the one being parsed includes (`-r other.txt`), confined to the scanned tree.
pub struct Context<'a> {
    pub os: Option<&'a OsRelease>,
    pub read_relative: &'a dyn Fn(&str) -> Option<Vec<u8>>,
}

/// Parses one file of a known format.
pub fn extract(
    format: Format,
    path: &str,
    bytes: &[u8],
    ctx: &Context<'_>,
) -> Result<Extracted, InventoryError> {
    let text = || {
        std::str::from_utf8(bytes)
            .map_err(|e| InventoryError::parse(path, format!("not UTF-8 text: {e}")))
    };
    match format {
        Format::CargoLock => other::cargo_lock(path, text()?),
        Format::NpmLock => js::npm_lock(path, text()?),
        Format::YarnLock => js::yarn_lock(path, text()?),
        Format::PnpmLock => js::pnpm_lock(path, text()?),
        Format::Requirements => python::requirements(path, text()?, ctx),
        Format::PoetryLock => python::poetry_lock(path, text()?),
        Format::PipfileLock => python::pipfile_lock(path, text()?),
        Format::UvLock => python::uv_lock(path, text()?),
        Format::GoMod => other::go_mod(path, text()?),
        Format::GemfileLock => other::gemfile_lock(path, text()?),
        Format::ComposerLock => other::composer_lock(path, text()?),
        Format::PomXml => jvm::pom_xml(path, text()?),
        Format::GradleLock => jvm::gradle_lock(path, text()?),
        Format::DpkgStatus => os::dpkg_status(path, &String::from_utf8_lossy(bytes), ctx.os),
        Format::ApkInstalled => os::apk_installed(path, &String::from_utf8_lossy(bytes), ctx.os),
        Format::RpmDb => os::rpmdb(path, bytes, ctx.os),
    }
}

/// Builds a PURL: `pkg:type/namespace/name@version?qualifiers`, each part percent-encoded.
pub(crate) fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let mut s = format!("pkg:{kind}/");
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        let parts: Vec<String> = ns.split('/').map(enc).collect();
        s.push_str(&parts.join("/"));
        s.push('/');
    }
    s.push_str(&enc(name));
    if !version.is_empty() {
        s.push('@');
        s.push_str(&enc(version));
    }
    let q: Vec<String> = qualifiers
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    if !q.is_empty() {
        s.push('?');
        s.push_str(&q.join("&"));
    }
    s
}

/// A language package (no source or arch).
pub(crate) fn lang_package(
    name: &str,
    version: &str,
    ecosystem: &str,
    purl: String,
    path: &str,
    manager: &str,
) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        ecosystem: ecosystem.to_string(),
        purl,
        file_path: path.to_string(),
        package_manager: manager.to_string(),
        source_name: None,
        source_version: None,
        arch: None,
        source_layer: None,
    }
}

/// Keeps the first of each (name, version), in order.
pub(crate) fn dedup(packages: &mut Vec<Package>) {
    let mut seen = std::collections::HashSet::new();
    packages.retain(|p| seen.insert((p.name.clone(), p.version.clone())));
}

/// The relative path of `p` under `root`, `/`-separated.
pub fn relative(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

pub use python::normalize as normalize_pypi;
