//! Cargo.lock, go.mod, Gemfile.lock and composer.lock.

use serde::Deserialize;

use super::{Extracted, InventoryError, Skipped, dedup, lang_package, purl};

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<CargoPackage>,
}

#[derive(Deserialize)]
struct CargoPackage {
    name: String,
    version: String,
}

pub fn cargo_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let lock: CargoLock = toml::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    let packages = lock
        .package
        .iter()
        .map(|p| {
            lang_package(
                &p.name,
                &p.version,
                "crates.io",
                purl("cargo", None, &p.name, &p.version, &[]),
                path,
                "CARGO",
            )
        })
        .collect();
    Ok(Extracted {
        packages,
        skipped: Vec::new(),
    })
}

/// `replace old [v] => new [v]`, with its line.
type Replace = (String, Option<String>, String, Option<String>, usize);

/// go.mod: `require` lines and blocks, with `replace` directives applied (a replacement by a
/// local path has no version and is skipped, saying so). The `toolchain` line gives the standard
/// library's version (`stdlib`, as Go's vulnerability database names it).
pub fn go_mod(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let mut requires: Vec<(String, String, usize)> = Vec::new();
    let mut replaces: Vec<Replace> = Vec::new();
    let mut go_version: Option<String> = None;
    let mut toolchain: Option<String> = None;
    let mut block: Option<String> = None;
    let mut saw_module = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (verb, rest) = match &block {
            Some(b) => {
                if line == ")" {
                    block = None;
                    continue;
                }
                (b.clone(), line.to_string())
            }
            None => {
                let (v, r) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
                let r = r.trim();
                if r == "(" {
                    block = Some(v.to_string());
                    continue;
                }
                (v.to_string(), r.to_string())
            }
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        match verb.as_str() {
            "module" => saw_module = true,
            "go" => go_version = fields.first().map(|s| s.to_string()),
            "toolchain" => {
                toolchain = fields
                    .first()
                    .map(|s| s.trim_start_matches("go").to_string())
            }
            "require" if fields.len() >= 2 => {
                requires.push((fields[0].to_string(), fields[1].to_string(), n + 1))
            }
            "replace" => {
                let Some(arrow) = fields.iter().position(|f| *f == "=>") else {
                    return Err(InventoryError::parse(
                        path,
                        format!("line {}: replace without =>", n + 1),
                    ));
                };
                let old = fields.first().map(|s| s.to_string()).unwrap_or_default();
                let old_v = (arrow == 2).then(|| fields[1].to_string());
                let new = fields
                    .get(arrow + 1)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let new_v = fields.get(arrow + 2).map(|s| s.to_string());
                replaces.push((old, old_v, new, new_v, n + 1));
            }
            "require" | "exclude" | "retract" | "godebug" | "tool" | "ignore" => {}
            other if !saw_module => {
                return Err(InventoryError::parse(
                    path,
                    format!("line {}: {other:?} is not a go.mod directive", n + 1),
                ));
            }
            _ => {}
        }
    }
    if !saw_module && requires.is_empty() && go_version.is_none() {
        if text.trim().is_empty() {
            return Ok(Extracted::default());
        }
        return Err(InventoryError::parse(
            path,
            "no module directive: not a go.mod",
        ));
    }
    let mut out = Extracted::default();
    for (module, version, line) in requires {
        let mut name = module.clone();
        let mut ver = Some(version.clone());
        for (old, old_v, new, new_v, _) in &replaces {
            if *old == module && old_v.as_ref().is_none_or(|v| *v == version) {
                name = new.clone();
                ver = new_v.clone();
            }
        }
        match ver {
            Some(v) => {
                let v = v.trim_start_matches('v').to_string();
                out.packages.push(lang_package(
                    &name,
                    &v,
                    "Go",
                    purl("golang", None, &name, &format!("v{v}"), &[]),
                    path,
                    "GOMOD",
                ));
            }
            None => out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(line),
                what: module,
                reason: format!("replaced by the local path {name}: no version to match"),
            }),
        }
    }
    if toolchain.is_none()
        && let Some(v) = &go_version
    {
        out.skipped.push(Skipped {
            file_path: path.to_string(),
            line: None,
            what: format!("go {v}"),
            reason: "the go directive is the minimum language version, not the toolchain that \
                     builds the module: the standard library is matched only with a toolchain line"
                .into(),
        });
    }
    if let Some(v) = toolchain {
        out.packages.push(lang_package(
            "stdlib",
            &v,
            "Go",
            purl("golang", None, "stdlib", &format!("v{v}"), &[]),
            path,
            "GOMOD",
        ));
    }
    dedup(&mut out.packages);
    Ok(out)
}

/// Gemfile.lock: the `specs:` of GEM, GIT and PATH sections — `    name (version[-platform])`.
pub fn gemfile_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let mut out = Extracted::default();
    let mut section = String::new();
    let mut in_specs = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            section = line.trim().to_string();
            in_specs = false;
            continue;
        }
        if line.trim() == "specs:" {
            in_specs = matches!(section.as_str(), "GEM" | "GIT" | "PATH" | "PLUGIN SOURCE");
            continue;
        }
        // Exactly four spaces: a gem; six: one of its dependencies.
        if !in_specs || !line.starts_with("    ") || line.starts_with("     ") {
            continue;
        }
        let spec = line.trim();
        let Some((name, rest)) = spec.split_once(" (") else {
            continue;
        };
        let version = rest.trim_end_matches(')');
        // A platform suffix (`1.13.1-x86_64-linux`) is not part of the version.
        let version = version.split_once('-').map_or(version, |(v, _)| v);
        out.packages.push(lang_package(
            name,
            version,
            "RubyGems",
            purl("gem", None, name, version, &[]),
            path,
            "BUNDLER",
        ));
    }
    dedup(&mut out.packages);
    Ok(out)
}

#[derive(Deserialize)]
struct ComposerLock {
    #[serde(default)]
    packages: Vec<ComposerPackage>,
    #[serde(default, rename = "packages-dev")]
    packages_dev: Vec<ComposerPackage>,
}

#[derive(Deserialize)]
struct ComposerPackage {
    name: String,
    version: String,
}

pub fn composer_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let lock: ComposerLock =
        serde_json::from_str(text).map_err(|e| InventoryError::parse(path, e))?;
    let packages = lock
        .packages
        .iter()
        .chain(&lock.packages_dev)
        .map(|p| {
            let (ns, name) = p.name.split_once('/').unwrap_or(("", &p.name));
            lang_package(
                &p.name,
                &p.version,
                "Packagist",
                purl("composer", Some(ns), name, &p.version, &[]),
                path,
                "COMPOSER",
            )
        })
        .collect();
    Ok(Extracted {
        packages,
        skipped: Vec::new(),
    })
}
