//! `hookwarden updatekeys`: re-encrypt the file's secrets to its current `recipients:`.
//!
//! After a key is added to `recipients:` (a deploy host's, a new colleague's), the
//! secrets are still encrypted to the old set, and only their holders can open them.
//! This opens each secret whose recipients differ with an identity at hand, encrypts it
//! to the listed recipients, and writes the new blocks in place of the old ones,
//! leaving the rest of the file as it was.

use std::io::Write as _;
use std::path::Path;

use clap::Args;
use serde::Serialize;

use super::Context;
use crate::config::{self, ConfigError, Report, Sealed};
use crate::error::{Error, Exit};
use crate::render::Format;
use crate::secrets::{self, Recipients};

#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// Rewrite without asking (needed off a terminal and with --format json).
    #[arg(short, long)]
    pub yes: bool,

    /// Re-encrypt every secret, also those whose header already matches: after a key
    /// was replaced by another, which a header cannot tell apart.
    #[arg(long)]
    pub all: bool,
}

/// A secret that is re-encrypted, and why.
#[derive(Debug, Clone, Serialize)]
struct Change {
    field: String,
    line: usize,
    reason: String,
}

/// What `updatekeys --format json` prints.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    file: String,
    recipients: usize,
    changes: &'a [Change],
    written: bool,
}

pub fn run(ctx: &mut Context<'_>, args: &UpdatekeysArgs) -> Result<Exit, Error> {
    super::no_markdown(ctx, "updatekeys")?;
    let config = ctx.load_config()?;
    let recipients = Recipients::parse(&config.recipients)?;
    if recipients.is_empty() {
        return Err(Error::NoRecipients {
            config: ctx.config.clone(),
            updatekeys: true,
        });
    }
    let changes = changes(&config, &recipients, args.all);
    let file = ctx.config.display().to_string();
    let json = ctx.format == Format::Json;
    if changes.is_empty() {
        if json {
            print_json(ctx, &file, &recipients, &[], false)?;
        } else {
            ctx.print(&format!(
                "Nothing to update: every secret in {file} is encrypted to as many keys as `recipients:` lists ({}).\n\
                 A header names SSH keys but not X25519 ones: after replacing a key with another, run `hookwarden updatekeys --all`.\n",
                recipients.names().len()
            ))?;
        }
        return Ok(Exit::Success);
    }
    let listed: Vec<Change> = changes.iter().map(|(_, change)| change.clone()).collect();
    if !json {
        ctx.print(&list(&file, &recipients, &listed))?;
    }
    let keyring = ctx.keyring("updatekeys")?;
    let mut problems = Vec::new();
    let mut replacements = Vec::new();
    for (sealed, _) in &changes {
        match config::unseal(sealed, &keyring).and_then(|secret| {
            secrets::encrypt(&secret, &recipients).map_err(|e| {
                config::Problem::new("encrypt-failed", sealed.at, format!("`{}`: {e}", sealed.field))
            })
        }) {
            Ok(armored) => replacements.push((*sealed, armored)),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(Report { file, problems }).into());
    }
    if !args.yes {
        confirm(ctx, listed.len())?;
    }
    let text = config::replace_secrets(&config, &replacements).map_err(ConfigError::Invalid)?;
    // The file may have changed while we asked: an edit made meanwhile is not lost.
    if config::read(&ctx.config).map(|now| config::digest(&now)).ok() != Some(config.digest()) {
        return Err(Error::ChangedMeanwhile {
            path: ctx.config.clone(),
        });
    }
    write_in_place(&ctx.config, &text).map_err(|source| Error::Write {
        path: ctx.config.clone(),
        source,
        needs: "updatekeys writes a new file beside it and renames it over the old one: it needs write access to the file's directory",
    })?;
    if json {
        print_json(ctx, &file, &recipients, &listed, true)?;
    } else {
        ctx.print(&format!(
            "Updated {} in {file}; review it with `git diff {file}` and commit it.\n",
            count(listed.len(), "secret")
        ))?;
    }
    Ok(Exit::Success)
}

/// The secrets to re-encrypt: those whose header does not match `recipients`, or all.
fn changes<'c>(config: &'c config::Config, recipients: &Recipients, all: bool) -> Vec<(&'c Sealed, Change)> {
    let expected = recipients.stanzas();
    config
        .sealed()
        .filter_map(|sealed| {
            let reason = match secrets::stanzas(&sealed.armored) {
                Ok(found) => secrets::differs(&found, &expected),
                Err(reason) => Some(reason),
            };
            let reason = reason.or_else(|| all.then(|| "--all".to_owned()))?;
            Some((
                sealed,
                Change {
                    field: sealed.field.clone(),
                    line: sealed.at.line,
                    reason,
                },
            ))
        })
        .collect()
}

fn count(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

fn list(file: &str, recipients: &Recipients, changes: &[Change]) -> String {
    let mut text = format!(
        "{} in {file} need re-encrypting to the keys under `recipients:` ({}):\n",
        count(changes.len(), "secret"),
        recipients.names().len()
    );
    for change in changes {
        text.push_str(&format!(
            "  ~ {} (line {}): {}\n",
            change.field, change.line, change.reason
        ));
    }
    text
}

/// Asks on the terminal (the question on stderr): `y` or `yes` goes on.
fn confirm(ctx: &mut Context<'_>, n: usize) -> Result<(), Error> {
    let refused = |why| Error::NotConfirmed {
        why,
        updatekeys: true,
    };
    if ctx.format != Format::Text {
        return Err(refused("--format json cannot ask"));
    }
    ctx.can_ask().map_err(refused)?;
    ctx.note(&format!(
        "\nRe-encrypt {} and rewrite the file? [y/N] ",
        if n == 1 { "it" } else { "them" }
    ));
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(Error::Stdin)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Cancelled { updatekeys: true }),
    }
}

fn print_json(
    ctx: &mut Context<'_>,
    file: &str,
    recipients: &Recipients,
    changes: &[Change],
    written: bool,
) -> Result<(), Error> {
    let outcome = Outcome {
        file: file.to_owned(),
        recipients: recipients.names().len(),
        changes,
        written,
    };
    let json = serde_json::to_string_pretty(&outcome).expect("the outcome serializes");
    ctx.print(&format!("{json}\n"))
}

/// Replaces the file's content at once: a new file beside it, with its owner, group and
/// mode, flushed, then renamed over it. A symlinked file is written where the link
/// points; another hard link to it keeps the old content.
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let target = std::fs::canonicalize(path)?;
    let old = std::fs::metadata(&target)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let temporary = target.with_file_name(format!(".{name}.updatekeys-{}-{nanos}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        // The old file's owner, group and mode, whatever the umask: a daemon that reads
        // it through its group still can.
        if (old.uid(), old.gid())
            != (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        {
            rustix::fs::fchown(
                &file,
                Some(rustix::fs::Uid::from_raw(old.uid())),
                Some(rustix::fs::Gid::from_raw(old.gid())),
            )?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))?;
        file.sync_all()?;
        std::fs::rename(&temporary, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
