//! OS package databases: `/etc/os-release`, dpkg status (and `status.d/`), apk's installed
//! database, and the rpm database in its SQLite form.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Extracted, InventoryError, Package, Skipped, purl};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsRelease {
    pub id: String,
    pub version_id: String,
    pub codename: String,
    pub pretty_name: String,
}

/// `/etc/os-release` (or `/usr/lib/os-release`): `KEY=value` lines, values optionally quoted.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut m: HashMap<&str, String> = HashMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v);
        m.insert(k.trim(), v.replace("\\\"", "\""));
    }
    let get = |k: &str| m.get(k).cloned().unwrap_or_default();
    OsRelease {
        id: get("ID").to_lowercase(),
        version_id: get("VERSION_ID"),
        codename: get("VERSION_CODENAME"),
        pretty_name: get("PRETTY_NAME"),
    }
}

impl OsRelease {
    /// The OSV ecosystem of this OS's packages (`Debian:12`, `Ubuntu:22.04`, `Alpine:v3.20`).
    pub fn ecosystem(&self) -> Option<String> {
        let major = self.version_id.split('.').next().unwrap_or("");
        let major_minor: String = self
            .version_id
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let with = |name: &str, v: &str| {
            if v.is_empty() {
                name.to_string()
            } else {
                format!("{name}:{v}")
            }
        };
        Some(match self.id.as_str() {
            "debian" => with("Debian", major),
            "ubuntu" => with("Ubuntu", &self.version_id),
            "alpine" => with("Alpine", &format!("v{major_minor}")),
            "wolfi" => "Wolfi".into(),
            "chainguard" => "Chainguard".into(),
            "rhel" | "centos" => with("Red Hat", major),
            "rocky" => with("Rocky Linux", major),
            "almalinux" => with("AlmaLinux", major),
            "opensuse-leap" | "opensuse-tumbleweed" | "opensuse" => {
                with("openSUSE", &self.version_id)
            }
            "sles" => with("SUSE", &self.version_id),
            "amzn" => with("Amazon Linux", &self.version_id),
            "ol" => with("Oracle Linux", major),
            "photon" => with("Photon OS", &self.version_id),
            "mageia" => with("Mageia", &self.version_id),
            _ => return None,
        })
    }

    fn distro(&self) -> String {
        if self.version_id.is_empty() {
            self.id.clone()
        } else {
            format!("{}-{}", self.id, self.version_id)
        }
    }
}

/// The ecosystem and purl namespace for OS packages when the OS is unknown.
fn os_ecosystem(os: Option<&OsRelease>, fallback: &str) -> (String, String) {
    match os {
        Some(o) => (
            o.ecosystem().unwrap_or_else(|| fallback.to_string()),
            if o.id.is_empty() {
                fallback.to_lowercase()
            } else {
                o.id.clone()
            },
        ),
        None => (fallback.to_string(), fallback.to_lowercase()),
    }
}

/// How one OS database's packages are named: ecosystem, PURL type and namespace, distro.
struct OsPackages<'a> {
    path: &'a str,
    kind: &'static str,
    ecosystem: String,
    namespace: String,
    distro: String,
}

impl<'a> OsPackages<'a> {
    fn new(path: &'a str, kind: &'static str, os: Option<&OsRelease>, fallback: &str) -> Self {
        let (ecosystem, namespace) = os_ecosystem(os, fallback);
        OsPackages {
            path,
            kind,
            ecosystem,
            namespace,
            distro: os.map(OsRelease::distro).unwrap_or_default(),
        }
    }

    fn package(
        &self,
        name: &str,
        version: &str,
        arch: Option<String>,
        source: Option<String>,
        source_version: Option<String>,
    ) -> Package {
        Package {
            name: name.to_string(),
            version: version.to_string(),
            ecosystem: self.ecosystem.clone(),
            purl: purl(
                self.kind,
                Some(&self.namespace),
                name,
                version,
                &[
                    ("arch", arch.as_deref().unwrap_or("")),
                    ("distro", &self.distro),
                ],
            ),
            file_path: self.path.to_string(),
            package_manager: "OS".into(),
            source_name: source,
            source_version,
            arch,
            source_layer: None,
        }
    }
}

