//! Engine.IO sessions under the caps from their handshake on (issue 18 §2): sessions that
//! never connect a namespace count, are closed after the connect timeout on both
//! protocols (the `/` a protocol 4 session is put on is accepted but does not count) and
//! once their last namespace leaves, and oversized headers are refused. A protocol 4
//! CONNECT carries its token after the namespace, as socket.io-client 2.x sends it.
//! Spoken over raw long-polling, as an attacker's script would.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Db, TestApp};

const TIMEOUT_MS: u64 = 300;

async fn handshake(app: &TestApp, eio: u8) -> reqwest::Response {
    let url = app.url(&format!("/socket.io/?EIO={eio}&transport=polling"));
    reqwest::get(url).await.expect("handshake")
}

/// Opens a session and returns its id.
async fn open(app: &TestApp, eio: u8) -> String {
    let res = handshake(app, eio).await;
    assert_eq!(res.status().as_u16(), 200);
    let body = res.text().await.expect("body");
    let start = body.find("\"sid\":\"").expect("open packet") + 7;
    body[start..].split('"').next().expect("sid").to_owned()
}

/// Posts one Engine.IO packet as a polling payload of the protocol; the status.
async fn post(app: &TestApp, eio: u8, sid: &str, packet: &str) -> u16 {
    let payload = match eio {
        3 => format!("{}:{packet}", packet.chars().count()),
        _ => packet.to_owned(),
    };
    let url = app.url(&format!(
        "/socket.io/?EIO={eio}&transport=polling&sid={sid}"
    ));
    let res = reqwest::Client::new().post(url).body(payload).send().await;
    res.expect("post").status().as_u16()
}

/// What the gateway has queued for the session (one poll).
async fn poll(app: &TestApp, eio: u8, sid: &str) -> String {
    let url = app.url(&format!(
        "/socket.io/?EIO={eio}&transport=polling&sid={sid}"
    ));
    let res = reqwest::get(url).await.expect("poll");
    assert_eq!(res.status().as_u16(), 200);
    res.text().await.expect("body")
}

/// Whether the gateway still knows the session: it takes a heartbeat packet (a v3
/// client's ping, a v4 client's pong).
/// `ns` holds the session open past the connect timeout; once it leaves, nothing does
/// (an EIO3 session's implicit `/` included) and the timeout closes it.
async fn held_until_it_leaves(app: &TestApp, eio: u8, sid: &str, ns: &str) {
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 3)).await;
    assert!(alive(app, eio, sid).await, "{ns} holds it open");
    assert_eq!(post(app, eio, sid, &format!("41{ns},")).await, 200);
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 3)).await;
    assert!(
        !alive(app, eio, sid).await,
        "nothing holds it once {ns} left"
    );
}

async fn alive(app: &TestApp, eio: u8, sid: &str) -> bool {
    let heartbeat = if eio == 3 { "2" } else { "3" };
    post(app, eio, sid, heartbeat).await == 200
}

async fn sessions(app: &TestApp) -> u64 {
    app.stats().await["sessions"].as_u64().expect("sessions")
}

#[tokio::test]
async fn bare_sessions_take_a_place_from_the_handshake() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.connections.max_per_ip = 5).await;
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(handshake(&app, 4).await.status().as_u16());
    }
    assert_eq!(statuses[..5], [200; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let refused = handshake(&app, 4).await;
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], json!("too_many_connections"));
    let ws = app
        .try_connect("/ws", crate::support::Connect::default())
        .await;
    assert_eq!(ws.err().as_deref(), Some("too_many_connections"));
}

#[tokio::test]
async fn the_node_cap_refuses_with_503() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.connections.max = 2).await;
    open(&app, 4).await;
    open(&app, 4).await;
    let refused = handshake(&app, 4).await;
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_bare_eio3_session_is_closed_after_the_connect_timeout_and_frees_its_place() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.connect_timeout = std::time::Duration::from_millis(TIMEOUT_MS);
        s.connections.max_per_ip = 1;
    })
    .await;
    let sid = open(&app, 3).await;
    assert!(alive(&app, 3, &sid).await);
    assert_eq!(handshake(&app, 3).await.status().as_u16(), 429);
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 3)).await;
    assert!(
        !alive(&app, 3, &sid).await,
        "closed: its implicit `/` does not hold it"
    );
    assert_eq!(handshake(&app, 3).await.status().as_u16(), 200);
}

#[tokio::test]
async fn an_eio3_session_s_implicit_root_is_accepted_silently_and_still_closed_after_the_timeout() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.connect_timeout = std::time::Duration::from_millis(TIMEOUT_MS)
    })
    .await;
    let sid = open(&app, 3).await;
    let answer = poll(&app, 3, &sid).await;
    assert!(
        answer.contains("40") && !answer.contains("unknown_namespace"),
        "`/` accepted: {answer}"
    );
    tokio::time::sleep(Duration::from_millis(TIMEOUT_MS * 3)).await;
    assert!(!alive(&app, 3, &sid).await, "`/` alone does not hold it");
}

