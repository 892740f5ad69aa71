//! Connection caps (PROTOCOL.md §2): per client IP and per node. A connection is one
//! Engine.IO session, whatever number of namespaces it opens, counted from its handshake
//! to its close (src/http/guard.rs admits it), so sessions that never connect a
//! namespace count too.
//!
//! The client IP is the peer address, or the nearest untrusted address of
//! `X-Forwarded-For` when the peer is one of the trusted proxies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use crate::telemetry::metrics::ENGINE_SESSIONS;

mod forwarded;
use forwarded::forwarded_hop;
pub use forwarded::per_ip_key;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client IP has as many connections as allowed.
    #[error("too_many_connections")]
    TooMany,
    /// This node has as many connections as allowed.
    #[error("too_many_connections")]
    NodeFull,
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

#[derive(Default)]
struct Counts {
    /// Open sessions per client IP.
    by_ip: HashMap<IpAddr, usize>,
    total: usize,
}

pub struct ConnectionCaps {
    per_ip: usize,
    per_node: usize,
    counts: Mutex<Counts>,
}

/// One Engine.IO session's place under the caps. The handshake request carries it in its
/// extensions, and Engine.IO keeps that request's parts for the session's whole life: the
/// place is taken when the session opens and given back when the session is dropped,
/// whether or not it ever connected a namespace.
#[derive(Clone)]
pub struct SessionSlot {
    _held: Arc<Slot>,
}

struct Slot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl ConnectionCaps {
    /// A cap of 0 is no cap (PROTOCOL.md §8 for the per-IP one).
    pub fn new(per_ip: u32, per_node: u32) -> Arc<Self> {
        let cap = |n: u32| if n == 0 { usize::MAX } else { n as usize };
        Arc::new(Self {
            per_ip: cap(per_ip),
            per_node: cap(per_node),
            counts: Mutex::default(),
        })
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new session from the client `ip`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<SessionSlot, Refusal> {
        let mut counts = self.counts();
        if counts.total >= self.per_node {
            return Err(Refusal::NodeFull);
        }
        let sessions = counts.by_ip.entry(ip).or_default();
        if *sessions >= self.per_ip {
            return Err(Refusal::TooMany);
        }
        *sessions += 1;
        counts.total += 1;
        metrics::gauge!(ENGINE_SESSIONS).increment(1.0);
        Ok(SessionSlot {
            _held: Arc::new(Slot {
                caps: self.clone(),
                ip,
            }),
        })
    }

    fn release(&self, ip: IpAddr) {
        let mut counts = self.counts();
        if let Some(sessions) = counts.by_ip.get_mut(&ip) {
            *sessions = sessions.saturating_sub(1);
            if *sessions == 0 {
                counts.by_ip.remove(&ip);
            }
        }
        counts.total = counts.total.saturating_sub(1);
        metrics::gauge!(ENGINE_SESSIONS).decrement(1.0);
    }

    /// Open sessions of this node.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.caps.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use http::request::Parts;

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

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn each_ip_gets_its_cap_and_a_dropped_slot_frees_its_place() {
        let caps = ConnectionCaps::new(2, 100);
        let a = caps.admit(ip(9)).expect("first session");
        let copy = a.clone();
        let _b = caps.admit(ip(9)).expect("second session");
        assert_eq!(caps.admit(ip(9)).err(), Some(Refusal::TooMany));
        assert!(caps.admit(ip(10)).is_ok(), "per IP");
        drop(a);
        assert!(
            caps.admit(ip(9)).is_err(),
            "a clone of the slot (the session's request parts) still holds it"
        );
        drop(copy);
        let _c = caps.admit(ip(9)).expect("the session is gone");
        assert_eq!(caps.open(), 2);
    }

    #[test]
    fn the_node_cap_counts_every_ip() {
        let caps = ConnectionCaps::new(10, 2);
        let _a = caps.admit(ip(1)).expect("a");
        let _b = caps.admit(ip(2)).expect("b");
        assert_eq!(caps.admit(ip(3)).err(), Some(Refusal::NodeFull));
    }

    #[test]
    fn a_cap_of_zero_is_no_cap() {
        let caps = ConnectionCaps::new(0, 0);
        let held: Vec<_> = (0..1000)
            .map(|_| caps.admit(ip(1)).expect("no cap"))
            .collect();
        assert_eq!(caps.open(), held.len());
        drop(held);
        assert_eq!(caps.open(), 0);
    }
}

#[cfg(test)]
mod forwarded_tests;
