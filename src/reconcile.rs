//! One pass: the applied state read, a plan made against the desired state, and (for
//! `apply`) the plan carried out and recorded. Level-triggered: every pass re-reads
//! both sides, so running it again after success changes nothing.

use crate::apply;
use crate::config::Desired;
use crate::error::Error;
use crate::plan::{self, Plan, TokenChange};
use crate::render;
use crate::secrets::{Keyring, Secret, encrypt};
use crate::state::{Applied, AuditChange, Draft, Store};

/// Reads the applied state and plans against it.
pub fn plan(desired: &Desired, store: &Store) -> Result<(Applied, Plan), Error> {
    let applied = store.applied()?;
    let plan = plan::plan(desired, &applied);
    Ok((applied, plan))
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
/// `keyring`'s recipients. Returns the new serial.
pub fn apply(
    store: &Store,
    keyring: &Keyring,
    desired: &Desired,
    applied: &Applied,
    plan: &Plan,
    provenance: Provenance,
) -> Result<u64, Error> {
    let recipients = keyring.recipients();
    let seal = |secret: &Secret| encrypt(secret, &recipients);
    let writes = apply::writes(plan, desired, applied, provenance.now, &seal)?;
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
