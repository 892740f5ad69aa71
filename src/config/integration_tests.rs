//! `[[webhooks]]` and `[hooks]`: the file's tables, the environment's flat names, and
//! the checks on URLs, secrets and event names.

use super::*;
use figment::Jail;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn webhooks_and_hooks_come_from_the_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            &format!(
                "[[webhooks]]\nurl = \"https://a.example/hook\"\nsecret = \"{SECRET}\"\n\
                 events = [\"message.created\", \"user.online\"]\n\
                 [[webhooks]]\nurl = \"http://127.0.0.1:9/all\"\nsecret = \"{SECRET}\"\n\
                 [hooks]\nrpc_url = \"http://127.0.0.1:9/rpc\"\nsecret = \"{SECRET}\"\ntimeout_ms = 250\n"
            ),
        )?;
        let s = Settings::load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
        let hooks = &s.integration.webhooks;
        assert_eq!(hooks.len(), 2);
        assert!(hooks[0].wants("user.online") && !hooks[0].wants("message.read"));
        assert!(hooks[1].wants("message.read"));
        let h = &s.integration.hooks;
        assert_eq!(h.rpc_url.as_deref(), Some("http://127.0.0.1:9/rpc"));
        assert_eq!(
            (h.timeout, h.cache_for),
            (Duration::from_millis(250), Duration::from_millis(5_000))
        );
        assert!(
            !format!("{s:?}").contains("MfKQ"),
            "secrets stay out of Debug"
        );
        Ok(())
    });
}

#[test]
fn the_environment_sets_the_first_webhook_and_the_hooks() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "s.toml",
            &format!("[[webhooks]]\nurl = \"https://file.example/\"\nsecret = \"{SECRET}\"\nevents = [\"push.failed\"]\n"),
        )?;
        jail.set_env("SWITCHYARD_WEBHOOK_URL", "http://127.0.0.1:1/env");
        jail.set_env("SWITCHYARD_HOOKS_CONNECT_URL", "http://127.0.0.1:1/connect");
        jail.set_env("SWITCHYARD_HOOKS_SECRET", SECRET);
        jail.set_env("SWITCHYARD_HOOKS_TIMEOUT_MS", "300");
        let s = Settings::load(Some(Path::new("s.toml"))).map_err(|e| e.to_string())?;
        let first = &s.integration.webhooks[0];
        assert_eq!(
            (first.url.as_str(), first.events.clone()),
            (
                "http://127.0.0.1:1/env",
                Some(vec!["push.failed".to_owned()])
            )
        );
        let h = &s.integration.hooks;
        assert_eq!(h.connect_url.as_deref(), Some("http://127.0.0.1:1/connect"));
        assert_eq!(h.timeout, Duration::from_millis(300));
        Ok(())
    });
}

#[test]
fn the_environment_alone_makes_a_webhook() {
    Jail::expect_with(|jail| {
        jail.set_env("SWITCHYARD_WEBHOOK_URL", "http://127.0.0.1:1/env");
        jail.set_env("SWITCHYARD_WEBHOOK_SECRET", SECRET);
        let s = Settings::load(None).map_err(|e| e.to_string())?;
        assert_eq!(s.integration.webhooks.len(), 1);
        assert!(s.integration.webhooks[0].wants("message.created"));
        Ok(())
    });
}

#[test]
fn bad_urls_secrets_and_event_names_are_refused() {
    let cases = [
        (
            "[[webhooks]]\nurl = \"ftp://x/\"\nsecret = \"S\"\n",
            "webhooks[0].url",
        ),
        (
            "[[webhooks]]\nurl = \"https://x/\"\nsecret = \"nope\"\n",
            "webhooks[0].secret",
        ),
        (
            "[[webhooks]]\nurl = \"https://x/\"\nsecret = \"S\"\nevents = [\"message.sent\"]\n",
            "unknown event type",
        ),
        (
            "[[webhooks]]\nurl = \"https://x/\"\nsecret = \"S\"\n\
             [[webhooks]]\nurl = \"https://x/\"\nsecret = \"S\"\n",
            "webhooks[1].url: `https://x/` is already webhooks[0]",
        ),
        ("[hooks]\nrpc_url = \"https://x/\"\n", "hooks.secret"),
        (
            "[hooks]\nrpc_url = \"https://x/\"\nsecret = \"S\"\ntimeout_ms = 0\n",
            "timeout_ms",
        ),
    ];
    for (file, expected) in cases {
        Jail::expect_with(|jail| {
            jail.create_file("s.toml", &file.replace("\"S\"", &format!("\"{SECRET}\"")))?;
            let err = Settings::load(Some(Path::new("s.toml")))
                .err()
                .map(|e| format!("{e:#}"));
            assert!(
                err.as_deref().is_some_and(|e| e.contains(expected)),
                "{file}: {err:?}"
            );
            Ok(())
        });
    }
}
