//! Saved plans (`plan --out FILE`, `apply FILE`): what was reviewed, applied exactly.
//!
//! A saved plan holds the desired state as the file's own ciphertexts, the serial of
//! the state it was made against and the file's digest; never a plaintext secret. Apply
//! decrypts the ciphertexts, plans again, and refuses when the state has moved.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Mention, Position, Sealed, Slack, Webhook};
use crate::plan::Plan;

pub const FORMAT_VERSION: u32 = 1;
const KIND: &str = "hookwarden-plan";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub hookwarden_version: String,
    pub config_file: String,
    pub config_digest: String,
    pub state_serial: u64,
    pub plan: Plan,
    pub desired: SavedDesired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedDesired {
    pub recipients: Vec<String>,
    pub api_url: String,
    pub directory_sync_interval_secs: u64,
    /// Armored age ciphertext, as in the file.
    pub bot_token: Option<String>,
    pub webhooks: Vec<SavedWebhook>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedWebhook {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    pub mentions: Vec<String>,
    /// Armored age ciphertext, as in the file.
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot read the plan file {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the plan file {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a hookwarden plan file: {reason}")]
    Invalid {
        path: std::path::PathBuf,
        reason: String,
    },
}

impl SavedPlan {
    pub fn new(config: &Config, plan: &Plan) -> Self {
        SavedPlan {
            kind: KIND.to_owned(),
            format_version: FORMAT_VERSION,
            hookwarden_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_file: config.file.clone(),
            config_digest: config.digest.clone(),
            state_serial: plan.state_serial,
            plan: plan.clone(),
            desired: SavedDesired {
                recipients: config.recipients.clone(),
                api_url: config.slack.api_url.clone(),
                directory_sync_interval_secs: config.slack.directory_sync_interval.as_secs(),
                bot_token: config.slack.bot_token.as_ref().map(|s| s.armored.clone()),
                webhooks: config
                    .webhooks
                    .iter()
                    .map(|w| SavedWebhook {
                        id: w.id.clone(),
                        name: w.name.clone(),
                        channel: w.channel.clone(),
                        mentions: w.mentions.iter().map(|m| m.text.clone()).collect(),
                        url: w.url.armored.clone(),
                    })
                    .collect(),
            },
        }
    }

    /// The desired state it holds, as a config to open with an identity.
    pub fn config(&self, file: &str) -> Config {
        let sealed = |armored: &str, field: String| Sealed {
            armored: armored.to_owned(),
            field,
            at: Position::default(),
        };
        let desired = &self.desired;
        Config {
            file: file.to_owned(),
            digest: self.config_digest.clone(),
            recipients: desired.recipients.clone(),
            slack: Slack {
                api_url: desired.api_url.clone(),
                bot_token: desired
                    .bot_token
                    .as_deref()
                    .map(|t| sealed(t, "slack.bot_token".to_owned())),
                directory_sync_interval: Duration::from_secs(desired.directory_sync_interval_secs),
            },
            webhooks: desired
                .webhooks
                .iter()
                .enumerate()
                .map(|(i, w)| Webhook {
                    id: w.id.clone(),
                    name: w.name.clone(),
                    channel: w.channel.clone(),
                    url: sealed(&w.url, format!("webhooks[{i}].url")),
                    mentions: w
                        .mentions
                        .iter()
                        .map(|m| Mention {
                            text: m.clone(),
                            at: Position::default(),
                        })
                        .collect(),
                    at: Position::default(),
                })
                .collect(),
        }
    }

    /// Writes the plan readable by its owner only.
    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| PlanFileError::Write {
            path: path.to_owned(),
            source,
        };
        let mut json = serde_json::to_vec_pretty(self).expect("a plan serializes");
        json.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        file.write_all(&json).map_err(err)
    }

    pub fn read(path: &Path) -> Result<Self, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |reason: String| PlanFileError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON ({e})")))?;
        if value.get("kind").and_then(serde_json::Value::as_str) != Some(KIND) {
            return Err(invalid(
                "it has no `\"kind\": \"hookwarden-plan\"`; make one with `hookwarden plan --out FILE`"
                    .to_owned(),
            ));
        }
        let version = value
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if version != u64::from(FORMAT_VERSION) {
            return Err(invalid(format!(
                "format version {version} is not supported (this hookwarden reads {FORMAT_VERSION})"
            )));
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }
}
