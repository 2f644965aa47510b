//! The state: the applied webhooks and token, the serial, the audit log, the synced
//! directory, each webhook's health and the alert outbox, behind one [`Backend`] trait.
//! The sled store ([`SledStore`], in a state directory) is the only module that touches
//! sled.

mod alerts;
pub mod audit;
mod backend;
mod outbox;
mod pg_intake;
mod postgres;
mod records;
mod sled_store;
#[cfg(test)]
mod store_tests;

use std::path::PathBuf;

pub use audit::{AuditChange, AuditEntry, Draft};
pub use backend::{Backend, Leases, Snapshot, Store};
pub use outbox::{
    AlertRecord, AlertStatus, DEDUP_WINDOW_MS, DigestRef, Enqueued, Health, HealthState, NewAlert,
};
pub use postgres::{PgStore, shown_url};
pub use records::{
    Applied, AppliedToken, AppliedWebhook, Digests, SealedSecret, SyncedDirectory, TokenFacts, TokenWrite,
    Writes,
};
pub use sled_store::SledStore;

/// The layout of the database. Bump it when records change incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot create the state directory {dir}")]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state directory {dir} is a file, not a directory")]
    NotADirectory { dir: PathBuf },
    #[error("cannot take the lock file {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state in {dir} is in use by another process ({holder})")]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot open the state in {dir}")]
    Open {
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error(
        "the state in {dir} was written by a newer hookwarden (state schema {found}; this one reads {SCHEMA_VERSION}): upgrade hookwarden"
    )]
    NewerSchema { dir: PathBuf, found: u32 },
    #[error("the state in {dir} is damaged: {what}")]
    Corrupt { dir: PathBuf, what: String },
    #[error("the daemon is shutting down")]
    ShuttingDown,
    #[error("the state changed since the plan was made (serial {expected}, now {actual})")]
    Stale { expected: u64, actual: u64 },
    #[error("cannot {operation} the state in {dir}")]
    Io {
        operation: &'static str,
        dir: PathBuf,
        #[source]
        source: sled::Error,
    },
    #[error("cannot write the state to disk: {reason}")]
    Unflushed { reason: String, full: bool },
    #[error("the PostgreSQL store {store}: {reason}")]
    Database { store: String, reason: String },
}

impl StateError {
    /// Whether a write failed for want of space (a full disk, a quota).
    pub fn is_storage_full(&self) -> bool {
        match self {
            StateError::Unflushed { full, .. } => *full,
            // sled keeps the OS error inside its own: its debug form names the kind.
            StateError::Io { source, .. } | StateError::Open { source, .. } => {
                let text = format!("{source:?}");
                text.contains("StorageFull") || text.contains("QuotaExceeded") || text.contains("code: 28")
            }
            _ => false,
        }
    }

    /// Whether the state could not be written (or read) just now, as opposed to a
    /// state that is wrong.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            StateError::Io { .. } | StateError::Unflushed { .. } | StateError::Database { .. }
        )
    }
}
