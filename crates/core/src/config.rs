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
    pub trail: TrailConfig,
    /// Detection thresholds and windows (`[guard]`), read by the guard service.
    pub guard: toml::Table,
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            data_dir: PathBuf::from("./mamori-data"),
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
