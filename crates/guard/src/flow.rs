//! VPC Flow Logs: the default format (v2) and custom formats (v3–v5) named by their header line,
//! plain or gzip, and detectors over them with GuardDuty's finding types. Thresholds and windows
//! come from [`GuardConfig`]; detectors keep windowed counts, so they work streaming, across
//! files and batches.
//!
//! | type | fires on | severity |
//! |---|---|---|
//! | `UnauthorizedAccess:EC2/SSHBruteForce`, `RDPBruteForce` | ≥ `brute_force_min_attempts` connections to port 22 / 3389 between one remote address and one instance in a window | Low 2.0 when the instance is the TARGET, High 8.0 when it is the ACTOR |
//! | `Recon:EC2/Portscan` | an instance contacting ≥ `portscan_min_ports` ports of one remote host in a window | Medium 5.0 |
//! | `Impact:EC2/PortSweep` | a remote address probing one port on ≥ `portsweep_min_hosts` instances in a window | High 7.0 |
//! | `Recon:EC2/PortProbeUnprotectedPort` | accepted inbound connections from ≥ `probe_min_sources` public addresses to a sensitive port (`probe_ports`) of an instance in a window | Low 2.0; High 8.0 on 9200/9300 |
//! | `UnauthorizedAccess:EC2/MaliciousIPCaller.Custom` | traffic with an address on a threat list | Medium 5.0 |
//! | `UnauthorizedAccess:EC2/TorClient` | an instance connecting to a Tor node (a `tor` list) | High 8.0 |
//! | `CryptoCurrency:EC2/BitcoinTool.B` | an instance connecting out to a crypto-mining port (`crypto_ports`) of a public address | High 8.0 |
//! | `Trojan:EC2/BlackholeTraffic` | an instance connecting out to a sinkhole address (a `sinkhole` list) | Medium 5.0 |
//! | `Behavior:EC2/NetworkPortUnusual` | after `unusual_port_baseline_flows` outbound flows, an instance using a remote port it never used | Medium 5.0 |

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use serde_json::{Value, json};

use crate::config::GuardConfig;
use crate::finding::Signal;
use crate::intel::{Intel, ListKind, is_canary, is_public};
use crate::window::Distinct;

/// The default (v2) field order.
pub const V2_FIELDS: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub account: String,
    pub interface: String,
    pub instance: String,
    pub region: String,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub srcport: u16,
    pub dstport: u16,
    pub protocol: u8,
    pub start: i64,
    pub action: String,
    pub direction: String,
}

/// A flow log file's layout: the field names of its lines.
pub struct Layout {
    fields: Vec<String>,
}

