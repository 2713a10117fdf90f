use std::{fmt, net::IpAddr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The network a client is counted as by the per-client login throttle: its IPv4 address,
/// or the /64 of its IPv6 address. One IPv6 subscriber usually holds a whole /64, so counting
/// single IPv6 addresses would let one client take a fresh address for every guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNetwork(IpNet);

impl ClientNetwork {
    pub const IPV6_PREFIX: u8 = 64;

    pub fn of(addr: IpAddr) -> Self {
        let net = match addr {
            IpAddr::V4(v4) => IpNet::V4(Ipv4Net::from(v4)),
            // An IPv4 client reaching a dual-stack socket is an IPv4 client.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpNet::V4(Ipv4Net::from(v4)),
                None => IpNet::V6(
                    Ipv6Net::new(v6, Self::IPV6_PREFIX)
                        .expect("64 is a valid IPv6 prefix")
                        .trunc(),
                ),
            },
        };
        Self(net)
    }

    pub fn as_net(&self) -> IpNet {
        self.0
    }
}

impl fmt::Display for ClientNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(addr: &str) -> String {
        ClientNetwork::of(addr.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_ipv4_per_address() {
        assert_eq!(network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(network("2001:db8:1:2:ffff::9"), "2001:db8:1:2::/64");
        assert_eq!(network("203.0.113.7"), "203.0.113.7/32");
        assert_eq!(network("::ffff:203.0.113.7"), "203.0.113.7/32");
    }
}
