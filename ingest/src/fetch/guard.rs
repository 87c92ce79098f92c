//! The private-network guard: keeps ingest runs (whose URLs come partly from scraped pages and
//! redirects) from reaching internal services such as cloud metadata endpoints, the database or
//! the API itself.
//!
//! It is enforced in three places:
//! - literal IP hosts are checked before a request is sent ([`check_literal_host`]);
//! - host names are checked at connection time by [`GuardedResolver`], the client's DNS
//!   resolver, so a name that resolves to a private address (or re-resolves to one later:
//!   DNS rebinding) is never connected to;
//! - every redirect hop is checked by [`redirect_decision`] (literal IPs; names go through the
//!   resolver again).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Whether `ip` is anything other than a public unicast address: private (RFC 1918), loopback,
/// link-local, unique-local, CGNAT (100.64.0.0/10), unspecified, "this network" (0.0.0.0/8),
/// multicast, broadcast, reserved, benchmarking or documentation ranges. IPv6 addresses that
/// embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) are judged by the embedded IPv4 address.
pub fn is_non_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_ipv4(v4),
        IpAddr::V6(v6) => is_non_public_ipv6(v6),
    }
}

fn is_non_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()                                  // 10/8, 172.16/12, 192.168/16
        || ip.is_loopback()                          // 127/8
        || ip.is_link_local()                        // 169.254/16 (cloud metadata lives here)
        || ip.is_broadcast()                         // 255.255.255.255
        || ip.is_multicast()                         // 224/4
        || ip.is_documentation()                     // 192.0.2/24, 198.51.100/24, 203.0.113/24
        || a == 0                                    // 0/8 "this network", incl. 0.0.0.0
        || (a == 100 && (b & 0b1100_0000) == 64)     // 100.64/10 CGNAT
        || (a == 192 && b == 0 && c == 0)            // 192.0.0/24 IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18)            // 198.18/15 benchmarking
        || a >= 240 // 240/4 reserved
}

fn is_non_public_ipv6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_ipv4(ip) {
        return is_non_public_ipv4(v4);
    }
    let first = ip.segments()[0];
    ip.is_unspecified()                   // ::
        || ip.is_loopback()               // ::1
        || ip.is_multicast()              // ff00::/8
        || (first & 0xfe00) == 0xfc00     // fc00::/7 unique local
        || (first & 0xffc0) == 0xfe80     // fe80::/10 link-local
        || (first & 0xffc0) == 0xfec0     // fec0::/10 site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // 2001:db8::/32 documentation
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0] // 100::/64 discard
}

/// The IPv4 address carried inside an IPv6 address, for the forms that route to it.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (IPv4-mapped)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // ::a.b.c.d (IPv4-compatible, deprecated); :: and ::1 are handled as IPv6.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(low),
        // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:AABB:CCDD::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Refuses URLs whose host is a literal non-public IP address (names are left to the resolver).
/// Returns the reason on refusal.
pub(crate) fn check_literal_host(url: &Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_non_public_ip(ip) {
        Err(format!("{ip} is not a public address"))
    } else {
        Ok(())
    }
}

/// Why the redirect policy refused to follow a redirect.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedirectRefusal {
    #[error("redirect to {url} refused: {reason}")]
    PrivateNetwork { url: String, reason: String },
    #[error("more than {limit} redirects")]
    TooMany { limit: usize },
    #[error("redirect to unsupported scheme {scheme:?}")]
    Scheme { scheme: String },
}

/// What to do with a redirect to `next` after `previous_requests` requests in the chain
/// (reqwest counts the original request in that list).
pub(crate) fn redirect_decision(
    next: &Url,
    previous_requests: usize,
    max_redirects: usize,
    allow_private_network: bool,
) -> Result<(), RedirectRefusal> {
    if previous_requests > max_redirects {
        return Err(RedirectRefusal::TooMany {
            limit: max_redirects,
        });
    }
    if !matches!(next.scheme(), "http" | "https") {
        return Err(RedirectRefusal::Scheme {
            scheme: next.scheme().to_owned(),
        });
    }
    if !allow_private_network && let Err(reason) = check_literal_host(next) {
        return Err(RedirectRefusal::PrivateNetwork {
            url: super::redact_url(next),
            reason,
        });
    }
    Ok(())
}

/// A host name resolved only to non-public addresses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses ({})", display_addrs(.addresses))]
pub(crate) struct PrivateAddressError {
    pub host: String,
    pub addresses: Vec<IpAddr>,
}

