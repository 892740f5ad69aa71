//! docs/mobile.md against the server: the guide's table of push fields must name exactly
//! the keys of each part of the FCM messages the server really sends (recorded by the
//! stand-in FCM), for a notification made over HTTP and for a chat message.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::conversations::create;
use crate::notifications::notify;
use crate::push::{app_with_push, pushes, register};
use crate::support::Db;
use crate::support::fake_fcm::FakeFcm;

const GUIDE: &str = include_str!("../../docs/mobile.md");

type Parts = BTreeMap<String, BTreeSet<String>>;

/// The documented fields per part of the message (`data`, `apns.headers`, ...): those in
/// every push, and those only in pushes of chat messages.
fn documented() -> (Parts, Parts) {
    let table = GUIDE
        .split("<!-- push-fields: begin -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- push-fields: end -->").next())
        .expect("docs/mobile.md has the push-fields table between its markers");
    let (mut every, mut messages) = (Parts::new(), Parts::new());
    // Skip the header and the separator row.
    for row in table.lines().filter(|l| l.starts_with('|')).skip(2) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let [field, part, when, ..] = cells[..] else {
            panic!("a push-fields row without field, part and `in`: {row}");
        };
        let target = match when {
            "every push" => &mut every,
            "`message` pushes" => &mut messages,
            other => panic!("unknown `in` column {other:?} in: {row}"),
        };
        target
            .entry(part.trim_matches('`').to_owned())
            .or_default()
            .insert(field.trim_matches('`').to_owned());
    }
    assert!(!every.is_empty(), "the push-fields table is empty");
    (every, messages)
}

/// The keys of `message` at a dotted path such as `apns.headers`.
fn keys_at(message: &Value, path: &str) -> BTreeSet<String> {
    let part = path
        .split('.')
        .filter(|key| !key.is_empty())
        .fold(message, |v, key| &v[key]);
    part.as_object()
        .unwrap_or_else(|| panic!("no object at {path} in {message}"))
        .keys()
        .cloned()
        .collect()
}

/// Every documented part has exactly its documented keys (plus `extra` in `data`), and the
/// message has no part the table leaves out.
fn assert_matches(message: &Value, parts: &Parts, extra_data: &[&str]) {
    for (path, fields) in parts {
        let mut expected = fields.clone();
        if path == "data" {
            expected.extend(extra_data.iter().map(|k| (*k).to_owned()));
        }
        assert_eq!(
            keys_at(message, path),
            expected,
            "`{path}` of a sent push vs docs/mobile.md"
        );
    }
    let mut top: BTreeSet<String> = parts
        .keys()
        .filter_map(|p| p.split('.').next().map(str::to_owned))
        .collect();
    top.insert("token".into());
    assert_eq!(keys_at(message, ""), top, "parts of a sent push");
    assert_eq!(keys_at(message, "apns"), BTreeSet::from(["headers".into()]));
}

fn union(a: &Parts, b: &Parts) -> Parts {
    let mut all = a.clone();
    for (part, fields) in b {
        all.entry(part.clone())
            .or_default()
            .extend(fields.iter().cloned());
    }
    all
}

#[tokio::test]
async fn the_mobile_guide_names_the_push_fields_the_server_sends() {
    let (every, messages) = documented();
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    let app = app_with_push(Db::Sqlite, &fcm, &dir).await;
    let phone = app.connect("/notifications", "ivy").await;
    register(&phone, "ivy-android", "android").await;
    phone.disconnect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // A notification over HTTP, with app data: its keys travel too, as strings, but not
    // the keys FCM reserves.
    let body = json!({
        "userIds": ["ivy"], "type": "order", "title": "Shipped", "body": "o-17", "priority": "high",
        "data": { "orderId": "o-17", "total": 12, "from": "x", "google.c.a": "y" }
    });
    assert_eq!(notify(&app, body).await.0, 202);
    let sent = pushes(&fcm, 1).await;
    let order = &sent.first().expect("the notification was pushed").body["message"];
    assert_matches(order, &every, &["orderId", "total"]);
    assert_eq!(
        order["data"]["total"],
        json!("12"),
        "data values are strings"
    );

    // A chat message to ivy, who has no socket: pushed with the message fields.
    let hal = app.connect("/ws", "hal").await;
    let conversation = create(&hal, &["ivy"]).await;
    let ack = hal
        .emit_ack(
            "message:send",
            json!({ "conversationId": conversation, "clientMsgId": "m1", "content": "lunch?" }),
        )
        .await;
    assert_eq!(ack["ok"], json!(true));
    let sent = pushes(&fcm, 2).await;
    let chat = &sent
        .iter()
        .find(|r| r.body["message"]["data"]["type"] == json!("message"))
        .expect("the chat message was pushed")
        .body["message"];
    assert_matches(chat, &union(&every, &messages), &[]);
    assert_eq!(chat["data"]["seq"], json!("1"));
}
