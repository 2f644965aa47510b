//! Decryption that starts before the file is checked.
//!
//! For a large file, checking it (two YAML parsers, the structural pass, validation)
//! takes as long as decrypting it, and much of the checking runs on one thread. So the
//! armored blocks are picked out of the text at once, by their BEGIN and END lines, and
//! decrypted on every core while the checking goes on. [`super::open`] then takes each
//! value whose ciphertext was decrypted early and decrypts any other itself: the scan
//! only saves time, it never decides anything. A block the scan reads differently from
//! the YAML parser (another indentation style, a flow scalar) is simply not found.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::lift::{self, Piece};
use crate::secrets::{Keyring, Secret, decrypt};

/// The armored blocks of a text, each decrypted by whichever thread takes it first.
pub struct Early {
    blocks: Vec<(String, OnceLock<Option<Secret>>)>,
    /// Block by the hash of the end of its text (checked on lookup, so a collision only
    /// costs a decryption).
    by_hash: HashMap<u64, usize>,
    hasher: RandomState,
    next: AtomicUsize,
}

impl Early {
    /// The blocks of `text` written as YAML block scalars (`age: |`), as the YAML parser
    /// reads them (see [`lift::scan`]); those whose digest `skip` names (applied
    /// unchanged) are passed over.
    pub fn scan(text: &str, skip: &HashSet<String>) -> Self {
        let mut blocks = Vec::new();
        lift::scan(text, |piece| {
            if let Piece::Block(found) = piece {
                let block = found.text();
                if skip.is_empty() || !skip.contains(super::digest(&block).as_str()) {
                    blocks.push((block, OnceLock::new()));
                }
            }
        });
        let hasher = RandomState::new();
        let by_hash = blocks
            .iter()
            .enumerate()
            .map(|(i, (block, _))| (key(&hasher, block), i))
            .collect();
        Early {
            blocks,
            by_hash,
            hasher,
            next: AtomicUsize::new(0),
        }
    }

    /// Decrypts blocks no other thread has taken, until none is left or `stop` is set
    /// (the file has problems: nothing more is worth decrypting).
    pub fn work(&self, keyring: &Keyring, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((block, slot)) = self.blocks.get(i) else {
                return;
            };
            let _ = slot.set(decrypt(block, keyring).ok());
        }
    }

    /// The plaintext of `armored`, if it was decrypted early.
    pub fn get(&self, armored: &str) -> Option<&Secret> {
        if self.blocks.is_empty() {
            return None;
        }
        let (block, slot) = &self.blocks[*self.by_hash.get(&key(&self.hasher, armored))?];
        if block != armored {
            return None;
        }
        slot.get()?.as_ref()
    }
}

/// The hash of the last bytes of `block`: its payload's, which differ from block to
/// block, without reading the whole of it on each lookup.
fn key(hasher: &RandomState, block: &str) -> u64 {
    const TAIL: usize = 160;
    let bytes = block.as_bytes();
    hasher.hash_one(&bytes[bytes.len().saturating_sub(TAIL)..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::encrypt;

    #[test]
    fn blocks_are_read_as_the_yaml_parser_reads_them() {
        let keyring = Keyring::from_text(secrecy::ExposeSecret::expose_secret(
            &age::x25519::Identity::generate().to_string(),
        ))
        .expect("a key");
        let armored = encrypt(
            &Secret::new("https://hooks.slack.com/services/T0FAKE000/B0FAKE001/FAKE"),
            &keyring.recipients(),
        )
        .expect("encrypts");
        let indented: String = armored.lines().flat_map(|l| ["        ", l, "\n"]).collect();
        let text = format!(
            "webhooks:\n  - id: a\n    url:\n      age: |\n{indented}  - id: b\n    url: {{age: \"{}\"}}\n",
            armored.replace('\n', "\\n")
        );
        let parsed: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let from_yaml = parsed["webhooks"][0]["url"]["age"].as_str().expect("a block");

        let early = Early::scan(&text, &HashSet::new());
        early.work(&keyring, &AtomicBool::new(false));
        assert_eq!(early.blocks.len(), 1, "the flow scalar is left to the parser");
        assert_eq!(
            early.get(from_yaml).map(Secret::expose),
            Some("https://hooks.slack.com/services/T0FAKE000/B0FAKE001/FAKE")
        );
        assert_eq!(early.get("-----BEGIN AGE ENCRYPTED FILE-----\nother\n"), None);
    }
}
