//! What the Switchyard gateway says: namespace handlers, typed payloads, and the ports
//! (traits) they need from the infrastructure in the `switchyard` crate.
//!
//! Nothing here knows about axum, sqlx or Redis: a handler sees the world only through
//! [`ports`], so its logic can be tested with in-memory implementations.
//!
//! [`namespaces`] is the one list of the namespaces served: the gateway registers, counts
//! and describes them from it.

use std::sync::OnceLock;

use socketioxide::adapter::{Adapter, LocalAdapter};

pub mod ack;
pub mod audience;
pub mod broadcast;
pub mod channel_rules;
pub mod dispatch;
pub mod emit;
pub mod handler;
pub mod identity;
pub mod incoming;
pub mod limits;
pub mod metrics;
pub mod namespace;
pub mod notifications;
pub mod ports;
pub mod presence;
pub mod realtime;
pub mod resume;
pub mod rooms;
pub mod services;
pub mod states;
mod text;
pub mod wire;
pub mod ws;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

pub use ack::{ErrorCode, NsError, clip_message};
pub use identity::Identity;
pub use incoming::Incoming;
pub use namespace::Namespace;
pub use services::Services;
pub use states::{SharedStates, StateSet};

/// Every namespace the gateway serves, in the order they are registered.
pub fn namespaces<A: Adapter>() -> Vec<Namespace<A>> {
    vec![
        ws::namespace(),
        realtime::namespace(),
        notifications::namespace(),
    ]
}

/// The paths of [`namespaces`] (the `ns` label values of the connection metrics).
pub fn paths() -> &'static [&'static str] {
    static PATHS: OnceLock<Vec<&'static str>> = OnceLock::new();
    PATHS.get_or_init(|| {
        namespaces::<LocalAdapter>()
            .iter()
            .map(|n| n.path)
            .collect()
    })
}
