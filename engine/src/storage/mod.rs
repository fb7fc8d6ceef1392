//! Storage: where okrflow keeps bytes (uploaded files now, tracking artifacts next): a
//! directory, by default the data dir's `files/`, or an S3-compatible bucket through the
//! `object_store` crate (`--storage-url s3://bucket/prefix`). One interface over both: streamed
//! writes that leave nothing behind on any failure, streamed reads of a byte range, a local copy
//! for the parsers (which need a file), deletion, and the sweep of what a crashed process left.
//! Objects are named by server-chosen ids, never by anything a client sent.

mod local;
mod s3;
pub mod testing;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::Stream;
use sha2::{Digest, Sha256};

pub use local::{write_stream, Written};

use crate::db::Database;
use crate::error::{ErrorKind, Failure};

/// How many leading bytes are kept for the signature check (TAR's is at byte 257).
pub const HEAD_BYTES: usize = 1024;

/// How old a stored object without a record must be before the sweep removes it: younger ones
/// may belong to an upload another okrflow process is finishing (a rolling restart).
pub(crate) const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// Bytes as they are read from the store.
pub type ByteStream = BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// A new server-chosen object id: 128 random bits in hex. Nothing of a client's name is in it.
pub fn new_file_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}

/// Whether `name` is an id [`new_file_id`] makes: the only names the sweeps touch.
pub(crate) fn is_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Why a write kept nothing.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the file is larger than the limit of {limit} bytes; the upload was stopped and nothing was kept")]
    TooLarge { limit: u64 },
    #[error("the upload broke off: {0}; nothing was kept")]
    Source(String),
    #[error("could not write the file to disk: {0}; nothing was kept")]
    Disk(#[from] std::io::Error),
    #[error("the object store did not take the file: {0}; nothing was kept")]
    Remote(String),
}

/// Why the store could not serve or change an object, or could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Recorded but not in the store: okrflow's failure, not the caller's.
    #[error("the content of '{0}' is missing from the store")]
    Missing(String),
    /// The object store could not be reached or refused okrflow.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Io(String),
    /// A storage URL or environment that cannot work, named at start.
    #[error("{0}")]
    Config(String),
}

impl Failure for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::Missing(_) | StorageError::Io(_) => ErrorKind::Internal,
            StorageError::Unavailable(_) => ErrorKind::Unavailable,
            StorageError::Config(_) => ErrorKind::Invalid,
        }
    }
}

/// Counts, hashes and keeps the head of bytes as they pass, refusing past a limit.
pub(crate) struct Tally {
    limit: u64,
    bytes: u64,
    hasher: Sha256,
    head: Vec<u8>,
}

impl Tally {
    pub(crate) fn new(limit: u64) -> Tally {
        Tally { limit, bytes: 0, hasher: Sha256::new(), head: Vec::with_capacity(HEAD_BYTES) }
    }

    pub(crate) fn add(&mut self, chunk: &[u8]) -> Result<(), WriteError> {
        self.bytes += chunk.len() as u64;
        if self.bytes > self.limit {
            return Err(WriteError::TooLarge { limit: self.limit });
        }
        if self.head.len() < HEAD_BYTES {
            self.head.extend_from_slice(&chunk[..chunk.len().min(HEAD_BYTES - self.head.len())]);
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes, lower-case hex SHA-256, head.
    pub(crate) fn finish(self) -> (u64, String, Vec<u8>) {
        (self.bytes, hex::encode(self.hasher.finalize()), self.head)
    }
}

/// Where bytes live, as `--storage-url` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory on this machine (`file:///path`).
    Local(PathBuf),
    /// A bucket and a key prefix, possibly empty (`s3://bucket/prefix`).
    S3 { bucket: String, prefix: String },
}

impl StorageUrl {
    /// The default: `<data_dir>/files`.
    pub fn default_in(data_dir: &Path) -> StorageUrl {
        StorageUrl::Local(data_dir.join("files"))
    }

    fn rule() -> &'static str {
        "use file:///ABSOLUTE/PATH or s3://BUCKET[/PREFIX]"
    }
}

impl std::str::FromStr for StorageUrl {
    type Err = String;

