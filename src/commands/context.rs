//! What a command may touch, handed to it as a value: the files and state it names, the
//! identity, who is acting, the caller's terminal, and where its output goes.
//!
//! A command run here reads and writes this machine's files. A command the daemon runs
//! for another process (its admin socket, `--remote`) gets the daemon's store and
//! identity, reads only the files the caller sent, hands back the files it writes, and
//! cannot ask on the caller's terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, ConfigError, Desired, Refused};
use crate::error::Error;
use crate::planfile::{PlanFileError, SavedPlan};
use crate::remote::Lent;
use crate::render::{Format, Style};
use crate::secrets::{self, Keyring};
use crate::state::{Applied, Store};

pub struct Context<'a> {
    /// The desired-state file.
    pub config: PathBuf,
    pub state_dir: PathBuf,
    /// Whether `state_dir` was named, rather than the working directory's assumed.
    pub state_named: bool,
    /// `--store postgres://…`: the PostgreSQL store instead of sled in `state_dir`.
    pub postgres: Option<String>,
    /// `--identity`; the rest of the search is the environment's.
    pub identity: Option<PathBuf>,
    pub format: Format,
    /// `user@host` and how it came, for the audit log and the lock file.
    pub actor: String,
    /// The daemon's store and identity, when the daemon runs the command.
    pub lent: Option<Lent>,
    pub files: Files,
    pub terminal: Terminal,
    /// Whether text output may be colored.
    pub color: bool,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("state_dir", &self.state_dir)
            .field("format", &self.format)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// Where a command finds the files it names, and where the ones it writes go.
#[derive(Debug)]
pub enum Files {
    /// This machine's.
    Local,
    /// The caller's, by the path it named them with; what the command writes is kept
    /// for the caller to write.
    Sent {
        given: BTreeMap<String, String>,
        written: BTreeMap<String, String>,
    },
}

/// Whether the command may ask a question.
#[derive(Debug, Clone, Copy)]
pub enum Terminal {
    /// This process's standard input, if it is a terminal.
    Local,
    /// The caller's, which the daemon cannot read.
    Caller { is_terminal: bool },
}

