//! `hookwarden directory sync|list|resolve`: the Slack directory the bot token sees.

use std::io::Write;

use serde::Serialize;

use crate::cli::{DirectoryCommand, Format, Global};
use crate::directory::{Directory, Index};
use crate::error::{Error, Exit};
use crate::secrets::decrypt;

pub fn run(global: &Global, command: &DirectoryCommand, out: &mut dyn Write) -> Result<Exit, Error> {
    if global.format == Format::Markdown {
        return Err(Error::FormatUnsupported {
            command: "directory",
            format: "markdown",
        });
    }
    match command {
        DirectoryCommand::Sync => sync(global, out),
        DirectoryCommand::List => list(global, out),
        DirectoryCommand::Resolve { mentions } => resolve(global, mentions, out),
    }
}

fn sync(global: &Global, out: &mut dyn Write) -> Result<Exit, Error> {
    let keyring = super::keyring(global, "directory sync")?;
    let store = super::open_store(global, "directory sync")?;
    let token = store.applied()?.token.ok_or(Error::NoToken)?;
    let facts = token.facts.ok_or(Error::NoToken)?;
    let secret = decrypt(&token.secret.armored, &keyring)?;
    let runtime = super::slack::runtime();
    let synced = super::slack::sync(&runtime, &store, &facts, &secret, super::now())?;
    let shown = match global.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "team_id": facts.team_id,
                "users": synced.directory.users.len(),
                "groups": synced.directory.groups.len(),
                "synced_at": super::timestamp(synced.synced_at),
            })
        ),
        _ => super::slack::synced_line(&facts, &synced),
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

fn stored(global: &Global, command: &str) -> Result<Directory, Error> {
    let store = super::open_existing_store(global, command)?;
    let synced = match store {
        Some(store) => store.directory()?,
        None => None,
    };
    synced.map(|s| s.directory).ok_or(Error::NotSynced)
}

fn list(global: &Global, out: &mut dyn Write) -> Result<Exit, Error> {
    let directory = stored(global, "directory list")?;
    let shown = match global.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&directory).expect("serializes")
        ),
        _ => {
            let header = ["USER", "ID", "DISPLAY NAME", "REAL NAME", "EMAIL"].map(str::to_owned);
            let users: Vec<[String; 5]> = directory
                .users
                .iter()
                .map(|u| {
                    let email = u.email.clone().unwrap_or_else(|| "-".to_owned());
                    [
                        format!("@{}", u.name),
                        u.id.clone(),
                        u.display_name.clone(),
                        u.real_name.clone(),
                        email,
                    ]
                })
                .collect();
            let header_groups = ["GROUP", "ID", "NAME", "MEMBERS"].map(str::to_owned);
            let groups: Vec<[String; 4]> = directory
                .groups
                .iter()
                .map(|g| {
                    [
                        format!("@{}", g.handle),
                        g.id.clone(),
                        g.name.clone(),
                        g.users.len().to_string(),
                    ]
                })
                .collect();
            format!(
                "{}\n{}",
                super::status::table(&header, &users),
                super::status::table(&header_groups, &groups)
            )
        }
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

#[derive(Debug, Serialize)]
struct Resolution<'a> {
    mention: &'a str,
    /// The Slack form, when it resolved.
    slack: Option<String>,
    error: Option<String>,
}

fn resolve(global: &Global, mentions: &[String], out: &mut dyn Write) -> Result<Exit, Error> {
    let directory = stored(global, "directory resolve")?;
    let index = Index::new(directory);
    let resolutions: Vec<Resolution<'_>> = mentions
        .iter()
        .map(|mention| match index.resolve(mention) {
            Ok(target) => Resolution {
                mention,
                slack: Some(target.slack()),
                error: None,
            },
            Err(unresolved) => Resolution {
                mention,
                slack: None,
                error: Some(unresolved.describe(mention)),
            },
        })
        .collect();
    let shown = match global.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&resolutions).expect("serializes")
        ),
        _ => {
            let width = mentions.iter().map(|m| m.chars().count()).max().unwrap_or(0);
            resolutions
                .iter()
                .map(|r| match (&r.slack, &r.error) {
                    (Some(slack), _) => format!("{:<width$}  {slack}\n", r.mention),
                    (None, Some(error)) => format!("{:<width$}  error: {error}\n", r.mention),
                    (None, None) => String::new(),
                })
                .collect()
        }
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    let failed = resolutions.iter().any(|r| r.error.is_some());
    Ok(if failed { Exit::Failure } else { Exit::Success })
}
