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

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::WebhookUrl;
use crate::metrics::{FailureLabels, Metrics, WebhookLabel};
use crate::slack::{Client, Refusal};
use crate::state::{AlertRecord, AlertStatus, Enqueued, Health, HealthState, NewAlert, StateError, Store};

/// Messages per second per webhook, and how many may go at once after a quiet spell.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// 0 turns pacing off.
    pub per_second: f64,
    pub burst: u32,
}

impl Default for Pacing {
    /// Slack allows about one message per second per webhook, with short bursts.
    fn default() -> Self {
        Pacing {
            per_second: 1.0,
            burst: 3,
        }
    }
}

/// Backoff on 5xx, timeouts and connection errors.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub first: Duration,
    pub cap: Duration,
    /// An alert still undelivered this long after it was accepted fails.
    pub give_up_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// Deliveries a worker may make before the disk has recorded the earlier ones: the
/// most that a crash can send twice, per webhook.
const UNFLUSHED_DELIVERIES: usize = 32;

/// Slack's errors that mean the webhook itself is gone.
const REVOKED: [&str; 7] = [
    "invalid_token",
    "no_service",
    "no_active_hooks",
    "channel_not_found",
    "channel_is_archived",
    "team_disabled",
    "action_prohibited",
];
/// Slack's errors about one message, which say nothing about the webhook.
const MESSAGE_ERRORS: [&str; 5] = [
    "invalid_payload",
    "no_text",
    "invalid_blocks",
    "invalid_attachments",
    "too_many_attachments",
];

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
    queued: std::sync::atomic::AtomicUsize,
}

impl Outbox {
    pub fn new(
        store: Arc<Store>,
        webhooks: Webhooks,
        client: Client,
        metrics: Arc<Metrics>,
        pacing: Pacing,
        retry: Retry,
    ) -> Arc<Self> {
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
            queued: std::sync::atomic::AtomicUsize::new(0),
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
                .filter(|e| !e.duplicate)
                .map(|e| e.record.webhook.as_str())
                .collect();
            for webhook in &fresh {
                outbox.metrics.received.inc();
                outbox.metrics.depth(webhook).inc();
            }
            outbox.queued.fetch_add(fresh.len(), Ordering::Relaxed);
            outbox.commit.durable().await?;
            let woken: std::collections::BTreeSet<&str> = fresh.into_iter().collect();
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

    /// How many alerts wait across every webhook.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Tells `webhook`'s worker there is work, starting it if needed.
    pub fn wake(self: &Arc<Self>, webhook: &str) {
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
    /// flight; whatever is still queued is sent after the next start.
    pub async fn shutdown(&self, deadline: Duration) -> bool {
        self.cancel.cancel();
        self.tracker.close();
        let drained = tokio::time::timeout(deadline, self.tracker.wait()).await.is_ok();
        let _ = self.store.flush();
        drained
    }

    async fn work(&self, webhook: &str, notify: &Notify) {
        let mut bucket = Bucket::new(self.pacing);
        let mut unflushed = VecDeque::new();
        loop {
            while unflushed
                .front()
                .is_some_and(|ticket| self.commit.is_durable(*ticket))
            {
                unflushed.pop_front();
            }
            let next = match self.store.next_queued(webhook) {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(webhook, %error, "cannot read the outbox");
                    None
                }
            };
            let Some(record) = next else {
                self.commit.request_if(!unflushed.is_empty());
                tokio::select! {
                    () = notify.notified() => continue,
                    () = self.cancel.cancelled() => return,
                }
            };
            let wait =
                Duration::from_millis(record.next_attempt_at.saturating_sub(now_ms())).max(bucket.delay());
            if !wait.is_zero() {
                self.commit.request_if(!unflushed.is_empty());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.cancel.cancelled() => return,
                }
                continue;
            }
            if self.cancel.is_cancelled() {
                return;
            }
            if unflushed.len() >= UNFLUSHED_DELIVERIES {
                let oldest = unflushed.pop_front().expect("the window is full");
                tokio::select! {
                    flushed = self.commit.wait(oldest) => if flushed.is_err() { return },
                    () = self.cancel.cancelled() => return,
                }
            }
            bucket.take();
            unflushed.extend(self.attempt(record).await);
            bucket.settle();
        }
    }

