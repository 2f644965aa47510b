//! The program's error type, its exit codes, and how an error is printed: once, at the
//! top, with its causes and a hint where one helps.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::config::ConfigError;
use crate::secrets::SecretsError;

/// How the program ended, as its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// An error, or a check that found problems.
    Failure,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::Success => ExitCode::SUCCESS,
            Exit::Failure => ExitCode::FAILURE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("nothing to encrypt: standard input was empty")]
    EmptyInput,
    #[error("no recipients to encrypt to")]
    NoRecipients,
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
            Error::NoRecipients => Some(
                "pass -r age1… or -R FILE, or list the public keys under `recipients:` in the config file (-c)".to_owned(),
            ),
            Error::EmptyInput => Some("pipe the secret in, or paste it and press Ctrl-D".to_owned()),
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
