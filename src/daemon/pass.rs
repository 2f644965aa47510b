//! One reconcile pass of the daemon: read the file, check it, and run the one
//! [`reconcile::run`] pass over it. Level-triggered: nothing is carried from the trigger,
//! everything is read again; a pass over an unchanged file is skipped by its digest.
//!
//! An invalid file keeps the last good state: its problems go to the log, to
//! `hookwarden_config_valid` and to `/healthz`. A plan that would delete more than half
//! of the webhooks is held back until someone applies it with `--allow-mass-delete`.

use std::sync::Arc;

use super::{ApplyMode, DaemonError, Shared, load};
use crate::config::{self, ConfigError, Refused};
use crate::explain::describe;
use crate::plan::Plan;
use crate::reconcile::{self, Checks, Operator, Pass, ReconcileError};
use crate::render;
use crate::state::{Applied, StateError};

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
pub(super) async fn run(ctx: &Arc<Shared>, force: bool) -> Outcome {
    let path = &ctx.options.config;
    // Bounded in size, and a byte that is not UTF-8 positioned, as the CLI reads it.
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || config::read(&path)).await
    };
    let text = match read {
        Ok(Ok(text)) => text,
        failed => {
            // The same content restored must count as a change.
            ctx.forget_digest();
            let lines = match failed {
                Ok(Err(ConfigError::Invalid(report))) => report.lines(),
                Ok(Err(ConfigError::Read { source, .. })) => {
                    vec![format!("cannot read {}: {source}", path.display())]
                }
                _ => vec![format!("cannot read {}", path.display())],
            };
            return invalid(ctx, lines);
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
    let mut attempted = attempt(ctx, &text).await;
    // Another daemon on a shared store applied first: what it applied is loaded, and the
    // file planned again against it (it is most often the same change, and in sync).
    for _ in 0..3 {
        let Err(DaemonError::Reconcile(ReconcileError::State(StateError::Stale { actual, .. }))) = &attempted
        else {
            break;
        };
        tracing::info!(serial = actual, "another apply landed first; planning against it");
        if let Err(error) = load::reload(ctx).await {
            attempted = Err(error.into());
            break;
        }
        attempted = attempt(ctx, &text).await;
    }
    match attempted {
        Ok(outcome) => {
            ctx.metrics.config_valid.set(1);
            let problems = pending(&outcome, &ctx.options.config);
            ctx.metrics.pending_changes.set(i64::from(!problems.is_empty()));
            *ctx.problems.write().expect("never poisoned") = problems;
            outcome
        }
        Err(DaemonError::Reconcile(ReconcileError::Config(ConfigError::Invalid(report)))) => {
            invalid(ctx, report.lines())
        }
        Err(error) => {
            // Slack or the state failed, not the file: the next pass tries again.
            ctx.forget_digest();
            invalid(ctx, vec![describe(&error).trim_end().to_owned()])
        }
    }
}

/// What `/healthz` says about changes that wait for someone.
/// Each with a command that works as printed, beside the daemon (which runs it).
fn pending(outcome: &Outcome, config: &std::path::Path) -> Vec<String> {
    let file = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_owned());
    let file = file.display();
    match outcome {
        Outcome::Drift(summary) => vec![format!(
            "the file differs from the applied state ({summary}): run `hookwarden -c {file} apply --auto-approve`"
        )],
        Outcome::HeldBack(summary) => vec![format!(
            "a plan that deletes most webhooks is held back ({summary}): run `hookwarden -c {file} apply --allow-mass-delete --auto-approve`"
        )],
        _ => Vec::new(),
    }
}

fn invalid(ctx: &Shared, problems: Vec<String>) -> Outcome {
    for problem in &problems {
        tracing::error!(problem = %problem, "the desired-state file cannot be applied; keeping the last good state");
    }
    ctx.metrics.config_valid.set(0);
    *ctx.problems.write().expect("never poisoned") = problems;
    Outcome::Invalid
}

/// The daemon at the steps of the pass: `--apply off` stops after the plan.
struct Unattended {
    apply: ApplyMode,
}

impl Operator for Unattended {
    type Error = DaemonError;

    fn review(&mut self, _applied: &Applied, plan: &Plan) -> Result<bool, DaemonError> {
        Ok(plan.is_empty() || self.apply == ApplyMode::Auto)
    }

    fn approve(&mut self, plan: &Plan) -> Result<(), DaemonError> {
        tracing::info!(plan = %render::text(plan, render::Style { color: false }), "applying the desired-state file");
        Ok(())
    }

    fn checked(&mut self, checks: &Checks) -> Result<(), DaemonError> {
        for warning in &checks.warnings {
            tracing::warn!(%warning, "applying the desired-state file");
        }
        Ok(())
    }
}

async fn attempt(ctx: &Arc<Shared>, text: &str) -> Result<Outcome, DaemonError> {
    let (file, text, keyring) = (
        ctx.options.config.display().to_string(),
        text.to_owned(),
        ctx.keyring.clone(),
    );
    let store = ctx.store.clone();
    // Off the runtime's thread, which also serves the alert endpoint.
    let (applied, config, desired) = tokio::task::spawn_blocking(move || {
        let memo = || config::Memo::read(store.dir());
        config::parse_open_against(&file, text, &keyring, memo, || store.applied())
    })
    .await
    .expect("the parsing task does not panic")
    .map_err(|refused| match refused {
        Refused::File(report) => ReconcileError::Config(ConfigError::Invalid(report)),
        Refused::State(error) => error.into(),
    })?;
    let pass = Pass {
        store: ctx.store.clone(),
        keyring: ctx.keyring.clone(),
        config,
        applied,
        desired,
        allow_mass_delete: false,
        verify: false,
        actor: crate::actor::daemon(),
    };
    let mut operator = Unattended {
        apply: ctx.options.apply,
    };
    let passed = reconcile::run(pass, &mut operator).await?;
    let summary = render::summary_line(&passed.plan);
    Ok(match passed.outcome {
        reconcile::Outcome::InSync => Outcome::InSync,
        reconcile::Outcome::Stopped => {
            tracing::warn!(%summary, "the desired-state file differs from the applied state; not applied (--apply off)");
            Outcome::Drift(summary)
        }
        reconcile::Outcome::HeldBack => {
            ctx.metrics.mass_deletions_held.inc();
            tracing::error!(%summary, "a plan that deletes most webhooks is held back; apply it with --allow-mass-delete");
            Outcome::HeldBack(summary)
        }
        reconcile::Outcome::Applied { serial } => {
            load::reload(ctx).await?;
            Outcome::Applied { serial, summary }
        }
    })
}
