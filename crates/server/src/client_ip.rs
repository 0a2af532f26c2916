//! The client's IP address, for limits keyed by IP. It is the socket's peer, unless that peer
//! is a proxy listed in `MISSIVE_TRUSTED_PROXIES`: then the one header that proxy sets
//! (`MISSIVE_FORWARDED_HEADER`: `X-Forwarded-For` by default, or `Forwarded`) is read from the
//! right, skipping trusted proxies, and the first other address is the client. A client
//! talking to us directly cannot choose its address by inventing a header, and behind a
//! proxy it cannot either: only the header the proxy appends to is read (proxies pass the
//! other one through untouched, so reading it would let clients pick their address).

use std::net::IpAddr;

use axum::http::HeaderMap;
use clap::ValueEnum;
use ipnet::IpNet;

/// The header the trusted proxies append the client's address to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeader {
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    #[value(name = "forwarded")]
    Forwarded,
}

pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    header: ForwardedHeader,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops = forwarded_for(headers, header);
    // The nearest hop is last; the first untrusted one from the right is the client.
    hops.reverse();
    let client = hops.iter().find(|ip| !is_trusted(ip));
    client.or(hops.last()).copied().unwrap_or(peer)
}

/// The addresses a request passed through, client first, from the chosen header. Entries that
/// are not addresses are skipped.
fn forwarded_for(headers: &HeaderMap, header: ForwardedHeader) -> Vec<IpAddr> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let elements = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    match header {
        ForwardedHeader::XForwardedFor => elements.filter_map(parse_node).collect(),
        // `for=` (any case) among the `;`-separated pairs of each element (RFC 7239).
        ForwardedHeader::Forwarded => elements
            .flat_map(|element| element.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                name.eq_ignore_ascii_case("for").then_some(value)
            })
            .filter_map(parse_node)
            .collect(),
    }
}

/// `192.0.2.1`, `"[2001:db8::1]:4711"`, `192.0.2.1:80` → the address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.rsplit_once(':')
        .and_then(|(host, _port)| host.parse().ok())
}

/// Parses `MISSIVE_TRUSTED_PROXIES`: comma-separated addresses or CIDR networks.
pub fn parse_trusted(spec: &str) -> Result<Vec<IpNet>, String> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{entry}` is not an IP address or CIDR network"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let claims = headers(&[("x-forwarded-for", "1.2.3.4")]);
        let trusted = parse_trusted("10.0.0.0/8").unwrap();
        let xff = ForwardedHeader::XForwardedFor;
        assert_eq!(
            client_ip(ip("203.0.113.9"), &claims, &trusted, xff),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("203.0.113.9"), &claims, &[], xff),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = parse_trusted("10.0.0.1, 10.0.1.0/24").unwrap();
        // The client put a fake address first; the real one was appended by our proxy.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.1.5")]);
        let found = client_ip(
            ip("10.0.0.1"),
            &chain,
            &trusted,
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(found, ip("198.51.100.7"));
    }

    #[test]
    fn the_forwarded_header_is_understood_when_chosen() {
        let trusted = parse_trusted("10.0.0.1").unwrap();
        let forwarded = headers(&[(
            "forwarded",
            r#"For="[2001:db8::7]:4711";proto=https, for=10.0.0.1"#,
        )]);
        let found = client_ip(
            ip("10.0.0.1"),
            &forwarded,
            &trusted,
            ForwardedHeader::Forwarded,
        );
        assert_eq!(found, ip("2001:db8::7"));
    }

    #[test]
    fn only_the_chosen_header_is_read() {
        let trusted = parse_trusted("10.0.0.1").unwrap();
        // The proxy appends to X-Forwarded-For and passes the client's own Forwarded along.
        let both = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        let found = client_ip(
            ip("10.0.0.1"),
            &both,
            &trusted,
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(found, ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_the_client() {
        let trusted = parse_trusted("127.0.0.1").unwrap();
        let found = client_ip(
            ip("127.0.0.1"),
            &HeaderMap::new(),
            &trusted,
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(found, ip("127.0.0.1"));
    }

    #[test]
    fn bad_proxy_entries_are_refused() {
        assert!(parse_trusted("10.0.0.0/8, not-an-ip").is_err());
    }
}
