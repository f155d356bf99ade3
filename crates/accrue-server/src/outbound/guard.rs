//! SSRF protection for outbound HTTP. Webhook and postback URLs are typed by admins
//! and partners, so without a guard they could make the server fetch its cloud
//! metadata endpoint, its database or anything else on the internal network.
//!
//! Two checks together close that door: [`check_url`] refuses literal internal IPs
//! (which reqwest connects to without resolving), and [`GuardedResolver`] refuses host
//! names that resolve to internal addresses at connect time, which also defeats DNS
//! rebinding. An [`Allowlist`] opens ranges deliberately (a receiver on the same host).

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum GuardError {
    #[error("refusing {ip}: {why} (allowlist it with --outbound-allow)")]
    Internal { ip: IpAddr, why: &'static str },
    #[error("refusing {host} ({ip}): {why} (allowlist it with --outbound-allow)")]
    ResolvesInternal {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    #[error("refusing {host}: it resolves to no address")]
    Unresolved { host: String },
    #[error("refusing {scheme}:// URL: only http and https are allowed")]
    Scheme { scheme: String },
    #[error("refusing {url}: it has no host")]
    NoHost { url: String },
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid outbound allowlist entry {0:?}: expected an IP address or a CIDR such as 10.0.0.0/8")]
    BadAllowlistEntry(String),
}

/// Addresses outbound requests must not reach unless allowlisted, with the reason
/// given in errors: every range of the IANA IPv4 and IPv6 special-purpose address
/// registries that is not globally reachable, and the multicast and reserved space.
/// The first matching range names the reason.
static INTERNAL: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/8", "unspecified address"),
        ("10.0.0.0/8", "private address"),
        ("100.64.0.0/10", "shared (CGNAT) address"),
        ("127.0.0.0/8", "loopback address"),
        ("169.254.0.0/16", "link-local address"),
        ("172.16.0.0/12", "private address"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation address"),
        ("192.88.99.0/24", "6to4 relay address (deprecated)"),
        ("192.168.0.0/16", "private address"),
        ("198.18.0.0/15", "benchmarking address"),
        ("198.51.100.0/24", "documentation address"),
        ("203.0.113.0/24", "documentation address"),
        ("224.0.0.0/4", "multicast address"),
        ("240.0.0.0/4", "reserved or broadcast address"),
        ("::/128", "unspecified address"),
        ("::1/128", "loopback address"),
        ("::/96", "IPv4-compatible address (deprecated)"),
        ("64:ff9b:1::/48", "local IPv4/IPv6 translation address"),
        ("100::/64", "discard-only address"),
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation address"),
        ("2002::/16", "6to4 address"),
        ("3fff::/20", "documentation address"),
        ("5f00::/16", "segment routing (SRv6) address"),
        ("fc00::/7", "unique-local address"),
        ("fe80::/10", "link-local address"),
        ("fec0::/10", "site-local address (deprecated)"),
        ("ff00::/8", "multicast address"),
    ]
    .into_iter()
    .map(|(net, why)| (net.parse().expect("a valid CIDR"), why))
    .collect()
});

/// The IPv4 address an IPv6 address stands for, if any: IPv4-mapped (`::ffff:a.b.c.d`,
/// which the OS connects to as IPv4) and NAT64 (`64:ff9b::a.b.c.d`, which a NAT64
/// gateway forwards to IPv4). Either would otherwise smuggle an internal IPv4 past
/// the IPv6 ranges.
fn embedded_v4(ip: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = ip else { return None };
    let nat64 = v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let v4 = match v6.to_ipv4_mapped() {
        Some(v4) => v4,
        None if nat64 => Ipv4Addr::from_bits(v6.to_bits() as u32),
        None => return None,
    };
    Some(IpAddr::V4(v4))
}

/// Why `ip` is internal, or `None` when it is public.
fn internal_reason(ip: IpAddr) -> Option<&'static str> {
    let ip = embedded_v4(ip).unwrap_or(ip);
    INTERNAL.iter().find(|(net, _)| net.contains(&ip)).map(|(_, why)| *why)
}

/// Whether an address is one outbound requests must not reach unless allowlisted.
pub fn is_internal(ip: IpAddr) -> bool {
    internal_reason(ip).is_some()
}

/// Address ranges outbound requests may reach even though they are internal.
#[derive(Debug, Clone, Default)]
pub struct Allowlist(Vec<IpNet>);

impl Allowlist {
    /// Reads CIDRs (`127.0.0.0/8`, `fd00::/8`) and single addresses (`127.0.0.1`, `::1`).
    pub fn parse(items: &[String]) -> Result<Allowlist, GuardError> {
        let parse_one = |item: &String| {
            let item = item.trim();
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| GuardError::BadAllowlistEntry(item.to_owned()))
        };
        items.iter().map(parse_one).collect::<Result<_, _>>().map(Allowlist)
    }

    /// Whether `ip`, or the IPv4 address it embeds, is in an allowlisted range.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let v4 = embedded_v4(ip);
        self.0
            .iter()
            .any(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)))
    }

    /// Why connecting to `ip` is refused, or `None` when it is allowed.
    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        internal_reason(ip).filter(|_| !self.allows(ip))
    }
}

