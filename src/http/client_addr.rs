//! The client's address behind reverse proxies. Forwarding headers are believed only when the
//! TCP peer is a configured proxy, and then only up to the first hop that is not one: the
//! right-most untrusted address. Entries left of it were written by the client itself.

use std::net::IpAddr;

use actix_web::http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The proxies of `TRUSTED_PROXIES`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address: the TCP peer's, unless the peer is a trusted proxy that says who
    /// it forwards for (`Forwarded`, else `X-Forwarded-For`). A hop that is not an address
    /// (`unknown`, an obfuscated name) ends the walk at the proxy's own address.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical)?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_hops(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(addr) = parse_hop(hop) else {
                return Some(peer);
            };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        Some(client)
    }
}

/// An IPv4 address that reached an IPv6 socket is an IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops the proxies recorded, oldest first: the `for=` of each `Forwarded` element, or
/// else each entry of `X-Forwarded-For`, over every instance of the header.
fn forwarded_hops(headers: &HeaderMap) -> Vec<String> {
    let values = |name| {
        headers
            .get_all(name)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|item| !item.is_empty())
    };
    if headers.contains_key(FORWARDED) {
        values(FORWARDED)
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .map_or_else(String::new, |(_, value)| {
                        value.trim().trim_matches('"').to_owned()
                    })
            })
            .collect()
    } else {
        values(X_FORWARDED_FOR).map(str::to_owned).collect()
    }
}

/// An address as proxies write it: bare, `[v6]`, `[v6]:port` or `v4:port`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    let host = match hop.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => hop.rsplit_once(':').map_or(hop, |(host, _port)| host),
    };
    host.parse::<IpAddr>().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ])
    }

    fn client(peer: &str, headers: &[(&'static str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        proxies()
            .client(Some(peer.parse().unwrap()), &map)
            .unwrap()
            .to_string()
    }

    #[test]
    fn headers_are_believed_only_from_trusted_peers() {
        let forged = [("x-forwarded-for", "1.2.3.4")];
        assert_eq!(client("203.0.113.9", &forged), "203.0.113.9");
        assert_eq!(client("10.0.0.2", &forged), "1.2.3.4");
        assert_eq!(client("10.0.0.2", &[]), "10.0.0.2");
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        // The client wrote 6.6.6.6 itself; the first proxy saw 198.51.100.7.
        let chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")];
        assert_eq!(client("10.0.0.2", &chain), "198.51.100.7");
        let split = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7"),
        ];
        assert_eq!(client("10.0.0.2", &split), "198.51.100.7");
        let all_trusted = [("x-forwarded-for", "10.9.9.9, 10.1.1.1")];
        assert_eq!(client("10.0.0.2", &all_trusted), "10.9.9.9");
        let garbage = [("x-forwarded-for", "198.51.100.7, nonsense")];
        assert_eq!(client("10.0.0.2", &garbage), "10.0.0.2");
    }

    #[test]
    fn forwarded_is_read_with_ports_brackets_and_quotes() {
        let forwarded = [(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.1.1.1:8080",
        )];
        assert_eq!(client("10.0.0.2", &forwarded), "2001:db8:cafe::17");
        assert_eq!(
            client("::ffff:10.0.0.2", &[("forwarded", "for=198.51.100.7:5555")]),
            "198.51.100.7"
        );
        let unknown = [("forwarded", "for=unknown")];
        assert_eq!(client("10.0.0.2", &unknown), "10.0.0.2");
    }
}
