//! DNS query logs (Route 53 Resolver query-log JSON, one object per line) and detectors over
//! them with GuardDuty's `!DNS` finding types. As in GuardDuty, trusted lists do not silence
//! DNS findings.
//!
//! | type | fires on | severity |
//! |---|---|---|
//! | `CryptoCurrency:EC2/BitcoinTool.B!DNS` | a query for a known mining-pool domain (built in) or a subdomain of one | High 8.0 |
//! | `Backdoor:EC2/C&CActivity.B!DNS` | a query for a known command-and-control domain (the built-in canary `c2.mamori-test.invalid`) | High 8.0 |
//! | `Impact:EC2/MaliciousDomainRequest.Custom` | a query for a domain on your threat lists | Medium 5.0 |
//! | `Trojan:EC2/DropPoint!DNS` | a query for a domain on a `droppoint` list | Medium 5.0 |
//! | `Trojan:EC2/BlackholeTraffic!DNS` | an answer that is a sinkhole address (a `sinkhole` list) | Medium 5.0 |
//! | `Trojan:EC2/DGADomainRequest.C!DNS` | a second-level label of at least `dga_min_len` characters scoring ≥ `dga_min_score` (entropy, no vowels, digit mix, consonant runs) | High 8.0 |
//! | `Trojan:EC2/DNSDataExfiltration` | ≥ `exfil_min_queries` distinct labels of ≥ `exfil_min_label_len` characters under one domain from one source in a window | High 8.0 |

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::GuardConfig;
use crate::finding::Signal;
use crate::intel::{CANARY_DOMAINS, Intel, ListKind};
use crate::window::Distinct;

/// Mining pools (the registrable domains; subdomains match).
const MINING_POOLS: &[&str] = &[
    "2miners.com",
    "antpool.com",
    "btc.com",
    "c3pool.com",
    "ethermine.org",
    "f2pool.com",
    "hashvault.pro",
    "herominers.com",
    "minergate.com",
    "minexmr.com",
    "moneroocean.stream",
    "nanopool.org",
    "nicehash.com",
    "slushpool.com",
    "supportxmr.com",
    "unmineable.com",
    "viabtc.com",
    "xmrpool.eu",
    "coinhive.com",
    "mining-dutch.nl",
];

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Query {
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub vpc_id: String,
    #[serde(default)]
    pub query_timestamp: String,
    pub query_name: String,
    #[serde(default)]
    pub query_type: String,
    #[serde(default)]
    pub srcaddr: String,
    #[serde(default)]
    pub srcids: Value,
    #[serde(default)]
    pub answers: Vec<Value>,
}

/// The registrable domain, approximately: the last two labels, three under common
/// two-level suffixes (`co.uk`, `com.au`…).
pub fn registrable(name: &str) -> String {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return name;
    }
    let two_level = matches!(
        labels[n - 2],
        "co" | "com" | "net" | "org" | "gov" | "ac" | "edu"
    ) && labels[n - 1].len() == 2;
    let take = if two_level { 3 } else { 2 };
    labels[n.saturating_sub(take)..].join(".")
}

/// How much a label looks machine-generated (0–1).
pub fn dga_score(label: &str) -> f64 {
    let chars: Vec<char> = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let n = chars.len();
    if n == 0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in &chars {
        *counts.entry(c.to_ascii_lowercase()).or_insert(0usize) += 1;
    }
    let h: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    let max_h = (n.min(36) as f64).log2().max(1.0);
    let entropy = (h / max_h).min(1.0);
    let letters = chars.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let vowels = chars.iter().filter(|c| "aeiouAEIOU".contains(**c)).count();
    let vowel_ratio = if letters == 0 {
        0.0
    } else {
        vowels as f64 / letters as f64
    };
    let digits = n - letters;
    let mut run = 0;
    let mut max_run = 0;
    for c in &chars {
        if c.is_ascii_alphabetic() && !"aeiouyAEIOUY".contains(*c) {
            run += 1;
            max_run = max_run.max(run);
        } else {
            run = 0;
        }
    }
    0.35 * entropy
        + 0.25 * (1.0 - (vowel_ratio / 0.4).min(1.0))
        + 0.2 * f64::from(digits > 0 && letters > 0)
        + 0.2 * (max_run as f64 / 4.0).min(1.0)
}

pub struct DnsDetector {
    cfg: GuardConfig,
    exfil: Distinct<(String, String), String>,
}

fn time_of(q: &Query) -> (String, i64) {
    let t = chrono::DateTime::parse_from_rfc3339(&q.query_timestamp)
        .map(|d| d.timestamp())
        .unwrap_or(0);
    (q.query_timestamp.clone(), t)
}

impl DnsDetector {
    pub fn new(cfg: &GuardConfig) -> Self {
        DnsDetector {
            cfg: cfg.clone(),
            exfil: Distinct::new(cfg.window_seconds),
        }
    }

