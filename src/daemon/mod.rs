//! The long-running service: the supervisor of the HTTP API, the delivery workers, the
//! file watcher and the reconcile loop, the directory sync, and shutdown.
//!
//! ```text
//! select { file changed | periodic tick | SIGHUP } -> pass (read, reconcile::run)
//! every directory_sync_interval                    -> directory sync
//! server -> alert -> delivery -> Slack
//! admin socket, /v1/admin/run                      -> the runner it was handed
//! ```
//!
//! The daemon knows no command: what it runs for a CLI beside it or a remote caller
//! is the [`Runner`] its composition root hands it.
//!
//! Shutdown: the listener stops accepting, requests in flight finish, the workers get
//! up to [`DRAIN_DEADLINE`] to finish the sends they started, and the state is flushed.
//! Whatever is still queued is delivered after the next start.

mod connections;
mod load;
mod pass;
mod serve;
mod systemd;
mod tasks;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use pass::Outcome;
pub use serve::Listener;

use crate::config::Report;
use crate::delivery::{Outbox, Pacing, Retry, Webhooks};
use crate::explain::Explain;
use crate::metrics::Metrics;
use crate::reconcile::ReconcileError;
use crate::remote::Runner;
use crate::secrets::{Keyring, Secret};
use crate::server::Catalog;
use crate::slack::{Client, Endpoints};
use crate::state::{StateError, Store};

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
    /// Open connections the API takes at most; beyond, new ones are closed at once.
    pub max_connections: usize,
    /// How long the state may stay unwritable before the daemon stops, as a failure.
    pub storage_timeout: Duration,
    /// On a shared store, how long a webhook's lease lasts unrenewed.
    pub lease: Duration,
    /// How long an Alertmanager HA peer's copy of a notification is recognised.
    pub dedup_window: Duration,
    pub api_token: Option<Secret>,
    /// Enables `/v1/admin/run` on the API listener, behind this token.
    pub admin_token: Option<Secret>,
    /// Quiet time after a file event before the pass: editors write in bursts.
    pub debounce: Duration,
    /// A pass even without events, in case one was missed.
    pub periodic: Duration,
    /// Where the admin sockets go and who may use them.
    pub admin: AdminSockets,
}

/// The admin sockets: `$STATE/admin.sock` always, and one in systemd's
/// `$RUNTIME_DIRECTORY` (`/run/hookwarden/admin.sock`, where the CLI looks when no state
/// is named), mode 0600, or 0660 and owned by `group`.
#[derive(Debug, Clone, Default)]
pub struct AdminSockets {
    pub runtime_dir: Option<PathBuf>,
    /// `--admin-group`: its name, for messages, and its id.
    pub group: Option<(String, u32)>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("the state could not be written for {}s", after.as_secs())]
    StorageFailed { after: Duration },
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot give the admin socket {socket} to the group {group}")]
    AdminGroup {
        socket: String,
        group: String,
        #[source]
        source: std::io::Error,
    },
}

impl Explain for DaemonError {
    fn report(&self) -> Option<&Report> {
        match self {
            DaemonError::Reconcile(error) => error.report(),
            _ => None,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            DaemonError::State(error) => error.help(),
            DaemonError::Reconcile(error) => error.help(),
            DaemonError::AdminGroup { group, .. } => Some(format!(
                "the daemon's user must be a member of {group}: under systemd, add `SupplementaryGroups={group}` to the unit"
            )),
            DaemonError::StorageFailed { .. } => Some(
                "free space on the disk that holds the state and start the daemon again (under systemd, Restart=on-failure does); every accepted alert is still queued".to_owned(),
            ),
            _ => None,
        }
    }
}

/// What the daemon's tasks share.
struct Shared {
    options: Options,
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    metrics: Arc<Metrics>,
    webhooks: Webhooks,
    catalog: Arc<RwLock<Catalog>>,
    problems: Arc<RwLock<Vec<String>>>,
    outbox: Arc<Outbox>,
    /// Runs the commands forwarded to the daemon.
    runner: Runner,
    /// The digest of the file at the last pass that read it.
    last_digest: Mutex<Option<String>>,
    /// Wakes the reconcile loop.
    trigger: Arc<Notify>,
    /// The serial of the applied state the daemon serves.
    serial: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("options", &self.options)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The next pass reads the file again, whatever its digest.
    fn forget_digest(&self) {
        self.last_digest.lock().expect("never poisoned").take();
    }
}

