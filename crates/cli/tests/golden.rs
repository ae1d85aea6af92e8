//! Golden files: small inputs we wrote, modelled on the real formats, and the exact output the
//! binary gives for them (`tests/testdata/<kind>/…`). Each format has a golden test that needs
//! nothing outside the repository. A run's own values (the time it ran, serial numbers, the
//! server's random account id) are masked; everything else must match byte for byte.
//!
//! After an intended change of output: `MAMORI_BLESS=1 cargo test --test golden`, then read
//! the diff of the `.out` files before committing it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(rel)
}

/// Keys whose values are the run's own (the time it ran, a fresh serial number).
const VOLATILE: &[&str] = &[
    "createdAt",
    "updatedAt",
    "created_time",
    "modified_time",
    "timestamp",
    "serialNumber",
    "created",
    "documentNamespace",
    "firstObservedAt",
    "lastObservedAt",
    "time",
];

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if VOLATILE.contains(&k.as_str()) && !x.is_null() {
                    *x = Value::String("<masked>".into());
                } else {
                    mask(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

/// JSON output (one document, or one per line) with volatile values masked, pretty-printed.
fn normalize(stdout: &str) -> String {
    let docs: Vec<Value> = match serde_json::from_str::<Value>(stdout) {
        Ok(v) => vec![v],
        Err(_) => stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
            .collect(),
    };
    let mut out = String::new();
    for mut d in docs {
        mask(&mut d);
        out.push_str(&serde_json::to_string_pretty(&d).unwrap());
        out.push('\n');
    }
    out
}

/// Compares `got` with the golden file, or writes it when blessing.
fn check(golden: &Path, got: &str) {
    if std::env::var_os("MAMORI_BLESS").is_some() {
        std::fs::write(golden, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with MAMORI_BLESS=1 cargo test --test golden",
            golden.display()
        )
    });
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
        panic!(
            "{} differs at line {}:\n  want: {}\n  got:  {}\n(MAMORI_BLESS=1 rewrites it after an intended change)",
            golden.display(),
            line + 1,
            want.lines().nth(line).unwrap_or("<end>"),
            got.lines().nth(line).unwrap_or("<end>")
        );
    }
}

/// Runs the binary without any `MAMORI_*` setting of the caller's (help shows set values) and
/// without a terminal width.
fn run(args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String, String) {
    let mut c = Command::new(common::bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MAMORI_") || k == "COLUMNS" {
            c.env_remove(k);
        }
    }
    let o = c
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn hunt_findings_in_guardduty_and_ocsf_shape() {
    for name in ["stealth.json", "vpcflow.log"] {
        let input = testdata(&format!("hunt/{name}"));
        let input = input.to_str().unwrap();
        for (format, suffix) in [("json", "json.out"), ("ocsf", "ocsf.out")] {
            let (code, out, err) = run(&["guard", "hunt", input, "--format", format], &[]);
            // Exit 1: findings at or above the default minimum severity.
            assert!(
                matches!(code, Some(0 | 1)),
                "{name} {format}: {code:?} {err}"
            );
            let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
            check(
                &testdata(&format!("hunt/{stem}.{suffix}")),
                &normalize(&out),
            );
        }
    }
}

#[test]
fn scans_of_lockfiles_in_every_output_format() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("advisories.db");
    let (code, _, err) = run(
        &[
            "inspect",
            "db",
            "import",
            "--db",
            db.to_str().unwrap(),
            testdata("scan/advisories").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    for case in ["rust-app", "node-app"] {
        // Scanned from inside its folder, so paths in the output are the same on every machine.
        for (format, suffix) in [
            ("json", "json.out"),
            ("cyclonedx", "cyclonedx.out"),
            ("spdx", "spdx.out"),
            ("sarif", "sarif.out"),
        ] {
            let o = Command::new(common::bin())
                .current_dir(testdata("scan"))
                .args(["inspect", "scan", case, "--format", format, "--db"])
                .arg(&db)
                .env_remove("MAMORI_ENDPOINT")
                .output()
                .unwrap();
            assert_eq!(
                o.status.code(),
                Some(0),
                "{case} {format}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            check(
                &testdata(&format!("scan/{case}.{suffix}")),
                &normalize(&String::from_utf8_lossy(&o.stdout)),
            );
        }
    }
}

#[test]
fn lookup_answers_for_an_imported_log_file() {
    let server = common::Server::start();
    let records = testdata("lookup/records.json");
    let (code, out) = server.cli(&["trail", "import", records.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let account = server.account();
    for (name, args) in [
        ("all", vec![]),
        ("alice", vec!["--attr", "Username=alice"]),
        ("writes", vec!["--attr", "ReadOnly=false"]),
    ] {
        let mut a = vec![
            "trail",
            "lookup",
            "--format",
            "json",
            "--start",
            "2026-10-01T00:00:00Z",
            "--end",
            "2026-11-30T00:00:00Z",
        ];
        a.extend(args);
        let (code, out) = server.cli(&a);
        assert_eq!(code, Some(0), "{name}: {out}");
        check(
            &testdata(&format!("lookup/{name}.out")),
            &normalize(&out).replace(&account, "<account>"),
        );
    }
}

/// Subcommand names listed under "Commands:" in a help text (without `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            let Some(rest) = line.strip_prefix("  ") else {
                break;
            };
            if rest.starts_with(' ') {
                continue; // a wrapped description
            }
            match rest.split_whitespace().next() {
                Some("help") | None => {}
                Some(name) => out.push(name.to_string()),
            }
        }
    }
    out
}

/// Every command's `--help`, in one file: the README and the docs quote these, and a change
/// of a flag or a description shows up as a diff to review.
#[test]
fn help_of_every_command() {
    let mut all = String::new();
    let mut queue: std::collections::VecDeque<Vec<String>> = [Vec::new()].into();
    while let Some(path) = queue.pop_front() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, out, err) = run(&args, &[]);
        assert_eq!(code, Some(0), "mamori {}: {err}", args.join(" "));
        all.push_str(&format!("$ mamori {}\n{out}\n", args.join(" ")));
        for sub in subcommands(&out) {
            let mut p = path.clone();
            p.push(sub);
            queue.push_back(p);
        }
    }
    // Defaults read from the environment or the home folder differ between machines.
    let home = std::env::var("HOME").unwrap_or_default();
    let all = if home.is_empty() {
        all
    } else {
        all.replace(&home, "~")
    };
    check(&testdata("help.out"), &all);
}
