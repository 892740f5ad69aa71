//! The `switchyard` binary itself: subcommands, the port-0 log line, production refusal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn clean_command() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHYARD_")) {
        cmd.env_remove(key);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("m.db");
    let out = clean_command()
        .arg("migrate")
        .env(
            "SWITCHYARD_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists());
}

#[test]
fn token_prints_a_token_signed_with_the_secret() {
    let out = clean_command()
        .args([
            "token", "--sub", "ops", "--role", "admin", "--role", "service", "--ttl", "10m",
        ])
        .env("SWITCHYARD_JWT_SECRET", "cli-secret")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).expect("utf8");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let key = jsonwebtoken::DecodingKey::from_secret(b"cli-secret");
    let claims = jsonwebtoken::decode::<serde_json::Value>(token.trim(), &key, &validation)
        .expect("valid")
        .claims;
    assert_eq!(claims["sub"], "ops");
    assert_eq!(claims["roles"], serde_json::json!(["admin", "service"]));
    let ttl = claims["exp"].as_u64().expect("exp") - jsonwebtoken::get_current_timestamp();
    assert!((590..=600).contains(&ttl), "{ttl}");
}

#[test]
fn token_without_a_secret_fails_clearly() {
    let out = clean_command()
        .args(["token", "--sub", "x"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SWITCHYARD_JWT_SECRET"));
}

#[test]
fn production_without_keys_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = clean_command()
        .env("SWITCHYARD_ENV", "production")
        .env("SWITCHYARD_BIND", "127.0.0.1:0")
        .env(
            "SWITCHYARD_DATABASE_URL",
            format!("sqlite://{}/p.db", dir.path().display()),
        )
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("production"));
}

/// Production with a short HS256 secret, or with a JWKS fetched by plain HTTP from
/// another host: the process refuses to start and says why.
#[test]
fn production_refuses_a_short_secret_and_a_remote_http_jwks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let refused = |key: &str, value: &str, reason: &str| {
        let mut out = clean_command()
            .env("SWITCHYARD_ENV", "production")
            .env("SWITCHYARD_BIND", "127.0.0.1:0")
            .env(
                "SWITCHYARD_DATABASE_URL",
                format!("sqlite://{}/p.db", dir.path().display()),
            )
            .env(key, value)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        // A gateway that accepted the setting would serve forever: stop it and fail.
        let started = Instant::now();
        while out.try_wait().expect("wait").is_none() {
            if started.elapsed() > Duration::from_secs(15) {
                let _ = out.kill();
                panic!("{key}={value} accepted: the gateway started");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = out.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key} accepted");
        assert!(stderr.contains(reason), "{stderr}");
    };
    refused(
        "SWITCHYARD_JWT_SECRET",
        "only-twenty-six-bytes-long",
        "32 bytes",
    );
    refused(
        "SWITCHYARD_JWKS_URL",
        "http://idp.example.com/jwks.json",
        "loopback",
    );
}

#[test]
fn port_zero_logs_the_real_address_a_demo_token_and_the_demo_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = clean_command()
        .env("SWITCHYARD_BIND", "127.0.0.1:0")
        .env(
            "SWITCHYARD_DATABASE_URL",
            format!("sqlite://{}/d.db", dir.path().display()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut port, mut demo, mut page) = (None, false, false);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            port = rest
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok());
        }
        demo |= line.contains("demo token for user `demo`");
        page |= line.contains("/demo?token=ey");
        if (port.is_some() && demo && page) || Instant::now() > deadline {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(port.is_some_and(|p| p != 0), "a real port is logged");
    assert!(demo, "a demo token is logged in development mode");
    assert!(page, "and the demo page's address with it");
}