    fn signal(
        q: &Query,
        kind: &str,
        severity: f64,
        title: &str,
        description: String,
        domain: &str,
    ) -> Signal {
        let instance = q.srcids["instance"].as_str().unwrap_or("").to_string();
        let id = if instance.is_empty() {
            q.srcaddr.clone()
        } else {
            instance
        };
        Signal {
            kind: kind.into(),
            severity,
            title: title.into(),
            description,
            account: q.account_id.clone(),
            region: q.region.clone(),
            resource: json!({"resourceType": "Instance", "instanceDetails": {
                "instanceId": id, "networkInterfaces": [{"privateIpAddress": q.srcaddr, "vpcId": q.vpc_id}]}}),
            resource_key: format!("{id}|{}", q.srcaddr),
            actor: domain.to_string(),
            action: json!({"actionType": "DNS_REQUEST", "dnsRequestAction": {
                "domain": q.query_name.trim_end_matches('.'), "protocol": "UDP", "blocked": false}}),
            resource_role: "ACTOR",
            evidence: None,
            info: None,
            event_id: None,
            time: time_of(q).0,
        }
    }

    pub fn detect(&mut self, q: &Query, intel: &Intel) -> Vec<Signal> {
        let mut out = Vec::new();
        let name = q.query_name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return out;
        }
        let domain = registrable(&name);
        if MINING_POOLS
            .iter()
            .any(|p| name == *p || name.ends_with(&format!(".{p}")))
        {
            out.push(Self::signal(
                q,
                "CryptoCurrency:EC2/BitcoinTool.B!DNS",
                8.0,
                "An instance is querying a cryptocurrency mining pool.",
                format!("{} queried {name}, a mining pool.", q.srcaddr),
                &domain,
            ));
        }
        if let Some(hit) = intel.check_domain(&name) {
            let (kind, sev, title) = if hit.list.builtin
                && CANARY_DOMAINS
                    .iter()
                    .any(|c| c.starts_with("c2.") && *c == hit.entry)
            {
                (
                    "Backdoor:EC2/C&CActivity.B!DNS",
                    8.0,
                    "An instance is querying a command-and-control domain.",
                )
            } else if hit.list.kind == ListKind::DropPoint {
                (
                    "Trojan:EC2/DropPoint!DNS",
                    5.0,
                    "An instance is querying a drop point for stolen data.",
                )
            } else {
                (
                    "Impact:EC2/MaliciousDomainRequest.Custom",
                    5.0,
                    "An instance is querying a domain on a threat list.",
                )
            };
            let mut s = Self::signal(
                q,
                kind,
                sev,
                title,
                format!(
                    "{} queried {name} ({}, list {}).",
                    q.srcaddr, hit.entry, hit.list.name
                ),
                &domain,
            );
            s.evidence = Some(
                json!({"threatIntelligenceDetails": [{"threatListName": hit.list.name, "threatNames": [hit.entry]}]}),
            );
            out.push(s);
        }
        for a in &q.answers {
            if let Some(rdata) = a["Rdata"].as_str()
                && let Some(hit) = intel.sinkhole(rdata)
            {
                out.push(Self::signal(
                    q,
                    "Trojan:EC2/BlackholeTraffic!DNS",
                    5.0,
                    "An instance is querying a domain that resolves to a sinkhole.",
                    format!(
                        "{name} resolved to {rdata}, a sinkhole ({}).",
                        hit.list.name
                    ),
                    &domain,
                ));
                break;
            }
        }
        let sld = domain.split('.').next().unwrap_or("");
        if sld.len() >= self.cfg.dga_min_len {
            let score = dga_score(sld);
            if score >= self.cfg.dga_min_score {
                out.push(Self::signal(
                    q,
                    "Trojan:EC2/DGADomainRequest.C!DNS",
                    8.0,
                    "An instance is querying algorithmically generated domains.",
                    format!(
                        "{} queried {name}; {sld:?} scores {score:.2} as generated.",
                        q.srcaddr
                    ),
                    &domain,
                ));
            }
        }
        let first = name.split('.').next().unwrap_or("");
        if first.len() >= self.cfg.exfil_min_label_len && name != domain {
            let (_, t) = time_of(q);
            if let Some((n, _, _)) = self.exfil.add(
                (q.srcaddr.clone(), domain.clone()),
                first.to_string(),
                t,
                self.cfg.exfil_min_queries,
                false,
            ) {
                out.push(Self::signal(
                    q,
                    "Trojan:EC2/DNSDataExfiltration",
                    8.0,
                    "An instance is exfiltrating data through DNS queries.",
                    format!(
                        "{} sent {n} queries with long encoded labels under {domain} within {} s.",
                        q.srcaddr, self.cfg.window_seconds
                    ),
                    &domain,
                ));
            }
        }
        out
    }
}
