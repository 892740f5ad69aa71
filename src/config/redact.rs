//! `Debug` for [`Settings`] that never prints a secret, so settings can be logged or
//! shown in an error without leaking the JWT secret or a database or Redis password.

use std::fmt;
use std::time::Duration;

use serde::Serializer;
use serde_json::Value;

use super::Settings;

const REDACTED: &str = "[redacted]";
/// In a URL, where brackets would be percent-encoded.
const REDACTED_IN_URL: &str = "***";

/// Field names whose whole value is a secret (`jwt_secret`, and any `*_password` or
/// `*_secret` added later, so a new field is hidden without remembering to list it).
fn is_secret_name(name: &str) -> bool {
    ["secret", "password", "passwd"]
        .iter()
        .any(|word| name.contains(word))
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Going through the serialized form lists every field, present and future,
        // without a hand-kept list that a new field could be missing from.
        let Ok(Value::Object(groups)) = serde_json::to_value(self) else {
            return f.write_str("Settings { .. }");
        };
        let mut out = f.debug_struct("Settings");
        for (name, value) in groups {
            out.field(&name, &format_args!("{}", redact(&name, value)));
        }
        out.finish()
    }
}

/// `value` of the field `name`, with secrets hidden: the whole value when the name says
/// secret, and every field's by its own name at any depth, and passwords in URLs.
fn redact(name: &str, value: Value) -> Value {
    match value {
        Value::Null => Value::Null,
        _ if is_secret_name(name) => Value::String(REDACTED.into()),
        Value::String(s) => Value::String(redact_url(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact("", v)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = redact(&k, v);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Durations in `Debug` as people write them (`1s`, `250ms`), not as `{secs, nanos}`.
pub(super) fn duration<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*value))
}

pub(super) fn optional_duration<S: Serializer>(
    value: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => duration(value, s),
        None => s.serialize_none(),
    }
}

/// `postgres://user:pw@host/db?password=pw` → `postgres://user:***@host/db?password=***`.
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return text.to_owned();
    };
    let mut changed = false;
    if url.password().is_some() {
        changed = url.set_password(Some(REDACTED_IN_URL)).is_ok();
    }
    if url.query_pairs().any(|(k, _)| is_secret_name(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    REDACTED_IN_URL.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        url.to_string()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let mut settings = Settings::default();
        settings.auth.jwt_secret = Some("hs256-top-secret-value".into());
        settings.database.url =
            "postgres://app:db-pass-123@db.internal:5432/app?password=q-pass-9".into();
        settings.redis.url = Some("redis://:redis-pass-456@cache.internal:6379/0".into());
        let shown = format!("{settings:?} {settings:#?}");
        for secret in [
            "hs256-top-secret-value",
            "db-pass-123",
            "q-pass-9",
            "redis-pass-456",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("db.internal:5432"),
            "the rest is still shown"
        );
        assert!(shown.contains("cache.internal"), "{shown}");
        assert!(shown.contains("max_per_ip"), "{shown}");
    }

    #[test]
    fn urls_without_a_password_are_shown_as_written() {
        for url in [
            "sqlite://switchyard.db",
            "redis://127.0.0.1:6379",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
        assert_eq!(
            redact_url("rediss://user:pw@h:6380"),
            "rediss://user:***@h:6380"
        );
    }
}