#[tokio::test]
async fn an_eio3_session_connects_with_the_token_after_its_namespace_and_is_held_by_it() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.connect_timeout = std::time::Duration::from_millis(TIMEOUT_MS)
    })
    .await;
    let sid = open(&app, 3).await;
    poll(&app, 3, &sid).await;
    // socket.io-client 2.x's CONNECT for `io(url + "/ws", { query: { token } })`.
    let token = app.token("alice");
    assert_eq!(
        post(&app, 3, &sid, &format!("40/ws?token={token},")).await,
        200
    );
    let answer = poll(&app, 3, &sid).await;
    assert!(answer.contains("40/ws"), "connected to /ws: {answer}");
    assert!(
        !answer.contains("token"),
        "answered without the query: {answer}"
    );
    // A refused token in that form gets the contract's code, for the namespace asked for.
    assert_eq!(
        post(&app, 3, &sid, "40/realtime?token=not-a-jwt,").await,
        200
    );
    let refused = poll(&app, 3, &sid).await;
    assert!(
        refused.contains("44/realtime,") && refused.contains("invalid_token"),
        "{refused}"
    );
    held_until_it_leaves(&app, 3, &sid, "/ws").await;
}

#[tokio::test]
async fn the_implicit_root_of_an_eio3_session_is_not_a_user_s_socket() {
    // Announcements (like drain notices and open-socket counts) go to the contract's
    // namespaces only: the identity-less `/` of a protocol 4 session gets none.
    let app = TestApp::spawn(Db::Sqlite).await;
    let sid = open(&app, 3).await;
    poll(&app, 3, &sid).await;
    let token = app.token("alice");
    assert_eq!(
        post(&app, 3, &sid, &format!("40/ws?token={token},")).await,
        200
    );
    assert!(poll(&app, 3, &sid).await.contains("40/ws"));
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/announce"))
        .bearer_auth(app.admin_token())
        .json(&json!({ "title": "Maintenance", "body": "at noon" }))
        .send()
        .await
        .expect("announce");
    assert_eq!(res.status().as_u16(), 202);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = poll(&app, 3, &sid).await;
    assert!(answer.contains("42/ws,[\"announcement\""), "{answer}");
    assert!(
        !answer.contains("42[\"announcement\""),
        "none on `/`: {answer}"
    );
}

#[tokio::test]
async fn a_session_whose_last_namespace_left_is_closed_after_the_timeout() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.connect_timeout = std::time::Duration::from_millis(TIMEOUT_MS)
    })
    .await;
    let sid = open(&app, 4).await;
    let auth = json!({ "token": app.token("alice") });
    assert_eq!(post(&app, 4, &sid, &format!("40/ws,{auth}")).await, 200);
    held_until_it_leaves(&app, 4, &sid, "/ws").await;
}

#[tokio::test]
async fn five_hundred_bare_attempts_leave_only_the_capped_sessions() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.connections.connect_timeout = std::time::Duration::from_millis(TIMEOUT_MS);
        s.connections.max_per_ip = 5;
        s.connections.handshakes_per_ip_per_minute = 0;
    })
    .await;
    let mut opened = 0;
    for n in 0..500 {
        let eio = if n % 2 == 0 { 3 } else { 4 };
        opened += u32::from(handshake(&app, eio).await.status().is_success());
    }
    assert!(
        opened >= 5,
        "the cap's five, and more as timeouts free places"
    );
    assert!(sessions(&app).await <= 5, "never more live than the cap");
    let mut left = u64::MAX;
    for _ in 0..50 {
        left = sessions(&app).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "every bare session was closed and freed");
}

#[tokio::test]
async fn socket_io_requests_with_over_16_kb_of_headers_get_431() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let url = app.url("/socket.io/?EIO=4&transport=polling");
    let with_header = |bytes: usize| {
        reqwest::Client::new()
            .get(&url)
            .header("x-padding", "a".repeat(bytes))
            .send()
    };
    let big = with_header(17 * 1024).await.expect("res");
    assert_eq!(big.status().as_u16(), 431);
    assert_eq!(with_header(8 * 1024).await.expect("res").status(), 200);
    assert_eq!(sessions(&app).await, 1, "the refused one took no place");
}

#[tokio::test]
async fn a_session_the_client_closes_frees_its_place_at_once() {
    // The connect timeout (10 s by default) must not keep a closed session's place.
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.connections.max_per_ip = 1).await;
    let sid = open(&app, 4).await;
    assert_eq!(post(&app, 4, &sid, "1").await, 200, "the close packet");
    let mut again = 0;
    for _ in 0..20 {
        again = handshake(&app, 4).await.status().as_u16();
        if again == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again, 200, "the place was given back within 2 s");
}
