//! The local store: bytes in a directory (by default the data dir's `files/`). An upload is
//! written as it arrives under a name the server chose, never held whole in memory, hashed
//! (SHA-256) on the way, cut off at the size limit, and removed if anything goes wrong (limit,
//! client gone, disk full), so a failed upload leaves nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

#[allow(unused_imports)]
use super::ORPHAN_AGE;
use super::{is_id, ByteStream, StorageError, Tally, WriteError};

/// A file written completely.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// Where it now lives: `<dir>/<id>`.
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the content, for duplicate detection.
    pub sha256: String,
    /// The first [`super::HEAD_BYTES`] bytes (fewer for a shorter file).
    pub head: Vec<u8>,
}

/// Streams `body` into `<dir>/<id>` through a `.part` file that becomes the file only when the
/// body ended within `limit` bytes. On any error, and when the write is dropped before it ends
/// (its request was cut off), the partial file is removed.
pub async fn write_stream<S, B, E>(dir: &Path, id: &str, limit: u64, body: S) -> Result<Written, WriteError>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let part = RemovedUnlessKept(Some(dir.join(format!("{id}.part"))));
    let part_path = part.0.clone().expect("just set");
    let (bytes, sha256, head, locked) = copy(&part_path, limit, body).await?;
    let path = dir.join(id);
    // Renamed while still locked: a sweep never sees it unlocked under its .part name.
    tokio::fs::rename(&part_path, &path).await?;
    part.keep();
    drop(locked);
    Ok(Written { path, bytes, sha256, head })
}

/// A path removed on drop unless [`RemovedUnlessKept::keep`] was called.
struct RemovedUnlessKept(Option<PathBuf>);

impl RemovedUnlessKept {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for RemovedUnlessKept {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn copy<S, B, E>(part: &Path, limit: u64, body: S) -> Result<(u64, String, Vec<u8>, tokio::fs::File), WriteError>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    // Locked while it is written: the start-up sweep removes a `.part` only when it can take
    // the lock, so an upload that a killed process left is swept at once, whatever its age,
    // and one another live process is still writing is not.
    let mut file = tokio::fs::File::from_std(create_locked(part).await?);
    let mut tally = Tally::new(limit);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| WriteError::Source(e.to_string()))?;
        tally.add(chunk.as_ref())?;
        file.write_all(chunk.as_ref()).await?;
    }
    // Durable before it is announced: a crash after this leaves a whole file or none.
    file.flush().await?;
    file.sync_all().await?;
    let (bytes, sha256, head) = tally.finish();
    Ok((bytes, sha256, head, file))
}

/// Creates `path` and takes its lock (see [`is_abandoned`]).
pub(super) async fn create_locked(path: &Path) -> std::io::Result<std::fs::File> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// True when nobody holds the lock of the file at `path` (a partial upload or a scratch copy).
pub(super) fn is_abandoned(path: &Path) -> bool {
    match std::fs::File::open(path) {
        Ok(file) => file.try_lock().is_ok(),
        Err(_) => false,
    }
}

/// Streams `<dir>/<id>`, or the byte `range` of it.
pub(super) async fn read(
    dir: &Path,
    id: &str,
    range: Option<std::ops::Range<u64>>,
) -> Result<ByteStream, StorageError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let path = dir.join(id);
    let mut file = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::Missing(id.to_string()),
        _ => StorageError::Io(format!("cannot read '{}': {e}", path.display())),
    })?;
    let (start, len) = match range {
        Some(r) => (r.start, r.end.saturating_sub(r.start)),
        None => (0, u64::MAX),
    };
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(|e| StorageError::Io(format!("cannot read '{}': {e}", path.display())))?;
    }
    Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(file.take(len), 64 * 1024)))
}

