//! One reconcile pass of the daemon: read the file, check it, plan, and apply when
//! allowed. Level-triggered: nothing is carried from the trigger, everything is read
//! again; a pass over an unchanged file is skipped by its digest.
//!
//! An invalid file keeps the last good state: its problems go to the log, to
//! `hookwarden_config_valid` and to `/healthz`. A plan that would delete more than half
//! of the webhooks is held back until someone applies it with `--allow-mass-delete`.

use std::sync::Arc;

use crate::config::{self, ConfigError};
use crate::error::Error;
use crate::reconcile::{self, Provenance};
use crate::render;
use crate::slack::{self, Client, Endpoints};
use crate::state::SyncedDirectory;

use super::{ApplyMode, Context};

/// What a pass found, for the log and systemd's status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    InSync,
    Applied {
        serial: u64,
        summary: String,
    },
    /// `--apply off`: changes wait for someone to apply them.
    Drift(String),
    HeldBack(String),
    Invalid,
}

impl Outcome {
    pub fn status(&self) -> String {
        match self {
            Outcome::Unchanged | Outcome::InSync => "in sync with the desired-state file".to_owned(),
            Outcome::Applied { serial, summary } => format!("applied serial {serial}: {summary}"),
            Outcome::Drift(summary) => format!("drift, not applied (--apply off): {summary}"),
            Outcome::HeldBack(summary) => format!("mass deletion held back: {summary}"),
            Outcome::Invalid => "the desired-state file is invalid; serving the last good state".to_owned(),
        }
    }
}

/// One pass; `force` ignores the digest of the last pass (SIGHUP, the periodic pass).
pub async fn run(ctx: &Arc<Context>, force: bool) -> Outcome {
    let path = &ctx.options.config;
    let text = match tokio::fs::read_to_string(path).await {
        Ok(text) => text,
        Err(error) => {
            // The same content restored must count as a change.
            ctx.last_digest.lock().expect("never poisoned").take();
            return invalid(ctx, vec![format!("cannot read {}: {error}", path.display())]);
        }
    };
    let digest = config::digest(&text);
    {
        let mut last = ctx.last_digest.lock().expect("never poisoned");
        if !force && last.as_deref() == Some(digest.as_str()) {
            return Outcome::Unchanged;
        }
        *last = Some(digest);
    }
    match attempt(ctx, &text).await {
        Ok(outcome) => {
            ctx.metrics.config_valid.set(1);
            let pending = match &outcome {
                Outcome::Drift(_) | Outcome::HeldBack(_) => 1,
                _ => 0,
            };
            ctx.metrics.pending_changes.set(pending);
            let problems = match &outcome {
                Outcome::Drift(summary) => vec![format!(
                    "the file differs from the applied state ({summary}): run `hookwarden apply`"
                )],
                Outcome::HeldBack(summary) => {
                    vec![format!(
                        "a plan that deletes most webhooks is held back ({summary}): run `hookwarden apply --allow-mass-delete`"
                    )]
                }
                _ => Vec::new(),
            };
            *ctx.problems.write().expect("never poisoned") = problems;
            outcome
        }
        Err(Error::Config(ConfigError::Invalid(report))) => invalid(ctx, report.lines()),
        Err(error) => {
            // Slack or the state failed, not the file: the next pass tries again.
            ctx.last_digest.lock().expect("never poisoned").take();
            invalid(ctx, vec![crate::error::describe(&error).trim_end().to_owned()])
        }
    }
}

fn invalid(ctx: &Context, problems: Vec<String>) -> Outcome {
    for problem in &problems {
        tracing::error!(problem = %problem, "the desired-state file cannot be applied; keeping the last good state");
    }
    ctx.metrics.config_valid.set(0);
    *ctx.problems.write().expect("never poisoned") = problems;
    Outcome::Invalid
}

async fn attempt(ctx: &Arc<Context>, text: &str) -> Result<Outcome, Error> {
    let (file, text) = (ctx.options.config.display().to_string(), text.to_owned());
    let (keyring, store) = (ctx.keyring.clone(), ctx.store.clone());
    // Off the runtime's thread, which also serves the alert endpoint.
    let (config, desired, applied, plan) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let (config, desired) = config::parse_open(&file, &text, &keyring).map_err(ConfigError::Invalid)?;
        let (applied, plan) = reconcile::plan(&config, &desired, &store)?;
        Ok((config, desired, applied, plan))
    })
    .await
    .expect("the planning task does not panic")?;
    if plan.is_empty() {
        return Ok(Outcome::InSync);
    }
    let summary = render::summary_line(&plan);
    if ctx.options.apply == ApplyMode::Off {
        tracing::warn!(%summary, "the desired-state file differs from the applied state; not applied (--apply off)");
        return Ok(Outcome::Drift(summary));
    }
    if plan.is_mass_deletion() {
        ctx.metrics.mass_deletions_held.inc();
        tracing::error!(%summary, "a plan that deletes most webhooks is held back; apply it with --allow-mass-delete");
        return Ok(Outcome::HeldBack(summary));
    }
    let new_token = match (&desired.bot_token, plan.token) {
        (Some(token), Some(crate::plan::TokenChange::Set | crate::plan::TokenChange::Rotate)) => {
            let client = Client::new(Endpoints::from_env(&config.slack.api_url));
            let facts = reconcile::token_facts(&client, &config.slack.api_url, token.secret()).await?;
            let directory = slack::sync_directory(&client, token.secret(), &|_| {}).await?;
            reconcile::check_mentions(&config, &directory)?;
            Some((
                facts,
                SyncedDirectory {
                    synced_at: super::now_secs(),
                    directory,
                },
            ))
        }
        _ => None,
    };
    tracing::info!(plan = %render::text(&plan, render::Style { color: false }), "applying the desired-state file");
    let (keyring, store) = (ctx.keyring.clone(), ctx.store.clone());
    let provenance = Provenance {
        actor: super::actor(),
        config_digest: config.digest.clone(),
        now: super::now_secs(),
    };
    let serial = tokio::task::spawn_blocking(move || {
        reconcile::apply(&store, &keyring, &desired, &applied, &plan, new_token, provenance)
    })
    .await
    .expect("the apply task does not panic")?;
    super::reload(ctx).await?;
    Ok(Outcome::Applied { serial, summary })
}
