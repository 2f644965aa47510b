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

/// Where the chain must end: the state's serial and the hash of its newest entry, as
/// the store keeps them beside the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub serial: u64,
    pub hash: String,
}

/// Checks the chain in order, then that it ends at `head`; the first entry that does
/// not fit is reported. An entry edited and re-hashed breaks the link to the next one,
/// and the newest one no longer matches the head.
pub fn verify(entries: &[AuditEntry], head: &Head) -> Result<(), Broken> {
    let mut prev_hash = "";
    for (expected, entry) in (1..).zip(entries) {
        let broken = |reason| {
            Err(Broken {
                serial: entry.serial,
                reason,
            })
        };
        if entry.serial != expected {
            return Err(Broken {
                serial: expected,
                reason: "is missing (the entries skip from one serial to a later one)",
            });
        }
        if entry.prev_hash != prev_hash {
            return broken("does not follow the entry before it (an entry was removed, reordered or edited)");
        }
        if entry.digest() != entry.hash {
            return broken("does not match its hash (it was edited)");
        }
        prev_hash = &entry.hash;
    }
    let newest = entries.last().map_or(0, |e| e.serial);
    if newest < head.serial {
        return Err(Broken {
            serial: newest + 1,
            reason: "is missing (the state is at a later serial than the log)",
        });
    }
    if prev_hash != head.hash {
        return Err(Broken {
            serial: newest,
            reason: "does not match the chain head the state keeps (it was edited)",
        });
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

    fn head(entries: &[AuditEntry]) -> Head {
        let last = entries.last().expect("an entry");
        Head {
            serial: last.serial,
            hash: last.hash.clone(),
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        assert_eq!(verify(&entries, &head(&entries)), Ok(()));
        assert_eq!(
            verify(
                &[],
                &Head {
                    serial: 0,
                    hash: String::new()
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn a_removed_newest_entry_is_reported() {
        let mut entries = chain(3);
        let head = head(&entries);
        entries.pop();
        assert_eq!(verify(&entries, &head).map_err(|b| b.serial), Err(3));
    }

    #[test]
    fn a_rehashed_newest_entry_no_longer_matches_the_head() {
        let mut entries = chain(3);
        let head = head(&entries);
        entries[2].actor = "mallory@elsewhere".into();
        entries[2].hash = entries[2].digest();
        assert_eq!(verify(&entries, &head).map_err(|b| b.serial), Err(3));
    }

    #[test]
    fn the_first_edited_entry_is_reported() {
        let mut entries = chain(5);
        entries[2].actor = "mallory@elsewhere".into();
        entries[3].summary = "nothing".into();
        let head = head(&chain(5));
        assert_eq!(verify(&entries, &head).map_err(|b| b.serial), Err(3));
    }

    #[test]
    fn a_removed_entry_is_reported() {
        let mut entries = chain(5);
        let head = head(&entries);
        entries.remove(1);
        assert_eq!(verify(&entries, &head).map_err(|b| b.serial), Err(2));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_to_the_next_entry() {
        let mut entries = chain(3);
        let head = head(&entries);
        entries[0].actor = "mallory@elsewhere".into();
        entries[0].hash = entries[0].digest();
        assert_eq!(verify(&entries, &head).map_err(|b| b.serial), Err(2));
    }
}
