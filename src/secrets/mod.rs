//! age identities and recipients, encryption and decryption, and the [`Secret`] type.
//!
//! Every webhook URL and bot token passes through here. Plaintext lives only inside a
//! [`Secret`], which redacts itself in `Debug` and `Display` and is zeroized on drop,
//! so a secret cannot reach a log line, an error or a snapshot by formatting.

mod crypt;
mod identity;
mod stanzas;
mod token;
mod x25519;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

pub use crypt::{check_armor, decrypt, encrypt};
pub use identity::{IdentitySource, Keyring, Recipients, discover, shown_recipient};
pub use stanzas::{Stanza, differs, stanzas};
pub use token::{ADMIN_TOKEN_FILE, API_TOKEN_FILE, token_from_env};

/// A plaintext secret. Formatting never shows it; [`Secret::expose`] does, on purpose.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The plaintext. Call sites are the places where a secret leaves hookwarden: the
    /// HTTP request to Slack, encryption, and comparison.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Whether `text` looks like a secret (a webhook URL, a Slack token, an age private key
/// or an armored block), so that a message shows its kind instead of its text.
pub fn looks_secret(text: &str) -> bool {
    let text = text.trim();
    // A token anywhere in it, not only at the start (`s xoxb-…` as a mangled key).
    let token = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| word.starts_with("xox"));
    text.contains("://")
        || token
        || text.to_ascii_uppercase().contains("AGE-SECRET-KEY-")
        || text.contains("-----BEGIN")
}

/// Whether a name the user wrote (an unknown or a repeated key) may be repeated in a
/// message: a lower-case word of at most 40 characters, such as `webhoks` or
/// `bot-token`. Secrets are long and mixed-case (a webhook URL's last segment, a
/// token's, an age key), so a name that may be a piece of one is not repeated.
pub fn plain_name(name: &str) -> bool {
    name.len() <= 40
        && !looks_secret(name)
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ' '))
}

/// `sha256:<hex>` of a secret: lets a plan see that a secret changed without keeping it.
/// Webhook URLs and tokens carry well over 100 bits of randomness, so the digest
/// reveals nothing that could be guessed back.
pub fn fingerprint(secret: &Secret) -> String {
    sha256(secret.expose().as_bytes())
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    push_hex(&mut out, &Sha256::digest(bytes));
    out
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// What can go wrong with identities, recipients and ciphertexts. No variant carries
/// plaintext or ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the age identity {source_desc}")]
    IdentityRead {
        source_desc: IdentitySource,
        #[source]
        source: std::io::Error,
    },
    #[error("the age identity {source_desc} is not usable: {reason}")]
    IdentityParse {
        source_desc: IdentitySource,
        reason: String,
    },
    #[error("cannot read the recipients file {path}")]
    RecipientsRead {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{shown} is not an age recipient (expected `age1…`, `ssh-ed25519 …` or `ssh-rsa …`)")]
    RecipientParse {
        /// The recipient as it may be shown: a private key pasted by mistake is not.
        shown: String,
    },
    #[error("it was not encrypted to this identity")]
    NotForThisIdentity,
    #[error("no recipients to encrypt to")]
    NoRecipients,
    #[error("encryption failed: {reason}")]
    Encrypt { reason: String },
    #[error("{reason}")]
    Decrypt { reason: String },
    #[error("cannot read the API token file {path}")]
    TokenFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the API token file {path} is empty")]
    EmptyTokenFile { path: std::path::PathBuf },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_lower_case_names_are_repeated() {
        for plain in [
            "webhoks",
            "bot-token",
            "directory_sync_interval",
            "hook 2",
            "v1.2",
        ] {
            assert!(plain_name(plain), "{plain}");
        }
        for not in [
            "Webhooks",
            "b-0000-FAKEsecretFAKE",
            "xoxb-0000-fake",
            "https://hooks.slack.com/x",
            "age-secret-key-1fake",
            "a\u{1}b",
            &"x".repeat(41),
        ] {
            assert!(!plain_name(not), "{not}");
        }
    }

    #[test]
    fn digests_are_sha256_in_lower_case_hex() {
        assert_eq!(
            sha256(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn formatting_redacts() {
        let secret = Secret::new("https://hooks.slack.com/services/TFAKE/BFAKE/not-a-real-secret");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret([redacted]))");
    }
}
