//! Outbound calls to URLs tenants name (webhooks): no server-side request forgery.
//!
//! A tenant's URL must be `http` or `https`, carry no `user:pass@`, and resolve only to public
//! addresses: loopback, private (RFC 1918, unique-local), link-local (the cloud metadata service
//! at 169.254.169.254), carrier-grade NAT, unspecified, multicast, broadcast, documentation and
//! benchmark ranges, and IPv4-mapped forms of them are refused unless the operator allows
//! private targets (`[server] allow_private_webhooks`). Hosts are parsed as browsers do (the
//! `url` crate), so `0x7f000001` and `2130706433` are 127.0.0.1. The name is resolved once and
//! the call connects to the checked address ([`Checked::addr`]), so a second answer from DNS
//! cannot move it; callers must also refuse redirects and bypass proxies.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Why a URL was refused, or could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("URL {url:?} is refused: {reason}")]
    Refused { url: String, reason: String },
    #[error("cannot resolve the host of {url:?}: {message}")]
    Resolve { url: String, message: String },
}

/// A URL that passed the checks, and the one address to connect to.
#[derive(Clone, Debug)]
pub struct Checked {
    pub url: url::Url,
    /// The host name as written (what TLS and the Host header use).
    pub host: String,
    pub addr: SocketAddr,
}

/// Whether `ip` is an address any host on the internet could be reached at.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (embeds IPv4 of any kind)
                || (s[0] == 0x2002) // 6to4 (embeds IPv4 of any kind)
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

/// Checks the URL's form (scheme, no credentials, a host) without resolving it.
pub fn check_form(raw: &str) -> Result<url::Url, OutboundError> {
    let refuse = |reason: &str| OutboundError::Refused {
        url: raw.to_string(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(raw).map_err(|e| refuse(&format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("only http:// and https:// URLs are called"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "credentials in the URL (user:pass@) are not allowed; the webhook's secret signs each call",
        ));
    }
    if url.host().is_none() {
        return Err(refuse("no host"));
    }
    Ok(url)
}

/// Checks `raw` and resolves its host once; every address it resolves to must be public
/// unless `allow_private`.
pub async fn check(raw: &str, allow_private: bool) -> Result<Checked, OutboundError> {
    let url = check_form(raw)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let (host, addrs): (String, Vec<SocketAddr>) = match url.host() {
        Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(url::Host::Domain(d)) => {
            let d = d.to_string();
            let found = tokio::net::lookup_host((d.as_str(), port))
                .await
                .map_err(|e| OutboundError::Resolve {
                    url: raw.to_string(),
                    message: e.to_string(),
                })?
                .collect::<Vec<_>>();
            (d, found)
        }
        None => unreachable!("check_form refused a URL without a host"),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(OutboundError::Resolve {
            url: raw.to_string(),
            message: "no addresses".into(),
        });
    };
    if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(OutboundError::Refused {
            url: raw.to_string(),
            reason: format!(
                "it points at {} — a loopback, private, link-local or otherwise non-public \
                 address; the operator can allow such targets with [server] allow_private_webhooks",
                bad.ip()
            ),
        });
    }
    Ok(Checked {
        url,
        host,
        addr: first,
    })
}

/// The addresses the tests (and docs) name as refused.
#[doc(hidden)]
pub const EXAMPLES_REFUSED: &[&str] = &[
    "http://127.0.0.1/",
    "http://localhost:8080/x",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://017700000001/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        for u in EXAMPLES_REFUSED {
            let r = check(u, false).await;
            assert!(
                matches!(r, Err(OutboundError::Refused { .. })),
                "{u}: {r:?}"
            );
        }
        let ok = check("http://127.0.0.1:9/", true).await.unwrap();
        assert_eq!(ok.addr, "127.0.0.1:9".parse().unwrap());
    }

    #[tokio::test]
    async fn forms_that_are_never_called() {
        for u in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "http://user:pass@example.com/",
            "http://user@example.com/",
            "gopher://x/",
            "not a url",
        ] {
            assert!(
                matches!(check(u, true).await, Err(OutboundError::Refused { .. })),
                "{u}"
            );
        }
    }

    #[test]
    fn public_addresses() {
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "93.184.216.34"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "2002::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
