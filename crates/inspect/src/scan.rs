//! Scanning a target: collect its inventory, match it, make findings.
//!
//! Targets: a directory or root filesystem (walked without following symlinks, so nothing
//! outside it is read; `proc`, `sys`, `dev`, `.git` and `node_modules` are not entered); a single
//! lockfile or package database; a container image (`docker save` tar, OCI layout directory or
//! tar — see [`crate::image`]); a function bundle (`.zip`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::db::{AdvisoryDb, DbError};
use crate::finding::{Finding, Target, finding};
use crate::inventory::{
    Context, Format, InventoryError, OsRelease, Package, Skipped, extract, parse_os_release,
    relative,
};
use crate::matcher::{MatchWarning, match_package};

/// A file larger than this is not read (an rpmdb of a big host is ~100 MB).
const MAX_FILE_BYTES: u64 = 512 << 20;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub os: Option<OsRelease>,
    pub packages: Vec<Package>,
    pub skipped: Vec<Skipped>,
    /// Files that could not be read, with why (the rest of the scan goes on).
    pub errors: Vec<String>,
    pub files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{path}: {message}")]
    Target { path: String, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

fn target_err(path: &Path, message: impl std::fmt::Display) -> ScanError {
    ScanError::Target {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// What kind of target a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TargetKind {
    Directory,
    File,
    Image,
    Bundle,
    Sbom,
}

/// Collects the inventory of a directory, root filesystem, image, bundle or single file.
pub fn collect(target: &Path) -> Result<Inventory, ScanError> {
    Ok(collect_kind(target)?.0)
}

pub fn collect_kind(target: &Path) -> Result<(Inventory, TargetKind), ScanError> {
    let meta = std::fs::symlink_metadata(target).map_err(|e| target_err(target, e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if crate::image::looks_like_image(target) && (meta.is_dir() || Format::detect(&name).is_none())
    {
        let tree = crate::image::read_image(target).map_err(|e| target_err(target, e.message))?;
        return Ok((from_tree(&tree), TargetKind::Image));
    }
    if meta.is_file() && name.ends_with(".zip") {
        let tree = crate::image::read_zip(target).map_err(|e| target_err(target, e.message))?;
        return Ok((from_tree(&tree), TargetKind::Bundle));
    }
    let mut inv = Inventory::default();
    if meta.is_file() && name.ends_with(".json") && Format::detect(&name).is_none() {
        if meta.len() > MAX_FILE_BYTES {
            return Err(target_err(target, "larger than 512 MiB: not read"));
        }
        let bytes = std::fs::read(target).map_err(|e| target_err(target, e))?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| target_err(target, format!("not JSON: {e}")))?;
        if !crate::sbom::is_sbom(&v) {
            return Err(target_err(
                target,
                "JSON, but neither a CycloneDX (bomFormat) nor an SPDX 2.x (spdxVersion) document",
            ));
        }
        let (packages, skipped) = crate::sbom::packages_of(&v, &name);
        inv.packages = packages;
        inv.files.push(name.clone());
        inv.skipped = skipped
            .into_iter()
            .map(|reason| Skipped {
                file_path: name.clone(),
                line: None,
                what: "component".into(),
                reason,
            })
            .collect();
        return Ok((inv, TargetKind::Sbom));
    }
    if meta.is_file() {
        let Some(format) = Format::detect(&name) else {
            return Err(target_err(
                target,
                "not a lockfile, package database, image archive (.tar) or bundle (.zip) mamori reads (name lockfiles as their tool does, e.g. Cargo.lock, package-lock.json, requirements.txt)",
            ));
        };
        let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        read_one(&dir, target, &name, format, &mut inv);
        return Ok((inv, TargetKind::File));
    }
    if !meta.is_dir() {
        return Err(target_err(target, "neither a file nor a directory"));
    }
    for candidate in ["etc/os-release", "usr/lib/os-release"] {
        let p = target.join(candidate);
        if let Ok(m) = std::fs::symlink_metadata(&p)
            && m.is_file()
            && m.len() < 64 << 10
            && let Ok(text) = std::fs::read_to_string(&p)
        {
            inv.os = Some(parse_os_release(&text));
            break;
        }
    }
    // Links inside the tree are not followed (core::files' one policy); version-control and
    // dependency folders, and a root file system's pseudo-files, are not read.
    let walked = mamori_core::files::walk(
        std::slice::from_ref(&target.to_path_buf()),
        |p| Format::detect(&relative(target, p)).is_some(),
        |p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            matches!(name.as_ref(), ".git" | "node_modules")
                || (p.parent() == Some(target) && matches!(name.as_ref(), "proc" | "sys" | "dev"))
        },
    );
    inv.errors.extend(walked.errors);
    let mut files: Vec<(PathBuf, String, Format)> = walked
        .files
        .into_iter()
        .filter_map(|f| {
            let rel = relative(target, &f.path);
            Format::detect(&rel).map(|format| (f.path, rel, format))
        })
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    for (path, rel, format) in files {
        read_one(target, &path, &rel, format, &mut inv);
    }
    Ok((inv, TargetKind::Directory))
}

/// The inventory of an image's (or bundle's) files.
fn from_tree(tree: &crate::image::ImageTree) -> Inventory {
    let mut inv = Inventory {
        os: ["etc/os-release", "usr/lib/os-release"]
            .iter()
            .find_map(|p| tree.read(p))
            .map(|f| parse_os_release(&String::from_utf8_lossy(&f.bytes))),
        ..Default::default()
    };
    let read_relative = |p: &str| tree.read(p).map(|f| f.bytes.clone());
    for (path, file) in &tree.files {
        let Some(format) = Format::detect(path) else {
            continue;
        };
        let layer = (!file.layer.is_empty()).then(|| file.layer.clone());
        add(&mut inv, path, &file.bytes, format, &read_relative, layer);
    }
    inv
}

fn add(
    inv: &mut Inventory,
    rel: &str,
    bytes: &[u8],
    format: Format,
    read_relative: &dyn Fn(&str) -> Option<Vec<u8>>,
    layer: Option<String>,
) {
    let ctx = Context {
        os: inv.os.as_ref(),
        read_relative,
    };
    match extract(format, rel, bytes, &ctx) {
        Ok(mut x) => {
            if layer.is_some() {
                for p in &mut x.packages {
                    p.source_layer = layer.clone();
                }
            }
            inv.files.push(rel.to_string());
            inv.packages.extend(x.packages);
            inv.skipped.extend(x.skipped);
        }
        Err(e @ InventoryError::UnsupportedRpmDb { .. })
        | Err(e @ InventoryError::Parse { .. }) => inv.errors.push(e.to_string()),
    }
}

fn read_one(root: &Path, path: &Path, rel: &str, format: Format, inv: &mut Inventory) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        inv.errors.push(format!(
            "{rel}: {size} bytes, more than the 512 MiB read per file"
        ));
        return;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            inv.errors.push(format!("{rel}: {e}"));
            return;
        }
    };
    let root_canon = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let read_relative = |p: &str| -> Option<Vec<u8>> {
        let full = std::fs::canonicalize(root.join(p)).ok()?;
        // Never outside the scanned tree, whatever `..` or symlinks say.
        if !full.starts_with(&root_canon) {
            return None;
        }
        let m = std::fs::metadata(&full).ok()?;
        (m.is_file() && m.len() <= MAX_FILE_BYTES)
            .then(|| std::fs::read(&full).ok())
            .flatten()
    };
    add(inv, rel, &bytes, format, &read_relative, None);
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    pub findings: Vec<Finding>,
    pub warnings: Vec<MatchWarning>,
}

/// Matches an inventory against the advisory database.
pub fn match_inventory(
    db: &AdvisoryDb,
    inv: &Inventory,
    target: &Target,
    now: &str,
) -> Result<ScanReport, ScanError> {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    for p in &inv.packages {
        for m in match_package(db, p, &mut warnings)? {
            let mut kev = None;
            for cve in m.advisory.cves() {
                if let Some(k) = db.kev(cve)? {
                    kev = Some(k.date_added);
                    break;
                }
            }
            findings.push(finding(p, &m, target, kev.as_deref(), now));
        }
    }
    findings.sort_by(|a, b| {
        crate::finding::severity_rank(&b.severity)
            .cmp(&crate::finding::severity_rank(&a.severity))
            .then_with(|| a.title.cmp(&b.title))
    });
    Ok(ScanReport { findings, warnings })
}
