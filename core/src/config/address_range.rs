//! [`AddressRange`]: one entry of `security.trusted_proxies`, an IP address or a CIDR
//! range, IPv4 or IPv6.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::fmt;
use std::str::FromStr;

/// An IP address (`192.0.2.7`, `2001:db8::1`) or a CIDR range (`10.0.0.0/8`,
/// `2001:db8::/32`). A bare address is the range of that one address. IPv4 addresses
/// only match IPv4 entries (an IPv4-mapped IPv6 address counts as IPv4).
///
/// ```
/// use signal_fish_core::config::AddressRange;
///
/// let range: AddressRange = "10.0.0.0/8".parse().unwrap();
/// assert!(range.contains("10.1.2.3".parse().unwrap()));
/// assert!(!range.contains("11.0.0.1".parse().unwrap()));
/// assert!("10.0.0.1/8".parse::<AddressRange>().is_err()); // host bits set
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix_len: u8,
}

/// What an entry of `security.trusted_proxies` may look like (for error messages).
pub const ADDRESS_RANGE_FORMS: &str =
    "an IPv4 or IPv6 address (192.0.2.7, 2001:db8::1) or a CIDR range (10.0.0.0/8, 2001:db8::/32)";

impl AddressRange {
    /// Parses an address or a CIDR range; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<AddressRange, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr =
            address.parse().map_err(|_| format!("{address:?} is not an IPv4 or IPv6 address"))?;
        let network = network.to_canonical();
        let max = max_prefix(network);
        let prefix_len = match prefix {
            None => max,
            Some(prefix) => {
                let valid =
                    !prefix.is_empty() && prefix.len() <= 3 && prefix.bytes().all(|b| b.is_ascii_digit());
                match prefix.parse::<u8>() {
                    Ok(len) if valid && len <= max => len,
                    _ => return Err(format!("prefix length {prefix:?} is not an integer from 0 to {max}")),
                }
            }
        };
        let range = AddressRange { network: masked(network, prefix_len), prefix_len };
        if range.network != network {
            return Err(format!("host bits are set; the range is written {range}"));
        }
        Ok(range)
    }

    /// Whether `ip` is inside the range (IPv4-mapped IPv6 addresses are taken as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && masked(ip, self.prefix_len) == self.network
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<AddressRange, String> {
        AddressRange::parse(text)
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len == max_prefix(self.network) {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix_len)
        }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` with every bit after the first `prefix_len` cleared.
fn masked(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn range(text: &str) -> AddressRange {
        AddressRange::parse(text).unwrap()
    }

    #[test]
    fn single_addresses_match_only_themselves() {
        let one = range("192.0.2.7");
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        assert!(one.contains(ip("::ffff:192.0.2.7")), "IPv4-mapped peers count as IPv4");
        assert_eq!(one.to_string(), "192.0.2.7");
        let six = range("2001:db8::1");
        assert!(six.contains(ip("2001:db8::1")));
        assert!(!six.contains(ip("2001:db8::2")));
        assert_eq!(range("::ffff:10.0.0.1"), range("10.0.0.1"));
    }

    #[test]
    fn cidr_ranges_ipv4_and_ipv6() {
        let net = range("10.0.0.0/8");
        assert!(net.contains(ip("10.255.0.1")));
        assert!(!net.contains(ip("11.0.0.0")));
        assert!(!net.contains(ip("::a00:1")), "an IPv6 address is never in an IPv4 range");
        assert!(range("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!range("0.0.0.0/0").contains(ip("2001:db8::1")));
        let six = range("2001:db8::/32");
        assert!(six.contains(ip("2001:db8:ffff::1")));
        assert!(!six.contains(ip("2001:db9::1")));
        assert!(range("::/0").contains(ip("fe80::1")));
        assert_eq!(range("172.16.0.0/12").to_string(), "172.16.0.0/12");
        assert_eq!(range("10.0.0.1/32"), range("10.0.0.1"));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (text, needle) in [
            ("", "not an IPv4 or IPv6 address"),
            ("proxy.example", "not an IPv4 or IPv6 address"),
            ("10.0.0.256", "not an IPv4 or IPv6 address"),
            ("fe80::1%eth0", "not an IPv4 or IPv6 address"),
            (" 10.0.0.1", "not an IPv4 or IPv6 address"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("2001:db8::/129", "from 0 to 128"),
            ("10.0.0.0/", "from 0 to 32"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/0008", "from 0 to 32"),
            ("10.0.0.0/8/8", "from 0 to 32"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("2001:db8::1/32", "2001:db8::/32"),
        ] {
            let error = AddressRange::parse(text).unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }
}
