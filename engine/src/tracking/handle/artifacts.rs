//! Artifacts: files of a run under `mlflow-artifacts:/<experiment>/<run>/artifacts/…`, kept in
//! the object store (`Storage`) under `artifacts/<that path>`, streamed in and out. A path must
//! stay inside a run's artifact folder: no `..`, `.` or empty part, no backslash, no control
//! character, not absolute; its run must exist (and be active to be written).

use futures::Stream;

use super::{Tracking, TrackingError};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::storage::{ByteStream, Listed, StorageError, WriteError};
use crate::tracking::models as logged;
use crate::tracking::ArtifactEntry;

/// Where artifacts live in the store.
const STORE_PREFIX: &str = "artifacts";

/// A checked artifact path and the run or logged model it belongs to (none for the folders
/// above them, `<exp>` and `<exp>/<run>`, which can be listed but hold no files of their own).
struct Located {
    path: String,
    owner: Option<Owner>,
}

#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Run(String),
    Model(String),
}

/// Checks a decoded artifact path (relative to `mlflow-artifacts:/`; empty is the root) and finds
/// its owner. The rules hold for the path as given and for every further decoding of its
/// escapes (`%252e%252e` is `..` to whatever decodes twice).
fn locate(path: &str) -> Result<Located, TrackingError> {
    let path = path.trim_end_matches('/');
    let refuse = |rule: &str| {
        TrackingError::Invalid(format!("Invalid path: '{}'. {rule}", crate::accounts::audit::bounded(path, 200)))
    };
    let mut spelled = path.to_string();
    for _ in 0..4 {
        check_spelling(&spelled).map_err(refuse)?;
        match percent_encoding::percent_decode_str(&spelled).decode_utf8() {
            Ok(next) if next != spelled => spelled = next.into_owned(),
            _ => break,
        }
    }
    let parts: Vec<&str> = if path.is_empty() { Vec::new() } else { path.split('/').collect() };
    let owner = match parts.as_slice() {
        [exp, run, "artifacts", ..] if exp.parse::<u64>().is_ok() && crate::tracking::runs::is_id(run) => {
            Some(Owner::Run(run.to_string()))
        }
        [exp, "models", model, "artifacts", ..] if exp.parse::<u64>().is_ok() && logged::is_id(model) => {
            Some(Owner::Model(model.to_string()))
        }
        _ => None,
    };
    Ok(Located { path: path.to_string(), owner })
}

/// Why a spelling of a path may not be used, if it may not.
fn check_spelling(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') || path.split('/').next().is_some_and(|p| p.ends_with(':')) {
        return Err("An artifact path is relative to the artifact root, not absolute.");
    }
    if path.contains('\\') {
        return Err("Backslashes are not allowed in artifact paths.");
    }
    if path.contains('#') {
        return Err("'#' is not allowed in artifact paths.");
    }
    if path.chars().any(char::is_control) {
        return Err("Control characters are not allowed in artifact paths.");
    }
    if !path.is_empty() && path.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
        return Err("'..', '.' and empty parts are not allowed: a path must stay inside its run.");
    }
    if path.rsplit('/').next().is_some_and(|p| p.ends_with(".part")) {
        return Err("Names ending in '.part' are kept for writes under way.");
    }
    Ok(())
}

/// The owner a write needs: only a run's or a logged model's folder takes files.
fn writable(at: &Located) -> Result<&Owner, TrackingError> {
    at.owner.as_ref().ok_or_else(|| {
        TrackingError::NotFound(format!(
            "no run's or model's artifact folder holds '{}': artifacts are written under <experiment id>/<run id>/artifacts/… \
             or <experiment id>/models/<model id>/artifacts/…",
            crate::accounts::audit::bounded(&at.path, 200)
        ))
    })
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Run(id) => write!(f, "run {id}"),
            Owner::Model(id) => write!(f, "logged model {id}"),
        }
    }
}

fn store_key(path: &str) -> String {
    if path.is_empty() {
        STORE_PREFIX.to_string()
    } else {
        format!("{STORE_PREFIX}/{path}")
    }
}

fn storage_failed(e: StorageError) -> TrackingError {
    match e {
        StorageError::Missing(_) => TrackingError::NotFound("no artifact at that path".into()),
        other => TrackingError::Store(other.to_string(), crate::error::Failure::kind(&other)),
    }
}

impl Tracking {
    /// The owner must exist; to be written, it must also be active.
    async fn check_owner(&self, owner: Option<&Owner>, writing: bool) -> Result<(), TrackingError> {
        let Some(owner) = owner else { return Ok(()) };
        match (owner, writing) {
            (Owner::Run(id), true) => self.active_run(id).await,
            (Owner::Run(id), false) => self.existing_run(id).await.map(|_| ()),
            (Owner::Model(id), writing) => self.existing_logged_model(id, !writing).await.map(|_| ()),
        }
    }

    fn storage(&self) -> Result<&crate::storage::Storage, TrackingError> {
        self.storage.as_ref().ok_or_else(|| {
            TrackingError::Store("this process keeps no artifact store".into(), crate::error::ErrorKind::Unavailable)
        })
    }

