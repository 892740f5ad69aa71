//! How a client address is read from an `X-Forwarded-For` entry, and the key per-IP
//! limits count it under.

use std::net::{IpAddr, SocketAddr};

/// One `X-Forwarded-For` entry: `ip`, `ip:port`, `[v6]:port` or `[v6]`.
pub(super) fn forwarded_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        })
}

/// The key every per-IP limit counts under: an IPv4 address as is (also when written
/// as IPv4-mapped IPv6), an IPv6 address by its /64, since one subscriber is usually
/// given a whole /64 and could otherwise take a fresh address per connection.
pub fn per_ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}
