//! Device tokens (PROTOCOL.md §4): a token is not taken from its holder without the same
//! `installationId`, unregistering someone else's token is `not_found`, a user keeps at
//! most N devices, and device events have their own rate class.

use std::time::Duration;

use serde_json::{Value, json};

use crate::notifications::{notify, simple};
use crate::on_both_databases;
use crate::push::pushes;
use crate::support::fake_fcm::{FakeFcm, Reply};
use crate::support::{Db, SioClient, TestApp};

/// A server pushing to `fcm` with `configure` applied on top.
pub(crate) async fn push_app(
    db: Db,
    fcm: &FakeFcm,
    dir: &tempfile::TempDir,
    configure: impl FnOnce(&mut switchyard::config::Settings),
) -> TestApp {
    let key_file = fcm.write_service_account(dir.path());
    let endpoint = fcm.base_url();
    TestApp::spawn_with(db, move |s| {
        s.push.fcm_credentials = Some(key_file.display().to_string());
        s.push.fcm_endpoint = Some(endpoint);
        configure(s);
    })
    .await
}

async fn register(s: &SioClient, token: &str, installation: Option<&str>) -> Value {
    let mut body = json!({ "token": token, "platform": "android" });
    if let Some(id) = installation {
        body["installationId"] = json!(id);
    }
    s.emit_ack("device:register", body).await
}

async fn unregister(s: &SioClient, token: &str) -> Value {
    s.emit_ack("device:unregister", json!({ "token": token }))
        .await
}

fn code(ack: &Value) -> Value {
    ack["error"]["code"].clone()
}

/// The device tokens the notification titled `title` was pushed to, sorted.
async fn pushed_to(fcm: &FakeFcm, at_least: usize, title: &str) -> Vec<String> {
    let mut tokens: Vec<String> = pushes(fcm, at_least)
        .await
        .into_iter()
        .filter(|r| r.body["message"]["notification"]["title"] == title)
        .map(|r| r.token)
        .collect();
    tokens.sort();
    tokens
}

on_both_databases!(
    a_token_moves_to_another_user_only_from_the_same_installation,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = push_app(db, &fcm, &dir, |_| {}).await;
        let alice = app.connect("/notifications", "alice").await;
        let mallory = app.connect("/notifications", "mallory").await;
        let ok = json!({ "ok": true });
        assert_eq!(register(&alice, "phone-1", Some("install-a")).await, ok);
        assert_eq!(
            register(&alice, "phone-1", Some("install-a")).await,
            ok,
            "again is fine"
        );
        let taken = register(&mallory, "phone-1", None).await;
        assert_eq!(code(&taken), json!("conflict"), "{taken}");
        let guessed = register(&mallory, "phone-1", Some("install-x")).await;
        assert_eq!(code(&guessed), json!("conflict"), "{guessed}");
        alice.disconnect();
        mallory.disconnect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        notify(&app, simple("mallory", "for mallory", "normal")).await;
        notify(&app, simple("alice", "for alice", "normal")).await;
        assert_eq!(pushed_to(&fcm, 1, "for alice").await, vec!["phone-1"]);
        assert!(pushed_to(&fcm, 1, "for mallory").await.is_empty());

        // The same installation signed in as another user: the token follows.
        let bob = app.connect("/notifications", "bob").await;
        assert_eq!(register(&bob, "phone-1", Some("install-a")).await, ok);
        bob.disconnect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        notify(&app, simple("alice", "alice again", "normal")).await;
        notify(&app, simple("bob", "for bob", "normal")).await;
        assert_eq!(pushed_to(&fcm, 2, "for bob").await, vec!["phone-1"]);
        assert!(pushed_to(&fcm, 2, "alice again").await.is_empty());
    }
);

on_both_databases!(
    unregistering_a_token_the_user_does_not_hold_is_not_found,
    |db: Db| async move {
        let app = TestApp::spawn(db).await;
        let alice = app.connect("/notifications", "alice").await;
        let mallory = app.connect("/notifications", "mallory").await;
        assert_eq!(register(&alice, "phone-2", None).await["ok"], json!(true));
        let refused = unregister(&mallory, "phone-2").await;
        assert_eq!(code(&refused), json!("not_found"), "{refused}");
        let never = unregister(&mallory, "never-registered").await;
        assert_eq!(code(&never), json!("not_found"), "{never}");
        assert_eq!(
            unregister(&alice, "phone-2").await,
            json!({ "ok": true }),
            "still alice's to remove"
        );
        assert_eq!(
            code(&unregister(&alice, "phone-2").await),
            json!("not_found")
        );
    }
);

