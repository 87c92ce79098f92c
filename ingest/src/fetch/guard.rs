//! The private-network guard: keeps ingest runs (whose URLs come partly from scraped pages and
//! redirects) from reaching internal services such as cloud metadata endpoints, the database or
//! the API itself.
//!
//! It is enforced in three places:
//! - literal IP hosts are checked before a request is sent ([`check_literal_host`]);
//! - host names are checked at connection time by [`GuardedResolver`], the client's DNS
//!   resolver, so a name that resolves to a private address (or re-resolves to one later:
//!   DNS rebinding) is never connected to;
//! - redirects are followed by the fetcher itself, and every hop is checked before it is
//!   requested, in every mode: [`redirect_decision`] (count, scheme, literal IPs), then
//!   [`Guard::check_url_host`], which resolves the hop's name. With a proxy this is the only
//!   check of a name (the proxy resolves it for the connection), so the first URL is checked
//!   this way too.
//!
//! A DNS answer with any non-public address in it is refused as a whole, even next to public
//! ones. Names are looked up through a [`HostResolver`], which tests replace.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use futures_util::future::BoxFuture;
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

/// A host name whose DNS answer holds a non-public address (or only such addresses).
///
/// A mixed answer is refused as a whole rather than filtered: a name that also resolves to a
/// private address is one an attacker may control (DNS rebinding) or one that is internal.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to non-public {} ({})", if .refused.len() == 1 { "address" } else { "addresses" }, display_addrs(.refused))]
pub(crate) struct PrivateAddressError {
    pub host: String,
    /// The non-public addresses in the answer.
    pub refused: Vec<IpAddr>,
}

