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
    /// The organization's accounts, for the offline hunt ("outside the organization" means
    /// outside these, `trusted_accounts` and the account of the event). The server knows its
    /// organization's accounts and ignores this.
    pub organization_accounts: Vec<String>,
    /// Accounts outside the organization that are trusted all the same (vendors, partners).
    pub trusted_accounts: Vec<String>,
    /// The window curated bursts count in, in seconds.
    pub burst_window_seconds: i64,
    /// Enumeration: distinct read-only APIs one principal calls in a window.
    pub discovery_min_apis: usize,
    /// Permission probing: distinct APIs refusing one principal in a window.
    pub denied_min_apis: usize,
    /// Bulk secret and decrypted-parameter reads: distinct secrets or parameters in a window.
    pub bulk_secrets_min: usize,
    /// Instance passwords retrieved: distinct instances in a window.
    pub password_data_min: usize,
    /// Instance user data read: distinct instances in a window.
    pub user_data_min: usize,
    /// SES enumeration: distinct SES read APIs in a window.
    pub ses_min_apis: usize,
    /// Mass deletion: distinct objects one principal deletes in a window.
    pub deletion_min_objects: usize,
    /// Ransomware by SSE-C: distinct objects rewritten with a customer key in a window.
    pub sse_c_min_objects: usize,
    /// Lateral movement: distinct instances entered (sessions, commands, keys) in a window.
    pub instance_access_min: usize,
    /// Mass termination: distinct instances terminated in a window.
    pub termination_min: usize,
    /// Console brute force: failed sign-ins for one user or from one address in a window.
    pub console_failures_min: usize,
    /// LLM-jacking: model invocations by one user's long-term keys in a window.
    pub model_invocations_min: usize,
    /// Enumeration from an instance: distinct read-only APIs one instance's role calls.
    pub instance_discovery_min_apis: usize,
    /// How long an instance's role credentials are watched for a second address, in seconds.
    pub instance_credentials_window_seconds: i64,
    /// Bucket enumeration: distinct buckets one principal lists or probes in a window.
    pub bucket_enumeration_min: usize,
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
            organization_accounts: Vec::new(),
            trusted_accounts: Vec::new(),
            burst_window_seconds: 600,
            discovery_min_apis: 30,
            denied_min_apis: 10,
            bulk_secrets_min: 5,
            password_data_min: 3,
            user_data_min: 5,
            ses_min_apis: 3,
            deletion_min_objects: 50,
            sse_c_min_objects: 20,
            instance_access_min: 5,
            termination_min: 10,
            console_failures_min: 10,
            model_invocations_min: 100,
            instance_discovery_min_apis: 10,
            instance_credentials_window_seconds: 6 * 3600,
            bucket_enumeration_min: 20,
        }
    }
}

impl GuardConfig {
    pub fn from_table(t: &toml::Table) -> Result<Self, String> {
        toml::Value::Table(t.clone())
            .try_into()
            .map_err(|e: toml::de::Error| format!("[guard]: {e}"))
    }

    /// The accounts the offline hunt knows: `organization_accounts` and `trusted_accounts`,
    /// each checked to be a 12-digit account id.
    pub fn known_accounts(&self) -> Result<crate::curated::KnownAccounts, String> {
        let mut all = Vec::new();
        for (key, list) in [
            ("organization_accounts", &self.organization_accounts),
            ("trusted_accounts", &self.trusted_accounts),
        ] {
            for a in list {
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("[guard] {key}: {a:?} is not a 12-digit account id"));
                }
                all.push(a.clone());
            }
        }
        Ok(crate::curated::KnownAccounts::new(all))
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
