//! [`Files`]: the Files capability as the server uses it. Uploads (streamed, limited, checked,
//! recorded, queued for profiling), the file table, details, reprocessing, conversions,
//! downloads and deletion. Each action takes the [`Actor`], checks its role (viewers read,
//! editors change) and writes its own audit record. The bytes live in the [`Storage`] (a
//! directory or a bucket) under a server-chosen id.

use std::path::PathBuf;
use std::sync::Arc;

use futures::Stream;

use super::profiler::{Profiler, ProfilerConfig};
use super::records::{self, NewFile};
use super::sandbox::{self, ChildOutcome, Envelope, Job, ProfileLimits};
use super::{
    convert, names, ColumnWindow, Conversion, FileDetail, FileKind, FilePage, FileQuery, FileRef, FileTotals, FileView,
    Profile,
};
use crate::accounts::audit::Outcome;
use crate::accounts::{self, Role};
use crate::actor::{Actor, Denied};
use crate::db::Database;
use crate::error::{ErrorKind, Failure};
use crate::storage::{self as store, Storage, StorageError, WriteError};

/// The upload limit unless configured: 500 MB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 500 * 1000 * 1000;
/// Recent uploads and downloads shown beside the table.
const RECENT: u32 = 8;

/// Why a file action was refused or failed. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The type or content is not accepted (415).
    #[error("{0}")]
    Refused(String),
    /// Past the upload limit (413).
    #[error("'{name}': {source}")]
    TooLarge { name: String, source: WriteError },
    /// The client's body broke off (400).
    #[error("'{name}': {source}")]
    Broken { name: String, source: WriteError },
    /// The disk could not take it (507).
    #[error("'{name}': {source}")]
    Disk { name: String, source: WriteError },
    #[error("no file with id '{0}'")]
    NotFound(String),
    /// An action that does not apply to this file (400).
    #[error("{0}")]
    Invalid(String),
    #[error("the file store failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Io(String),
    /// The store could not serve or change the bytes.
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Denied(#[from] Denied),
}

impl Failure for FileError {
    fn kind(&self) -> ErrorKind {
        match self {
            FileError::Refused(_) => ErrorKind::Unsupported,
            FileError::TooLarge { .. } => ErrorKind::TooLarge,
            FileError::Broken { .. } | FileError::Invalid(_) => ErrorKind::Invalid,
            FileError::NotFound(_) => ErrorKind::NotFound,
            FileError::Disk { .. } => ErrorKind::InsufficientStorage,
            FileError::Db(e) => crate::db::error_kind(e),
            FileError::Io(_) => ErrorKind::Internal,
            FileError::Storage(e) => e.kind(),
            FileError::Denied(d) => d.kind(),
        }
    }
}

/// What an upload request stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Uploaded {
    pub files: Vec<FileView>,
}

/// What a delete removed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deleted {
    pub deleted: FileView,
}

/// One upload request of one or more files, which stores all of them or none: a refused file
/// removes the ones stored before it, and so does a batch dropped before [`Uploads::finish`]
/// (a request cut off between parts).
pub struct Uploads {
    files: Files,
    actor: Actor,
    stored: Vec<FileView>,
    settled: bool,
}

impl Uploads {
    /// Streams one more file into the store; on a refusal the whole batch is undone and the
    /// refusal audited.
    pub async fn add<S, B, E>(&mut self, raw_name: &str, body: S) -> Result<&FileView, FileError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        match self.files.store_upload(raw_name, body, self.actor.name()).await {
            Ok(view) => {
                self.stored.push(view);
                Ok(self.stored.last().expect("just pushed"))
            }
            Err(e) => {
                self.abort(&e.to_string()).await;
                Err(e)
            }
        }
    }

    /// Ends the batch: audits each stored file and returns them. A batch with no file is the
    /// caller's mistake.
    pub async fn finish(mut self) -> Result<Uploaded, FileError> {
        self.settled = true;
        if self.stored.is_empty() {
            return Err(FileError::Invalid(
                "the form has no file part; send each file as a part with a filename".into(),
            ));
        }
        for file in &self.stored {
            let detail = format!("{} bytes, sha256 {}", file.size_bytes, file.sha256);
            self.files.audit(&self.actor, "file.upload", &file.audit_target(), Outcome::Ok, &detail).await;
        }
        Ok(Uploaded { files: std::mem::take(&mut self.stored) })
    }

    /// Undoes the batch (the request was malformed or broke off) and audits why.
    pub async fn abort(&mut self, why: &str) {
        if self.settled {
            return;
        }
        self.settled = true;
        for file in std::mem::take(&mut self.stored) {
            let _ = self.files.remove(&file.id).await;
        }
        self.files.audit(&self.actor, "file.upload", "", Outcome::Failed, why).await;
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        if self.settled || self.stored.is_empty() {
            return;
        }
        let (files, stored) = (self.files.clone(), std::mem::take(&mut self.stored));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for file in stored {
                    let _ = files.remove(&file.id).await;
                }
            });
        }
    }
}

