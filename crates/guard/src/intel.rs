//! Threat intelligence: lists of IP addresses, CIDR blocks and domains — threat lists and trusted
//! lists — read from TXT (one entry per line, `#` comments), CSV (the first column that parses)
//! and STIX 2.1 bundles (indicator patterns `[ipv4-addr:value = '…']`, `[ipv6-addr:value = …]`,
//! `[domain-name:value = '…']`).
//!
//! Addresses live in hash maps per prefix length (IPv4, with a /24 bitmap in front of big lists)
//! and a prefix trie (IPv6) for a longest-prefix match; domains in a hash set checked for the
//! name and each parent domain, so a lookup costs a few hundred nanoseconds whatever the list
//! sizes — no cap on entries or lists. Only public addresses match (private, loopback, link-local,
//! CGNAT, multicast… never do), except the reserved documentation ranges of the built-in test set.
//! An address or domain on a trusted list never produces a finding.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("{list}: {message}")]
pub struct IntelError {
    pub list: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListKind {
    Threat,
    Trusted,
    /// Tor exit nodes (a threat list whose matches are `…TorIPCaller`/`TorClient` findings).
    Tor,
    /// Sinkhole addresses (`Trojan:EC2/BlackholeTraffic`, `…!DNS` when a name resolves to one).
    Sinkhole,
    /// Drop-point domains and addresses (`Trojan:EC2/DropPoint!DNS`).
    DropPoint,
}

impl ListKind {
    pub const ALL: [ListKind; 5] = [
        ListKind::Threat,
        ListKind::Trusted,
        ListKind::Tor,
        ListKind::Sinkhole,
        ListKind::DropPoint,
    ];

    /// The name the API, the store and the CLI use (`THREAT`, …, `DROPPOINT`).
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Threat => "THREAT",
            ListKind::Trusted => "TRUSTED",
            ListKind::Tor => "TOR",
            ListKind::Sinkhole => "SINKHOLE",
            ListKind::DropPoint => "DROPPOINT",
        }
    }
}

