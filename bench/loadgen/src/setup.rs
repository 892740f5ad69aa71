//! What every mode shares: the target, tokens, and connecting many clients from several
//! source addresses with bounded concurrency.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::client::{Client, Event, Target};

#[derive(Clone)]
pub struct Setup {
    pub addr: SocketAddr,
    pub http: String,
    pub ns: String,
    pub secret: String,
    pub sources: Vec<IpAddr>,
    /// Connects in flight at once.
    pub concurrency: usize,
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
        let this = Arc::new(self.clone());
        let results: Vec<_> = futures_util::stream::iter(0..count)
            .map(|i| {
                let this = this.clone();
                let user = format!("{prefix}-{i}");
                async move { this.connect_one(&user, i, with_events).await }
            })
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
        let token = self.token(user, &[]);
        let (tx, rx) = if with_events {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let target = Target {
            addr: self.addr,
            ns: &self.ns,
            token: &token,
            source: self.source(i),
        };
        let client = Client::connect(target, tx).await?;
        Ok(Connected { client, events: rx })
    }
}

pub struct Connected {
    pub client: Client,
    pub events: Option<mpsc::UnboundedReceiver<Event>>,
}
