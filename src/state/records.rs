//! The applied state as plain data: what sled stores, one JSON value per record.
//!
//! These types hold no plaintext secret: URLs and the token are kept as armored age
//! ciphertexts (encrypted to the identity in use), a redacted form for display, and a
//! SHA-256 fingerprint that lets `plan` detect a rotation without decrypting.

use std::sync::Arc;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::routes::Routing;

/// Everything the last apply left behind, as `plan` compares against it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Incremented by every apply that changed something; 0 for a new state.
    pub serial: u64,
    /// Sorted by id.
    pub webhooks: Vec<AppliedWebhook>,
    pub token: Option<AppliedToken>,
    /// The receivers' routes and templates.
    pub routing: Routing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedWebhook {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    pub url: SealedSecret,
    /// Slack team (workspace) id from the URL, such as `T0001`.
    pub team: String,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    pub rotated_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedToken {
    pub secret: SealedSecret,
    pub set_at: u64,
    pub rotated_at: Option<u64>,
    /// What Slack said about the token when it was applied.
    #[serde(default)]
    pub facts: Option<TokenFacts>,
}

/// The workspace a token belongs to and what it may do, from `auth.test`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    pub team_id: String,
    pub team: String,
    pub scopes: Vec<String>,
    /// The Web API base it was checked against, for later directory syncs.
    pub api_url: String,
}

/// The Slack directory as last synced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedDirectory {
    /// Unix seconds.
    pub synced_at: u64,
    pub directory: crate::directory::Directory,
}

/// A secret at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// Armored age ciphertext, encrypted to the recipients of the identity that applied it.
    /// Shared: a plan copies each applied secret it keeps, and this is most of its bytes.
    #[serde(deserialize_with = "shared_str")]
    pub armored: Arc<str>,
    /// `sha256:<hex>` of the plaintext.
    pub fingerprint: String,
    /// For display: a redacted URL, or `xoxb-****` for a token.
    pub redacted: String,
    /// `sha256:<hex>` of the ciphertext the desired-state file held when this secret was
    /// applied: while the file holds the very same bytes, its plaintext is this one and
    /// need not be decrypted. Absent in a state written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_digest: Option<String>,
}

/// The digests of the file's ciphertexts whose plaintexts are the applied ones, for the
/// secrets whose recorded digest differs (a value re-encrypted by `updatekeys`, a state
/// written before digests were recorded): stored without changing the applied state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests {
    /// The serial of the applied state the plaintexts were compared with.
    pub serial: u64,
    /// Webhook id, the fingerprint it was compared with, and the file's ciphertext digest.
    pub webhooks: Vec<(String, String, String)>,
    /// The bot token's fingerprint and ciphertext digest.
    pub token: Option<(String, String)>,
}

impl Digests {
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty() && self.token.is_none()
    }

    /// `record`, a stored webhook's JSON, with `digest` recorded, when its URL still has
    /// `fingerprint`; `None` leaves it as it is.
    pub fn webhook_record(record: &[u8], fingerprint: &str, digest: &str) -> Option<Vec<u8>> {
        let mut webhook: AppliedWebhook = serde_json::from_slice(record).ok()?;
        webhook.url.record_digest(fingerprint, digest)?;
        Some(serde_json::to_vec(&webhook).expect("a record serializes"))
    }

    /// The same for the bot token's record.
    pub fn token_record(&self, record: &[u8]) -> Option<Vec<u8>> {
        let (fingerprint, digest) = self.token.as_ref()?;
        let mut token: AppliedToken = serde_json::from_slice(record).ok()?;
        token.secret.record_digest(fingerprint, digest)?;
        Some(serde_json::to_vec(&token).expect("a record serializes"))
    }
}

impl SealedSecret {
    /// Records `digest` as the file's ciphertext of this secret, if its plaintext has
    /// `fingerprint`.
    fn record_digest(&mut self, fingerprint: &str, digest: &str) -> Option<()> {
        (self.fingerprint == fingerprint).then(|| self.ciphertext_digest = Some(digest.to_owned()))
    }
}

/// What one apply writes. Computed by `apply`, stored in one transaction by `state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writes {
    pub put: Vec<AppliedWebhook>,
    pub delete: Vec<String>,
    pub token: TokenWrite,
    /// The directory a new token sees, synced before the apply so that it is stored
    /// with the token.
    pub directory: Option<SyncedDirectory>,
    /// New routes and templates, replacing the applied ones whole.
    pub routing: Option<Routing>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TokenWrite {
    #[default]
    Keep,
    Put(Box<AppliedToken>),
    Delete,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.put.is_empty()
            && self.delete.is_empty()
            && self.token == TokenWrite::Keep
            && self.directory.is_none()
            && self.routing.is_none()
    }
}

impl Applied {
    /// The state after `writes`, as the store will hold it after a commit.
    #[must_use]
    pub fn with(&self, writes: &Writes) -> Applied {
        let mut webhooks: std::collections::BTreeMap<String, AppliedWebhook> =
            self.webhooks.iter().map(|w| (w.id.clone(), w.clone())).collect();
        for id in &writes.delete {
            webhooks.remove(id);
        }
        for webhook in &writes.put {
            webhooks.insert(webhook.id.clone(), webhook.clone());
        }
        let token = match &writes.token {
            TokenWrite::Keep => self.token.clone(),
            TokenWrite::Put(token) => Some((**token).clone()),
            TokenWrite::Delete => None,
        };
        Applied {
            serial: self.serial + 1,
            webhooks: webhooks.into_values().collect(),
            token,
            routing: writes.routing.clone().unwrap_or_else(|| self.routing.clone()),
        }
    }
}

/// A string read straight into its shared allocation (serde's own reads a `String` first,
/// then copies it): most of a webhook record's bytes.
fn shared_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
    struct Shared;

    impl Visitor<'_> for Shared {
        type Value = Arc<str>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Arc<str>, E> {
            Ok(Arc::from(text))
        }
    }

    deserializer.deserialize_str(Shared)
}