impl std::str::FromStr for ListKind {
    type Err = String;
    /// The one parse of a list kind, any case (`threat`, `DropPoint`, `DROPPOINT`).
    fn from_str(s: &str) -> Result<Self, String> {
        ListKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "kind {s:?}: one of {}",
                    ListKind::ALL.map(ListKind::as_str).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Txt,
    Csv,
    Stix,
}

impl ListFormat {
    pub fn guess(name: &str, bytes: &[u8]) -> ListFormat {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        if name.ends_with(".json") || head.trim_start().starts_with('{') {
            ListFormat::Stix
        } else if name.ends_with(".csv") {
            ListFormat::Csv
        } else {
            ListFormat::Txt
        }
    }
}

/// Which list matched: its name and kind, and whether it is one of ours.
#[derive(Debug, Clone, Serialize)]
pub struct ListRef {
    pub name: String,
    pub kind: ListKind,
    /// The built-in test set (findings are named without `.Custom`).
    pub builtin: bool,
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub struct IntelMatch {
    pub list: Arc<ListRef>,
    /// The entry that matched (a CIDR or a domain).
    pub entry: String,
}

/// A line that was not an entry, with where and why (the rest of the list still loads).
#[derive(Debug, Clone, Serialize)]
pub struct BadLine {
    pub list: String,
    pub line: usize,
    pub text: String,
}

#[derive(Default)]
struct Sets {
    /// IPv4 networks by prefix length, longest first: a longest-prefix match is one hash probe
    /// per length a list uses (lists use few: /32 and /24 mostly), where a trie walk over a
    /// million entries missed the cache at every level.
    /// (Each network maps to its list's index in `v4_lists`: 8 bytes a slot instead of 16, so
    /// a million entries take half the memory and half the cache.)
    v4: Vec<(u8, FxHashMap<u32, u32>)>,
    v4_lists: Vec<Arc<ListRef>>,
    /// For big lists, one bit per /24 of the IPv4 space, set where an entry covers any of it.
    /// Most addresses are on no list: one look into these 2 MB says so, where each probe of a
    /// million-entry map missed the cache (and the TLB). Built from [`V4_BITMAP_FROM`] entries.
    v4_covered: Option<Box<[u64]>>,
    v6: PrefixMap<Ipv6Net, Arc<ListRef>>,
    domains: HashMap<String, Arc<ListRef>>,
}

/// A dotted quad's value, read loosely (leading zeros, octets over 255 wrap): only for
/// [`Intel::prefetch`], where a wrong answer costs a wasted prefetch and nothing else. The
/// standard parser, which [`Intel::check_ip`] uses, cost as much again.
fn rough_ipv4(ip: &str) -> Option<u32> {
    let (mut value, mut octet, mut dots) = (0u32, 0u32, 0);
    for &c in ip.as_bytes().get(..15).unwrap_or(ip.as_bytes()) {
        match c {
            b'0'..=b'9' => octet = octet.wrapping_mul(10).wrapping_add(u32::from(c - b'0')),
            b'.' => {
                value = value << 8 | (octet & 0xff);
                octet = 0;
                dots += 1;
            }
            _ => return None,
        }
    }
    (dots == 3).then_some(value << 8 | (octet & 0xff))
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the prefetch intrinsic
fn prefetch<T>(x: &T) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is only a hint: it never faults and changes no data, and SSE (which
    // has it) is part of every x86_64 CPU; the pointer comes from a reference anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(x).cast::<i8>()) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch<T>(_: &T) {}

/// IPv4 entries in one set from which the /24 bitmap pays for its 2 MB.
const V4_BITMAP_FROM: usize = 4096;

/// Sets the bits of the /24s `net` covers (a /24 or longer: its own; shorter: a run of them).
fn cover(bits: &mut [u64], net: Ipv4Net) {
    let first = (u32::from(net.network()) >> 8) as usize;
    let count = 1usize << 24u8.saturating_sub(net.prefix_len());
    for i in first..first + count {
        bits[i / 64] |= 1 << (i % 64);
    }
}

impl Sets {
    fn insert_v4(&mut self, net: Ipv4Net, list: Arc<ListRef>) {
        let net = net.trunc();
        let len = net.prefix_len();
        let at = match self.v4.iter().position(|(l, _)| *l <= len) {
            Some(i) if self.v4[i].0 == len => i,
            Some(i) => {
                self.v4.insert(i, (len, FxHashMap::default()));
                i
            }
            None => {
                self.v4.push((len, FxHashMap::default()));
                self.v4.len() - 1
            }
        };
        let index = match self.v4_lists.iter().rposition(|l| Arc::ptr_eq(l, &list)) {
            Some(i) => i,
            None => {
                self.v4_lists.push(list);
                self.v4_lists.len() - 1
            }
        };
        // Lists are added one at a time; more than 4 billion of them cannot be loaded anyway.
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        self.v4[at].1.insert(u32::from(net.network()), index);
        match &mut self.v4_covered {
            Some(bits) => cover(bits, net),
            None if self.v4.iter().map(|(_, n)| n.len()).sum::<usize>() >= V4_BITMAP_FROM => {
                let mut bits = vec![0u64; (1 << 24) / 64].into_boxed_slice();
                for (len, nets) in &self.v4 {
                    for &a in nets.keys() {
                        if let Ok(n) = Ipv4Net::new(Ipv4Addr::from(a), *len) {
                            cover(&mut bits, n);
                        }
                    }
                }
                self.v4_covered = Some(bits);
            }
            None => {}
        }
    }

    fn ip(&self, ip: IpAddr) -> Option<IntelMatch> {
        match ip {
            IpAddr::V4(a) => {
                if let Some(bits) = &self.v4_covered {
                    let i = (u32::from(a) >> 8) as usize;
                    if bits[i / 64] & (1 << (i % 64)) == 0 {
                        return None;
                    }
                }
                self.v4.iter().find_map(|(len, nets)| {
                    let net = Ipv4Net::new(a, *len).ok()?.trunc();
                    let list = self
                        .v4_lists
                        .get(*nets.get(&u32::from(net.network()))? as usize)?;
                    Some(IntelMatch {
                        list: list.clone(),
                        entry: net.to_string(),
                    })
                })
            }
            IpAddr::V6(a) => self.v6.get_lpm(&Ipv6Net::from(a)).map(|(p, l)| IntelMatch {
                list: l.clone(),
                entry: p.to_string(),
            }),
        }
    }

    fn domain(&self, name: &str) -> Option<IntelMatch> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut d = name.as_str();
        loop {
            if let Some(l) = self.domains.get(d) {
                return Some(IntelMatch {
                    list: l.clone(),
                    entry: d.to_string(),
                });
            }
            match d.split_once('.') {
                Some((_, parent)) if parent.contains('.') || !parent.is_empty() => d = parent,
                _ => return None,
            }
        }
    }

    fn len(&self) -> usize {
        self.v4.iter().map(|(_, n)| n.len()).sum::<usize>() + self.v6.len() + self.domains.len()
    }
}

/// The loaded lists of an account (or of the organization).
#[derive(Default)]
pub struct Intel {
    threat: Sets,
    trusted: Sets,
    tor: Sets,
    sinkhole: Sets,
    droppoint: Sets,
}

/// Our own canary indicators, to prove the pipeline end to end (as EICAR does for antivirus):
/// domains under the reserved `.invalid` top-level domain and the three documentation ranges of
/// RFC 5737, which nothing real ever uses.
pub const CANARY_DOMAINS: &[&str] = &["canary.mamori-test.invalid", "c2.mamori-test.invalid"];
pub const CANARY_NETS: &[&str] = &["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];

/// Is this address one findings may be about: publicly routable, or a canary address?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_unspecified()
                || a.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 CGNAT
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
                && a.to_ipv4_mapped().is_none_or(|v4| is_public(IpAddr::V4(v4)))
        }
    }
}

/// Is this address in one of the canary ranges?
pub fn is_canary(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => CANARY_NETS
            .iter()
            .filter_map(|n| n.parse::<Ipv4Net>().ok())
            .any(|n| n.contains(&a)),
        IpAddr::V6(_) => false,
    }
}

