//! `hookwarden encrypt`: a secret from standard input to an armored age block.
//!
//! The secret is read from stdin, never from arguments, so it stays out of shell
//! history and process listings.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use clap::Args;
use zeroize::Zeroizing;

use super::Context;
use crate::config;
use crate::error::{Error, Exit};
use crate::secrets::{Recipients, Secret, encrypt};

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Encrypt to this recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`); repeatable.
    /// Default: the file's `recipients:`.
    #[arg(short = 'r', long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Encrypt to the recipients listed in FILE, one a line; repeatable.
    #[arg(short = 'R', long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,

    /// Print a YAML `age: |` block, ready to paste under `url:` or `bot_token:`.
    #[arg(long)]
    pub yaml: bool,
}

/// Encrypts what `input` (standard input) holds.
pub fn run(ctx: &mut Context<'_>, args: &EncryptArgs, input: &mut dyn Read) -> Result<Exit, Error> {
    let recipients = recipients(ctx, args)?;
    let text = if std::io::stdin().is_terminal() {
        // On a terminal the secret is read without echo, so a pasted URL does not stay
        // in the scrollback; it is one line.
        Zeroizing::new(
            rpassword::prompt_password("Paste the secret and press Enter (it is not shown): ")
                .map_err(Error::Stdin)?,
        )
    } else {
        let mut text = Zeroizing::new(String::new());
        input.read_to_string(&mut text).map_err(Error::Stdin)?;
        text
    };
    // Webhook URLs and tokens never begin or end with whitespace; `echo` adds some.
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Error::EmptyInput);
    }
    let armored = encrypt(&Secret::new(secret), &recipients)?;
    let printed = if args.yaml { as_yaml(&armored) } else { armored };
    ctx.print(&printed)?;
    Ok(Exit::Success)
}

/// `-r` and `-R` when given, else the `recipients:` of the config file.
fn recipients(ctx: &Context<'_>, args: &EncryptArgs) -> Result<Recipients, Error> {
    let mut recipients = Recipients::parse(&args.recipients)?;
    for path in &args.recipients_files {
        recipients.extend(Recipients::from_file(path)?);
    }
    if recipients.is_empty() && ctx.config.exists() {
        recipients = Recipients::parse(&config::recipients(&ctx.config)?)?;
    }
    if recipients.is_empty() {
        return Err(Error::NoRecipients {
            config: ctx.config.clone(),
            updatekeys: false,
        });
    }
    Ok(recipients)
}

fn as_yaml(armored: &str) -> String {
    let mut yaml = String::from("age: |\n");
    for line in armored.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}
