//! `hookwarden apply`: make the applied state match the desired one, after a look at
//! the plan; or apply exactly a saved plan.

use std::io::{BufRead, IsTerminal, Write};

use crate::cli::{ApplyArgs, Format, Global};
use crate::config::{self, ConfigError};
use crate::error::{Error, Exit};
use crate::plan::Plan;
use crate::planfile::SavedPlan;
use crate::reconcile::{self, Provenance};
use crate::render;
use crate::state::{Applied, StateError};

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
    let (applied, plan) = reconcile::plan(&desired, &store)?;
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
    let provenance = Provenance {
        actor: super::actor(),
        config_digest: config.digest,
        now: super::now(),
    };
    let serial = reconcile::apply(&store, &keyring, &desired, &applied, &plan, provenance)?;
    let shown = if text {
        format!(
            "\nApply complete: {}. State serial {serial}.\n",
            render::summary_line(&plan)
        )
    } else {
        outcome(&plan, serial)
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
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
