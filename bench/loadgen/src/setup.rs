//! What every mode shares: the target, tokens, and connecting many clients from several
//! source addresses with bounded concurrency.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Client, Event, Events, OnEvent, Target};

#[derive(Clone)]
pub struct Setup {
    pub addr: SocketAddr,
    pub http: String,
    pub ns: String,
    pub secret: String,
    pub sources: Vec<IpAddr>,
    /// Connects in flight at once.
    pub concurrency: usize,
    /// Each client's WebSocket read buffer, in bytes.
    pub read_buffer: usize,
}

impl Setup {
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        let exp = jsonwebtoken::get_current_timestamp() + 24 * 3600;
        let claims = json!({ "sub": sub, "exp": exp, "roles": roles });
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
            .expect("HS256 signing does not fail")
    }

    fn source(&self, i: usize) -> IpAddr {
        self.sources[i % self.sources.len()]
    }

    /// Connects `count` clients named `{prefix}-{i}`; each one's events go to its own
    /// receiver when `with_events`. Returns the clients that connected and the failures.
    pub async fn connect_many(
        &self,
        prefix: &str,
        count: usize,
        with_events: bool,
    ) -> (Vec<Connected>, usize) {
        self.connect_all(prefix, count, move |this, user, i| async move {
            this.connect_one(&user, i, with_events).await
        })
        .await
    }

    /// Connects `count` clients named `{prefix}-{i}`; client `i`'s events go to
    /// `handler(i)`, run in its reader task.
    pub async fn connect_many_handled(
        &self,
        prefix: &str,
        count: usize,
        handler: impl Fn(usize) -> OnEvent,
    ) -> (Vec<Client>, usize) {
        self.connect_all(prefix, count, |this, user, i| {
            let events = Events::Handler(handler(i));
            async move { this.connect_as(&user, i, events).await }
        })
        .await
    }

    /// Runs `connect` for `0..count` with at most `concurrency` in flight; reports the
    /// failures (the first one's reason on stderr).
    async fn connect_all<T, F, Fut>(
        &self,
        prefix: &str,
        count: usize,
        connect: F,
    ) -> (Vec<T>, usize)
    where
        F: Fn(Arc<Setup>, String, usize) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let this = Arc::new(self.clone());
        let results: Vec<_> = futures_util::stream::iter(0..count)
            .map(|i| connect(this.clone(), format!("{prefix}-{i}"), i))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let failures = results.iter().filter(|r| r.is_err()).count();
        if let Some(Err(first)) = results.iter().find(|r| r.is_err()) {
            eprintln!("{failures} connects failed; first: {first:#}");
        }
        (results.into_iter().flatten().collect(), failures)
    }

    pub async fn connect_one(
        &self,
        user: &str,
        i: usize,
        with_events: bool,
    ) -> anyhow::Result<Connected> {
        let (events, rx) = if with_events {
            let (tx, rx) = mpsc::unbounded_channel();
            (Events::Channel(tx), Some(rx))
        } else {
            (Events::Ignore, None)
        };
        let client = self.connect_as(user, i, events).await?;
        Ok(Connected { client, events: rx })
    }

    async fn connect_as(&self, user: &str, i: usize, events: Events) -> anyhow::Result<Client> {
        let token = self.token(user, &[]);
        let target = Target {
            addr: self.addr,
            ns: &self.ns,
            token: &token,
            source: self.source(i),
            read_buffer: self.read_buffer,
        };
        Client::connect(target, events).await
    }
}

pub struct Connected {
    pub client: Client,
    pub events: Option<mpsc::UnboundedReceiver<Event>>,
}
