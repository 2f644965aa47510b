//! `hookwarden validate`: check the file, and its secrets when an identity is at hand.

use std::io::Write;

use serde::Serialize;

use super::Context;
use crate::config::{self, ConfigError, Problem};
use crate::error::{Error, Exit};
use crate::render::Format;

/// What `validate --format json` prints.
#[derive(Debug, Default, Serialize)]
struct Outcome {
    file: String,
    valid: bool,
    webhooks: usize,
    bot_token: bool,
    /// Whether secrets were decrypted and their values checked.
    secrets_checked: bool,
    identity: Option<String>,
    problems: Vec<Problem>,
    /// What does not stop an apply but should be fixed: secrets not encrypted to
    /// every recipient.
    warnings: Vec<Problem>,
    /// An error that stopped the check before any problem could be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(ctx: &mut Context<'_>) -> Result<Exit, Error> {
    super::no_markdown(ctx, "validate")?;
    let mut outcome = Outcome {
        file: ctx.config.display().to_string(),
        ..Outcome::default()
    };
    match check(ctx, &mut outcome) {
        Ok(()) => {
            outcome.valid = true;
            if ctx.format != Format::Json && !outcome.warnings.is_empty() {
                let report = config::Report {
                    file: outcome.file.clone(),
                    problems: outcome.warnings.clone(),
                };
                ctx.note(&report.render_as("warning"));
            }
            match ctx.format {
                Format::Json => print_json(ctx.out, &outcome)?,
                _ => print_text(ctx.out, &outcome).map_err(Error::Output)?,
            }
            Ok(Exit::Success)
        }
        Err(error) if ctx.format == Format::Json => {
            match error {
                Error::Config(ConfigError::Invalid(report)) => outcome.problems = report.problems,
                other => outcome.error = Some(other.to_string()),
            }
            print_json(ctx.out, &outcome)?;
            Ok(Exit::Failure)
        }
        Err(error) => Err(error),
    }
}

/// Fills `outcome` as far as the checks get.
fn check(ctx: &Context<'_>, outcome: &mut Outcome) -> Result<(), Error> {
    let config = ctx.load_config()?;
    outcome.webhooks = config.webhooks.len();
    outcome.warnings = recipient_warnings(&config);
    outcome.bot_token = config.slack.bot_token.is_some();
    if let Some(keyring) = ctx.find_keyring()? {
        outcome.identity = Some(keyring.source().to_string());
        // Every value, whatever was applied: validating is checking each of them.
        config::open(&config, &keyring, &config::Known::default()).map_err(ConfigError::Invalid)?;
        outcome.secrets_checked = true;
    }
    Ok(())
}

/// A warning at each secret whose header does not match `recipients:`: a host or person
/// listed there cannot open it.
fn recipient_warnings(config: &config::Config) -> Vec<Problem> {
    let Ok(recipients) = crate::secrets::Recipients::parse(&config.recipients) else {
        return Vec::new();
    };
    let expected = recipients.stanzas();
    config
        .sealed()
        .filter_map(|sealed| {
            let found = crate::secrets::stanzas(&sealed.armored).ok()?;
            let reason = crate::secrets::differs(&found, &expected)?;
            Some(
                Problem::new(
                    "recipients-differ",
                    sealed.at,
                    format!("`{}` is not encrypted to the file's recipients: {reason}", sealed.field),
                )
                .help("run `hookwarden updatekeys` with an identity that can open it, to re-encrypt it to every key under `recipients:`"),
            )
        })
        .collect()
}

fn print_text(out: &mut dyn Write, outcome: &Outcome) -> std::io::Result<()> {
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
             (pass --identity FILE, set HOOKWARDEN_AGE_KEY or HOOKWARDEN_IDENTITY, or put it in ~/.config/hookwarden/identity.txt)."
        ),
    }
}

fn print_json(out: &mut dyn Write, outcome: &Outcome) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(outcome).expect("the outcome serializes");
    writeln!(out, "{json}").map_err(Error::Output)
}
