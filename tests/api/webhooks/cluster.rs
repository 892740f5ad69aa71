//! Two gateway processes on one PostgreSQL, both sending webhooks: each event is accepted
//! once while both run, and when one is SIGKILLed mid-run the other sends everything it
//! held, in order per conversation.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use super::{WAIT, created_seqs, types};
use crate::conversations::{create, send};
use crate::support::process::{Gateway, listening_addr, token};
use crate::support::receiver::{Received, Receiver, SECRET};
use crate::support::{Connect, Db, SioClient, TestApp};

fn gateway(database_url: &str, webhook_url: &str) -> Gateway {
    let env = [
        ("SWITCHYARD_DATABASE_URL", database_url.to_owned()),
        ("SWITCHYARD_WEBHOOK_URL", webhook_url.to_owned()),
        ("SWITCHYARD_WEBHOOK_SECRET", SECRET.to_owned()),
        ("SWITCHYARD_WEBHOOK_TIMEOUT_MS", "1000".to_owned()),
        ("SWITCHYARD_RATE_LIMITS", "off".to_owned()),
    ];
    Gateway::spawn(&env, listening_addr)
}

async fn connect(gw: &Gateway, user: &str) -> SioClient {
    let opts = Connect {
        auth: Some(json!({ "token": token(user, &[]) })),
        ..Connect::default()
    };
    SioClient::connect(&gw.addr, "/ws", opts)
        .await
        .expect("connects")
}

/// Deliveries as first accepted (a redelivery after a crash is at least once, not twice
/// in order): each `webhook-id` once, where it first arrived.
fn first_of_each(got: &[Received]) -> Vec<Received> {
    let mut seen = HashSet::new();
    got.iter()
        .filter(|r| seen.insert(r.id.clone()))
        .cloned()
        .collect()
}

fn assert_in_order(got: &[Received], conversations: &[String], messages: i64) {
    for id in conversations {
        let mine: Vec<Received> = got
            .iter()
            .filter(|r| {
                let data = &r.body["data"];
                data["conversationId"] == json!(id)
                    || (r.body["type"] == "conversation.created" && data["id"] == json!(id))
            })
            .cloned()
            .collect();
        assert_eq!(types(&mine)[0], "conversation.created", "{id}");
        assert_eq!(
            created_seqs(&mine),
            (1..=messages).collect::<Vec<_>>(),
            "{id}"
        );
    }
}

async fn send_batch(sockets: &[(&SioClient, &String)], from: i64, to: i64) {
    for i in from..=to {
        for (socket, conversation) in sockets {
            send(socket, conversation, &format!("{conversation}-{i}"), "x").await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_send_each_event_once_and_a_killed_one_loses_nothing() {
    // The database's owner, sending no webhooks itself.
    let owner = TestApp::spawn(Db::Postgres).await;
    let receiver = Receiver::start().await.ignore_presence();
    let url = &owner.settings.database.url;
    let a = gateway(url, &receiver.url);
    let mut b = gateway(url, &receiver.url);
    let alice = connect(&a, "alice").await;
    let bob = connect(&b, "bob").await;
    let mut conversations = Vec::new();
    for _ in 0..4 {
        conversations.push(create(&alice, &["bob"]).await);
    }
    let c = &conversations;
    let both = [
        (&alice, &c[0]),
        (&alice, &c[1]),
        (&bob, &c[2]),
        (&bob, &c[3]),
    ];

    // Both nodes up: every event accepted exactly once.
    send_batch(&both, 1, 10).await;
    let got = receiver.wait_for(44, WAIT).await;
    assert_eq!(got.len(), 44, "{:?}", types(&got));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = receiver.accepted();
    assert_eq!(
        first_of_each(&got).len(),
        got.len(),
        "no event accepted twice"
    );
    assert_in_order(&got, c, 10);

    // A slow receiver keeps deliveries in flight; node B dies holding some.
    receiver.delay(Duration::from_millis(100));
    send_batch(&both, 11, 20).await;
    b.kill();
    drop(bob);
    let only_a = [
        (&alice, &c[0]),
        (&alice, &c[1]),
        (&alice, &c[2]),
        (&alice, &c[3]),
    ];
    send_batch(&only_a, 21, 25).await;
    let total = 4 + 4 * 25;
    let started = std::time::Instant::now();
    while first_of_each(&receiver.accepted()).len() < total && started.elapsed() < WAIT * 2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let firsts = first_of_each(&receiver.accepted());
    assert_eq!(firsts.len(), total, "nothing lost across the SIGKILL");
    assert_in_order(&firsts, c, 25);
    drop(a);
}
