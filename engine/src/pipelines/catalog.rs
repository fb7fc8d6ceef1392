//! The definitions in force: read from `<data-dir>/pipelines/*.toml` when a file changes (its
//! size or time, then its SHA-256), never parsed again while it stays the same. Each change
//! that reads well becomes the pipeline's next version in the database; one that does not
//! leaves the previous version in force and its problems on show.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::definition::{self, valid_id};
use super::{versions, Definition, Origin, Problem};
use crate::db::Database;

/// The largest definition file read.
pub const MAX_DEFINITION_BYTES: u64 = 1024 * 1024;

/// A definition in force, with the version it is.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub definition: Arc<Definition>,
    pub version: i64,
    pub sha256: String,
    pub source: String,
    /// The file, relative to the data directory (`pipelines/x.toml`).
    pub file: String,
}

#[derive(Clone, Debug, PartialEq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Default)]
struct State {
    loaded: BTreeMap<String, Loaded>,
    /// By file: what is wrong with its current text.
    problems: BTreeMap<String, Vec<Problem>>,
    stamps: HashMap<PathBuf, (Stamp, String)>,
}

pub struct Catalog {
    dir: PathBuf,
    db: Database,
    state: RwLock<State>,
    /// One scan at a time (the watcher and a save may meet).
    scanning: tokio::sync::Mutex<()>,
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// How a definition's file is named in messages: relative to the data directory.
pub fn display_name(id: &str) -> String {
    format!("pipelines/{id}.toml")
}

impl Catalog {
    /// The catalog of `dir` (made if missing), read once.
    pub async fn open(db: Database, dir: PathBuf) -> std::io::Result<Arc<Catalog>> {
        tokio::fs::create_dir_all(&dir).await?;
        let catalog =
            Arc::new(Catalog { dir, db, state: RwLock::new(State::default()), scanning: tokio::sync::Mutex::new(()) });
        if let Err(e) = catalog.scan().await {
            tracing::error!("could not read the pipeline definitions: {e}");
        }
        Ok(catalog)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, id: &str) -> Option<Loaded> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).loaded.get(id).cloned()
    }

    pub fn all(&self) -> Vec<Loaded> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).loaded.values().cloned().collect()
    }

    /// What is wrong with the files that did not read, by file name.
    pub fn problems(&self) -> Vec<Problem> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).problems.values().flatten().cloned().collect()
    }

    /// Reads the files that changed since the last scan and forgets the ones removed. Returns
    /// whether anything in force changed.
    pub async fn scan(&self) -> Result<bool, String> {
        let _one = self.scanning.lock().await;
        let mut entries =
            tokio::fs::read_dir(&self.dir).await.map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
        let mut present: HashMap<PathBuf, Stamp> = HashMap::new();
        while let Some(entry) =
            entries.next_entry().await.map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?
        {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let Ok(meta) = entry.metadata().await else { continue };
            if meta.is_file() {
                present.insert(path, Stamp { modified: meta.modified().ok(), len: meta.len() });
            }
        }
        let mut changed = false;
        // Removed files take their pipelines (and problems) with them; runs keep their versions.
        let gone: Vec<PathBuf> = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            state.stamps.keys().filter(|p| !present.contains_key(*p)).cloned().collect()
        };
        for path in gone {
            let id = stem(&path);
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            state.stamps.remove(&path);
            state.problems.remove(&display_name(&id));
            changed |= state.loaded.remove(&id).is_some();
        }
        let mut paths: Vec<(PathBuf, Stamp)> = present.into_iter().collect();
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, stamp) in paths {
            let known = self.state.read().unwrap_or_else(|e| e.into_inner()).stamps.get(&path).cloned();
            if known.as_ref().is_some_and(|(s, _)| *s == stamp) {
                continue;
            }
            changed |= self.read_file(&path, stamp, known.map(|k| k.1)).await;
        }
        Ok(changed)
    }

    /// Reads one changed file; true when what is in force changed.
    async fn read_file(&self, path: &Path, stamp: Stamp, old_sha: Option<String>) -> bool {
        let id = stem(path);
        let file = display_name(&id);
        let problem = |message: String| Problem { file: file.clone(), task: None, field: None, message };
        let text = if stamp.len > MAX_DEFINITION_BYTES {
            Err(format!("is {} bytes; a definition may have at most {MAX_DEFINITION_BYTES}", stamp.len))
        } else {
            tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot be read: {e}"))
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string()))
        };
        let text = match text {
            Ok(t) => t,
            Err(message) => {
                let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
                state.problems.insert(file.clone(), vec![problem(message)]);
                state.stamps.insert(path.to_path_buf(), (stamp, String::new()));
                return false;
            }
        };
        let sha = sha256_hex(&text);
        if old_sha.as_deref() == Some(sha.as_str()) {
            // Touched, not changed.
            self.state.write().unwrap_or_else(|e| e.into_inner()).stamps.insert(path.to_path_buf(), (stamp, sha));
            return false;
        }
        let parsed = if valid_id(&id) {
            definition::parse(&file, &text, Origin::File)
        } else {
            Err(vec![problem(format!(
                "'{id}' is not a valid pipeline id: name the file with 1 to 64 letters, digits, '_', '-' or '.'"
            ))])
        };
        let outcome = match parsed {
            Ok(definition) => self.adopt(definition, &text, &sha, None).await.map_err(|e| vec![problem(e)]),
            Err(problems) => Err(problems),
        };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.stamps.insert(path.to_path_buf(), (stamp, sha));
        match outcome {
            Ok(()) => {
                state.problems.remove(&file);
                true
            }
            Err(problems) => {
                tracing::warn!(file, "pipeline definition refused: {}", problems[0]);
                state.problems.insert(file, problems);
                false
            }
        }
    }

    /// Puts a checked definition in force as its next version (recorded in the database).
    pub async fn adopt(
        &self,
        definition: Definition,
        text: &str,
        sha: &str,
        saved_by: Option<&str>,
    ) -> Result<(), String> {
        let version = versions::record(&self.db, &definition.id, sha, text, saved_by, crate::now_ms())
            .await
            .map_err(|e| format!("could not record the new version: {e}"))?;
        let id = definition.id.clone();
        let loaded = Loaded {
            file: display_name(&id),
            definition: Arc::new(definition),
            version,
            sha256: sha.to_string(),
            source: text.to_string(),
        };
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.problems.remove(&loaded.file);
        state.loaded.insert(id, loaded);
        Ok(())
    }

    /// Writes a checked definition to its file (through a `.part` file, so a reader never sees
    /// half of it) and puts it in force as its next version, saved by `saved_by`.
    pub async fn save(&self, definition: Definition, text: &str, saved_by: &str) -> Result<i64, String> {
        let _one = self.scanning.lock().await;
        let id = definition.id.clone();
        let path = self.dir.join(format!("{id}.toml"));
        let part = self.dir.join(format!(".{id}.toml.part"));
        let written = async {
            tokio::fs::write(&part, text.as_bytes()).await?;
            tokio::fs::rename(&part, &path).await?;
            tokio::fs::metadata(&path).await
        }
        .await;
        let meta = match written {
            Ok(m) => m,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(format!("could not write {}: {e}", display_name(&id)));
            }
        };
        let sha = sha256_hex(text);
        self.adopt(definition, text, &sha, Some(saved_by)).await?;
        let stamp = Stamp { modified: meta.modified().ok(), len: meta.len() };
        self.state.write().unwrap_or_else(|e| e.into_inner()).stamps.insert(path, (stamp, sha));
        Ok(self.get(&id).map(|l| l.version).unwrap_or_default())
    }

    /// Re-reads the folder every `every` until the task is aborted (serve processes run this).
    pub fn spawn_watch(self: Arc<Self>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.scan().await {
                    tracing::warn!("pipeline definitions: {e}");
                }
            }
        })
    }
}

fn stem(path: &Path) -> String {
    path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string()
}
