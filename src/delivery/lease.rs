//! Delivery from a store several daemons share: each webhook's alerts are sent by the
//! one daemon that holds its lease, so that order and pacing hold across hosts.
//!
//! A daemon renews its leases every [`Sharing::tick`] and asks for the lease of every
//! webhook it knows of (applied, or with alerts queued); whichever daemon asks first
//! holds a webhook until it stops renewing. It counts a lease as its own until the
//! lease's length after the renewal was *sent*, less a margin, which is never later
//! than the database counts it; a worker sends only while its daemon holds the lease.
//! So a daemon that dies or loses the database stops sending before another can take
//! the webhook over. A message in flight at that moment may reach Slack after its
//! webhook was taken over, and is then sent twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Outbox;
use crate::state::StateError;

/// How often the leases are renewed, at the most: also how soon a daemon sees the
/// alerts others took in.
const MAX_TICK: Duration = Duration::from_secs(1);

/// A daemon's share of a store several daemons share.
#[derive(Debug)]
pub(super) struct Sharing {
    /// This daemon as the leases name it: `user@host pid N` and when it started.
    holder: String,
    lease: Duration,
    /// The webhooks this daemon holds, each until when it counts the lease its own.
    held: Mutex<HashMap<String, Instant>>,
    /// Webhooks taken over from another daemon whose worker has not started since.
    taken: Mutex<HashSet<String>>,
}

impl Sharing {
    pub(super) fn new(lease: Duration) -> Self {
        let started = crate::clock::now_ms();
        Sharing {
            holder: format!(
                "{} pid {} at {started}",
                crate::actor::local(),
                std::process::id()
            ),
            lease,
            held: Mutex::new(HashMap::new()),
            taken: Mutex::new(HashSet::new()),
        }
    }

    /// How often to renew: thrice a lease, and at least every second.
    pub(super) fn tick(&self) -> Duration {
        (self.lease / 3).min(MAX_TICK)
    }

    /// How long this daemon still holds `webhook`'s lease.
    pub(super) fn left(&self, webhook: &str) -> Duration {
        self.held
            .lock()
            .expect("never poisoned")
            .get(webhook)
            .map_or(Duration::ZERO, |until| {
                until.saturating_duration_since(Instant::now())
            })
    }

    pub(super) fn holds(&self, webhook: &str) -> bool {
        self.held
            .lock()
            .expect("never poisoned")
            .get(webhook)
            .is_some_and(|until| Instant::now() < *until)
    }

    /// Whether `webhook` was taken from another daemon since its worker last started.
    pub(super) fn take_taken(&self, webhook: &str) -> bool {
        self.taken.lock().expect("never poisoned").remove(webhook)
    }
}

impl Outbox {
    /// On a shared store: renews this daemon's leases and takes those that no daemon
    /// holds of the webhooks it can send to (`sendable`), and of those with queued
    /// alerts that are not `applied` any more (whose alerts it fails); wakes the workers
    /// of the webhooks it holds. A webhook applied but not loaded here yet, or that this
    /// daemon's identity cannot open, is left to the others. Returns the webhooks taken
    /// over from a daemon whose lease had expired. Does nothing on a store of the
    /// daemon's own.
    pub fn keep_leases(
        self: &Arc<Self>,
        sendable: &[String],
        applied: &HashSet<String>,
    ) -> Result<Vec<String>, StateError> {
        let Some(sharing) = &self.sharing else {
            return Ok(Vec::new());
        };
        let counts = self.store.queued_counts()?;
        let held: HashSet<String> = sharing
            .held
            .lock()
            .expect("never poisoned")
            .keys()
            .cloned()
            .collect();
        let gone = counts.keys().filter(|webhook| !applied.contains(*webhook));
        let mut wanted: Vec<String> = sendable
            .iter()
            .chain(gone)
            .filter(|webhook| !held.contains(*webhook))
            .cloned()
            .collect();
        wanted.sort();
        wanted.dedup();
        let sent = Instant::now();
        let leases = self.store.lease(&sharing.holder, &wanted, sharing.lease)?;
        // A tenth of the lease, and at least a tick, for the time the answer took to come
        // and for a worker that checked just before it was due.
        let margin = (sharing.lease / 10).max(sharing.tick());
        let until = sent + sharing.lease.saturating_sub(margin);
        let lost: Vec<String> = held
            .difference(&leases.held.iter().cloned().collect())
            .cloned()
            .collect();
        if !lost.is_empty() || held.len() != leases.held.len() {
            let names: Vec<&str> = leases.held.iter().take(10).map(String::as_str).collect();
            let more = leases.held.len().saturating_sub(names.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            tracing::info!(
                "delivering {} of the shared store's webhooks: {}{more}",
                leases.held.len(),
                names.join(", ")
            );
        }
        {
            let mut held = sharing.held.lock().expect("never poisoned");
            held.clear();
            held.extend(leases.held.iter().map(|webhook| (webhook.clone(), until)));
        }
        sharing
            .taken
            .lock()
            .expect("never poisoned")
            .extend(leases.taken.iter().cloned());
        // A worker whose lease went ends now, an idle one too, so that a lease taken back
        // later starts a fresh worker, paced as a takeover.
        {
            let workers = self.workers.lock().expect("never poisoned");
            for webhook in &lost {
                if let Some(notify) = workers.get(webhook) {
                    notify.notify_one();
                }
            }
        }
        // The depths are the store's: other daemons took alerts in, and sent them.
        for webhook in sendable.iter().chain(counts.keys()) {
            let count = counts.get(webhook).copied().unwrap_or(0);
            self.metrics
                .depth(webhook)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.queued.store(counts.values().sum(), Ordering::Relaxed);
        for webhook in counts.keys() {
            self.wake(webhook);
        }
        Ok(leases.taken.into_iter().collect())
    }

    /// What the last look at a shared store found: `/readyz`, `/healthz` and the console
    /// say so while it cannot be read, and intake answers 503 meanwhile anyway.
    pub fn store_answered(&self, looked: Result<(), &StateError>) {
        match looked {
            Ok(()) => {
                if self.commit.storage.is_failing() {
                    self.commit.storage.healthy();
                }
            }
            Err(error) => self.commit.storage.failing(error),
        }
    }

    /// How often [`Outbox::keep_leases`] runs, on a shared store.
    pub fn lease_tick(&self) -> Option<Duration> {
        self.sharing.as_ref().map(Sharing::tick)
    }

    /// How long this daemon may still send for `webhook`; `None` on a store of its own,
    /// where there is no lease.
    pub(super) fn lease_left(&self, webhook: &str) -> Option<Duration> {
        self.sharing.as_ref().map(|sharing| sharing.left(webhook))
    }

    /// Whether this daemon sends `webhook`'s alerts now: always, on a store of its own.
    pub(super) fn holds(&self, webhook: &str) -> bool {
        self.sharing.as_ref().is_none_or(|sharing| sharing.holds(webhook))
    }

    /// Lets this daemon's leases expire, once its workers have stopped.
    pub(super) fn release_leases(&self) {
        if let Some(sharing) = &self.sharing
            && let Err(error) = self.store.release(&sharing.holder)
        {
            tracing::warn!(%error, "cannot give up the leases; other daemons take the webhooks over when they expire");
        }
    }
}
