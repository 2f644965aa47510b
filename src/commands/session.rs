//! Commands run on behalf of another process: by the daemon, for a CLI that found the
//! state held by it (the admin socket) or for a CI runner without the age key
//! (`--remote`).
//!
//! The daemon already holds the state and the identity, and the files a command names
//! live with the caller: the session supplies the first two and carries the files both
//! ways. Outside a session, each helper does what a local run does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::secrets::Keyring;
use crate::state::Store;

/// What the daemon lends a command, and what the command leaves for the caller.
#[derive(Debug, Default)]
pub struct Session {
    pub store: Option<Arc<Store>>,
    pub keyring: Option<Arc<Keyring>>,
    /// Who asked, for the audit log.
    pub actor: Option<String>,
    /// The caller's files by the path it named them with: the desired-state file, a
    /// saved plan to apply.
    pub files: BTreeMap<String, String>,
    /// Files the command wrote (`plan --out`), for the caller to write.
    pub written: BTreeMap<String, String>,
    /// What the command printed on stderr, for the caller to print.
    pub stderr: String,
    /// Whether the caller's standard input is a terminal.
    pub terminal: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// Runs `f` inside `session`; returns what it returned and the session afterwards.
pub fn within<T>(session: Session, f: impl FnOnce() -> T) -> (T, Session) {
    CURRENT.with(|current| *current.borrow_mut() = Some(session));
    let result = f();
    let session = CURRENT
        .with(|current| current.borrow_mut().take())
        .unwrap_or_default();
    (result, session)
}

pub fn store() -> Option<Arc<Store>> {
    CURRENT.with(|current| current.borrow().as_ref().and_then(|s| s.store.clone()))
}

pub fn keyring() -> Option<Arc<Keyring>> {
    CURRENT.with(|current| current.borrow().as_ref().and_then(|s| s.keyring.clone()))
}

pub fn actor() -> Option<String> {
    CURRENT.with(|current| current.borrow().as_ref().and_then(|s| s.actor.clone()))
}

/// In a session: whether the caller's standard input is a terminal.
pub fn terminal() -> Option<bool> {
    CURRENT.with(|current| current.borrow().as_ref().map(|s| s.terminal))
}

pub fn active() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

/// Where a command finds a file the caller names.
#[derive(Debug)]
pub enum Source {
    /// Not in a session: read it here.
    Local,
    /// The caller's copy.
    Sent(String),
    /// The caller did not send it (it could not read it): never read the daemon's.
    Missing,
}

pub fn file(path: &Path) -> Source {
    let key = path.display().to_string();
    CURRENT.with(|current| match current.borrow().as_ref() {
        None => Source::Local,
        Some(session) => session
            .files
            .get(&key)
            .cloned()
            .map_or(Source::Missing, Source::Sent),
    })
}

/// Prints on stderr: the caller's, in a session.
pub fn eprint(text: &str) {
    let kept = CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(session) => {
            session.stderr.push_str(text);
            true
        }
        None => false,
    });
    if !kept {
        eprint!("{text}");
    }
}

/// Keeps a written file for the caller; false outside a session.
pub fn write(path: &Path, text: String) -> bool {
    CURRENT.with(|current| match current.borrow_mut().as_mut() {
        Some(session) => {
            session.written.insert(path.display().to_string(), text);
            true
        }
        None => false,
    })
}
