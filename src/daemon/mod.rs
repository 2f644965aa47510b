//! The long-running service: the supervisor of the HTTP API, the delivery workers, the
//! file watcher and the reconcile loop, the directory sync, and shutdown.
//!
//! ```text
//! select { file changed | periodic tick | SIGHUP } -> pass (read, plan, apply)
//! every directory_sync_interval                    -> directory sync
//! server -> alert -> outbox -> Slack
//! ```
//!
//! Shutdown: the listener stops accepting, requests in flight finish, the workers get
//! up to [`DRAIN_DEADLINE`] to finish the sends they started, and the state is flushed.
//! Whatever is still queued is delivered after the next start.

mod pass;
mod systemd;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use pass::Outcome;

use crate::config::WebhookUrl;
use crate::directory::Index;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Pacing, Retry, Webhooks};
use crate::secrets::{Keyring, Secret, decrypt};
use crate::server::{self, AppState, Catalog, Entry};
use crate::slack::{Client, Endpoints};
use crate::state::{Store, SyncedDirectory};

/// How long a shutdown waits for sends already in flight.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApplyMode {
    /// Apply every valid change of the file.
    Auto,
    /// Only report drift; CI applies.
    Off,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub apply: ApplyMode,
    pub pacing: Pacing,
    pub retry: Retry,
    pub queue_limit: usize,
    pub api_token: Option<Secret>,
    /// Enables `/v1/admin/run` on the API listener, behind this token.
    pub admin_token: Option<Secret>,
    /// Quiet time after a file event before the pass: editors write in bursts.
    pub debounce: Duration,
    /// A pass even without events, in case one was missed.
    pub periodic: Duration,
}

/// What the daemon's tasks share.
#[derive(Debug)]
pub struct Context {
    pub options: Options,
    pub store: Arc<Store>,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    pub webhooks: Webhooks,
    pub catalog: Arc<RwLock<Catalog>>,
    pub problems: Arc<RwLock<Vec<String>>>,
    pub outbox: Arc<Outbox>,
    /// The digest of the file at the last pass that read it.
    last_digest: Mutex<Option<String>>,
    /// Wakes the reconcile loop.
    trigger: Arc<Notify>,
}

/// Serves until `shutdown` completes, then drains; calls `ready` once it serves.
pub async fn run(
    listener: Listener,
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    options: Options,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let metrics = Arc::new(Metrics::default());
    let webhooks: Webhooks = Arc::new(RwLock::new(HashMap::new()));
    let catalog = Arc::new(RwLock::new(Catalog::default()));
    let api_url = load(&store, &keyring, &webhooks, &catalog)?;
    let client = Client::new(Endpoints::from_env(&api_url));
    let outbox = Outbox::new(
        store.clone(),
        webhooks.clone(),
        client,
        metrics.clone(),
        options.pacing,
        options.retry,
    );
    outbox.start()?;
    let ctx = Arc::new(Context {
        problems: Arc::new(RwLock::new(Vec::new())),
        options,
        store,
        keyring,
        metrics,
        webhooks,
        catalog,
        outbox,
        last_digest: Mutex::new(None),
        trigger: Arc::new(Notify::new()),
    });
    // Watch before the first pass, so that no change falls between the two.
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let trigger = ctx.trigger.clone();
    let watch = watch_file(&ctx, trigger.clone());
    let first = pass::run(&ctx, true).await;
    tracing::info!(status = %first.status(), "first pass over the desired-state file");
    start_reconcile_loop(&ctx, trigger, watch, &tasks, &cancel);
    tasks.spawn(sync_directory_periodically(ctx.clone(), cancel.clone()));
    if let Some(interval) = systemd::watchdog_interval() {
        tasks.spawn(watchdog(interval, cancel.clone()));
    }
    let remote = ctx
        .options
        .admin_token
        .clone()
        .map(|token| admin_access(&ctx, Some(token)));
    let app = server::router(app_state(&ctx, ctx.options.api_token.clone(), remote));
    serve_admin_socket(&ctx, &tasks, &cancel)?;
    systemd::ready(&first.status());
    ready();
    tasks.spawn(prune_periodically(ctx.store.clone(), cancel.clone()));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        systemd::stopping();
        stopped.cancel();
    });
    // The workers stop taking alerts at the signal, while the server finishes its
    // requests: both within the same deadline.
    let draining = async {
        stop.cancelled().await;
        ctx.outbox.shutdown(DRAIN_DEADLINE).await
    };
    let serving = serve_until(listener, app, &stop);
    let (served, drained) = tokio::join!(serving, draining);
    if !drained {
        tracing::warn!(
            "sends still in flight after {DRAIN_DEADLINE:?}; they are retried after the next start"
        );
    }
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    served.map_err(Error::Serve)
}

