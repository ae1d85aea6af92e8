//! The hostile-tenant suite: what an admin of any account may send to make the server write,
//! call or hold what it should not. Each case was accepted once; each now gets a 4xx with the
//! JSON error shape, and nothing is written or called.

mod common;

use common::Server;
use serde_json::{Value, json};

fn put(s: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    common::status_json(
        s.req(reqwest::Method::PUT, path, Some(key))
            .body(body.to_string())
            .send()
            .unwrap(),
    )
}

fn assert_json_error(st: u16, v: &Value, want: u16, what: &str) {
    assert_eq!(st, want, "{what}: {v}");
    assert!(
        v["error"]["message"].is_string() && v["error"]["code"].is_string(),
        "{what}: the JSON error shape: {v}"
    );
}

#[test]
fn trail_destinations_outside_the_accounts_folder_are_refused() {
    let s = Server::start();
    let member = s.create_account("tenant");
    let member_key = s.create_key(&s.key, Some(&member), "tenant-admin", "admin");
    // The other account's folder, written as an absolute path.
    let theirs = s.dest_dir("x");
    let theirs = theirs.to_str().unwrap();
    let link_home = s.data_dir().join("destinations").join(&member);
    std::fs::create_dir_all(&link_home).unwrap();
    std::os::unix::fs::symlink("/etc", link_home.join("escape")).unwrap();
    let hostile = [
        "/etc",
        "../../etc",
        "/proc/self",
        "file:///",
        "file:///etc",
        "ftp://x/y",
        "\\\\server\\share",
        "escape",
        "escape/deeper",
        "a/../../..",
        theirs,
    ];
    for (i, d) in hostile.iter().enumerate() {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": format!("t{i}-x"), "destination": d}).to_string(),
        );
        assert_json_error(st, &v, 400, d);
        assert!(
            v["error"]["message"].as_str().unwrap().contains("refused"),
            "{d}: {v}"
        );
    }
    assert!(
        !std::path::Path::new("ftp:").exists(),
        "no folder named after a scheme"
    );
    // A folder name is kept in the account's own folder.
    let (st, v) = s.post(
        "/v1/trail/trails",
        &member_key,
        json!({"name": "mine", "destination": "trails/mine"}).to_string(),
    );
    assert_eq!(st, 201, "{v}");
    // Key prefixes and names with control characters are refused on create, not at delivery.
    for kp in ["a\u{0}b", "../x", "a\\b"] {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": "kp-trail", "destination": "kp", "keyPrefix": kp}).to_string(),
        );
        assert_json_error(st, &v, 400, kp);
    }
}

#[test]
fn two_accounts_may_not_share_an_s3_prefix() {
    let s = Server::start_with(
        "[server]\ns3_destinations = [\"shared-bucket\"]\n\n[trail]\nretention_days = 0\n",
    );
    let member = s.create_account("tenant");
    let member_key = s.create_key(&s.key, Some(&member), "tenant-admin", "admin");
    let (st, v) = s.post(
        "/v1/trail/trails",
        &s.key,
        json!({"name": "main", "destination": "s3://shared-bucket/audit"}).to_string(),
    );
    assert_eq!(st, 201, "{v}");
    for (dest, kp) in [
        ("s3://shared-bucket/audit", ""),
        ("s3://shared-bucket", "audit"),
        ("s3://shared-bucket", ""),
        ("s3://shared-bucket/audit/deeper", ""),
    ] {
        let (st, v) = s.post(
            "/v1/trail/trails",
            &member_key,
            json!({"name": "theirs", "destination": dest, "keyPrefix": kp}).to_string(),
        );
        assert_json_error(st, &v, 409, dest);
    }
    let (st, v) = s.post(
        "/v1/trail/trails",
        &member_key,
        json!({"name": "theirs", "destination": "s3://shared-bucket/tenant"}).to_string(),
    );
    assert_eq!(st, 201, "a prefix of its own: {v}");
    // Not by an update either.
    let (st, v) = common::status_json(
        s.req(
            reqwest::Method::PATCH,
            "/v1/trail/trails/theirs",
            Some(&member_key),
        )
        .body(json!({"destination": "s3://shared-bucket/audit"}).to_string())
        .send()
        .unwrap(),
    );
    assert_json_error(st, &v, 409, "update");
}

