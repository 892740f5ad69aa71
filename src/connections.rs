//! Connection caps (PROTOCOL.md §2): per client IP and per node. A connection is one
//! Engine.IO session, whatever number of namespaces it opens; its namespace sockets share
//! one admission, released when the last of them is gone.
//!
//! The client IP is the peer address, or the nearest untrusted address of
//! `X-Forwarded-For` when the peer is one of the trusted proxies.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ConnectInfo;
use http::request::Parts;
use ipnet::IpNet;

mod forwarded;
use forwarded::forwarded_hop;
pub use forwarded::per_ip_key;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client IP, or this node, has as many connections as allowed.
    #[error("too_many_connections")]
    TooMany,
}

/// Addresses whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of CIDRs or single addresses.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "`{s}` in SWITCHYARD_TRUSTED_PROXIES is not an address or CIDR"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self(nets))
    }

    fn trusts(&self, ip: &IpAddr) -> bool {
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer`.
    ///
    /// Each proxy appends the address it received from, so the list is read back from
    /// the nearest hop: addresses of our proxies are walked over, and the first other
    /// address is the client; anything before it was written by the client and proves
    /// nothing. An entry that is not an address (`ip`, `ip:port`, `[v6]:port`, bare v6)
    /// stops the walk rather than being skipped: it was not written by a proxy of ours,
    /// so nothing before it can be believed either, and the client is the last hop we
    /// did believe (the peer when the nearest entry is the bad one).
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        if !self.trusts(&peer) {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| match v.to_str() {
                Ok(v) => v.split(',').collect::<Vec<_>>(),
                // A line that is not text is one bad entry: it stops the walk there.
                Err(_) => vec![""],
            })
            .collect();
        let mut believed = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = forwarded_hop(entry) else {
                return believed;
            };
            if !self.trusts(&ip) {
                return ip;
            }
            believed = ip;
        }
        believed
    }
}

/// The peer address axum recorded for the request, if served with connect info.
pub fn peer_of(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

#[derive(Default)]
struct Counts {
    /// Per client IP: its connections, each with the number of its sockets.
    by_ip: HashMap<IpAddr, HashMap<usize, u32>>,
    total: usize,
}

pub struct ConnectionCaps {
    per_ip: usize,
    per_node: usize,
    trusted: TrustedProxies,
    counts: Mutex<Counts>,
}

/// One socket's share of its connection's admission; dropping the last share of a
/// connection frees its place.
pub struct Admission {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
    connection: usize,
}

impl ConnectionCaps {
    /// A cap of 0 is no cap (PROTOCOL.md §8 for the per-IP one).
    pub fn new(per_ip: u32, per_node: u32, trusted: TrustedProxies) -> Arc<Self> {
        let cap = |n: u32| if n == 0 { usize::MAX } else { n as usize };
        Arc::new(Self {
            per_ip: cap(per_ip),
            per_node: cap(per_node),
            trusted,
            counts: Mutex::default(),
        })
    }

    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a socket of the connection whose handshake was `parts`. `connection`
    /// identifies the Engine.IO session (its sockets share the handshake's parts).
    pub fn admit(
        self: &Arc<Self>,
        parts: &Parts,
        connection: usize,
    ) -> Result<Arc<Admission>, Refusal> {
        let peer = peer_of(parts).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let ip = per_ip_key(self.trusted.client_ip(peer, &parts.headers));
        let mut counts = self.counts();
        let total = counts.total;
        let sessions = counts.by_ip.entry(ip).or_default();
        if !sessions.contains_key(&connection)
            && (sessions.len() >= self.per_ip || total >= self.per_node)
        {
            if sessions.is_empty() {
                counts.by_ip.remove(&ip);
            }
            return Err(Refusal::TooMany);
        }
        let sockets = sessions.entry(connection).or_default();
        let new_connection = *sockets == 0;
        *sockets += 1;
        if new_connection {
            counts.total += 1;
        }
        Ok(Arc::new(Admission {
            caps: self.clone(),
            ip,
            connection,
        }))
    }

    fn release(&self, ip: IpAddr, connection: usize) {
        let mut counts = self.counts();
        let Some(sessions) = counts.by_ip.get_mut(&ip) else {
            return;
        };
        let Some(sockets) = sessions.get_mut(&connection) else {
            return;
        };
        *sockets -= 1;
        if *sockets > 0 {
            return;
        }
        sessions.remove(&connection);
        if sessions.is_empty() {
            counts.by_ip.remove(&ip);
        }
        counts.total = counts.total.saturating_sub(1);
    }

    /// Open connections of this node.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.caps.release(self.ip, self.connection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(peer: [u8; 4], forwarded: Option<&str>) -> Parts {
        let mut req = http::Request::builder().uri("/socket.io/");
        if let Some(xff) = forwarded {
            req = req.header("x-forwarded-for", xff);
        }
        let (mut parts, _) = req.body(()).expect("request").into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        parts
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").expect("parse");
        let headers = handshake([0; 4], Some("203.0.113.9, 10.1.2.3")).headers;
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.client_ip(ip("198.51.100.7"), &headers),
            ip("198.51.100.7"),
            "anyone else's header is ignored"
        );
        let spoofed = handshake([0; 4], Some("1.1.1.1, 203.0.113.9")).headers;
        assert_eq!(
            trusted.client_ip(ip("192.168.1.1"), &spoofed),
            ip("203.0.113.9"),
            "what the client wrote before the proxy's entry proves nothing"
        );
        assert!(TrustedProxies::parse("not-a-net").is_err());
    }

    #[test]
    fn a_connections_namespaces_share_one_place_and_free_it_together() {
        let caps = ConnectionCaps::new(2, 100, TrustedProxies::default());
        let parts = handshake([127, 0, 0, 9], None);
        let a1 = caps.admit(&parts, 1).expect("first connection");
        let a2 = caps
            .admit(&parts, 1)
            .expect("same connection, second namespace");
        let b = caps.admit(&parts, 2).expect("second connection");
        assert_eq!(caps.admit(&parts, 3).err(), Some(Refusal::TooMany));
        let other_ip = handshake([127, 0, 0, 10], None);
        assert!(caps.admit(&other_ip, 4).is_ok(), "per IP");
        drop(a1);
        assert!(
            caps.admit(&parts, 3).is_err(),
            "connection 1 still has a socket"
        );
        drop(a2);
        let c = caps.admit(&parts, 3).expect("connection 1 is gone");
        drop((b, c));
        assert_eq!(caps.open(), 0);
    }

    #[test]
    fn the_node_cap_counts_every_ip() {
        let caps = ConnectionCaps::new(10, 2, TrustedProxies::default());
        let _a = caps.admit(&handshake([127, 0, 0, 1], None), 1).expect("a");
        let _b = caps.admit(&handshake([127, 0, 0, 2], None), 2).expect("b");
        assert_eq!(
            caps.admit(&handshake([127, 0, 0, 3], None), 3).err(),
            Some(Refusal::TooMany)
        );
    }

    #[test]
    fn a_cap_of_zero_is_no_cap() {
        let caps = ConnectionCaps::new(0, 0, TrustedProxies::default());
        let parts = handshake([127, 0, 0, 1], None);
        let held: Vec<_> = (0..1000)
            .map(|n| caps.admit(&parts, n).expect("no cap"))
            .collect();
        assert_eq!(held.len(), 1000);
    }
}

#[cfg(test)]
mod forwarded_tests;
