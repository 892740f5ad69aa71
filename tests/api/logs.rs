//! What the logs never hold: a polling session's Engine.IO id, even at `trace` for the
//! Socket.IO libraries, in text and JSON (from the real binary: one subscriber per
//! process). Its id lets whoever reads it poll the session as its user.

use serde_json::{Value, json};

use crate::support::process::{Gateway, listening_addr, token};

/// Polls `url` once and returns the body.
async fn get(http: &reqwest::Client, url: &str) -> String {
    let res = http.get(url).send().await.expect("poll");
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.expect("body")
}

/// Polls until a packet starting with `prefix` arrives, answering pings on the way.
async fn poll_for(http: &reqwest::Client, session: &str, prefix: &str) {
    for _ in 0..10 {
        let body = get(http, session).await;
        for packet in body.split('\u{1e}') {
            if packet.starts_with(prefix) {
                return;
            }
            if packet == "2" {
                post(http, session, "3".into()).await;
            }
        }
    }
    panic!("no {prefix} packet");
}

async fn post(http: &reqwest::Client, url: &str, body: String) {
    let res = http.post(url).body(body).send().await.expect("post");
    assert_eq!(res.status().as_u16(), 200, "{:?}", res.text().await);
}

/// A whole polling session on `/realtime`: open, connect, one acked event, close.
/// Returns its session id.
async fn polling_session(gateway: &Gateway) -> String {
    let http = reqwest::Client::new();
    let open = get(&http, &gateway.url("/socket.io/?EIO=4&transport=polling")).await;
    let handshake: Value = serde_json::from_str(open.trim_start_matches('0')).expect("open");
    let sid = handshake["sid"].as_str().expect("sid").to_owned();
    let session = gateway.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let auth = json!({ "token": token("alice", &[]) });
    post(&http, &session, format!("40/realtime,{auth}")).await;
    poll_for(&http, &session, "40/realtime,").await;
    post(
        &http,
        &session,
        r#"42/realtime,1["latency:ping",{"t":1}]"#.into(),
    )
    .await;
    poll_for(&http, &session, "43/realtime,1").await;
    post(&http, &session, "1".into()).await;
    sid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_id_never_reaches_the_logs() {
    let verbose = "info,engineioxide=trace,socketioxide=trace,switchyard=trace,\
                   switchyard_namespaces=trace";
    for format in ["text", "json"] {
        let json_addr = |line: &str| {
            let v: Value = serde_json::from_str(line).ok()?;
            v["fields"]["addr"].as_str().map(str::to_owned)
        };
        let find_addr = if format == "json" {
            Box::new(json_addr) as Box<dyn Fn(&str) -> Option<String> + Send>
        } else {
            Box::new(listening_addr)
        };
        let mut gateway = Gateway::spawn(
            &[
                ("SWITCHYARD_LOG_FORMAT", format.into()),
                ("RUST_LOG", verbose.into()),
            ],
            find_addr,
        );
        let sid = polling_session(&gateway).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tokio::task::block_in_place(|| gateway.stop());
        let lines = gateway.lines.lock().expect("lines").clone();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("connected") && l.contains("alice")),
            "the session's own debug lines are written ({format}): {lines:#?}"
        );
        let leaks: Vec<&String> = lines.iter().filter(|l| l.contains(&sid)).collect();
        assert!(leaks.is_empty(), "{format} lines with the sid: {leaks:#?}");
    }
}
