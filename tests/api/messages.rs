//! Messages: send with idempotency and delivery, edit, delete, history, sync, and
//! participants-only access.

use std::time::Duration;

use serde_json::json;

use crate::conversations::{create, send};
use crate::on_both_databases;
use crate::support::{Db, TestApp};

const QUIET: Duration = Duration::from_millis(300);

on_both_databases!(
    messages_reach_others_and_the_senders_other_devices,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice_phone = app.connect("/ws", "alice").await;
        let mut alice_laptop = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let id = create(&alice_phone, &["bob"]).await;
        let first = send(&alice_phone, &id, "c1", "one").await;
        let second = send(&alice_phone, &id, "c2", "two").await;
        assert_eq!(
            (first["seq"].clone(), second["seq"].clone()),
            (json!(1), json!(2))
        );
        assert_eq!(first["senderId"], json!("alice"));
        assert_eq!(first["attachments"], json!([]));
        let got = bob.expect("message:new").await;
        assert_eq!(got.data["message"], first);
        assert!(got.ack_id.is_some(), "message:new asks for an ack");
        assert_eq!(
            alice_laptop.expect("message:new").await.data["message"],
            first
        );
        alice_phone.expect_none("message:new", QUIET).await;
    }
);

on_both_databases!(
    a_resend_returns_the_stored_message_and_broadcasts_nothing,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        let id = create(&alice, &["bob"]).await;
        let first = send(&alice, &id, "same", "hello").await;
        bob.expect("message:new").await;
        let again = send(&alice, &id, "same", "hello").await;
        assert_eq!(again, first);
        bob.expect_none("message:new", QUIET).await;
        let next = send(&alice, &id, "other", "next").await;
        assert_eq!(next["seq"], json!(2));
    }
);

on_both_databases!(
    the_first_recipient_ack_is_reported_as_delivered,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let mut alice = app.connect("/ws", "alice").await;
        let mut bob = app.connect("/ws", "bob").await;
        bob.manual_acks();
        let id = create(&alice, &["bob"]).await;
        send(&alice, &id, "c1", "ping").await;
        let incoming = bob.expect("message:new").await;
        alice.expect_none("message:delivered", QUIET).await;
        bob.ack(incoming.ack_id.expect("ack id"), json!({}));
        let delivered = alice.expect("message:delivered").await;
        assert_eq!(
            delivered.data,
            json!({ "conversationId": id, "userId": "bob", "seq": 1 })
        );
    }
);

on_both_databases!(only_the_sender_edits_and_deletes, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let alice = app.connect("/ws", "alice").await;
    let mut bob = app.connect("/ws", "bob").await;
    let id = create(&alice, &["bob"]).await;
    let message = send(&alice, &id, "c1", "typo").await;
    let mid = message["id"].clone();
    let by_bob = bob
        .emit_ack(
            "message:edit",
            json!({ "messageId": mid, "content": "hacked" }),
        )
        .await;
    assert_eq!(by_bob["error"]["code"], json!("forbidden"));
    let by_bob = bob
        .emit_ack("message:delete", json!({ "messageId": mid }))
        .await;
    assert_eq!(by_bob["error"]["code"], json!("forbidden"));
    let edited = alice
        .emit_ack(
            "message:edit",
            json!({ "messageId": mid, "content": "fixed" }),
        )
        .await;
    assert_eq!(edited["message"]["content"], json!("fixed"));
    assert!(edited["message"]["editedAt"].is_i64());
    assert_eq!(
        bob.expect("message:updated").await.data["message"]["content"],
        json!("fixed")
    );
    let deleted = alice
        .emit_ack("message:delete", json!({ "messageId": mid }))
        .await;
    assert_eq!(deleted, json!({ "ok": true }));
    let told = bob.expect("message:deleted").await;
    assert_eq!(told.data, json!({ "conversationId": id, "messageId": mid }));
    let history = bob
        .emit_ack("message:history", json!({ "conversationId": id }))
        .await;
    assert_eq!(history["messages"][0]["deleted"], json!(true));
    assert_eq!(history["messages"][0]["content"], json!(""));
    let missing = alice
        .emit_ack(
            "message:edit",
            json!({ "messageId": "nope", "content": "x" }),
        )
        .await;
    assert_eq!(missing["error"]["code"], json!("not_found"));
});

