//! Group commit: many writes share one flush of the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::state::{StateError, Store};

/// Group commit: many accepted alerts share one flush. An accept registers its write
/// and waits until a flush that started after it has finished.
#[derive(Debug)]
pub(super) struct GroupCommit {
    written: AtomicU64,
    flushed: watch::Sender<u64>,
    /// The target of the last flush that failed: writes up to it are not on disk.
    failed: watch::Sender<u64>,
    pending: Notify,
    pub(super) storage: StorageHealth,
}

/// Whether the state can be written now, and why not: set by a write or a flush that
/// failed, cleared by a flush that worked.
#[derive(Debug, Default)]
pub struct StorageHealth {
    problem: RwLock<Option<(String, bool)>>,
}

impl StorageHealth {
    pub(super) fn failing(&self, error: &StateError) {
        let reason = match error {
            StateError::Io { source, .. } => format!("{error}: {source}"),
            other => other.to_string(),
        };
        *self.problem.write().expect("never poisoned") = Some((reason, error.is_storage_full()));
    }

    pub(super) fn healthy(&self) {
        let mut problem = self.problem.write().expect("never poisoned");
        if problem.take().is_some() {
            tracing::warn!("the state can be written again");
        }
    }

    pub fn is_failing(&self) -> bool {
        self.problem.read().expect("never poisoned").is_some()
    }

    /// Why the state cannot be written, and whether for want of space.
    pub fn problem(&self) -> Option<(String, bool)> {
        self.problem.read().expect("never poisoned").clone()
    }

    /// A flush, to see whether the state can be written again.
    pub(super) fn probe(&self, store: &Store) {
        match store.flush().and_then(|()| store.reachable()) {
            Ok(()) => self.healthy(),
            Err(error) => self.failing(&error),
        }
    }
}

impl GroupCommit {
    pub(super) fn new() -> Self {
        GroupCommit {
            written: AtomicU64::new(0),
            flushed: watch::Sender::new(0),
            failed: watch::Sender::new(0),
            pending: Notify::new(),
            storage: StorageHealth::default(),
        }
    }

    /// Waits until the writes so far are on disk.
    pub(super) async fn durable(&self) -> Result<(), StateError> {
        self.wait(self.note()).await
    }

    /// A ticket for the writes so far, flushed at the next flush someone asks for.
    pub(super) fn note(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Asks for a flush when `needed`.
    pub(super) fn request_if(&self, needed: bool) {
        if needed {
            self.pending.notify_one();
        }
    }

    pub(super) fn is_durable(&self, ticket: u64) -> bool {
        *self.flushed.borrow() >= ticket
    }

    /// Waits until the flush of `ticket` has finished, asking for one if needed; fails
    /// as soon as a flush that should have taken it failed.
    pub(super) async fn wait(&self, ticket: u64) -> Result<(), StateError> {
        let mut flushed = self.flushed.subscribe();
        let mut failed = self.failed.subscribe();
        self.request_if(!self.is_durable(ticket));
        tokio::select! {
            biased;
            done = flushed.wait_for(|done| *done >= ticket) => done.map(drop).map_err(|_| StateError::ShuttingDown),
            _ = failed.wait_for(|failed| *failed >= ticket) => {
                let (reason, full) = self
                    .storage
                    .problem()
                    .unwrap_or_else(|| ("a flush failed".to_owned(), false));
                Err(StateError::Unflushed { reason, full })
            }
        }
    }

    pub(super) async fn run(&self, store: &Arc<Store>, cancel: &CancellationToken) {
        let mut failures = 0u32;
        loop {
            tokio::select! {
                () = self.pending.notified() => {}
                () = cancel.cancelled() => return,
            }
            if failures > 0 {
                // The disk refused the last flush: try again, not in a tight loop.
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = cancel.cancelled() => return,
                }
            }
            // Let the requests that are ready now write first: they share this flush.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            let target = self.written.load(Ordering::SeqCst);
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.flush()).await {
                Ok(Ok(())) => {
                    failures = 0;
                    self.storage.healthy();
                    self.flushed.send_replace(target);
                    continue;
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "cannot flush the outbox; retrying");
                    self.storage.failing(&error);
                    self.failed.send_replace(target);
                }
                Err(error) => tracing::error!(%error, "the flush task failed; retrying"),
            }
            failures += 1;
            self.pending.notify_one();
        }
    }
}
