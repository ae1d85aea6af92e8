//! The HTTP client: finds the server and key (flags > environment > profile) and turns the API's
//! `{"error":{…}}` answers into messages with exit codes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use crate::{Exit, Remote};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7878";

#[derive(Deserialize, Default)]
struct ProfileFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Profile {
    endpoint: Option<String>,
    key: Option<String>,
    account: Option<String>,
}

pub fn profile_path() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("XDG_CONFIG_HOME")
        && !dir.is_empty()
    {
        return Some(PathBuf::from(dir).join("mamori/config.toml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/mamori/config.toml"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn load_profile(name: &str, explicit: bool) -> anyhow::Result<Profile> {
    let Some(path) = profile_path() else {
        return Ok(Profile::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Profile::default());
        }
        Err(e) => return Err(Exit(2, format!("cannot read {}: {e}", path.display())).into()),
    };
    let file: ProfileFile = toml::from_str(&text)
        .map_err(|e| Exit(2, format!("{} is not valid: {e}", path.display())))?;
    match file.profiles.get(name) {
        Some(p) => Ok(p.clone()),
        None if explicit => Err(Exit(
            2,
            format!("no profile [profiles.{name}] in {}", path.display()),
        )
        .into()),
        None => Ok(Profile::default()),
    }
}

pub struct Client {
    http: reqwest::Client,
    pub base: String,
    key: String,
    account: Option<String>,
}

impl Client {
    pub fn from_remote(r: &Remote) -> anyhow::Result<Self> {
        let explicit = r.profile.is_some() || env("MAMORI_PROFILE").is_some();
        let name = r
            .profile
            .clone()
            .or_else(|| env("MAMORI_PROFILE"))
            .unwrap_or_else(|| "default".into());
        let p = load_profile(&name, explicit)?;
        let base = r
            .endpoint
            .clone()
            .or_else(|| env("MAMORI_ENDPOINT"))
            .or(p.endpoint)
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        let key = r.key.clone().or_else(|| env("MAMORI_KEY")).or(p.key).ok_or_else(|| {
            Exit(
                2,
                "no API key: pass --key, set MAMORI_KEY, or add `key = \"…\"` under [profiles.default] in ~/.config/mamori/config.toml \
                 (the first `mamori serve` printed an admin key)"
                    .into(),
            )
        })?;
        let account = r
            .account
            .clone()
            .or_else(|| env("MAMORI_ACCOUNT"))
            .or(p.account);
        // Checked here so the error names the flag (or variable) the user wrote, not the header.
        if let Some(a) = &account
            && a.parse::<mamori_core::AccountId>().is_err()
        {
            return Err(crate::usage(format!(
                "--account (or MAMORI_ACCOUNT, or the profile's account) {:?} is not a 12-digit account id",
                crate::output::sanitize(a)
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("mamori-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
            account,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(a) = &self.account {
            b = b.header("x-mamori-account", a);
        }
        b
    }

    async fn send(&self, b: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = b.send().await.map_err(|e| Exit(3, format!("cannot reach the mamori server at {}: {e} (is `mamori serve` running? set --endpoint)", self.base)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the server's answer")?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("the server's answer is not JSON (HTTP {status})"));
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
        let code = if status.is_client_error() { 2 } else { 3 };
        Err(Exit(code, format!("{message} (HTTP {})", status.as_u16())).into())
    }

    pub async fn get(&self, path: &str, query: &[(String, String)]) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::GET, path).query(query))
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    /// Every page of a list call: follows `nextToken` and gathers `items_key` of each answer.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(String, String)],
        items_key: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let mut q = query.to_vec();
        let mut all = Vec::new();
        loop {
            let v = self.get(path, &q).await?;
            all.extend(v[items_key].as_array().cloned().unwrap_or_default());
            match v["nextToken"].as_str() {
                Some(t) => {
                    q.retain(|(k, _)| k != "nextToken");
                    q.push(("nextToken".into(), t.to_string()));
                }
                None => return Ok(all),
            }
        }
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::PUT, path).json(body))
            .await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::PATCH, path).json(body))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> anyhow::Result<Value> {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

/// One path segment of an API URL, percent-encoded (RFC 3986: everything but unreserved
/// characters), so a name with a space, `/`, `?` or `#` reaches the server as that name. Query
/// values use `form_urlencoded` instead, where `+` means a space.
pub fn segment(s: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

#[cfg(test)]
mod segment_tests {
    #[test]
    fn names_reach_the_server_as_written() {
        assert_eq!(super::segment("my list"), "my%20list");
        assert_eq!(super::segment("a/b?c#d+e"), "a%2Fb%3Fc%23d%2Be");
        assert_eq!(super::segment("ok-._~1"), "ok-._~1");
    }
}