#[test]
fn publishing_targets_are_confined() {
    let s = Server::start();
    for url in mamori_dest::outbound::EXAMPLES_REFUSED
        .iter()
        .chain(&["http://user:pass@example.com/hook", "ftp://example.com/x"])
    {
        let (st, v) = put(
            &s,
            "/v1/guard/publishing",
            &s.key,
            json!({"webhookUrl": url, "secret": "0123456789abcdef0123"}),
        );
        assert_json_error(st, &v, 400, url);
    }
    for d in [
        "/etc",
        "../../etc",
        "ftp://x/y",
        "file:///",
        "s3://any-bucket/x",
    ] {
        let (st, v) = put(
            &s,
            "/v1/guard/publishing",
            &s.key,
            json!({ "destination": d }),
        );
        assert_json_error(st, &v, 400, d);
    }
    let (st, v) = put(
        &s,
        "/v1/guard/publishing",
        &s.key,
        json!({ "destination": "findings" }),
    );
    assert_eq!(st, 200, "{v}");
}

#[test]
fn private_webhooks_are_called_when_the_operator_allows_them() {
    let s = Server::start_with(
        "[server]\nallow_private_webhooks = true\n\n[trail]\nretention_days = 0\n",
    );
    let (st, v) = put(
        &s,
        "/v1/guard/publishing",
        &s.key,
        json!({"webhookUrl": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef0123"}),
    );
    assert_eq!(st, 200, "{v}");
}

/// Peak resident memory of a process (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn gzip_of_zeros(inflated: usize) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b'0'; 1 << 20];
    let mut left = inflated;
    while left > 0 {
        let n = left.min(chunk.len());
        e.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    e.finish().unwrap()
}

#[test]
fn idle_connections_are_closed_and_capped() {
    use std::io::Read;
    let s = Server::start_with(
        "[server]\nheader_read_timeout_secs = 1\nmax_connections = 16\n\n[trail]\nretention_days = 0\n",
    );
    let pid = s.child.id();
    let addr = s.url.trim_start_matches("http://").to_string();
    // One connection that never sends a header: closed after the timeout.
    let mut idle = std::net::TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf).unwrap_or(0);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(4),
        "an idle connection is closed after the header timeout (waited {waited:?}, read {n})"
    );
    // Many idle sockets: the server holds at most max_connections of them.
    let before = open_fds(pid);
    let held: Vec<_> = (0..300)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let during = open_fds(pid);
    println!(
        "hostile: 300 idle connections: server fds {before} -> {during}, peak RSS {:.0} MiB",
        peak_rss_mib(pid)
    );
    assert!(during <= before + 20, "fds grew from {before} to {during}");
    // The server keeps answering: idle sockets time out and make room.
    let (st, _) = s.get("/v1/org/whoami", &s.key);
    assert_eq!(st, 200);
    drop(held);
}

