//! Flow-log and DNS detectors: each fires on traffic that should fire it, and stays quiet on a
//! near miss (one short of a threshold, the other direction, a normal name…).

use mamori_guard::config::GuardConfig;
use mamori_guard::dns::{DnsDetector, Query, dga_score, registrable};
use mamori_guard::flow::{FlowDetector, Layout};
use mamori_guard::intel::{Intel, ListFormat, ListKind};

fn cfg() -> GuardConfig {
    GuardConfig {
        brute_force_min_attempts: 5,
        portscan_min_ports: 5,
        portsweep_min_hosts: 3,
        probe_min_sources: 3,
        unusual_port_baseline_flows: 10,
        exfil_min_queries: 3,
        ..Default::default()
    }
}

fn intel() -> Intel {
    let mut i = Intel::with_canaries();
    i.load(
        "threat",
        ListKind::Threat,
        ListFormat::Txt,
        b"66.66.66.0/24\nbad-domain.example\n",
    )
    .unwrap();
    i.load("tor", ListKind::Tor, ListFormat::Txt, b"77.77.77.77\n")
        .unwrap();
    i.load(
        "sinkholes",
        ListKind::Sinkhole,
        ListFormat::Txt,
        b"88.88.88.88\n",
    )
    .unwrap();
    i.load(
        "drops",
        ListKind::DropPoint,
        ListFormat::Txt,
        b"drop.example\n",
    )
    .unwrap();
    i
}

/// v2 lines: src dst sport dport proto action at t.
fn line(src: &str, dst: &str, sport: u16, dport: u16, action: &str, t: i64) -> String {
    format!(
        "2 111122223333 eni-0a1b2c3d {src} {dst} {sport} {dport} 6 10 840 {t} {} {action} OK",
        t + 60
    )
}

fn run(lines: &[String]) -> Vec<(String, f64, String)> {
    let i = intel();
    let mut d = FlowDetector::new(&cfg());
    let layout = Layout::v2();
    let mut out = Vec::new();
    for l in lines {
        if let Some(f) = layout.parse(l).unwrap() {
            for s in d.detect(&f, &i) {
                out.push((s.kind, s.severity, s.resource_role.to_string()));
            }
        }
    }
    out
}

fn has(out: &[(String, f64, String)], kind: &str) -> bool {
    out.iter().any(|(k, _, _)| k == kind)
}

#[test]
fn ssh_brute_force_target_and_actor() {
    let inbound: Vec<String> = (0..5)
        .map(|i| {
            line(
                "45.1.2.3",
                "10.0.0.5",
                40000 + i,
                22,
                "REJECT",
                1000 + i64::from(i),
            )
        })
        .collect();
    let out = run(&inbound);
    let f = out
        .iter()
        .find(|(k, _, _)| k == "UnauthorizedAccess:EC2/SSHBruteForce")
        .expect("fires");
    assert_eq!((f.1, f.2.as_str()), (2.0, "TARGET"));
    assert!(
        !has(&run(&inbound[..4]), "UnauthorizedAccess:EC2/SSHBruteForce"),
        "one short"
    );
    let outbound: Vec<String> = (0..5)
        .map(|i| line("10.0.0.5", "45.1.2.3", 40000 + i, 3389, "ACCEPT", 1000))
        .collect();
    let out = run(&outbound);
    let f = out
        .iter()
        .find(|(k, _, _)| k == "UnauthorizedAccess:EC2/RDPBruteForce")
        .expect("fires");
    assert_eq!((f.1, f.2.as_str()), (8.0, "ACTOR"));
    // Spread wider than the window: nothing.
    let slow: Vec<String> = (0..5)
        .map(|i| {
            line(
                "45.1.2.3",
                "10.0.0.5",
                40000,
                22,
                "REJECT",
                1000 + i64::from(i) * 400,
            )
        })
        .collect();
    assert!(!has(&run(&slow), "UnauthorizedAccess:EC2/SSHBruteForce"));
}

