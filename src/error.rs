//! The program's error type, its exit codes, and how an error is printed: once, at the
//! top, with its causes and a hint where one helps.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::config::ConfigError;
use crate::planfile::PlanFileError;
use crate::secrets::SecretsError;
use crate::slack::SlackError;
use crate::state::StateError;

/// How the program ended, as its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// An error, or a check that found problems.
    Failure,
    /// `plan --detailed-exitcode` found changes.
    Changes,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::FAILURE,
            Exit::Changes => ExitCode::from(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("no bot token is applied")]
    NoToken,
    #[error("the Slack directory was never synced")]
    NotSynced,
    #[error("Slack says {} dead: {}", if ids.len() == 1 { "this webhook is" } else { "these webhooks are" }, ids.join(", "))]
    DeadWebhooks { ids: Vec<String> },
    #[error("Slack gave no verdict on {}", ids.join(", "))]
    Unverified { ids: Vec<String> },
    #[error("`{command}` needs the age identity, to compare secrets without storing them in plaintext")]
    NoIdentity { command: &'static str },
    #[error("`{command}` does not print {format}")]
    FormatUnsupported {
        command: &'static str,
        format: &'static str,
    },
    #[error("the plan deletes {deletes} of {total} webhooks")]
    MassDeletion { deletes: usize, total: usize },
    #[error("refusing to apply without confirmation: {why}")]
    NotConfirmed { why: &'static str },
    #[error("apply cancelled")]
    Cancelled,
    #[error("the saved plan no longer matches the desired and applied state")]
    PlanMismatch,
    #[error("the audit log was altered: entry #{serial} {reason}")]
    HistoryAltered { serial: u64, reason: &'static str },
    #[error("the applied webhook `{id}` cannot be used: {reason}")]
    CorruptWebhook { id: String, reason: String },
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the API token file {path}")]
    TokenFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the API token file {path} is empty")]
    EmptyTokenFile { path: std::path::PathBuf },
    #[error("the endpoint answered {status}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach the hookwarden endpoint at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("nothing to encrypt: standard input was empty")]
    EmptyInput,
    #[error("no recipients to encrypt to")]
    NoRecipients {
        /// The config file whose `recipients:` were looked for.
        config: std::path::PathBuf,
    },
    #[error("cannot read standard input")]
    Stdin(#[source] std::io::Error),
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

impl Error {
    /// What the user can do about it, where that is not already in the message.
    fn help(&self) -> Option<String> {
        match self {
            Error::Config(ConfigError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Some("pass the file with -c FILE or set HOOKWARDEN_CONFIG".to_owned())
            }
            Error::NoRecipients { config } => Some(format!(
                "pass -r age1… or -R FILE, or list public keys under `recipients:` in {}{}",
                config.display(),
                if config.exists() { "" } else { " (which does not exist; name another with -c)" }
            )),
            Error::EmptyInput => Some("pipe the secret in, or paste it and press Ctrl-D".to_owned()),
            Error::NoIdentity { .. } => Some(
                "pass --identity FILE, or set HOOKWARDEN_AGE_KEY (the key) or HOOKWARDEN_IDENTITY (a path)".to_owned(),
            ),
            Error::MassDeletion { .. } => Some(
                "check that the file is complete; if these deletions are intended, apply with --allow-mass-delete".to_owned(),
            ),
            Error::NotConfirmed { .. } => Some(
                "review the plan above and pass --auto-approve, or apply a reviewed plan file: `hookwarden plan --out FILE` then `hookwarden apply FILE`".to_owned(),
            ),
            Error::State(StateError::Stale { .. }) | Error::PlanMismatch => Some(
                "the plan was made against another state: run `hookwarden plan --out FILE` again, review it, and apply the new file".to_owned(),
            ),
            Error::State(StateError::Locked { .. }) => Some("wait for that process to finish, or stop it".to_owned()),
            Error::Slack(SlackError::MissingScopes { .. }) => Some(
                "add the missing scopes under OAuth & Permissions (Bot Token Scopes) in the app's settings, reinstall the app to the workspace, and apply again".to_owned(),
            ),
            Error::NoToken => Some("set `slack.bot_token` in the file and apply it".to_owned()),
            Error::NotSynced => Some("run `hookwarden directory sync` (apply syncs it when the token is set)".to_owned()),
            Error::DeadWebhooks { .. } => Some(
                "nothing was applied: create a new webhook in Slack, encrypt its URL, and plan again".to_owned(),
            ),
            Error::Unverified { .. } => Some("nothing was applied: try again later, or apply without --verify".to_owned()),
            _ => None,
        }
    }
}

/// The whole message for `error`: a config report's problems first, then one `error:`
/// line, the chain of causes, and a hint.
pub fn describe(error: &Error) -> String {
    let mut text = String::new();
    if let Error::Config(ConfigError::Invalid(report)) = error {
        text.push_str(&report.render());
    }
    let _ = writeln!(text, "error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = writeln!(text, "  caused by: {cause}");
        source = cause.source();
    }
    if let Some(help) = error.help() {
        let _ = writeln!(text, "  help: {help}");
    }
    text
}
