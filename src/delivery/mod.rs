//! Delivery: alerts accepted into the sled outbox reach Slack in order, paced, retried,
//! and at least once.
//!
//! Each webhook has one worker task, so one webhook never has more than one request in
//! flight and its alerts leave in the order they came; many webhooks deliver in
//! parallel. A worker takes the oldest queued alert of its webhook, waits for its
//! pacing token and for any `Retry-After` or backoff, looks the URL up at send time (so
//! a rotation applies to queued alerts and a deleted webhook fails them), and records
//! what Slack said. An alert leaves the queue only once it is delivered or has failed
//! for good, so a restart resends what was in flight: at least once.
//!
//! Deliveries are recorded without waiting for the disk. A worker asks for a flush of
//! its deliveries whenever it pauses (an empty queue, pacing, a backoff) and never runs
//! more than [`UNFLUSHED_DELIVERIES`] ahead of the disk, so a burst shares one flush
//! among many messages and a crash repeats at most that many per webhook.

mod commit;
pub mod digest;
mod lease;
mod pacing;
mod worker;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use pacing::{DIGEST_MAX, Pacing, Retry};

use crate::clock::now_ms;
use crate::config::WebhookUrl;
use crate::metrics::Metrics;
use crate::slack::Client;
use crate::state::{AlertRecord, AlertStatus, Enqueued, NewAlert, StateError, Store};
use commit::GroupCommit;
pub use commit::StorageHealth;
use lease::Sharing;

/// Deliveries a worker may make before the disk has recorded the earlier ones: the
/// most that a crash can send twice, per webhook.
const UNFLUSHED_DELIVERIES: usize = 32;

/// The webhooks as applied, with their URLs decrypted, by id.
pub type Webhooks = Arc<RwLock<HashMap<String, WebhookUrl>>>;

#[derive(Debug)]
pub struct Outbox {
    store: Arc<Store>,
    webhooks: Webhooks,
    client: Client,
    metrics: Arc<Metrics>,
    pacing: Pacing,
    retry: Retry,
    workers: Mutex<HashMap<String, Arc<Notify>>>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    commit: GroupCommit,
    /// Alerts queued across every webhook, for the 503 guard.
    queued: AtomicUsize,
    /// Outcomes the store could not take, by webhook, to write before it sends again.
    unwritten: Mutex<HashMap<String, Vec<AlertRecord>>>,
    /// On a store several daemons share, the webhooks this daemon delivers.
    sharing: Option<Sharing>,
}

impl Outbox {
    pub fn new(
        store: Arc<Store>,
        webhooks: Webhooks,
        client: Client,
        metrics: Arc<Metrics>,
        pacing: Pacing,
        retry: Retry,
        lease: Duration,
    ) -> Arc<Self> {
        let sharing = store.shared().then(|| Sharing::new(lease));
        Arc::new(Outbox {
            store,
            webhooks,
            client,
            metrics,
            pacing,
            retry,
            workers: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            commit: GroupCommit::new(),
            queued: AtomicUsize::new(0),
            unwritten: Mutex::new(HashMap::new()),
            sharing,
        })
    }

    /// Starts the workers of every webhook with queued alerts, and the group committer.
    pub fn start(self: &Arc<Self>) -> Result<(), StateError> {
        let outbox = self.clone();
        self.tracker
            .spawn(async move { outbox.commit.run(&outbox.store, &outbox.cancel).await });
        for (webhook, count) in self.store.queued_counts()? {
            self.metrics
                .depth(&webhook)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
            self.queued.fetch_add(count, Ordering::Relaxed);
            self.wake(&webhook);
        }
        Ok(())
    }

    /// Stores alerts durably, all or none; returns, in their order, once a crash can no
    /// longer lose them.
    pub async fn accept(self: &Arc<Self>, alerts: Vec<NewAlert>) -> Result<Vec<Enqueued>, StateError> {
        // In a task of its own: a client that hangs up mid-request must not leave an
        // alert stored but uncounted and unwoken.
        let outbox = self.clone();
        tokio::spawn(async move {
            // Sled work that never waits on the disk: the flush below does.
            let enqueued = outbox.store.enqueue(alerts, now_ms())?;
            let fresh: Vec<&str> = enqueued
                .iter()
                .filter(|e| !e.duplicate && e.record.status == AlertStatus::Queued)
                .map(|e| e.record.webhook.as_str())
                .collect();
            for webhook in &fresh {
                outbox.metrics.received.inc();
                outbox.metrics.depth(webhook).inc();
            }
            outbox.queued.fetch_add(fresh.len(), Ordering::Relaxed);
            outbox.commit.durable().await?;
            let woken: BTreeSet<&str> = fresh.into_iter().collect();
            for webhook in woken {
                outbox.wake(webhook);
            }
            Ok(enqueued)
        })
        .await
        .expect("the accept task does not panic")
    }

    /// A failed alert back in its queue.
    /// Returns once the retry is on disk.
    pub async fn retry(self: &Arc<Self>, id: &str) -> Result<Option<AlertRecord>, StateError> {
        let record = self.store.retry_alert(id, now_ms())?;
        let queued = record.as_ref().filter(|r| r.status == AlertStatus::Queued);
        if let Some(record) = queued {
            self.metrics.depth(&record.webhook).inc();
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        self.commit.durable().await?;
        if let Some(record) = queued {
            self.wake(&record.webhook);
        }
        Ok(record)
    }

    /// Why the state cannot be written now, if it cannot, and whether for want of
    /// space: intake refuses and delivery waits meanwhile.
    pub fn storage_problem(&self) -> Option<(String, bool)> {
        self.commit.storage.problem()
    }

    /// How many alerts wait across every webhook.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Tells `webhook`'s worker there is work, starting it if needed.
    pub fn wake(self: &Arc<Self>, webhook: &str) {
        if !self.holds(webhook) {
            return;
        }
        let mut workers = self.workers.lock().expect("the worker map is never poisoned");
        if let Some(notify) = workers.get(webhook) {
            notify.notify_one();
            return;
        }
        let notify = Arc::new(Notify::new());
        workers.insert(webhook.to_owned(), notify.clone());
        let (outbox, webhook) = (self.clone(), webhook.to_owned());
        self.tracker
            .spawn(async move { outbox.work(&webhook, &notify).await });
    }

    /// Wakes every worker: the applied webhooks changed.
    pub fn wake_all(self: &Arc<Self>) {
        let names: Vec<String> = self
            .workers
            .lock()
            .expect("never poisoned")
            .keys()
            .cloned()
            .collect();
        for name in names {
            self.wake(&name);
        }
    }

    /// Stops taking alerts from the queues and waits up to `deadline` for requests in
    /// flight; whatever is still queued is sent after the next start. On a shared store,
    /// another daemon takes the webhooks over at once, or once their leases expire when
    /// a request was still in flight.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(deadline, self.tracker.wait()).await.is_ok();
        let _ = self.store.flush();
        if drained {
            self.release_leases();
        }
        drained
    }
}
