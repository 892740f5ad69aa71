//! Settings precedence, defaults and the checks `Settings::load` makes.

use super::*;
use figment::Jail;

#[test]
fn defaults_match_the_contract() {
    let s = Settings::default();
    assert_eq!(s.http.bind.to_string(), "0.0.0.0:3000");
    assert_eq!(s.database.url, "sqlite://switchyard.db");
    assert_eq!(
        (
            s.http.max_payload_bytes,
            s.connections.max_per_ip,
            s.auth.grace
        ),
        (65536, 50, Duration::from_millis(30000))
    );
    assert_eq!(s.limits.mode, RateLimits::Default);
    assert_eq!(s.notifications.max_devices_per_user, 20);
    assert_eq!(
        (s.redis.timeout, s.database.timeout),
        (Duration::from_millis(1_000), Duration::from_millis(2_000))
    );
    assert_eq!(
        (
            s.channels.max_subscriptions_per_socket,
            s.channels.max_watched_users_per_socket
        ),
        (500, 1_000)
    );
}

#[test]
fn defaults_are_safe_at_scale() {
    let s = Settings::default();
    // Joins told only in channels of at most 100 (PROTOCOL.md §3); a carrier-grade NAT
    // address reconnecting after a deploy fits the handshake burst (6,000 / 4).
    assert_eq!(s.presence.channel_limit, 100);
    assert_eq!(s.connections.handshakes_per_ip_per_minute, 6_000);
    assert_eq!(
        s.connections.slow_consumer_grace,
        Some(Duration::from_millis(5_000))
    );
}

#[test]
fn join_leave_comes_from_a_channel_rule_in_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            "[[channel_rules]]\npattern = \"stage:*\"\nallow = \"any\"\njoinLeave = true\n",
        )?;
        let s = Settings::load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(s.channels.rules[0].join_leave, Some(true));
        Ok(())
    });
}

#[test]
fn socket_caps_come_from_the_environment_and_are_at_least_one() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_MAX_SUBSCRIPTIONS_PER_SOCKET", "20");
        jail.set_env("SWITCHYARD_MAX_WATCHED_USERS_PER_SOCKET", "30");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(
            (
                s.channels.max_subscriptions_per_socket,
                s.channels.max_watched_users_per_socket
            ),
            (20, 30)
        );
        jail.set_env("SWITCHYARD_MAX_WATCHED_USERS_PER_SOCKET", "0");
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn deadlines_come_from_the_environment_and_are_never_off() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_REDIS_TIMEOUT_MS", "250");
        jail.set_env("SWITCHYARD_DATABASE_TIMEOUT_MS", "500");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.redis.timeout, Duration::from_millis(250));
        assert_eq!(s.database.timeout, Duration::from_millis(500));
        jail.set_env("SWITCHYARD_REDIS_TIMEOUT_MS", "0");
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn environment_wins_over_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            "bind = \"127.0.0.1:4000\"\nmax_payload_bytes = 10\njwt_secret = \"file\"",
        )?;
        jail.set_env("SWITCHYARD_JWT_SECRET", "env");
        let s = Settings::load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(s.http.bind.to_string(), "127.0.0.1:4000");
        assert_eq!(s.http.max_payload_bytes, 10);
        assert_eq!(s.auth.jwt_secret.as_deref(), Some("env"));
        Ok(())
    });
}

#[test]
fn channel_rules_come_from_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            "[[channel_rules]]\npattern = \"team:*\"\nallow = \"role:staff\"\n",
        )?;
        let s = Settings::load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(s.channels.rules.len(), 1);
        assert_eq!(s.channels.rules[0].pattern.as_str(), "team:*");
        jail.create_file(
            "bad.toml",
            "[[channel_rules]]\npattern = \"x:*\"\nallow = \"everyone\"\n",
        )?;
        assert!(Settings::load(Some(Path::new("bad.toml"))).is_err());
        jail.create_file(
            "typo.toml",
            "[[channel_rules]]\npattern = \"team:{user}\"\nallow = \"any\"\n",
        )?;
        assert!(Settings::load(Some(Path::new("typo.toml"))).is_err());
        Ok(())
    });
}

#[test]
fn telemetry_settings_come_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_LOG_FORMAT", "json");
        jail.set_env("SWITCHYARD_METRICS_BIND", "127.0.0.1:9100");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.telemetry.log_format, LogFormat::Json);
        assert_eq!(
            s.http.metrics_bind,
            Some("127.0.0.1:9100".parse().expect("addr"))
        );
        jail.set_env("SWITCHYARD_LOG_FORMAT", "xml");
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn the_device_cap_comes_from_the_environment_and_is_at_least_one() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_MAX_DEVICES_PER_USER", "5");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.notifications.max_devices_per_user, 5);
        jail.set_env("SWITCHYARD_MAX_DEVICES_PER_USER", "0");
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn a_bad_value_is_an_error_not_a_default() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_MAX_PAYLOAD_BYTES", "lots");
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn modes_and_durations_are_typed_at_load() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_RATE_LIMITS", "OFF");
        jail.set_env("SWITCHYARD_ENV", "Staging");
        jail.set_env("SWITCHYARD_SLOW_CONSUMER_GRACE_MS", "0");
        jail.set_env("SWITCHYARD_PRESENCE_TTL_SECS", "7");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.limits.mode, RateLimits::Off);
        assert!(!s.rate_limits_on());
        assert_eq!(s.env, Environment::Other("Staging".into()));
        assert!(!s.is_production() && !s.is_development());
        assert_eq!(s.connections.slow_consumer_grace, None);
        assert_eq!(s.presence.ttl, Duration::from_secs(7));
        jail.set_env("SWITCHYARD_ENV", "PRODUCTION");
        assert!(
            Settings::load(None)
                .map_err(|e| e.to_string())?
                .is_production()
        );
        jail.set_env("SWITCHYARD_RATE_LIMITS", "sometimes");
        let err = Settings::load(None).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("rate_limits must be `default` or `off`")
        );
        Ok(())
    });
}

#[test]
fn an_adapter_timeout_under_twice_the_redis_deadline_is_refused() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_REDIS_TIMEOUT_MS", "600");
        jail.set_env("SWITCHYARD_ADAPTER_REQUEST_TIMEOUT_MS", "1199");
        let err = Settings::load(None).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("at least twice redis_timeout_ms")),
            "{err:?}"
        );
        jail.set_env("SWITCHYARD_ADAPTER_REQUEST_TIMEOUT_MS", "1200");
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.redis.adapter_request_timeout, Duration::from_millis(1200));
        Ok(())
    });
}
