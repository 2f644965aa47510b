//! Watching the desired-state file: a trigger that carries no data.
//!
//! Editors and `git checkout` replace files by rename, and a deploy may switch a
//! symlink, so the folder is watched rather than the file (and, for a symlink, its
//! target's folder too). Every event in them wakes the reconcile loop, which debounces,
//! reads the file and compares digests: the watcher decides nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::Notify;

/// Keeps the watch alive; dropping it stops it.
#[derive(Debug)]
pub struct Watch {
    _watcher: notify::RecommendedWatcher,
}

/// Watches the folders of `config` and wakes `trigger` on every change in them.
pub fn watch(config: &Path, trigger: Arc<Notify>) -> notify::Result<Watch> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !matches!(e.kind, EventKind::Access(_))) {
            trigger.notify_one();
        }
    })?;
    for folder in folders(config) {
        watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    }
    Ok(Watch { _watcher: watcher })
}

/// The file's folder and, when it is a symlink, its target's.
fn folders(config: &Path) -> Vec<PathBuf> {
    let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_owned());
    let mut folders: Vec<PathBuf> = absolute.parent().map(Path::to_owned).into_iter().collect();
    if let Ok(target) = std::fs::canonicalize(&absolute)
        && let Some(folder) = target.parent()
        && !folders.iter().any(|f| f == folder)
    {
        folders.push(folder.to_owned());
    }
    folders
}
