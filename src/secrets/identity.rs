//! Finding and reading age identities, and parsing recipients.
//!
//! Identities are looked up in the order of the design: `--identity FILE`,
//! `HOOKWARDEN_AGE_KEY` (the key itself, for CI secret variables),
//! `HOOKWARDEN_IDENTITY` (a path), `$CREDENTIALS_DIRECTORY/age-identity` (systemd
//! `LoadCredential=`), then `~/.config/hookwarden/identity.txt`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::{ssh, x25519};

use super::SecretsError;
use super::x25519::FastIdentity;

/// Where an identity came from, as error messages name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    Flag(PathBuf),
    EnvKey,
    EnvPath(PathBuf),
    Credentials(PathBuf),
    Home(PathBuf),
    Text,
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentitySource::Flag(path) => write!(f, "{} (--identity)", path.display()),
            IdentitySource::EnvKey => f.write_str("from HOOKWARDEN_AGE_KEY"),
            IdentitySource::EnvPath(path) => write!(f, "HOOKWARDEN_IDENTITY={}", path.display()),
            IdentitySource::Credentials(path) => write!(f, "{}", path.display()),
            IdentitySource::Home(_) => f.write_str("~/.config/hookwarden/identity.txt"),
            IdentitySource::Text => f.write_str("given"),
        }
    }
}

/// The private keys of one identity file or variable.
pub struct Keyring {
    source: IdentitySource,
    keys: Vec<Key>,
}

enum Key {
    /// age's identity for its public key; the fast one to decrypt.
    X25519(x25519::Identity, FastIdentity),
    Ssh(ssh::Identity),
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// Looks for an identity in the documented order. `None` when there is none at all;
/// an error when one is named but cannot be read or parsed.
pub fn discover(
    flag: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Option<Keyring>, SecretsError> {
    if let Some(path) = flag {
        return Keyring::from_file(IdentitySource::Flag(path.to_owned())).map(Some);
    }
    if let Some(key) = env("HOOKWARDEN_AGE_KEY").filter(|k| !k.is_empty()) {
        let text = key.to_string_lossy();
        return Keyring::parse(IdentitySource::EnvKey, &text).map(Some);
    }
    if let Some(path) = env("HOOKWARDEN_IDENTITY").filter(|p| !p.is_empty()) {
        return Keyring::from_file(IdentitySource::EnvPath(path.into())).map(Some);
    }
    let credentials = env("CREDENTIALS_DIRECTORY").map(|dir| PathBuf::from(dir).join("age-identity"));
    if let Some(path) = credentials.filter(|p| p.exists()) {
        return Keyring::from_file(IdentitySource::Credentials(path)).map(Some);
    }
    let home = env("HOME").map(|home| PathBuf::from(home).join(".config/hookwarden/identity.txt"));
    if let Some(path) = home.filter(|p| p.exists()) {
        return Keyring::from_file(IdentitySource::Home(path)).map(Some);
    }
    Ok(None)
}

impl Keyring {
    /// Parses identity text (as `age-keygen` or `ssh-keygen` writes it) given directly.
    pub fn from_text(text: &str) -> Result<Self, SecretsError> {
        Keyring::parse(IdentitySource::Text, text)
    }

    fn from_file(source: IdentitySource) -> Result<Self, SecretsError> {
        let path = match &source {
            IdentitySource::Flag(p)
            | IdentitySource::EnvPath(p)
            | IdentitySource::Credentials(p)
            | IdentitySource::Home(p) => p.clone(),
            IdentitySource::EnvKey | IdentitySource::Text => unreachable!("not a file source"),
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|source_err| {
            SecretsError::IdentityRead {
                source_desc: source.clone(),
                source: source_err,
            }
        })?);
        Keyring::parse(source, &text)
    }

    fn parse(source: IdentitySource, text: &str) -> Result<Self, SecretsError> {
        let unusable = |reason: String| SecretsError::IdentityParse {
            source_desc: source.clone(),
            reason,
        };
        let keys = if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
            || text.contains("-----BEGIN RSA PRIVATE KEY-----")
        {
            vec![Key::Ssh(parse_ssh(text).map_err(unusable)?)]
        } else {
            parse_age_lines(text).map_err(|reason| match source {
                IdentitySource::EnvKey if !text.contains("AGE-SECRET-KEY-") => unusable(format!(
                    "{reason}; HOOKWARDEN_AGE_KEY holds the key itself: to name a key file, set HOOKWARDEN_IDENTITY"
                )),
                _ => unusable(reason),
            })?
        };
        if keys.is_empty() {
            return Err(unusable("it holds no keys".to_owned()));
        }
        Ok(Keyring { source, keys })
    }

    pub fn source(&self) -> &IdentitySource {
        &self.source
    }

    pub fn identities(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|key| match key {
            Key::X25519(_, fast) => fast as &dyn age::Identity,
            Key::Ssh(k) => k as &dyn age::Identity,
        })
    }

    /// The public side of every key, to encrypt to this identity.
    pub fn recipients(&self) -> Recipients {
        let keys = self.keys.iter().filter_map(|key| match key {
            Key::X25519(k, _) => Some(Recipient::X25519(k.to_public())),
            Key::Ssh(k) => ssh::Recipient::try_from(k.clone()).ok().map(Recipient::Ssh),
        });
        Recipients(keys.collect())
    }
}

