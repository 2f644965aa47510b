//! The one pass: plan, review, the mass-deletion guard, the token check and directory
//! read when the token is set or rotated, probes when asked, then apply and record.
//!
//! Everything Slack must confirm (a new token's scopes, its directory, the file's
//! mentions against that directory, `--verify` probes) is asked before anything is
//! written. Blocking work (the store, age) runs off the async runtime's threads.

use std::sync::Arc;

use super::{
    Provenance, ReconcileError, check_mentions, commit, plan, read_directory, token_facts, unrecorded_digests,
};
use crate::config::{BotToken, Config, Desired, Memo, WebhookUrl};
use crate::plan::{Action, Plan, TokenChange, team_warnings};
use crate::secrets::Keyring;
use crate::slack::{Client, Endpoints, Probe, Progress};
use crate::state::{Applied, Digests, Store, SyncedDirectory, TokenFacts};

/// What a pass works on.
#[derive(Debug)]
pub struct Pass {
    pub store: Arc<Store>,
    pub keyring: Arc<Keyring>,
    pub config: Config,
    /// The applied state `desired` was opened against ([`crate::config::Known`]).
    pub applied: Applied,
    pub desired: Desired,
    /// Let a plan through that deletes every webhook or more than half of them.
    pub allow_mass_delete: bool,
    /// Probe each created or rotated webhook before writing.
    pub verify: bool,
    /// Who applies, for the audit log.
    pub actor: String,
}

/// What differs between the callers of the pass: the steps where they show, ask or stop.
pub trait Operator {
    type Error: From<ReconcileError>;

    /// The plan, made against `applied`: show it, check it; `Ok(false)` ends the pass
    /// here with [`Outcome::Stopped`]. Called for an empty plan too.
    fn review(&mut self, applied: &Applied, plan: &Plan) -> Result<bool, Self::Error>;

    /// The last word before Slack is asked and the state written.
    fn approve(&mut self, _plan: &Plan) -> Result<(), Self::Error> {
        Ok(())
    }

    /// How the read of a new token's directory shows its progress.
    fn progress(&mut self, _facts: &TokenFacts) -> Box<dyn Fn(Progress) + Send + Sync> {
        Box::new(|_| {})
    }

    /// What Slack said before the write; the pass fails after this when a probed
    /// webhook is dead or gave no verdict.
    fn checked(&mut self, _checks: &Checks) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// What Slack said before the write.
#[derive(Debug, Default, Clone)]
pub struct Checks {
    /// Webhooks of another workspace than a new token's.
    pub warnings: Vec<String>,
    /// Each probed webhook and Slack's verdict, in plan order.
    pub verified: Vec<(String, String)>,
    dead: Vec<String>,
    unknown: Vec<String>,
}

impl Checks {
    /// Whether a probe found a dead webhook or got no verdict.
    pub fn failed(&self) -> bool {
        !self.dead.is_empty() || !self.unknown.is_empty()
    }
}

/// The directory a new token sees, as the apply stored it.
#[derive(Debug, Clone)]
pub struct Synced {
    pub facts: TokenFacts,
    pub users: usize,
    pub groups: usize,
}

/// How a pass ended.
#[derive(Debug)]
pub enum Outcome {
    /// The plan is empty.
    InSync,
    /// The operator's review stopped it.
    Stopped,
    /// A mass deletion, not allowed.
    HeldBack,
    Applied {
        serial: u64,
    },
}

/// The pass's plan, how it ended, and what Slack said on the way.
#[derive(Debug)]
pub struct Passed {
    pub plan: Plan,
    pub outcome: Outcome,
    pub checks: Checks,
    /// A new token's directory, as applied.
    pub synced: Option<Synced>,
}

/// Runs one pass of `pass`, with `operator` at the steps where callers differ.
pub async fn run<O: Operator>(pass: Pass, operator: &mut O) -> Result<Passed, O::Error> {
    let Pass {
        store,
        keyring,
        config,
        applied,
        desired,
        allow_mass_delete,
        verify,
        actor,
    } = pass;
    let planning = store.clone();
    let (config, desired, applied, plan) = blocking(move || {
        let plan = plan(&config, &desired, &applied, &*planning)?;
        Ok((config, desired, applied, plan))
    })
    .await?;
    let done = |outcome| {
        Ok(Passed {
            plan: plan.clone(),
            outcome,
            checks: Checks::default(),
            synced: None,
        })
    };
    if !operator.review(&applied, &plan)? {
        return done(Outcome::Stopped);
    }
    if plan.is_empty() {
        remember(&store, &config).await;
        record_digests(
            &store,
            unrecorded_digests(&desired, &applied, &plan, applied.serial),
        )
        .await;
        return done(Outcome::InSync);
    }
    if plan.is_mass_deletion() && !allow_mass_delete {
        return done(Outcome::HeldBack);
    }
    operator.approve(&plan)?;
    let (new_token, checks) = ask_slack(&config, &desired, &keyring, &plan, verify, operator).await?;
    let synced = new_token.as_ref().map(|(facts, directory)| Synced {
        facts: facts.clone(),
        users: directory.directory.users.len(),
        groups: directory.directory.groups.len(),
    });
    let provenance = Provenance {
        actor,
        config_digest: config.digest(),
        now: crate::clock::now_secs(),
    };
    let (planned, committing) = (plan.clone(), store.clone());
    let (serial, desired, applied) = blocking(move || {
        let serial = commit(
            &*committing,
            &keyring,
            &desired,
            &applied,
            &planned,
            new_token,
            provenance,
        )?;
        Ok((serial, desired, applied))
    })
    .await?;
    remember(&store, &config).await;
    record_digests(&store, unrecorded_digests(&desired, &applied, &plan, serial)).await;
    Ok(Passed {
        plan,
        outcome: Outcome::Applied { serial },
        checks,
        synced,
    })
}

/// Stores `digests`, which only spare later plans decryptions: a store that fails to is
/// logged, and the pass goes on.
async fn record_digests(store: &Arc<Store>, digests: Digests) {
    if digests.is_empty() {
        return;
    }
    let store = store.clone();
    let stored = blocking(move || Ok(store.record_digests(&digests)?)).await;
    if let Err(error) = stored {
        tracing::warn!(%error, "could not record the file's ciphertext digests; the next plan decrypts those values again");
    }
}

/// Writes the memo of `config`'s entries, the applied file's, beside the state: it only
/// spares a later plan the reading of entries that did not change, so a failure is
/// logged and the pass goes on.
async fn remember(store: &Arc<Store>, config: &Config) {
    if !Memo::wanted(config) {
        return;
    }
    let (dir, config) = (store.dir().to_owned(), config.clone());
    let written = tokio::task::spawn_blocking(move || Memo::write(&dir, &config))
        .await
        .expect("writing the memo does not panic");
    match written {
        Ok(()) => {}
        // A database's daemon may have no state directory of its own.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(%error, "no state directory for the memo of the file's checked entries");
        }
        Err(error) => {
            tracing::warn!(%error, "could not write the memo of the file's checked entries; the next plan reads every entry");
        }
    }
}

