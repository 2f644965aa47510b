//! A webhook's worker: the oldest queued alert, sent when pacing and any wait allow,
//! alone or in a digest with the alerts after it, and what Slack answered recorded for
//! every alert the message carried.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;

use super::pacing::{Bucket, backoff};
use super::{Outbox, UNFLUSHED_DELIVERIES, digest};
use crate::clock::{millis, now_ms};
use crate::metrics::{FailureLabels, WebhookLabel};
use crate::slack::{HookState, Refusal, hook_state};
use crate::state::{AlertRecord, AlertStatus, DigestRef, Health, HealthState, StateError};

impl Outbox {
    pub(super) async fn work(&self, webhook: &str, notify: &Notify) {
        // Taken over from another daemon, whose last message may have just left.
        let mut bucket = if self.sharing.as_ref().is_some_and(|s| s.take_taken(webhook)) {
            Bucket::spent(self.pacing)
        } else {
            Bucket::new(self.pacing)
        };
        let mut unflushed = VecDeque::new();
        loop {
            // On a shared store, this daemon sends only under the webhook's lease.
            if !self.holds(webhook) {
                self.retire(webhook);
                return;
            }
            while unflushed
                .front()
                .is_some_and(|ticket| self.commit.is_durable(*ticket))
            {
                unflushed.pop_front();
            }
            // While the state cannot be written, nothing is sent: a delivery that could
            // not be recorded would be sent again.
            if self.commit.storage.is_failing() || !self.write_back(webhook) {
                self.commit.request_if(true);
                tokio::select! {
                    () = tokio::time::sleep(STORAGE_RETRY) => {}
                    () = self.cancel.cancelled() => return,
                }
                // What waits to be written first; then whether the store takes writes.
                if self.write_back(webhook) {
                    self.commit.storage.probe(&*self.store);
                }
                continue;
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
                if !self.until_durable(oldest).await {
                    return;
                }
                continue;
            }
            let carried = self.carried(webhook, record);
            // A digest whose recording failed is not sent: its outcome could not be kept.
            // Nor is anything once the lease lapsed while the store answered.
            if self.commit.storage.is_failing() || !self.holds(webhook) {
                continue;
            }
            bucket.take();
            let digest = carried.len() > 1;
            let ticket = self.attempt(carried).await;
            bucket.settle();
            // A digest is many alerts: it is on disk before the next message goes, so that
            // a crash repeats at most the one in flight.
            if digest && let Some(ticket) = ticket {
                if !self.until_durable(ticket).await {
                    return;
                }
            } else {
                unflushed.extend(ticket);
            }
        }
    }

    /// Ends `webhook`'s worker: its lease is gone. A later lease starts another.
    fn retire(&self, webhook: &str) {
        tracing::info!(
            webhook,
            "not delivering this webhook any more: its lease lapsed, and another daemon may take it over"
        );
        self.workers.lock().expect("never poisoned").remove(webhook);
        // Outcomes not yet written are the new holder's to find in the store: written
        // later, they would overwrite what it recorded since.
        self.unwritten.lock().expect("never poisoned").remove(webhook);
    }

    /// Waits for the flush of `ticket`; false when the daemon stops. A flush that failed
    /// leaves the storage failing, which pauses the worker at the top of its loop.
    async fn until_durable(&self, ticket: u64) -> bool {
        tokio::select! {
            flushed = self.commit.wait(ticket) => !matches!(flushed, Err(StateError::ShuttingDown)),
            () = self.cancel.cancelled() => false,
        }
    }