fn parse_ssh(text: &str) -> Result<ssh::Identity, String> {
    let identity = ssh::Identity::from_buffer(text.as_bytes(), None)
        .map_err(|e| format!("it is not a readable SSH private key ({e})"))?;
    match identity {
        ssh::Identity::Unencrypted(_) => Ok(identity),
        ssh::Identity::Encrypted(_) => {
            Err("it is a passphrase-protected SSH key; use an unencrypted key or an age key".to_owned())
        }
        ssh::Identity::Unsupported(_) => {
            Err("it is an SSH key of a type age does not support (use ed25519 or RSA)".to_owned())
        }
    }
}

fn parse_age_lines(text: &str) -> Result<Vec<Key>, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("AGE-PLUGIN-") {
            return Err(format!(
                "line {number} is a plugin identity, which hookwarden does not support"
            ));
        }
        let key = x25519::Identity::from_str(line)
            .map_err(|_| format!("line {number} is not an age secret key (`AGE-SECRET-KEY-1…`)"))?;
        let fast = FastIdentity::new(&key).map_err(|reason| format!("line {number}: {reason}"))?;
        keys.push(Key::X25519(key, fast));
    }
    Ok(keys)
}

/// Public keys to encrypt to.
#[derive(Clone)]
pub struct Recipients(Vec<Recipient>);

#[derive(Clone)]
enum Recipient {
    X25519(x25519::Recipient),
    Ssh(ssh::Recipient),
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Recipients {
    /// Parses recipient strings such as `age1…` and `ssh-ed25519 AAAA… comment`.
    pub fn parse<S: AsRef<str>>(texts: &[S]) -> Result<Self, SecretsError> {
        texts
            .iter()
            .map(|t| parse_recipient(t.as_ref()))
            .collect::<Result<_, _>>()
            .map(Recipients)
    }

    /// Reads a recipients file (`-R`): one recipient a line, `#` comments.
    pub fn from_file(path: &Path) -> Result<Self, SecretsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretsError::RecipientsRead {
            path: path.to_owned(),
            source,
        })?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        Recipients::parse(&lines)
    }

    pub fn extend(&mut self, other: Recipients) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.0.iter().map(|r| match r {
            Recipient::X25519(k) => k as &dyn age::Recipient,
            Recipient::Ssh(k) => k as &dyn age::Recipient,
        })
    }

    /// The recipients as they are written, for messages.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|r| match r {
                Recipient::X25519(k) => k.to_string(),
                Recipient::Ssh(k) => k.to_string(),
            })
            .collect()
    }
}

/// A recipient as messages may show it: a private key or secret pasted in its place is
/// described, never printed.
pub fn shown_recipient(text: &str) -> String {
    if super::looks_secret(text) {
        "a private key or secret (never list one as a recipient; list its public key, as `age-keygen -y` prints it)".to_owned()
    } else {
        let cut: String = text.chars().take(80).collect();
        format!("`{cut}`")
    }
}

fn parse_recipient(text: &str) -> Result<Recipient, SecretsError> {
    let text = text.trim();
    let invalid = || SecretsError::RecipientParse {
        shown: shown_recipient(text),
    };
    if text.starts_with("age1") {
        x25519::Recipient::from_str(text)
            .map(Recipient::X25519)
            .map_err(|_| invalid())
    } else if text.starts_with("ssh-") {
        ssh::Recipient::from_str(text)
            .map(Recipient::Ssh)
            .map_err(|_| invalid())
    } else {
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    const KEYGEN_FILE: &str = "# created: 2026-01-01T00:00:00Z\n# public key: age1…\nAGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n";

    #[test]
    fn nothing_configured_is_no_identity() {
        assert!(discover(None, env_of(&[])).expect("no error").is_none());
    }

    #[test]
    fn the_key_variable_comes_before_the_path_variable() {
        let env = env_of(&[
            ("HOOKWARDEN_AGE_KEY", KEYGEN_FILE),
            ("HOOKWARDEN_IDENTITY", "/nonexistent"),
        ]);
        let keyring = discover(None, env).expect("parses").expect("found");
        assert_eq!(keyring.source(), &IdentitySource::EnvKey);
    }

    #[test]
    fn a_named_but_missing_file_is_an_error() {
        let error =
            discover(None, env_of(&[("HOOKWARDEN_IDENTITY", "/nonexistent/id.txt")])).expect_err("missing");
        assert!(
            error
                .to_string()
                .contains("HOOKWARDEN_IDENTITY=/nonexistent/id.txt"),
            "{error}"
        );
    }

    #[test]
    fn keygen_files_with_comments_and_several_keys_parse() {
        let two = format!("{KEYGEN_FILE}\n{}", KEYGEN_FILE.lines().last().expect("key line"));
        let keyring = Keyring::from_text(&two).expect("parses");
        assert_eq!(keyring.recipients().names().len(), 2);
    }

    #[test]
    fn bad_lines_are_named_without_their_content() {
        let error = Keyring::from_text("# comment\nAGE-SECRET-KEY-1NOTAKEY\n").expect_err("bad key");
        let message = error.to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("NOTAKEY"), "{message}");
    }

    #[test]
    fn recipients_are_checked() {
        assert!(Recipients::parse(&["age1notarecipient"]).is_err());
        assert!(Recipients::parse(&["rsa-foo"]).is_err());
    }
}
