//! The client's address behind reverse proxies (`security.trusted_proxies`).
//!
//! A connection's TCP peer is its client unless the peer is a trusted proxy. From a
//! trusted proxy the client's address is taken from, in turn:
//!
//! 1. the PROXY protocol header, when `security.require_proxy_protocol` is on: every
//!    connection from a trusted proxy must start with one (`proxy_protocol.rs`);
//!    connections from other peers are direct clients, and a PROXY header from them is
//!    not HTTP (`400`);
//! 2. then, per request, if the address so far is a trusted proxy: `Forwarded`
//!    (RFC 7239) and `X-Forwarded-For`, read from the right (the nearest hop), skipping
//!    addresses that are trusted proxies themselves; the first untrusted address is the
//!    client. What lies left of it was written by an untrusted party and is not read.
//!    When both headers are present they must name the same client.
//!
//! A forwarding header from a trusted proxy that cannot be read (garbage, `unknown`, an
//! obfuscated identifier, too long) refuses the request with `400`: the server never
//! falls back to the proxy's own address, which would lump every client together.
//! From untrusted peers these headers are ignored.

mod headers;
pub(crate) mod proxy_protocol;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use signal_fish_core::config::{AddressRange, SecurityConfig};

use proxy_protocol::ProxiedSource;

/// Most bytes the forwarding headers of one request may have together.
pub(crate) const MAX_FORWARDING_BYTES: usize = 2048;
/// Most hops the forwarding headers of one request may name together.
pub(crate) const MAX_FORWARDING_HOPS: usize = 32;
/// One warning about a misbehaving proxy per this interval; the rest are counted.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// `security.trusted_proxies` and `security.require_proxy_protocol`, ready to use.
#[derive(Debug)]
pub(crate) struct Forwarding {
    proxies: Vec<AddressRange>,
    require_proxy_protocol: bool,
    warnings: WarningLimit,
}

/// Where a connection's requests come from before their headers are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionSource {
    /// The TCP peer, or the client a PROXY header named.
    pub address: IpAddr,
    /// Whether that address is a trusted proxy whose forwarding headers are read.
    pub reads_headers: bool,
}

/// Why the forwarding headers of a request from a trusted proxy name no client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ForwardingError {
    /// Above [`MAX_FORWARDING_BYTES`] or [`MAX_FORWARDING_HOPS`].
    TooLarge(String),
    /// A header that cannot be read, or a hop that is not an address.
    Malformed(String),
    /// `Forwarded` and `X-Forwarded-For` name different clients.
    Disagree {
        /// The client `Forwarded` names.
        forwarded: IpAddr,
        /// The client `X-Forwarded-For` names.
        x_forwarded_for: IpAddr,
    },
}

impl fmt::Display for ForwardingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardingError::TooLarge(what) | ForwardingError::Malformed(what) => f.write_str(what),
            ForwardingError::Disagree { forwarded, x_forwarded_for } => {
                write!(f, "Forwarded names client {forwarded} but X-Forwarded-For names {x_forwarded_for}")
            }
        }
    }
}

impl Forwarding {
    /// The settings of a (validated) configuration.
    pub(crate) fn new(security: &SecurityConfig) -> Forwarding {
        Forwarding {
            proxies: security.trusted_proxy_ranges(),
            require_proxy_protocol: security.require_proxy_protocol,
            warnings: WarningLimit::new(),
        }
    }

