//! The `mamori` command line against a real server and a real data dir.

mod common;

use std::process::Command;

use common::{Server, bin, gzip, record};
use serde_json::{Value, json};

fn mamori(s: &Server) -> Command {
    let mut c = Command::new(bin());
    c.env("MAMORI_ENDPOINT", &s.url)
        .env("MAMORI_KEY", &s.key)
        .env("HOME", s.dir.path())
        .env_remove("MAMORI_PROFILE");
    c
}

fn write_tree(dir: &std::path::Path) {
    let logs = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/01");
    std::fs::create_dir_all(&logs).unwrap();
    let body = json!({"Records": [record("f1", "CreateRole", "2026-11-01T10:00:00Z"), record("f2", "DeleteRole", "2026-11-01T10:05:00Z")]});
    std::fs::write(
        logs.join("111122223333_CloudTrail_us-east-1_20261101T1010Z_abcdefghijklmnop.json.gz"),
        gzip(body.to_string().as_bytes()),
    )
    .unwrap();
    std::fs::write(
        logs.join("111122223333_CloudTrail_us-east-1_20261101T1015Z_bcdefghijklmnopq.json"),
        json!({"Records": [record("f3", "ListRoles", "2026-11-01T10:10:00Z")]}).to_string(),
    )
    .unwrap();
    let digests = dir.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/01");
    std::fs::create_dir_all(&digests).unwrap();
    std::fs::write(
        digests
            .join("111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261101T110000Z.json.gz"),
        gzip(b"{\"logFiles\":[]}"),
    )
    .unwrap();
}

#[test]
fn import_a_tree_through_the_server_then_look_up() {
    let s = Server::start();
    let tree = tempfile::tempdir().unwrap();
    write_tree(tree.path());
    let out = mamori(&s)
        .args(["trail", "import"])
        .arg(tree.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "2 files (0 unreadable, 1 digest files skipped): 3 accepted, 0 duplicate, 0 rejected"
        ),
        "{stdout}"
    );

    // Again: all duplicates, still success.
    let out = mamori(&s)
        .args(["trail", "import", "--format", "json"])
        .arg(tree.path())
        .output()
        .unwrap();
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["accepted"].as_u64(), last["duplicate"].as_u64()),
        (Some(0), Some(3))
    );

    let out = mamori(&s)
        .args([
            "trail",
            "lookup",
            "--attr",
            "Username=alice",
            "--max-results",
            "2",
            "--all",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = common::event_ids(&v);
    assert_eq!(ids, ["f3", "f2", "f1"]);

    let out = mamori(&s)
        .args(["trail", "lookup", "--attr", "EventName=CreateRole"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.starts_with("EVENT TIME") && table.contains("CreateRole") && table.contains("f1"),
        "{table}"
    );

    let out = mamori(&s)
        .args(["trail", "lookup", "--attr", "Nope=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown lookup attribute"));
}

#[test]
fn import_reports_rejections_and_exits_non_zero() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = json!({"Records": [record("g1", "X", "2026-11-01T00:00:00Z"), {"eventID": "g2", "eventName": "X"}]});
    std::fs::write(dir.path().join("a.json"), bad.to_string()).unwrap();
    std::fs::write(dir.path().join("b.json.gz"), b"\x1f\x8b\x08\x00garbage").unwrap();
    std::fs::write(dir.path().join("c.json"), "{\"Records\": [").unwrap();
    let out = mamori(&s)
        .args(["trail", "import"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("gzip data is truncated or corrupt"),
        "{stdout}"
    );
    assert!(stdout.contains("not valid JSON at line 1"), "{stdout}");
    assert!(
        stderr.contains("a.json event #1 (g2): eventTime is missing"),
        "{stderr}"
    );
}

#[test]
fn import_into_a_data_dir_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let tree = tempfile::tempdir().unwrap();
    write_tree(tree.path());
    let data = dir.path().join("data");
    std::fs::write(dir.path().join("m.toml"), "[trail]\nretention_days = 0\n").unwrap();
    let out = Command::new(bin())
        .args(["trail", "import", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(dir.path().join("m.toml"))
        .arg(tree.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 accepted"));
    // A server on that data dir then serves what was imported.
    std::fs::write(
        dir.path().join("mamori.toml"),
        "[trail]\nretention_days = 0\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(dir.path().join("m.toml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While it runs, a direct import is refused: one process per data dir.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = Command::new(bin())
        .args(["trail", "import", "--data-dir"])
        .arg(&data)
        .arg(tree.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("another mamori process is using data directory")
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn keys_accounts_and_a_clear_error_without_a_key() {
    let s = Server::start();
    let out = mamori(&s)
        .args([
            "org", "keys", "create", "deploy", "--role", "writer", "--format", "json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key"]["role"], "writer");
    let out = mamori(&s).args(["org", "keys", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("deploy") && !list.contains(v["secret"].as_str().unwrap()),
        "{list}"
    );
    let out = mamori(&s)
        .args(["org", "accounts", "create", "team-a"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Created account"));
    let out = mamori(&s)
        .args(["org", "accounts", "list", "--format", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["accounts"].as_array().unwrap().len(), 2);

    let out = Command::new(bin())
        .args(["trail", "lookup"])
        .env_remove("MAMORI_KEY")
        .env("HOME", s.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API key"));

    // A profile in ~/.config/mamori/config.toml is enough.
    let cfg = s.dir.path().join(".config/mamori");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        format!(
            "[profiles.default]\nendpoint = \"{}\"\nkey = \"{}\"\n",
            s.url, s.key
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["org", "whoami", "--format", "json"])
        .env_remove("MAMORI_KEY")
        .env_remove("MAMORI_ENDPOINT")
        .env("HOME", s.dir.path())
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_first_start_prints_the_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700));
        Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "graceful stop on SIGTERM: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run();
    assert!(
        first.contains("Admin API key (shown only this once"),
        "{first}"
    );
    let second = run();
    assert!(!second.contains("Admin API key"), "{second}");
}