/// One paragraph of `Key: value` lines with continuation lines.
fn paragraphs(text: &str) -> Vec<(usize, HashMap<String, String>)> {
    let mut out = Vec::new();
    let mut cur: HashMap<String, String> = HashMap::new();
    let mut last: Option<String> = None;
    let mut start = 1;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
            last = None;
            start = n + 2;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(k) = &last
                && let Some(v) = cur.get_mut(k)
            {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            cur.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

pub fn dpkg_status(
    path: &str,
    text: &str,
    os: Option<&OsRelease>,
) -> Result<Extracted, InventoryError> {
    let db = OsPackages::new(path, "deb", os, "Debian");
    let mut out = Extracted::default();
    let paras = paragraphs(text);
    if !text.trim().is_empty() && paras.iter().all(|(_, p)| !p.contains_key("Package")) {
        return Err(InventoryError::parse(
            path,
            "no Package: fields: not a dpkg status file",
        ));
    }
    for (line, p) in paras {
        let Some(name) = p.get("Package") else {
            out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(line),
                what: "paragraph".into(),
                reason: "no Package: field".into(),
            });
            continue;
        };
        // Only what is installed: "install ok installed" (not config-files, half-installed…).
        let status = p.get("Status").map(String::as_str).unwrap_or("");
        if status.split_whitespace().last() != Some("installed") {
            continue;
        }
        let Some(version) = p.get("Version").filter(|v| !v.is_empty()) else {
            out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(line),
                what: name.clone(),
                reason: "no Version: field".into(),
            });
            continue;
        };
        let (source, source_version) = match p.get("Source") {
            Some(s) => match s.split_once(" (") {
                Some((n, v)) => (n.trim().to_string(), v.trim_end_matches(')').to_string()),
                None => (s.trim().to_string(), version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        let arch = p.get("Architecture").cloned();
        out.packages
            .push(db.package(name, version, arch, Some(source), Some(source_version)));
    }
    Ok(out)
}

pub fn apk_installed(
    path: &str,
    text: &str,
    os: Option<&OsRelease>,
) -> Result<Extracted, InventoryError> {
    let db = OsPackages::new(path, "apk", os, "Alpine");
    let mut out = Extracted::default();
    let mut cur: HashMap<char, String> = HashMap::new();
    let mut start = 1;
    let mut any_field = false;
    let flush = |cur: &mut HashMap<char, String>, line: usize, out: &mut Extracted| {
        if cur.is_empty() {
            return;
        }
        let rec = std::mem::take(cur);
        match (rec.get(&'P'), rec.get(&'V')) {
            (Some(name), Some(version)) => {
                let arch = rec.get(&'A').cloned();
                let origin = rec.get(&'o').unwrap_or(name).clone();
                out.packages.push(db.package(
                    name,
                    version,
                    arch,
                    Some(origin),
                    Some(version.clone()),
                ));
            }
            _ => out.skipped.push(Skipped {
                file_path: path.to_string(),
                line: Some(line),
                what: rec.get(&'P').cloned().unwrap_or_else(|| "record".into()),
                reason: "no P: (name) or V: (version) field".into(),
            }),
        }
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            flush(&mut cur, start, &mut out);
            start = n + 2;
            continue;
        }
        let mut chars = line.chars();
        if let (Some(k), Some(':')) = (chars.next(), chars.next()) {
            any_field = true;
            cur.insert(k, chars.as_str().to_string());
        }
    }
    flush(&mut cur, start, &mut out);
    if !text.trim().is_empty() && !any_field {
        return Err(InventoryError::parse(
            path,
            "no X:value fields: not an apk installed database",
        ));
    }
    Ok(out)
}

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_SOURCERPM: u32 = 1044;

