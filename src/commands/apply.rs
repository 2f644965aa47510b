//! `hookwarden apply`: make the applied state match the desired one, after a look at
//! the plan; or apply exactly a saved plan.
//!
//! The pass is [`reconcile::run`], the daemon's too; this command shows the plan, asks
//! on the terminal, and prints what Slack said and what was applied.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;

use super::Context;
use super::slack::{SyncBar, synced_line};
use crate::config::{self, ConfigError, Known};
use crate::error::{Error, Exit};
use crate::plan::Plan;
use crate::planfile::SavedPlan;
use crate::reconcile::{self, Checks, Operator, Outcome, Pass, Passed};
use crate::render::{self, Format};
use crate::slack::Progress;
use crate::state::{Applied, StateError, TokenFacts};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`: apply exactly it, or refuse if the state has moved.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,

    /// Apply without asking (required off a terminal, unless a plan file is given).
    #[arg(long)]
    pub auto_approve: bool,

    /// Allow a plan that deletes every webhook or more than half of them.
    #[arg(long)]
    pub allow_mass_delete: bool,

    /// Check with Slack that each created or rotated webhook exists (without posting a
    /// message) before writing anything.
    #[arg(long)]
    pub verify: bool,
}

pub fn run(ctx: &mut Context<'_>, args: &ApplyArgs) -> Result<Exit, Error> {
    super::no_markdown(ctx, "apply")?;
    let keyring = ctx.keyring("apply")?;
    let saved = args
        .plan_file
        .as_deref()
        .map(|path| ctx.read_plan(path).map(|plan| (path, plan)))
        .transpose()?;
    let store = ctx.open_store("apply")?;
    let (applied, config, desired) = match &saved {
        Some((path, saved)) => {
            let applied = store.applied()?;
            let config = saved.config(path)?;
            let desired =
                config::open(&config, &keyring, &Known::of(&applied)).map_err(ConfigError::Invalid)?;
            (applied, config, desired)
        }
        None => ctx.desired(&keyring, &*store)?,
    };
    let pass = Pass {
        store,
        keyring,
        config,
        applied,
        desired,
        allow_mass_delete: args.allow_mass_delete,
        verify: args.verify,
        actor: ctx.actor.clone(),
    };
    let text = ctx.format == Format::Text;
    let mut operator = ByHand {
        saved: saved.map(|(_, saved)| saved),
        ask: !args.auto_approve,
        text,
        mass_delete_allowed: args.allow_mass_delete,
        ctx,
    };
    let passed = super::runtime().block_on(reconcile::run(pass, &mut operator))?;
    let shown = shown(passed, text)?;
    operator.ctx.print(&shown)?;
    Ok(Exit::Success)
}

/// What apply prints once the pass is done.
fn shown(passed: Passed, text: bool) -> Result<String, Error> {
    let plan = passed.plan;
    Ok(match passed.outcome {
        Outcome::InSync | Outcome::Stopped if text => String::new(),
        Outcome::InSync | Outcome::Stopped => outcome(&plan, plan.state_serial, &Checks::default()),
        Outcome::HeldBack => {
            return Err(Error::MassDeletion {
                deletes: plan.summary().delete,
                total: plan.applied_webhooks,
            });
        }
        Outcome::Applied { serial } if text => {
            let mut shown = format!(
                "\nApply complete: {}. State serial {serial}.\n",
                render::done_line(&plan)
            );
            if let Some(synced) = passed.synced {
                shown.push_str(&synced_line(&synced.facts, synced.users, synced.groups));
            }
            shown
        }
        Outcome::Applied { serial } => outcome(&plan, serial, &passed.checks),
    })
}

/// A person at the steps of the pass: the plan shown, a saved plan held to its state,
/// the question asked, Slack's verdicts printed.
struct ByHand<'c, 'a> {
    ctx: &'c mut Context<'a>,
    saved: Option<SavedPlan>,
    /// Ask before applying (no `--auto-approve`, no saved plan).
    ask: bool,
    text: bool,
    /// `--allow-mass-delete`: the plan's warning says it is allowed.
    mass_delete_allowed: bool,
}

impl Operator for ByHand<'_, '_> {
    type Error = Error;

    fn review(&mut self, applied: &Applied, plan: &Plan) -> Result<bool, Error> {
        if let Some(saved) = &self.saved {
            check_saved(saved, applied, plan)?;
        }
        if self.text {
            let shown = render::text_with(plan, self.ctx.style(), self.mass_delete_allowed);
            self.ctx.print(&shown)?;
        }
        Ok(true)
    }

    fn approve(&mut self, _plan: &Plan) -> Result<(), Error> {
        if self.saved.is_none() && self.ask {
            confirm(self.ctx)?;
        }
        Ok(())
    }

    fn progress(&mut self, facts: &TokenFacts) -> Box<dyn Fn(Progress) + Send + Sync> {
        let bar = SyncBar::new(facts);
        Box::new(move |progress| bar.show(progress))
    }

    fn checked(&mut self, checks: &Checks) -> Result<(), Error> {
        if checks.failed() {
            // Before the error: which webhooks Slack refused.
            self.ctx.note(&report(&checks.verified, &[]));
        } else if self.text {
            self.ctx.print(&report(&checks.verified, &checks.warnings))?;
        }
        Ok(())
    }
}

/// What Slack said before the write, for people.
fn report(verified: &[(String, String)], warnings: &[String]) -> String {
    let mut text = String::new();
    for (id, verdict) in verified {
        text.push_str(&format!("verified {id}: {verdict}\n"));
    }
    for warning in warnings {
        text.push_str(&format!("\nWarning: {warning}\n"));
    }
    text
}

/// A saved plan is applied only against the state it was made from.
fn check_saved(saved: &SavedPlan, applied: &Applied, plan: &Plan) -> Result<(), Error> {
    if applied.serial != saved.state_serial {
        return Err(StateError::Stale {
            expected: saved.state_serial,
            actual: applied.serial,
        }
        .into());
    }
    if *plan != saved.plan {
        return Err(Error::PlanMismatch);
    }
    Ok(())
}

/// Asks on the terminal; the question goes to stderr, so stdout stays the plan.
fn confirm(ctx: &mut Context<'_>) -> Result<(), Error> {
    if ctx.format != Format::Text {
        return Err(Error::NotConfirmed {
            why: "--format json cannot ask",
            updatekeys: false,
        });
    }
    ctx.can_ask().map_err(|why| Error::NotConfirmed {
        why,
        updatekeys: false,
    })?;
    ctx.note("\nApply these changes? Only 'yes' is accepted: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::Stdin)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Cancelled { updatekeys: false })
    }
}

/// What `apply --format json` prints: whether anything was applied, the serial now,
/// the plan (as `plan --format json` shows it), and what Slack said before the write.
fn outcome(plan: &Plan, serial: u64, checks: &Checks) -> String {
    let verified: Vec<serde_json::Value> = checks
        .verified
        .iter()
        .map(|(id, verdict)| serde_json::json!({"id": id, "verdict": verdict}))
        .collect();
    let document = serde_json::json!({
        "applied": !plan.is_empty(),
        "state_serial": serial,
        "plan": render::json_value(plan),
        "verified": verified,
        "warnings": checks.warnings,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&document).expect("serializes")
    )
}
