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

/// Where artifacts live in the store.
const STORE_PREFIX: &str = "artifacts";

/// An entry of an artifact folder: its path relative to what was listed, as MLflow's
/// `FileInfo` has it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactEntry {
    pub path: String,
    pub is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// A checked artifact path and the run or logged model it belongs to.
struct Located {
    path: String,
    owner: Owner,
}

#[derive(Debug, PartialEq, Eq)]
enum Owner {
    Run(String),
    Model(String),
}

/// Checks a decoded artifact path (relative to `mlflow-artifacts:/`) and finds its run.
fn locate(path: &str) -> Result<Located, TrackingError> {
    let path = path.trim_end_matches('/');
    let refuse = |rule: &str| {
        TrackingError::Invalid(format!(
            "Invalid artifact path: '{}'. {rule}",
            crate::accounts::audit::bounded(path, 200)
        ))
    };
    if path.starts_with('/') || path.contains(':') && path.split('/').next().is_some_and(|p| p.ends_with(':')) {
        return Err(refuse("An artifact path is relative to the artifact root, not absolute."));
    }
    if path.contains('\\') {
        return Err(refuse("Backslashes are not allowed in artifact paths."));
    }
    if path.contains('#') {
        return Err(refuse("'#' is not allowed in artifact paths."));
    }
    if path.chars().any(char::is_control) {
        return Err(refuse("Control characters are not allowed in artifact paths."));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err(refuse("'..', '.' and empty parts are not allowed: a path must stay inside its run."));
    }
    if parts.last().is_some_and(|p| p.ends_with(".part")) {
        return Err(refuse("Names ending in '.part' are kept for writes under way."));
    }
    match parts.as_slice() {
        [exp, run, "artifacts", ..] if exp.parse::<u64>().is_ok() && crate::tracking::runs::is_id(run) => {
            Ok(Located { path: path.to_string(), owner: Owner::Run(run.to_string()) })
        }
        [exp, "models", model, "artifacts", ..] if exp.parse::<u64>().is_ok() && logged::is_id(model) => {
            Ok(Located { path: path.to_string(), owner: Owner::Model(model.to_string()) })
        }
        _ => Err(TrackingError::NotFound(format!(
            "no run's or model's artifact folder holds '{}': artifact paths are <experiment id>/<run id>/artifacts/… \
             or <experiment id>/models/<model id>/artifacts/…",
            crate::accounts::audit::bounded(path, 200)
        ))),
    }
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
    format!("{STORE_PREFIX}/{path}")
}

fn storage_failed(e: StorageError) -> TrackingError {
    match e {
        StorageError::Missing(_) => TrackingError::NotFound("no artifact at that path".into()),
        other => TrackingError::Store(other.to_string(), crate::error::Failure::kind(&other)),
    }
}

impl Tracking {
    /// The owner must exist; to be written, it must also be active.
    async fn check_owner(&self, owner: &Owner, writing: bool) -> Result<(), TrackingError> {
        match (owner, writing) {
            (Owner::Run(id), true) => self.active_run(id).await.map(|_| ()),
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
        self.check_owner(&at.owner, true).await?;
        let stored = storage.write_at(&store_key(&at.path), u64::MAX, body).await.map_err(|e| match e {
            WriteError::Source(m) => TrackingError::Invalid(format!("the upload of '{}' broke off: {m}", at.path)),
            other => TrackingError::Store(other.to_string(), crate::error::ErrorKind::Unavailable),
        })?;
        self.audit(actor, "artifact.put", &at.owner.to_string(), &at.path).await;
        Ok(stored.bytes)
    }

    /// The bytes of the artifact at `path`.
    pub async fn artifact(&self, actor: &Actor, path: &str) -> Result<ByteStream, TrackingError> {
        actor.require(Role::Viewer)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        self.check_owner(&at.owner, false).await?;
        storage.read_at(&store_key(&at.path)).await.map_err(storage_failed)
    }

    /// What lies directly in the artifact folder `path` (names only, as the artifact proxy
    /// answers); an empty or missing folder lists nothing.
    pub async fn list_artifacts(&self, actor: &Actor, path: &str) -> Result<Vec<ArtifactEntry>, TrackingError> {
        actor.require(Role::Viewer)?;
        let at = locate(path)?;
        let storage = self.storage()?;
        self.check_owner(&at.owner, false).await?;
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
        self.check_owner(&at.owner, true).await?;
        storage.delete_at(&store_key(&at.path)).await.map_err(storage_failed)?;
        self.audit(actor, "artifact.delete", &at.owner.to_string(), &at.path).await;
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
        assert_eq!(ok.owner, Owner::Run(run.into()));
        let model = locate(&format!("1/models/m-{run}/artifacts/MLmodel")).unwrap();
        assert_eq!(model.owner, Owner::Model(format!("m-{run}")));
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
            (format!("1/{run}/elsewhere/x"), "artifact folder"),
            ("1/nope/artifacts/x".to_string(), "artifact folder"),
        ] {
            let err = locate(&bad).err().unwrap_or_else(|| panic!("{bad} passed"));
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }
}