on_both_databases!(history_pages_backwards_with_more, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let alice = app.connect("/ws", "alice").await;
    let id = create(&alice, &["bob"]).await;
    for i in 1..=5 {
        send(&alice, &id, &format!("c{i}"), &format!("m{i}")).await;
    }
    let seqs = |v: &serde_json::Value| -> Vec<i64> {
        v["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["seq"].as_i64())
            .collect()
    };
    let page = alice
        .emit_ack(
            "message:history",
            json!({ "conversationId": id, "limit": 2 }),
        )
        .await;
    assert_eq!(
        (seqs(&page), page["more"].clone()),
        (vec![4, 5], json!(true))
    );
    let page = alice
        .emit_ack(
            "message:history",
            json!({ "conversationId": id, "limit": 2, "beforeSeq": 4 }),
        )
        .await;
    assert_eq!(
        (seqs(&page), page["more"].clone()),
        (vec![2, 3], json!(true))
    );
    let page = alice
        .emit_ack(
            "message:history",
            json!({ "conversationId": id, "limit": 2, "beforeSeq": 2 }),
        )
        .await;
    assert_eq!((seqs(&page), page["more"].clone()), (vec![1], json!(false)));
    let page = alice
        .emit_ack("message:history", json!({ "conversationId": id }))
        .await;
    assert_eq!(
        (seqs(&page), page["more"].clone()),
        (vec![1, 2, 3, 4, 5], json!(false))
    );
});

on_both_databases!(sync_returns_what_was_missed_offline, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let alice = app.connect("/ws", "alice").await;
    let bob = app.connect("/ws", "bob").await;
    let first = create(&alice, &["bob"]).await;
    let second = create(&alice, &["bob"]).await;
    send(&alice, &first, "a1", "seen").await;
    bob.disconnect();
    for i in 2..=4 {
        send(&alice, &first, &format!("a{i}"), "missed").await;
    }
    send(&alice, &second, "b1", "missed too").await;
    let bob = app.connect("/ws", "bob").await;
    let sync = bob
        .emit_ack(
            "message:sync",
            json!({ "cursors": { first.clone(): 1, second.clone(): 0 } }),
        )
        .await;
    let got: Vec<(String, i64)> = sync["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            (
                m["conversationId"].as_str().unwrap_or_default().to_owned(),
                m["seq"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    let mut expected = vec![
        (first.clone(), 2),
        (first.clone(), 3),
        (first.clone(), 4),
        (second.clone(), 1),
    ];
    expected.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, expected);
    assert_eq!(sync["more"], json!(false));
});

on_both_databases!(
    outsiders_are_forbidden_on_every_event,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/ws", "alice").await;
        let mut eve = app.connect("/ws", "eve").await;
        let id = create(&alice, &["bob"]).await;
        let message = send(&alice, &id, "c1", "secret").await;
        let attempts = [
            (
                "message:send",
                json!({ "conversationId": id, "clientMsgId": "e1", "content": "hi" }),
            ),
            (
                "message:edit",
                json!({ "messageId": message["id"], "content": "x" }),
            ),
            ("message:delete", json!({ "messageId": message["id"] })),
            ("message:history", json!({ "conversationId": id })),
            ("message:sync", json!({ "cursors": { id.clone(): 0 } })),
            ("message:read", json!({ "conversationId": id, "seq": 1 })),
            ("typing:start", json!({ "conversationId": id })),
            ("typing:stop", json!({ "conversationId": id })),
        ];
        for (event, payload) in attempts {
            let ack = eve.emit_ack(event, payload).await;
            assert_eq!(ack["error"]["code"], json!("forbidden"), "{event}: {ack}");
        }
        eve.expect_none("message:new", QUIET).await;
        let unknown = alice
            .emit_ack(
                "message:history",
                json!({ "conversationId": "no-such-conversation" }),
            )
            .await;
        assert_eq!(unknown["error"]["code"], json!("not_found"));
    }
);

on_both_databases!(
    concurrent_senders_get_unique_gapless_seqs,
    |db: Db| async move {
        let app =
            TestApp::spawn_with(db, |s| s.limits.mode = switchyard::config::RateLimits::Off).await;
        let alice = app.connect("/ws", "alice").await;
        let id = create(&alice, &["bob", "carol"]).await;
        let mut senders = Vec::new();
        for user in ["alice", "bob", "carol", "alice", "bob"] {
            senders.push(app.connect("/ws", user).await);
        }
        let mut tasks = Vec::new();
        for (n, s) in senders.into_iter().enumerate() {
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..10 {
                let payload = json!({ "conversationId": id, "clientMsgId": format!("s{n}-{i}"), "content": "x" });
                let ack = s.emit_ack("message:send", payload).await;
                seqs.push(ack["message"]["seq"].as_i64().unwrap_or_else(|| panic!("{ack}")));
            }
            seqs
        }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("sender"));
        }
        all.sort();
        assert_eq!(all, (1..=50).collect::<Vec<i64>>());
    }
);

on_both_databases!(concurrent_resends_store_one_message, |db: Db| async move {
    let app =
        TestApp::spawn_with(db, |s| s.limits.mode = switchyard::config::RateLimits::Off).await;
    let alice = std::sync::Arc::new(app.connect("/ws", "alice").await);
    let id = create(&alice, &["bob"]).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (alice, id) = (alice.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let ack = alice
                .emit_ack(
                    "message:send",
                    json!({ "conversationId": id, "clientMsgId": "dup", "content": "x" }),
                )
                .await;
            ack["message"]["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("{ack}"))
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("send"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every resend names the same message");
    let history = alice
        .emit_ack("message:history", json!({ "conversationId": id }))
        .await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1));
});