/// A stored file ready to be sent.
pub struct Download {
    pub file: FileView,
    storage: Storage,
}

impl Download {
    /// Streams the file, or its byte `range` (end exclusive, within the file).
    pub async fn open(&self, range: Option<std::ops::Range<u64>>) -> Result<store::ByteStream, FileError> {
        Ok(self.storage.read(&self.file.id, range).await?)
    }
}

#[derive(Clone)]
pub struct Files {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    storage: Storage,
    max_upload_bytes: u64,
    profiler: Profiler,
    /// The program conversions run in (see [`sandbox`]), and their limits.
    program: Option<PathBuf>,
    limits: ProfileLimits,
    /// At most [`MAX_CONVERSIONS`] run at once; more requests wait their turn.
    conversions: tokio::sync::Semaphore,
}

/// Conversions running at once, each in a child that may use the whole profiling memory limit.
const MAX_CONVERSIONS: usize = 2;

impl Files {
    /// Opens the Files capability over `storage`: removes what a crash left (partial uploads,
    /// bytes without a record) unless idle, and starts this process's profiler, which claims
    /// queued files as `owner` (the process's id) with a lease.
    pub async fn open(
        db: Database,
        storage: Storage,
        max_upload_bytes: u64,
        profiler: ProfilerConfig,
        owner: String,
    ) -> Result<Files, FileError> {
        let (program, limits, idle) = (profiler.program.clone(), profiler.limits.clone(), profiler.idle);
        if !idle {
            storage.sweep(&records::ids(&db).await?).await;
        }
        let profiler = Profiler::spawn(db.clone(), storage.clone(), profiler, owner);
        // Conversions at once: each child may use the whole memory limit.
        let conversions = tokio::sync::Semaphore::new(MAX_CONVERSIONS);
        Ok(Files { inner: Arc::new(Inner { db, storage, max_upload_bytes, profiler, program, limits, conversions }) })
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.max_upload_bytes
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, outcome: Outcome, detail: &str) {
        accounts::record(&self.inner.db, actor, action, target, outcome, detail).await;
    }

    /// Starts an upload request for an editor (see [`Uploads`]).
    pub fn uploads(&self, actor: &Actor) -> Result<Uploads, FileError> {
        actor.require(Role::Editor)?;
        Ok(Uploads { files: self.clone(), actor: actor.clone(), stored: Vec::new(), settled: false })
    }

