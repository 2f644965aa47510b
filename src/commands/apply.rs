//! `hookwarden apply`: make the applied state match the desired one, after a look at
//! the plan; or apply exactly a saved plan.
//!
//! Everything Slack must confirm (a new token's scopes, `--verify` probes) is asked
//! before anything is written; the directory sync that follows a token change comes
//! after the commit.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{ApplyArgs, Format, Global};
use crate::config::{self, Config, ConfigError, Desired};
use crate::error::{Error, Exit};
use crate::plan::{Action, Plan, TokenChange};
use crate::planfile::SavedPlan;
use crate::reconcile::{self, Provenance};
use crate::render;
use crate::secrets::Secret;
use crate::slack::Probe;
use crate::state::{Applied, StateError, SyncedDirectory, TokenFacts};

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
        .map(|path| super::read_plan(path).map(|plan| (path, plan)))
        .transpose()?;
    let (config, desired) = match &saved {
        Some((path, saved)) => {
            let config = saved.config(path)?;
            let desired = config::open(&config, &keyring).map_err(ConfigError::Invalid)?;
            (config, desired)
        }
        None => super::desired(global, &keyring)?,
    };
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
            out.write_all(outcome(&plan, applied.serial, &Report::default()).as_bytes())
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
    let checked = match (&desired.bot_token, plan.token) {
        (Some(token), Some(TokenChange::Set | TokenChange::Rotate)) => {
            Some(check_new_token(&runtime, &config, token.secret())?)
        }
        _ => None,
    };
    let mut report = Report::default();
    if let Some((facts, _)) = &checked {
        report.warnings = team_warnings(&desired, facts);
    }
    if args.verify {
        report.verified = verify(&runtime, &config.slack.api_url, &desired, &plan)?;
    }
    if text {
        out.write_all(report.text().as_bytes()).map_err(Error::Output)?;
    }
    let synced_line = checked
        .as_ref()
        .map(|(facts, directory)| super::slack::synced_line(facts, directory));
    let provenance = Provenance {
        actor: super::actor(),
        config_digest: config.digest.clone(),
        now: super::now(),
    };
    let serial = reconcile::apply(&store, &keyring, &desired, &applied, &plan, checked, provenance)?;
    let shown = if text {
        let mut shown = format!(
            "\nApply complete: {}. State serial {serial}.\n",
            render::summary_line(&plan)
        );
        shown.push_str(&synced_line.unwrap_or_default());
        shown
    } else {
        outcome(&plan, serial, &report)
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

/// What apply learned from Slack before writing, for its output.
#[derive(Debug, Default)]
struct Report {
    warnings: Vec<String>,
    /// Each probed webhook and Slack's verdict.
    verified: Vec<(String, String)>,
}

impl Report {
    fn text(&self) -> String {
        let mut text = String::new();
        for (id, verdict) in &self.verified {
            text.push_str(&format!("verified {id}: {verdict}\n"));
        }
        for warning in &self.warnings {
            text.push_str(&format!("\nWarning: {warning}\n"));
        }
        text
    }
}

/// A token being set or rotated: checked with `auth.test`, its directory read, and the
/// file's mentions resolved against that directory, all before anything is written.
fn check_new_token(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    token: &Secret,
) -> Result<(TokenFacts, SyncedDirectory), Error> {
    let facts = super::slack::check_token(runtime, &config.slack.api_url, token)?;
    let synced = super::slack::fetch(runtime, &facts, token, super::now())?;
    reconcile::check_mentions(config, &synced.directory)?;
    Ok((facts, synced))
}

/// Webhooks of another workspace than the new token's, as `plan` words it.
fn team_warnings(desired: &Desired, facts: &TokenFacts) -> Vec<String> {
    crate::plan::team_warnings(desired, &facts.team_id, &facts.team)
}

/// Probes every created or rotated webhook; a dead one, or one Slack gave no verdict
/// on, stops the apply before anything is written. Returns each verdict.
fn verify(
    runtime: &tokio::runtime::Runtime,
    api_url: &str,
    desired: &Desired,
    plan: &Plan,
) -> Result<Vec<(String, String)>, Error> {
    let client = super::slack::client(api_url);
    let (mut dead, mut unknown, mut verdicts) = (Vec::new(), Vec::new(), Vec::new());
    let probed = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Rotate));
    for change in probed {
        let Some(webhook) = desired.webhooks.iter().find(|w| w.id == change.id) else {
            continue;
        };
        let verdict = match runtime.block_on(client.probe(&webhook.url)) {
            Probe::Live => "live: Slack knows the webhook".to_owned(),
            Probe::Dead(error) => {
                dead.push(change.id.clone());
                format!("dead ({error})")
            }
            Probe::Unknown(reason) => {
                unknown.push(change.id.clone());
                format!("no verdict ({reason})")
            }
        };
        verdicts.push((change.id.clone(), verdict));
    }
    if !dead.is_empty() || !unknown.is_empty() {
        super::session::eprint(
            &Report {
                verified: verdicts.clone(),
                warnings: Vec::new(),
            }
            .text(),
        );
    }
    if !dead.is_empty() {
        return Err(Error::DeadWebhooks { ids: dead });
    }
    if !unknown.is_empty() {
        return Err(Error::Unverified { ids: unknown });
    }
    Ok(verdicts)
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
    // In a session the caller's terminal decides, and the daemon never reads its own.
    let terminal = super::session::terminal().unwrap_or_else(|| std::io::stdin().is_terminal());
    if !terminal {
        return Err(Error::NotConfirmed {
            why: "standard input is not a terminal",
        });
    }
    if super::session::active() {
        return Err(Error::NotConfirmed {
            why: "the daemon cannot ask on the caller's terminal",
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
/// the plan (as `plan --format json` shows it), and what Slack said before the write.
fn outcome(plan: &Plan, serial: u64, report: &Report) -> String {
    let verified: Vec<serde_json::Value> = report
        .verified
        .iter()
        .map(|(id, verdict)| serde_json::json!({"id": id, "verdict": verdict}))
        .collect();
    let document = serde_json::json!({
        "applied": !plan.is_empty(),
        "state_serial": serial,
        "plan": render::json_value(plan),
        "verified": verified,
        "warnings": report.warnings,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&document).expect("serializes")
    )
}