/// An rpm header blob: index count, data length, 16-byte index entries, then the data store.
fn rpm_header(blob: &[u8]) -> Result<HashMap<u32, String>, String> {
    let be = |b: &[u8], at: usize| -> Result<u32, String> {
        b.get(at..at + 4)
            .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
            .ok_or_else(|| "header truncated".to_string())
    };
    let il = be(blob, 0)? as usize;
    let dl = be(blob, 4)? as usize;
    let data_start = 8usize
        .checked_add(il.checked_mul(16).ok_or("index too large")?)
        .ok_or("index too large")?;
    let data = blob
        .get(data_start..data_start.checked_add(dl).ok_or("data too large")?)
        .ok_or("header data truncated")?;
    let mut out = HashMap::new();
    for i in 0..il {
        let e = 8 + i * 16;
        let (tag, kind, offset) = (be(blob, e)?, be(blob, e + 4)?, be(blob, e + 8)? as usize);
        if ![
            TAG_NAME,
            TAG_VERSION,
            TAG_RELEASE,
            TAG_EPOCH,
            TAG_ARCH,
            TAG_SOURCERPM,
        ]
        .contains(&tag)
        {
            continue;
        }
        let value = match kind {
            // STRING, I18NSTRING: NUL-terminated
            6 | 9 => {
                let s = data.get(offset..).ok_or("offset out of range")?;
                let end = s
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or("unterminated string")?;
                String::from_utf8_lossy(&s[..end]).into_owned()
            }
            // INT32
            4 => be(data, offset)?.to_string(),
            _ => continue,
        };
        out.insert(tag, value);
    }
    Ok(out)
}

