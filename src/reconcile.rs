//! One pass: the applied state read, a plan made against the desired state, and (for
//! `apply`) the plan carried out and recorded. Level-triggered: every pass re-reads
//! both sides, so running it again after success changes nothing.

use crate::apply;
use crate::config::{Config, ConfigError, Desired, Problem, Report};
use crate::directory::{Directory, Index};
use crate::error::Error;
use crate::plan::{self, Plan, TokenChange};
use crate::render;
use crate::secrets::{Keyring, Secret, encrypt};
use crate::slack::Client;
use crate::state::{Applied, AuditChange, Draft, Store, SyncedDirectory, TokenFacts};

/// Reads the applied state and plans against it. Once a directory was synced, every
/// `mentions:` entry must resolve in it: an unknown one is a problem of the file.
pub fn plan(config: &Config, desired: &Desired, store: &Store) -> Result<(Applied, Plan), Error> {
    let applied = store.applied()?;
    let plan = plan::plan(desired, &applied);
    // While the token changes, the stored directory is the old token's: `apply` checks
    // the mentions against the new one before it writes anything.
    if plan.token.is_none()
        && let Some(synced) = store.directory()?
    {
        check_mentions(config, &synced.directory)?;
    }
    Ok((applied, plan))
}

/// Fails with every `mentions:` entry of `config` that does not resolve in `directory`.
pub fn check_mentions(config: &Config, directory: &Directory) -> Result<(), Error> {
    let problems = unresolved_mentions(config, directory);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid(Report {
        file: config.file.clone(),
        problems,
    })
    .into())
}

/// Every `mentions:` entry of `config` that does not resolve, at its position.
pub fn unresolved_mentions(config: &Config, directory: &Directory) -> Vec<Problem> {
    let index = Index::new(directory.clone());
    config
        .webhooks
        .iter()
        .flat_map(|w| &w.mentions)
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
pub async fn token_facts(client: &Client, api_url: &str, token: &Secret) -> Result<TokenFacts, Error> {
    let info = client.check_token(token).await?;
    Ok(TokenFacts {
        team_id: info.team_id,
        team: info.team,
        scopes: info.scopes,
        api_url: api_url.to_owned(),
    })
}

/// `user@host` of this process, for the audit log.
pub fn actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "localhost".to_owned(), |h| h.trim().to_owned());
    format!("{user}@{host}")
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
pub fn apply(
    store: &Store,
    keyring: &Keyring,
    desired: &Desired,
    applied: &Applied,
    plan: &Plan,
    new_token: Option<(TokenFacts, SyncedDirectory)>,
    provenance: Provenance,
) -> Result<u64, Error> {
    let recipients = keyring.recipients();
    let seal = |secret: &Secret| encrypt(secret, &recipients);
    let (facts, directory) = new_token.unzip();
    let mut writes = apply::writes(plan, desired, applied, facts.as_ref(), provenance.now, &seal)?;
    writes.directory = directory;
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
    let draft = Draft {
        time: provenance.now,
        actor: provenance.actor,
        config_digest: provenance.config_digest,
        summary: render::summary_line(plan),
        changes,
    };
    Ok(store.commit(plan.state_serial, &writes, &draft)?)
}
