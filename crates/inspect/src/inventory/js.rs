//! package-lock.json (v1–v3), yarn.lock (v1 and berry) and pnpm-lock.yaml (v5–v9).

use serde_json::Value;

use super::{Extracted, InventoryError, Package, dedup, lang_package, purl};

fn npm_package(name: &str, version: &str, path: &str, manager: &str) -> Package {
    let (ns, base) = match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
        Some((scope, base)) => (Some(format!("@{scope}")), base),
        None => (None, name),
    };
    lang_package(
        name,
        version,
        "npm",
        purl("npm", ns.as_deref(), base, version, &[]),
        path,
        manager,
    )
}

/// `npm:real@1.2.3` aliases name the real package.
fn unalias<'a>(name: &'a str, version: &'a str) -> (&'a str, &'a str) {
    match version.strip_prefix("npm:") {
        Some(spec) => match spec.rfind('@').filter(|i| *i > 0) {
            Some(i) => (&spec[..i], &spec[i + 1..]),
            None => (name, version),
        },
        None => (name, version),
    }
}

pub fn npm_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let v: Value = serde_json::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    if !v.is_object() {
        return Err(InventoryError::parse(
            path,
            "not a package-lock.json object",
        ));
    }
    let mut out = Extracted::default();
    if let Some(packages) = v["packages"].as_object() {
        // v2/v3: keys are install paths.
        for (key, p) in packages {
            let Some(i) = key.rfind("node_modules/") else {
                continue; // the root project and workspace folders
            };
            if p["link"].as_bool() == Some(true) {
                continue;
            }
            let name = p["name"]
                .as_str()
                .unwrap_or(&key[i + "node_modules/".len()..]);
            let Some(version) = p["version"].as_str() else {
                continue;
            };
            let (name, version) = unalias(name, version);
            out.packages.push(npm_package(name, version, path, "NPM"));
        }
    } else if let Some(deps) = v["dependencies"].as_object() {
        // v1: a tree of dependencies.
        let mut stack: Vec<&serde_json::Map<String, Value>> = vec![deps];
        while let Some(map) = stack.pop() {
            for (name, d) in map {
                if let Some(version) = d["version"].as_str() {
                    let (name, version) = unalias(name, version);
                    // A git dependency's "version" is its URL with the commit after '#'.
                    let version = if version.contains("://") || version.starts_with("github:") {
                        version.rsplit('#').next().unwrap_or(version)
                    } else {
                        version
                    };
                    out.packages.push(npm_package(name, version, path, "NPM"));
                }
                if let Some(sub) = d["dependencies"].as_object() {
                    stack.push(sub);
                }
            }
        }
    }
    dedup(&mut out.packages);
    Ok(out)
}

/// The package name in a yarn/pnpm spec such as `@scope/name@^1.0` or `name@npm:^2`.
fn spec_name(spec: &str) -> &str {
    let spec = spec.trim().trim_matches('"');
    match spec[1.min(spec.len())..].find('@') {
        Some(i) => &spec[..i + 1],
        None => spec,
    }
}

pub fn yarn_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    if text.contains("\n__metadata:") || text.starts_with("__metadata:") {
        return yarn_berry(path, text);
    }
    let mut out = Extracted::default();
    let mut header: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            if !line.ends_with(':') {
                return Err(InventoryError::parse(
                    path,
                    format!("not a yarn.lock entry header: {line:?}"),
                ));
            }
            header = Some(line.trim_end_matches(':').to_string());
            continue;
        }
        let t = line.trim();
        // `version "1.2.3"`, `"version" "1.2.3"` or `version: 1.2.3`
        let (key, value) = t.split_once([' ', ':']).unwrap_or((t, ""));
        if key.trim_matches('"') == "version"
            && let Some(h) = &header
            && line.starts_with("  ")
            && !line.starts_with("    ")
        {
            let version = value
                .trim()
                .trim_start_matches(':')
                .trim()
                .trim_matches('"');
            let first = h.split(", ").next().unwrap_or(h);
            let first = first.trim_matches('"');
            let mut name = spec_name(first);
            // `alias@npm:real@^1` is the real package.
            if let Some(real) = first.split_once("@npm:").map(|(_, r)| r) {
                name = spec_name(real);
            }
            out.packages.push(npm_package(name, version, path, "YARN"));
        }
    }
    dedup(&mut out.packages);
    Ok(out)
}