    /// Checks the URL; a message never repeats what could be a secret in it.
    fn from_str(url: &str) -> Result<StorageUrl, String> {
        if let Some(path) = url.strip_prefix("file://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(format!("a file:// storage URL needs an absolute path; {}", Self::rule()));
            }
            return Ok(StorageUrl::Local(path));
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
            return Err(match scheme {
                "" => format!("a storage URL needs a scheme; {}", Self::rule()),
                s if s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                    format!("unsupported scheme '{s}'; {}", Self::rule())
                }
                _ => format!("unsupported scheme; {}", Self::rule()),
            });
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.contains('@') || bucket.contains(':') {
            return Err(
                "credentials do not go in the storage URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into()
            );
        }
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_bucket {
            return Err(
                "the bucket name must be 3 to 63 lower-case letters, digits, dots or hyphens, starting and ending with a letter or digit"
                    .into(),
            );
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            for segment in prefix.split('/') {
                let bad = segment.is_empty()
                    || segment == "."
                    || segment == ".."
                    || segment.chars().any(|c| c.is_control() || c == '\\' || c == '?' || c == '#');
                if bad {
                    return Err("the prefix after the bucket must be names separated by single '/', without '.', '..', control characters, '\\', '?' or '#'".into());
                }
            }
        }
        Ok(StorageUrl::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageUrl::Local(path) => write!(f, "file://{}", path.display()),
            StorageUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StorageUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// An entry of a folder listing ([`Storage::list_at`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub is_dir: bool,
    /// The size of a file.
    pub bytes: Option<u64>,
}

/// A nested path as the store takes it: relative, `/`-separated, no empty, `.` or `..` part, no
/// backslash or control character. Callers check their own rules first; this is the last guard
/// that no key leaves the store's root.
fn nested(key: &str) -> Result<&str, StorageError> {
    let bad = key.is_empty()
        || key.split('/').any(|part| part.is_empty() || part == "." || part == ".." || part.ends_with(".part"))
        || key.contains('\\')
        || key.chars().any(char::is_control);
    if bad {
        return Err(StorageError::Config(format!("'{key}' is not a path inside the store")));
    }
    Ok(key)
}

/// What a write stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// The first [`HEAD_BYTES`] bytes (fewer for a shorter object).
    pub head: Vec<u8>,
}

/// An object as a file on this machine, for parsers that need one: the stored file itself in a
/// local store, or a copy in the scratch directory, locked while held and removed on drop.
pub struct LocalCopy {
    path: PathBuf,
    _lock: Option<std::fs::File>,
    temporary: bool,
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The store handle; cloning shares it.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    url: StorageUrl,
    backend: Backend,
    /// Local copies of remote objects, and new objects before they are uploaded.
    scratch: PathBuf,
    db: Database,
    /// This process's id: the owner of its multipart uploads under way.
    owner: String,
}

enum Backend {
    Local(PathBuf),
    S3(s3::Bucket),
}

