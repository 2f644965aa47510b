//! One module per command: each loads what it needs, calls the library, and prints.

pub mod apply;
pub mod daemon;
pub mod directory;
pub mod encrypt;
pub mod history;
pub mod plan;
pub mod send;
pub mod session;
mod slack;
pub mod status;
pub mod validate;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::Global;
use crate::config::{self, Config, Desired};
use crate::error::Error;
use crate::render::Style;
use crate::secrets::{self, Keyring};
use crate::state::Store;

/// The identity, required: `command` cannot work on ciphertexts alone.
fn keyring(global: &Global, command: &'static str) -> Result<Arc<Keyring>, Error> {
    if let Some(keyring) = session::keyring() {
        return Ok(keyring);
    }
    let found = secrets::discover(global.identity.as_deref(), |name| std::env::var_os(name))?;
    found.map(Arc::new).ok_or(Error::NoIdentity { command })
}

/// The desired-state file, checked: the caller's copy in a session.
fn load_config(global: &Global) -> Result<Config, Error> {
    Ok(
        config::parse(&global.config.display().to_string(), &config_text(global)?)
            .map_err(config::ConfigError::Invalid)?,
    )
}

/// The desired-state file's text: the caller's, through the admin socket, or the
/// local file.
fn config_text(global: &Global) -> Result<String, Error> {
    match session::file(&global.config) {
        session::Source::Sent(text) => Ok(text),
        session::Source::Local => Ok(config::read(&global.config)?),
        session::Source::Missing => Err(config::ConfigError::Read {
            path: global.config.clone(),
            source: not_sent(),
        }
        .into()),
    }
}

/// What a caller sees for a file it could not send: what it would see locally.
fn not_sent() -> std::io::Error {
    std::io::Error::from_raw_os_error(2)
}

/// The desired-state file, loaded, checked and decrypted.
fn desired(global: &Global, keyring: &Keyring) -> Result<(Config, Desired), Error> {
    let file = global.config.display().to_string();
    Ok(config::parse_open(&file, &config_text(global)?, keyring).map_err(config::ConfigError::Invalid)?)
}

fn open_store(global: &Global, command: &str) -> Result<Arc<Store>, Error> {
    if let Some(store) = session::store() {
        return Ok(store);
    }
    let holder = format!("pid {}, {}, hookwarden {command}", std::process::id(), actor());
    Ok(Arc::new(Store::open(&global.state_dir(), &holder)?))
}

/// The state for a command that only reads it: `None` when there is none yet, so that
/// a mistyped `--state` does not leave an empty state behind.
fn open_existing_store(global: &Global, command: &str) -> Result<Option<Arc<Store>>, Error> {
    if session::active() || global.state_dir().exists() {
        open_store(global, command).map(Some)
    } else {
        Ok(None)
    }
}

/// A saved plan: the caller's copy in a session.
fn read_plan(path: &std::path::Path) -> Result<crate::planfile::SavedPlan, Error> {
    Ok(match session::file(path) {
        session::Source::Sent(text) => crate::planfile::SavedPlan::parse(path, &text)?,
        session::Source::Local => crate::planfile::SavedPlan::read(path)?,
        session::Source::Missing => {
            return Err(crate::planfile::PlanFileError::Read {
                path: path.to_owned(),
                source: not_sent(),
            }
            .into());
        }
    })
}

/// `user@host`, for the audit log and the lock file.
fn actor() -> String {
    session::actor().unwrap_or_else(crate::reconcile::actor)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix seconds as RFC 3339 (UTC), as status and history show times.
fn timestamp(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn style() -> Style {
    if session::active() {
        return Style { color: false };
    }
    Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}
