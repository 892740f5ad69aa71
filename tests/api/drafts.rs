//! Drafts: optimistic versions, conflicts with the current text, other devices told.

use serde_json::json;

use crate::on_both_databases;
use crate::support::{Db, TestApp};

on_both_databases!(drafts_are_versioned_per_user, |db: Db| async move {
    let app = TestApp::spawn(db).await;
    let phone = app.connect("/realtime", "alice").await;
    let mut laptop = app.connect("/realtime", "alice").await;
    let bob = app.connect("/realtime", "bob").await;
    let missing = phone
        .emit_ack("draft:get", json!({ "draftId": "note" }))
        .await;
    assert_eq!(missing["error"]["code"], json!("not_found"));
    let v1 = phone
        .emit_ack(
            "draft:sync",
            json!({ "draftId": "note", "baseVersion": 0, "content": "Hel" }),
        )
        .await;
    assert_eq!(v1, json!({ "ok": true, "version": 1 }));
    assert_eq!(
        laptop.expect("draft:updated").await.data,
        json!({ "draftId": "note", "version": 1, "content": "Hel" })
    );
    let v2 = laptop
        .emit_ack(
            "draft:sync",
            json!({ "draftId": "note", "baseVersion": 1, "content": "Hello" }),
        )
        .await;
    assert_eq!(v2["version"], json!(2));
    let stale = phone
        .emit_ack(
            "draft:sync",
            json!({ "draftId": "note", "baseVersion": 1, "content": "Help" }),
        )
        .await;
    assert_eq!(stale["error"]["code"], json!("conflict"));
    assert_eq!(
        stale["current"],
        json!({ "version": 2, "content": "Hello" })
    );
    let again = phone
        .emit_ack(
            "draft:sync",
            json!({ "draftId": "note", "baseVersion": 0, "content": "x" }),
        )
        .await;
    assert_eq!(
        again["current"]["version"],
        json!(2),
        "creating over an existing draft is a conflict"
    );
    let got = phone
        .emit_ack("draft:get", json!({ "draftId": "note" }))
        .await;
    assert_eq!(
        (got["version"].clone(), got["content"].clone()),
        (json!(2), json!("Hello"))
    );
    assert!(got["updatedAt"].is_i64());
    let bobs = bob
        .emit_ack("draft:get", json!({ "draftId": "note" }))
        .await;
    assert_eq!(
        bobs["error"]["code"],
        json!("not_found"),
        "drafts belong to their user"
    );
});
