//! One module per command: each loads what it needs, calls the library, and prints.

pub mod apply;
pub mod daemon;
pub mod directory;
pub mod encrypt;
pub mod history;
pub mod plan;
pub mod send;
mod slack;
pub mod status;
pub mod validate;

use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::Global;
use crate::config::{self, Config, Desired};
use crate::error::Error;
use crate::render::Style;
use crate::secrets::{self, Keyring};
use crate::state::Store;

/// The identity, required: `command` cannot work on ciphertexts alone.
fn keyring(global: &Global, command: &'static str) -> Result<Keyring, Error> {
    secrets::discover(global.identity.as_deref(), |name| std::env::var_os(name))?
        .ok_or(Error::NoIdentity { command })
}

/// The desired-state file, loaded, checked and decrypted.
fn desired(global: &Global, keyring: &Keyring) -> Result<(Config, Desired), Error> {
    let config = config::load(&global.config)?;
    let desired = config::open(&config, keyring).map_err(config::ConfigError::Invalid)?;
    Ok((config, desired))
}

fn open_store(global: &Global, command: &str) -> Result<Store, Error> {
    let holder = format!("pid {}, {}, hookwarden {command}", std::process::id(), actor());
    Ok(Store::open(&global.state_dir(), &holder)?)
}

/// The state for a command that only reads it: `None` when there is none yet, so that
/// a mistyped `--state` does not leave an empty state behind.
fn open_existing_store(global: &Global, command: &str) -> Result<Option<Store>, Error> {
    if global.state_dir().exists() {
        open_store(global, command).map(Some)
    } else {
        Ok(None)
    }
}

/// `user@host`, for the audit log and the lock file.
fn actor() -> String {
    crate::reconcile::actor()
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
    Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}
