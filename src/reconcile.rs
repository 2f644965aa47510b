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
use crate::state::{Applied, AuditChange, Draft, Store, TokenFacts};

/// Reads the applied state and plans against it. Once a directory was synced, every
/// `mentions:` entry must resolve in it: an unknown one is a problem of the file.
pub fn plan(config: &Config, desired: &Desired, store: &Store) -> Result<(Applied, Plan), Error> {
    let applied = store.applied()?;
    if let Some(synced) = store.directory()? {
        let problems = unresolved_mentions(config, &synced.directory);
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(Report {
                file: config.file.clone(),
                problems,
            })
            .into());
        }
    }
    let plan = plan::plan(desired, &applied);
    Ok((applied, plan))
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

/// Who applied, from which file, when.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub actor: String,
    pub config_digest: String,
    /// Unix seconds.
    pub now: u64,
}

/// Carries out `plan` (made against `applied`) in one transaction, secrets encrypted to
/// `keyring`'s recipients; `facts` is what Slack said about a token being set or
/// rotated. Returns the new serial.
pub fn apply(
    store: &Store,
    keyring: &Keyring,
    desired: &Desired,
    applied: &Applied,
    plan: &Plan,
    facts: Option<&TokenFacts>,
    provenance: Provenance,
) -> Result<u64, Error> {
    let recipients = keyring.recipients();
    let seal = |secret: &Secret| encrypt(secret, &recipients);
    let writes = apply::writes(plan, desired, applied, facts, provenance.now, &seal)?;
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