    /// Streams `body` into the artifact at `path` (a file replaces one there). A body cut off
    /// or refused leaves nothing.
    pub async fn put_artifact<S, B, E>(&self, actor: &Actor, path: &str, body: S) -> Result<u64, TrackingError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        actor.require(Role::Editor)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        let owner = writable(&at)?;
        self.check_owner(Some(owner), true).await?;
        let stored = storage.write_at(&store_key(&at.path), u64::MAX, body).await.map_err(|e| match e {
            WriteError::Source(m) => TrackingError::Invalid(format!("the upload of '{}' broke off: {m}", at.path)),
            other => TrackingError::Store(other.to_string(), crate::error::ErrorKind::Unavailable),
        })?;
        self.audit(actor, "artifact.put", &owner.to_string(), &at.path).await;
        Ok(stored.bytes)
    }

    /// The bytes of the artifact at `path`.
    pub async fn artifact(&self, actor: &Actor, path: &str) -> Result<ByteStream, TrackingError> {
        actor.require(Role::Viewer)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        self.check_owner(at.owner.as_ref(), false).await?;
        storage.read_at(&store_key(&at.path)).await.map_err(storage_failed)
    }

    /// What lies directly in the artifact folder `path` (names only, as the artifact proxy
    /// answers); an empty or missing folder lists nothing.
    pub async fn list_artifacts(&self, actor: &Actor, path: &str) -> Result<Vec<ArtifactEntry>, TrackingError> {
        actor.require(Role::Viewer)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        self.check_owner(at.owner.as_ref(), false).await?;
        let listed = storage.list_at(&store_key(&at.path)).await.map_err(storage_failed)?;
        // An empty file has no size in MLflow's answer (proto2 leaves a zero out).
        let entry =
            |Listed { name, is_dir, bytes }| ArtifactEntry { path: name, is_dir, file_size: bytes.filter(|b| *b > 0) };
        Ok(listed.into_iter().map(entry).collect())
    }

    /// The artifact folder of a run, or a folder in it, with paths relative to the run's root
    /// (MLflow's `artifacts/list`).
    pub async fn list_run_artifacts(
        &self,
        actor: &Actor,
        run_id: &str,
        path: Option<&str>,
    ) -> Result<(String, Vec<ArtifactEntry>), TrackingError> {
        let run = self.run(actor, run_id).await?;
        let root =
            run.info.artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap_or(&run.info.artifact_uri).to_string();
        let sub = path.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty());
        let folder = match sub {
            Some(sub) => format!("{root}/{sub}"),
            None => root.clone(),
        };
        let entries = self.list_artifacts(actor, &folder).await?;
        let entries = entries
            .into_iter()
            .map(|e| ArtifactEntry {
                path: match sub {
                    Some(s) => format!("{s}/{}", e.path),
                    None => e.path,
                },
                ..e
            })
            .collect();
        Ok((run.info.artifact_uri, entries))
    }

    /// Removes the artifact or folder at `path`.
    pub async fn delete_artifact(&self, actor: &Actor, path: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        let owner = writable(&at)?;
        self.check_owner(Some(owner), true).await?;
        storage.delete_at(&store_key(&at.path)).await.map_err(storage_failed)?;
        self.audit(actor, "artifact.delete", &owner.to_string(), &at.path).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_paths_stay_inside_a_run_folder() {
        let run = "0123456789abcdef0123456789abcdef";
        let ok = locate(&format!("1/{run}/artifacts/model/MLmodel")).unwrap();
        assert_eq!(ok.owner, Some(Owner::Run(run.into())));
        let model = locate(&format!("1/models/m-{run}/artifacts/MLmodel")).unwrap();
        assert_eq!(model.owner, Some(Owner::Model(format!("m-{run}"))));
        assert_eq!(locate("1").unwrap().owner, None, "a folder above runs: listed, never written");
        assert!(writable(&locate(&format!("1/{run}/elsewhere/x")).unwrap()).is_err());
        assert!(locate(&format!("1/{run}/artifacts")).is_ok());
        for (bad, says) in [
            (format!("1/{run}/artifacts/../../2/x"), "'..'"),
            (format!("1/{run}/artifacts/./x"), "'..'"),
            (format!("1/{run}/artifacts//x"), "empty parts"),
            (format!("/1/{run}/artifacts/x"), "not absolute"),
            (format!("1/{run}/artifacts/a\\..\\b"), "Backslashes"),
            (format!("1/{run}/artifacts/a\u{0}b"), "Control"),
            (format!("1/{run}/artifacts/x.part"), ".part"),
            ("C:/x".to_string(), "not absolute"),
            (format!("1/{run}/artifacts/%252e%252e/x"), "'..'"),
            (format!("1/{run}/artifacts/%2e%2e%2fx"), "'..'"),
            (format!("1/{run}/artifacts/%5cx"), "Backslashes"),
        ] {
            let err = locate(&bad).err().unwrap_or_else(|| panic!("{bad} passed"));
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
