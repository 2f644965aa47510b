//! Reconciling: the applied state read, a plan made against the desired state, and the
//! plan carried out and recorded. Level-triggered: every pass re-reads both sides, so
//! running it again after success changes nothing.
//!
//! [`pass`] is the one pass that `apply` and the daemon both run; what differs between
//! them (showing the plan, asking on a terminal, `--apply off`) is its [`Operator`].

mod pass;
mod writes;

pub use pass::{Checks, Operator, Outcome, Pass, Passed, Synced, run};
pub use writes::{Seal, writes};

use crate::config::{Config, ConfigError, Desired, DesiredSecret, Problem, Report};
use crate::directory::{Directory, Index};
use crate::explain::Explain;
use crate::plan::{self, Plan, TokenChange};
use crate::render;
use crate::secrets::{Keyring, Secret, SecretsError, encrypt};
use crate::slack::{Client, Endpoints, Progress, SlackError};
use crate::state::{
    Applied, AuditChange, Digests, Draft, SealedSecret, StateError, Store, SyncedDirectory, TokenFacts,
};

/// What can stop a pass.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("Slack says {} dead: {}", if ids.len() == 1 { "this webhook is" } else { "these webhooks are" }, ids.join(", "))]
    DeadWebhooks { ids: Vec<String> },
    #[error("Slack gave no verdict on {}", ids.join(", "))]
    Unverified { ids: Vec<String> },
}

impl Explain for ReconcileError {
    fn report(&self) -> Option<&Report> {
        match self {
            ReconcileError::Config(error) => error.report(),
            _ => None,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            ReconcileError::Config(error) => error.help(),
            ReconcileError::State(error) => error.help(),
            ReconcileError::Slack(error) => error.help(),
            ReconcileError::Secrets(_) => None,
            ReconcileError::DeadWebhooks { .. } => Some(
                "nothing was applied: create a new webhook in Slack, encrypt its URL, and plan again"
                    .to_owned(),
            ),
            ReconcileError::Unverified { .. } => {
                Some("nothing was applied: try again later, or apply without --verify".to_owned())
            }
        }
    }
}

/// Plans against `applied`, the state `desired` was opened against. Once a directory was
/// synced, every `mentions:` entry must resolve in it: an unknown one is a problem of the
/// file.
pub fn plan(
    config: &Config,
    desired: &Desired,
    applied: &Applied,
    store: &Store,
) -> Result<Plan, ReconcileError> {
    let plan = plan::plan(desired, applied);
    // While the token changes, the stored directory is the old token's: the pass checks
    // the mentions against the new one before it writes anything.
    if plan.token.is_none()
        && let Some(synced) = store.directory()?
    {
        check_mentions(config, &synced.directory)?;
    }
    Ok(plan)
}

/// The file's ciphertext digests that the applied state should record and does not: of
/// the secrets `plan` leaves as they are whose plaintext was decrypted and found to be
/// the applied one (re-encrypted, or applied before digests were recorded).
pub fn unrecorded_digests(desired: &Desired, applied: &Applied, plan: &Plan, serial: u64) -> Digests {
    let changed: std::collections::BTreeSet<&str> = plan.changes.iter().map(|c| c.id.as_str()).collect();
    let applied_webhooks: std::collections::HashMap<&str, &SealedSecret> =
        applied.webhooks.iter().map(|w| (w.id.as_str(), &w.url)).collect();
    let webhooks = desired
        .webhooks
        .iter()
        .filter(|w| !changed.contains(w.id.as_str()))
        .filter(|w| {
            applied_webhooks
                .get(w.id.as_str())
                .is_some_and(|old| unrecorded(&w.url, old))
        })
        .map(|w| {
            (
                w.id.clone(),
                w.url.fingerprint.clone(),
                w.url.ciphertext_digest.clone(),
            )
        })
        .collect();
    let token = match (&desired.bot_token, &applied.token, plan.token) {
        (Some(new), Some(old), None) if unrecorded(new, &old.secret) => {
            Some((new.fingerprint.clone(), new.ciphertext_digest.clone()))
        }
        _ => None,
    };
    Digests {
        serial,
        webhooks,
        token,
    }
}

/// Whether `new`, the applied `old`'s plaintext, comes from a ciphertext `old` does not
/// record.
fn unrecorded<T>(new: &DesiredSecret<T>, old: &SealedSecret) -> bool {
    new.fingerprint == old.fingerprint && old.ciphertext_digest.as_ref() != Some(&new.ciphertext_digest)
}

