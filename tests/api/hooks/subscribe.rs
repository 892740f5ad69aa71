//! The subscribe hook for `allow = "backend"` rules: one batch per `subscribe`, denied
//! channels `forbidden`, a failed call `unavailable` for its channels only, answers cached
//! per user and channel, and no start with such a rule but no hook.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard::config::Settings;
use switchyard::startup::Application;
use switchyard_namespaces::realtime::{Allow, ChannelRule};

use super::{Answer, Backend};
use crate::channels::subscribe;
use crate::support::{Db, TestApp};

const DEADLINE: Duration = Duration::from_millis(500);

fn backend_rule(s: &mut Settings) {
    let rule = ChannelRule::new("doc:*", Allow::Backend).expect("a valid rule");
    s.channels.rules.push(rule);
}

async fn app_with(backend: &Backend, cache_for: Duration) -> TestApp {
    TestApp::spawn_with(Db::Sqlite, |s| {
        backend.configure(s, DEADLINE);
        s.integration.hooks.connect_url = None;
        s.integration.hooks.cache_for = cache_for;
        backend_rule(s);
    })
    .await
}

fn asked(backend: &Backend) -> Vec<Value> {
    backend
        .calls("subscribe")
        .iter()
        .map(|call| {
            assert!(call.signed, "signed");
            call.body["channels"].clone()
        })
        .collect()
}

#[tokio::test]
async fn backend_channels_are_asked_in_one_batch_and_denied_forbidden() {
    let backend = Backend::start().await;
    let answer = json!({"channels": {"doc:1": true, "doc:2": false}});
    backend.answer("subscribe", Answer::Json(answer));
    let app = app_with(&backend, Duration::ZERO).await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = subscribe(&alice, &["doc:1", "public:x", "doc:2", "doc:3"]).await;
    assert_eq!(ack["subscribed"], json!(["doc:1", "public:x"]));
    assert_eq!(
        ack["denied"],
        json!([
            {"channel": "doc:2", "code": "forbidden"},
            {"channel": "doc:3", "code": "forbidden"},
        ]),
        "a channel the answer leaves out is denied"
    );
    assert_eq!(asked(&backend), vec![json!(["doc:1", "doc:2", "doc:3"])]);
    let call = &backend.calls("subscribe")[0];
    assert_eq!(call.body["user"], json!({"id": "alice", "roles": []}));
    assert_eq!(call.body["ns"], json!("/realtime"));
    // Nothing to ask: no call.
    subscribe(&alice, &["public:y"]).await;
    assert_eq!(backend.calls("subscribe").len(), 1);
}

#[tokio::test]
async fn a_single_allow_answers_for_the_channel() {
    let backend = Backend::start().await;
    backend.answer("subscribe", Answer::Json(json!({"allow": true})));
    let app = app_with(&backend, Duration::ZERO).await;
    let alice = app.connect("/realtime", "alice").await;
    let ack = subscribe(&alice, &["doc:9"]).await;
    assert_eq!(ack["subscribed"], json!(["doc:9"]));
    backend.answer("subscribe", Answer::Json(json!({"allow": false})));
    let ack = subscribe(&alice, &["doc:10"]).await;
    assert_eq!(
        ack["denied"],
        json!([{"channel": "doc:10", "code": "forbidden"}])
    );
}

#[tokio::test]
async fn a_failed_call_denies_its_channels_unavailable_and_the_rest_proceeds() {
    let backend = Backend::start().await;
    let app = app_with(&backend, Duration::from_secs(60)).await;
    let alice = app.connect("/realtime", "alice").await;
    for answer in [
        Answer::Slow(DEADLINE * 4, json!({"allow": true})),
        Answer::Status(503),
        Answer::Json(json!({"yes": true})),
    ] {
        backend.answer("subscribe", answer);
        let ack = subscribe(&alice, &["doc:1", "public:x"]).await;
        assert_eq!(ack["subscribed"], json!(["public:x"]));
        assert_eq!(
            ack["denied"],
            json!([{"channel": "doc:1", "code": "unavailable"}])
        );
    }
    // Failures are not cached; answers are.
    backend.answer("subscribe", Answer::Json(json!({"allow": true})));
    let ack = subscribe(&alice, &["doc:1"]).await;
    assert_eq!(ack["subscribed"], json!(["doc:1"]));
    let calls = backend.calls("subscribe").len();
    backend.answer("subscribe", Answer::Status(500));
    let ack = subscribe(&alice, &["doc:1"]).await;
    assert_eq!(ack["subscribed"], json!(["doc:1"]), "from the cache");
    assert_eq!(backend.calls("subscribe").len(), calls, "no call");
}

#[tokio::test]
async fn a_refresh_asks_the_backend_again_about_held_channels() {
    let backend = Backend::start().await;
    backend.answer("subscribe", Answer::Json(json!({"allow": true})));
    let app = app_with(&backend, Duration::ZERO).await;
    let mut alice = app.connect("/realtime", "alice").await;
    subscribe(&alice, &["doc:1", "public:x"]).await;
    backend.answer("subscribe", Answer::Json(json!({"allow": false})));
    let ack = alice
        .emit_ack("auth:refresh", json!({ "token": app.token("alice") }))
        .await;
    assert_eq!(ack["ok"], json!(true), "{ack}");
    let told = alice.expect("unsubscribed").await.data;
    assert_eq!(told, json!({"channels": ["doc:1"], "code": "forbidden"}));
}

#[tokio::test]
async fn a_backend_rule_without_a_subscribe_hook_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".parse().expect("addr");
    settings.database.url = format!("sqlite://{}", dir.path().join("t.db").display());
    settings.auth.jwt_secret = Some(crate::support::app::SECRET.into());
    backend_rule(&mut settings);
    let Err(err) = Application::build(&settings, Some(crate::support::app::SECRET)).await else {
        panic!("started with a backend rule and no subscribe_url");
    };
    let told = format!("{err:#}");
    assert!(told.contains("subscribe_url"), "{told}");
}
