//! Saved plans (`plan --out FILE`, `apply FILE`): what was reviewed, applied exactly.
//!
//! A saved plan holds the desired-state file as it was planned (its secrets are age
//! ciphertexts), the file's digest and the serial of the state it was made against;
//! never a plaintext secret. Apply checks the file again as if it were read from disk,
//! decrypts it, plans again, and refuses when anything moved.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{self, Config, ConfigError};
use crate::explain::Explain;
use crate::plan::Plan;

pub const FORMAT_VERSION: u32 = 1;
const KIND: &str = "hookwarden-plan";

#[derive(Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub kind: String,
    pub format_version: u32,
    pub hookwarden_version: String,
    pub config_file: String,
    pub config_digest: String,
    /// The desired-state file as it was planned: YAML whose secrets are all age
    /// ciphertexts (a plaintext secret fails validation before a plan exists).
    pub config: String,
    pub state_serial: u64,
    pub plan: Plan,
}

/// The file's text is left out, as [`Config`]'s Debug leaves it out.
impl std::fmt::Debug for SavedPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedPlan")
            .field("kind", &self.kind)
            .field("format_version", &self.format_version)
            .field("hookwarden_version", &self.hookwarden_version)
            .field("config_file", &self.config_file)
            .field("config_digest", &self.config_digest)
            .field("config", &format_args!("({} bytes)", self.config.len()))
            .field("state_serial", &self.state_serial)
            .field("plan", &self.plan)
            .finish()
    }
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
    /// The desired state it holds no longer passes the checks.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Explain for PlanFileError {
    fn report(&self) -> Option<&config::Report> {
        match self {
            PlanFileError::Config(error) => error.report(),
            _ => None,
        }
    }
}

impl SavedPlan {
    pub fn new(config: &Config, plan: &Plan) -> Self {
        SavedPlan {
            kind: KIND.to_owned(),
            format_version: FORMAT_VERSION,
            hookwarden_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_file: config.file.clone(),
            config_digest: config.digest(),
            config: config.text.clone(),
            state_serial: plan.state_serial,
            plan: plan.clone(),
        }
    }

    /// The desired state it holds, checked as thoroughly as the file it came from. `path`
    /// is the plan file's, for messages.
    pub fn config(&self, path: &Path) -> Result<Config, PlanFileError> {
        if config::digest(&self.config) != self.config_digest {
            let reason = "its desired state does not match its digest (the file was edited)".to_owned();
            return Err(PlanFileError::Invalid {
                path: path.to_owned(),
                reason,
            });
        }
        let file = format!("{} (saved in {})", self.config_file, path.display());
        config::parse(&file, &self.config).map_err(|report| ConfigError::Invalid(report).into())
    }

    /// The file's text.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a plan serializes");
        json.push('\n');
        json
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
        Self::parse(path, &text)
    }

    /// A plan file's `text`; `path` names it in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, PlanFileError> {
        let invalid = |reason: String| PlanFileError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("not JSON ({e})")))?;
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