fn yarn_berry(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    let mut out = Extracted::default();
    let Some(map) = v.as_mapping() else {
        return Ok(out);
    };
    for (key, entry) in map {
        let Some(key) = key.as_str() else { continue };
        if key == "__metadata" {
            continue;
        }
        let resolution = entry["resolution"].as_str().unwrap_or(key);
        if ["@workspace:", "@link:", "@portal:"]
            .iter()
            .any(|p| resolution.contains(p))
        {
            continue;
        }
        let Some(version) = entry["version"]
            .as_str()
            .map(str::to_string)
            .or_else(|| entry["version"].as_f64().map(|f| f.to_string()))
        else {
            continue;
        };
        let name = spec_name(resolution);
        out.packages.push(npm_package(name, &version, path, "YARN"));
    }
    dedup(&mut out.packages);
    Ok(out)
}

/// Splits a pnpm package key into name and version: `/name/1.0.0_peer` (v5, optionally after
/// a registry host), `/@scope/name@1.0.0(peer)` (v6), `name@1.0.0(peer)` (v9).
fn pnpm_key(key: &str) -> Option<(String, String)> {
    let key = key.trim_start_matches('/');
    let key = key.split('(').next().unwrap_or(key);
    let at = key[1.min(key.len())..].rfind('@').map(|i| i + 1);
    let slash = key.rfind('/');
    if let Some(a) = at
        && slash.is_none_or(|s| a > s)
    {
        // v6/v9: the last '@' after the last '/' separates the version.
        return Some((key[..a].to_string(), key[a + 1..].to_string()));
    }
    // v5: [host/]name/version[_peers] or [host/]@scope/name/version[_peers]
    let mut segs: Vec<&str> = key.split('/').collect();
    if segs
        .first()
        .is_some_and(|s| s.contains('.') && !s.starts_with('@'))
    {
        segs.remove(0);
    }
    let (name, version) = match segs.as_slice() {
        [scope, name, version] if scope.starts_with('@') => (format!("{scope}/{name}"), *version),
        [name, version] => (name.to_string(), *version),
        _ => return None,
    };
    Some((name, version.split('_').next().unwrap_or("").to_string()))
}

pub fn pnpm_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    let mut out = Extracted::default();
    if v.is_null() {
        return Ok(out);
    }
    if !v.is_mapping() {
        return Err(InventoryError::parse(path, "not a pnpm-lock.yaml mapping"));
    }
    let Some(packages) = v["packages"].as_mapping() else {
        return Ok(out);
    };
    for (key, entry) in packages {
        let Some(key) = key.as_str() else { continue };
        let has_fields = entry["name"].is_string() && entry["version"].is_string();
        if !has_fields
            && (key.contains("://")
                || key.contains("git@")
                || key.trim_start_matches('/').starts_with("github.com/"))
        {
            out.skipped.push(super::Skipped {
                file_path: path.to_string(),
                line: None,
                what: key.to_string(),
                reason: "a git or tarball URL: a commit, not a version to match".into(),
            });
            continue;
        }
        // Tarball, directory and git dependencies carry their own name and version.
        let (name, version) = match (entry["name"].as_str(), entry["version"].as_str()) {
            (Some(n), Some(v)) => (n.to_string(), v.to_string()),
            _ => match pnpm_key(key) {
                Some(x) => x,
                None => continue,
            },
        };
        if version.is_empty() || name.is_empty() {
            continue;
        }
        out.packages.push(npm_package(&name, &version, path, "NPM"));
    }
    dedup(&mut out.packages);
    Ok(out)
}
