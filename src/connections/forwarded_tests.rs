//! `X-Forwarded-For` entries in every form proxies write, the walk's stop at a bad entry,
//! and the /64 key that per-IP limits count IPv6 clients under.

use std::net::IpAddr;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn forwarded(values: &[&str]) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    for v in values {
        headers.append("x-forwarded-for", v.parse().expect("header value"));
    }
    headers
}

fn proxies() -> TrustedProxies {
    TrustedProxies::parse("10.0.0.0/8, fd00::/8").expect("parse")
}

#[test]
fn entries_with_ports_and_brackets_name_the_client() {
    let peer = ip("10.0.0.1");
    for (entry, client) in [
        ("203.0.113.9:51234", "203.0.113.9"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        (" 203.0.113.9 ", "203.0.113.9"),
    ] {
        let headers = forwarded(&[&format!("{entry}, 10.1.2.3:80")]);
        assert_eq!(proxies().client_ip(peer, &headers), ip(client), "{entry}");
    }
}

#[test]
fn an_unparseable_entry_stops_the_walk_at_the_last_believed_hop() {
    let peer = ip("10.0.0.1");
    let headers = forwarded(&["203.0.113.9, garbage, 10.1.2.3"]);
    assert_eq!(
        proxies().client_ip(peer, &headers),
        ip("10.1.2.3"),
        "what stands before a bad entry is not believed"
    );
    let headers = forwarded(&["198.51.100.1, unknown"]);
    assert_eq!(proxies().client_ip(peer, &headers), peer);
    let headers = forwarded(&["198.51.100.1", "fd00::1, , 10.1.2.3"]);
    assert_eq!(proxies().client_ip(peer, &headers), ip("10.1.2.3"));
    let several_lines = forwarded(&["198.51.100.1", "203.0.113.9, 10.1.2.3"]);
    assert_eq!(proxies().client_ip(peer, &several_lines), ip("203.0.113.9"));
}

#[test]
fn a_mapped_ipv4_peer_is_trusted_by_its_ipv4_net() {
    let headers = forwarded(&["203.0.113.9"]);
    assert_eq!(
        proxies().client_ip(ip("::ffff:10.0.0.1"), &headers),
        ip("203.0.113.9")
    );
}

#[test]
fn ipv6_clients_are_keyed_by_their_64_and_ipv4_as_is() {
    assert_eq!(per_ip_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
    assert_eq!(
        per_ip_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
        ip("2001:db8:1:2::")
    );
    assert_ne!(per_ip_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
    assert_eq!(per_ip_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    assert_eq!(per_ip_key(ip("192.0.2.1")), ip("192.0.2.1"));
}

#[test]
fn two_addresses_of_one_64_share_the_per_ip_cap() {
    // The guard keys each handshake with per_ip_key before it asks for a place.
    let caps = ConnectionCaps::new(1, 100);
    let admit = |peer: &str| caps.admit(per_ip_key(ip(peer)));
    let _first = admit("2001:db8::1").expect("first address");
    assert_eq!(admit("2001:db8::ffff:2").err(), Some(Refusal::TooMany));
    assert!(admit("2001:db8:0:1::1").is_ok());
}
