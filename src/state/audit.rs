//! The audit log: one entry per apply, hash-chained so that an edited, removed or
//! reordered entry is detected by `history --verify`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::hex;

/// What the caller knows about an apply; the store adds the serial and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub time: u64,
    /// `user@host` of whoever applied.
    pub actor: String,
    /// `sha256:<hex>` of the desired-state file.
    pub config_digest: String,
    /// `1 to create, 0 to update, …`, as the plan said it.
    pub summary: String,
    pub changes: Vec<AuditChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditChange {
    /// A webhook id, or `bot_token`.
    pub id: String,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub serial: u64,
    /// Unix seconds.
    pub time: u64,
    pub actor: String,
    pub config_digest: String,
    pub summary: String,
    pub changes: Vec<AuditChange>,
    /// `hash` of the entry before this one; empty for the first.
    pub prev_hash: String,
    /// SHA-256 of this entry's JSON with `hash` empty.
    pub hash: String,
}

impl AuditEntry {
    pub fn new(draft: Draft, serial: u64, prev_hash: String) -> Self {
        let mut entry = AuditEntry {
            serial,
            time: draft.time,
            actor: draft.actor,
            config_digest: draft.config_digest,
            summary: draft.summary,
            changes: draft.changes,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.digest();
        entry
    }

    fn digest(&self) -> String {
        let unhashed = AuditEntry {
            hash: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&unhashed).expect("an audit entry serializes");
        hex(&Sha256::digest(json))
    }
}

/// Why an entry does not belong to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub serial: u64,
    pub reason: &'static str,
}

/// Checks the chain in order; the first entry that does not fit is reported.
pub fn verify(entries: &[AuditEntry]) -> Result<(), Broken> {
    let mut prev_hash = "";
    for entry in entries {
        let broken = |reason| {
            Err(Broken {
                serial: entry.serial,
                reason,
            })
        };
        if entry.prev_hash != prev_hash {
            return broken(
                "it does not follow the entry before it (an entry was removed, reordered or edited)",
            );
        }
        if entry.digest() != entry.hash {
            return broken("its content does not match its hash (it was edited)");
        }
        prev_hash = &entry.hash;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for serial in 1..=n {
            let prev = entries.last().map(|e| e.hash.clone()).unwrap_or_default();
            let draft = Draft {
                time: serial * 100,
                actor: "ci@runner".into(),
                config_digest: "sha256:00".into(),
                summary: "1 to create".into(),
                changes: vec![AuditChange {
                    id: format!("hook-{serial}"),
                    action: "create".into(),
                }],
            };
            entries.push(AuditEntry::new(draft, serial, prev));
        }
        entries
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn the_first_edited_entry_is_reported() {
        let mut entries = chain(5);
        entries[2].actor = "mallory@elsewhere".into();
        entries[3].summary = "nothing".into();
        assert_eq!(verify(&entries).map_err(|b| b.serial), Err(3));
    }

    #[test]
    fn a_removed_entry_is_reported() {
        let mut entries = chain(5);
        entries.remove(1);
        assert_eq!(verify(&entries).map_err(|b| b.serial), Err(3));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_to_the_next_entry() {
        let mut entries = chain(3);
        entries[0].actor = "mallory@elsewhere".into();
        entries[0].hash = entries[0].digest();
        assert_eq!(verify(&entries).map_err(|b| b.serial), Err(2));
    }
}
