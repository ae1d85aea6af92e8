//! Detection thresholds and windows: the `[guard]` section of `mamori.toml` (or `--config` for
//! the offline hunt). Every number a detector compares against lives here, not in code.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// The window flow and DNS detectors count in, in seconds.
    pub window_seconds: i64,
    /// SSH/RDP brute force: connection attempts from one address to one instance in a window.
    pub brute_force_min_attempts: usize,
    /// Port scan: distinct ports one instance contacts on one remote host in a window.
    pub portscan_min_ports: usize,
    /// Port sweep: distinct instances one remote address probes on one port in a window.
    pub portsweep_min_hosts: usize,
    /// Unprotected-port probe: accepted inbound connections from distinct public addresses to
    /// one sensitive port of an instance in a window.
    pub probe_min_sources: usize,
    /// Ports whose exposure a probe finding is about (9200 and 9300 are High).
    pub probe_ports: Vec<u16>,
    /// Crypto-mining protocol ports (Bitcoin P2P, Stratum pools).
    pub crypto_ports: Vec<u16>,
    /// Unusual port: flows an instance must have shown before a new remote port is unusual.
    pub unusual_port_baseline_flows: usize,
    /// DNS exfiltration: distinct long labels under one domain from one source in a window.
    pub exfil_min_queries: usize,
    /// DNS exfiltration: a label at least this long counts.
    pub exfil_min_label_len: usize,
    /// DGA: a second-level label scoring at least this (0–1; entropy, consonant runs, digits).
    pub dga_min_score: f64,
    /// DGA: labels shorter than this are never scored.
    pub dga_min_len: usize,
    /// The account's instance networks (CIDR), for InstanceCredentialExfiltration.OutsideAWS.
    pub instance_networks: Vec<String>,
    /// Sigma rule files or folders the server runs over every enabled account's audit events.
    pub sigma_rules: Vec<std::path::PathBuf>,
    /// Updates of published findings (a higher count) are published again at most this often
    /// (GuardDuty offers 15, 60 and 360 minutes).
    pub publish_updates_minutes: i64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            window_seconds: 600,
            brute_force_min_attempts: 20,
            portscan_min_ports: 50,
            portsweep_min_hosts: 20,
            probe_min_sources: 5,
            probe_ports: vec![
                22, 23, 445, 1433, 3306, 3389, 5432, 5900, 6379, 9200, 9300, 11211, 27017,
            ],
            crypto_ports: vec![3333, 4444, 5555, 7777, 8333, 14444, 45700],
            unusual_port_baseline_flows: 200,
            exfil_min_queries: 30,
            exfil_min_label_len: 40,
            dga_min_score: 0.75,
            dga_min_len: 10,
            instance_networks: Vec::new(),
            sigma_rules: Vec::new(),
            publish_updates_minutes: 15,
        }
    }
}

impl GuardConfig {
    pub fn from_table(t: &toml::Table) -> Result<Self, String> {
        toml::Value::Table(t.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("[guard]: {e}"))
    }

    pub fn networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.instance_networks
            .iter()
            .map(|n| {
                n.parse()
                    .map_err(|e| format!("[guard] instance_networks {n:?}: {e}"))
            })
            .collect()
    }
}