    /// The alerts the next message carries, `head` first: the digest formed for it
    /// before, a new digest when more alerts are ready than the burst, or `head` alone.
    fn carried(&self, webhook: &str, head: AlertRecord) -> Vec<AlertRecord> {
        if let Some(digest) = head.digest.clone() {
            return self.reformed(head, &digest);
        }
        let Some(max) = self
            .pacing
            .digest_max
            .filter(|_| self.pacing.per_second > 0.0 && !head.alone)
        else {
            return vec![head];
        };
        let burst = usize::try_from(self.pacing.burst).unwrap_or(usize::MAX);
        let queued = match self.store.queued_head(webhook, max.max(burst.saturating_add(1))) {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(webhook, %error, "cannot read the outbox");
                return vec![head];
            }
        };
        let now = now_ms();
        let mut ready: Vec<AlertRecord> = queued
            .into_iter()
            .take_while(|r| r.next_attempt_at <= now && !r.alone && r.digest.is_none())
            .collect();
        if ready.len() <= burst || ready.first().map(|r| &r.id) != Some(&head.id) {
            return vec![head];
        }
        let payloads: Vec<&serde_json::Value> = ready.iter().map(|r| &r.payload).collect();
        let count = digest::fits(&payloads, max);
        if count < 2 {
            return vec![head];
        }
        ready.truncate(count);
        // Recorded before it is sent, so that a retry, or a restart, sends the same one.
        let digest = DigestRef {
            id: format!("d{}", ready[0].id),
            alerts: ready.iter().map(|r| r.id.clone()).collect(),
        };
        for record in &mut ready {
            record.digest = Some(digest.clone());
            self.save(record);
        }
        ready
    }

    /// A digest formed before, with those of its alerts that still wait.
    fn reformed(&self, head: AlertRecord, digest: &DigestRef) -> Vec<AlertRecord> {
        let head_id = head.id.clone();
        let mut records = vec![head];
        for id in digest.alerts.iter().filter(|id| **id != head_id) {
            match self.store.alert(id) {
                Ok(Some(record))
                    if record.status == AlertStatus::Queued && record.digest.as_ref() == Some(digest) =>
                {
                    records.push(record);
                }
                Ok(_) => {}
                Err(error) => tracing::error!(alert = %id, %error, "cannot read an alert of a digest"),
            }
        }
        records
    }

    /// One send of `records` in one message, and what it leaves behind: the commit
    /// ticket of their deliveries or failures, when they left the queue.
    async fn attempt(&self, mut records: Vec<AlertRecord>) -> Option<u64> {
        let webhook = records[0].webhook.clone();
        let url = self
            .webhooks
            .read()
            .expect("never poisoned")
            .get(&webhook)
            .cloned();
        let Some(url) = url else {
            return self.finish_all(records, &Err("webhook_deleted".to_owned()));
        };
        for record in &mut records {
            record.attempts += 1;
        }
        let payload = {
            let payloads: Vec<&serde_json::Value> = records.iter().map(|r| &r.payload).collect();
            digest::message(&payloads)
        };
        let sent = self.client.post_webhook(&url, &payload);
        // Under a lease, a request does not outlive it: once it ran out another daemon
        // may send these alerts, and two requests must not be in flight for one webhook.
        let answer = if self.lease_left(&webhook).is_none() {
            sent.await
        } else {
            tokio::pin!(sent);
            loop {
                let left = self.lease_left(&webhook).unwrap_or_default();
                if left.is_zero() {
                    tracing::warn!(%webhook, "the lease ran out while a message was in flight; its alerts stay queued for whichever daemon takes the webhook over");
                    return None;
                }
                // The lease is renewed meanwhile, as a rule: look again when it would end.
                tokio::select! {
                    answer = &mut sent => break answer,
                    () = tokio::time::sleep(left) => {}
                }
            }
        };
        match answer {
            Ok(()) => {
                self.health(&webhook, HealthState::Healthy, None);
                if records.len() > 1 {
                    let label = WebhookLabel { webhook };
                    self.metrics.digests.get_or_create(&label).inc();
                    self.metrics
                        .digest_alerts
                        .get_or_create(&label)
                        .inc_by(records.len() as u64);
                }
                self.finish_all(records, &Ok(()))
            }
            Err(refusal) => self.refused(records, refusal),
        }
    }

    /// What a refusal leaves: a later attempt, or the alerts failed for good.
    fn refused(&self, mut records: Vec<AlertRecord>, refusal: Refusal) -> Option<u64> {
        let webhook = records[0].webhook.clone();
        match refusal {
            Refusal::RateLimited(delay) => {
                self.metrics
                    .rate_limited
                    .get_or_create(&WebhookLabel {
                        webhook: webhook.clone(),
                    })
                    .inc();
                tracing::info!(%webhook, ?delay, "Slack rate-limited the webhook; waiting as Retry-After asks");
                self.retry_later(records, "rate_limited", delay.min(MAX_RETRY_AFTER))
            }
            Refusal::Retryable(reason) => {
                self.health(&webhook, HealthState::Failing, Some(&reason));
                let delay = backoff(self.retry, records[0].attempts, &records[0].id);
                tracing::warn!(%webhook, %reason, ?delay, "delivery failed; retrying");
                self.retry_later(records, &reason, delay)
            }
            Refusal::Permanent(error) => {
                let state = match hook_state(&error) {
                    HookState::Dead => Some(HealthState::Revoked),
                    HookState::MessageRefused if records.len() > 1 => {
                        // What one alert holds must not fail the others: each goes alone.
                        tracing::warn!(%webhook, %error, "Slack refused a digest for what it holds; its alerts are sent one by one");
                        for record in &mut records {
                            record.digest = None;
                            record.alone = true;
                            self.save(record);
                        }
                        return None;
                    }
                    HookState::MessageRefused => None,
                    HookState::Failing => Some(HealthState::Failing),
                };
                if let Some(state) = state {
                    self.health(&webhook, state, Some(&error));
                }
                let ticket = self.finish_all(records, &Err(error.clone()));
                if state == Some(HealthState::Revoked) {
                    return ticket.max(self.fail_queue(&webhook, &error));
                }
                ticket
            }
        }
    }

    /// Keeps each of `records` queued for another attempt after `delay` (they stay in
    /// their queue, so nothing waits on a flush), or fails it when it waited too long.
    fn retry_later(&self, records: Vec<AlertRecord>, error: &str, delay: Duration) -> Option<u64> {
        let mut ticket = None;
        for mut record in records {
            if self.expired(&record) {
                ticket = ticket.max(Some(self.finish(record, Err(format!("expired: {error}")))));
                continue;
            }
            record.next_attempt_at = now_ms().saturating_add(millis(delay));
            record.last_error = Some(error.to_owned());
            self.save(&record);
        }
        ticket
    }

    /// Fails every alert still queued for `webhook`, which Slack says is gone: one
    /// request told, the others need not ask again. They stay dead letters, to retry
    /// once the webhook is replaced.
    fn fail_queue(&self, webhook: &str, error: &str) -> Option<u64> {
        // One pass, bounded: what is queued beyond it fails after the next request.
        let queued = match self.store.queued_head(webhook, FAIL_AT_ONCE) {
            Ok(queued) => queued,
            Err(error) => {
                tracing::error!(webhook, %error, "cannot read the outbox");
                return None;
            }
        };
        if queued.is_empty() {
            return None;
        }
        tracing::warn!(webhook, count = queued.len(), %error, "the webhook is gone; its queued alerts fail with it");
        self.finish_all(queued, &Err(error.to_owned()))
    }

    /// Records that every one of `records` left its queue; the last commit ticket.
    fn finish_all(&self, records: Vec<AlertRecord>, outcome: &Result<(), String>) -> Option<u64> {
        records
            .into_iter()
            .map(|record| self.finish(record, outcome.clone()))
            .max()
    }

    fn expired(&self, record: &AlertRecord) -> bool {
        Duration::from_millis(now_ms().saturating_sub(record.created_at)) >= self.retry.give_up_after
    }

    fn save(&self, record: &AlertRecord) {
        if let Err(error) = self.store.update_alert(record) {
            self.unrecorded(record.clone(), &error);
        }
    }

    /// An outcome the store could not take: kept to write again before this webhook
    /// sends anything more, so that what Slack already has is not sent again.
    fn unrecorded(&self, record: AlertRecord, error: &StateError) {
        tracing::error!(webhook = %record.webhook, alert = %record.id, %error, "cannot record a delivery; the webhook waits until the state can be written");
        self.commit.storage.failing(error);
        self.unwritten
            .lock()
            .expect("never poisoned")
            .entry(record.webhook.clone())
            .or_default()
            .push(record);
    }

    /// Writes what `webhook` could not record before; false while the store refuses.
    pub(super) fn write_back(&self, webhook: &str) -> bool {
        let pending = self.unwritten.lock().expect("never poisoned").remove(webhook);
        let Some(mut pending) = pending else {
            return true;
        };
        while let Some(record) = pending.first() {
            let written = if record.status == AlertStatus::Queued {
                self.store.update_alert(record)
            } else {
                self.store.finish_alert(record)
            };
            if let Err(error) = written {
                self.commit.storage.failing(&error);
                self.unwritten
                    .lock()
                    .expect("never poisoned")
                    .insert(webhook.to_owned(), pending);
                return false;
            }
            pending.remove(0);
        }
        true
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
            self.unrecorded(record, &error);
        }
        self.commit.note()
    }

    fn health(&self, webhook: &str, state: HealthState, error: Option<&str>) {
        self.metrics.set_health(webhook, state);
        let now = now_ms();
        // A failure keeps when the webhook last delivered.
        let last_delivered_at = if state == HealthState::Healthy {
            Some(now)
        } else {
            self.store
                .health(webhook)
                .ok()
                .flatten()
                .and_then(|h| h.last_delivered_at)
        };
        let health = Health {
            state,
            last_error: error.map(str::to_owned),
            updated_at: now,
            last_delivered_at,
        };
        if let Err(error) = self.store.set_health(webhook, &health) {
            tracing::error!(webhook, %error, "cannot record a webhook's health");
        }
    }
}
/// The most queued alerts a revoked webhook fails at once.
const FAIL_AT_ONCE: usize = 1000;

/// How often a worker that waits for the state to be writable tries again.
const STORAGE_RETRY: Duration = Duration::from_secs(1);

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
