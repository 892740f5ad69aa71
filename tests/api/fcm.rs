//! The FCM HTTP v1 sender against `FakeFcm`: the exact request, the OAuth2 token's
//! life, and how each FCM answer is sorted.

mod credentials;

use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Map, json};
use switchyard::push::fcm::{FcmClient, FcmConfig, PushMessage, SendOutcome};
use tempfile::TempDir;

use crate::support::fake_fcm::{FakeFcm, PROJECT_ID, Reply};

struct Setup {
    fcm: FakeFcm,
    client: FcmClient,
    dir: TempDir,
}

async fn setup() -> Setup {
    let fcm = FakeFcm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = fcm.write_service_account(dir.path());
    let client = FcmClient::new(config(&fcm, &key_file))
        .await
        .expect("client");
    Setup { fcm, client, dir }
}

fn config(fcm: &FakeFcm, key_file: &Path) -> FcmConfig {
    FcmConfig {
        endpoint: fcm.base_url(),
        ..FcmConfig::new(key_file)
    }
}

fn push(token: &str) -> PushMessage {
    PushMessage {
        token: token.into(),
        notification_id: "n-1".into(),
        kind: "message".into(),
        title: "Alice".into(),
        body: "Hello".into(),
        data: Map::new(),
        high_priority: false,
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn retry(status: Option<u16>, after: Option<u64>) -> SendOutcome {
    SendOutcome::Retry {
        status,
        after: after.map(Duration::from_secs),
    }
}

#[tokio::test]
async fn the_request_is_fcm_v1_json_with_string_data() {
    let Setup { fcm, client, .. } = setup().await;
    assert_eq!(client.project_id(), PROJECT_ID);
    let data = json!({
        "conversationId": "c-9", "count": 3, "urgent": true, "meta": {"a": [1, 2]},
        "nothing": null, "id": "spoofed", "type": "spoofed", "from": "x", "google.sent": "y"
    });
    let high = PushMessage {
        notification_id: "n-42".into(),
        data: data.as_object().expect("object").clone(),
        high_priority: true,
        ..push("device-a")
    };
    let outcome = client.send(&high).await;
    assert_eq!(
        outcome,
        SendOutcome::Sent {
            name: format!("projects/{PROJECT_ID}/messages/1")
        }
    );
    let normal = client.send(&push("device-b")).await;
    assert!(matches!(normal, SendOutcome::Sent { .. }), "{normal:?}");

    let requests = fcm.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests
            .iter()
            .all(|r| r.authorized && r.project == PROJECT_ID)
    );
    assert_eq!(
        requests[0].body,
        json!({"message": {
            "token": "device-a",
            "notification": {"title": "Alice", "body": "Hello"},
            "data": {
                "conversationId": "c-9", "count": "3", "urgent": "true",
                "meta": "{\"a\":[1,2]}", "nothing": "null", "id": "n-42", "type": "message"
            },
            "android": {"priority": "HIGH", "collapse_key": "n-42"},
            "apns": {"headers": {"apns-priority": "10", "apns-collapse-id": "n-42"}}
        }})
    );
    let body = &requests[1].body["message"];
    assert_eq!(body["data"], json!({"id": "n-1", "type": "message"}));
    assert_eq!(
        body["android"],
        json!({"priority": "NORMAL", "collapse_key": "n-1"})
    );
    assert_eq!(
        body["apns"],
        json!({"headers": {"apns-priority": "5", "apns-collapse-id": "n-1"}})
    );
}

#[tokio::test]
async fn one_access_token_serves_many_sends() {
    let Setup { fcm, client, .. } = setup().await;
    // The first sends race for a token that is not there yet: one request, not ten.
    let pushes: Vec<_> = (0..10).map(|i| push(&format!("device-{i}"))).collect();
    let outcomes = join_all(pushes.iter().map(|p| client.send(p))).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, SendOutcome::Sent { .. })),
        "{outcomes:?}"
    );
    for _ in 0..3 {
        let outcome = client.clone().send(&push("device-x")).await;
        assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    }
    assert_eq!(
        fcm.token_calls(),
        1,
        "the assertion was verified once, then cached"
    );
    assert_eq!(fcm.requests().len(), 13);
}

#[tokio::test]
async fn unregistered_and_invalid_tokens_are_invalid() {
    let Setup { fcm, client, .. } = setup().await;
    fcm.script("gone", vec![Reply::Unregistered]);
    fcm.script("garbled", vec![Reply::InvalidArgument]);
    let invalid = |reason: &str| SendOutcome::InvalidToken {
        reason: reason.into(),
    };
    assert_eq!(client.send(&push("gone")).await, invalid("UNREGISTERED"));
    assert_eq!(
        client.send(&push("garbled")).await,
        invalid("INVALID_ARGUMENT")
    );
}

#[tokio::test]
async fn unavailable_and_quota_are_retried_after_what_fcm_says() {
    let Setup { fcm, client, .. } = setup().await;
    let busy = vec![
        Reply::Unavailable {
            retry_after: Some(7),
        },
        Reply::Unavailable { retry_after: None },
        Reply::TooManyRequests { retry_after: None },
        Reply::TooManyRequests {
            retry_after: Some(30),
        },
    ];
    fcm.script("device-a", busy);
    let expected = [
        retry(Some(503), Some(7)),
        retry(Some(503), None),
        retry(Some(429), None),
        retry(Some(429), Some(30)),
    ];
    for want in expected {
        assert_eq!(client.send(&push("device-a")).await, want);
    }
    // The script is spent: FCM is back.
    let outcome = client.send(&push("device-a")).await;
    assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    let requests = fcm.requests();
    assert!(requests.iter().all(|r| r.token == "device-a"));
    assert_eq!(
        requests[0].reply,
        Reply::Unavailable {
            retry_after: Some(7)
        }
    );
    assert_eq!(requests[4].reply, Reply::Ok);
    let times: Vec<_> = requests.iter().map(|r| r.at).collect();
    assert!(
        times.is_sorted(),
        "requests are recorded in order with their times"
    );
}

#[tokio::test]
async fn a_refused_access_token_fails_the_send_and_is_renewed() {
    let Setup { fcm, client, .. } = setup().await;
    fcm.script("device-a", vec![Reply::Unauthorized]);
    match client.send(&push("device-a")).await {
        SendOutcome::Failed {
            status: 401,
            reason,
        } => {
            assert!(reason.contains("UNAUTHENTICATED"), "{reason}")
        }
        other => panic!("expected Failed 401, got {other:?}"),
    }
    let outcome = client.send(&push("device-a")).await;
    assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    assert_eq!(fcm.token_calls(), 2);
}

#[tokio::test]
async fn an_unreachable_fcm_is_retried_without_a_status() {
    let Setup { fcm, dir, .. } = setup().await;
    let key_file = fcm.write_service_account(dir.path());
    let client = FcmClient::new(FcmConfig {
        endpoint: format!("http://127.0.0.1:{}", closed_port()),
        ..FcmConfig::new(key_file)
    })
    .await
    .expect("client");
    assert_eq!(client.send(&push("device-a")).await, retry(None, None));
}
