//! Group commit: many writes share one flush of the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    pending: Notify,
}

impl GroupCommit {
    pub(super) fn new() -> Self {
        GroupCommit {
            written: AtomicU64::new(0),
            flushed: watch::Sender::new(0),
            pending: Notify::new(),
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

    /// Waits until the flush of `ticket` has finished, asking for one if needed.
    pub(super) async fn wait(&self, ticket: u64) -> Result<(), StateError> {
        let mut flushed = self.flushed.subscribe();
        self.request_if(!self.is_durable(ticket));
        flushed
            .wait_for(|done| *done >= ticket)
            .await
            .map(drop)
            .map_err(|_| StateError::ShuttingDown)
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
                    self.flushed.send_replace(target);
                    continue;
                }
                Ok(Err(error)) => tracing::error!(%error, "cannot flush the outbox; retrying"),
                Err(error) => tracing::error!(%error, "the flush task failed; retrying"),
            }
            failures += 1;
            self.pending.notify_one();
        }
    }
}