impl Context<'_> {
    /// The identity, required: `command` cannot work on ciphertexts alone.
    pub fn keyring(&self, command: &'static str) -> Result<Arc<Keyring>, Error> {
        if let Some(lent) = &self.lent {
            return Ok(lent.keyring.clone());
        }
        self.find_keyring()?
            .map(Arc::new)
            .ok_or(Error::NoIdentity { command })
    }

    /// The identity if one is at hand (`validate` decrypts only then).
    pub fn find_keyring(&self) -> Result<Option<Keyring>, Error> {
        Ok(secrets::discover(self.identity.as_deref(), |name| {
            std::env::var_os(name)
        })?)
    }

    /// The desired-state file's text: the caller's copy, or the local file.
    fn config_text(&self) -> Result<String, Error> {
        match self.file(&self.config) {
            Some(Ok(text)) => Ok(text),
            Some(Err(missing)) => Err(ConfigError::Read {
                path: self.config.clone(),
                source: missing,
            }
            .into()),
            None => Ok(config::read(&self.config)?),
        }
    }

    /// The caller's copy of `path` (`Err`: it sent none), or `None` to read it here.
    fn file(&self, path: &Path) -> Option<Result<String, std::io::Error>> {
        match &self.files {
            Files::Local => None,
            // What a caller sees for a file it could not send: what it would see locally.
            Files::Sent { given, .. } => Some(
                given
                    .get(&path.display().to_string())
                    .cloned()
                    .ok_or_else(|| std::io::Error::from_raw_os_error(2)),
            ),
        }
    }

    /// The desired-state file, checked.
    pub fn load_config(&self) -> Result<Config, Error> {
        let file = self.config.display().to_string();
        Ok(config::parse(&file, &self.config_text()?).map_err(ConfigError::Invalid)?)
    }

    /// The applied state of `store` and the desired-state file, read side by side; the
    /// file checked and decrypted, except what the applied state holds unchanged. The
    /// file's problems are shown before the state's.
    pub fn desired(&self, keyring: &Keyring, store: &Store) -> Result<(Applied, Config, Desired), Error> {
        let file = self.config.display().to_string();
        let text = self.config_text()?;
        let memo = || config::Memo::read(store.dir());
        config::parse_open_against(&file, text, keyring, memo, || store.applied()).map_err(|refused| {
            match refused {
                Refused::File(report) => ConfigError::Invalid(report).into(),
                Refused::State(error) => error.into(),
            }
        })
    }

    /// A file the command reads (`render`'s input): the caller's copy, or the local
    /// file; refused beyond `limit` bytes before more than that is read.
    pub fn read_input(&self, path: &Path, limit: usize) -> Result<String, Error> {
        let Some(sent) = self.file(path) else {
            return read_bounded(path, limit);
        };
        let text = sent.map_err(|source| Error::Input {
            path: path.to_owned(),
            source,
        })?;
        if text.len() > limit {
            return Err(Error::InputTooLarge {
                path: path.to_owned(),
                limit,
            });
        }
        Ok(text)
    }

    /// A saved plan: the caller's copy, or the local file.
    pub fn read_plan(&self, path: &Path) -> Result<SavedPlan, Error> {
        Ok(match self.file(path) {
            Some(Ok(text)) => SavedPlan::parse(path, &text)?,
            Some(Err(source)) => {
                return Err(PlanFileError::Read {
                    path: path.to_owned(),
                    source,
                }
                .into());
            }
            None => SavedPlan::read(path)?,
        })
    }

    /// Writes a saved plan: here, or for the caller to write.
    pub fn write_plan(&mut self, path: &Path, plan: &SavedPlan) -> Result<(), Error> {
        match &mut self.files {
            Files::Local => Ok(plan.write(path)?),
            Files::Sent { written, .. } => {
                written.insert(path.display().to_string(), plan.to_json());
                Ok(())
            }
        }
    }

    /// The state, opened (and created) for `command`.
    pub fn open_store(&self, command: &str) -> Result<Arc<Store>, Error> {
        if let Some(lent) = &self.lent {
            return Ok(lent.store.clone());
        }
        if let Some(url) = &self.postgres {
            let password = std::env::var_os("HOOKWARDEN_STORE_PASSWORD_FILE").map(PathBuf::from);
            let store = crate::state::PgStore::open(url, password.as_deref(), &self.state_dir)?;
            return Ok(Arc::new(store));
        }
        let holder = format!("pid {}, {}, hookwarden {command}", std::process::id(), self.actor);
        Ok(Store::open(&self.state_dir, &holder)?)
    }

    /// The state for a command that only reads it: `None` when there is none yet, so
    /// that a mistyped `--state` does not leave an empty state behind.
    pub fn open_existing_store(&self, command: &str) -> Result<Option<Arc<Store>>, Error> {
        // A directory without a sled database (empty, or a PostgreSQL daemon's, which
        // holds only its admin socket) holds no state.
        if self.lent.is_some() || self.postgres.is_some() || self.state_dir.join("db").exists() {
            self.open_store(command).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Where a command that found no state looked, for its message.
    pub fn no_state(&self) -> String {
        let dir = self.state_dir.display();
        if self.state_named {
            return format!("there is no state in {dir}");
        }
        format!(
            "there is no state in {dir} (name one with --state or HOOKWARDEN_STATE_DIR), and no daemon's admin socket at {} (HOOKWARDEN_ADMIN_SOCKET)",
            crate::remote::runtime_socket().display()
        )
    }

    pub fn style(&self) -> Style {
        Style { color: self.color }
    }

    /// Writes `text` to the command's output.
    pub fn print(&mut self, text: &str) -> Result<(), Error> {
        self.out.write_all(text.as_bytes()).map_err(Error::Output)
    }

    /// Writes `text` where messages to the user go (stderr, or the caller's).
    pub fn note(&mut self, text: &str) {
        let _ = self.err.write_all(text.as_bytes());
    }

    /// Whether the command may ask on a terminal, and why not.
    pub fn can_ask(&self) -> Result<(), &'static str> {
        match self.terminal {
            Terminal::Local if std::io::stdin().is_terminal() => Ok(()),
            Terminal::Local | Terminal::Caller { is_terminal: false } => {
                Err("standard input is not a terminal")
            }
            Terminal::Caller { is_terminal: true } => Err("the daemon cannot ask on the caller's terminal"),
        }
    }
}

/// The text of the file at `path`, refused beyond `limit` bytes before more than that
/// is read, and when it is not UTF-8.
pub fn read_bounded(path: &Path, limit: usize) -> Result<String, Error> {
    use std::io::Read as _;
    let failed = |source| Error::Input {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() > limit {
        return Err(Error::InputTooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })
}
