//! Who a ciphertext is encrypted to, as far as its header tells without a key.
//!
//! An age header holds one stanza per recipient. An X25519 stanza names no key (its
//! only argument is an ephemeral share), so those are known by number; an SSH stanza
//! names its key by a tag, the first four bytes of the SHA-256 of the key. Stanzas age
//! adds to keep parsers honest (`…-grease`) are not recipients and are left out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use sha2::{Digest, Sha256};

use super::identity::Recipients;

/// One recipient stanza of a header, or what a recipient's stanza will be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stanza {
    X25519,
    /// `ssh-ed25519` or `ssh-rsa`, with the key's tag.
    Ssh {
        kind: String,
        tag: String,
    },
    /// A type hookwarden does not encrypt to (a plugin, a passphrase).
    Other(String),
}

const VERSION_LINE: &str = "age-encryption.org/v1";

/// The recipient stanzas of an armored ciphertext, sorted.
pub fn stanzas(armored: &str) -> Result<Vec<Stanza>, String> {
    use std::io::Read as _;
    let mut binary = Vec::new();
    age::armor::ArmoredReader::new(armored.trim().as_bytes())
        .read_to_end(&mut binary)
        .map_err(|e| format!("its armor is not valid: {e}"))?;
    let mut lines = binary.split(|&b| b == b'\n');
    if lines.next() != Some(VERSION_LINE.as_bytes()) {
        return Err(format!("its header does not start with `{VERSION_LINE}`"));
    }
    let mut found = Vec::new();
    for line in lines {
        if line.starts_with(b"---") {
            found.sort();
            return Ok(found);
        }
        let Some(stanza) = line.strip_prefix(b"-> ") else {
            continue; // a stanza's body
        };
        let stanza = std::str::from_utf8(stanza).map_err(|_| "its header is not text".to_owned())?;
        let mut args = stanza.split(' ');
        let kind = args.next().unwrap_or_default();
        match kind {
            "X25519" => found.push(Stanza::X25519),
            "ssh-ed25519" | "ssh-rsa" => found.push(Stanza::Ssh {
                kind: kind.to_owned(),
                tag: args.next().unwrap_or_default().to_owned(),
            }),
            grease if grease.ends_with("-grease") => {}
            other => found.push(Stanza::Other(other.to_owned())),
        }
    }
    Err("its header has no end".to_owned())
}

impl Recipients {
    /// The stanzas a ciphertext encrypted to these recipients holds, sorted.
    pub fn stanzas(&self) -> Vec<Stanza> {
        let mut expected: Vec<Stanza> = self.names().iter().map(|name| stanza_of(name)).collect();
        expected.sort();
        expected
    }
}

/// The stanza of a recipient as it is written (`age1…`, `ssh-ed25519 AAAA… comment`).
fn stanza_of(recipient: &str) -> Stanza {
    let mut fields = recipient.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(kind @ ("ssh-ed25519" | "ssh-rsa")), Some(key)) => {
            let wire = base64::engine::general_purpose::STANDARD
                .decode(key)
                .unwrap_or_default();
            let digest = Sha256::digest(&wire);
            Stanza::Ssh {
                kind: kind.to_owned(),
                tag: STANDARD_NO_PAD.encode(&digest[..4]),
            }
        }
        _ => Stanza::X25519,
    }
}

/// How a ciphertext's recipients differ from the ones it should have, for messages;
/// `None` when they match.
pub fn differs(found: &[Stanza], expected: &[Stanza]) -> Option<String> {
    if found == expected {
        return None;
    }
    let count = |n: usize| match n {
        1 => "1 recipient".to_owned(),
        n => format!("{n} recipients"),
    };
    Some(if found.len() == expected.len() {
        format!(
            "it is encrypted to {}, but not to the same SSH keys",
            count(found.len())
        )
    } else {
        format!(
            "it is encrypted to {}, and `recipients:` lists {}",
            count(found.len()),
            expected.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{Keyring, Secret, encrypt};

    const SSH_ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFJAxi1UpBNWHEsHY2TDszUnnLWD7UQa7q2yi7e9vt5X fake-a@example";

    fn age_key() -> Keyring {
        use secrecy::ExposeSecret;
        Keyring::from_text(age::x25519::Identity::generate().to_string().expose_secret()).expect("a new key")
    }

    #[test]
    fn a_header_names_its_recipients_without_grease() {
        let mut recipients = age_key().recipients();
        recipients.extend(age_key().recipients());
        recipients.extend(Recipients::parse(&[SSH_ED25519]).expect("an ssh key"));
        let armored = encrypt(&Secret::new("xoxb-fake"), &recipients).expect("encrypts");
        let found = stanzas(&armored).expect("a header");
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found, recipients.stanzas());
        assert_eq!(differs(&found, &recipients.stanzas()), None);
    }

    #[test]
    fn a_missing_or_other_key_is_told() {
        let one = age_key().recipients();
        let armored = encrypt(&Secret::new("xoxb-fake"), &one).expect("encrypts");
        let mut two = one.clone();
        two.extend(age_key().recipients());
        let found = stanzas(&armored).expect("a header");
        assert_eq!(
            differs(&found, &two.stanzas()).as_deref(),
            Some("it is encrypted to 1 recipient, and `recipients:` lists 2")
        );
        let ssh = Recipients::parse(&[SSH_ED25519]).expect("an ssh key");
        let to_ssh = encrypt(&Secret::new("xoxb-fake"), &ssh).expect("encrypts");
        let other_ssh = Recipients::parse(&[
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN9GujdHJ+wgehbDO2653iqtiYUhSEubIQG2YBzImpOE fake-b@example",
        ])
        .expect("an ssh key");
        assert!(
            differs(&stanzas(&to_ssh).expect("a header"), &other_ssh.stanzas())
                .expect("differs")
                .contains("not to the same SSH keys")
        );
    }

    #[test]
    fn a_damaged_header_is_an_error() {
        assert!(stanzas("not armor").is_err());
    }
}
