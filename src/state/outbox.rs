//! The alert outbox in sled: every accepted alert until it is delivered or has failed
//! for good, a FIFO per webhook, de-duplication keys, and each webhook's health.
//!
//! Trees: `alerts` (sequence number -> record), `queue` (webhook, NUL, sequence ->
//! nothing: each webhook's FIFO in key order), `failed` (sequence -> nothing: the dead
//! letters), `dedup` (key -> sequence and time), `health` (webhook -> health).

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

pub use super::alerts::{AlertRecord, AlertStatus, DigestRef, Enqueued, Health, HealthState, NewAlert};
use super::{SledStore, StateError};

/// How long a `key` de-duplicates.
pub const DEDUP_WINDOW_MS: u64 = 24 * 3600 * 1000;

fn seq_of(id: &str) -> Option<u64> {
    u64::from_str_radix(id, 16).ok()
}

fn queue_key(webhook: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(webhook.len() + 9);
    key.extend_from_slice(webhook.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Keys are per webhook: the same key for another webhook is another alert.
fn dedup_key(webhook: &str, key: &str) -> Vec<u8> {
    [webhook.as_bytes(), &[0], key.as_bytes()].concat()
}

fn abort(error: StateError) -> ConflictableTransactionError<StateError> {
    ConflictableTransactionError::Abort(error)
}

impl SledStore {
    /// Stores new alerts; for a key seen in the last 24 hours (also earlier in `alerts`),
    /// the earlier alert instead. Not yet durable: see [`Store::flush`].
    ///
    /// Without keys, each alert is two plain writes, its record and then its queue entry:
    /// a sled transaction would seal sled's write buffer every time, which costs more
    /// than the rest of the work. A crash between the two, before the flush that makes
    /// the alert accepted, leaves a record that nothing points to.
    pub fn enqueue(&self, alerts: Vec<NewAlert>, now_ms: u64) -> Result<Vec<Enqueued>, StateError> {
        let mut records = Vec::with_capacity(alerts.len());
        for alert in alerts {
            let seq = self.db.generate_id().map_err(|e| self.io("write", e))?;
            let window = alert.dedup_window_ms.unwrap_or(DEDUP_WINDOW_MS);
            let record = alert.into_record(seq, now_ms);
            let encoded = serde_json::to_vec(&record).expect("a record serializes");
            records.push((seq, record, encoded, window));
        }
        let plain = |record: &AlertRecord| record.key.is_none() && record.status == AlertStatus::Queued;
        if records.iter().all(|(_, record, _, _)| plain(record)) {
            let mut enqueued = Vec::with_capacity(records.len());
            for (seq, record, encoded, _) in records {
                self.alerts
                    .insert(seq.to_be_bytes(), encoded)
                    .map_err(|e| self.io("write", e))?;
                self.queue
                    .insert(queue_key(&record.webhook, seq), &[])
                    .map_err(|e| self.io("write", e))?;
                enqueued.push(Enqueued {
                    record,
                    duplicate: false,
                });
            }
            return Ok(enqueued);
        }
        let trees = (&self.alerts, &self.queue, &self.dedup, &self.failed);
        let result = trees.transaction(|(alerts, queue, dedup, dead)| {
            let mut enqueued = Vec::with_capacity(records.len());
            for (seq, record, encoded, window) in &records {
                let webhook = record.webhook.as_str();
                if let Some(key) = record.key.as_deref() {
                    let key = dedup_key(webhook, key);
                    if let Some(seen) = dedup.get(key.as_slice())? {
                        let (earlier, at) = decode_dedup(&seen);
                        if now_ms.saturating_sub(at) < *window
                            && let Some(bytes) = alerts.get(earlier.to_be_bytes())?
                        {
                            let record = self.decode(&bytes, "an alert").map_err(abort)?;
                            enqueued.push(Enqueued {
                                record,
                                duplicate: true,
                            });
                            continue;
                        }
                    }
                    dedup.insert(key.as_slice(), encode_dedup(*seq, now_ms).as_slice())?;
                }
                alerts.insert(&seq.to_be_bytes(), encoded.as_slice())?;
                if record.status == AlertStatus::Failed {
                    dead.insert(&seq.to_be_bytes(), &[])?;
                } else {
                    queue.insert(queue_key(webhook, *seq), &[])?;
                }
                enqueued.push(Enqueued {
                    record: record.clone(),
                    duplicate: false,
                });
            }
            Ok(enqueued)
        });
        self.transaction_result(result)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map(drop).map_err(|e| self.io("flush", e))
    }

    /// The oldest queued alert of `webhook`.
    pub fn next_queued(&self, webhook: &str) -> Result<Option<AlertRecord>, StateError> {
        Ok(self.queued_head(webhook, 1)?.pop())
    }

    /// The `count` oldest queued alerts of `webhook`, oldest first.
    pub fn queued_head(&self, webhook: &str, count: usize) -> Result<Vec<AlertRecord>, StateError> {
        let mut prefix = webhook.as_bytes().to_vec();
        prefix.push(0);
        let mut head = Vec::new();
        for entry in self.queue.scan_prefix(&prefix) {
            if head.len() >= count {
                break;
            }
            let (key, _) = entry.map_err(|e| self.io("read", e))?;
            if let Some(record) = self.still_queued(&key, prefix.len())? {
                head.push(record);
            }
        }
        Ok(head)
    }

    /// The alert of the queue entry `key` (its sequence number after `seq_at`), if it
    /// still waits. An entry whose alert finished just before a crash, or has no
    /// record, is cleared instead: done, not to be sent again.
    fn still_queued(&self, key: &[u8], seq_at: usize) -> Result<Option<AlertRecord>, StateError> {
        let seq = u64::from_be_bytes(key[seq_at..].try_into().unwrap_or_default());
        match self.record(seq)? {
            Some(record) if record.status == AlertStatus::Queued => return Ok(Some(record)),
            Some(record) => self.unqueue(&record, seq)?,
            None => {
                self.queue.remove(key).map_err(|e| self.io("write", e))?;
            }
        }
        Ok(None)
    }

    /// Every webhook with queued alerts, and how many each has.
    /// Queue entries of alerts that finished just before a crash are cleared first, as
    /// [`Store::next_queued`] would.
    pub fn queued_counts(&self) -> Result<std::collections::BTreeMap<String, usize>, StateError> {
        let mut counts = std::collections::BTreeMap::new();
        for entry in &self.queue {
            let (key, _) = entry.map_err(|e| self.io("read", e))?;
            let webhook = key.split(|b| *b == 0).next().unwrap_or_default();
            if self.still_queued(&key, webhook.len() + 1)?.is_some() {
                *counts
                    .entry(String::from_utf8_lossy(webhook).into_owned())
                    .or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    pub fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError> {
        match seq_of(id) {
            Some(seq) => self.record(seq),
            None => Ok(None),
        }
    }

    fn record(&self, seq: u64) -> Result<Option<AlertRecord>, StateError> {
        match self
            .alerts
            .get(seq.to_be_bytes())
            .map_err(|e| self.io("read", e))?
        {
            Some(bytes) => Ok(Some(self.decode(&bytes, "an alert")?)),
            None => Ok(None),
        }
    }

    /// Records an attempt that leaves the alert queued (a retry is due later).
    pub fn update_alert(&self, record: &AlertRecord) -> Result<(), StateError> {
        let seq = seq_of(&record.id).unwrap_or_default();
        let encoded = serde_json::to_vec(record).expect("a record serializes");
        self.alerts
            .insert(seq.to_be_bytes(), encoded)
            .map_err(|e| self.io("write", e))?;
        Ok(())
    }

    /// Takes a delivered or failed alert out of its queue. Durable at the next
    /// [`Store::flush`].
    ///
    /// Plain writes in this order, the record first: a crash between them leaves a
    /// finished alert in the queue, which [`Store::next_queued`] clears without sending.
    pub fn finish_alert(&self, record: &AlertRecord) -> Result<(), StateError> {
        let seq = seq_of(&record.id).unwrap_or_default();
        let encoded = serde_json::to_vec(record).expect("a record serializes");
        self.alerts
            .insert(seq.to_be_bytes(), encoded)
            .map_err(|e| self.io("write", e))?;
        self.unqueue(record, seq)
    }

    /// The queue entry of a finished alert removed; a failed one listed as such.
    fn unqueue(&self, record: &AlertRecord, seq: u64) -> Result<(), StateError> {
        if record.status == AlertStatus::Failed {
            self.failed
                .insert(seq.to_be_bytes(), &[])
                .map_err(|e| self.io("write", e))?;
        }
        self.queue
            .remove(queue_key(&record.webhook, seq))
            .map_err(|e| self.io("write", e))?;
        Ok(())
    }

    /// Puts a failed alert back at the end of its webhook's queue, under a new id, as a
    /// new alert (its 24 hours start again) that names it in `retry_of`; the failed one
    /// stays, naming the new one in `retried_as`. `None` for an unknown id; the alert as
    /// it is when it is not failed or was retried already (also when a concurrent retry
    /// won).
    pub fn retry_alert(&self, id: &str, now_ms: u64) -> Result<Option<AlertRecord>, StateError> {
        let Some(old) = seq_of(id) else { return Ok(None) };
        let seq = self.db.generate_id().map_err(|e| self.io("write", e))?;
        let result = (&self.alerts, &self.queue, &self.failed, &self.dedup).transaction(
            |(alerts, queue, dead, dedup)| {
                let Some(bytes) = alerts.get(old.to_be_bytes())? else {
                    return Ok(None);
                };
                let record: AlertRecord = self.decode(&bytes, "an alert").map_err(abort)?;
                if record.status != AlertStatus::Failed || record.retried_as.is_some() {
                    return Ok(Some(record));
                }
                let retried = AlertRecord {
                    id: format!("{seq:016x}"),
                    status: AlertStatus::Queued,
                    attempts: 0,
                    last_error: None,
                    created_at: now_ms,
                    next_attempt_at: now_ms,
                    digest: None,
                    alone: false,
                    retried_as: None,
                    retry_of: Some(record.id.clone()),
                    ..record.clone()
                };
                let encoded = serde_json::to_vec(&retried).expect("a record serializes");
                // The failed one is kept, as failed alerts are, saying where it went;
                // it is no longer a dead letter.
                let kept = AlertRecord {
                    retried_as: Some(retried.id.clone()),
                    ..record.clone()
                };
                let kept = serde_json::to_vec(&kept).expect("a record serializes");
                alerts.insert(&old.to_be_bytes(), kept.as_slice())?;
                dead.remove(&old.to_be_bytes())?;
                alerts.insert(&seq.to_be_bytes(), encoded.as_slice())?;
                queue.insert(queue_key(&retried.webhook, seq), &[])?;
                if let Some(key) = &retried.key {
                    let key = dedup_key(&retried.webhook, key);
                    dedup.insert(key, encode_dedup(seq, now_ms).as_slice())?;
                }
                Ok(Some(retried))
            },
        );
        let record = self.transaction_result(result)?;
        Ok(record)
    }

    /// The dead letters after the one `after` names (from the oldest without it), oldest
    /// first, at most `limit`.
    pub fn failed_alerts(&self, after: Option<&str>, limit: usize) -> Result<Vec<AlertRecord>, StateError> {
        let from = after
            .and_then(|id| u64::from_str_radix(id, 16).ok())
            .map_or(0, |seq| seq.saturating_add(1));
        let mut records = Vec::new();
        for entry in self.failed.range(from.to_be_bytes()..).take(limit) {
            let (key, _) = entry.map_err(|e| self.io("read", e))?;
            let seq = u64::from_be_bytes(key.as_ref().try_into().unwrap_or_default());
            records.extend(self.record(seq)?);
        }
        Ok(records)
    }

    /// How many dead letters there are.
    pub fn failed_count(&self) -> Result<usize, StateError> {
        Ok(self.failed.len())
    }

    pub fn set_health(&self, webhook: &str, health: &Health) -> Result<(), StateError> {
        let encoded = serde_json::to_vec(health).expect("health serializes");
        self.health
            .insert(webhook.as_bytes(), encoded)
            .map_err(|e| self.io("write", e))?;
        Ok(())
    }

    pub fn health(&self, webhook: &str) -> Result<Option<Health>, StateError> {
        match self
            .health
            .get(webhook.as_bytes())
            .map_err(|e| self.io("read", e))?
        {
            Some(bytes) => Ok(Some(self.decode(&bytes, "a webhook's health")?)),
            None => Ok(None),
        }
    }

    pub fn healths(&self) -> Result<std::collections::BTreeMap<String, Health>, StateError> {
        self.health
            .iter()
            .map(|entry| {
                let (key, value) = entry.map_err(|e| self.io("read", e))?;
                let health = self.decode(&value, "a webhook's health")?;
                Ok((String::from_utf8_lossy(&key).into_owned(), health))
            })
            .collect()
    }

    /// Forgets delivered alerts and de-duplication keys older than a day, and dead
    /// letters older than a week.
    pub fn prune(&self, now_ms: u64) -> Result<usize, StateError> {
        let mut removed = 0;
        for entry in &self.alerts {
            let (key, value) = entry.map_err(|e| self.io("read", e))?;
            let record: AlertRecord = self.decode(&value, "an alert")?;
            let age = now_ms.saturating_sub(record.created_at);
            let expired = match record.status {
                // Left by a crash between an alert's two writes, never acknowledged.
                AlertStatus::Queued => {
                    let seq = seq_of(&record.id).unwrap_or_default();
                    age > DEDUP_WINDOW_MS
                        && !self
                            .queue
                            .contains_key(queue_key(&record.webhook, seq))
                            .map_err(|e| self.io("read", e))?
                }
                AlertStatus::Delivered => age > DEDUP_WINDOW_MS,
                AlertStatus::Failed => age > 7 * DEDUP_WINDOW_MS,
            };
            if expired {
                self.alerts.remove(&key).map_err(|e| self.io("write", e))?;
                self.failed.remove(&key).map_err(|e| self.io("write", e))?;
                removed += 1;
            }
        }
        for entry in &self.dedup {
            let (key, value) = entry.map_err(|e| self.io("read", e))?;
            if now_ms.saturating_sub(decode_dedup(&value).1) >= DEDUP_WINDOW_MS {
                self.dedup.remove(&key).map_err(|e| self.io("write", e))?;
            }
        }
        Ok(removed)
    }
}

impl SledStore {
    /// Everything this store holds, for `store copy`.
    pub fn snapshot(&self) -> Result<super::Snapshot, StateError> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        let read = |e| self.io("read", e);
        let meta = |key: &[u8]| -> Result<Option<String>, StateError> {
            Ok(self.meta.get(key).map_err(read)?.map(|v| text(&v)))
        };
        let mut snapshot = super::Snapshot {
            serial: self.applied()?.serial,
            audit_head: meta(b"audit_head")?.unwrap_or_default(),
            token: meta(b"bot_token")?,
            directory: meta(b"directory")?,
            routing: meta(b"routing")?,
            ..super::Snapshot::default()
        };
        for entry in &self.webhooks {
            let (key, value) = entry.map_err(read)?;
            snapshot.webhooks.push((text(&key), text(&value)));
        }
        for entry in &self.audit {
            let (key, value) = entry.map_err(read)?;
            let serial = self.decode_u64(&key, "an audit serial")?;
            snapshot.audit.push((serial, text(&value)));
        }
        for entry in &self.alerts {
            let (key, value) = entry.map_err(read)?;
            let seq = self.decode_u64(&key, "an alert's sequence")?;
            let record: AlertRecord = self.decode(&value, "an alert")?;
            let queued = self
                .queue
                .contains_key(queue_key(&record.webhook, seq))
                .map_err(read)?;
            snapshot.alerts.push((seq, queued, record));
        }
        for entry in &self.dedup {
            let (key, value) = entry.map_err(read)?;
            let mut parts = key.splitn(2, |b| *b == 0);
            let webhook = text(parts.next().unwrap_or_default());
            let key = text(parts.next().unwrap_or_default());
            let (seq, at) = decode_dedup(&value);
            snapshot.dedup.push((webhook, key, seq, at));
        }
        for entry in &self.health {
            let (key, value) = entry.map_err(read)?;
            snapshot.health.push((text(&key), text(&value)));
        }
        Ok(snapshot)
    }
}

fn encode_dedup(seq: u64, at_ms: u64) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8..].copy_from_slice(&at_ms.to_be_bytes());
    bytes
}

fn decode_dedup(bytes: &[u8]) -> (u64, u64) {
    let number = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    (number(0..8), number(8..16))
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