    /// Whether `ip` is one of the trusted proxies.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        self.proxies.iter().any(|range| range.contains(ip))
    }

    /// Whether a connection from `peer` must start with a PROXY protocol header.
    pub(crate) fn expects_proxy_header(&self, peer: IpAddr) -> bool {
        self.require_proxy_protocol && self.trusts(peer)
    }

    /// The source of a connection that sent no PROXY header.
    pub(crate) fn direct(&self, peer: IpAddr) -> ConnectionSource {
        let address = peer.to_canonical();
        ConnectionSource { address, reads_headers: self.trusts(address) }
    }

    /// The source of a connection from `peer` whose PROXY header named `proxied`.
    /// Without a client in it (a proxy's own health check), the proxy is the source and
    /// its headers are not read.
    pub(crate) fn proxied(&self, peer: IpAddr, proxied: ProxiedSource) -> ConnectionSource {
        match proxied {
            ProxiedSource::Client(address) => {
                ConnectionSource { address, reads_headers: self.trusts(address) }
            }
            ProxiedSource::Unnamed => ConnectionSource { address: peer.to_canonical(), reads_headers: false },
        }
    }

    /// The client address of one request (header names in any case, values in arrival
    /// order) on a connection from `source`.
    pub(crate) fn client_address(
        &self,
        request_headers: &[(String, String)],
        source: ConnectionSource,
    ) -> Result<IpAddr, ForwardingError> {
        if !source.reads_headers {
            return Ok(source.address);
        }
        let values = |name: &str| -> Vec<&str> {
            request_headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let forwarded = values("forwarded");
        let x_forwarded_for = values("x-forwarded-for");
        let bytes: usize = forwarded.iter().chain(&x_forwarded_for).map(|v| v.len()).sum();
        if bytes > MAX_FORWARDING_BYTES {
            return Err(ForwardingError::TooLarge(format!(
                "forwarding headers of {bytes} bytes (at most {MAX_FORWARDING_BYTES})"
            )));
        }
        let from_forwarded = if forwarded.is_empty() {
            None
        } else {
            let hops = headers::forwarded_hops(&forwarded).map_err(ForwardingError::Malformed)?;
            self.nearest_untrusted(&hops, headers::forwarded_node)?
        };
        let from_x_forwarded_for = if x_forwarded_for.is_empty() {
            None
        } else {
            let hops = headers::x_forwarded_for_hops(&x_forwarded_for);
            self.nearest_untrusted(&hops, headers::x_forwarded_for_node)?
        };
        match (from_forwarded, from_x_forwarded_for) {
            (None, None) => Ok(source.address),
            (Some(client), None) | (None, Some(client)) => Ok(client),
            (Some(forwarded), Some(x_forwarded_for)) if forwarded == x_forwarded_for => Ok(forwarded),
            (Some(forwarded), Some(x_forwarded_for)) => {
                Err(ForwardingError::Disagree { forwarded, x_forwarded_for })
            }
        }
    }

    /// Walks `hops` from the right: the first address that is not a trusted proxy, or the
    /// left-most if all are (`None` if there are no hops).
    fn nearest_untrusted(
        &self,
        hops: &[&str],
        address_of: fn(&str) -> Result<IpAddr, String>,
    ) -> Result<Option<IpAddr>, ForwardingError> {
        if hops.len() > MAX_FORWARDING_HOPS {
            return Err(ForwardingError::TooLarge(format!(
                "forwarding headers naming {} hops (at most {MAX_FORWARDING_HOPS})",
                hops.len()
            )));
        }
        let mut client = None;
        for hop in hops.iter().rev() {
            let address = address_of(hop).map_err(ForwardingError::Malformed)?;
            client = Some(address);
            if !self.trusts(address) {
                break;
            }
        }
        Ok(client)
    }

    /// Logs a warning about a trusted proxy's connection, at most one per
    /// [`WARNING_INTERVAL`] (a misconfigured proxy fails every request).
    pub(crate) fn warn(&self, peer: SocketAddr, what: &str, problem: &dyn fmt::Display) {
        if let Some(suppressed) = self.warnings.permit() {
            tracing::warn!(%peer, suppressed, "{what}: {problem}");
        }
    }
}

