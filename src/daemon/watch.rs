//! Watching the desired-state file: a trigger that carries no data.
//!
//! Editors and `git checkout` replace files by rename, and a deploy may switch a
//! symlink (to the file, or to a folder on its path), so folders are watched rather
//! than the file: the file's, its target's, and the folder holding each symlink on the
//! way. Events about those names wake the reconcile loop, which debounces, reads the
//! file and compares digests: the watcher decides nothing. After each pass the loop
//! calls [`Watch::refresh`], since a switched link or a recreated folder moves what must
//! be watched.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;

/// Keeps the watch alive; dropping it stops it.
#[derive(Debug)]
pub struct Watch {
    config: PathBuf,
    watcher: notify::RecommendedWatcher,
    watched: BTreeSet<PathBuf>,
    /// The names an event must be about; shared with the watcher's callback.
    names: Arc<Mutex<BTreeSet<OsString>>>,
}

/// Watches what `config` depends on and wakes `trigger` on every change to it.
pub fn watch(config: &Path, trigger: Arc<Notify>) -> notify::Result<Watch> {
    let names: Arc<Mutex<BTreeSet<OsString>>> = Arc::default();
    let seen = names.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only events about the file, its target or a link on its path: other files in
        // the folder, a log file among them, must not wake the loop.
        let relevant = |e: &notify::Event| {
            let names = seen.lock().expect("never poisoned");
            !matches!(e.kind, EventKind::Access(_))
                && (e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| p.file_name().is_some_and(|n| names.contains(n))))
        };
        if event.is_ok_and(|e| relevant(&e)) {
            trigger.notify_one();
        }
    })?;
    let mut watch = Watch {
        config: config.to_owned(),
        watcher,
        watched: BTreeSet::new(),
        names,
    };
    watch.refresh();
    Ok(watch)
}

impl Watch {
    /// Watches what the file depends on now, and no longer what it did before.
    pub fn refresh(&mut self) {
        let (folders, names) = dependencies(&self.config);
        *self.names.lock().expect("never poisoned") = names;
        for gone in self.watched.difference(&folders).cloned().collect::<Vec<_>>() {
            let _ = self.watcher.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for folder in folders {
            if !self.watched.contains(&folder)
                && self.watcher.watch(&folder, RecursiveMode::NonRecursive).is_ok()
            {
                self.watched.insert(folder);
            }
        }
    }
}

/// The folders to watch and the names that matter: for each symlink on the file's path
/// (the file included), the folder holding it and its name; then the real file's folder
/// and name. A folder that does not exist (yet) is watched through its nearest parent.
fn dependencies(config: &Path) -> (BTreeSet<PathBuf>, BTreeSet<OsString>) {
    let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_owned());
    let (mut folders, mut names) = (BTreeSet::new(), BTreeSet::new());
    let mut prefix = PathBuf::new();
    for component in absolute.components() {
        prefix.push(component);
        let is_link = std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && let (Some(parent), Some(name)) = (prefix.parent(), prefix.file_name()) {
            folders.insert(parent.to_owned());
            names.insert(name.to_owned());
        }
    }
    let real = std::fs::canonicalize(&absolute).unwrap_or(absolute.clone());
    for path in [&absolute, &real] {
        if let Some(name) = path.file_name() {
            names.insert(name.to_owned());
        }
        // Missing folders (deleted, not yet created) are watched through an existing one.
        let mut folder = path.parent().map(Path::to_owned);
        while let Some(candidate) = folder.clone().filter(|f| !f.is_dir()) {
            if let Some(name) = candidate.file_name() {
                names.insert(name.to_owned());
            }
            folder = candidate.parent().map(Path::to_owned);
        }
        folders.extend(folder);
    }
    (folders, names)
}
