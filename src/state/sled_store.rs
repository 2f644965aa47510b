//! The sled store: the state directory holds a sled database with the applied webhooks
//! and token, the serial, the audit log, the directory and the outbox
//! ([`super::outbox`]).
//!
//! One process at a time: a lock file beside the database names its holder, so a
//! second process is told who has the state instead of getting sled's raw error. An
//! apply is one sled transaction followed by a flush, so after a crash the state is
//! either the old one or the new one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::audit::{self, AuditEntry, Draft};
use super::{
    Applied, AppliedWebhook, Digests, SCHEMA_VERSION, StateError, SyncedDirectory, TokenWrite, Writes,
};
use crate::routes::Routing;

const SCHEMA_KEY: &[u8] = b"schema_version";
const SERIAL_KEY: &[u8] = b"serial";
const TOKEN_KEY: &[u8] = b"bot_token";
const AUDIT_HEAD_KEY: &[u8] = b"audit_head";
const DIRECTORY_KEY: &[u8] = b"directory";
const ROUTING_KEY: &[u8] = b"routing";

/// An open, locked state directory.
#[derive(Debug)]
pub struct SledStore {
    pub(super) dir: PathBuf,
    pub(super) db: sled::Db,
    pub(super) meta: sled::Tree,
    pub(super) webhooks: sled::Tree,
    pub(super) audit: sled::Tree,
    pub(super) alerts: sled::Tree,
    pub(super) queue: sled::Tree,
    pub(super) failed: sled::Tree,
    pub(super) dedup: sled::Tree,
    pub(super) health: sled::Tree,
    pub(super) _lock: File,
}
impl SledStore {
    /// Opens (creating when missing) the state in `dir`, for this process alone.
    /// `holder` describes this process in the lock file, for whoever finds it locked.
    pub fn open(dir: &Path, holder: &str) -> Result<Self, StateError> {
        if dir.exists() && !dir.is_dir() {
            return Err(StateError::NotADirectory { dir: dir.to_owned() });
        }
        // What sled creates (its log, snapshots, blobs) is for this user alone, as is
        // anything else this process writes from here on (plan files, the socket).
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        create_private_dir(dir).map_err(|source| StateError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let lock = lock(dir, holder)?;
        make_private(dir);
        let db = sled::Config::new()
            .path(dir.join("db"))
            .open()
            .map_err(|source| StateError::Open {
                dir: dir.to_owned(),
                source,
            })?;
        let io = |operation| {
            let dir = dir.to_owned();
            move |source| StateError::Io {
                operation,
                dir,
                source,
            }
        };
        let store = SledStore {
            meta: db.open_tree("meta").map_err(io("open"))?,
            webhooks: db.open_tree("webhooks").map_err(io("open"))?,
            audit: db.open_tree("audit").map_err(io("open"))?,
            alerts: db.open_tree("alerts").map_err(io("open"))?,
            queue: db.open_tree("queue").map_err(io("open"))?,
            failed: db.open_tree("failed").map_err(io("open"))?,
            dedup: db.open_tree("dedup").map_err(io("open"))?,
            health: db.open_tree("health").map_err(io("open"))?,
            db,
            dir: dir.to_owned(),
            _lock: lock,
        };
        store.check_schema()?;
        Ok(store)
    }

    /// Whether another process holds the state in `dir` (without opening it).
    pub fn is_held(dir: &Path) -> bool {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(dir.join("lock")) else {
            return false;
        };
        matches!(file.try_lock(), Err(TryLockError::WouldBlock))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_schema(&self) -> Result<(), StateError> {
        let found = self.meta.get(SCHEMA_KEY).map_err(|e| self.io("read", e))?;
        match found
            .map(|v| self.decode_u64(&v, "the schema version"))
            .transpose()?
        {
            None => {
                self.meta
                    .insert(SCHEMA_KEY, &u64::from(SCHEMA_VERSION).to_be_bytes())
                    .map_err(|e| self.io("write", e))?;
                self.db.flush().map_err(|e| self.io("write", e))?;
                Ok(())
            }
            Some(found) if found <= u64::from(SCHEMA_VERSION) => Ok(()),
            Some(found) => Err(StateError::NewerSchema {
                dir: self.dir.clone(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
            }),
        }
    }

    /// The applied state as the last apply left it.
    pub fn applied(&self) -> Result<Applied, StateError> {
        let serial = self.applied_serial()?;
        let webhooks = self.applied_webhooks()?;
        let token = match self.meta.get(TOKEN_KEY).map_err(|e| self.io("read", e))? {
            Some(bytes) => Some(self.decode(&bytes, "the bot token record")?),
            None => None,
        };
        let routing = match self.meta.get(ROUTING_KEY).map_err(|e| self.io("read", e))? {
            Some(bytes) => self.decode(&bytes, "the routing record")?,
            None => Routing::default(),
        };
        Ok(Applied {
            serial,
            webhooks,
            token,
            routing,
        })
    }

    /// The applied webhooks, by id. The records are read here and decoded on another
    /// thread as they come, in runs: with many webhooks, each is half of the work.
    fn applied_webhooks(&self) -> Result<Vec<AppliedWebhook>, StateError> {
        const RUN: usize = 256;
        std::thread::scope(|scope| {
            let (sender, runs) = std::sync::mpsc::sync_channel::<Vec<sled::IVec>>(8);
            let decoder = scope.spawn(move || {
                let mut webhooks = Vec::new();
                for run in runs {
                    for value in run {
                        webhooks.push(self.decode(&value, "a webhook record")?);
                    }
                }
                Ok::<_, StateError>(webhooks)
            });
            let mut run = Vec::with_capacity(RUN);
            let mut read = Ok(());
            for entry in self.webhooks.iter().values() {
                match entry {
                    Ok(value) => run.push(value),
                    Err(e) => {
                        read = Err(self.io("read", e));
                        break;
                    }
                }
                if run.len() == RUN
                    && sender
                        .send(std::mem::replace(&mut run, Vec::with_capacity(RUN)))
                        .is_err()
                {
                    // The decoder stopped at a record it could not read.
                    break;
                }
            }
            if !run.is_empty() {
                let _ = sender.send(run);
            }
            drop(sender);
            let decoded = decoder.join().expect("decoding does not panic");
            read?;
            decoded
        })
    }

    /// Stores `writes` and the audit entry in one transaction, if the serial is still
    /// `expected_serial`, and flushes. Returns the new serial.
    pub fn commit(&self, expected_serial: u64, writes: &Writes, draft: &Draft) -> Result<u64, StateError> {
        let encoded_puts: Vec<(String, Vec<u8>)> = writes
            .put
            .iter()
            .map(|w| (w.id.clone(), serde_json::to_vec(w).expect("a record serializes")))
            .collect();
        let token = match &writes.token {
            TokenWrite::Put(token) => Some(serde_json::to_vec(token).expect("a record serializes")),
            _ => None,
        };
        let directory = writes
            .directory
            .as_ref()
            .map(|d| serde_json::to_vec(d).expect("a directory serializes"));
        let routing = writes
            .routing
            .as_ref()
            .map(|r| serde_json::to_vec(r).expect("routing serializes"));
        let result = (&self.meta, &self.webhooks, &self.audit).transaction(|(meta, webhooks, audit)| {
            let actual = self.tx_serial(meta)?;
            if actual != expected_serial {
                return Err(ConflictableTransactionError::Abort(StateError::Stale {
                    expected: expected_serial,
                    actual,
                }));
            }
            for id in &writes.delete {
                webhooks.remove(id.as_bytes())?;
            }
            for (id, value) in &encoded_puts {
                webhooks.insert(id.as_bytes(), value.as_slice())?;
            }
            match (&writes.token, &token) {
                (TokenWrite::Put(_), Some(value)) => {
                    meta.insert(TOKEN_KEY, value.as_slice())?;
                }
                (TokenWrite::Delete, _) => {
                    // The directory was the token's: without it, it can no longer be synced.
                    meta.remove(TOKEN_KEY)?;
                    meta.remove(DIRECTORY_KEY)?;
                }
                _ => {}
            }
            if let Some(directory) = &directory {
                meta.insert(DIRECTORY_KEY, directory.as_slice())?;
            }
            if let Some(routing) = &routing {
                meta.insert(ROUTING_KEY, routing.as_slice())?;
            }
            let prev_hash = meta
                .get(AUDIT_HEAD_KEY)?
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default();
            let serial = actual + 1;
            let entry = AuditEntry::new(draft.clone(), serial, prev_hash);
            audit.insert(
                &serial.to_be_bytes(),
                serde_json::to_vec(&entry).expect("an entry serializes"),
            )?;
            meta.insert(AUDIT_HEAD_KEY, entry.hash.as_bytes())?;
            meta.insert(SERIAL_KEY, &serial.to_be_bytes())?;
            Ok(serial)
        });
        self.flushed(result)
    }

    /// Records `digests` if the serial is still theirs; see [`super::Backend::record_digests`].
    pub fn record_digests(&self, digests: &Digests) -> Result<bool, StateError> {
        if digests.is_empty() {
            return Ok(false);
        }
        let result = (&self.meta, &self.webhooks).transaction(|(meta, webhooks)| {
            if self.tx_serial(meta)? != digests.serial {
                return Ok(false);
            }
            for (id, fingerprint, digest) in &digests.webhooks {
                let updated = webhooks
                    .get(id.as_bytes())?
                    .and_then(|record| Digests::webhook_record(&record, fingerprint, digest));
                if let Some(record) = updated {
                    webhooks.insert(id.as_bytes(), record)?;
                }
            }
            if let Some(record) = meta.get(TOKEN_KEY)?.and_then(|r| digests.token_record(&r)) {
                meta.insert(TOKEN_KEY, record)?;
            }
            Ok(true)
        });
        self.flushed(result)
    }

    /// The serial, read inside a transaction.
    fn tx_serial(&self, meta: &TransactionalTree) -> Result<u64, ConflictableTransactionError<StateError>> {
        match meta.get(SERIAL_KEY)? {
            Some(bytes) => self
                .decode_u64(&bytes, "the serial")
                .map_err(ConflictableTransactionError::Abort),
            None => Ok(0),
        }
    }

    /// What a transaction returned, or why it did not commit.
    pub(super) fn transaction_result<T>(
        &self,
        result: Result<T, TransactionError<StateError>>,
    ) -> Result<T, StateError> {
        match result {
            Ok(value) => Ok(value),
            Err(TransactionError::Abort(error)) => Err(error),
            Err(TransactionError::Storage(error)) => Err(self.io("write", error)),
        }
    }

    /// What a transaction returned, once it is flushed to disk.
    fn flushed<T>(&self, result: Result<T, TransactionError<StateError>>) -> Result<T, StateError> {
        let value = self.transaction_result(result)?;
        self.db.flush().map_err(|e| self.io("flush", e))?;
        Ok(value)
    }

    /// The directory as last synced, if ever.
    pub fn directory(&self) -> Result<Option<SyncedDirectory>, StateError> {
        match self.meta.get(DIRECTORY_KEY).map_err(|e| self.io("read", e))? {
            Some(bytes) => Ok(Some(self.decode(&bytes, "the Slack directory")?)),
            None => Ok(None),
        }
    }

    /// Replaces the stored directory in one write, and flushes.
    pub fn replace_directory(&self, synced: &SyncedDirectory) -> Result<(), StateError> {
        let value = serde_json::to_vec(synced).expect("a directory serializes");
        self.meta
            .insert(DIRECTORY_KEY, value)
            .map_err(|e| self.io("write", e))?;
        self.db.flush().map_err(|e| self.io("flush", e))?;
        Ok(())
    }

    /// Where the audit log must end: the serial and the hash of the newest entry.
    pub fn audit_head(&self) -> Result<audit::Head, StateError> {
        let serial = self.applied_serial()?;
        let hash = self.meta.get(AUDIT_HEAD_KEY).map_err(|e| self.io("read", e))?;
        Ok(audit::Head {
            serial,
            hash: hash
                .map(|h| String::from_utf8_lossy(&h).into_owned())
                .unwrap_or_default(),
        })
    }

    fn applied_serial(&self) -> Result<u64, StateError> {
        match self.meta.get(SERIAL_KEY).map_err(|e| self.io("read", e))? {
            Some(bytes) => self.decode_u64(&bytes, "the serial"),
            None => Ok(0),
        }
    }

    /// The audit log, oldest first.
    pub fn history(&self) -> Result<Vec<AuditEntry>, StateError> {
        self.audit
            .iter()
            .map(|entry| {
                let (_, value) = entry.map_err(|e| self.io("read", e))?;
                self.decode(&value, "an audit entry")
            })
            .collect()
    }

    pub fn latest_history(&self, count: usize) -> Result<Vec<AuditEntry>, StateError> {
        self.audit
            .iter()
            .rev()
            .take(count)
            .map(|entry| {
                let (_, value) = entry.map_err(|e| self.io("read", e))?;
                self.decode(&value, "an audit entry")
            })
            .collect()
    }

    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        what: &str,
    ) -> Result<T, StateError> {
        serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
            dir: self.dir.clone(),
            what: format!("{what} cannot be read: {e}"),
        })
    }

