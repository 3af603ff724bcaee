//! The PROXY protocol header (versions 1 and 2, as HAProxy and AWS NLB send it): the
//! first bytes a proxy writes on each connection it opens to the server, naming the
//! client it relays. [`parse`] reads it from the front of a buffer, never past its end:
//! the bytes after it are the client's request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest version 1 header, `\r\n` included (the protocol's own limit).
pub(crate) const V1_MAX_BYTES: usize = 107;
/// Longest version 2 header accepted after its fixed 16 bytes: addresses plus TLVs.
/// Proxies send a few dozen bytes (AWS NLB adds its VPC endpoint id); the format
/// allows 65,535.
pub(crate) const V2_MAX_PAYLOAD: usize = 4096;
/// Version 2's fixed start.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's fixed start.
const V1_PREFIX: &[u8] = b"PROXY ";
/// Bytes of version 2's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;

/// Whom a proxied connection comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxiedSource {
    /// The client's address as the proxy saw it (IPv4-mapped IPv6 as IPv4).
    Client(IpAddr),
    /// The proxy names no client: its own connection (v2 `LOCAL`, for example a health
    /// check), v1 `UNKNOWN`, or an address family other than IPv4 and IPv6.
    Unnamed,
}

/// The header at the front of `buf` and its length; `None` while `buf` holds only the
/// start of a header. An error says why the bytes are not a header this server takes.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(ProxiedSource, usize)>, String> {
    match buf.first() {
        None => Ok(None),
        Some(b'\r') => parse_v2(buf),
        Some(b'P') => parse_v1(buf),
        Some(_) => Err("no PROXY protocol header (v1 or v2) at the start of the connection".to_owned()),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Option<(ProxiedSource, usize)>, String> {
    let start = buf.len().min(V1_PREFIX.len());
    if buf[..start] != V1_PREFIX[..start] {
        return Err("no PROXY protocol header (v1 or v2) at the start of the connection".to_owned());
    }
    let window = &buf[..buf.len().min(V1_MAX_BYTES)];
    let Some(end) = window.windows(2).position(|pair| pair == b"\r\n") else {
        if buf.len() >= V1_MAX_BYTES {
            return Err(format!("PROXY v1 header without \\r\\n in its first {V1_MAX_BYTES} bytes"));
        }
        return Ok(None);
    };
    let line = std::str::from_utf8(&buf[..end])
        .ok()
        .filter(|line| line.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .ok_or("PROXY v1 header with bytes other than printable ASCII")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let source = match fields[1..] {
        ["UNKNOWN", ..] => ProxiedSource::Unnamed,
        ["TCP4", source, destination, source_port, destination_port] => {
            let source = v1_address::<Ipv4Addr>(source)?;
            v1_address::<Ipv4Addr>(destination)?;
            v1_port(source_port)?;
            v1_port(destination_port)?;
            ProxiedSource::Client(IpAddr::V4(source))
        }
        ["TCP6", source, destination, source_port, destination_port] => {
            let source = v1_address::<Ipv6Addr>(source)?;
            v1_address::<Ipv6Addr>(destination)?;
            v1_port(source_port)?;
            v1_port(destination_port)?;
            ProxiedSource::Client(IpAddr::V6(source).to_canonical())
        }
        _ => {
            return Err(format!(
                "PROXY v1 header {line:?} is not `PROXY TCP4|TCP6 <source> <destination> <port> <port>` or `PROXY UNKNOWN`"
            ))
        }
    };
    Ok(Some((source, end + 2)))
}

fn v1_address<A: std::str::FromStr>(text: &str) -> Result<A, String> {
    text.parse().map_err(|_| format!("PROXY v1 header with a bad address {text:?}"))
}

fn v1_port(text: &str) -> Result<u16, String> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    match text.parse() {
        Ok(port) if digits && !leading_zero => Ok(port),
        _ => Err(format!("PROXY v1 header with a bad port {text:?}")),
    }
}

fn parse_v2(buf: &[u8]) -> Result<Option<(ProxiedSource, usize)>, String> {
    let start = buf.len().min(V2_SIGNATURE.len());
    if buf[..start] != V2_SIGNATURE[..start] {
        return Err("no PROXY protocol header (v1 or v2) at the start of the connection".to_owned());
    }
    if buf.len() < V2_FIXED {
        return Ok(None);
    }
    let version = buf[12] >> 4;
    let command = buf[12] & 0x0f;
    let family = buf[13] >> 4;
    let transport = buf[13] & 0x0f;
    let length = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if version != 2 {
        return Err(format!("PROXY header of version {version} (only 1 and 2 exist)"));
    }
    if length > V2_MAX_PAYLOAD {
        return Err(format!(
            "PROXY v2 header of {length} bytes after its fixed part (at most {V2_MAX_PAYLOAD})"
        ));
    }
    let Some(payload) = buf.get(V2_FIXED..V2_FIXED + length) else {
        return Ok(None);
    };
    let total = V2_FIXED + length;
    let (source, addresses) = match command {
        // LOCAL: the proxy's own connection; whatever the block holds is to be ignored.
        0x0 => return Ok(Some((ProxiedSource::Unnamed, total))),
        0x1 => match family {
            0x0 => (ProxiedSource::Unnamed, 0),
            0x1 => {
                let source = payload.get(..4).map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
                (source.map_or(ProxiedSource::Unnamed, |ip| ProxiedSource::Client(IpAddr::V4(ip))), 12)
            }
            0x2 => {
                let source =
                    payload.get(..16).map(|b| Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()));
                let client = |ip: Ipv6Addr| ProxiedSource::Client(IpAddr::V6(ip).to_canonical());
                (source.map_or(ProxiedSource::Unnamed, client), 36)
            }
            0x3 => (ProxiedSource::Unnamed, 216),
            other => return Err(format!("PROXY v2 header with unknown address family {other:#x}")),
        },
        other => return Err(format!("PROXY v2 header with unknown command {other:#x}")),
    };
    let expected_transport = if family == 0x0 { 0x0 } else { 0x1 };
    if transport != expected_transport {
        return Err(format!("PROXY v2 header for transport {transport:#x}, not a TCP stream"));
    }
    let Some(mut tlvs) = payload.get(addresses..) else {
        return Err(format!(
            "PROXY v2 header of {length} bytes, too short for its {addresses} bytes of addresses"
        ));
    };
    // Type-length-value extensions (TLS details, cloud ids): checked for framing, skipped.
    while !tlvs.is_empty() {
        let value_length = match tlvs {
            [_, high, low, ..] => usize::from(u16::from_be_bytes([*high, *low])),
            _ => return Err("PROXY v2 header with a truncated TLV".to_owned()),
        };
        tlvs = tlvs.get(3 + value_length..).ok_or("PROXY v2 header with a TLV longer than the header")?;
    }
    Ok(Some((source, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(text: &str) -> ProxiedSource {
        ProxiedSource::Client(text.parse().unwrap())
    }

    /// Every proper prefix of `header` is incomplete; the whole is parsed and its length
    /// reported even with the request after it.
    fn parse_whole(header: &[u8]) -> ProxiedSource {
        for end in 0..header.len() {
            assert_eq!(parse(&header[..end]), Ok(None), "prefix of {end} bytes");
        }
        let mut with_request = header.to_vec();
        with_request.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let (source, len) = parse(&with_request).unwrap().unwrap();
        assert_eq!(len, header.len());
        source
    }

    fn v2(command: u8, family: u8, payload: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        header.extend_from_slice(payload);
        header
    }

    fn inet4_payload() -> Vec<u8> {
        let mut payload = vec![192, 0, 2, 7, 10, 0, 0, 1];
        payload.extend_from_slice(&4711u16.to_be_bytes());
        payload.extend_from_slice(&443u16.to_be_bytes());
        payload
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        assert_eq!(parse_whole(b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 443\r\n"), client("192.0.2.7"));
        assert_eq!(parse_whole(b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"), client("2001:db8::1"));
        assert_eq!(parse_whole(b"PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n"), client("192.0.2.9"));
        assert_eq!(parse_whole(b"PROXY UNKNOWN\r\n"), ProxiedSource::Unnamed);
        assert_eq!(parse_whole(b"PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n"), ProxiedSource::Unnamed);
        // The longest header the protocol defines is exactly the limit.
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let longest = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        assert_eq!(longest.len(), V1_MAX_BYTES);
        assert_eq!(parse_whole(longest.as_bytes()), ProxiedSource::Unnamed);
        let tcp6 = format!("PROXY TCP6 {full} {full} 65535 65535\r\n");
        assert_eq!(parse_whole(tcp6.as_bytes()), client(full));
    }

    #[test]
    fn v1_garbage_is_refused() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 10.0.0.1 4711\r\n"[..],
            b"PROXY TCP4 2001:db8::1 10.0.0.1 4711 443\r\n",
            b"PROXY TCP6 192.0.2.7 2001:db8::2 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 65536\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 04711 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 -1 443\r\n",
            b"PROXY TCP4 192.0.2.7  10.0.0.1 4711 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 443 \r\n",
            b"PROXY TCP4 192.0.2.007 10.0.0.1 4711 443\r\n",
            b"PROXY UDP4 192.0.2.7 10.0.0.1 4711 443\r\n",
            b"PROXY tcp4 192.0.2.7 10.0.0.1 4711 443\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 192.0.2.7\t10.0.0.1 4711 443\r\n",
            b"PROXY TCP4 192.0.2.\xff 10.0.0.1 4711 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 4711 443\n\r\n",
            b"PROXY:TCP4",
            b"PROXZ",
            b"GET / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let endless = [&b"PROXY TCP4 "[..], &[b'1'; 200]].concat();
        assert!(parse(&endless[..V1_MAX_BYTES - 1]).unwrap().is_none());
        let error = parse(&endless[..V1_MAX_BYTES]).unwrap_err();
        assert!(error.contains("107"), "{error}");
    }

    #[test]
    fn v2_proxy_local_and_families() {
        assert_eq!(parse_whole(&v2(1, 0x11, &inet4_payload())), client("192.0.2.7"));
        let mut inet6 = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        inet6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        inet6.extend_from_slice(&[0, 1, 0, 2]);
        assert_eq!(parse_whole(&v2(1, 0x21, &inet6)), client("2001:db8::1"));
        assert_eq!(parse_whole(&v2(0, 0x00, b"")), ProxiedSource::Unnamed, "LOCAL");
        assert_eq!(
            parse_whole(&v2(0, 0x11, &inet4_payload())),
            ProxiedSource::Unnamed,
            "LOCAL ignores addresses"
        );
        assert_eq!(parse_whole(&v2(1, 0x00, b"")), ProxiedSource::Unnamed, "UNSPEC");
        assert_eq!(parse_whole(&v2(1, 0x31, &[0; 216])), ProxiedSource::Unnamed, "AF_UNIX");
    }

    #[test]
    fn v2_tlvs_are_skipped_within_their_bounds() {
        let mut payload = inet4_payload();
        payload.extend_from_slice(&[0xEA, 0, 5, b'v', b'p', b'c', b'-', b'1']); // AWS VPC endpoint
        payload.extend_from_slice(&[0x04, 0, 0]); // NOOP, empty
        assert_eq!(parse_whole(&v2(1, 0x11, &payload)), client("192.0.2.7"));
        let mut overrun = inet4_payload();
        overrun.extend_from_slice(&[0xEA, 0, 9, b'v']);
        assert!(parse(&v2(1, 0x11, &overrun)).unwrap_err().contains("TLV longer"));
        let mut truncated = inet4_payload();
        truncated.extend_from_slice(&[0xEA, 0]);
        assert!(parse(&v2(1, 0x11, &truncated)).unwrap_err().contains("truncated TLV"));
    }

    #[test]
    fn v2_garbage_is_refused() {
        let good = v2(1, 0x11, &inet4_payload());
        let mut version_one = good.clone();
        version_one[12] = 0x11;
        let mut command = good.clone();
        command[12] = 0x22;
        let mut family = good.clone();
        family[13] = 0x41;
        let mut udp = good.clone();
        udp[13] = 0x12;
        let mut signature = good.clone();
        signature[5] = b'X';
        for (name, bad) in [
            ("version", version_one),
            ("command", command),
            ("family", family),
            ("udp", udp),
            ("signature", signature),
            ("short addresses", v2(1, 0x11, &[192, 0, 2, 7])),
            ("short ipv6 addresses", v2(1, 0x21, &[0; 20])),
        ] {
            assert!(parse(&bad).is_err(), "{name}");
        }
        let mut oversized = V2_SIGNATURE.to_vec();
        oversized.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(parse(&oversized).unwrap_err().contains("at most 4096"));
        // Arbitrary bytes after a valid signature never panic.
        for seed in 0u32..2000 {
            let mut bytes = V2_SIGNATURE.to_vec();
            let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            for _ in 0..(seed % 64) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                bytes.push(x as u8);
            }
            let _ = parse(&bytes);
        }
    }
}