#[test]
fn portscan_sweep_and_probe() {
    let scan: Vec<String> = (0..5)
        .map(|p| line("10.0.0.5", "45.9.9.9", 50000, 1000 + p, "REJECT", 1000))
        .collect();
    assert!(has(&run(&scan), "Recon:EC2/Portscan"));
    assert!(!has(&run(&scan[..4]), "Recon:EC2/Portscan"));
    let sweep: Vec<String> = (0..3)
        .map(|h| {
            line(
                "45.9.9.9",
                &format!("10.0.0.{h}"),
                50000,
                445,
                "REJECT",
                1000,
            )
        })
        .collect();
    assert!(has(&run(&sweep), "Impact:EC2/PortSweep"));
    assert!(!has(&run(&sweep[..2]), "Impact:EC2/PortSweep"));
    let probe: Vec<String> = (0..3)
        .map(|s| {
            line(
                &format!("45.9.9.{s}"),
                "10.0.0.5",
                50000,
                9200,
                "ACCEPT",
                1000,
            )
        })
        .collect();
    let out = run(&probe);
    let f = out
        .iter()
        .find(|(k, _, _)| k == "Recon:EC2/PortProbeUnprotectedPort")
        .expect("fires");
    assert_eq!(f.1, 8.0, "High on 9200");
    let rejected: Vec<String> = (0..3)
        .map(|s| {
            line(
                &format!("45.9.9.{s}"),
                "10.0.0.5",
                50000,
                9200,
                "REJECT",
                1000,
            )
        })
        .collect();
    assert!(
        !has(&run(&rejected), "Recon:EC2/PortProbeUnprotectedPort"),
        "blocked probes are not exposure"
    );
}

#[test]
fn lists_crypto_and_unusual_ports() {
    assert!(has(
        &run(&[line("10.0.0.5", "66.66.66.1", 50000, 443, "ACCEPT", 1)]),
        "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
    ));
    assert!(!has(
        &run(&[line("10.0.0.5", "66.66.67.1", 50000, 443, "ACCEPT", 1)]),
        "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"
    ));
    assert!(has(
        &run(&[line("10.0.0.5", "77.77.77.77", 50000, 9001, "ACCEPT", 1)]),
        "UnauthorizedAccess:EC2/TorClient"
    ));
    assert!(
        !has(
            &run(&[line("77.77.77.77", "10.0.0.5", 9001, 50000, "ACCEPT", 1)]),
            "UnauthorizedAccess:EC2/TorClient"
        ),
        "inbound is not a Tor client"
    );
    assert!(has(
        &run(&[line("10.0.0.5", "88.88.88.88", 50000, 80, "ACCEPT", 1)]),
        "Trojan:EC2/BlackholeTraffic"
    ));
    assert!(has(
        &run(&[line("10.0.0.5", "51.1.1.1", 50000, 3333, "ACCEPT", 1)]),
        "CryptoCurrency:EC2/BitcoinTool.B"
    ));
    assert!(
        !has(
            &run(&[line("10.0.0.5", "10.1.1.1", 50000, 3333, "ACCEPT", 1)]),
            "CryptoCurrency:EC2/BitcoinTool.B"
        ),
        "internal traffic"
    );
    let mut usual: Vec<String> = (0..10)
        .map(|i| line("10.0.0.5", "51.1.1.1", 50000, 443, "ACCEPT", i))
        .collect();
    assert!(!has(&run(&usual), "Behavior:EC2/NetworkPortUnusual"));
    usual.push(line("10.0.0.5", "51.1.1.1", 50000, 443, "ACCEPT", 20));
    assert!(
        !has(&run(&usual), "Behavior:EC2/NetworkPortUnusual"),
        "a port it always used"
    );
    usual.push(line("10.0.0.5", "51.1.1.1", 50000, 6667, "ACCEPT", 21));
    assert!(has(&run(&usual), "Behavior:EC2/NetworkPortUnusual"));
}

#[test]
fn custom_layouts_and_bad_lines() {
    let l = Layout::from_header("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction").unwrap();
    let f = l
        .parse("5 vpc-1 subnet-1 i-0abc eni-1 111122223333 IPv4 45.1.2.3 10.0.0.5 40000 22 45.1.2.3 10.0.0.5 6 100 2 1000 1060 REJECT 2 OK ingress")
        .unwrap()
        .unwrap();
    assert_eq!(
        (f.instance.as_str(), f.dstport, f.direction.as_str()),
        ("i-0abc", 22, "ingress")
    );
    assert!(l.parse("5 vpc-1 too few").is_err());
    assert!(
        Layout::v2()
            .parse("2 111122223333 eni-1 1.2.3.4 5.6.7.8 x 22 6 1 1 1 2 ACCEPT OK")
            .is_err(),
        "a port that is not a number"
    );
    assert!(
        Layout::v2()
            .parse("2 111122223333 eni-1 - - - - - - - 1 2 - NODATA")
            .unwrap()
            .is_none()
    );
}

