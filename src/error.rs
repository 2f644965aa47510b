//! The command line's error type and its exit codes: what a command can fail with, each
//! boundary's error inside it, printed once at the top by [`describe`].

use std::process::ExitCode;

use crate::config::{ConfigError, Report};
use crate::daemon::DaemonError;
use crate::explain::{Explain, MAKE_A_NEW_PLAN};
use crate::planfile::PlanFileError;
use crate::reconcile::ReconcileError;
use crate::remote::RemoteError;
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

impl Exit {
    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
        }
    }

    /// The exit of a command the daemon ran, from its status.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Exit::Success,
            2 => Exit::Changes,
            _ => Exit::Failure,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
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
    #[error(transparent)]
    Reconcile(ReconcileError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    #[error("no bot token is applied")]
    NoToken,
    #[error("the Slack directory was never synced")]
    NotSynced,
    #[error("{looked}")]
    NoState { looked: String, named: bool },
    #[error("{} changed while updatekeys ran; nothing was written", path.display())]
    ChangedMeanwhile { path: std::path::PathBuf },
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
        /// What the write needed, for the help.
        needs: &'static str,
    },
    #[error("`{command}` needs the age identity, {}", if *command == "updatekeys" { "to open the secrets it re-encrypts" } else { "to compare secrets without storing them in plaintext" })]
    NoIdentity { command: &'static str },
    #[error("`{command}` does not print {format}")]
    FormatUnsupported {
        command: &'static str,
        format: &'static str,
    },
    #[error("the plan deletes {deletes} of {total} webhooks")]
    MassDeletion { deletes: usize, total: usize },
    #[error("refusing to {} without confirmation: {why}", if *.updatekeys { "rewrite the file" } else { "apply" })]
    NotConfirmed { why: &'static str, updatekeys: bool },
    #[error("{} cancelled", if *.updatekeys { "updatekeys" } else { "apply" })]
    Cancelled { updatekeys: bool },
    #[error("the saved plan no longer matches the desired and applied state")]
    PlanMismatch,
    #[error("the audit log was altered: entry #{serial} {reason}")]
    HistoryAltered { serial: u64, reason: &'static str },
    #[error("nothing to encrypt: standard input was empty")]
    EmptyInput,
    #[error("no recipients to encrypt to")]
    NoRecipients {
        /// The config file whose `recipients:` were looked for.
        config: std::path::PathBuf,
        /// Whether `updatekeys` asked, which takes no `-r`.
        updatekeys: bool,
    },
    #[error("cannot read {}", path.display())]
    Input {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than {} MiB, the most the daemon accepts in one request", path.display(), limit / (1024 * 1024))]
    InputTooLarge { path: std::path::PathBuf, limit: usize },
    #[error("{}:{line}:{column}: {reason}", path.display())]
    InputInvalid {
        path: std::path::PathBuf,
        line: usize,
        column: usize,
        reason: String,
        /// What the file was read as, for the help.
        expected: &'static str,
    },
    #[error("no webhook `{id}` in the file")]
    UnknownWebhook { id: String, known: Vec<String> },
    #[error("the daemon would refuse this alert ({code}): {message}")]
    AlertRefused { code: &'static str, message: String },
    #[error("cannot read standard input")]
    Stdin(#[source] std::io::Error),
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
}

/// The pass's errors of a lower boundary stay that boundary's, as if the command had met
/// them itself.
impl From<ReconcileError> for Error {
    fn from(error: ReconcileError) -> Self {
        match error {
            ReconcileError::Config(error) => Error::Config(error),
            ReconcileError::Secrets(error) => Error::Secrets(error),
            ReconcileError::State(error) => Error::State(error),
            ReconcileError::Slack(error) => Error::Slack(error),
            other => Error::Reconcile(other),
        }
    }
}

impl Explain for Error {
    fn report(&self) -> Option<&Report> {
        match self {
            Error::Config(error) => error.report(),
            Error::PlanFile(error) => error.report(),
            Error::Reconcile(error) => error.report(),
            Error::Daemon(error) => error.report(),
            _ => None,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            Error::Config(error) => error.help(),
            Error::State(error) => error.help(),
            Error::Slack(error) => error.help(),
            Error::Reconcile(error) => error.help(),
            Error::Daemon(error) => error.help(),
            Error::NoRecipients { config, updatekeys } => Some(format!(
                "{}list public keys under `recipients:` in {}{}",
                if *updatekeys { "" } else { "pass -r age1… or -R FILE, or " },
                config.display(),
                if config.exists() { "" } else { " (which does not exist; name another with -c)" }
            )),
            Error::EmptyInput => Some("pipe the secret in, or paste it and press Enter".to_owned()),
            Error::NoIdentity { .. } => Some(
                "pass --identity FILE, set HOOKWARDEN_AGE_KEY (the key) or HOOKWARDEN_IDENTITY (a path), or put it in ~/.config/hookwarden/identity.txt".to_owned(),
            ),
            Error::MassDeletion { .. } => Some(
                "check that the file is complete; if these deletions are intended, apply with --allow-mass-delete".to_owned(),
            ),
            Error::NotConfirmed { updatekeys: true, .. } => {
                Some("review the secrets listed above and pass --yes".to_owned())
            }
            Error::NotConfirmed { .. } => Some(
                "review the plan above and pass --auto-approve, or apply a reviewed plan file: `hookwarden plan --out FILE` then `hookwarden apply FILE`".to_owned(),
            ),
            Error::PlanMismatch => Some(MAKE_A_NEW_PLAN.to_owned()),
            Error::InputInvalid { expected, .. } => Some(format!("the file must hold {expected}")),
            Error::UnknownWebhook { known, .. } if known.is_empty() => {
                Some("the file defines no webhooks".to_owned())
            }
            Error::UnknownWebhook { known, .. } => Some(format!(
                "the webhooks in the file are {}",
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            )),
            Error::Remote(RemoteError::Api { status: 401, message, .. }) => Some(if message.contains("admin token") {
                "set HOOKWARDEN_ADMIN_TOKEN_FILE to a file that holds the daemon's admin token".to_owned()
            } else {
                "set HOOKWARDEN_API_TOKEN_FILE to a file that holds the daemon's API token".to_owned()
            }),
            Error::NoToken => Some("set `slack.bot_token` in the file and apply it".to_owned()),
            Error::NoState { named: true, .. } => {
                Some("check the path, or run it on the daemon's host (its admin socket) or with --remote".to_owned())
            }
            Error::NoState { .. } => Some(
                "run it where the state is, name the state with --state, or run it on the daemon's host (its admin socket) or with --remote".to_owned(),
            ),
            Error::Write { needs, .. } => Some((*needs).to_owned()),
            Error::ChangedMeanwhile { .. } => Some("run `hookwarden updatekeys` again on the file as it is now".to_owned()),
            Error::NotSynced => Some("run `hookwarden directory sync` (apply syncs it when the token is set)".to_owned()),
            _ => None,
        }
    }
}

/// The whole message for `error`, as it is printed once at the top.
pub fn describe(error: &Error) -> String {
    crate::explain::describe(error)
}
