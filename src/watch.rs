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
    let names = names(config);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only events about the file (or its link, or its target): other files in the
        // folder, a log file among them, must not wake the loop.
        let relevant = |e: &notify::Event| {
            !matches!(e.kind, EventKind::Access(_))
                && (e.paths.is_empty()
                    || e.paths
                        .iter()
                        .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n))))
        };
        if event.is_ok_and(|e| relevant(&e)) {
            trigger.notify_one();
        }
    })?;
    for folder in folders(config) {
        watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    }
    Ok(Watch { _watcher: watcher })
}

/// The file names that matter: the config's, and its symlink target's.
fn names(config: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<std::ffi::OsString> = config.file_name().map(ToOwned::to_owned).into_iter().collect();
    if let Some(target) = std::fs::canonicalize(config)
        .ok()
        .and_then(|t| t.file_name().map(ToOwned::to_owned))
        && !names.contains(&target)
    {
        names.push(target);
    }
    names
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
