//! Test harness: a real `mamori serve` on a free loopback port with a temp data dir.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mamori")
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub key: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::blocking::Client,
    /// Extra environment for the server process (kept across restarts).
    pub env: Vec<(String, String)>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with("[trail]\nretention_days = 0\n")
    }

    pub fn start_with(config: &str) -> Self {
        Self::start_with_env(config, Vec::new())
    }

    pub fn start_with_env(config: &str, env: Vec<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mamori.toml"), config).unwrap();
        let (child, url) = spawn(dir.path(), &env);
        let key = std::fs::read_to_string(dir.path().join("admin.key"))
            .unwrap()
            .trim()
            .to_string();
        Server {
            child,
            url,
            key,
            dir,
            http: reqwest::blocking::Client::new(),
            env,
        }
    }

    /// Starts again on the same data dir (after a kill or stop).
    pub fn restart(&mut self) {
        let (child, url) = spawn(self.dir.path(), &self.env);
        self.child = child;
        self.url = url;
    }

    /// Runs the CLI against this server (its URL and admin key, and its extra environment):
    /// (exit code, stdout + stderr).
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        let o = Command::new(bin())
            .args(args)
            .env("MAMORI_ENDPOINT", &self.url)
            .env("MAMORI_KEY", &self.key)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The account the admin key acts in (12 digits).
    pub fn account(&self) -> String {
        let (st, v) = self.get("/v1/org/whoami", &self.key);
        assert_eq!(st, 200, "{v}");
        v["accountId"].as_str().unwrap().to_string()
    }

    /// The absolute folder of a local destination named `name` by the admin key's account:
    /// `<data>/destinations/<account>/<name>` (the server's default root).
    pub fn dest_dir(&self, name: &str) -> PathBuf {
        std::fs::canonicalize(self.data_dir())
            .unwrap()
            .join("destinations")
            .join(self.account())
            .join(name)
    }

    pub fn kill9(&mut self) {
        unsafe_kill(self.child.id(), 9);
        let _ = self.child.wait();
    }

    pub fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::blocking::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.url));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r
    }

    /// POST JSON as `key`; returns (status, body).
    pub fn post(
        &self,
        path: &str,
        key: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        let resp = self
            .req(reqwest::Method::POST, path, Some(key))
            .body(body)
            .send()
            .unwrap();
        status_json(resp)
    }

    pub fn get(&self, path: &str, key: &str) -> (u16, Value) {
        status_json(
            self.req(reqwest::Method::GET, path, Some(key))
                .send()
                .unwrap(),
        )
    }

    pub fn create_key(
        &self,
        as_key: &str,
        account: Option<&str>,
        name: &str,
        role: &str,
    ) -> String {
        let mut r = self
            .req(reqwest::Method::POST, "/v1/org/keys", Some(as_key))
            .json(&json!({"name": name, "role": role}));
        if let Some(a) = account {
            r = r.header("x-mamori-account", a);
        }
        let (status, v) = status_json(r.send().unwrap());
        assert_eq!(status, 201, "{v}");
        v["secret"].as_str().unwrap().to_string()
    }

    pub fn create_account(&self, name: &str) -> String {
        let (status, v) = self.post(
            "/v1/org/accounts",
            &self.key.clone(),
            json!({"name": name}).to_string(),
        );
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Every event visible to `key`, following nextToken.
    pub fn all_events(&self, key: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/v1/trail/events?maxResults=1000{query}");
            if let Some(t) = &token {
                path.push_str(&format!("&nextToken={t}"));
            }
            let (status, v) = self.get(&path, key);
            assert_eq!(status, 200, "{v}");
            out.extend(v["events"].as_array().unwrap().iter().cloned());
            match v["nextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => return out,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn status_json(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("mamori.toml"))
        .arg("--bootstrap-key-file")
        .arg(dir.join("admin.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn unsafe_kill(pid: u32, sig: i32) {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

/// A minimal valid record.
pub fn record(id: &str, name: &str, time: &str) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accessKeyId": "AKIAEXAMPLE", "arn": "arn:aws:iam::111122223333:user/alice"},
        "eventTime": time,
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "eventID": id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "eventCategory": "Management"
    })
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The eventIDs of a lookup answer, in order.
pub fn event_ids(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventID"].as_str().unwrap().to_string())
        .collect()
}