on_both_databases!(
    a_user_keeps_the_devices_registered_last,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = push_app(db, &fcm, &dir, |s| s.notifications.max_devices_per_user = 3).await;
        let first = app.connect("/notifications", "carl").await;
        for token in ["carl-1", "carl-2", "carl-3", "carl-1"] {
            assert_eq!(register(&first, token, None).await["ok"], json!(true));
            // Registration times differ, so "oldest" is unambiguous.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let second = app.connect("/notifications", "carl").await;
        assert_eq!(register(&second, "carl-4", None).await["ok"], json!(true));
        let gone = second
            .emit_ack("device:unregister", json!({ "token": "carl-2" }))
            .await;
        assert_eq!(
            code(&gone),
            json!("not_found"),
            "carl-2 was evicted: {gone}"
        );
        first.disconnect();
        second.disconnect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        notify(&app, simple("carl", "capped", "normal")).await;
        assert_eq!(
            pushed_to(&fcm, 3, "capped").await,
            vec!["carl-1", "carl-3", "carl-4"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(fcm.requests().len(), 3, "nothing to the evicted device");
    }
);

#[tokio::test]
async fn device_events_have_their_own_rate_class() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let dora = app.connect("/notifications", "dora").await;
    for n in 0..5 {
        let ack = register(&dora, &format!("dora-{n}"), None).await;
        assert_eq!(ack, json!({ "ok": true }));
    }
    let refused = dora
        .emit_ack("device:unregister", json!({ "token": "dora-0" }))
        .await;
    assert_eq!(code(&refused), json!("rate_limited"), "{refused}");
    assert!(refused["error"]["retryAfterMs"].as_u64().is_some());
    let list = dora.emit_ack("notification:list", json!({})).await;
    assert_eq!(list["ok"], json!(true), "other events go on");
}

on_both_databases!(
    a_moved_token_gets_none_of_its_previous_holders_queued_pushes,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = push_app(db, &fcm, &dir, |_| {}).await;
        // The first attempt is retried after 2 s: the push is still queued when the
        // token moves.
        let retry = Reply::Unavailable {
            retry_after: Some(2),
        };
        fcm.script("shared-phone", vec![retry]);
        let alice = app.connect("/notifications", "alice").await;
        assert_eq!(
            register(&alice, "shared-phone", Some("i-9")).await["ok"],
            json!(true)
        );
        alice.disconnect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        notify(&app, simple("alice", "alice only", "normal")).await;
        assert_eq!(pushes(&fcm, 1).await.len(), 1, "the first attempt failed");
        let bob = app.connect("/notifications", "bob").await;
        assert_eq!(
            register(&bob, "shared-phone", Some("i-9")).await["ok"],
            json!(true)
        );
        tokio::time::sleep(Duration::from_millis(2_800)).await;
        assert_eq!(
            pushed_to(&fcm, 1, "alice only").await.len(),
            1,
            "alice's retry never reaches bob's phone"
        );
    }
);

// Gil stays connected without acking, so the notification stays undelivered and its
// failed first attempts stay queued for retry while he changes his devices.
on_both_databases!(
    unregistered_and_evicted_devices_get_no_queued_retries,
    |db: Db| async move {
        let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
        let app = push_app(db, &fcm, &dir, |s| {
            s.notifications.max_devices_per_user = 2;
            s.notifications.ack_timeout = std::time::Duration::from_millis(300);
        })
        .await;
        for token in ["gil-1", "gil-2"] {
            let retry = Reply::Unavailable {
                retry_after: Some(2),
            };
            fcm.script(token, vec![retry]);
        }
        let mut phone = app.connect("/notifications", "gil").await;
        phone.manual_acks();
        for token in ["gil-1", "gil-2"] {
            assert_eq!(register(&phone, token, None).await["ok"], json!(true));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        notify(&app, simple("gil", "retried", "normal")).await;
        phone.expect("notification").await;
        assert_eq!(pushes(&fcm, 2).await.len(), 2, "both first attempts failed");
        assert_eq!(unregister(&phone, "gil-1").await, json!({ "ok": true }));
        assert_eq!(register(&phone, "gil-3", None).await["ok"], json!(true));
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            register(&phone, "gil-4", None).await["ok"],
            json!(true),
            "evicts gil-2"
        );
        tokio::time::sleep(Duration::from_millis(2_800)).await;
        assert_eq!(
            pushed_to(&fcm, 2, "retried").await,
            vec!["gil-1", "gil-2"],
            "no retry to the unregistered gil-1 or the evicted gil-2"
        );
    }
);
