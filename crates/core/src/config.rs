//! Configuration: one typed struct drives the TOML file, the environment and the docs.
//!
//! Precedence: command-line flags > `MAMORI_*` environment > config file > defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: String,
    /// Directory holding every database mamori keeps (created if missing).
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub trail: TrailConfig,
    /// Detection thresholds and windows (`[guard]`), read by the guard service.
    pub guard: toml::Table,
}

/// The operator's walls (`[server]`): what tenants may make the server write to or call, and
/// how much a client may hold of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The folder every local trail and publishing destination lives under, each account in
    /// its own `<12-digit account>/` folder. Default: `<data_dir>/destinations`.
    pub destinations_root: Option<PathBuf>,
    /// S3 destinations tenants may name: `bucket` (any prefix) or `bucket/prefix`. Empty: none.
    /// The server writes with its own (the operator's) credentials, so this list is the wall.
    pub s3_destinations: Vec<String>,
    /// Let webhooks call loopback, private, link-local and other non-public addresses.
    pub allow_private_webhooks: bool,
    /// Seconds a client has to send a request's headers; an idle connection is closed after it.
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    pub body_read_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The key-encryption key sealing secrets at rest (64 hex digits, mode 0400; created on
    /// first start). `MAMORI_KEK` in the environment takes its place. Default:
    /// `<data_dir>/kek.key` — keep it elsewhere (and out of the data dir's backups) in
    /// production. See `mamori_core::seal` for rotation.
    pub kek_file: Option<PathBuf>,
    /// Key files of earlier key-encryption keys, during a rotation.
    pub previous_kek_files: Vec<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            destinations_root: None,
            s3_destinations: Vec::new(),
            allow_private_webhooks: false,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 60,
            max_connections: 512,
            kek_file: None,
            previous_kek_files: Vec::new(),
        }
    }
}

impl Config {
    /// `[server] kek_file`, or `<data_dir>/kek.key`.
    pub fn kek_file(&self) -> PathBuf {
        self.server
            .kek_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("kek.key"))
    }

    /// `[server] destinations_root`, or `<data_dir>/destinations`.
    pub fn destinations_root(&self) -> PathBuf {
        self.server
            .destinations_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("destinations"))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrailConfig {
    /// Days of event history kept, counted on eventTime; older days are dropped whole.
    /// 0 keeps everything.
    pub retention_days: u32,
    /// Largest accepted record, in bytes (CloudTrail's limit is 256 KB).
    pub max_event_bytes: usize,
    /// Most events accepted in one ingest request; more is answered 413.
    pub max_batch_events: usize,
    /// Largest request body after decompression, in bytes; more is answered 413.
    pub max_body_bytes: usize,
    /// The region mamori's own events are recorded in: its self-audit events and channel
    /// events (`awsRegion`), and so the region their trail files are delivered under.
    pub region: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            data_dir: PathBuf::from("./mamori-data"),
            server: ServerConfig::default(),
            trail: TrailConfig::default(),
            guard: toml::Table::new(),
        }
    }
}

impl Default for TrailConfig {
    fn default() -> Self {
        Self {
            retention_days: 90,
            max_event_bytes: 256 * 1024,
            max_batch_events: 10_000,
            max_body_bytes: 64 * 1024 * 1024,
            region: "us-east-1".into(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_keeps_defaults() {
        let c: Config = toml::from_str("[trail]\nretention_days = 7\n").unwrap();
        assert_eq!(c.trail.retention_days, 7);
        assert_eq!(c.trail.max_event_bytes, 256 * 1024);
        assert_eq!(c.listen, "127.0.0.1:7878");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("[trail]\nretention = 7\n").is_err());
    }
}