impl Storage {
    /// Opens the store: creates a local directory, or checks that the bucket answers with the
    /// credentials from the environment (a missing bucket, missing credentials or an unreachable
    /// endpoint are named here, at start). `owner` is this process's id.
    pub async fn open(url: StorageUrl, data_dir: &Path, db: Database, owner: String) -> Result<Storage, StorageError> {
        let vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("AWS_")).collect();
        Storage::open_with(url, data_dir, db, owner, &vars).await
    }

    /// [`Storage::open`] with the `AWS_*` variables given rather than read from the environment.
    pub async fn open_with(
        url: StorageUrl,
        data_dir: &Path,
        db: Database,
        owner: String,
        vars: &[(String, String)],
    ) -> Result<Storage, StorageError> {
        let scratch = data_dir.join("scratch");
        let backend = match &url {
            StorageUrl::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StorageError::Config(format!("cannot create '{}': {e}", dir.display())))?;
                Backend::Local(dir.clone())
            }
            StorageUrl::S3 { bucket, prefix } => {
                std::fs::create_dir_all(&scratch)
                    .map_err(|e| StorageError::Config(format!("cannot create '{}': {e}", scratch.display())))?;
                Backend::S3(s3::Bucket::open(bucket, prefix, vars).await?)
            }
        };
        Ok(Storage { inner: Arc::new(Inner { url, backend, scratch, db, owner }) })
    }

    pub fn url(&self) -> &StorageUrl {
        &self.inner.url
    }

    /// Where a reader finds the store: the directory, or the bucket at its endpoint.
    pub fn describe(&self) -> String {
        match &self.inner.backend {
            Backend::Local(dir) => dir.display().to_string(),
            Backend::S3(bucket) => bucket.describe(&self.inner.url),
        }
    }

    /// The directory of a local store.
    pub fn local_dir(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Local(dir) => Some(dir),
            Backend::S3(_) => None,
        }
    }

    /// Streams `body` into the object `id`, within `limit` bytes. Any failure, and a write
    /// dropped before it ends (a client gone), leaves nothing in the store.
    pub async fn write<S, B, E>(&self, id: &str, limit: u64, body: S) -> Result<Stored, WriteError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        match &self.inner.backend {
            Backend::Local(dir) => {
                let written = write_stream(dir, id, limit, body).await?;
                Ok(Stored { bytes: written.bytes, sha256: written.sha256, head: written.head })
            }
            Backend::S3(bucket) => bucket.write(&self.inner.db, &self.inner.owner, id, limit, body).await,
        }
    }

    /// Streams the object `id`, or its byte `range` (end exclusive, within the object).
    pub async fn read(&self, id: &str, range: Option<std::ops::Range<u64>>) -> Result<ByteStream, StorageError> {
        match &self.inner.backend {
            Backend::Local(dir) => local::read(dir, id, range).await,
            Backend::S3(bucket) => bucket.read(id, range).await,
        }
    }

    /// The object `id` as a local file, checked against its record (`bytes`, `sha256`) when
    /// it had to be copied.
    pub async fn local_copy(&self, id: &str, bytes: u64, sha256: &str) -> Result<LocalCopy, StorageError> {
        match &self.inner.backend {
            Backend::Local(dir) => {
                let path = dir.join(id);
                if !path.is_file() {
                    return Err(StorageError::Missing(id.to_string()));
                }
                Ok(LocalCopy { path, _lock: None, temporary: false })
            }
            Backend::S3(bucket) => {
                let path = self.inner.scratch.join(format!("{id}-{}.copy", &new_file_id()[..8]));
                let lock = bucket.copy_to(id, &path, bytes, sha256).await?;
                Ok(LocalCopy { path, _lock: Some(lock), temporary: true })
            }
        }
    }

    /// Where a program writes a new object before [`Storage::adopt`] takes it: the store's own
    /// directory when local, the scratch directory otherwise.
    pub fn output_dir(&self) -> &Path {
        match &self.inner.backend {
            Backend::Local(dir) => dir,
            Backend::S3(_) => &self.inner.scratch,
        }
    }

    /// Makes `<output_dir>/<id>` the object `id` (uploads and removes it when remote); on a
    /// failure nothing is left in either place.
    pub async fn adopt(&self, id: &str) -> Result<(), StorageError> {
        let Backend::S3(bucket) = &self.inner.backend else { return Ok(()) };
        let path = self.inner.scratch.join(id);
        let uploaded = async {
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| StorageError::Io(format!("cannot read '{}': {e}", path.display())))?;
            let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
            bucket
                .write(&self.inner.db, &self.inner.owner, id, u64::MAX, body)
                .await
                .map_err(|e| StorageError::Unavailable(e.to_string()))
        }
        .await;
        let _ = tokio::fs::remove_file(&path).await;
        uploaded.map(|_| ())
    }

    /// Removes the object `id`; one already gone is fine.
    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        match &self.inner.backend {
            Backend::Local(dir) => match tokio::fs::remove_file(dir.join(id)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(StorageError::Io(format!("cannot remove '{}': {e}", dir.join(id).display())))
                }
                _ => Ok(()),
            },
            Backend::S3(bucket) => bucket.delete(id).await,
        }
    }

    /// Removes what crashed processes left: partial writes (local ones no process holds;
    /// remote multipart uploads of processes no longer live, which are aborted), scratch copies,
    /// and objects without a record in `known` older than [`ORPHAN_AGE`]. Objects are left
    /// alone when the database knows none while the store holds some (a store opened with
    /// another database).
    pub async fn sweep(&self, known: &HashSet<String>) {
        self.sweep_aged(known, ORPHAN_AGE).await
    }

    async fn sweep_aged(&self, known: &HashSet<String>, orphan_age: Duration) {
        local::sweep_scratch(&self.inner.scratch, orphan_age);
        match &self.inner.backend {
            Backend::Local(dir) => local::sweep(dir, known, orphan_age),
            Backend::S3(bucket) => bucket.sweep(&self.inner.db, known, orphan_age).await,
        }
    }

    /// Multipart uploads to the bucket under way (by any process); 0 for a local store, whose
    /// partial uploads are `.part` files.
    pub async fn uploads_under_way(&self) -> Result<u64, StorageError> {
        match &self.inner.backend {
            Backend::Local(_) => Ok(0),
            Backend::S3(_) => s3::uploads_under_way(&self.inner.db).await,
        }
    }

    /// The ids of the objects in the store.
    pub async fn ids(&self) -> Result<Vec<String>, StorageError> {
        match &self.inner.backend {
            Backend::Local(dir) => local::ids(dir),
            Backend::S3(bucket) => bucket.ids().await,
        }
    }

    /// Streams `body` into the nested path `key` (`artifacts/1/<run>/artifacts/model.pkl`), as
    /// [`Storage::write`] does for an id: within `limit`, nothing left on any failure or drop.
    pub async fn write_at<S, B, E>(&self, key: &str, limit: u64, body: S) -> Result<Stored, WriteError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let key = nested(key).map_err(|e| WriteError::Disk(std::io::Error::other(e.to_string())))?;
        match &self.inner.backend {
            Backend::Local(dir) => {
                let path = dir.join(key);
                let (parent, name) = (path.parent().unwrap_or(dir), path.file_name().unwrap_or_default());
                tokio::fs::create_dir_all(parent).await?;
                let written = write_stream(parent, &name.to_string_lossy(), limit, body).await?;
                Ok(Stored { bytes: written.bytes, sha256: written.sha256, head: written.head })
            }
            Backend::S3(bucket) => bucket.write(&self.inner.db, &self.inner.owner, key, limit, body).await,
        }
    }

    /// Streams the object at the nested path `key`.
    pub async fn read_at(&self, key: &str) -> Result<ByteStream, StorageError> {
        let key = nested(key)?;
        match &self.inner.backend {
            Backend::Local(dir) if dir.join(key).is_dir() => Err(StorageError::Missing(key.to_string())),
            Backend::Local(dir) => local::read(dir, key, None).await,
            Backend::S3(bucket) => bucket.read(key, None).await,
        }
    }

    /// What lies directly under the nested path `dir`: files with their sizes, and folders.
    /// A path that holds nothing lists nothing.
    pub async fn list_at(&self, dir: &str) -> Result<Vec<Listed>, StorageError> {
        let dir = nested(dir)?;
        let mut listed = Vec::new();
        match &self.inner.backend {
            Backend::Local(root) => {
                let Ok(entries) = std::fs::read_dir(root.join(dir)) else { return Ok(listed) };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Ok(meta) = entry.metadata() else { continue };
                    if name.ends_with(".part") && meta.is_file() {
                        continue; // a write under way
                    }
                    listed.push(Listed { is_dir: meta.is_dir(), bytes: (!meta.is_dir()).then_some(meta.len()), name });
                }
            }
            Backend::S3(bucket) => {
                let (files, dirs) = bucket.list_dir(dir).await?;
                listed.extend(files.into_iter().map(|(name, bytes)| Listed {
                    name,
                    is_dir: false,
                    bytes: Some(bytes),
                }));
                listed.extend(dirs.into_iter().map(|name| Listed { name, is_dir: true, bytes: None }));
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Removes the object or the whole folder at the nested path `key`; nothing there is fine.
    pub async fn delete_at(&self, key: &str) -> Result<(), StorageError> {
        let key = nested(key)?;
        match &self.inner.backend {
            Backend::Local(dir) => {
                let path = dir.join(key);
                let removed = if path.is_dir() {
                    tokio::fs::remove_dir_all(&path).await
                } else {
                    tokio::fs::remove_file(&path).await
                };
                match removed {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(StorageError::Io(format!("cannot remove '{}': {e}", path.display())))
                    }
                    _ => Ok(()),
                }
            }
            Backend::S3(bucket) => {
                bucket.delete(key).await?;
                bucket.delete_tree(key).await
            }
        }
    }

    /// Whether the store answers now (the Services page, `/readyz`).
    pub async fn check(&self) -> Result<(), StorageError> {
        match &self.inner.backend {
            Backend::Local(dir) => match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => Ok(()),
                Ok(_) => Err(StorageError::Io(format!("'{}' is not a directory", dir.display()))),
                Err(e) => Err(StorageError::Io(format!("cannot read '{}': {e}", dir.display()))),
            },
            Backend::S3(bucket) => bucket.check().await,
        }
    }
}

#[cfg(test)]
mod tests;