/// The API's state, with `api_token` guarding the alert routes and `admin` enabling
/// `/v1/admin/run`.
fn app_state(ctx: &Context, api_token: Option<Secret>, admin: Option<server::AdminAccess>) -> Arc<AppState> {
    Arc::new(AppState {
        outbox: ctx.outbox.clone(),
        store: ctx.store.clone(),
        catalog: ctx.catalog.clone(),
        metrics: ctx.metrics.clone(),
        api_token,
        queue_limit: ctx.options.queue_limit,
        problems: ctx.problems.clone(),
        admin,
    })
}

/// The admin socket, `$STATE/admin.sock`: the CLI on this host, while the daemon holds
/// the state. Its file mode (0600) is the guard.
fn serve_admin_socket(
    ctx: &Arc<Context>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let socket = ctx.store.dir().join(crate::admin::SOCKET);
    let failed = |source| Error::Listen {
        address: socket.display().to_string(),
        source,
    };
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).map_err(failed)?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).map_err(failed)?;
    let app = server::router(app_state(ctx, None, Some(admin_access(ctx, None))));
    let stop = cancel.clone();
    tasks.spawn(async move {
        if let Err(error) = serve_until(Listener::Unix(listener), app, &stop).await {
            tracing::error!(%error, "the admin socket failed");
        }
    });
    Ok(())
}

/// Serves `app` until `stop`; graceful shutdown waits for open connections, and a
/// client that never finishes its request gets the drain deadline too.
async fn serve_until(listener: Listener, app: axum::Router, stop: &CancellationToken) -> std::io::Result<()> {
    let graceful = stop.clone();
    let serve = async move {
        match listener {
            Listener::Tcp(listener) => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful.cancelled_owned())
                    .await
            }
            Listener::Unix(listener) => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(graceful.cancelled_owned())
                    .await
            }
        }
    };
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        served = serve => served,
        () = deadline => {
            tracing::warn!("connections still open {DRAIN_DEADLINE:?} after the shutdown signal; closing them");
            Ok(())
        }
    }
}

/// Where the API listens.
#[derive(Debug)]
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

/// Waits until no event came for `quiet`, or for at most ten times that: a writer that
/// pauses mid-file is not read half-written, a stream of events does not stall passes.
async fn settle(trigger: &Notify, quiet: Duration) {
    let cap = tokio::time::sleep(quiet * 10);
    tokio::pin!(cap);
    loop {
        tokio::select! {
            () = trigger.notified() => {}
            () = tokio::time::sleep(quiet) => return,
            () = &mut cap => return,
        }
    }
}

fn watch_file(ctx: &Context, trigger: Arc<Notify>) -> Option<crate::watch::Watch> {
    match crate::watch::watch(&ctx.options.config, trigger) {
        Ok(watch) => Some(watch),
        Err(error) => {
            tracing::error!(%error, "cannot watch the desired-state file; relying on the periodic pass and SIGHUP");
            None
        }
    }
}

/// The reconcile loop: woken by the watcher, SIGHUP and the periodic pass.
fn start_reconcile_loop(
    ctx: &Arc<Context>,
    trigger: Arc<Notify>,
    mut watch: Option<crate::watch::Watch>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) {
    let (ctx, cancel) = (ctx.clone(), cancel.clone());
    // Installed before READY=1: SIGHUP's default action would end the daemon.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("a SIGHUP handler installs");
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(ctx.options.periodic);
        tick.tick().await;
        loop {
            let (force, reload) = tokio::select! {
                () = trigger.notified() => {
                    settle(&trigger, ctx.options.debounce).await;
                    (false, false)
                }
                _ = tick.tick() => (true, false),
                _ = hangup.recv() => (true, true),
                () = cancel.cancelled() => return,
            };
            if reload {
                systemd::reloading();
            }
            let outcome = pass::run(&ctx, force).await;
            if let Some(watch) = watch.as_mut() {
                watch.refresh();
            }
            if outcome != Outcome::Unchanged {
                tracing::info!(status = %outcome.status(), "reconciled");
            }
            if reload {
                systemd::ready(&outcome.status());
            } else if outcome != Outcome::Unchanged {
                systemd::status(&outcome.status());
            }
        }
    });
}