fn display_addrs(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The client's DNS resolver: the system resolver, minus non-public addresses (unless
/// allowed). Names in `exempt_hosts` (the configured proxies, which commonly live on a private
/// network) are not filtered.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    pub allow_private_network: bool,
    pub exempt_hosts: Arc<HashSet<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let filter =
            !self.allow_private_network && !self.exempt_hosts.contains(&host.to_ascii_lowercase());
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !filter {
                return Ok(Box::new(addrs.into_iter()) as Addrs);
            }
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
                .into_iter()
                .partition(|addr| !is_non_public_ip(addr.ip()));
            if public.is_empty() {
                return Err(Box::new(PrivateAddressError {
                    host,
                    addresses: refused.iter().map(SocketAddr::ip).collect(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            if !refused.is_empty() {
                tracing::debug!(%host, ?refused, "dropped non-public addresses from DNS answer");
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Resolves `host` and fails if it has no public address. Used before sending when a proxy is
/// configured: the proxy, not our resolver, then resolves the target name.
pub(crate) async fn check_resolved_host(host: &str, port: u16) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => addrs.collect(),
        // Resolution failures are the proxy's business; the request will report them.
        Err(_) => return Ok(()),
    };
    if !addrs.is_empty() && addrs.iter().all(|addr| is_non_public_ip(addr.ip())) {
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        return Err(format!(
            "{host} resolves only to non-public addresses ({})",
            display_addrs(&ips)
        ));
    }
    Ok(())
}

/// Host names of the proxies configured through the standard environment variables (which
/// reqwest honours).
pub(crate) fn proxy_hosts_from_env() -> HashSet<String> {
    proxy_hosts(
        [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ]
        .iter()
        .filter_map(|var| std::env::var(var).ok()),
    )
}

/// Host names of proxy settings such as `http://proxy.corp:3128` or `proxy.corp:3128`.
fn proxy_hosts(values: impl Iterator<Item = String>) -> HashSet<String> {
    values
        .filter(|value| !value.trim().is_empty())
        .filter_map(|value| {
            let value = value.trim();
            let with_scheme = if value.contains("://") {
                value.to_owned()
            } else {
                format!("http://{value}")
            };
            Url::parse(&with_scheme)
                .ok()?
                .host_str()
                .map(|h| h.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn non_public(s: &str) -> bool {
        is_non_public_ip(s.parse().unwrap())
    }

    #[test]
    fn private_ipv4_ranges_are_not_public() {
        for ip in [
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
        ] {
            assert!(non_public(ip), "{ip}");
        }
    }

    #[test]
    fn loopback_link_local_cgnat_unspecified_multicast_and_broadcast_ipv4_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "192.0.2.1",
        ] {
            assert!(non_public(ip), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_addresses_including_neighbours_of_private_ranges_are_public() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "11.0.0.1",
        ] {
            assert!(!non_public(ip), "{ip}");
        }
    }

    #[test]
    fn special_ipv6_addresses_are_not_public() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(non_public(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_private_ipv4_are_judged_by_the_ipv4_address() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::192.168.0.1",
            "2002:c0a8:0101::1",
        ] {
            assert!(non_public(ip), "{ip}");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::1.1.1.1", "2002:0808:0808::1"] {
            assert!(!non_public(ip), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_addresses_are_public() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
        ] {
            assert!(!non_public(ip), "{ip}");
        }
    }

    #[test]
    fn literal_private_hosts_in_urls_are_refused_and_names_are_left_to_the_resolver() {
        let check = |s: &str| check_literal_host(&Url::parse(s).unwrap());
        assert!(check("http://127.0.0.1:8080/").is_err());
        assert!(check("http://[::1]/").is_err());
        assert!(check("http://[::ffff:7f00:1]/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        // The URL parser normalises exotic IPv4 spellings, so they cannot sneak past.
        assert!(check("http://2130706433/").is_err());
        assert!(check("http://0x7f.1/").is_err());
        assert!(check("http://8.8.8.8/").is_ok());
        assert!(check("http://localhost/").is_ok());
    }

    #[test]
    fn redirects_to_private_literals_unsupported_schemes_or_past_the_limit_are_refused() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(redirect_decision(&url("https://example.com/b"), 1, 5, false).is_ok());
        assert!(matches!(
            redirect_decision(&url("http://10.0.0.1/"), 1, 5, false),
            Err(RedirectRefusal::PrivateNetwork { .. })
        ));
        assert!(redirect_decision(&url("http://10.0.0.1/"), 1, 5, true).is_ok());
        assert!(matches!(
            redirect_decision(&url("file:///etc/passwd"), 1, 5, true),
            Err(RedirectRefusal::Scheme { .. })
        ));
        assert!(redirect_decision(&url("https://example.com/"), 5, 5, false).is_ok());
        assert!(matches!(
            redirect_decision(&url("https://example.com/"), 6, 5, false),
            Err(RedirectRefusal::TooMany { limit: 5 })
        ));
    }

    #[test]
    fn proxy_hosts_are_read_from_urls_with_or_without_a_scheme() {
        let hosts = proxy_hosts(
            [
                "http://Proxy.Corp:3128",
                "socks5h://user:pw@10.1.2.3:1080",
                "bare.proxy:8080",
                " ",
            ]
            .map(String::from)
            .into_iter(),
        );
        let expected: HashSet<String> = ["proxy.corp", "10.1.2.3", "bare.proxy"]
            .map(String::from)
            .into();
        assert_eq!(hosts, expected);
    }

    #[tokio::test]
    async fn the_proxy_preflight_refuses_names_that_resolve_only_to_private_addresses() {
        let reason = check_resolved_host("localhost", 80).await.unwrap_err();
        assert!(reason.contains("localhost"), "{reason}");
        // Names that do not resolve are left for the proxy to report.
        assert!(check_resolved_host("nonexistent.invalid", 80).await.is_ok());
    }

    #[tokio::test]
    async fn resolver_refuses_names_that_resolve_only_to_loopback() {
        let resolver = GuardedResolver {
            allow_private_network: false,
            exempt_hosts: Arc::default(),
        };
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost must be refused"),
            Err(err) => err,
        };
        assert!(err.downcast_ref::<PrivateAddressError>().is_some(), "{err}");
    }

    #[tokio::test]
    async fn resolver_passes_everything_through_when_private_networks_are_allowed() {
        let resolver = GuardedResolver {
            allow_private_network: true,
            exempt_hosts: Arc::default(),
        };
        let addrs: Vec<SocketAddr> = resolver
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
