//! `hookwarden validate`: check the file, and its secrets when an identity is at hand.

use std::io::Write;

use serde::Serialize;

use crate::cli::{Format, Global};
use crate::config::{self, ConfigError, Problem};
use crate::error::{Error, Exit};
use crate::secrets;

/// What `validate --format json` prints.
#[derive(Debug, Serialize)]
struct Outcome<'a> {
    file: String,
    valid: bool,
    webhooks: usize,
    bot_token: bool,
    /// Whether secrets were decrypted and their values checked.
    secrets_checked: bool,
    identity: Option<String>,
    problems: &'a [Problem],
}

pub fn run(global: &Global, out: &mut dyn Write) -> Result<Exit, Error> {
    if global.format == Format::Markdown {
        return Err(Error::FormatUnsupported {
            command: "validate",
            format: "markdown",
        });
    }
    let file = global.config.display().to_string();
    let checked = (|| -> Result<_, Error> {
        let config = config::load(&global.config)?;
        let keyring = secrets::discover(global.identity.as_deref(), |name| std::env::var_os(name))?;
        if let Some(keyring) = &keyring {
            config::open(&config, keyring).map_err(ConfigError::Invalid)?;
        }
        Ok((config, keyring))
    })();
    let (config, keyring) = match checked {
        Ok(checked) => checked,
        Err(Error::Config(ConfigError::Invalid(report))) if global.format == Format::Json => {
            let outcome = Outcome {
                file,
                valid: false,
                webhooks: 0,
                bot_token: false,
                secrets_checked: false,
                identity: None,
                problems: &report.problems,
            };
            print_json(out, &outcome)?;
            return Ok(Exit::Failure);
        }
        Err(error) => return Err(error),
    };
    let outcome = Outcome {
        file,
        valid: true,
        webhooks: config.webhooks.len(),
        bot_token: config.slack.bot_token.is_some(),
        secrets_checked: keyring.is_some(),
        identity: keyring.as_ref().map(|k| k.source().to_string()),
        problems: &[],
    };
    match global.format {
        Format::Json => print_json(out, &outcome)?,
        Format::Text | Format::Markdown => print_text(out, &outcome).map_err(Error::Output)?,
    }
    Ok(Exit::Success)
}

fn print_text(out: &mut dyn Write, outcome: &Outcome<'_>) -> std::io::Result<()> {
    let webhooks = match outcome.webhooks {
        1 => "1 webhook".to_owned(),
        n => format!("{n} webhooks"),
    };
    let token = if outcome.bot_token {
        ", a bot token"
    } else {
        ", no bot token"
    };
    writeln!(out, "{} is valid: {webhooks}{token}.", outcome.file)?;
    match &outcome.identity {
        Some(identity) => writeln!(
            out,
            "Every secret was decrypted with the identity {identity} and checked."
        ),
        None => writeln!(
            out,
            "Secrets were not decrypted, so webhook URLs and the token were not checked: no age identity was found \
             (pass --identity FILE or set HOOKWARDEN_AGE_KEY)."
        ),
    }
}

fn print_json(out: &mut dyn Write, outcome: &Outcome<'_>) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(outcome).expect("the outcome serializes");
    writeln!(out, "{json}").map_err(Error::Output)
}