    /// Uploads one file (a batch of one).
    pub async fn upload<S, B, E>(&self, actor: &Actor, raw_name: &str, body: S) -> Result<FileView, FileError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let mut batch = self.uploads(actor)?;
        batch.add(raw_name, body).await?;
        Ok(batch.finish().await?.files.remove(0))
    }

    /// Stores an upload: the name is cleaned and its extension must be an accepted type, the
    /// body is streamed to disk within the limit, the content's signature must fit the type.
    /// Any refusal or failure leaves nothing on disk and nothing in the database.
    async fn store_upload<S, B, E>(&self, raw_name: &str, body: S, by: &str) -> Result<FileView, FileError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let name = names::clean_name(raw_name);
        let kind = FileKind::from_name(&name).map_err(FileError::Refused)?;
        let id = store::new_file_id();
        let storage = &self.inner.storage;
        let written = storage.write(&id, self.inner.max_upload_bytes, body).await.map_err(|e| {
            let name = name.clone();
            match e {
                WriteError::TooLarge { .. } => FileError::TooLarge { name, source: e },
                WriteError::Source(_) => FileError::Broken { name, source: e },
                WriteError::Disk(_) => FileError::Disk { name, source: e },
                WriteError::Remote(why) => FileError::Storage(StorageError::Unavailable(format!("'{name}': {why}"))),
            }
        })?;
        if let Err(why) = kind.check_signature(&written.head) {
            let _ = storage.delete(&id).await;
            return Err(FileError::Refused(format!("'{name}' was refused: {why}")));
        }
        let record = NewFile {
            id: &id,
            name: &name,
            kind,
            size_bytes: written.bytes,
            sha256: &written.sha256,
            uploaded_by: by,
            uploaded_at_ms: crate::now_ms(),
            source: None,
            conversion: None,
        };
        if let Err(e) = records::insert(&self.inner.db, &record).await {
            let _ = storage.delete(&id).await;
            return Err(e.into());
        }
        self.inner.profiler.enqueue(&id);
        self.view(&id).await
    }

    /// One file's row. Only ids the store makes are looked up (anything else names no file).
    pub async fn view(&self, id: &str) -> Result<FileView, FileError> {
        if !(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(FileError::NotFound(crate::accounts::audit::bounded(id, 40).into_owned()));
        }
        records::get(&self.inner.db, id).await?.ok_or_else(|| FileError::NotFound(id.to_string()))
    }

    pub async fn list(&self, actor: &Actor, query: &FileQuery) -> Result<FilePage, FileError> {
        actor.require(Role::Viewer)?;
        query.validate().map_err(FileError::Invalid)?;
        let db = &self.inner.db;
        // Stored names never hold control characters (see `names::clean_name`), so a filter
        // with one matches nothing; Postgres could not even take a NUL in a parameter.
        let (files, matching) = match &query.name {
            Some(name) if name.chars().any(char::is_control) => (Vec::new(), 0),
            _ => records::list(db, query).await?,
        };
        Ok(FilePage {
            files,
            matching,
            totals: records::totals(db).await?,
            recent_uploads: records::recent_uploads(db, RECENT).await?,
            recent_downloads: records::downloads(db, None, RECENT).await?,
            max_upload_bytes: self.inner.max_upload_bytes,
        })
    }

    pub async fn totals(&self) -> Result<FileTotals, FileError> {
        Ok(records::totals(&self.inner.db).await?)
    }

    /// A file with its profile, each table cut to `columns` (profiles of wide tables are large).
    pub async fn detail(&self, actor: &Actor, id: &str, columns: ColumnWindow) -> Result<FileDetail, FileError> {
        actor.require(Role::Viewer)?;
        let db = &self.inner.db;
        let file = self.view(id).await?;
        let (mut profile, profiled_ms) = records::profile(db, id).await?;
        if let Some(Profile::Tables(tables)) = &mut profile {
            tables.iter_mut().for_each(|t| columns.apply(t));
        }
        Ok(FileDetail {
            file,
            profile,
            profiled_ms,
            outputs: records::outputs_of(db, id).await?,
            downloads: records::downloads(db, Some(id), RECENT).await?,
        })
    }

    /// Puts files being profiled back in the queue, their attempt not counted (orderly stop).
    pub async fn release_claims(&self) -> Result<u64, FileError> {
        self.inner.profiler.stop().await;
        Ok(records::release_claims(&self.inner.db, self.inner.profiler.owner()).await?)
    }

    /// Profiles the file again.
    pub async fn reprocess(&self, actor: &Actor, id: &str) -> Result<FileView, FileError> {
        actor.require(Role::Editor)?;
        if !records::requeue(&self.inner.db, id).await? {
            return Err(FileError::NotFound(id.to_string()));
        }
        self.inner.profiler.enqueue(id);
        let file = self.view(id).await?;
        self.audit(actor, "file.reprocess", &file.audit_target(), Outcome::Ok, "").await;
        Ok(file)
    }

    /// Converts a tabular file (an Excel `sheet`, or the first; empty means the first) into a
    /// new output file. The attempt is audited whatever its outcome.
    pub async fn convert(
        &self,
        actor: &Actor,
        id: &str,
        to: Conversion,
        sheet: Option<String>,
    ) -> Result<FileView, FileError> {
        actor.require(Role::Editor)?;
        let target = format!("{id} → {}", to.as_str());
        let sheet = sheet.filter(|s| !s.is_empty());
        if sheet.as_deref().is_some_and(|s| s.chars().any(char::is_control)) {
            // No workbook names a sheet so, and the name goes to the conversion process's
            // arguments, where a NUL cannot.
            return Err(FileError::Invalid("a sheet name has no control characters".into()));
        }
        match self.convert_file(id, to, sheet, actor.name()).await {
            Ok(file) => {
                self.audit(actor, "file.convert", &target, Outcome::Ok, &file.id).await;
                Ok(file)
            }
            Err(e) => {
                self.audit(actor, "file.convert", &target, Outcome::Failed, &e.to_string()).await;
                Err(e)
            }
        }
    }

    async fn convert_file(
        &self,
        id: &str,
        to: Conversion,
        sheet: Option<String>,
        by: &str,
    ) -> Result<FileView, FileError> {
        let source = self.view(id).await?;
        if !source.kind.is_tabular() {
            return Err(FileError::Invalid(format!(
                "'{}' is {}, not a table; only tables convert to {}",
                source.name,
                source.kind.description(),
                to.label()
            )));
        }
        let out_id = store::new_file_id();
        let storage = &self.inner.storage;
        let copy = storage.local_copy(&source.id, source.size_bytes, &source.sha256).await?;
        let dir = storage.output_dir().to_path_buf();
        let (src_path, kind, out) = (copy.path().to_path_buf(), source.kind, out_id.clone());
        let output = match &self.inner.program {
            // Like profiles, conversions parse untrusted bytes: in a limited child process.
            Some(program) => {
                let _turn = self.inner.conversions.acquire().await.map_err(|e| FileError::Io(e.to_string()))?;
                let job = Job::Convert { to, sheet, dir, id: out };
                match sandbox::run_in_child(program, &src_path, kind, &job, &self.inner.limits).await {
                    ChildOutcome::Done(Envelope::Converted { bytes, sha256, sheet }) => {
                        Ok(convert::Output { bytes, sha256, sheet })
                    }
                    ChildOutcome::Done(Envelope::Failed(why)) => Err(convert::ConvertError::Input(why)),
                    ChildOutcome::Done(Envelope::WriteFailed(why)) => Err(convert::ConvertError::Output(why)),
                    ChildOutcome::Done(Envelope::Profile(_)) => {
                        Err(convert::ConvertError::Output("the conversion process answered with a profile".into()))
                    }
                    ChildOutcome::Limit(why) => Err(convert::ConvertError::Input(format!("the file {why}"))),
                    ChildOutcome::Died(why) => Err(convert::ConvertError::Output(why)),
                }
            }
            None => {
                tokio::task::spawn_blocking(move || convert::convert(&src_path, kind, sheet.as_deref(), to, &dir, &out))
                    .await
                    .unwrap_or_else(|e| {
                        Err(convert::ConvertError::Output(format!("the conversion stopped unexpectedly: {e}")))
                    })
            }
        }
        .map_err(|e| {
            let what = format!("'{}' could not be converted to {}", source.name, to.label());
            match e {
                convert::ConvertError::Input(why) => FileError::Invalid(format!("{what}: {why}")),
                convert::ConvertError::Output(why) => FileError::Io(format!("{what}: {why}")),
            }
        })?;
        drop(copy);
        storage.adopt(&out_id).await?;
        let stem = source.name.rsplit_once('.').map(|(s, _)| s).unwrap_or(&source.name);
        let sheet = output.sheet.as_deref().map(|s| format!("-{}", names::clean_name(s))).unwrap_or_default();
        let name = names::clean_name(&match to {
            Conversion::Parquet => format!("{stem}{sheet}.parquet"),
            Conversion::CleanCsv => format!("{stem}{sheet}.clean.csv"),
        });
        let record = NewFile {
            id: &out_id,
            name: &name,
            kind: if to == Conversion::Parquet { FileKind::Parquet } else { FileKind::Csv },
            size_bytes: output.bytes,
            sha256: &output.sha256,
            uploaded_by: by,
            uploaded_at_ms: crate::now_ms(),
            source: Some(&FileRef { id: source.id.clone(), name: source.name.clone() }),
            conversion: Some(to),
        };
        if let Err(e) = records::insert(&self.inner.db, &record).await {
            let _ = storage.delete(&out_id).await;
            return Err(e.into());
        }
        self.inner.profiler.enqueue(&out_id);
        self.view(&out_id).await
    }

    /// The file to send for a download.
    pub async fn download(&self, actor: &Actor, id: &str) -> Result<Download, FileError> {
        actor.require(Role::Viewer)?;
        let file = self.view(id).await?;
        Ok(Download { file, storage: self.inner.storage.clone() })
    }

    /// Counts a download of `file` by the actor.
    pub async fn record_download(&self, actor: &Actor, file: &FileView) -> Result<(), FileError> {
        Ok(records::record_download(&self.inner.db, &file.id, &file.name, actor.name(), crate::now_ms()).await?)
    }

    /// Deletes a file for an editor: the record, then the bytes. Outputs made from it stay.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<Deleted, FileError> {
        actor.require(Role::Editor)?;
        let file = self.remove(id).await?;
        self.audit(actor, "file.delete", &file.audit_target(), Outcome::Ok, "").await;
        Ok(Deleted { deleted: file })
    }

    /// Removes the record, then the bytes (no check, no audit: the callers do those).
    async fn remove(&self, id: &str) -> Result<FileView, FileError> {
        let file = self.view(id).await?;
        if !records::delete(&self.inner.db, id).await? {
            return Err(FileError::NotFound(id.to_string()));
        }
        if let Err(e) = self.inner.storage.delete(&file.id).await {
            // The record is gone; the sweep removes the bytes once they are old enough.
            tracing::warn!(file = %file.id, error = %e, "a deleted file's content could not be removed");
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AuditQuery, AuthMethod, Principal};
    use crate::db::testing::both_backends;

    fn as_role(role: Role) -> Actor {
        let p = Principal { user_id: 1, username: format!("the {}", role.as_str()), role, via: AuthMethod::Token };
        Actor::user(p, "10.1.2.3")
    }

    async fn local(db: &Database, dir: &std::path::Path) -> Storage {
        Storage::open(crate::storage::StorageUrl::default_in(dir), dir, db.clone(), "test".into()).await.unwrap()
    }

    fn editor() -> Actor {
        as_role(Role::Editor)
    }

    fn csv(text: &'static str) -> impl Stream<Item = Result<Vec<u8>, String>> {
        futures::stream::iter([Ok::<_, String>(text.as_bytes().to_vec())])
    }

    async fn audit_lines(db: &Database) -> Vec<String> {
        let entries = accounts::audit::query(db, &AuditQuery::default()).await.unwrap();
        entries.iter().rev().map(|e| format!("{} {} {} {}", e.actor, e.action, e.outcome, e.ip)).collect()
    }

    both_backends! {
        async fn actions_check_the_role_and_write_their_audit_record(db, dir) {
            let files = Files::open(db.clone(), local(&db, &dir).await, 1_000, ProfilerConfig { idle: true, ..Default::default() }, "test".into()).await.unwrap();
            let viewer = as_role(Role::Viewer);
            let refused = files.upload(&viewer, "okrs.csv", csv("a\n1\n")).await.unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Forbidden);
            assert_eq!(refused.to_string(), "this needs the editor role; you are viewer");
            let nobody = Actor::anonymous("10.9.9.9");
            assert_eq!(files.list(&nobody, &FileQuery::default()).await.unwrap_err().kind(), ErrorKind::Unauthenticated);

            let stored = files.upload(&editor(), "okrs.csv", csv("a\n1\n")).await.unwrap();
            assert_eq!(files.list(&viewer, &FileQuery::default()).await.unwrap().files.len(), 1);
            assert_eq!(files.delete(&viewer, &stored.id).await.unwrap_err().kind(), ErrorKind::Forbidden);
            files.reprocess(&editor(), &stored.id).await.unwrap();
            let bad = files.convert(&editor(), &stored.id, Conversion::Parquet, None).await;
            assert!(bad.is_ok() || bad.unwrap_err().kind() == ErrorKind::Invalid);
            assert_eq!(files.delete(&editor(), "nope").await.unwrap_err().kind(), ErrorKind::NotFound);
            files.delete(&editor(), &stored.id).await.unwrap();
            let lines = audit_lines(&db).await;
            assert_eq!(lines[0], "the editor file.upload ok 10.1.2.3");
            assert_eq!(lines[1], "the editor file.reprocess ok 10.1.2.3");
            assert!(lines[2].starts_with("the editor file.convert "), "{lines:?}");
            assert_eq!(lines[3], "the editor file.delete ok 10.1.2.3");
            assert_eq!(lines.len(), 4, "refusals by role are audited by the web layer, not twice: {lines:?}");
        }

        async fn a_batch_stores_all_its_files_or_none(db, dir) {
            let files = Files::open(db.clone(), local(&db, &dir).await, 1_000, ProfilerConfig { idle: true, ..Default::default() }, "test".into()).await.unwrap();
            let mut batch = files.uploads(&editor()).unwrap();
            batch.add("one.csv", csv("a\n1\n")).await.unwrap();
            batch.add("two.csv", csv("b\n2\n")).await.unwrap();
            let refused = batch.add("three.exe", csv("MZ")).await.unwrap_err();
            assert_eq!(refused.kind(), ErrorKind::Unsupported);
            assert_eq!(files.list(&editor(), &FileQuery::default()).await.unwrap().matching, 0, "the earlier two went too");
            let stored: Vec<_> = std::fs::read_dir(files.storage().local_dir().unwrap()).unwrap().collect();
            assert!(stored.is_empty(), "no bytes left behind: {stored:?}");
            assert_eq!(audit_lines(&db).await, ["the editor file.upload failed 10.1.2.3"]);

            let empty = files.uploads(&editor()).unwrap().finish().await.unwrap_err();
            assert_eq!(empty.kind(), ErrorKind::Invalid);
            let mut batch = files.uploads(&editor()).unwrap();
            batch.add("one.csv", csv("a\n1\n")).await.unwrap();
            batch.add("two.csv", csv("b\n2\n")).await.unwrap();
            assert_eq!(batch.finish().await.unwrap().files.len(), 2);
            assert_eq!(files.list(&editor(), &FileQuery::default()).await.unwrap().matching, 2);
        }

        async fn a_store_opened_with_an_empty_database_is_left_alone(db, dir) {
            let files_dir = dir.join("files");
            std::fs::create_dir_all(&files_dir).unwrap();
            let stored = files_dir.join("89abcdef89abcdef89abcdef89abcdef");
            std::fs::write(&stored, b"bytes of another database").unwrap();
            let when = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
            std::fs::File::options().write(true).open(&stored).unwrap().set_modified(when).unwrap();
            Files::open(db.clone(), local(&db, &dir).await, 1_000, Default::default(), "test".into()).await.unwrap();
            assert!(stored.exists(), "never delete what another database may own");
        }

        async fn opening_removes_what_a_crash_left_and_keeps_recorded_files(db, dir) {
            let files = Files::open(db.clone(), local(&db, &dir).await, 1_000, Default::default(), "test".into()).await.unwrap();
            let body = futures::stream::iter([Ok::<_, String>(b"a,b\n1,2\n".to_vec())]);
            let kept = files.upload(&editor(), "okrs.csv", body).await.unwrap();
            // What a crash could leave, an hour ago: a partial upload and bytes without a row.
            let aged = |name: &str, age_secs: u64| {
                let path = files.storage().local_dir().unwrap().join(name);
                std::fs::write(&path, b"left over").unwrap();
                let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
                std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
            };
            aged("0123abcd0123abcd0123abcd0123abcd.part", 7200);
            aged("89abcdef89abcdef89abcdef89abcdef", 7200);
            // Removed too: a fresh partial upload nobody writes (its process was killed).
            aged("00001111000011110000111100001111.part", 1);
            // Kept: a partial upload a live process is writing (it holds the lock), a fresh stored
            // file (another process may be recording it) and names the store never makes.
            aged("22223333222233332222333322223333.part", 1);
            let writing = std::fs::File::open(files.storage().local_dir().unwrap().join("22223333222233332222333322223333.part")).unwrap();
            writing.lock().unwrap();
            aged("fedcba98fedcba98fedcba98fedcba98", 10);
            aged("notes-of-the-admin.txt", 7200);
            let reopened = Files::open(db.clone(), local(&db, &dir).await, 1_000, Default::default(), "test".into()).await.unwrap();
            let mut names: Vec<String> = std::fs::read_dir(reopened.storage().local_dir().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let mut expected = vec![
                kept.id.clone(),
                "22223333222233332222333322223333.part".into(),
                "fedcba98fedcba98fedcba98fedcba98".into(),
                "notes-of-the-admin.txt".into(),
            ];
            expected.sort();
            assert_eq!(names, expected);
            drop(writing);
        }
    }
}