/// Removes what a crash left in `dir`: partial uploads (`<id>.part`) that no process holds
/// locked (a live upload holds its lock), and bytes whose row was never written or already
/// deleted, when older than `orphan_age` ([`ORPHAN_AGE`]). Only names the store itself makes are touched,
/// and nothing at all when the database knows no files while the directory has some (a data
/// directory opened with another database).
pub(super) fn sweep(dir: &Path, known: &HashSet<String>, orphan_age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let entries: Vec<_> = entries.flatten().collect();
    if known.is_empty() && entries.iter().any(|e| is_id(&e.file_name().to_string_lossy())) {
        tracing::warn!(dir = %dir.display(), "the database records no files but the store holds some; left as they are");
        return;
    }
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".part").unwrap_or(&name);
        if !is_id(stem) {
            continue;
        }
        if name.ends_with(".part") {
            if is_abandoned(&entry.path()) {
                tracing::warn!(file = %name, "removing a partial upload that no process is writing");
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= orphan_age);
        if !known.contains(&name) && old {
            tracing::warn!(file = %name, "removing a stored file without a record");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The ids stored in `dir`.
pub(super) fn ids(dir: &Path) -> Result<Vec<String>, StorageError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| StorageError::Io(format!("cannot list '{}': {e}", dir.display())))?;
    Ok(entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| is_id(n)).collect())
}

/// Removes from the scratch directory the copies no process holds (their process died), and
/// other leftovers (a conversion's output a killed process never uploaded) once they are
/// `orphan_age` old: another process sharing this data directory may still be writing one.
pub(super) fn sweep_scratch(dir: &Path, orphan_age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let old = || {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|a| a >= orphan_age)
        };
        let copy = path.extension().is_some_and(|e| e == "copy");
        if path.is_file() && ((copy && is_abandoned(&path)) || (!copy && old())) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::new_file_id;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<&'static [u8], String>> {
        futures::stream::iter(parts.iter().map(|p| Ok(*p)).collect::<Vec<_>>())
    }

    fn names_in(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[tokio::test]
    async fn a_body_is_written_hashed_and_its_head_kept() {
        let dir = tempfile::tempdir().unwrap();
        let id = new_file_id();
        let written = write_stream(dir.path(), &id, 1_000, chunks(&[b"ab", b"c"])).await.unwrap();
        assert_eq!(written.bytes, 3);
        // SHA-256("abc"), the standard test vector.
        assert_eq!(written.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(written.head, b"abc");
        assert_eq!(std::fs::read(&written.path).unwrap(), b"abc");
        assert_eq!(names_in(dir.path()), [id]);
    }

    #[tokio::test]
    async fn the_limit_stops_the_upload_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_stream(dir.path(), "f1", 4, chunks(&[b"abc", b"de"])).await.unwrap_err();
        assert!(matches!(err, WriteError::TooLarge { limit: 4 }), "{err}");
        assert!(err.to_string().contains("limit of 4 bytes"));
        assert!(names_in(dir.path()).is_empty(), "partial file removed");
        // Exactly at the limit is fine.
        assert_eq!(write_stream(dir.path(), "f2", 5, chunks(&[b"abc", b"de"])).await.unwrap().bytes, 5);
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let body = futures::stream::iter(vec![Ok(b"abc".as_slice()), Err("connection reset".to_string())]);
        let err = write_stream(dir.path(), "f", 100, body).await.unwrap_err();
        assert!(err.to_string().contains("connection reset"), "{err}");
        assert!(names_in(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn an_empty_body_is_an_empty_file_and_ids_are_random() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_stream(dir.path(), "empty", 10, chunks(&[])).await.unwrap();
        assert_eq!((written.bytes, written.head.len()), (0, 0));
        assert_eq!(written.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let (a, b) = (new_file_id(), new_file_id());
        assert!(a != b && a.len() == 32 && a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[tokio::test]
    async fn a_disk_that_refuses_is_reported_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = write_stream(&missing, "f", 10, chunks(&[b"abc"])).await.unwrap_err();
        assert!(matches!(err, WriteError::Disk(_)), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_full_disk_is_reported_and_the_partial_file_removed() {
        // The .part path leads to /dev/full, where every write fails with ENOSPC.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join("f.part")).unwrap();
        let err = write_stream(dir.path(), "f", 1 << 20, chunks(&[b"abc", b"def"])).await.unwrap_err();
        assert!(matches!(&err, WriteError::Disk(e) if e.raw_os_error() == Some(28)), "{err:?}");
        assert!(
            err.to_string().contains("could not write the file to disk")
                && err.to_string().contains("nothing was kept")
        );
        assert!(names_in(dir.path()).is_empty(), "the partial file is gone: {:?}", names_in(dir.path()));
    }
}