pub fn rpmdb(
    path: &str,
    bytes: &[u8],
    os: Option<&OsRelease>,
) -> Result<Extracted, InventoryError> {
    if !bytes.starts_with(b"SQLite format 3\0") {
        let format = if bytes.len() >= 16 && bytes[12..16] == [0x00, 0x06, 0x15, 0x61] {
            "BerkeleyDB"
        } else if bytes.starts_with(b"RpmP") {
            "NDB"
        } else {
            "unknown"
        };
        return Err(InventoryError::UnsupportedRpmDb {
            path: path.to_string(),
            format,
        });
    }
    let dir = tempfile::tempdir().map_err(|e| InventoryError::parse(path, e))?;
    let file = dir.path().join("rpmdb.sqlite");
    std::fs::write(&file, bytes).map_err(|e| InventoryError::parse(path, e))?;
    let conn = rusqlite::Connection::open_with_flags(
        &file,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| InventoryError::parse(path, e))?;
    let mut st = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| InventoryError::parse(path, format!("no Packages table: {e}")))?;
    let blobs: Vec<Vec<u8>> = st
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| InventoryError::parse(path, e))?;
    let db = OsPackages::new(path, "rpm", os, "Red Hat");
    let mut out = Extracted::default();
    for (i, blob) in blobs.iter().enumerate() {
        let h = match rpm_header(blob) {
            Ok(h) => h,
            Err(e) => {
                out.skipped.push(Skipped {
                    file_path: path.to_string(),
                    line: None,
                    what: format!("package #{}", i + 1),
                    reason: e,
                });
                continue;
            }
        };
        let (Some(name), Some(ver), Some(rel)) =
            (h.get(&TAG_NAME), h.get(&TAG_VERSION), h.get(&TAG_RELEASE))
        else {
            continue; // gpg-pubkey entries and the like
        };
        if name == "gpg-pubkey" {
            continue;
        }
        let epoch = h.get(&TAG_EPOCH).filter(|e| *e != "0");
        let version = match epoch {
            Some(e) => format!("{e}:{ver}-{rel}"),
            None => format!("{ver}-{rel}"),
        };
        let arch = h.get(&TAG_ARCH).cloned();
        let source = h.get(&TAG_SOURCERPM).and_then(|s| {
            // name-version-release.src.rpm
            let s = s.strip_suffix(".src.rpm")?;
            let (rest, _rel) = s.rsplit_once('-')?;
            let (n, _v) = rest.rsplit_once('-')?;
            Some(n.to_string())
        });
        out.packages
            .push(db.package(name, &version, arch, source, Some(version.clone())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An rpm header blob with the given (tag, type, value) entries.
    fn header(entries: &[(u32, u32, &str)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut index = Vec::new();
        for (tag, kind, value) in entries {
            let offset = data.len() as u32;
            if *kind == 4 {
                data.extend_from_slice(&value.parse::<u32>().unwrap().to_be_bytes());
            } else {
                data.extend_from_slice(value.as_bytes());
                data.push(0);
            }
            for n in [*tag, *kind, offset, 1] {
                index.extend_from_slice(&n.to_be_bytes());
            }
        }
        let mut blob = Vec::new();
        blob.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
        blob.extend(index);
        blob.extend(data);
        blob
    }

    #[test]
    fn rpmdb_sqlite_is_read_and_other_formats_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rpmdb.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL);")
            .unwrap();
        let openssl = header(&[
            (TAG_NAME, 6, "openssl-libs"),
            (TAG_VERSION, 6, "3.0.7"),
            (TAG_RELEASE, 6, "27.el9"),
            (TAG_EPOCH, 4, "1"),
            (TAG_ARCH, 6, "x86_64"),
            (TAG_SOURCERPM, 6, "openssl-3.0.7-27.el9.src.rpm"),
        ]);
        let key = header(&[
            (TAG_NAME, 6, "gpg-pubkey"),
            (TAG_VERSION, 6, "1"),
            (TAG_RELEASE, 6, "1"),
        ]);
        let broken = vec![0, 0, 0, 9, 0, 0, 0, 1];
        for b in [openssl, key, broken] {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                .unwrap();
        }
        drop(conn);
        let bytes = std::fs::read(&path).unwrap();
        let os = OsRelease {
            id: "rocky".into(),
            version_id: "9.3".into(),
            ..Default::default()
        };
        let x = rpmdb("var/lib/rpm/rpmdb.sqlite", &bytes, Some(&os)).unwrap();
        assert_eq!(x.packages.len(), 1, "gpg-pubkey is not a package");
        let p = &x.packages[0];
        assert_eq!(p.name, "openssl-libs");
        assert_eq!(p.version, "1:3.0.7-27.el9");
        assert_eq!(p.ecosystem, "Rocky Linux:9");
        assert_eq!(p.source_name.as_deref(), Some("openssl"));
        assert_eq!(
            p.purl,
            "pkg:rpm/rocky/openssl-libs@1%3A3.0.7-27.el9?arch=x86_64&distro=rocky-9.3"
        );
        assert_eq!(
            x.skipped.len(),
            1,
            "the truncated header is reported: {:?}",
            x.skipped
        );

        let mut bdb = vec![0u8; 64];
        bdb[12..16].copy_from_slice(&[0x00, 0x06, 0x15, 0x61]);
        let err = rpmdb("var/lib/rpm/Packages", &bdb, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported rpmdb format (BerkeleyDB)"),
            "{err}"
        );
        let err = rpmdb("var/lib/rpm/Packages.db", b"RpmP....", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported rpmdb format (NDB)"), "{err}");
    }

    #[test]
    fn dpkg_status_reads_installed_packages_with_their_sources() {
        let text = "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\nArchitecture: amd64\nDescription: x\n continued\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: nover\nStatus: install ok installed\n";
        let os = parse_os_release("ID=debian\nVERSION_ID=\"12\"\n");
        let x = dpkg_status("var/lib/dpkg/status", text, Some(&os)).unwrap();
        assert_eq!(x.packages.len(), 1);
        let p = &x.packages[0];
        assert_eq!(
            (p.source_name.as_deref(), p.source_version.as_deref()),
            (Some("openssl"), Some("3.0.11-1~deb12u2"))
        );
        assert_eq!(p.ecosystem, "Debian:12");
        assert_eq!(
            p.purl,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            x.skipped.len(),
            1,
            "the package without a version is reported"
        );
    }
}