/// Everything Slack must confirm before the write: a new token and its directory, and
/// with `verify` each created or rotated webhook. Fails when a probe found a dead
/// webhook or got no verdict, after the operator has seen the verdicts.
async fn ask_slack<O: Operator>(
    config: &Config,
    desired: &Desired,
    keyring: &Keyring,
    plan: &Plan,
    verify: bool,
    operator: &mut O,
) -> Result<(Option<(TokenFacts, SyncedDirectory)>, Checks), O::Error> {
    let new_token = new_token(config, desired, keyring, plan, operator).await?;
    let mut checks = Checks::default();
    if let Some((facts, _)) = &new_token {
        checks.warnings = team_warnings(desired, &facts.team_id, &facts.team);
    }
    if verify {
        probe(&config.slack.api_url, desired, keyring, plan, &mut checks).await;
    }
    operator.checked(&checks)?;
    if !checks.dead.is_empty() {
        return Err(ReconcileError::DeadWebhooks { ids: checks.dead }.into());
    }
    if !checks.unknown.is_empty() {
        return Err(ReconcileError::Unverified { ids: checks.unknown }.into());
    }
    Ok((new_token, checks))
}

/// A token being set or rotated: checked with `auth.test`, its directory read, and the
/// file's mentions resolved against that directory.
async fn new_token<O: Operator>(
    config: &Config,
    desired: &Desired,
    keyring: &Keyring,
    plan: &Plan,
    operator: &mut O,
) -> Result<Option<(TokenFacts, SyncedDirectory)>, ReconcileError> {
    let (Some(token), Some(TokenChange::Set | TokenChange::Rotate)) = (&desired.bot_token, plan.token) else {
        return Ok(None);
    };
    let token = token.plaintext(keyring, BotToken::parse)?;
    let api_url = &config.slack.api_url;
    let client = Client::new(Endpoints::from_env(api_url));
    let facts = token_facts(&client, api_url, token.secret()).await?;
    let progress = operator.progress(&facts);
    let synced = read_directory(&facts, token.secret(), &*progress).await?;
    drop(progress);
    check_mentions(config, &synced.directory)?;
    Ok(Some((facts, synced)))
}

/// Probes every created or rotated webhook, without posting a visible message.
async fn probe(api_url: &str, desired: &Desired, keyring: &Keyring, plan: &Plan, checks: &mut Checks) {
    let client = Client::new(Endpoints::from_env(api_url));
    let probed = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Rotate));
    for change in probed {
        let Some(webhook) = desired.webhooks.iter().find(|w| w.id == change.id) else {
            continue;
        };
        let url = match webhook.url.plaintext(keyring, |s| WebhookUrl::parse(&s)) {
            Ok(url) => url,
            Err(error) => {
                checks.unknown.push(change.id.clone());
                checks
                    .verified
                    .push((change.id.clone(), format!("no verdict ({error})")));
                continue;
            }
        };
        let verdict = match client.probe(&url).await {
            Probe::Live => "live: Slack knows the webhook".to_owned(),
            Probe::Dead(error) => {
                checks.dead.push(change.id.clone());
                format!("gone: Slack answered {error}")
            }
            Probe::Unknown(reason) => {
                checks.unknown.push(change.id.clone());
                format!("no verdict ({reason})")
            }
        };
        checks.verified.push((change.id.clone(), verdict));
    }
}

/// `work` on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ReconcileError> + Send + 'static,
) -> Result<T, ReconcileError> {
    tokio::task::spawn_blocking(work)
        .await
        .expect("a reconcile task does not panic")
}
