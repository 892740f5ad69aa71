//! The subscribe hook: the channels of one `subscribe` whose rule says
//! `allow = "backend"`, asked in one batch `{"user": {"id", "roles"}, "ns", "channels":
//! [..]}`. The backend answers `{"channels": {"name": bool}}` (a channel it leaves out is
//! denied) or `{"allow": bool}` for all of them (meant for a single channel). Answers are
//! cached per user and channel; a call that fails denies its channels with `unavailable`.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_namespaces::ErrorCode;
use switchyard_namespaces::Identity;
use switchyard_namespaces::ports::ChannelVerdict;
use switchyard_namespaces::realtime;

use super::call::CallError;
use super::metrics::{self, Hook};
use super::{Hooks, User, answer_cache};

pub(super) struct Endpoint {
    url: String,
    cache: Option<moka::future::Cache<(String, String), bool>>,
}

#[derive(Serialize)]
struct Request<'a> {
    user: User<'a>,
    ns: &'a str,
    channels: &'a [String],
}

#[derive(Deserialize)]
struct Reply {
    channels: Option<HashMap<String, bool>>,
    allow: Option<bool>,
}

impl Endpoint {
    pub(super) fn new(url: String, cache_for: Duration) -> Self {
        Self {
            url,
            cache: answer_cache(cache_for),
        }
    }

    /// One verdict per channel, in order: from the cache, else from one call for all the
    /// channels it does not hold.
    pub(super) async fn ask(
        &self,
        hooks: &Hooks,
        who: &Identity,
        channels: &[String],
    ) -> Vec<ChannelVerdict> {
        let mut known: HashMap<&str, bool> = HashMap::new();
        let mut unknown: Vec<String> = Vec::new();
        for channel in channels {
            if known.contains_key(channel.as_str()) || unknown.contains(channel) {
                continue;
            }
            match self.cached(who, channel).await {
                Some(allowed) => {
                    metrics::cache_hit(Hook::Subscribe);
                    known.insert(channel, allowed);
                }
                None => unknown.push(channel.clone()),
            }
        }
        let answered = match unknown.is_empty() {
            true => Ok(HashMap::new()),
            false => self.call(hooks, who, &unknown).await,
        };
        channels
            .iter()
            .map(|channel| match known.get(channel.as_str()) {
                Some(allowed) => verdict(*allowed),
                None => match &answered {
                    Ok(answers) => verdict(answers.get(channel).copied().unwrap_or(false)),
                    Err(()) => Err(ErrorCode::Unavailable),
                },
            })
            .collect()
    }

    async fn cached(&self, who: &Identity, channel: &str) -> Option<bool> {
        let cache = self.cache.as_ref()?;
        cache.get(&(who.user_id.clone(), channel.to_owned())).await
    }

    /// Asks about `channels`; the answers are cached. `Err` when there is no usable one.
    async fn call(
        &self,
        hooks: &Hooks,
        who: &Identity,
        channels: &[String],
    ) -> Result<HashMap<String, bool>, ()> {
        let request = Request {
            user: User::of(who),
            ns: realtime::PATH,
            channels,
        };
        let limit = hooks.answer_limit();
        let reply = hooks
            .caller
            .post::<Reply>(Hook::Subscribe, &self.url, &request, limit)
            .await
            .and_then(|reply| answers(reply, channels));
        let answers = match reply {
            Ok(answers) => answers,
            Err(err) => {
                metrics::counted(Hook::Subscribe, err.outcome());
                tracing::warn!(error = %err, "subscribe hook failed; its channels are denied");
                return Err(());
            }
        };
        let all_allowed = answers.values().all(|allowed| *allowed);
        let outcome = if all_allowed {
            metrics::ALLOWED
        } else {
            metrics::DENIED
        };
        metrics::counted(Hook::Subscribe, outcome);
        if let Some(cache) = &self.cache {
            for (channel, allowed) in &answers {
                cache
                    .insert((who.user_id.clone(), channel.clone()), *allowed)
                    .await;
            }
        }
        Ok(answers)
    }
}

/// The verdict on each asked channel: as named in `channels`, else as `allow` says, else
/// denied (the backend did not say yes).
fn answers(reply: Reply, asked: &[String]) -> Result<HashMap<String, bool>, CallError> {
    if reply.channels.is_none() && reply.allow.is_none() {
        return Err(CallError::BadAnswer(
            "neither `channels` nor `allow` in the answer".into(),
        ));
    }
    let named = reply.channels.unwrap_or_default();
    let default = reply.allow.unwrap_or(false);
    Ok(asked
        .iter()
        .map(|ch| (ch.clone(), named.get(ch).copied().unwrap_or(default)))
        .collect())
}

fn verdict(allowed: bool) -> ChannelVerdict {
    if allowed {
        Ok(())
    } else {
        Err(ErrorCode::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Vec<String> {
        vec!["doc:1".into(), "doc:2".into()]
    }

    #[test]
    fn a_batch_answer_names_channels_and_leaves_the_rest_denied() {
        let reply = Reply {
            channels: Some(HashMap::from([("doc:1".into(), true)])),
            allow: None,
        };
        let got = answers(reply, &asked()).expect("usable");
        assert_eq!(got.get("doc:1"), Some(&true));
        assert_eq!(got.get("doc:2"), Some(&false));
    }

    #[test]
    fn a_single_allow_answers_every_channel_and_nothing_is_no_answer() {
        let reply = Reply {
            channels: None,
            allow: Some(true),
        };
        let got = answers(reply, &asked()).expect("usable");
        assert!(got.values().all(|allowed| *allowed));
        let empty = Reply {
            channels: None,
            allow: None,
        };
        assert!(answers(empty, &asked()).is_err());
    }
}
