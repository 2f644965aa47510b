//! Turning a plan into the writes that make the applied state match the desired one.
//!
//! Computing the writes is separate from storing them so that the store can commit them
//! in one transaction, and so that tests can check "apply, then plan again: no changes"
//! without a disk.

use std::collections::BTreeMap;

use crate::config::{BotToken, Desired, DesiredSecret, DesiredWebhook, Opened, WebhookUrl};
use crate::plan::{Action, Plan, TokenChange};
use crate::secrets::{Secret, SecretsError};
use crate::state::{Applied, AppliedToken, AppliedWebhook, SealedSecret, TokenFacts, TokenWrite, Writes};

/// Encrypts a secret for storage at rest.
pub type Seal<'a> = dyn Fn(&Secret) -> Result<String, SecretsError> + 'a;

/// The writes that carry out `plan`, made at time `now` (unix seconds).
/// `facts` is what Slack said about the desired token, when the plan sets or rotates it.
pub fn writes(
    plan: &Plan,
    desired: &Desired,
    applied: &Applied,
    facts: Option<&TokenFacts>,
    now: u64,
    seal: &Seal<'_>,
) -> Result<Writes, SecretsError> {
    let wanted: BTreeMap<&str, &DesiredWebhook> =
        desired.webhooks.iter().map(|w| (w.id.as_str(), w)).collect();
    let current: BTreeMap<&str, &AppliedWebhook> =
        applied.webhooks.iter().map(|w| (w.id.as_str(), w)).collect();
    let mut writes = Writes::default();
    for change in &plan.changes {
        let id = change.id.as_str();
        let (new, old) = (wanted.get(id), current.get(id));
        match (change.action, new, old) {
            (Action::Delete, _, _) => writes.delete.push(change.id.clone()),
            (Action::Create, Some(new), _) => writes.put.push(AppliedWebhook {
                id: new.id.clone(),
                name: new.name.clone(),
                channel: new.channel.clone(),
                mentions: new.mentions.clone(),
                url: sealed(&new.url, new.url.redacted(), WebhookUrl::secret, seal)?,
                team: new.team.clone(),
                created_at: now,
                updated_at: now,
                rotated_at: None,
            }),
            (Action::Update | Action::Rotate, Some(new), Some(old)) => {
                let mut record = AppliedWebhook {
                    name: new.name.clone(),
                    channel: new.channel.clone(),
                    mentions: new.mentions.clone(),
                    updated_at: now,
                    ..(*old).clone()
                };
                if change.action == Action::Rotate {
                    record.url = sealed(&new.url, new.url.redacted(), WebhookUrl::secret, seal)?;
                    new.team.clone_into(&mut record.team);
                    record.rotated_at = Some(now);
                } else {
                    // The same plaintext: the file's ciphertext of it is the one to know.
                    record.url.ciphertext_digest = Some(new.url.ciphertext_digest.clone());
                }
                writes.put.push(record);
            }
            _ => unreachable!("plan {change:?} does not match the states it was made from"),
        }
    }
    writes.token = match (plan.token, &desired.bot_token) {
        (None, _) => TokenWrite::Keep,
        (Some(TokenChange::Remove), _) => TokenWrite::Delete,
        (Some(change), Some(token)) => TokenWrite::Put(Box::new(AppliedToken {
            secret: sealed(token, "xoxb-****".to_owned(), BotToken::secret, seal)?,
            set_at: match (&applied.token, change) {
                (Some(old), TokenChange::Rotate) => old.set_at,
                _ => now,
            },
            rotated_at: (change == TokenChange::Rotate).then_some(now),
            facts: facts.cloned(),
        })),
        (Some(_), None) => unreachable!("a token change without a desired token"),
    };
    if plan.changes_routing() {
        writes.routing = Some(desired.routing.clone());
    }
    Ok(writes)
}

/// `secret` as the state keeps it: its plaintext encrypted by `seal`, or the applied
/// ciphertext of the same plaintext when it was not decrypted; with the file's digest.
fn sealed<T>(
    secret: &DesiredSecret<T>,
    redacted: String,
    plaintext: fn(&T) -> &Secret,
    seal: &Seal<'_>,
) -> Result<SealedSecret, SecretsError> {
    let ciphertext_digest = Some(secret.ciphertext_digest.clone());
    Ok(match &secret.value {
        Opened::Decrypted(value) => SealedSecret {
            armored: seal(plaintext(value))?.into(),
            fingerprint: secret.fingerprint.clone(),
            redacted,
            ciphertext_digest,
        },
        Opened::Applied(applied) => SealedSecret {
            ciphertext_digest,
            ..applied.clone()
        },
    })
}
