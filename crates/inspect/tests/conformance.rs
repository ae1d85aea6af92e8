//! Conformance against ../shared/fixtures (or MAMORI_FIXTURES): version-ordering vectors.
//! Skipped, saying so, when the fixtures are not there (a user's clone has no ../shared).

mod common;

use std::cmp::Ordering;
use std::path::PathBuf;

use mamori_inspect::version::Scheme;

fn fixtures() -> Option<PathBuf> {
    common::fixtures("")
}

/// Checks every line of a vector file both ways; returns (passed, failures).
fn run(scheme: Scheme, file: &str) -> (usize, Vec<String>) {
    let Some(dir) = fixtures() else {
        return (0, Vec::new());
    };
    let path = dir.join("versions/osv-scalibr").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let (mut passed, mut failures) = (0, Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("# ") || line.starts_with("// ") {
            continue;
        }
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 3, "{file}:{}: {line:?}", n + 1);
        let want = match f[1] {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            op => panic!("{file}:{}: operator {op:?}", n + 1),
        };
        let ab = scheme.compare(f[0], f[2]);
        let ba = scheme.compare(f[2], f[0]);
        if ab.as_ref() == Ok(&want) && ba.as_ref() == Ok(&want.reverse()) {
            passed += 1;
        } else {
            failures.push(format!("{file}:{}: {line}  → {ab:?} / {ba:?}", n + 1));
        }
    }
    (passed, failures)
}

fn check(scheme: Scheme, files: &[(&str, usize)]) {
    let mut all = Vec::new();
    for (file, expected) in files {
        let (passed, failures) = run(scheme, file);
        if fixtures().is_none() {
            return;
        }
        eprintln!(
            "versions: {} {file}: {passed}/{expected} comparisons agree (both directions)",
            scheme.name()
        );
        if failures.is_empty() {
            assert_eq!(passed, *expected, "{file}: comparison count");
        }
        all.extend(failures);
    }
    assert!(
        all.is_empty(),
        "{} disagree:\n{}",
        all.len(),
        all.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn semver_vectors() {
    check(Scheme::SemVer, &[("semver-versions.txt", 86)]);
}

#[test]
fn debian_vectors() {
    check(
        Scheme::Debian,
        &[
            ("debian-versions.txt", 30),
            ("debian-versions-generated.txt", 14_442),
        ],
    );
}

#[test]
fn pypi_vectors() {
    check(
        Scheme::Pep440,
        &[
            ("pypi-versions.txt", 37),
            ("pypi-versions-generated.txt", 12_375),
        ],
    );
}

#[test]
fn maven_vectors() {
    check(
        Scheme::Maven,
        &[
            ("maven-versions.txt", 102),
            ("maven-versions-generated.txt", 14_752),
        ],
    );
}

#[test]
fn alpine_vectors() {
    check(
        Scheme::Alpine,
        &[
            ("alpine-versions.txt", 49),
            ("alpine-versions-generated.txt", 13_979),
        ],
    );
}

#[test]
fn redhat_vectors() {
    check(Scheme::Rpm, &[("redhat-versions.txt", 165)]);
}

#[test]
fn cran_vectors() {
    check(
        Scheme::Cran,
        &[
            ("cran-versions.txt", 21),
            ("cran-versions-generated.txt", 57),
        ],
    );
}

/// The real OSV exports (crates.io, Go, PyPI) and KEV import completely and match known cases.
#[test]
fn real_osv_data_imports_and_matches_known_cases() {
    use mamori_inspect::db::AdvisoryDb;
    use mamori_inspect::inventory::Package;
    use mamori_inspect::matcher::match_package;

    let Some(dir) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut db = AdvisoryDb::open(&tmp.path().join("adv.db")).unwrap();
    let mut total = 0;
    for (zip, want) in [("crates.io", 1206), ("Go", 4291), ("PyPI", 2661)] {
        let r = db
            .import(&dir.join("osv").join(zip).join("all.zip"))
            .unwrap();
        assert!(r.rejected.is_empty(), "{zip}: {:?}", r.rejected);
        assert_eq!(r.added + r.withdrawn, want, "{zip}: every advisory read");
        total += want;
        let again = db
            .import(&dir.join("osv").join(zip).join("all.zip"))
            .unwrap();
        assert_eq!(
            again.unchanged, want,
            "{zip}: importing again changes nothing"
        );
    }
    let kev = db
        .import(&dir.join("osv/kev/known_exploited_vulnerabilities.json"))
        .unwrap();
    assert_eq!(kev.kev, 1404);
    let pkg = |eco: &str, name: &str, version: &str| Package {
        name: name.into(),
        version: version.into(),
        ecosystem: eco.into(),
        purl: String::new(),
        file_path: "test".into(),
        package_manager: "TEST".into(),
        source_name: None,
        source_version: None,
        arch: None,
        source_layer: None,
    };
    let cases = [
        (
            pkg("crates.io", "smallvec", "0.6.9"),
            "RUSTSEC-2019-0009",
            Some("0.6.10"),
        ),
        (
            pkg("crates.io", "time", "0.1.43"),
            "RUSTSEC-2020-0071",
            Some("0.2.0"),
        ),
        (
            pkg("PyPI", "Jinja2", "2.10"),
            "PYSEC-2019-217",
            Some("2.10.1"),
        ),
        (
            pkg("Go", "stdlib", "1.20.0"),
            "GO-2023-1621",
            Some("1.20.2"),
        ),
    ];
    for (p, id, fixed) in cases {
        let mut warnings = Vec::new();
        let found = match_package(&db, &p, &mut warnings).unwrap();
        let m = found
            .iter()
            .find(|m| m.advisory.id == id)
            .unwrap_or_else(|| panic!("{} {} should match {id}", p.name, p.version));
        assert_eq!(m.fixed.as_deref(), fixed, "{id}");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(found.iter().all(|m| m.advisory.withdrawn.is_none()));
    }
    // Fixed versions match nothing of those advisories.
    let mut w = Vec::new();
    let none = match_package(&db, &pkg("crates.io", "smallvec", "1.13.2"), &mut w).unwrap();
    assert!(none.iter().all(|m| m.advisory.id != "RUSTSEC-2019-0009"));
    eprintln!("osv: {total} advisories + 1404 KEV entries imported; known cases match");
}