    /// One send of `record`, and what it leaves behind: the commit ticket of its
    /// delivery or failure, when it left the queue.
    async fn attempt(&self, mut record: AlertRecord) -> Option<u64> {
        let url = self
            .webhooks
            .read()
            .expect("never poisoned")
            .get(&record.webhook)
            .cloned();
        let Some(url) = url else {
            return Some(self.finish(record, Err("webhook_deleted".to_owned())));
        };
        record.attempts += 1;
        match self.client.post_webhook(&url, &record.payload).await {
            Ok(()) => {
                self.health(&record.webhook, HealthState::Healthy, None);
                Some(self.finish(record, Ok(())))
            }
            Err(Refusal::RateLimited(delay)) => {
                self.metrics
                    .rate_limited
                    .get_or_create(&WebhookLabel {
                        webhook: record.webhook.clone(),
                    })
                    .inc();
                tracing::info!(webhook = %record.webhook, ?delay, "Slack rate-limited the webhook; waiting as Retry-After asks");
                if self.expired(&record) {
                    return Some(self.finish(record, Err("expired: rate_limited".to_owned())));
                }
                record.next_attempt_at = now_ms().saturating_add(millis(delay.min(MAX_RETRY_AFTER)));
                record.last_error = Some("rate_limited".to_owned());
                self.save(&record);
                None
            }
            Err(Refusal::Retryable(reason)) => {
                self.health(&record.webhook, HealthState::Failing, Some(&reason));
                if self.expired(&record) {
                    return Some(self.finish(record, Err(format!("expired: {reason}"))));
                }
                let delay = backoff(self.retry, record.attempts, &record.id);
                tracing::warn!(webhook = %record.webhook, %reason, ?delay, "delivery failed; retrying");
                record.next_attempt_at = now_ms().saturating_add(millis(delay));
                record.last_error = Some(reason);
                self.save(&record);
                None
            }
            Err(Refusal::Permanent(error)) => {
                let state = if REVOKED.contains(&error.as_str()) {
                    Some(HealthState::Revoked)
                } else if MESSAGE_ERRORS.contains(&error.as_str()) {
                    None
                } else {
                    Some(HealthState::Failing)
                };
                if let Some(state) = state {
                    self.health(&record.webhook, state, Some(&error));
                }
                Some(self.finish(record, Err(error)))
            }
        }
    }

    fn expired(&self, record: &AlertRecord) -> bool {
        Duration::from_millis(now_ms().saturating_sub(record.created_at)) >= self.retry.give_up_after
    }

    fn save(&self, record: &AlertRecord) {
        if let Err(error) = self.store.update_alert(record) {
            tracing::error!(webhook = %record.webhook, %error, "cannot record a delivery attempt");
        }
    }

    /// Records that `record` left its queue; returns the commit ticket of that record.
    fn finish(&self, mut record: AlertRecord, outcome: Result<(), String>) -> u64 {
        match outcome {
            Ok(()) => {
                record.status = AlertStatus::Delivered;
                record.delivered_at = Some(now_ms());
                self.metrics
                    .delivered
                    .get_or_create(&WebhookLabel {
                        webhook: record.webhook.clone(),
                    })
                    .inc();
                #[allow(clippy::cast_precision_loss)]
                self.metrics
                    .latency
                    .observe(now_ms().saturating_sub(record.created_at) as f64 / 1000.0);
            }
            Err(error) => {
                tracing::warn!(webhook = %record.webhook, alert = %record.id, %error, "alert failed for good");
                let labels = FailureLabels {
                    webhook: record.webhook.clone(),
                    reason: reason_label(&error),
                };
                self.metrics.failed.get_or_create(&labels).inc();
                record.status = AlertStatus::Failed;
                record.last_error = Some(error);
            }
        }
        self.metrics.depth(&record.webhook).dec();
        let _ = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        if let Err(error) = self.store.finish_alert(&record) {
            tracing::error!(webhook = %record.webhook, %error, "cannot record a delivery");
        }
        self.commit.note()
    }

    fn health(&self, webhook: &str, state: HealthState, error: Option<&str>) {
        self.metrics.set_health(webhook, state);
        let health = Health {
            state,
            last_error: error.map(str::to_owned),
            updated_at: now_ms(),
        };
        if let Err(error) = self.store.set_health(webhook, &health) {
            tracing::error!(webhook, %error, "cannot record a webhook's health");
        }
    }
}