/// Fails with every `mentions:` entry of `config` that does not resolve in `directory`.
pub fn check_mentions(config: &Config, directory: &Directory) -> Result<(), ConfigError> {
    let problems = unresolved_mentions(config, directory);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid(Report {
        file: config.file.clone(),
        problems,
    }))
}

/// Every `mentions:` entry of `config` that does not resolve, at its position.
pub fn unresolved_mentions(config: &Config, directory: &Directory) -> Vec<Problem> {
    let index = Index::new(directory.clone());
    config
        .webhooks
        .iter()
        .flat_map(|w| &w.mentions)
        .chain(&config.route_mentions)
        .filter_map(|mention| {
            let unresolved = index.resolve(&mention.text).err()?;
            Some(
                Problem::new("unknown-mention", mention.at, unresolved.describe(&mention.text))
                    .help("write a user's handle, display name or email, or a user group's handle; `hookwarden directory list` shows them"),
            )
        })
        .collect()
}

/// `auth.test` and the scope check of a token, as the state keeps the answer.
pub async fn token_facts(client: &Client, api_url: &str, token: &Secret) -> Result<TokenFacts, SlackError> {
    let info = client.check_token(token).await?;
    Ok(TokenFacts {
        team_id: info.team_id,
        team: info.team,
        scopes: info.scopes,
        api_url: api_url.to_owned(),
    })
}

/// Who applied, from which file, when.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub actor: String,
    pub config_digest: String,
    /// Unix seconds.
    pub now: u64,
}

/// Carries out `plan` (made against `applied`) in one transaction, secrets encrypted to
/// `keyring`'s recipients; `new_token` is what Slack said about a token being set or
/// rotated and the directory it sees, stored with it. Returns the new serial.
pub fn commit(
    store: &Store,
    keyring: &Keyring,
    desired: &Desired,
    applied: &Applied,
    plan: &Plan,
    new_token: Option<(TokenFacts, SyncedDirectory)>,
    provenance: Provenance,
) -> Result<u64, ReconcileError> {
    let recipients = keyring.recipients();
    let seal = |secret: &Secret| encrypt(secret, &recipients);
    let (facts, directory) = new_token.unzip();
    let mut writes = writes(plan, desired, applied, facts.as_ref(), provenance.now, &seal)?;
    writes.directory = directory;
    let draft = Draft {
        time: provenance.now,
        actor: provenance.actor,
        config_digest: provenance.config_digest,
        summary: render::summary_line(plan),
        changes: audit_changes(plan),
    };
    Ok(store.commit(plan.state_serial, &writes, &draft)?)
}

/// Each change of `plan` as the audit log lists it.
fn audit_changes(plan: &Plan) -> Vec<AuditChange> {
    let mut changes: Vec<AuditChange> = plan
        .changes
        .iter()
        .map(|c| AuditChange {
            id: c.id.clone(),
            action: format!("{:?}", c.action).to_lowercase(),
        })
        .collect();
    if let Some(token) = plan.token {
        let action = match token {
            TokenChange::Set => "set",
            TokenChange::Rotate => "rotate",
            TokenChange::Remove => "remove",
        };
        changes.push(AuditChange {
            id: "bot_token".to_owned(),
            action: action.to_owned(),
        });
    }
    changes
}

/// The applied bot token, decrypted, with what Slack said of it when it was applied.
/// `None` without one.
pub fn applied_token(
    store: &Store,
    keyring: &Keyring,
) -> Result<Option<(TokenFacts, Secret)>, ReconcileError> {
    let Some(token) = store.applied()?.token else {
        return Ok(None);
    };
    let Some(facts) = token.facts else { return Ok(None) };
    let secret = crate::secrets::decrypt(&token.secret.armored, keyring)?;
    Ok(Some((facts, secret)))
}

/// Reads the whole directory `token` sees. Nothing is stored: a caller replaces the
/// stored directory only with a read that succeeded.
pub async fn read_directory(
    facts: &TokenFacts,
    token: &Secret,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SyncedDirectory, SlackError> {
    let client = Client::new(Endpoints::from_env(&facts.api_url));
    let directory = crate::slack::sync_directory(&client, token, progress).await?;
    Ok(SyncedDirectory {
        synced_at: crate::clock::now_secs(),
        directory,
    })
}
