//! Unit tests of the answer sorting that the fake FCM server does not reach: HTTP-date
//! `Retry-After`, odd bodies, and 400s that blame the message rather than the token.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::json;

use super::{SendOutcome, classify, retry_after};

fn with_retry_after(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_str(value).expect("header"));
    headers
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
    let cases = [
        ("7", Some(Duration::from_secs(7))),
        (" 0 ", Some(Duration::ZERO)),
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        (
            "Sun, 06 Nov 1994 08:50:07 GMT",
            Some(Duration::from_secs(30)),
        ),
        ("Sun, 06 Nov 1994 08:00:00 GMT", Some(Duration::ZERO)),
        ("soon", None),
        ("-5", None),
    ];
    for (value, expected) in cases {
        assert_eq!(
            retry_after(&with_retry_after(value), now),
            expected,
            "{value}"
        );
    }
    assert_eq!(retry_after(&HeaderMap::new(), now), None);
}

#[test]
fn a_400_about_the_payload_is_not_a_dead_token() {
    let body = json!({"error": {"code": 400, "message": "Invalid data payload key: x",
        "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "type.googleapis.com/google.rpc.BadRequest",
             "fieldViolations": [{"field": "message.data[0].key", "description": "x"}]}]}});
    let outcome = classify(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        body.to_string().as_bytes(),
    );
    assert!(
        matches!(outcome, SendOutcome::Failed { status: 400, .. }),
        "{outcome:?}"
    );

    let about_token = body
        .to_string()
        .replace("message.data[0].key", "message.token");
    let outcome = classify(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        about_token.as_bytes(),
    );
    assert_eq!(
        outcome,
        SendOutcome::InvalidToken {
            reason: "INVALID_ARGUMENT".into()
        }
    );
}

#[test]
fn odd_bodies_still_give_an_outcome() {
    let none = HeaderMap::new();
    assert_eq!(
        classify(StatusCode::OK, &none, b"not json"),
        SendOutcome::Sent {
            name: String::new()
        }
    );
    assert_eq!(
        classify(StatusCode::FORBIDDEN, &none, b"<html>"),
        SendOutcome::Failed {
            status: 403,
            reason: "403 Forbidden".into()
        }
    );
    assert_eq!(
        classify(StatusCode::BAD_GATEWAY, &none, b""),
        SendOutcome::Retry {
            status: Some(502),
            after: None
        }
    );
}
