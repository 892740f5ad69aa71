//! `push.failed`: a push FCM refuses for good (here a 401) is told to the backend, written
//! in the transaction that records the attempt.

use std::time::Duration;

use serde_json::json;

use super::{WAIT, endpoint, types};
use crate::notifications::{notify, simple};
use crate::on_both_databases;
use crate::push::register;
use crate::support::fake_fcm::{FakeFcm, Reply};
use crate::support::receiver::Receiver;
use crate::support::{Db, TestApp};

on_both_databases!(a_push_given_up_on_is_told, |db: Db| async move {
    let (fcm, dir) = (FakeFcm::start().await, tempfile::tempdir().expect("dir"));
    fcm.script("bob-phone", vec![Reply::Unauthorized]);
    let receiver = Receiver::start().await;
    let (key_file, fcm_url, url) = (
        fcm.write_service_account(dir.path()),
        fcm.base_url(),
        receiver.url.clone(),
    );
    let app = TestApp::spawn_with(db, move |s| {
        s.push.fcm_credentials = Some(key_file.display().to_string());
        s.push.fcm_endpoint = Some(fcm_url);
        s.notifications.ack_timeout = Duration::from_millis(600);
        s.integration.webhooks = vec![endpoint(&url, Some(&["push.failed"]))];
    })
    .await;
    let phone = app.connect("/notifications", "bob").await;
    register(&phone, "bob-phone", "android").await;
    phone.disconnect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, created) = notify(&app, simple("bob", "hi", "high")).await;
    assert_eq!(status, 202, "{created}");
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["push.failed"]);
    assert_eq!(
        got[0].body["data"],
        json!({ "userId": "bob", "notificationId": created["ids"][0], "attempts": 1, "status": 401 })
    );
    assert!(
        !got[0].body.to_string().contains("bob-phone"),
        "the token is not sent"
    );
});