/// The longest `Retry-After` honoured; Slack's are seconds to minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// Slack's error codes as metric labels; anything else (an HTML page, a long body) is
/// `other`, so that the label's values stay few.
fn reason_label(error: &str) -> String {
    let code = error.strip_prefix("expired: ").unwrap_or(error);
    let plain =
        !code.is_empty() && code.len() <= 40 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if plain {
        code.to_owned()
    } else {
        "other".to_owned()
    }
}

/// Exponential backoff from `retry.first`, capped, with jitter in its upper half so
/// that many alerts failing together do not retry together.
fn backoff(retry: Retry, attempts: u32, id: &str) -> Duration {
    let exponent = attempts.saturating_sub(1).min(20);
    let full = retry.first.saturating_mul(1 << exponent).min(retry.cap);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(id.as_bytes());
    hasher.write_u32(attempts);
    let jitter = hasher.finish() % 1000;
    full / 2 + full / 2 * u32::try_from(jitter).unwrap_or(0) / 1000
}

/// A token bucket on tokio's clock (which tests can pause).
#[derive(Debug)]
struct Bucket {
    pacing: Pacing,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(pacing: Pacing) -> Self {
        Bucket {
            pacing,
            tokens: f64::from(pacing.burst.max(1)),
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let gained = now.duration_since(self.last).as_secs_f64() * self.pacing.per_second;
        self.tokens = (self.tokens + gained).min(f64::from(self.pacing.burst.max(1)));
        self.last = now;
    }

    /// How long until a token is free.
    fn delay(&mut self) -> Duration {
        if self.pacing.per_second <= 0.0 {
            return Duration::ZERO;
        }
        self.refill();
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.pacing.per_second)
        }
    }

    /// Counts the next interval from the end of the request, not its start: Slack counts
    /// arrivals, and a request delayed on the way must not let the next one arrive early.
    fn settle(&mut self) {
        self.last = Instant::now();
    }

    fn take(&mut self) {
        if self.pacing.per_second > 0.0 {
            self.refill();
            self.tokens -= 1.0;
        }
    }
}

/// Group commit: many accepted alerts share one flush. An accept registers its write
/// and waits until a flush that started after it has finished.
#[derive(Debug)]
struct GroupCommit {
    written: AtomicU64,
    flushed: watch::Sender<u64>,
    pending: Notify,
}

impl GroupCommit {
    fn new() -> Self {
        GroupCommit {
            written: AtomicU64::new(0),
            flushed: watch::Sender::new(0),
            pending: Notify::new(),
        }
    }

    /// Waits until the writes so far are on disk.
    async fn durable(&self) -> Result<(), StateError> {
        self.wait(self.note()).await
    }

    /// A ticket for the writes so far, flushed at the next flush someone asks for.
    fn note(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Asks for a flush when `needed`.
    fn request_if(&self, needed: bool) {
        if needed {
            self.pending.notify_one();
        }
    }

    fn is_durable(&self, ticket: u64) -> bool {
        *self.flushed.borrow() >= ticket
    }

    /// Waits until the flush of `ticket` has finished, asking for one if needed.
    async fn wait(&self, ticket: u64) -> Result<(), StateError> {
        let mut flushed = self.flushed.subscribe();
        self.request_if(!self.is_durable(ticket));
        flushed
            .wait_for(|done| *done >= ticket)
            .await
            .map(drop)
            .map_err(|_| StateError::ShuttingDown)
    }

    async fn run(&self, store: &Arc<Store>, cancel: &CancellationToken) {
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

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let retry = Retry::default();
        for (attempts, full) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            let delay = backoff(retry, attempts, "a");
            let full = Duration::from_secs(full);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempts}: {delay:?} of {full:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_a_burst_then_one_a_second() {
        let mut bucket = Bucket::new(Pacing::default());
        let mut sent = Vec::new();
        let start = Instant::now();
        for _ in 0..6 {
            let delay = bucket.delay();
            tokio::time::sleep(delay).await;
            bucket.take();
            sent.push(start.elapsed().as_secs());
        }
        assert_eq!(sent, [0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn no_pacing_never_waits() {
        let mut bucket = Bucket::new(Pacing {
            per_second: 0.0,
            burst: 1,
        });
        for _ in 0..1000 {
            assert_eq!(bucket.delay(), Duration::ZERO);
            bucket.take();
        }
    }
}