impl Layout {
    pub fn v2() -> Layout {
        Layout {
            fields: V2_FIELDS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A header line (custom formats start with one; v2 files delivered to S3 too).
    pub fn from_header(line: &str) -> Option<Layout> {
        let fields: Vec<String> = line.split_whitespace().map(|s| s.to_string()).collect();
        (fields.iter().any(|f| f == "srcaddr") && fields.iter().any(|f| f == "dstaddr"))
            .then_some(Layout { fields })
    }

    /// Parses one line; `Err` says what is wrong with it.
    pub fn parse(&self, line: &str) -> Result<Option<Flow>, String> {
        let values: Vec<&str> = line.split_whitespace().collect();
        if values.len() != self.fields.len() {
            return Err(format!(
                "{} fields, the layout has {}",
                values.len(),
                self.fields.len()
            ));
        }
        let mut f = Flow::default();
        let mut status = "";
        for (name, v) in self.fields.iter().zip(&values) {
            let v = *v;
            let num = |what: &str| -> Result<u64, String> {
                if v == "-" {
                    Ok(0)
                } else {
                    v.parse()
                        .map_err(|_| format!("{what} {v:?} is not a number"))
                }
            };
            match name.as_str() {
                "account-id" => f.account = v.to_string(),
                "interface-id" => f.interface = v.to_string(),
                "instance-id" => f.instance = v.to_string(),
                "region" => f.region = v.to_string(),
                "srcaddr" => f.src = v.parse().ok(),
                "dstaddr" => f.dst = v.parse().ok(),
                "srcport" => {
                    f.srcport = num("srcport")?
                        .try_into()
                        .map_err(|_| format!("srcport {v} out of range"))?
                }
                "dstport" => {
                    f.dstport = num("dstport")?
                        .try_into()
                        .map_err(|_| format!("dstport {v} out of range"))?
                }
                "protocol" => {
                    f.protocol = num("protocol")?
                        .try_into()
                        .map_err(|_| format!("protocol {v} out of range"))?
                }
                "start" => f.start = num("start")? as i64,
                "action" => f.action = v.to_string(),
                "log-status" => status = v,
                "flow-direction" => f.direction = v.to_string(),
                _ => {}
            }
        }
        // NODATA / SKIPDATA records carry no addresses.
        if status != "OK" && !status.is_empty() || f.src.is_none() || f.dst.is_none() {
            return Ok(None);
        }
        Ok(Some(f))
    }
}

/// (local, remote, local port, remote port, inbound?) of a flow, when the sides can be told:
/// from `flow-direction` when the layout has it, else private = local, public = remote.
fn sides(f: &Flow) -> Option<(IpAddr, IpAddr, u16, u16, bool)> {
    let (s, d) = (f.src?, f.dst?);
    match f.direction.as_str() {
        "ingress" => return Some((d, s, f.dstport, f.srcport, true)),
        "egress" => return Some((s, d, f.srcport, f.dstport, false)),
        _ => {}
    }
    // A canary address (documentation ranges) stands for a remote host, so the README's
    // "call from 203.0.113.x" proves the flow pipeline too.
    let outside = |ip: IpAddr| is_public(ip) || is_canary(ip);
    match (outside(s), outside(d)) {
        (true, false) => Some((d, s, f.dstport, f.srcport, true)),
        (false, true) => Some((s, d, f.srcport, f.dstport, false)),
        _ => None,
    }
}

fn proto(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        1 => "ICMP",
        _ => "OTHER",
    }
}

fn ip_key(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ipAddressV4"
    } else {
        "ipAddressV6"
    }
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub struct FlowDetector {
    cfg: GuardConfig,
    brute: Distinct<(IpAddr, IpAddr, u16, bool), i64>,
    scan: Distinct<(IpAddr, IpAddr), u16>,
    sweep: Distinct<(IpAddr, u16), IpAddr>,
    probe: Distinct<(IpAddr, u16), IpAddr>,
    baseline: HashMap<IpAddr, (usize, HashSet<u16>)>,
}

impl FlowDetector {
    pub fn new(cfg: &GuardConfig) -> Self {
        let w = cfg.window_seconds;
        FlowDetector {
            cfg: cfg.clone(),
            brute: Distinct::new(w),
            scan: Distinct::new(w),
            sweep: Distinct::new(w),
            probe: Distinct::new(w),
            baseline: HashMap::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn signal(
        &self,
        f: &Flow,
        kind: &str,
        severity: f64,
        title: &str,
        description: String,
        local: IpAddr,
        remote: IpAddr,
        role: &'static str,
        action: Value,
        t: i64,
    ) -> Signal {
        let id = if f.instance.is_empty() || f.instance == "-" {
            f.interface.clone()
        } else {
            f.instance.clone()
        };
        Signal {
            kind: kind.into(),
            severity,
            title: title.into(),
            description,
            account: f.account.clone(),
            region: f.region.clone(),
            resource: json!({"resourceType": "Instance", "instanceDetails": {
                "instanceId": id,
                "networkInterfaces": [{"networkInterfaceId": f.interface, "privateIpAddress": local.to_string()}]}}),
            resource_key: format!("{id}|{local}"),
            actor: remote.to_string(),
            action,
            resource_role: role,
            evidence: None,
            info: None,
            event_id: None,
            time: iso(t),
        }
    }

    fn connection(
        f: &Flow,
        local: IpAddr,
        remote: IpAddr,
        lport: u16,
        rport: u16,
        inbound: bool,
    ) -> Value {
        json!({"actionType": "NETWORK_CONNECTION", "networkConnectionAction": {
            "connectionDirection": if inbound { "INBOUND" } else { "OUTBOUND" },
            "protocol": proto(f.protocol),
            "blocked": f.action == "REJECT",
            "localPortDetails": {"port": lport},
            "remotePortDetails": {"port": rport},
            "localIpDetails": {ip_key(&local): local.to_string()},
            "remoteIpDetails": {ip_key(&remote): remote.to_string()},
        }})
    }

    /// The signals one flow raises.
    pub fn detect(&mut self, f: &Flow, intel: &Intel) -> Vec<Signal> {
        let mut out = Vec::new();
        let Some((local, remote, lport, rport, inbound)) = sides(f) else {
            return out;
        };
        let t = f.start;
        let conn = || Self::connection(f, local, remote, lport, rport, inbound);
        let tcp = f.protocol == 6;

        // Brute force: many connections on 22/3389 between one pair.
        let service_port = if inbound { lport } else { rport };
        if tcp && matches!(service_port, 22 | 3389) {
            let key = (local, remote, service_port, inbound);
            if let Some((_, n, _)) =
                self.brute
                    .add(key, t, t, self.cfg.brute_force_min_attempts, true)
            {
                let family = if service_port == 22 {
                    "SSHBruteForce"
                } else {
                    "RDPBruteForce"
                };
                let (role, sev, what) = if inbound {
                    (
                        "TARGET",
                        2.0,
                        format!(
                            "{remote} made {n} connection attempts to port {service_port} of {local}"
                        ),
                    )
                } else {
                    (
                        "ACTOR",
                        8.0,
                        format!(
                            "{local} made {n} connection attempts to port {service_port} of {remote}"
                        ),
                    )
                };
                out.push(self.signal(
                    f,
                    &format!("UnauthorizedAccess:EC2/{family}"),
                    sev,
                    &format!(
                        "{} brute force attacks.",
                        if service_port == 22 { "SSH" } else { "RDP" }
                    ),
                    format!("{what} within {} s.", self.cfg.window_seconds),
                    local,
                    remote,
                    role,
                    conn(),
                    t,
                ));
            }
        }

        if !inbound {
            // Port scan: many ports of one remote host.
            if let Some((ports, _, _)) = self.scan.add(
                (local, remote),
                rport,
                t,
                self.cfg.portscan_min_ports,
                false,
            ) {
                out.push(self.signal(
                    f,
                    "Recon:EC2/Portscan",
                    5.0,
                    "An instance is performing a port scan.",
                    format!(
                        "{local} contacted {ports} ports of {remote} within {} s.",
                        self.cfg.window_seconds
                    ),
                    local,
                    remote,
                    "ACTOR",
                    conn(),
                    t,
                ));
            }
            if is_public(remote) && self.cfg.crypto_ports.contains(&rport) {
                out.push(self.signal(f, "CryptoCurrency:EC2/BitcoinTool.B", 8.0,
                    "An instance is communicating on a cryptocurrency mining port.",
                    format!("{local} connected to {remote} on port {rport}, a Bitcoin/Stratum mining port."),
                    local, remote, "ACTOR", conn(), t));
            }
            // Unusual remote port, after a baseline.
            let baseline = self.cfg.unusual_port_baseline_flows;
            let (flows, ports) = self.baseline.entry(local).or_default();
            let unusual = *flows >= baseline && !ports.contains(&rport) && is_public(remote);
            let seen = *flows;
            *flows += 1;
            if ports.len() < 65_536 {
                ports.insert(rport);
            }
            if unusual {
                out.push(self.signal(f, "Behavior:EC2/NetworkPortUnusual", 5.0,
                    "An instance is communicating on an unusual port.",
                    format!("{local} connected to {remote} on port {rport}, which it had not used in {seen} earlier flows."),
                    local, remote, "ACTOR", conn(), t));
            }
        } else {
            // Port sweep: one remote address, one port, many instances.
            if let Some((hosts, _, _)) = self.sweep.add(
                (remote, lport),
                local,
                t,
                self.cfg.portsweep_min_hosts,
                false,
            ) {
                out.push(self.signal(
                    f,
                    "Impact:EC2/PortSweep",
                    7.0,
                    "A remote host is sweeping a port across instances.",
                    format!(
                        "{remote} probed port {lport} on {hosts} instances within {} s.",
                        self.cfg.window_seconds
                    ),
                    local,
                    remote,
                    "TARGET",
                    conn(),
                    t,
                ));
            }
            if f.action == "ACCEPT"
                && is_public(remote)
                && self.cfg.probe_ports.contains(&lport)
                && let Some((sources, _, _)) =
                    self.probe
                        .add((local, lport), remote, t, self.cfg.probe_min_sources, false)
            {
                {
                    let sev = if matches!(lport, 9200 | 9300) {
                        8.0
                    } else {
                        2.0
                    };
                    out.push(self.signal(f, "Recon:EC2/PortProbeUnprotectedPort", sev,
                        "An unprotected port of an instance is being probed.",
                        format!("Port {lport} of {local} accepted connections from {sources} public addresses within {} s.", self.cfg.window_seconds),
                        local, remote, "TARGET",
                        json!({"actionType": "PORT_PROBE", "portProbeAction": {"blocked": false, "portProbeDetails": [{
                            "localPortDetails": {"port": lport}, "remoteIpDetails": {ip_key(&remote): remote.to_string()}}]}}),
                        t));
                }
            }
        }

        if let Some(hit) = intel.check_ip(&remote.to_string()) {
            let (kind, sev, title) = match hit.list.kind {
                ListKind::Tor if !inbound => (
                    "UnauthorizedAccess:EC2/TorClient",
                    8.0,
                    "An instance is connecting to a Tor node.",
                ),
                ListKind::Tor => (
                    "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
                    5.0,
                    "An instance is communicating with a Tor node.",
                ),
                ListKind::Sinkhole if !inbound => (
                    "Trojan:EC2/BlackholeTraffic",
                    5.0,
                    "An instance is communicating with a sinkhole.",
                ),
                _ => (
                    "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
                    5.0,
                    "An instance is communicating with an address on a threat list.",
                ),
            };
            if !(hit.list.kind == ListKind::Sinkhole && inbound) {
                let mut s = self.signal(
                    f,
                    kind,
                    sev,
                    title,
                    format!(
                        "{local} {} {remote} ({}, list {}).",
                        if inbound {
                            "received traffic from"
                        } else {
                            "sent traffic to"
                        },
                        hit.entry,
                        hit.list.name
                    ),
                    local,
                    remote,
                    if inbound { "TARGET" } else { "ACTOR" },
                    conn(),
                    t,
                );
                s.evidence = Some(
                    json!({"threatIntelligenceDetails": [{"threatListName": hit.list.name, "threatNames": [hit.entry]}]}),
                );
                out.push(s);
            }
        }
        out
    }
}