fn display_addrs(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where the fetcher looks up host names: the system resolver in production, a fixed table in
/// tests (so a test can make `public.test` public and `internal.test` private without touching
/// DNS). Used for every check the guard makes and, in direct mode, for the connection itself.
pub trait HostResolver: Send + Sync + std::fmt::Debug {
    /// Every address `host` resolves to.
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// The guard's view of the network: which resolver to ask, whether private addresses are
/// allowed, and which names may resolve to them anyway (the configured proxies).
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    pub resolver: Arc<dyn HostResolver>,
    pub allow_private_network: bool,
    pub exempt_hosts: Arc<HashSet<String>>,
}

impl Guard {
    fn checks(&self, host: &str) -> bool {
        !self.allow_private_network && !self.exempt_hosts.contains(&host.to_ascii_lowercase())
    }

    /// Resolves `host` and refuses it if any address in the answer is non-public (unless
    /// allowed or exempt).
    async fn resolve_checked(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let addrs = self.resolver.lookup(host).await?;
        if self.checks(host) {
            let refused: Vec<IpAddr> = addrs
                .iter()
                .copied()
                .filter(|ip| is_non_public_ip(*ip))
                .collect();
            if !refused.is_empty() {
                return Err(Box::new(PrivateAddressError {
                    host: host.to_owned(),
                    refused,
                }));
            }
        }
        Ok(addrs)
    }

    /// Checks the host of `url` before a request is sent to it (the first URL when a proxy
    /// resolves names for us, and every redirect hop in every mode): a literal non-public IP,
    /// a name that resolves to any non-public address, and a name that cannot be resolved (so
    /// cannot be checked) are refused. Returns the reason.
    pub(crate) async fn check_url_host(&self, url: &Url) -> Result<(), String> {
        if self.allow_private_network {
            return Ok(());
        }
        check_literal_host(url)?;
        let Some(Host::Domain(host)) = url.host() else {
            return Ok(());
        };
        match self.resolve_checked(host).await {
            Ok(_) => Ok(()),
            Err(e) if e.is::<PrivateAddressError>() => Err(e.to_string()),
            Err(e) => Err(format!(
                "cannot resolve {host} to check that it is public ({e})"
            )),
        }
    }
}

/// The client's DNS resolver in direct mode: [`Guard::resolve_checked`] at connection time, so
/// a name that resolves (or re-resolves, DNS rebinding) to a non-public address is never
/// connected to, whatever was checked before.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver(pub Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve_checked(&host).await?;
            Ok(Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0))) as Addrs)
        })
    }
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

    /// Names answered from a table; anything else does not resolve.
    #[derive(Debug)]
    struct Table(Vec<(&'static str, Vec<&'static str>)>);

    impl HostResolver for Table {
        fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let found = self
                .0
                .iter()
                .find(|(name, _)| *name == host)
                .map(|(_, ips)| {
                    ips.iter()
                        .map(|ip| ip.parse().unwrap())
                        .collect::<Vec<IpAddr>>()
                });
            Box::pin(async move {
                found.ok_or_else(|| std::io::Error::other("no such host (test table)"))
            })
        }
    }

    fn guard(allow_private_network: bool, exempt: &[&str]) -> Guard {
        Guard {
            resolver: Arc::new(Table(vec![
                ("public.test", vec!["93.184.216.34", "2606:2800:220:1::"]),
                ("loopback.test", vec!["127.0.0.1", "::1"]),
                ("mixed.test", vec!["93.184.216.34", "10.1.2.3"]),
                ("metadata.test", vec!["169.254.169.254"]),
                ("proxy.test", vec!["10.0.0.8"]),
            ])),
            allow_private_network,
            exempt_hosts: Arc::new(exempt.iter().map(|h| (*h).to_owned()).collect()),
        }
    }

    async fn check(guard: &Guard, url: &str) -> Result<(), String> {
        guard.check_url_host(&Url::parse(url).unwrap()).await
    }

    #[tokio::test]
    async fn hosts_are_refused_when_any_address_in_the_answer_is_not_public() {
        let g = guard(false, &[]);
        assert_eq!(check(&g, "https://public.test/jobs").await, Ok(()));
        assert_eq!(
            check(&g, "http://loopback.test:8080/").await,
            Err("loopback.test resolves to non-public addresses (127.0.0.1, ::1)".into())
        );
        assert_eq!(
            check(&g, "http://mixed.test/").await,
            Err("mixed.test resolves to non-public address (10.1.2.3)".into()),
            "a public address next to a private one does not make the name public"
        );
        assert!(check(&g, "http://metadata.test/").await.is_err());
        assert_eq!(
            check(&g, "http://10.0.0.1/").await,
            Err("10.0.0.1 is not a public address".into())
        );
        let unknown = check(&g, "http://nowhere.test/").await.unwrap_err();
        assert!(
            unknown.starts_with("cannot resolve nowhere.test to check that it is public"),
            "{unknown}"
        );
    }

    #[tokio::test]
    async fn allowed_private_networks_and_exempt_proxies_are_not_refused() {
        assert_eq!(
            check(&guard(true, &[]), "http://loopback.test/").await,
            Ok(())
        );
        assert_eq!(check(&guard(true, &[]), "http://10.0.0.1/").await, Ok(()));
        let g = guard(false, &["proxy.test"]);
        assert_eq!(check(&g, "http://proxy.test:3128/").await, Ok(()));
        assert!(check(&g, "http://mixed.test/").await.is_err());
    }

    async fn connect_addrs(resolver: &GuardedResolver, name: &str) -> Result<Vec<IpAddr>, String> {
        match resolver.resolve(name.parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => {
                assert!(e.downcast_ref::<PrivateAddressError>().is_some(), "{e}");
                Err(e.to_string())
            }
        }
    }

    #[tokio::test]
    async fn the_connection_resolver_refuses_mixed_answers_instead_of_filtering_them() {
        let resolver = GuardedResolver(guard(false, &[]));
        assert_eq!(
            connect_addrs(&resolver, "mixed.test").await,
            Err("mixed.test resolves to non-public address (10.1.2.3)".into())
        );
        assert!(connect_addrs(&resolver, "loopback.test").await.is_err());
        assert_eq!(
            connect_addrs(&resolver, "public.test").await.unwrap().len(),
            2
        );
        let allowed = GuardedResolver(guard(true, &[]));
        assert_eq!(
            connect_addrs(&allowed, "loopback.test")
                .await
                .unwrap()
                .len(),
            2
        );
    }

    #[tokio::test]
    async fn the_system_resolver_resolves_localhost_to_loopback() {
        let addrs = SystemResolver.lookup("localhost").await.unwrap();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|ip| ip.is_loopback()),
            "{addrs:?}"
        );
    }
}
