//! How an error is shown: once, at the top, with a config report's problems first, then
//! one `error:` line, the chain of causes, and what to do about it where that helps.
//!
//! Each boundary's error type says what its own variants need ([`Explain`]); this module
//! knows the lower ones (config, state, Slack, secrets) and prints any of them.

use std::fmt::Write as _;

use crate::config::{ConfigError, Report};
use crate::secrets::SecretsError;
use crate::slack::SlackError;
use crate::state::StateError;

/// The help for a plan made against another state.
pub const MAKE_A_NEW_PLAN: &str = "the plan was made against another state: run `hookwarden plan --out FILE` again, review it, and apply the new file";

/// What an error adds to its message when it is shown.
pub trait Explain: std::error::Error {
    /// A config report behind the error, shown before it.
    fn report(&self) -> Option<&Report> {
        None
    }

    /// What the user can do about it, where the message does not already say.
    fn help(&self) -> Option<String> {
        None
    }
}

/// The whole message for `error`: a config report's problems first, then one `error:`
/// line, the chain of causes, and a hint.
pub fn describe(error: &dyn Explain) -> String {
    let mut text = String::new();
    if let Some(report) = error.report() {
        text.push_str(&report.render());
    }
    let _ = writeln!(text, "error: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = writeln!(text, "  caused by: {cause}");
        source = cause.source();
    }
    if let Some(help) = error.help() {
        let _ = writeln!(text, "  help: {help}");
    }
    text
}

impl Explain for ConfigError {
    fn report(&self) -> Option<&Report> {
        match self {
            ConfigError::Invalid(report) => Some(report),
            ConfigError::Read { .. } => None,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            ConfigError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Some("pass the file with -c FILE or set HOOKWARDEN_CONFIG".to_owned())
            }
            _ => None,
        }
    }
}

impl Explain for StateError {
    fn help(&self) -> Option<String> {
        match self {
            StateError::Stale { .. } => Some(MAKE_A_NEW_PLAN.to_owned()),
            StateError::Locked { .. } => Some("wait for that process to finish, or stop it".to_owned()),
            full if full.is_storage_full() => Some(
                "free space on the disk that holds the state; nothing stored is lost, and the daemon (under systemd, its restart) carries on from there".to_owned(),
            ),
            _ => None,
        }
    }
}

impl Explain for SlackError {
    fn help(&self) -> Option<String> {
        match self {
            SlackError::MissingScopes { .. } => Some(
                "add the missing scopes under OAuth & Permissions (Bot Token Scopes) in the app's settings, reinstall the app to the workspace, and apply again".to_owned(),
            ),
            _ => None,
        }
    }
}

impl Explain for SecretsError {}
