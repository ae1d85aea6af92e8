//! requirements.txt, poetry.lock, Pipfile.lock and uv.lock.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use super::{Context, Extracted, InventoryError, Package, Skipped, dedup, lang_package, purl};

/// PEP 503 normalised name (`Foo_Bar.baz` → `foo-bar-baz`), as PyPI and OSV key packages.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn pypi(name: &str, version: &str, path: &str, manager: &str) -> Package {
    let n = normalize(name);
    lang_package(
        &n,
        version,
        "PyPI",
        purl("pypi", None, &n, version, &[]),
        path,
        manager,
    )
}

/// Pinned requirements (`name==1.2.3`, `name===1.2.3`, with extras, markers, hashes) become
/// packages; `-r`/`-c` files are followed (relative, once each); everything else — ranges,
/// URLs, editable installs — is reported as skipped, saying why.
pub fn requirements(
    path: &str,
    text: &str,
    ctx: &Context<'_>,
) -> Result<Extracted, InventoryError> {
    let mut out = Extracted::default();
    let mut seen = HashSet::new();
    read_requirements(path, text, ctx, &mut out, &mut seen);
    dedup(&mut out.packages);
    Ok(out)
}

fn read_requirements(
    path: &str,
    text: &str,
    ctx: &Context<'_>,
    out: &mut Extracted,
    seen: &mut HashSet<String>,
) {
    seen.insert(path.to_string());
    let mut logical = String::new();
    let mut start_line = 0;
    for (n, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start_line = n + 1;
        }
        // A comment starts at '#' preceded by whitespace or at the line start.
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(i) => &raw[..i],
            None => raw,
        };
        if let Some(cont) = line.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let skip = |what: &str, reason: &str, out: &mut Extracted| {
            out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(start_line),
                what: what.to_string(),
                reason: reason.to_string(),
            })
        };
        if let Some(rest) = ["-r", "--requirement", "-c", "--constraint"]
            .iter()
            .find_map(|o| entry.strip_prefix(o).filter(|r| r.starts_with([' ', '='])))
        {
            let file = rest.trim_start_matches('=').trim();
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            let Some(target) = join_relative(dir, file) else {
                skip(entry, "the included file is outside the scanned tree", out);
                continue;
            };
            if seen.contains(&target) || seen.len() > MAX_INCLUDES {
                continue;
            }
            match (ctx.read_relative)(&target) {
                Some(bytes) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    read_requirements(&target, &text, ctx, out, seen);
                }
                None => skip(entry, "the included file cannot be read", out),
            }
            continue;
        }
        if entry.starts_with('-') {
            if entry.starts_with("-e") || entry.starts_with("--editable") {
                skip(entry, "editable install: no version to match", out);
            }
            continue; // other options (--index-url, --hash on its own, …)
        }
        // Drop environment markers and per-requirement options.
        let spec = entry.split(';').next().unwrap_or(entry);
        let spec = spec.split(" --").next().unwrap_or(spec).trim();
        if spec.contains("://") || spec.contains(" @ ") {
            skip(entry, "a URL requirement: no version to match", out);
            continue;
        }
        let name_end = spec
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(spec.len());
        let name = &spec[..name_end];
        let rest = spec[name_end..].trim();
        // Extras: name[extra1,extra2]
        let rest = if rest.starts_with('[') {
            rest.split_once(']').map_or("", |(_, r)| r).trim()
        } else {
            rest
        };
        if name.is_empty() {
            skip(entry, "not a requirement", out);
            continue;
        }
        let pinned = rest
            .strip_prefix("===")
            .or_else(|| rest.strip_prefix("=="))
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.contains([',', '*', '<', '>', '!', '~', ' ']));
        match pinned {
            Some(version) => out.packages.push(pypi(name, version, path, "PIP")),
            None if rest.is_empty() => skip(entry, "unpinned: no version to match", out),
            None => skip(
                entry,
                "not pinned to one version (==): cannot know what is installed",
                out,
            ),
        }
    }
}

/// More included requirement files than this is not a real project.
const MAX_INCLUDES: usize = 256;

/// `dir/file` with `.` and `..` resolved; `None` if it climbs out of the tree.
fn join_relative(dir: &str, file: &str) -> Option<String> {
    if file.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in file.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[derive(Deserialize)]
struct TomlLock {
    #[serde(default)]
    package: Vec<TomlPackage>,
}

#[derive(Deserialize)]
struct TomlPackage {
    name: String,
    version: Option<String>,
}

fn toml_lock(path: &str, text: &str, manager: &str) -> Result<Extracted, InventoryError> {
    let lock: TomlLock = toml::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    let mut out = Extracted::default();
    for p in &lock.package {
        match &p.version {
            Some(v) => out.packages.push(pypi(&p.name, v, path, manager)),
            None => out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: None,
                what: p.name.clone(),
                reason: "no version (a local or virtual package)".into(),
            }),
        }
    }
    dedup(&mut out.packages);
    Ok(out)
}

pub fn poetry_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    toml_lock(path, text, "POETRY")
}

pub fn uv_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    toml_lock(path, text, "PIP")
}

pub fn pipfile_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let v: Value = serde_json::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    if !v.is_object() {
        return Err(InventoryError::parse(path, "not a Pipfile.lock object"));
    }
    let mut out = Extracted::default();
    for group in ["default", "develop"] {
        let Some(map) = v[group].as_object() else {
            continue;
        };
        for (name, p) in map {
            match p["version"].as_str().and_then(|s| s.strip_prefix("==")) {
                Some(version) => out.packages.push(pypi(name, version, path, "PIPENV")),
                None => out.skipped.push(Skipped {
                    file_path: path.to_string(),
                    line: None,
                    what: name.clone(),
                    reason: "no ==version (a git or path dependency)".into(),
                }),
            }
        }
    }
    dedup(&mut out.packages);
    Ok(out)
}
