//! `hookwarden encrypt`: a secret from standard input to an armored age block.
//!
//! The secret is read from stdin, never from arguments, so it stays out of shell
//! history and process listings.

use std::io::{IsTerminal, Read, Write};

use zeroize::Zeroizing;

use crate::cli::{EncryptArgs, Global};
use crate::config;
use crate::error::{Error, Exit};
use crate::secrets::{Recipients, Secret, encrypt};

pub fn run(
    global: &Global,
    args: &EncryptArgs,
    input: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<Exit, Error> {
    let recipients = recipients(global, args)?;
    if std::io::stdin().is_terminal() {
        eprintln!("Paste the secret, then press Enter and Ctrl-D:");
    }
    let mut text = Zeroizing::new(String::new());
    input.read_to_string(&mut text).map_err(Error::Stdin)?;
    // Webhook URLs and tokens never begin or end with whitespace; `echo` adds some.
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Error::EmptyInput);
    }
    let armored = encrypt(&Secret::new(secret), &recipients)?;
    let printed = if args.yaml { as_yaml(&armored) } else { armored };
    out.write_all(printed.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

/// `-r` and `-R` when given, else the `recipients:` of the config file.
fn recipients(global: &Global, args: &EncryptArgs) -> Result<Recipients, Error> {
    let mut recipients = Recipients::parse(&args.recipients)?;
    for path in &args.recipients_files {
        recipients.extend(Recipients::from_file(path)?);
    }
    if recipients.is_empty() && global.config.exists() {
        recipients = Recipients::parse(&config::recipients(&global.config)?)?;
    }
    if recipients.is_empty() {
        return Err(Error::NoRecipients {
            config: global.config.clone(),
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
