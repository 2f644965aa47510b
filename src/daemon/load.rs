//! The applied state as the daemon serves it: webhook URLs decrypted for the workers,
//! and the catalog the API answers from.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use super::Shared;
use crate::config::WebhookUrl;
use crate::delivery::Webhooks;
use crate::directory::Index;
use crate::routes::Router;
use crate::secrets::{Keyring, decrypt};
use crate::server::{Catalog, Entry};
use crate::state::{StateError, Store};

/// Decrypts the applied webhooks into `webhooks` and describes them in `catalog`, with
/// the synced directory. Returns the Slack API base the token was applied with, and the
/// serial loaded.
pub(super) fn load(
    store: &Store,
    keyring: &Keyring,
    webhooks: &Webhooks,
    catalog: &RwLock<Catalog>,
) -> Result<(String, u64), StateError> {
    let applied = store.applied()?;
    let mut urls = HashMap::new();
    let mut entries = BTreeMap::new();
    // Decrypted on every core: at start, with many webhooks, most of the time is this.
    let opened = crate::config::parallel_map(&applied.webhooks, |webhook| {
        decrypt(&webhook.url.armored, keyring)
            .map_err(|error| error.to_string())
            .and_then(|secret| WebhookUrl::parse(&secret).map_err(|refusal| refusal.message))
    });
    for (webhook, url) in applied.webhooks.iter().zip(opened) {
        // One webhook the daemon cannot open (applied with another identity) must not
        // keep the others from being served: it is left out, loudly.
        match url {
            Ok(url) => {
                urls.insert(webhook.id.clone(), url);
            }
            Err(reason) => tracing::error!(
                webhook = %webhook.id,
                %reason,
                "cannot open this applied webhook with the daemon's identity; its alerts fail until it is applied again with this identity (rotate its URL, or apply it once without it and again with it)"
            ),
        }
        let entry = Entry {
            name: webhook.name.clone(),
            channel: webhook.channel.clone(),
            url: webhook.url.redacted.clone(),
            mentions: webhook.mentions.clone(),
        };
        entries.insert(webhook.id.clone(), entry);
    }
    let synced = store.directory()?;
    let synced_at = synced.as_ref().map(|synced| synced.synced_at);
    let directory = synced.map(|synced| Index::new(synced.directory));
    *webhooks.write().expect("never poisoned") = urls;
    let router = Arc::new(Router::new(&applied.routing));
    *catalog.write().expect("never poisoned") = Catalog {
        webhooks: entries,
        directory,
        synced_at,
        router,
    };
    let api_url = applied.token.and_then(|t| t.facts).map(|f| f.api_url);
    let api_url = api_url.unwrap_or_else(|| crate::config::DEFAULT_API_URL.to_owned());
    Ok((api_url, applied.serial))
}

/// Loads the applied state again after an apply or a sync, and wakes the workers.
pub(super) fn reload_blocking(ctx: &Shared) -> Result<(), StateError> {
    let (_, serial) = load(&*ctx.store, &ctx.keyring, &ctx.webhooks, &ctx.catalog)?;
    ctx.serial.store(serial, Ordering::Relaxed);
    ctx.outbox.wake_all();
    Ok(())
}

/// [`reload_blocking`] off the runtime's thread: it decrypts every applied webhook.
pub(super) async fn reload(ctx: &Arc<Shared>) -> Result<(), StateError> {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || reload_blocking(&ctx))
        .await
        .expect("the reload task does not panic")
}