/// Checks a URL before it is saved or used: scheme http/https, a host, and a literal
/// IP host must be public or allowlisted. Host names are checked at connection time
/// by [`GuardedResolver`].
pub fn check_url(url: &str, allow: &Allowlist) -> Result<reqwest::Url, GuardError> {
    let invalid = |reason: &str| GuardError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    // The URL parser forgives what a browser would (`http:///h` and `http:h` become
    // `http://h/`, tabs and newlines vanish); a URL that means something else than it
    // reads is refused instead.
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("it contains spaces or control characters"));
    }
    let authority = url.split_once("://").map(|(_, rest)| rest);
    if authority.is_none_or(|rest| rest.is_empty() || rest.starts_with(['/', '\\', '?', '#'])) {
        if let Ok(parsed) = reqwest::Url::parse(url) {
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(GuardError::Scheme {
                    scheme: parsed.scheme().to_owned(),
                });
            }
        }
        return Err(GuardError::NoHost { url: url.to_owned() });
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(GuardError::Scheme {
            scheme: parsed.scheme().to_owned(),
        });
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| GuardError::NoHost { url: url.to_owned() })?;
    // The URL parser has already normalised IPv4 spellings such as `2130706433` or
    // `0x7f.1`; IPv6 hosts come in brackets.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if let Some(why) = allow.refusal(ip) {
            return Err(GuardError::Internal { ip, why });
        }
    }
    Ok(parsed)
}

/// A DNS resolver for reqwest that drops internal addresses (unless allowlisted), so
/// a public name that resolves to 10.0.0.1 (or changes to it: DNS rebinding) is
/// refused at connect time.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    allow: Arc<Allowlist>,
}

impl GuardedResolver {
    pub fn new(allow: Allowlist) -> GuardedResolver {
        GuardedResolver { allow: Arc::new(allow) }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = Arc::clone(&self.allow);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut refused = None;
            let kept: Vec<SocketAddr> = resolved
                .filter(|addr| match allow.refusal(addr.ip()) {
                    None => true,
                    Some(why) => {
                        refused.get_or_insert((addr.ip(), why));
                        false
                    }
                })
                .collect();
            if kept.is_empty() {
                let error = match refused {
                    Some((ip, why)) => GuardError::ResolvesInternal { host, ip, why },
                    None => GuardError::Unresolved { host },
                };
                return Err(error.into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for all outbound delivery: the guarded resolver, the given
/// timeout, no redirects (a redirect could point inside), no proxy, and the user
/// agent `Accrue-Webhooks/<version>`.
///
/// reqwest does not call the resolver for URLs whose host is a literal IP, so callers
/// must run [`check_url`] before every request as well.
pub fn client(allow: Allowlist, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(allow)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Accrue-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with a static configuration builds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn allow(items: &[&str]) -> Allowlist {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        Allowlist::parse(&items).unwrap()
    }

    #[test]
    fn classifies_addresses() {
        let internal = [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "203.0.113.9",
            "2001:db8::1",
            "2002:7f00:1::1",
            "100::1",
            "224.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ];
        let public = [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for ip in internal {
            assert!(is_internal(ip.parse().unwrap()), "{ip} should be internal");
        }
        for ip in public {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[test]
    fn refuses_internal_and_non_http_urls() {
        let none = Allowlist::default();
        for url in [
            "http://127.0.0.1/x",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "file:///etc/passwd",
            "ftp://x",
            "gopher://x/",
            "not a url",
            "http:///",
            "http:///h",
            "http:h",
            "http:\\\\h/",
            "https://exa\tmple.com/",
            " https://example.com/",
            "http://198.18.0.1/",
            "http://192.0.0.170/",
        ] {
            assert!(check_url(url, &none).is_err(), "{url} should be refused");
        }
        assert!(check_url("https://partner.example/pb?x=1", &none).is_ok());
        assert!(check_url("http://8.8.8.8/", &none).is_ok());
        assert!(
            check_url("http://localhost/", &none).is_ok(),
            "names are checked on connect"
        );
    }

    #[test]
    fn errors_say_what_and_how() {
        let none = Allowlist::default();
        let message = |url| check_url(url, &none).unwrap_err().to_string();
        assert_eq!(
            message("http://10.0.0.1/"),
            "refusing 10.0.0.1: private address (allowlist it with --outbound-allow)"
        );
        assert_eq!(
            message("file:///etc/passwd"),
            "refusing file:// URL: only http and https are allowed"
        );
    }

    #[test]
    fn allowlist_opens_ranges() {
        let list = allow(&["127.0.0.0/8", "::1", " 10.1.2.3 "]);
        assert!(check_url("http://127.0.0.1:8080/hook", &list).is_ok());
        assert!(check_url("http://[::1]/", &list).is_ok());
        assert!(check_url("http://[::ffff:127.0.0.2]/", &list).is_ok());
        assert!(check_url("http://10.1.2.3/", &list).is_ok());
        assert!(check_url("http://10.1.2.4/", &list).is_err());
        assert!(Allowlist::parse(&["localhost".to_string()]).is_err());
        assert!(Allowlist::parse(&["10.0.0.0/33".to_string()]).is_err());
    }

    /// A receiver on 127.0.0.1 that answers every request with an empty 200.
    async fn receiver() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let response = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                let _ = socket.write_all(response).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn resolver_refuses_internal_names_unless_allowlisted() {
        let url = format!("http://localhost:{}/", receiver().await);
        let timeout = Duration::from_secs(5);

        let error = client(Allowlist::default(), timeout)
            .get(&url)
            .send()
            .await
            .unwrap_err();
        let chain = std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| e.source());
        let messages: Vec<String> = chain.map(|e| e.to_string()).collect();
        assert!(
            messages.iter().any(|m| m.starts_with("refusing localhost (")),
            "{messages:?}"
        );

        let response = client(allow(&["127.0.0.1"]), timeout).get(&url).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::OK);
    }
}