/// Parses one entry: an address, a CIDR, or a domain name.
enum Entry {
    V4(Ipv4Net),
    V6(Ipv6Net),
    Domain(String),
}

fn parse_entry(s: &str) -> Option<Entry> {
    let s = s.trim().trim_matches('"').trim_matches('\'');
    if s.is_empty() {
        return None;
    }
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Some(Entry::V4(Ipv4Net::from(a)));
    }
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(Entry::V6(Ipv6Net::from(a)));
    }
    if let Ok(n) = s.parse::<Ipv4Net>() {
        return Some(Entry::V4(n.trunc()));
    }
    if let Ok(n) = s.parse::<Ipv6Net>() {
        return Some(Entry::V6(n.trunc()));
    }
    let d = s.trim_end_matches('.').to_ascii_lowercase();
    let valid = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    valid.then_some(Entry::Domain(d))
}

impl Intel {
    /// With the built-in test indicators loaded (a threat list named `mamori-canary`).
    pub fn with_canaries() -> Self {
        let mut i = Intel::default();
        let list = Arc::new(ListRef {
            name: "mamori-canary".into(),
            kind: ListKind::Threat,
            builtin: true,
        });
        for d in CANARY_DOMAINS {
            i.threat.domains.insert(d.to_string(), list.clone());
        }
        for n in CANARY_NETS {
            if let Ok(net) = n.parse::<Ipv4Net>() {
                i.threat.insert_v4(net, list.clone());
            }
        }
        i
    }

