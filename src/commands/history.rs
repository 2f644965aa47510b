//! `hookwarden history`: the audit log of applies, and `--verify` of its hash chain.

use std::io::Write;

use crate::cli::{Format, Global, HistoryArgs};
use crate::error::{Error, Exit};
use crate::state::audit::{self, AuditEntry};

pub fn run(global: &Global, args: &HistoryArgs, out: &mut dyn Write) -> Result<Exit, Error> {
    if global.format == Format::Markdown {
        return Err(Error::FormatUnsupported {
            command: "history",
            format: "markdown",
        });
    }
    let Some(store) = super::open_existing_store(global, "history")? else {
        let shown = match global.format {
            Format::Json => "[]\n".to_owned(),
            _ => format!(
                "No applies yet: there is no state in {}.\n",
                global.state_dir().display()
            ),
        };
        out.write_all(shown.as_bytes()).map_err(Error::Output)?;
        return Ok(Exit::Success);
    };
    let entries = store.history()?;
    if args.verify {
        let head = store.audit_head()?;
        audit::verify(&entries, &head).map_err(|broken| Error::HistoryAltered {
            serial: broken.serial,
            reason: broken.reason,
        })?;
        let shown = match global.format {
            Format::Json => format!(
                "{}\n",
                serde_json::json!({"verified": true, "entries": entries.len(), "head": head.hash})
            ),
            _ => format!(
                "The audit log is intact: {} entries, each chained to the one before, ending at the state's serial {}.\nChain head: {}\n",
                entries.len(),
                head.serial,
                if head.hash.is_empty() {
                    "(empty)"
                } else {
                    &head.hash
                }
            ),
        };
        out.write_all(shown.as_bytes()).map_err(Error::Output)?;
        return Ok(Exit::Success);
    }
    let shown = match global.format {
        Format::Json => json(&entries),
        _ => text(&entries),
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

fn json(entries: &[AuditEntry]) -> String {
    let entries: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut value = serde_json::to_value(e).expect("serializes");
            value["time"] = super::timestamp(e.time).into();
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
                super::timestamp(e.time),
                e.actor.clone(),
                e.summary.clone(),
                digest,
            ]
        })
        .collect();
    super::status::table(&header, &rows)
}
