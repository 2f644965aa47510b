//! What every store does, whatever holds it: the one interface the rest of hookwarden
//! uses, so that the sled store and others cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::audit::{self, AuditEntry, Draft};
use super::outbox::{AlertRecord, Enqueued, Health, NewAlert};
use super::{Applied, Digests, SledStore, StateError, SyncedDirectory, Writes};

/// A store of the applied state, the audit log, the directory and the alert outbox.
///
/// Writes are durable when the call returns, except [`Backend::enqueue`], whose writes
/// are durable after the next [`Backend::flush`] (group commit: many enqueues share one).
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The state directory, for messages and the admin socket beside it.
    fn dir(&self) -> &Path;

    /// Whether other processes may use this store meanwhile (a database several daemons
    /// share): each webhook is then delivered under a lease ([`Backend::lease`]), and a
    /// daemon looks in the store for alerts others took in and applies others made.
    fn shared(&self) -> bool {
        false
    }

    /// Renews for `lease` the leases `holder` has, and takes those of `wanted` that no
    /// daemon holds or whose lease has expired. A store of one process's own has no
    /// leases: it holds every webhook.
    fn lease(&self, holder: &str, wanted: &[String], lease: Duration) -> Result<Leases, StateError> {
        let _ = (holder, lease);
        Ok(Leases {
            held: wanted.iter().cloned().collect(),
            taken: BTreeSet::new(),
        })
    }

    /// Lets `holder`'s leases expire now, so that another daemon takes its webhooks over
    /// at once (a daemon that stops).
    fn release(&self, holder: &str) -> Result<(), StateError> {
        let _ = holder;
        Ok(())
    }

    /// Whether the store answers now (a database); the sled store always does.
    fn reachable(&self) -> Result<(), StateError> {
        Ok(())
    }

    /// The serial of the applied state, cheaper than [`Backend::applied`].
    fn serial(&self) -> Result<u64, StateError> {
        Ok(self.applied()?.serial)
    }

    /// The applied state as the last apply left it.
    fn applied(&self) -> Result<Applied, StateError>;

    /// Stores `writes` and the audit entry at once, if the serial is still
    /// `expected_serial` ([`StateError::Stale`] otherwise). Returns the new serial.
    fn commit(&self, expected_serial: u64, writes: &Writes, draft: &Draft) -> Result<u64, StateError>;

    /// Records the file's ciphertext digests of secrets whose plaintexts are the applied
    /// ones, if the serial is still `digests.serial`, without changing the serial or the
    /// audit log: they only spare a later plan the decryption. Whether they were stored.
    fn record_digests(&self, digests: &Digests) -> Result<bool, StateError>;

    /// The directory as last synced, if ever.
    fn directory(&self) -> Result<Option<SyncedDirectory>, StateError>;

    /// Replaces the stored directory in one write.
    fn replace_directory(&self, synced: &SyncedDirectory) -> Result<(), StateError>;

    /// Where the audit log must end: the serial and the hash of the newest entry.
    fn audit_head(&self) -> Result<audit::Head, StateError>;

    /// The audit log, oldest first.
    fn history(&self) -> Result<Vec<AuditEntry>, StateError>;

    /// The newest `count` audit entries, newest first.
    fn latest_history(&self, count: usize) -> Result<Vec<AuditEntry>, StateError>;

    /// Queues `alerts`, each behind the ones queued before for its webhook, unless a
    /// queued or recent alert has the same key. Durable after the next flush.
    fn enqueue(&self, alerts: Vec<NewAlert>, now_ms: u64) -> Result<Vec<Enqueued>, StateError>;

    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StateError>;

    /// The oldest queued alert of `webhook`.
    fn next_queued(&self, webhook: &str) -> Result<Option<AlertRecord>, StateError>;

    /// Up to `count` of `webhook`'s queued alerts, oldest first.
    fn queued_head(&self, webhook: &str, count: usize) -> Result<Vec<AlertRecord>, StateError>;

    /// How many alerts each webhook has queued.
    fn queued_counts(&self) -> Result<BTreeMap<String, usize>, StateError>;

    /// One alert, in whatever state it is.
    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError>;

    /// Stores a queued alert's new attempt count, error and next attempt.
    fn update_alert(&self, record: &AlertRecord) -> Result<(), StateError>;

    /// Takes a delivered or failed alert off its queue (a failed one is kept as a dead
    /// letter).
    fn finish_alert(&self, record: &AlertRecord) -> Result<(), StateError>;

    /// Queues a failed alert again as a new alert; the old one is marked `retried_as`.
    fn retry_alert(&self, id: &str, now_ms: u64) -> Result<Option<AlertRecord>, StateError>;

    /// The dead letters after the one `after` names (from the oldest without it), oldest
    /// first, at most `limit`.
    fn failed_alerts(&self, after: Option<&str>, limit: usize) -> Result<Vec<AlertRecord>, StateError>;

    /// How many dead letters there are.
    fn failed_count(&self) -> Result<usize, StateError>;

    fn set_health(&self, webhook: &str, health: &Health) -> Result<(), StateError>;

    fn health(&self, webhook: &str) -> Result<Option<Health>, StateError>;

    /// Every webhook's health, by webhook.
    fn healths(&self) -> Result<BTreeMap<String, Health>, StateError>;

    /// Removes what is past keeping (delivered alerts, old dead letters, expired keys);
    /// returns how many records went.
    fn prune(&self, now_ms: u64) -> Result<usize, StateError>;
}

