//! pom.xml (declared versions, `${property}` interpolation) and gradle.lockfile.

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{Extracted, InventoryError, Skipped, dedup, lang_package, purl};

#[derive(Default, Clone)]
struct Dep {
    group: String,
    artifact: String,
    version: String,
}

/// pom.xml: the dependencies it declares (and manages) with the versions it states. Versions
/// coming from a parent POM or a BOM are not known from this file alone: those are skipped.
pub fn pom_xml(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<String> = Vec::new();
    let mut props: HashMap<String, String> = HashMap::new();
    let mut deps: Vec<Dep> = Vec::new();
    let mut cur: Option<Dep> = None;
    let mut saw_project = false;
    loop {
        let ev = reader.read_event().map_err(|e| {
            InventoryError::parse(
                path,
                format!("invalid XML at byte {}: {e}", reader.buffer_position()),
            )
        })?;
        match ev {
            Event::Start(s) => {
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                if stack.is_empty() {
                    if name != "project" {
                        return Err(InventoryError::parse(path, "not a POM: no <project>"));
                    }
                    saw_project = true;
                }
                if name == "dependency" && stack.last().is_some_and(|p| p == "dependencies") {
                    cur = Some(Dep::default());
                }
                stack.push(name);
            }
            Event::End(_) => {
                if stack.pop().as_deref() == Some("dependency")
                    && let Some(d) = cur.take()
                {
                    deps.push(d);
                }
            }
            Event::Text(t) => {
                let value = t
                    .decode()
                    .map_err(|e| InventoryError::parse(path, e))?
                    .trim()
                    .to_string();
                let n = stack.len();
                let leaf = stack.last().map(String::as_str).unwrap_or("");
                if n == 3 && stack[1] == "properties" {
                    props.insert(leaf.to_string(), value.clone());
                }
                if n == 2 && matches!(leaf, "version" | "groupId" | "artifactId") {
                    props.insert(format!("project.{leaf}"), value.clone());
                }
                if n == 3 && stack[1] == "parent" && leaf == "version" {
                    props.insert("project.parent.version".into(), value.clone());
                }
                if let Some(d) = cur.as_mut()
                    && n >= 2
                    && stack[n - 2] == "dependency"
                {
                    match leaf {
                        "groupId" => d.group = value,
                        "artifactId" => d.artifact = value,
                        "version" => d.version = value,
                        _ => {}
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_project {
        if text.trim().is_empty() {
            return Ok(Extracted::default());
        }
        return Err(InventoryError::parse(path, "not a POM: no <project>"));
    }
    let mut out = Extracted::default();
    for d in deps {
        let name = format!("{}:{}", d.group, d.artifact);
        let version = interpolate(&d.version, &props);
        let skip = |reason: &str| Skipped {
            file_path: path.to_string(),
            line: None,
            what: name.clone(),
            reason: reason.to_string(),
        };
        if version.is_empty() {
            out.skipped
                .push(skip("no version here (managed by a parent POM or a BOM)"));
        } else if version.contains("${") {
            out.skipped
                .push(skip("the version property is not defined in this POM"));
        } else if version.starts_with(['[', '(']) {
            out.skipped
                .push(skip("a version range: cannot know which version is used"));
        } else {
            out.packages.push(lang_package(
                &name,
                &version,
                "Maven",
                purl("maven", Some(&d.group), &d.artifact, &version, &[]),
                path,
                "POM",
            ));
        }
    }
    dedup(&mut out.packages);
    Ok(out)
}

fn interpolate(v: &str, props: &HashMap<String, String>) -> String {
    let mut s = v.to_string();
    for _ in 0..10 {
        let Some(start) = s.find("${") else { break };
        let Some(len) = s[start..].find('}') else {
            break;
        };
        let key = &s[start + 2..start + len];
        let Some(value) = props.get(key) else { break };
        s = format!("{}{}{}", &s[..start], value, &s[start + len + 1..]);
    }
    s
}

/// gradle.lockfile: `group:artifact:version=configurations` lines.
pub fn gradle_lock(path: &str, text: &str) -> Result<Extracted, InventoryError> {
    let mut out = Extracted::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("empty=") {
            continue;
        }
        let coords = line.split('=').next().unwrap_or(line);
        let parts: Vec<&str> = coords.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(n + 1),
                what: line.to_string(),
                reason: "not group:artifact:version".into(),
            });
            continue;
        }
        let name = format!("{}:{}", parts[0], parts[1]);
        out.packages.push(lang_package(
            &name,
            parts[2],
            "Maven",
            purl("maven", Some(parts[0]), parts[1], parts[2], &[]),
            path,
            "POM",
        ));
    }
    dedup(&mut out.packages);
    Ok(out)
}
