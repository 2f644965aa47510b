//! The daemon's background tasks: the reconcile loop (file events, the periodic pass,
//! SIGHUP), the directory re-sync, pruning old alerts, and the watchdog.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::watch::{self, Watch};
use super::{Outcome, Shared, load, pass, systemd};
use crate::explain::describe;
use crate::reconcile::{self, ReconcileError};

/// Watches the desired-state file, waking the reconcile loop on each change.
pub(super) fn watch_file(ctx: &Shared) -> Option<Watch> {
    match watch::watch(&ctx.options.config, ctx.trigger.clone()) {
        Ok(watch) => Some(watch),
        Err(error) => {
            tracing::error!(%error, "cannot watch the desired-state file; relying on the periodic pass and SIGHUP");
            None
        }
    }
}

/// Starts every background task.
pub(super) fn start(
    ctx: &Arc<Shared>,
    watch: Option<Watch>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) {
    start_reconcile_loop(ctx, watch, tasks, cancel);
    tasks.spawn(sync_directory_periodically(ctx.clone(), cancel.clone()));
    if let Some(interval) = systemd::watchdog_interval() {
        tasks.spawn(watchdog(interval, cancel.clone()));
    }
    tasks.spawn(prune_periodically(ctx.clone(), cancel.clone()));
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

/// The reconcile loop: woken by the watcher, SIGHUP and the periodic pass.
fn start_reconcile_loop(
    ctx: &Arc<Shared>,
    mut watch: Option<Watch>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) {
    let (ctx, cancel) = (ctx.clone(), cancel.clone());
    // Installed before READY=1: SIGHUP's default action would end the daemon.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("a SIGHUP handler installs");
    tasks.spawn(async move {
        let trigger = ctx.trigger.clone();
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
async fn sync_directory_periodically(ctx: Arc<Shared>, cancel: CancellationToken) {
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
                tracing::warn!(error = %describe(&error).trim_end(), "directory sync failed; keeping the previous directory");
            }
        }
    }
}

/// Off the runtime's thread: a large file takes a while to parse.
async fn sync_interval(ctx: &Shared) -> Duration {
    let path = ctx.options.config.clone();
    tokio::task::spawn_blocking(move || {
        crate::config::read(&path)
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
async fn sync_once(ctx: &Arc<Shared>) -> Result<Option<usize>, ReconcileError> {
    let Some((facts, token)) = reconcile::applied_token(&*ctx.store, &ctx.keyring)? else {
        return Ok(None);
    };
    let synced = reconcile::read_directory(&facts, &token, &|_| {}).await?;
    let users = synced.directory.users.len();
    ctx.store.replace_directory(&synced)?;
    load::reload(ctx).await?;
    Ok(Some(users))
}

/// Forgets old delivered and failed alerts every ten minutes.
async fn prune_periodically(ctx: Arc<Shared>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(600)) => {}
            () = cancel.cancelled() => return,
        }
        let store = ctx.store.clone();
        match tokio::task::spawn_blocking(move || store.prune(crate::clock::now_ms())).await {
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
