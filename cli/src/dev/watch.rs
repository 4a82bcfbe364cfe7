//! Watching the manifest and every file the specs were read from.
//!
//! The folders holding them are watched, not the files: editors that save by writing a
//! new file and renaming it over the old one would otherwise end the watch on the first
//! save. Events are debounced (a save is often several writes) and filtered to the files
//! of the last load, which include files of a load that failed (a spec with a syntax
//! error is still watched, so fixing it reloads).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

/// How long a file must stay quiet before its change counts.
const DEBOUNCE: Duration = Duration::from_millis(150);

pub struct Watcher {
    debouncer: Debouncer<RecommendedWatcher>,
    folders: BTreeSet<PathBuf>,
    files: Arc<Mutex<BTreeSet<PathBuf>>>,
}

/// `path` made absolute with its folder's symbolic links resolved, as watch events name it.
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(folder), Some(name)) => std::fs::canonicalize(folder)
            .map(|folder| folder.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

impl Watcher {
    /// Sends `changed(paths)` to `tx` when watched files change.
    pub fn new<E: Send + 'static>(
        tx: Sender<E>,
        changed: fn(Vec<PathBuf>) -> E,
    ) -> Result<Watcher, String> {
        let files: Arc<Mutex<BTreeSet<PathBuf>>> = Arc::default();
        let watched = files.clone();
        let debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
            let Ok(events) = result else { return };
            let files = watched.lock().unwrap_or_else(|e| e.into_inner());
            let paths: Vec<PathBuf> = events
                .into_iter()
                .map(|event| event.path)
                .filter(|path| files.contains(path))
                .collect();
            if !paths.is_empty() {
                let _ = tx.send(changed(paths));
            }
        })
        .map_err(|e| format!("cannot watch files: {e}"))?;
        Ok(Watcher {
            debouncer,
            folders: BTreeSet::new(),
            files,
        })
    }

    /// Watches exactly `files` from now on.
    pub fn set(&mut self, files: impl IntoIterator<Item = PathBuf>) -> Result<(), String> {
        let files: BTreeSet<PathBuf> = files.into_iter().map(|f| normalize(&f)).collect();
        let folders: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for gone in self.folders.difference(&folders) {
            let _ = self.debouncer.watcher().unwatch(gone);
        }
        for folder in folders.difference(&self.folders) {
            self.debouncer
                .watcher()
                .watch(folder, RecursiveMode::NonRecursive)
                .map_err(|e| format!("cannot watch {}: {e}", folder.display()))?;
        }
        self.folders = folders;
        *self.files.lock().unwrap_or_else(|e| e.into_inner()) = files;
        Ok(())
    }
}