    pub(super) fn decode_u64(&self, bytes: &[u8], what: &str) -> Result<u64, StateError> {
        let array: [u8; 8] = bytes.try_into().map_err(|_| StateError::Corrupt {
            dir: self.dir.clone(),
            what: format!("{what} is not a number"),
        })?;
        Ok(u64::from_be_bytes(array))
    }

    pub(super) fn io(&self, operation: &'static str, source: sled::Error) -> StateError {
        StateError::Io {
            operation,
            dir: self.dir.clone(),
            source,
        }
    }
}

/// The state directory holds ciphertexts only, but nobody else needs to read them: it
/// is made private to its owner even when it already existed.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // Fails for a directory owned by someone else, which stays as its owner made it.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Files an earlier version left readable by others: made 0600 (directories 0700).
fn make_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // A link is left as it is: its target may be shared, and chmod would follow it.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        if meta.permissions().mode() & 0o777 != mode {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode));
        }
        if meta.is_dir() {
            make_private(&entry.path());
        }
    }
}

/// Takes the lock file, or says who holds it.
fn lock(dir: &Path, holder: &str) -> Result<File, StateError> {
    let path = dir.join("lock");
    let io = |source| StateError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = if text.trim().is_empty() {
                "unknown process".to_owned()
            } else {
                text.trim().to_owned()
            };
            return Err(StateError::Locked {
                dir: dir.to_owned(),
                holder,
            });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(holder.as_bytes()).map_err(io)?;
    Ok(file)
}