#[test]
fn compressed_bombs_and_bad_lines_stay_small() {
    let s = Server::start();
    let pid = s.child.id();
    let (st, v) = s.post(
        "/v1/guard/detector",
        &s.key,
        json!({"enabled": true}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    let idle = peak_rss_mib(pid);
    // ~1 MB of gzip inflating to 1.5 GiB: refused as too large, never held.
    let bomb = gzip_of_zeros(1536 << 20);
    let (st, v) = common::status_json(
        s.req(
            reqwest::Method::POST,
            "/v1/guard/sources/vpcflow",
            Some(&s.key),
        )
        .body(bomb)
        .send()
        .unwrap(),
    );
    assert_json_error(st, &v, 413, "bomb");
    let after_bomb = peak_rss_mib(pid);
    // A small body of a million bad lines: counted, the first 100 kept.
    let lines = "x\n".repeat(1_000_000);
    let (st, v) = s.post(
        "/v1/guard/sources/vpcflow",
        &s.key,
        common::gzip(lines.as_bytes()),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rejected"], 1_000_000);
    assert_eq!(v["rejectedLines"].as_array().unwrap().len(), 100);
    // A truncated gzip body: 400, saying so.
    let mut cut =
        common::gzip(b"2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK\n");
    cut.truncate(cut.len() - 5);
    let (st, v) = s.post("/v1/guard/sources/vpcflow", &s.key, cut);
    assert_json_error(st, &v, 400, "truncated");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("gzip"),
        "{v}"
    );
    // A trail ingest bomb: 413 too.
    let (st, v) = common::status_json(
        s.req(reqwest::Method::POST, "/v1/trail/events", Some(&s.key))
            .body(gzip_of_zeros(512 << 20))
            .send()
            .unwrap(),
    );
    assert_json_error(st, &v, 413, "trail bomb");
    let peak = peak_rss_mib(pid);
    println!(
        "hostile: HTTP bombs: idle {idle:.0} MiB, after a 1.5 GiB flow-log bomb {after_bomb:.0} MiB, after 1 M bad lines and a 512 MiB trail bomb {peak:.0} MiB (peak)"
    );
    assert!(peak - idle < 256.0, "peak {peak} MiB, idle {idle} MiB");
}

#[test]
fn framework_errors_have_the_json_shape() {
    let s = Server::start();
    let (st, v) = s.get("/v1/trail/events?maxResults=abc", &s.key);
    assert_json_error(st, &v, 400, "query string");
    let (st, v) = s.get("/v1/guard/findings?maxResults=abc", &s.key);
    assert_json_error(st, &v, 400, "query string (guard)");
    // One rule for maxResults everywhere: out of range is a 400, not clamped.
    for path in [
        "/v1/trail/events?maxResults=5000",
        "/v1/guard/findings?maxResults=5000",
        "/v1/inspect/findings?maxResults=0",
    ] {
        let (st, v) = s.get(path, &s.key);
        assert_json_error(st, &v, 400, path);
    }
    // Over the JSON body limit.
    let (st, v) = s.post(
        "/v1/trail/trails",
        &s.key,
        format!("{{\"name\":\"{}\"}}", "x".repeat(3 << 20)),
    );
    assert_json_error(st, &v, 413, "big body");
}

#[test]
fn a_header_given_twice_is_refused() {
    let s = Server::start();
    let member = s.create_account("tenant");
    let (st, v) = common::status_json(
        s.req(reqwest::Method::GET, "/v1/org/whoami", Some(&s.key))
            .header("x-mamori-account", &member)
            .header("x-mamori-account", s.account())
            .send()
            .unwrap(),
    );
    assert_json_error(st, &v, 400, "two account headers");
}

/// Runs the binary to its end: (exit code, output, peak RSS in MiB from the kernel's rusage).
#[allow(unsafe_code)] // getrusage, to measure a child's peak memory
fn run_measured(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, f64) {
    let child = std::process::Command::new(common::bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    // RUSAGE_CHILDREN: the largest of the waited-for children so far (this test's only child
    // of size is the one just run).
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the one it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        ru.ru_maxrss as f64 / 1024.0,
    )
}

/// A `.json.gz` of ~1 MB holding one CloudTrail record with a 1 GiB field.
fn huge_record_file(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let p = dir.join("huge.json.gz");
    let f = std::fs::File::create(&p).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    e.write_all(br#"{"Records":[{"eventVersion":"1.08","eventTime":"2026-11-28T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"huge","x":""#)
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..1024 {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(br#""}]}"#).unwrap();
    e.finish().unwrap();
    p
}

#[test]
fn a_file_holding_a_huge_record_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let huge = huge_record_file(dir.path());
    let data = dir.path().join("data");
    let (code, out, rss) = run_measured(&[
        "trail".as_ref(),
        "import".as_ref(),
        huge.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    println!(
        "hostile: trail import of a 1 GiB record in {} KB of gzip: exit {code:?}, peak RSS {rss:.0} MiB",
        std::fs::metadata(&huge).unwrap().len() / 1024
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("huge.json.gz") && out.contains("larger than"),
        "{out}"
    );
    assert!(rss < 256.0, "peak RSS {rss} MiB");
    let (code, out, rss) = run_measured(&["guard".as_ref(), "hunt".as_ref(), huge.as_os_str()]);
    println!("hostile: guard hunt of the same file: exit {code:?}, peak RSS {rss:.0} MiB");
    assert!(out.contains("larger than"), "{out}");
    assert!(rss < 256.0, "peak RSS {rss} MiB");
}

#[test]
fn secrets_at_rest_are_sealed_and_files_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start_with(
        "[server]\nallow_private_webhooks = true\n\n[trail]\nretention_days = 0\n",
    );
    let secret = "a-webhook-secret-nobody-may-read";
    let (st, v) = put(
        &s,
        "/v1/guard/publishing",
        &s.key,
        json!({"webhookUrl": "http://127.0.0.1:9/hook", "secret": secret}),
    );
    assert_eq!(st, 200, "{v}");
    let (st, v) = s.post(
        "/v1/trail/trails",
        &s.key,
        json!({"name": "main", "destination": "main", "digestSignatureAlgorithm": "Ed25519"})
            .to_string(),
    );
    assert_eq!(st, 201, "{v}");
    let (st, v) = s.post("/v1/trail/trails/main/flush", &s.key, "");
    assert_eq!(st, 200, "{v}");
    let data = s.data_dir();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data dir");
    assert_eq!(mode(&data.join("kek.key")), 0o400, "the key-encryption key");
    for entry in std::fs::read_dir(&data).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p) & 0o077, 0, "{} is private", p.display());
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the webhook secret in plaintext",
                p.display()
            );
        }
    }
    // The digest keys are sealed: every stored private key opens only with the KEK.
    let (st, v) = s.post(
        "/v1/trail/trails/main/rotate-key?region=../../x",
        &s.key,
        "",
    );
    assert_json_error(st, &v, 400, "a region that is a path");
    let (st, v) = s.post("/v1/trail/trails/main/rotate-key", &s.key, "");
    assert_eq!(st, 200, "{v}");
    let conn = rusqlite::Connection::open(data.join("trails.db")).unwrap();
    let keys: Vec<Vec<u8>> = conn
        .prepare("SELECT private_key FROM keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!keys.is_empty());
    for k in keys {
        assert!(k.starts_with(b"MSv1"), "a private key stored unsealed");
        assert!(k.len() > 32 + 4 + 8 + 12, "sealed with a tag");
    }
}

#[test]
fn large_threat_lists_fit_their_body_limit() {
    let s = Server::start();
    // 200,000 addresses, ~3 MB of JSON: over the 2 MiB default body limit that refused lists
    // meant to hold a million entries.
    let content: String = (0..200_000u32)
        .map(|i| format!("{}.{}.{}.{}\n", 11 + (i >> 16), (i >> 8) & 255, i & 255, 7))
        .collect();
    let (st, v) = s.post(
        "/v1/guard/lists",
        &s.key,
        json!({"name": "big", "kind": "THREAT", "content": content}).to_string(),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["entries"], 200_000);
    // Sinkhole and drop-point lists, as the README promises.
    for kind in ["SINKHOLE", "droppoint"] {
        let (st, v) = s.post(
            "/v1/guard/lists",
            &s.key,
            json!({"name": format!("l-{kind}"), "kind": kind, "content": "203.0.113.9\n"})
                .to_string(),
        );
        assert_eq!(st, 200, "{kind}: {v}");
    }
}