/// Lets one event through per [`WARNING_INTERVAL`] and counts the others.
#[derive(Debug)]
struct WarningLimit {
    origin: Instant,
    /// Milliseconds after `origin` from which the next warning may be logged.
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl WarningLimit {
    fn new() -> WarningLimit {
        WarningLimit { origin: Instant::now(), next_ms: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(events left out since the last one let through)` if this one may be logged.
    fn permit(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let next = self.next_ms.load(Ordering::Relaxed);
        let interval = WARNING_INTERVAL.as_millis() as u64;
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now.saturating_add(interval), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarding(proxies: &[&str]) -> Forwarding {
        let security = SecurityConfig {
            trusted_proxies: proxies.iter().map(|p| (*p).to_owned()).collect(),
            ..SecurityConfig::default()
        };
        Forwarding::new(&security)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    /// The client address of a request with these headers from a direct TCP peer.
    fn client(
        forwarding: &Forwarding,
        peer: &str,
        pairs: &[(&str, &str)],
    ) -> Result<IpAddr, ForwardingError> {
        forwarding.client_address(&headers(pairs), forwarding.direct(ip(peer)))
    }

    #[test]
    fn untrusted_peers_are_their_own_clients_whatever_they_send() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        for pairs in [
            &[("X-Forwarded-For", "203.0.113.9")][..],
            &[("Forwarded", "for=203.0.113.9")],
            &[("X-Forwarded-For", "garbage"), ("Forwarded", "for=unknown")],
            &[("X-Forwarded-For", &"1.2.3.4,".repeat(1000))],
        ] {
            assert_eq!(client(&forwarding, "192.0.2.50", pairs), Ok(ip("192.0.2.50")), "{pairs:?}");
        }
        let nobody = self::forwarding(&[]);
        assert_eq!(client(&nobody, "10.0.0.1", &[("X-Forwarded-For", "203.0.113.9")]), Ok(ip("10.0.0.1")));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_the_client() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        assert_eq!(client(&forwarding, "10.0.0.1", &[("Host", "x")]), Ok(ip("10.0.0.1")));
        assert_eq!(client(&forwarding, "::ffff:10.0.0.1", &[]), Ok(ip("10.0.0.1")));
    }

    #[test]
    fn x_forwarded_for_is_read_from_the_right_past_trusted_hops() {
        let forwarding = forwarding(&["10.0.0.0/8", "2001:db8::/32"]);
        let cases = [
            ("203.0.113.9", "203.0.113.9"),
            ("198.51.100.1, 203.0.113.9", "203.0.113.9"),
            ("198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
            ("spoofed, 203.0.113.9, 10.0.0.2, 10.0.0.3", "203.0.113.9"),
            ("10.0.0.5, 10.0.0.2", "10.0.0.5"),
            ("2001:db8::7, 2001:db9::1", "2001:db9::1"),
            ("[2001:db9::1]:4711, 2001:db8::7", "2001:db9::1"),
            ("203.0.113.9:51000", "203.0.113.9"),
        ];
        for (value, expected) in cases {
            let got = client(&forwarding, "10.0.0.1", &[("X-Forwarded-For", value)]);
            assert_eq!(got, Ok(ip(expected)), "{value}");
        }
        // Several lines are one list, in order.
        let lines = [("X-Forwarded-For", "203.0.113.9"), ("x-forwarded-for", "198.51.100.1, 10.0.0.9")];
        assert_eq!(client(&forwarding, "10.0.0.1", &lines), Ok(ip("198.51.100.1")));
    }

    #[test]
    fn forwarded_for_values_including_quoted_ipv6() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        let cases = [
            ("for=192.0.2.60;proto=https;by=10.0.0.1", "192.0.2.60"),
            (r#"for="[2001:db8:cafe::17]:4711""#, "2001:db8:cafe::17"),
            (r#"for=198.51.100.1, for="[2001:db8::1]", for=10.0.0.3"#, "2001:db8::1"),
            (r#"for=_hidden, for="192.0.2.1:8080""#, "192.0.2.1"),
        ];
        for (value, expected) in cases {
            assert_eq!(client(&forwarding, "10.0.0.1", &[("Forwarded", value)]), Ok(ip(expected)), "{value}");
        }
    }

    #[test]
    fn unreadable_hops_from_a_trusted_peer_are_errors_never_the_proxy() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        for (name, value) in [
            ("X-Forwarded-For", "garbage"),
            ("X-Forwarded-For", "203.0.113.9, unknown"),
            ("X-Forwarded-For", "203.0.113.9, 10.0.0.2, nonsense"),
            ("X-Forwarded-For", "256.0.0.1"),
            ("Forwarded", "for=unknown"),
            ("Forwarded", "for=_obfuscated"),
            ("Forwarded", "for=192.0.2.1;;by"),
            ("Forwarded", r#"for="[2001:db8::1"#),
            ("Forwarded", "proto=https"),
            ("Forwarded", "for=192.0.2.1, for=10.0.0.2, for=unknown"),
        ] {
            let got = client(&forwarding, "10.0.0.1", &[(name, value)]);
            assert!(matches!(got, Err(ForwardingError::Malformed(_))), "{name}: {value}: {got:?}");
        }
    }

    #[test]
    fn oversized_forwarding_headers_are_errors() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        let long = format!("{}203.0.113.9", "1.2.3.4, ".repeat(MAX_FORWARDING_BYTES / 9));
        let got = client(&forwarding, "10.0.0.1", &[("X-Forwarded-For", &long)]);
        assert!(matches!(got, Err(ForwardingError::TooLarge(_))), "{got:?}");
        let many = vec!["1.2.3.4"; MAX_FORWARDING_HOPS + 1].join(",");
        let got = client(&forwarding, "10.0.0.1", &[("X-Forwarded-For", &many)]);
        assert!(got.unwrap_err().to_string().contains("33 hops"));
        let just = vec!["1.2.3.4"; MAX_FORWARDING_HOPS].join(",");
        assert_eq!(client(&forwarding, "10.0.0.1", &[("X-Forwarded-For", &just)]), Ok(ip("1.2.3.4")));
    }

    #[test]
    fn both_headers_must_agree() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        let agree = [("Forwarded", "for=203.0.113.9"), ("X-Forwarded-For", "203.0.113.9")];
        assert_eq!(client(&forwarding, "10.0.0.1", &agree), Ok(ip("203.0.113.9")));
        // A client's own Forwarded header passed on by a proxy that only sets
        // X-Forwarded-For must not win.
        let spoof = [("Forwarded", "for=198.51.100.66"), ("X-Forwarded-For", "203.0.113.9")];
        let got = client(&forwarding, "10.0.0.1", &spoof);
        assert_eq!(
            got,
            Err(ForwardingError::Disagree {
                forwarded: ip("198.51.100.66"),
                x_forwarded_for: ip("203.0.113.9")
            })
        );
    }

    #[test]
    fn proxy_protocol_sources() {
        let forwarding = forwarding(&["10.0.0.0/8"]);
        let named = forwarding.proxied(ip("10.0.0.1"), ProxiedSource::Client(ip("203.0.113.9")));
        assert_eq!(named, ConnectionSource { address: ip("203.0.113.9"), reads_headers: false });
        // The client of a PROXY header is untrusted: its own X-Forwarded-For is ignored.
        let xff = headers(&[("X-Forwarded-For", "198.51.100.1")]);
        assert_eq!(forwarding.client_address(&xff, named), Ok(ip("203.0.113.9")));
        // A PROXY header naming another trusted proxy (nginx behind HAProxy): its
        // headers count.
        let chained = forwarding.proxied(ip("10.0.0.1"), ProxiedSource::Client(ip("10.0.0.2")));
        assert_eq!(forwarding.client_address(&xff, chained), Ok(ip("198.51.100.1")));
        // LOCAL / UNKNOWN: the proxy itself, headers not read.
        let unnamed = forwarding.proxied(ip("10.0.0.1"), ProxiedSource::Unnamed);
        assert_eq!(unnamed, ConnectionSource { address: ip("10.0.0.1"), reads_headers: false });
        assert_eq!(forwarding.client_address(&xff, unnamed), Ok(ip("10.0.0.1")));
        assert!(!forwarding.expects_proxy_header(ip("10.0.0.1")), "off by default");
        let required = Forwarding::new(&SecurityConfig {
            trusted_proxies: vec!["10.0.0.0/8".into()],
            require_proxy_protocol: true,
            ..SecurityConfig::default()
        });
        assert!(required.expects_proxy_header(ip("10.0.0.1")));
        assert!(!required.expects_proxy_header(ip("192.0.2.1")), "untrusted peers are direct clients");
    }

    #[test]
    fn warnings_are_limited_to_one_per_interval_and_count_the_rest() {
        let limit = WarningLimit::new();
        assert_eq!(limit.permit(), Some(0));
        assert_eq!(limit.permit(), None);
        assert_eq!(limit.permit(), None);
        // As if the interval had passed.
        limit.next_ms.store(0, Ordering::Relaxed);
        assert_eq!(limit.permit(), Some(2));
    }
}