    /// Loads a list; returns the number of entries and the lines that were not entries.
    pub fn load(
        &mut self,
        name: &str,
        kind: ListKind,
        format: ListFormat,
        bytes: &[u8],
    ) -> Result<(usize, Vec<BadLine>), IntelError> {
        let err = |m: String| IntelError {
            list: name.to_string(),
            message: m,
        };
        let list = Arc::new(ListRef {
            name: name.to_string(),
            kind,
            builtin: false,
        });
        let sets = match kind {
            ListKind::Threat => &mut self.threat,
            ListKind::Trusted => &mut self.trusted,
            ListKind::Tor => &mut self.tor,
            ListKind::Sinkhole => &mut self.sinkhole,
            ListKind::DropPoint => &mut self.droppoint,
        };
        let mut n = 0;
        let mut bad = Vec::new();
        let mut add = |e: Entry, sets: &mut Sets| {
            match e {
                Entry::V4(p) => sets.insert_v4(p, list.clone()),
                Entry::V6(p) => {
                    sets.v6.insert(p, list.clone());
                }
                Entry::Domain(d) => {
                    sets.domains.insert(d, list.clone());
                }
            }
            n += 1;
        };
        match format {
            ListFormat::Txt | ListFormat::Csv => {
                let text =
                    std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8 text: {e}")))?;
                for (i, line) in text.lines().enumerate() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.is_empty() {
                        continue;
                    }
                    let entry = if format == ListFormat::Csv {
                        line.split(',').find_map(parse_entry)
                    } else {
                        parse_entry(line.split_whitespace().next().unwrap_or(""))
                    };
                    match entry {
                        Some(e) => add(e, sets),
                        None if format == ListFormat::Csv && i == 0 => {} // a header
                        None => bad.push(BadLine {
                            list: name.to_string(),
                            line: i + 1,
                            text: line.chars().take(200).collect(),
                        }),
                    }
                }
            }
            ListFormat::Stix => {
                let v: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| err(format!("not JSON: {e}")))?;
                let objects = v["objects"]
                    .as_array()
                    .ok_or_else(|| err("not a STIX 2.1 bundle (no \"objects\")".into()))?;
                for (i, o) in objects.iter().enumerate() {
                    if o["type"] != "indicator" {
                        continue;
                    }
                    let pattern = o["pattern"].as_str().unwrap_or("");
                    let mut found = false;
                    for key in ["ipv4-addr:value", "ipv6-addr:value", "domain-name:value"] {
                        let mut rest = pattern;
                        while let Some(at) = rest.find(key) {
                            rest = &rest[at + key.len()..];
                            let Some(q) = rest.find('\'') else { break };
                            let after = &rest[q + 1..];
                            let Some(end) = after.find('\'') else { break };
                            if let Some(e) = parse_entry(&after[..end]) {
                                add(e, sets);
                                found = true;
                            }
                            rest = &after[end..];
                        }
                    }
                    if !found {
                        bad.push(BadLine {
                            list: name.to_string(),
                            line: i + 1,
                            text: format!(
                                "indicator pattern without an address or domain: {}",
                                pattern.chars().take(160).collect::<String>()
                            ),
                        });
                    }
                }
            }
        }
        Ok((n, bad))
    }

    /// A threat (or Tor) list entry for this address — unless it is not public or trusted.
    pub fn check_ip(&self, ip: &str) -> Option<IntelMatch> {
        let ip: IpAddr = ip.trim().parse().ok()?;
        // Most addresses are decided here, before any list is searched.
        let public = is_public(ip);
        if !public && !is_canary(ip) {
            return None;
        }
        if self.trusted.ip(ip).is_some() {
            return None;
        }
        let hit = self
            .tor
            .ip(ip)
            .or_else(|| self.sinkhole.ip(ip))
            .or_else(|| self.droppoint.ip(ip))
            .or_else(|| self.threat.ip(ip))?;
        (public || hit.list.builtin).then_some(hit)
    }

    /// Starts bringing in the memory a [`Intel::check_ip`] of this address will read (big
    /// lists' /24 bitmaps: 2 MB each, which the log text streaming through the cache evicts).
    /// Called early — when a record's address has been read, before the rest of it — the
    /// lookup later finds its line in the cache instead of waiting for memory.
    pub fn prefetch(&self, ip: &str) {
        let Some(a) = rough_ipv4(ip) else {
            return;
        };
        for set in [&self.threat, &self.trusted, &self.tor] {
            if let Some(bits) = &set.v4_covered {
                let i = (a >> 8) as usize;
                prefetch(&bits[i / 64]);
            }
        }
    }

    /// A threat list entry for this domain or a parent of it. (Trusted lists are for addresses;
    /// as in GuardDuty, they do not silence DNS findings.)
    pub fn check_domain(&self, name: &str) -> Option<IntelMatch> {
        self.droppoint
            .domain(name)
            .or_else(|| self.threat.domain(name))
    }

    /// Is this address a sinkhole (for answers of DNS queries)?
    pub fn sinkhole(&self, ip: &str) -> Option<IntelMatch> {
        self.sinkhole.ip(ip.trim().parse().ok()?)
    }

    pub fn is_trusted_ip(&self, ip: &str) -> bool {
        ip.trim()
            .parse()
            .ok()
            .is_some_and(|ip| self.trusted.ip(ip).is_some())
    }

    /// Entries loaded: (threat, trusted, tor, sinkhole, drop point).
    pub fn sizes(&self) -> [usize; 5] {
        [
            self.threat.len(),
            self.trusted.len(),
            self.tor.len(),
            self.sinkhole.len(),
            self.droppoint.len(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_public_addresses_cidrs_and_parent_domains_and_trusted_wins() {
        let mut i = Intel::with_canaries();
        let (n, bad) = i
            .load(
                "feed.txt",
                ListKind::Threat,
                ListFormat::Txt,
                b"# a feed\n8.8.8.8\n1.2.3.0/24 # block\n10.0.0.0/8\nevil.example.com\n2001:4860::/32\nnot an entry!\n",
            )
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 7);
        assert_eq!(i.check_ip("1.2.3.77").unwrap().entry, "1.2.3.0/24");
        assert!(i.check_ip("1.2.4.1").is_none());
        // A single address (kept apart from the prefixes) is the longest match inside one.
        assert_eq!(i.check_ip("8.8.8.8").unwrap().entry, "8.8.8.8/32");
        i.load(
            "more.txt",
            ListKind::Threat,
            ListFormat::Txt,
            b"1.2.3.9/32
",
        )
        .unwrap();
        let hit = i.check_ip("1.2.3.9").unwrap();
        assert_eq!(
            (hit.entry.as_str(), hit.list.name.as_str()),
            ("1.2.3.9/32", "more.txt")
        );
        assert_eq!(i.check_ip("1.2.3.10").unwrap().list.name, "feed.txt");
        // Longest prefix first, whatever the order lists came in.
        i.load(
            "wide.txt",
            ListKind::Threat,
            ListFormat::Txt,
            b"1.2.0.0/16\n1.0.0.0/8\n",
        )
        .unwrap();
        assert_eq!(i.check_ip("1.2.9.9").unwrap().entry, "1.2.0.0/16");
        assert_eq!(i.check_ip("1.9.9.9").unwrap().entry, "1.0.0.0/8");
        assert_eq!(i.check_ip("1.2.3.10").unwrap().entry, "1.2.3.0/24");
        assert_eq!(i.check_ip("1.2.3.9").unwrap().entry, "1.2.3.9/32");
        assert!(
            i.check_ip("10.1.1.1").is_none(),
            "private addresses never match"
        );
        assert!(i.check_ip("2001:4860::8888").is_some());
        assert_eq!(
            i.check_domain("a.b.evil.example.com").unwrap().entry,
            "evil.example.com"
        );
        assert!(i.check_domain("example.com").is_none());
        assert!(i.check_domain("notevil.example.com").is_none());
        // The canaries: documentation addresses match only through the built-in set.
        let c = i.check_ip("203.0.113.9").unwrap();
        assert!(c.list.builtin);
        assert!(
            i.check_domain("canary.mamori-test.invalid")
                .unwrap()
                .list
                .builtin
        );
        // Trusted wins over threat.
        i.load(
            "ours.txt",
            ListKind::Trusted,
            ListFormat::Txt,
            b"1.2.3.77\n",
        )
        .unwrap();
        assert!(i.check_ip("1.2.3.77").is_none());
        assert!(i.check_ip("1.2.3.78").is_some());
    }

    /// A big list (past the /24 bitmap's threshold) answers exactly as a small one: the
    /// longest covering entry, checked against every entry one by one.
    #[test]
    fn a_big_list_matches_the_longest_covering_entry() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut text = String::from("44.0.0.0/12\n45.1.2.0/23\n46.7.8.16/28\n47.0.0.0/8\n");
        for _ in 0..(V4_BITMAP_FROM + 500) {
            let v = next();
            // Public addresses in 44.0.0.0–47.255.255.255, so that nets overlap and neighbour.
            text.push_str(&format!(
                "{}.{}.{}.{}/{}\n",
                44 + v % 4,
                (v >> 8) % 16,
                (v >> 16) as u8,
                (v >> 24) as u8,
                [32, 32, 32, 30, 24, 20][(v >> 40) as usize % 6]
            ));
        }
        let entries: Vec<Ipv4Net> = text.lines().map(|l| l.parse().unwrap()).collect();
        let mut i = Intel::default();
        i.load(
            "big.txt",
            ListKind::Threat,
            ListFormat::Txt,
            text.as_bytes(),
        )
        .unwrap();
        assert!(i.threat.v4_covered.is_some());
        let mut hits = 0;
        for q in 0..5_000u32 {
            let v = next();
            let a = Ipv4Addr::new(
                44 + (v % 5) as u8,
                ((v >> 8) % 20) as u8,
                (v >> 16) as u8,
                (v >> 24) as u8,
            );
            let want = entries
                .iter()
                .filter(|n| n.contains(&a))
                .map(|n| n.trunc())
                .max_by_key(|n| n.prefix_len())
                .map(|n| n.to_string());
            let got = i.check_ip(&a.to_string()).map(|m| m.entry);
            assert_eq!(got, want, "query {q}: {a}");
            hits += usize::from(want.is_some());
        }
        assert!(
            hits > 1000 && hits < 19_000,
            "{hits} hits: the test must see both"
        );
    }

    #[test]
    fn the_rough_ipv4_reading_agrees_on_addresses() {
        for a in ["1.2.3.4", "255.255.255.255", "0.0.0.0", "203.0.113.9"] {
            assert_eq!(
                rough_ipv4(a),
                Some(u32::from(a.parse::<Ipv4Addr>().unwrap())),
                "{a}"
            );
        }
        for a in ["", "1.2.3", "::1", "1.2.3.4.5", "a.b.c.d", "2001:db8::1"] {
            assert_eq!(rough_ipv4(a), None, "{a}");
        }
    }

    #[test]
    fn csv_and_stix_lists_load() {
        let mut i = Intel::default();
        let (n, _) = i
            .load(
                "f.csv",
                ListKind::Threat,
                ListFormat::Csv,
                b"indicator,type\n5.6.7.8,ip\nbad.example.net,domain\n",
            )
            .unwrap();
        assert_eq!(n, 2);
        let stix = br#"{"type":"bundle","objects":[
            {"type":"indicator","pattern":"[ipv4-addr:value = '9.9.9.9'] OR [domain-name:value = 'c2.example.org']","pattern_type":"stix"},
            {"type":"malware","name":"x"}]}"#;
        let (n, bad) = i
            .load("s.json", ListKind::Threat, ListFormat::Stix, stix)
            .unwrap();
        assert_eq!((n, bad.len()), (2, 0));
        assert!(i.check_ip("9.9.9.9").is_some());
        assert!(i.check_domain("c2.example.org").is_some());
        assert!(
            i.load("x.json", ListKind::Threat, ListFormat::Stix, b"[]")
                .is_err()
        );
    }
}