fn query(name: &str, src: &str, answers: &[&str]) -> Query {
    serde_json::from_value(serde_json::json!({
        "version": "1.100000", "account_id": "111122223333", "region": "us-east-1", "vpc_id": "vpc-1",
        "query_timestamp": "2026-11-28T10:00:00Z", "query_name": name, "query_type": "A", "query_class": "IN",
        "rcode": "NOERROR", "answers": answers.iter().map(|a| serde_json::json!({"Rdata": a, "Type": "A", "Class": "IN"})).collect::<Vec<_>>(),
        "srcaddr": src, "srcport": "53000", "transport": "UDP", "srcids": {"instance": "i-0abc"}
    }))
    .unwrap()
}

fn dns(qs: &[Query]) -> Vec<String> {
    let i = intel();
    let mut d = DnsDetector::new(&cfg());
    qs.iter()
        .flat_map(|q| d.detect(q, &i))
        .map(|s| s.kind)
        .collect()
}

#[test]
fn dns_detectors() {
    assert!(
        dns(&[query("xmr.pool.minexmr.com.", "10.0.0.5", &[])])
            .contains(&"CryptoCurrency:EC2/BitcoinTool.B!DNS".to_string())
    );
    assert!(
        dns(&[query("notminexmr.com.", "10.0.0.5", &[])]).is_empty(),
        "a suffix is not a subdomain"
    );
    assert!(
        dns(&[query("c2.mamori-test.invalid.", "10.0.0.5", &[])])
            .contains(&"Backdoor:EC2/C&CActivity.B!DNS".to_string())
    );
    assert!(
        dns(&[query("a.bad-domain.example.", "10.0.0.5", &[])])
            .contains(&"Impact:EC2/MaliciousDomainRequest.Custom".to_string())
    );
    assert!(
        dns(&[query("drop.example.", "10.0.0.5", &[])])
            .contains(&"Trojan:EC2/DropPoint!DNS".to_string())
    );
    assert!(
        dns(&[query("www.example.org.", "10.0.0.5", &["88.88.88.88"])])
            .contains(&"Trojan:EC2/BlackholeTraffic!DNS".to_string())
    );
    assert!(dns(&[query("www.example.org.", "10.0.0.5", &["93.184.216.34"])]).is_empty());
    assert!(
        dns(&[query("xjw3kq9zpl4mvb2t.com.", "10.0.0.5", &[])])
            .contains(&"Trojan:EC2/DGADomainRequest.C!DNS".to_string())
    );
    for normal in [
        "stackoverflow.com.",
        "googleusercontent.com.",
        "login.microsoftonline.com.",
        "s3.dualstack.us-east-1.amazonaws.com.",
    ] {
        assert!(
            dns(&[query(normal, "10.0.0.5", &[])]).is_empty(),
            "{normal} is not generated"
        );
    }
    let exfil: Vec<Query> = (0..3)
        .map(|i| {
            query(
                &format!("{}{i}.tunnel.example.net.", "a".repeat(39) + "bcdefghij"),
                "10.0.0.5",
                &[],
            )
        })
        .collect();
    assert!(dns(&exfil).contains(&"Trojan:EC2/DNSDataExfiltration".to_string()));
    assert!(
        !dns(&exfil[..2]).contains(&"Trojan:EC2/DNSDataExfiltration".to_string()),
        "one short"
    );
    assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
    assert!(dga_score("qhxvkzrtwpmbnl") > dga_score("stackoverflow"));
}

/// The README's end-to-end proof: traffic with a canary address (203.0.113.x, RFC 5737's
/// documentation ranges) fires a flow finding — it never did, since both sides of such a flow
/// counted as not public and the flow had no remote side.
#[test]
fn the_canary_address_fires_in_flow_logs() {
    let found = run(&[line(
        "10.0.0.5",
        "203.0.113.9",
        51000,
        443,
        "ACCEPT",
        1_700_000_000,
    )]);
    assert!(
        found
            .iter()
            .any(|(k, _, _)| k == "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"),
        "{found:?}"
    );
    let found = run(&[line(
        "203.0.113.9",
        "10.0.0.5",
        443,
        51000,
        "ACCEPT",
        1_700_000_000,
    )]);
    assert!(!found.is_empty(), "inbound too: {found:?}");
}