/// Serves until `shutdown` completes, then drains; calls `ready` once it serves.
/// `runner` runs the commands that the admin socket and `/v1/admin/run` forward.
pub async fn run(
    listener: Listener,
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    options: Options,
    runner: Runner,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let ctx = start(store, keyring, options, runner)?;
    // Watch before the first pass, so that no change falls between the two.
    let tasks = TaskTracker::new();
    let cancel = CancellationToken::new();
    let watch = tasks::watch_file(&ctx);
    // On a shared store, delivery starts at once, under leases, before the first pass.
    let stop = CancellationToken::new();
    let sharing = ctx
        .outbox
        .lease_tick()
        .map(|tick| tokio::spawn(share_store(ctx.clone(), tick, stop.clone())));
    let first = pass::run(&ctx, true).await;
    tracing::info!(status = %first.status(), "first pass over the desired-state file");
    tasks::start(&ctx, watch, &tasks, &cancel);
    let app = serve::api(&ctx);
    serve::admin_sockets(&ctx, &tasks, &cancel)?;
    systemd::ready(&first.status());
    ready();
    let stopped = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        systemd::stopping();
        stopped.cancel();
    });
    let gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A database that went away comes back by itself; a restart would not help it.
    if !ctx.store.shared() {
        tokio::spawn(give_up_on_storage(ctx.clone(), stop.clone(), gave_up.clone()));
    }
    // The workers stop taking alerts at the signal, while the server finishes its
    // requests: both within the same deadline.
    let draining = async {
        stop.cancelled().await;
        // No renewal may follow the release of the leases.
        if let Some(sharing) = sharing {
            let _ = sharing.await;
        }
        ctx.outbox.shutdown(DRAIN_DEADLINE).await
    };
    let limits = connections::Limits {
        connections: ctx.options.max_connections,
        ..connections::Limits::default()
    };
    let metrics = ctx.metrics.clone();
    let refused = move || {
        metrics.connections_refused.inc();
        tracing::warn!(
            limit = limits.connections,
            "too many open connections; closed a new one (--max-connections)"
        );
    };
    let serving = serve::until(listener, app, limits, &stop, refused);
    let (served, drained) = tokio::join!(serving, draining);
    if !drained {
        tracing::warn!(
            "sends still in flight after {DRAIN_DEADLINE:?}; they are retried after the next start"
        );
    }
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    served.map_err(DaemonError::Serve)?;
    if gave_up.load(Ordering::Relaxed) {
        return Err(DaemonError::StorageFailed {
            after: ctx.options.storage_timeout,
        });
    }
    Ok(())
}

/// On a store several daemons share: keeps this daemon's leases and takes over the
/// webhooks of a daemon that is gone, wakes the workers of alerts others took in, and
/// loads the applied state again when another daemon or CI applied.
async fn share_store(ctx: Arc<Shared>, tick: Duration, stop: CancellationToken) {
    loop {
        let shared = ctx.clone();
        let looked = tokio::task::spawn_blocking(move || {
            // What was applied elsewhere first: a webhook is leased only once it is loaded.
            let serial = shared.store.serial()?;
            if serial != shared.serial.load(Ordering::Relaxed) {
                tracing::info!(serial, "the applied state changed; loading it");
                load::reload_blocking(&shared)?;
            }
            let sendable: Vec<String> = shared
                .webhooks
                .read()
                .expect("never poisoned")
                .keys()
                .cloned()
                .collect();
            let applied: std::collections::HashSet<String> = shared
                .catalog
                .read()
                .expect("never poisoned")
                .webhooks
                .keys()
                .cloned()
                .collect();
            shared.outbox.keep_leases(&sendable, &applied)
        })
        .await;
        let looked = looked.unwrap_or_else(|panic| {
            Err(StateError::Database {
                store: ctx.store.dir().display().to_string(),
                reason: format!("the lease task failed: {panic}"),
            })
        });
        ctx.outbox.store_answered(looked.as_ref().map(drop));
        match looked {
            Ok(taken) => {
                for webhook in taken {
                    tracing::warn!(%webhook, "took this webhook's deliveries over: the daemon that held its lease is gone");
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the shared store; delivery stops when the leases lapse");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Stops the daemon, as a failure, once the state has been unwritable for
/// `--storage-timeout`, so that a restart (systemd's `Restart=on-failure`) reopens it:
/// sled does not recover from a failed write in place. Until then intake answers 503
/// and delivery waits.
async fn give_up_on_storage(
    ctx: Arc<Shared>,
    stop: CancellationToken,
    gave_up: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.cancelled() => return,
        }
        match (ctx.outbox.storage_problem(), failing_since) {
            (None, _) => failing_since = None,
            (Some(_), None) => failing_since = Some(tokio::time::Instant::now()),
            (Some((reason, _)), Some(since)) if since.elapsed() >= ctx.options.storage_timeout => {
                tracing::error!(%reason, "the state could not be written for {:?}; stopping, so that a restart reopens it once there is space", ctx.options.storage_timeout);
                gave_up.store(true, Ordering::Relaxed);
                systemd::stopping();
                stop.cancel();
                return;
            }
            (Some(_), Some(_)) => {}
        }
    }
}

/// The applied state loaded and the delivery workers started.
fn start(
    store: Arc<Store>,
    keyring: Arc<Keyring>,
    options: Options,
    runner: Runner,
) -> Result<Arc<Shared>, DaemonError> {
    let metrics = Arc::new(Metrics::default());
    let webhooks: Webhooks = Arc::new(RwLock::new(HashMap::new()));
    let catalog = Arc::new(RwLock::new(Catalog::default()));
    let (api_url, serial) = load::load(&*store, &keyring, &webhooks, &catalog)?;
    let client = Client::new(Endpoints::from_env(&api_url));
    let outbox = Outbox::new(
        store.clone(),
        webhooks.clone(),
        client,
        metrics.clone(),
        options.pacing,
        options.retry,
        options.lease,
    );
    outbox.start()?;
    Ok(Arc::new(Shared {
        problems: Arc::new(RwLock::new(Vec::new())),
        options,
        store,
        keyring,
        metrics,
        webhooks,
        catalog,
        outbox,
        runner,
        last_digest: Mutex::new(None),
        trigger: Arc::new(Notify::new()),
        serial: AtomicU64::new(serial),
    }))
}
