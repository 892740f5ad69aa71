//! The descriptors agree with the contract: each namespace's table holds exactly its
//! `events` constants with the rate classes of PROTOCOL.md §2, the contract lists what the
//! tables hold, and an event no entry handles gets the unknown-event answer.

use socketioxide::adapter::LocalAdapter;

use crate::dispatch::{EventTable, PayloadLimit, unknown_event};
use crate::limits::EventClass::{self, All, Device, Draft, Message, Presence, Rpc, Typing};
use crate::{ErrorCode, Namespace, notifications, realtime, ws};

/// Every client event of the contract with its rate class, by namespace.
fn contract() -> Vec<(&'static str, Vec<(&'static str, EventClass)>)> {
    use notifications::events as n;
    use realtime::events as r;
    use ws::events as w;
    vec![
        (
            ws::PATH,
            vec![
                (w::CONVERSATION_CREATE, All),
                (w::CONVERSATION_LIST, All),
                (w::MESSAGE_SEND, Message),
                (w::MESSAGE_EDIT, All),
                (w::MESSAGE_DELETE, All),
                (w::MESSAGE_HISTORY, All),
                (w::MESSAGE_SYNC, All),
                (w::MESSAGE_READ, All),
                (w::TYPING_START, Typing),
                (w::TYPING_STOP, Typing),
            ],
        ),
        (
            realtime::PATH,
            vec![
                (r::SUBSCRIBE, All),
                (r::UNSUBSCRIBE, All),
                (r::PRESENCE_SET, Presence),
                (r::PRESENCE_GET, Presence),
                (r::PRESENCE_WATCH, Presence),
                (r::PRESENCE_UNWATCH, Presence),
                (r::PRESENCE_MEMBERS, Presence),
                (r::PRESENCE_STATS, Presence),
                (r::ACTIVITY, All),
                (r::DRAFT_GET, All),
                (r::DRAFT_SYNC, Draft),
                (r::LATENCY_PING, All),
                (r::RPC, Rpc),
            ],
        ),
        (
            notifications::PATH,
            vec![
                (n::LIST, All),
                (n::READ, All),
                (n::DEVICE_REGISTER, Device),
                (n::DEVICE_UNREGISTER, Device),
            ],
        ),
    ]
}

fn described() -> Vec<Namespace<LocalAdapter>> {
    crate::namespaces::<LocalAdapter>()
}

#[test]
fn each_table_holds_exactly_its_events_with_their_rate_classes() {
    let namespaces = described();
    let paths: Vec<_> = namespaces.iter().map(|n| n.path).collect();
    let expected = contract();
    assert_eq!(paths, expected.iter().map(|(p, _)| *p).collect::<Vec<_>>());
    assert_eq!(crate::paths(), paths.as_slice());
    for (ns, (path, events)) in namespaces.iter().zip(expected) {
        let mut held: Vec<_> = ns
            .events
            .entries()
            .iter()
            .map(|e| (e.name, e.class))
            .collect();
        let mut events = events;
        held.sort_by_key(|(name, _)| *name);
        events.sort_by_key(|(name, _)| *name);
        assert_eq!(held, events, "{path}");
        for entry in ns.events.entries() {
            assert_eq!(entry.limit, PayloadLimit::Default, "{path} {}", entry.name);
        }
        assert!(!ns.emits.is_empty(), "{path} emits nothing");
    }
}

#[test]
fn shared_events_join_every_table_and_the_contract_lists_them() {
    const SHARED: &str = "common:event";
    let shared = || {
        EventTable::<LocalAdapter>::default().on_at_most(
            SHARED,
            All,
            PayloadLimit::Bytes(16),
            async |_: crate::Incoming<LocalAdapter>| {},
        )
    };
    for ns in described() {
        let contract = ns.contract(1_000);
        assert_eq!(contract["path"], ns.path);
        let listed = contract["events"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, ns.events.entries().len(), "{}", ns.path);
        let table = ns.events.with(shared());
        let entry = table
            .get(SHARED)
            .expect("the shared event is in every table");
        assert_eq!(entry.limit.bytes(1_000), 16);
        assert!(table.get("no:such:event").is_none());
    }
    let listed = crate::namespace::table_contract(&shared(), 1_000);
    assert_eq!(
        listed,
        serde_json::json!([{ "name": SHARED, "class": "all", "maxBytes": 16 }])
    );
}

#[test]
fn an_event_without_an_entry_is_answered_as_unknown() {
    let err = unknown_event("no:such");
    assert_eq!(err.code, ErrorCode::InvalidPayload);
    assert_eq!(err.message, "unknown event `no:such`");
}