/// Re-syncs the directory every `slack.directory_sync_interval` of the applied token's
/// file; failures are logged and retried sooner, never fatal.
async fn sync_directory_periodically(ctx: Arc<Context>, cancel: CancellationToken) {
    let mut failures = 0u32;
    loop {
        let configured = sync_interval(&ctx).await;
        let interval = match failures {
            0 => configured,
            n => Duration::from_secs(60 << n.min(6)).min(configured),
        };
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = cancel.cancelled() => return,
        }
        match sync_once(&ctx).await {
            Ok(Some(users)) => {
                failures = 0;
                tracing::info!(users, "synced the Slack directory");
            }
            Ok(None) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(error = %crate::error::describe(&error).trim_end(), "directory sync failed; keeping the previous directory");
            }
        }
    }
}

/// Off the runtime's thread: a large file takes a while to parse.
async fn sync_interval(ctx: &Context) -> Duration {
    let path = ctx.options.config.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| crate::config::parse("", &text).ok())
            .map_or(crate::config::DEFAULT_SYNC_INTERVAL, |c| {
                c.slack.directory_sync_interval
            })
    })
    .await
    .unwrap_or(crate::config::DEFAULT_SYNC_INTERVAL)
}

/// The number of users synced, or `None` without a token.
async fn sync_once(ctx: &Arc<Context>) -> Result<Option<usize>, Error> {
    let Some(token) = ctx.store.applied()?.token else {
        return Ok(None);
    };
    let Some(facts) = token.facts else { return Ok(None) };
    let secret = decrypt(&token.secret.armored, &ctx.keyring)?;
    let client = Client::new(Endpoints::from_env(&facts.api_url));
    let directory = crate::slack::sync_directory(&client, &secret, &|_| {}).await?;
    let users = directory.users.len();
    ctx.store.replace_directory(&SyncedDirectory {
        synced_at: now_secs(),
        directory,
    })?;
    reload(ctx).await?;
    Ok(Some(users))
}

/// Forgets old delivered and failed alerts every ten minutes.
async fn prune_periodically(store: Arc<Store>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(600)) => {}
            () = cancel.cancelled() => return,
        }
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune(crate::outbox::now_ms())).await {
            Ok(Ok(removed)) if removed > 0 => tracing::info!(removed, "pruned old alerts"),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot prune old alerts"),
            Err(error) => tracing::warn!(%error, "the prune task failed"),
        }
    }
}

async fn watchdog(interval: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => systemd::watchdog(),
            () = cancel.cancelled() => return,
        }
    }
}

/// Runs commands for others with the daemon's state and identity, then reloads what
/// they may have changed.
fn admin_access(ctx: &Arc<Context>, token: Option<Secret>) -> server::AdminAccess {
    let ctx = ctx.clone();
    let via = if token.is_some() {
        "via --remote"
    } else {
        "via the admin socket"
    };
    let run = move |request| {
        let response = crate::admin::execute(request, ctx.store.clone(), ctx.keyring.clone(), via);
        // The state may have moved: the next pass looks again, whatever the digest.
        ctx.last_digest.lock().expect("never poisoned").take();
        ctx.trigger.notify_one();
        if let Err(error) = reload_blocking(&ctx) {
            tracing::error!(error = %crate::error::describe(&error).trim_end(), "cannot reload the applied state");
        }
        response
    };
    server::AdminAccess {
        token,
        run: Arc::new(run),
    }
}

/// Loads the applied state again after an apply or a sync, and wakes the workers.
fn reload_blocking(ctx: &Arc<Context>) -> Result<(), Error> {
    load(&ctx.store, &ctx.keyring, &ctx.webhooks, &ctx.catalog)?;
    ctx.outbox.wake_all();
    Ok(())
}

/// [`load`] off the runtime's thread: it decrypts every applied webhook.
async fn reload(ctx: &Arc<Context>) -> Result<(), Error> {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || reload_blocking(&ctx))
        .await
        .expect("the reload task does not panic")
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
        // One webhook the daemon cannot open (applied with another identity) must not
        // keep the others from being served: it is left out, loudly.
        let url = decrypt(&webhook.url.armored, keyring)
            .map_err(|error| error.to_string())
            .and_then(|secret| WebhookUrl::parse(&secret).map_err(|refusal| refusal.message));
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
    let directory = store.directory()?.map(|synced| Index::new(synced.directory));
    *webhooks.write().expect("never poisoned") = urls;
    *catalog.write().expect("never poisoned") = Catalog {
        webhooks: entries,
        directory,
    };
    let api_url = applied.token.and_then(|t| t.facts).map(|f| f.api_url);
    Ok(api_url.unwrap_or_else(|| crate::config::DEFAULT_API_URL.to_owned()))
}

fn now_secs() -> u64 {
    crate::outbox::now_ms() / 1000
}

/// `user@host (daemon)`, for the audit log.
fn actor() -> String {
    format!("{} (daemon)", crate::reconcile::actor())
}
