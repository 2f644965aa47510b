//! The long-running service: the applied state loaded and decrypted, the delivery
//! workers, and the HTTP API, until a shutdown signal.
//!
//! Shutdown: the listener stops accepting, requests in flight finish, the workers get
//! up to [`DRAIN_DEADLINE`] to finish the sends they started, and the state is flushed.
//! Whatever is still queued is delivered after the next start.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::config::WebhookUrl;
use crate::directory::Index;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Pacing, Retry, Webhooks};
use crate::secrets::{Keyring, Secret, decrypt};
use crate::server::{self, AppState, Catalog, Entry};
use crate::slack::{Client, Endpoints};
use crate::state::Store;

/// How long a shutdown waits for sends already in flight.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    pub pacing: Pacing,
    pub retry: Retry,
    pub queue_limit: usize,
    pub api_token: Option<Secret>,
}

/// Where the API listens.
#[derive(Debug)]
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Serves until `shutdown` completes, then drains.
pub async fn run(
    listener: Listener,
    store: Arc<Store>,
    keyring: &Keyring,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::default());
    metrics.config_valid.set(1);
    let webhooks: Webhooks = Arc::new(RwLock::new(HashMap::new()));
    let catalog = Arc::new(RwLock::new(Catalog::default()));
    let api_url = load(&store, keyring, &webhooks, &catalog)?;
    let client = Client::new(Endpoints::from_env(&api_url));
    let outbox = Outbox::new(
        store.clone(),
        webhooks,
        client,
        metrics.clone(),
        options.pacing,
        options.retry,
    );
    outbox.start()?;
    let state = Arc::new(AppState {
        outbox: outbox.clone(),
        store: store.clone(),
        catalog,
        metrics,
        api_token: options.api_token,
        queue_limit: options.queue_limit,
        problems: Arc::new(RwLock::new(Vec::new())),
    });
    let app = server::router(state);
    let served = match listener {
        Listener::Tcp(listener) => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        Listener::Unix(listener) => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
    };
    let drained = outbox.shutdown(DRAIN_DEADLINE).await;
    if !drained {
        tracing::warn!(
            "sends still in flight after {DRAIN_DEADLINE:?}; they are retried after the next start"
        );
    }
    served.map_err(Error::Serve)
}

/// Decrypts the applied webhooks into `webhooks` and describes them in `catalog`, with
/// the synced directory. Returns the Slack API base the token was applied with.
pub fn load(
    store: &Store,
    keyring: &Keyring,
    webhooks: &Webhooks,
    catalog: &RwLock<Catalog>,
) -> Result<String, Error> {
    let applied = store.applied()?;
    let mut urls = HashMap::new();
    let mut entries = std::collections::BTreeMap::new();
    for webhook in &applied.webhooks {
        let secret = decrypt(&webhook.url.armored, keyring)?;
        let url = WebhookUrl::parse(&secret).map_err(|refusal| Error::CorruptWebhook {
            id: webhook.id.clone(),
            reason: refusal.message,
        })?;
        urls.insert(webhook.id.clone(), url);
        let entry = Entry {
            name: webhook.name.clone(),
            channel: webhook.channel.clone(),
            url: webhook.url.redacted.clone(),
            mentions: webhook.mentions.clone(),
        };
        entries.insert(webhook.id.clone(), entry);
    }
    let directory = store.directory()?.map(|synced| Index::new(synced.directory));
    *webhooks.write().expect("never poisoned") = urls;
    *catalog.write().expect("never poisoned") = Catalog {
        webhooks: entries,
        directory,
    };
    let api_url = applied.token.and_then(|t| t.facts).map(|f| f.api_url);
    Ok(api_url.unwrap_or_else(|| crate::config::DEFAULT_API_URL.to_owned()))
}
