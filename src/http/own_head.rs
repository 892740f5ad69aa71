//! hyper parses a request out of its connection's read buffer (8 to 16 KiB) and hands out
//! the URI and the header values as slices of that buffer. Engine.IO keeps a session's
//! request parts (extensions included, where axum keeps the URI as it arrived) for the
//! session's whole life, and with them the whole buffer: about
//! 16 KB of an idle WebSocket's 32 KB of heap (BENCHMARKS.md, heap profile). Copying the
//! few hundred bytes the parts need lets the buffer go when the request has been read.
//! Of the extensions, only the three a session needs are kept (see [`keep_needed_extensions`]),
//! and of the headers only those the gateway or Engine.IO read (see [`NEEDED_HEADERS`]):
//! whatever else a client sends would stay with its session for nothing.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use http::{Extensions, HeaderMap, HeaderValue, Uri};
use hyper::upgrade::OnUpgrade;

use crate::connections::SessionSlot;

/// What a Socket.IO request's headers are read for after this point: the token
/// (`authorization`), a polling body's encoding (`content-type`), and a WebSocket
/// upgrade (the others).
const NEEDED_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
];

/// For Socket.IO requests (the only ones whose parts outlive them): the URI and header
/// values in their own memory. Handshakes alone would not do: a polling session's upgrade
/// to WebSocket keeps its request's parts in the connection's task for the connection's
/// life too. Other requests pass untouched.
pub async fn own_socket_io_head(mut req: Request) -> Request {
    if req.uri().path().starts_with("/socket.io") {
        own_head(&mut req);
    }
    req
}

fn own_head(req: &mut Request) {
    *req.uri_mut() = owned_uri(req.uri());
    keep_needed_extensions(req.extensions_mut());
    let mut owned = HeaderMap::new();
    let needed = req
        .headers()
        .iter()
        .filter(|(name, _)| NEEDED_HEADERS.contains(&name.as_str()));
    for (name, value) in needed {
        // Names are already owned (hyper copies them when it lowercases them).
        let copy = match HeaderValue::from_bytes(value.as_bytes()) {
            Ok(mut copy) => {
                copy.set_sensitive(value.is_sensitive());
                copy
            }
            Err(_) => value.clone(),
        };
        owned.append(name.clone(), copy);
    }
    *req.headers_mut() = owned;
}

/// What a Socket.IO session's request needs from its extensions: the peer's address, its
/// place under the connection caps (given back when the session drops these parts) and
/// hyper's upgrade handle (a WebSocket's). axum's
/// route parameters, matched path and original URI (with its own copy of the URI) would
/// stay with every session for its life, about 0.3 KB of an idle connection.
fn keep_needed_extensions(extensions: &mut Extensions) {
    let mut kept = Extensions::new();
    if let Some(peer) = extensions.remove::<ConnectInfo<SocketAddr>>() {
        kept.insert(peer);
    }
    if let Some(upgrade) = extensions.remove::<OnUpgrade>() {
        kept.insert(upgrade);
    }
    if let Some(slot) = extensions.remove::<SessionSlot>() {
        kept.insert(slot);
    }
    *extensions = kept;
}

/// `Uri` from a `String` owns its bytes; from hyper it borrows the read buffer.
fn owned_uri(uri: &Uri) -> Uri {
    Uri::try_from(uri.to_string()).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    /// A request as hyper builds one: its URI and a header value are slices of one buffer.
    fn parsed_from(buffer: &Bytes) -> Request {
        let uri = Uri::from_maybe_shared(buffer.slice(4..41)).expect("uri");
        let value = HeaderValue::from_maybe_shared(buffer.slice(58..67)).expect("value");
        let mut req = Request::new(axum::body::Body::empty());
        *req.uri_mut() = uri;
        req.headers_mut().insert("host", value);
        let original = axum::extract::OriginalUri(req.uri().clone());
        req.extensions_mut().insert(original);
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
        req.extensions_mut().insert(peer);
        req
    }

    #[tokio::test]
    async fn socket_io_requests_let_go_of_the_read_buffer() {
        let buffer = Bytes::from(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\n\r\n"
                .to_vec(),
        );
        let req = own_socket_io_head(parsed_from(&buffer)).await;
        assert!(
            buffer.is_unique(),
            "nothing of the request holds the buffer"
        );
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(req.headers()["host"], "localhost");
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
        assert!(peer.is_some(), "the peer's address is kept");
        let original = req.extensions().get::<axum::extract::OriginalUri>();
        assert!(original.is_none(), "what no session needs is dropped");

        let kept = parsed_from(&buffer);
        assert!(!buffer.is_unique(), "the test's request does hold it");
        drop(kept);
    }

    #[tokio::test]
    async fn only_the_headers_the_gateway_reads_are_kept() {
        let mut req = Request::new(axum::body::Body::empty());
        *req.uri_mut() = Uri::from_static("/socket.io/?EIO=4&transport=polling");
        let headers = req.headers_mut();
        headers.insert("authorization", HeaderValue::from_static("Bearer t"));
        headers.insert("sec-websocket-key", HeaderValue::from_static("k"));
        headers.insert("cookie", HeaderValue::from_static("a=b"));
        headers.insert("x-padding", HeaderValue::from_static("aaaa"));
        let req = own_socket_io_head(req).await;
        let kept: Vec<_> = req.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(kept, ["authorization", "sec-websocket-key"]);
    }
}
