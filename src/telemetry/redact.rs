//! Keeps Engine.IO session ids out of logs and traces. A session id is a bearer
//! credential for the polling transport: whoever reads one from a log can poll that
//! session and receive its packets, or post packets as its user.
//!
//! socketioxide's socket id is the same value, and both libraries log it: as a `sid`,
//! `id` or `socket.id` field of their debug and trace events and spans, inside some
//! messages (`[sid=…] dropping socket`), and in the INFO spans around session open and
//! close. Their debug events also print whole CONNECT packets, tokens included. So the
//! filter here drops every span or event that carries a session-id field, whatever its
//! level or crate, and every debug or trace event of those two libraries, whatever
//! `RUST_LOG` asks for. Events inside a dropped span are still written, without it.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{FilterFn, filter_fn};

/// Field names that hold a session (socket) id.
const SESSION_ID_FIELDS: [&str; 4] = ["sid", "socket.id", "socket_id", "self.id"];

/// Targets of the Socket.IO libraries, whose verbose output is full of session ids.
const SOCKET_LIBRARIES: [&str; 2] = ["engineioxide", "socketioxide"];

/// A per-layer filter to combine with the level filter of every output.
pub fn no_session_ids() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    filter_fn(allowed as fn(&Metadata<'_>) -> bool)
}

fn allowed(meta: &Metadata<'_>) -> bool {
    let carries_id = SESSION_ID_FIELDS
        .iter()
        .any(|name| meta.fields().field(name).is_some());
    let library = SOCKET_LIBRARIES
        .iter()
        .any(|lib| meta.target().starts_with(lib));
    // DEBUG and TRACE are the levels "above" INFO in tracing's order.
    let library_detail = library && *meta.level() > Level::INFO;
    !carries_id && !library_detail
}
