//! `hookwarden history`: the audit log of applies, and `--verify` of its hash chain.

use clap::Args;

use super::Context;
use super::table::table;
use crate::clock::rfc3339_secs as timestamp;
use crate::error::{Error, Exit};
use crate::render::Format;
use crate::state::audit::{self, AuditEntry};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Check the hash chain and report the first entry that was altered.
    #[arg(long)]
    pub verify: bool,
}

pub fn run(ctx: &mut Context<'_>, args: &HistoryArgs) -> Result<Exit, Error> {
    super::no_markdown(ctx, "history")?;
    let Some(store) = ctx.open_existing_store("history")? else {
        let shown = match ctx.format {
            Format::Json => {
                ctx.note(&format!("note: {}\n", ctx.no_state()));
                "[]\n".to_owned()
            }
            _ => format!("No applies yet: {}.\n", ctx.no_state()),
        };
        ctx.print(&shown)?;
        return Ok(Exit::Success);
    };
    let entries = store.history()?;
    if args.verify {
        let head = store.audit_head()?;
        audit::verify(&entries, &head).map_err(|broken| Error::HistoryAltered {
            serial: broken.serial,
            reason: broken.reason,
        })?;
        let shown = match ctx.format {
            Format::Json => format!(
                "{}\n",
                serde_json::json!({"verified": true, "entries": entries.len(), "head": head.hash})
            ),
            _ => format!(
                "The audit log is intact: {} {}, each chained to the one before, ending at the state's serial {}.\nChain head: {}\n",
                entries.len(),
                if entries.len() == 1 { "entry" } else { "entries" },
                head.serial,
                if head.hash.is_empty() {
                    "(empty)"
                } else {
                    &head.hash
                }
            ),
        };
        ctx.print(&shown)?;
        return Ok(Exit::Success);
    }
    let shown = match ctx.format {
        Format::Json => json(&entries),
        _ => text(&entries),
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

fn json(entries: &[AuditEntry]) -> String {
    let entries: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut value = serde_json::to_value(e).expect("serializes");
            value["time"] = timestamp(e.time).into();
            value
        })
        .collect();
    format!(
        "{}\n",
        serde_json::to_string_pretty(&entries).expect("serializes")
    )
}

fn text(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "No applies yet.\n".to_owned();
    }
    let header = ["SERIAL", "TIME", "BY", "CHANGES", "CONFIG"].map(str::to_owned);
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let digest: String = e.config_digest.chars().take(19).collect();
            [
                format!("#{}", e.serial),
                timestamp(e.time),
                e.actor.clone(),
                e.summary.clone(),
                digest,
            ]
        })
        .collect();
    table(&header, &rows)
}