/// The store as the rest of hookwarden holds it.
pub type Store = dyn Backend;

impl dyn Backend {
    /// Opens (creating when missing) the sled state in `dir`, for this process alone.
    /// `holder` describes this process in the lock file, for whoever finds it locked.
    pub fn open(dir: &Path, holder: &str) -> Result<Arc<Store>, StateError> {
        Ok(Arc::new(SledStore::open(dir, holder)?))
    }

    /// Whether another process holds the state in `dir` (without opening it).
    pub fn is_held(dir: &Path) -> bool {
        SledStore::is_held(dir)
    }
}

/// The sled store's methods are its own; the trait hands them on.
macro_rules! delegate {
    ($($name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret {
            SledStore::$name(self $(, $arg)*)
        })*
    };
}

impl Backend for SledStore {
    delegate! {
        dir(&self) -> &Path;
        applied(&self) -> Result<Applied, StateError>;
        commit(&self, expected_serial: u64, writes: &Writes, draft: &Draft) -> Result<u64, StateError>;
        record_digests(&self, digests: &Digests) -> Result<bool, StateError>;
        directory(&self) -> Result<Option<SyncedDirectory>, StateError>;
        replace_directory(&self, synced: &SyncedDirectory) -> Result<(), StateError>;
        audit_head(&self) -> Result<audit::Head, StateError>;
        history(&self) -> Result<Vec<AuditEntry>, StateError>;
        latest_history(&self, count: usize) -> Result<Vec<AuditEntry>, StateError>;
        enqueue(&self, alerts: Vec<NewAlert>, now_ms: u64) -> Result<Vec<Enqueued>, StateError>;
        flush(&self) -> Result<(), StateError>;
        next_queued(&self, webhook: &str) -> Result<Option<AlertRecord>, StateError>;
        queued_head(&self, webhook: &str, count: usize) -> Result<Vec<AlertRecord>, StateError>;
        queued_counts(&self) -> Result<BTreeMap<String, usize>, StateError>;
        alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError>;
        update_alert(&self, record: &AlertRecord) -> Result<(), StateError>;
        finish_alert(&self, record: &AlertRecord) -> Result<(), StateError>;
        retry_alert(&self, id: &str, now_ms: u64) -> Result<Option<AlertRecord>, StateError>;
        failed_alerts(&self, after: Option<&str>, limit: usize) -> Result<Vec<AlertRecord>, StateError>;
        failed_count(&self) -> Result<usize, StateError>;
        set_health(&self, webhook: &str, health: &Health) -> Result<(), StateError>;
        health(&self, webhook: &str) -> Result<Option<Health>, StateError>;
        healths(&self) -> Result<BTreeMap<String, Health>, StateError>;
        prune(&self, now_ms: u64) -> Result<usize, StateError>;
    }
}

/// The webhooks a daemon delivers after [`Backend::lease`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leases {
    /// Every webhook whose lease the holder has now.
    pub held: BTreeSet<String>,
    /// Those of them another daemon held before, whose lease had expired: their next
    /// message waits a pacing interval, since the last one may have just left.
    pub taken: BTreeSet<String>,
}

/// Everything a store holds, as its records are written, to copy one store into
/// another (`hookwarden store copy`).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub serial: u64,
    /// The hash of the newest audit entry.
    pub audit_head: String,
    /// The JSON records of the bot token, the directory and the routing, when set.
    pub token: Option<String>,
    pub directory: Option<String>,
    pub routing: Option<String>,
    /// Webhook id and JSON record.
    pub webhooks: Vec<(String, String)>,
    /// Serial and JSON entry, verbatim: the chain stays intact.
    pub audit: Vec<(u64, String)>,
    /// Sequence, whether it is in its webhook's queue, and the alert.
    pub alerts: Vec<(u64, bool, AlertRecord)>,
    /// Webhook, key, the alert's sequence and when it was seen.
    pub dedup: Vec<(String, String, u64, u64)>,
    /// Webhook and JSON health.
    pub health: Vec<(String, String)>,
}
