//! `hookwarden apply`: make the applied state match the desired one, after a look at
//! the plan; or apply exactly a saved plan.
//!
//! Everything Slack must confirm (a new token's scopes, `--verify` probes) is asked
//! before anything is written; the directory sync that follows a token change comes
//! after the commit.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{ApplyArgs, Format, Global};
use crate::config::{self, ConfigError, Desired};
use crate::error::{Error, Exit};
use crate::plan::{Action, Plan, TokenChange};
use crate::planfile::SavedPlan;
use crate::reconcile::{self, Provenance};
use crate::render;
use crate::slack::Probe;
use crate::state::{Applied, StateError, Store, TokenFacts};

pub fn run(global: &Global, args: &ApplyArgs, out: &mut dyn Write) -> Result<Exit, Error> {
    if global.format == Format::Markdown {
        return Err(Error::FormatUnsupported {
            command: "apply",
            format: "markdown",
        });
    }
    let keyring = super::keyring(global, "apply")?;
    let saved = args
        .plan_file
        .as_deref()
        .map(|path| SavedPlan::read(path).map(|plan| (path, plan)))
        .transpose()?;
    let config = match &saved {
        Some((path, saved)) => saved.config(path)?,
        None => config::load(&global.config)?,
    };
    let desired = config::open(&config, &keyring).map_err(ConfigError::Invalid)?;
    let store = super::open_store(global, "apply")?;
    let (applied, plan) = reconcile::plan(&config, &desired, &store)?;
    if let Some((_, saved)) = &saved {
        check_saved(saved, &applied, &plan)?;
    }
    let text = global.format == Format::Text;
    if text {
        out.write_all(render::text(&plan, super::style()).as_bytes())
            .map_err(Error::Output)?;
    }
    if plan.is_empty() {
        if !text {
            out.write_all(outcome(&plan, applied.serial).as_bytes())
                .map_err(Error::Output)?;
        }
        return Ok(Exit::Success);
    }
    if plan.is_mass_deletion() && !args.allow_mass_delete {
        return Err(Error::MassDeletion {
            deletes: plan.summary().delete,
            total: plan.applied_webhooks,
        });
    }
    if saved.is_none() && !args.auto_approve {
        confirm(global.format)?;
    }
    let runtime = super::slack::runtime();
    let token_changed = matches!(plan.token, Some(TokenChange::Set | TokenChange::Rotate));
    let facts = match (&desired.bot_token, token_changed) {
        (Some(token), true) => Some(super::slack::check_token(
            &runtime,
            &config.slack.api_url,
            token.secret(),
        )?),
        _ => None,
    };
    if args.verify {
        verify(&runtime, &config.slack.api_url, &desired, &plan, text, out)?;
    }
    let provenance = Provenance {
        actor: super::actor(),
        config_digest: config.digest.clone(),
        now: super::now(),
    };
    let serial = reconcile::apply(
        &store,
        &keyring,
        &desired,
        &applied,
        &plan,
        facts.as_ref(),
        provenance,
    )?;
    if text {
        let line = format!(
            "\nApply complete: {}. State serial {serial}.\n",
            render::summary_line(&plan)
        );
        out.write_all(line.as_bytes()).map_err(Error::Output)?;
    }
    if let (Some(facts), Some(token)) = (&facts, &desired.bot_token) {
        let synced = sync_after_apply(&runtime, &store, facts, token.secret(), serial)?;
        if text {
            out.write_all(synced.as_bytes()).map_err(Error::Output)?;
        }
    }
    if !text {
        out.write_all(outcome(&plan, serial).as_bytes())
            .map_err(Error::Output)?;
    }
    Ok(Exit::Success)
}

fn sync_after_apply(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    facts: &TokenFacts,
    token: &crate::secrets::Secret,
    serial: u64,
) -> Result<String, Error> {
    let synced = super::slack::sync(runtime, store, facts, token, super::now()).map_err(|source| {
        Error::SyncAfterApply {
            serial,
            source: Box::new(source),
        }
    })?;
    Ok(super::slack::synced_line(facts, &synced))
}

/// Probes every created or rotated webhook; a dead one, or one Slack gave no verdict
/// on, stops the apply before anything is written.
fn verify(
    runtime: &tokio::runtime::Runtime,
    api_url: &str,
    desired: &Desired,
    plan: &Plan,
    text: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let client = super::slack::client(api_url);
    let (mut dead, mut unknown) = (Vec::new(), Vec::new());
    let probed = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Rotate));
    for change in probed {
        let Some(webhook) = desired.webhooks.iter().find(|w| w.id == change.id) else {
            continue;
        };
        let (line, list) = match runtime.block_on(client.probe(&webhook.url)) {
            Probe::Live => (format!("verified {}: Slack knows the webhook", change.id), None),
            Probe::Dead(error) => (format!("verified {}: dead ({error})", change.id), Some(&mut dead)),
            Probe::Unknown(reason) => (
                format!("verified {}: no verdict ({reason})", change.id),
                Some(&mut unknown),
            ),
        };
        if text {
            writeln!(out, "{line}").map_err(Error::Output)?;
        }
        if let Some(list) = list {
            list.push(change.id.clone());
        }
    }
    if !dead.is_empty() {
        return Err(Error::DeadWebhooks { ids: dead });
    }
    if !unknown.is_empty() {
        return Err(Error::Unverified { ids: unknown });
    }
    Ok(())
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
fn confirm(format: Format) -> Result<(), Error> {
    if format != Format::Text {
        return Err(Error::NotConfirmed {
            why: "--format json cannot ask",
        });
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::NotConfirmed {
            why: "standard input is not a terminal",
        });
    }
    eprint!("\nApply these changes? Only 'yes' is accepted: ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(Error::Stdin)?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// What `apply --format json` prints: whether anything was applied, the serial now,
/// and the plan (as `plan --format json` shows it).
fn outcome(plan: &Plan, serial: u64) -> String {
    let document = serde_json::json!({
        "applied": !plan.is_empty(),
        "state_serial": serial,
        "plan": render::json_value(plan),
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&document).expect("serializes")
    )
}
