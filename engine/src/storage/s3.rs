//! The S3 store: objects `<prefix>/<id>` in a bucket of AWS S3 or any S3-compatible server,
//! through `object_store` with the usual AWS environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for another server, `AWS_ALLOW_HTTP`).
//! Large writes go up as multipart uploads in fixed parts, two in flight; every upload under
//! way is recorded in `storage_uploads`, so one a failure, a dropped request or a killed
//! process left is aborted (by the writer, its drop guard, or the next process's sweep) and
//! leaves no parts behind.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{ClientConfigKey, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;

#[allow(unused_imports)]
use super::ORPHAN_AGE;
use super::{is_id, ByteStream, StorageError, StorageUrl, Stored, Tally, WriteError};
use crate::db::Database;

/// The size of every part but the last: S3 wants at least 5 MiB, and some compatible stores
/// (R2) equal sizes.
const PART_BYTES: usize = 8 << 20;
/// Parts uploading at once while the next one fills: at most 3 × 8 MiB held per write.
const PARTS_IN_FLIGHT: usize = 2;
/// How long the start-up check and the health check wait for the store.
const CHECK_WITHIN: Duration = Duration::from_secs(15);

pub(super) struct Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: Key,
    /// The endpoint as people name it in messages: `AWS_ENDPOINT`, or AWS itself.
    endpoint: String,
}

impl Bucket {
    /// Builds the client from the `AWS_*` variables in `vars` (the environment) and checks,
    /// within [`CHECK_WITHIN`], that the bucket answers a listing with these credentials.
    pub(super) async fn open(bucket: &str, prefix: &str, vars: &[(String, String)]) -> Result<Bucket, StorageError> {
        let env = |name: &str| vars.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
        let has_key = env("AWS_ACCESS_KEY_ID").is_some();
        let other_source = [
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|v| env(v).is_some())
            || env("AWS_SKIP_SIGNATURE").is_some_and(|v| v == "true");
        if !has_key && !other_source {
            return Err(StorageError::Config(format!(
                "no credentials for s3://{bucket}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 (or AWS_WEB_IDENTITY_TOKEN_FILE, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)"
            )));
        }
        if has_key && env("AWS_SECRET_ACCESS_KEY").is_none() {
            return Err(StorageError::Config(format!(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not (for s3://{bucket})"
            )));
        }
        let endpoint = env("AWS_ENDPOINT").or_else(|| env("AWS_ENDPOINT_URL")).unwrap_or_else(|| "AWS S3".into());
        let mut builder = AmazonS3Builder::new();
        for (name, value) in vars.iter().filter(|(k, _)| k.starts_with("AWS_")) {
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        let mut builder = builder.with_bucket_name(bucket).with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..Default::default()
        });
        if env("AWS_TIMEOUT").is_none() {
            // The client's default of 30 s covers a whole request, body included: a large
            // download to a slow browser would be cut off.
            builder = builder.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "1h");
        }
        let store = builder
            .build()
            .map_err(|e| StorageError::Config(format!("cannot use s3://{bucket} at {endpoint}: {e}")))?;
        let prefix = Key::parse(prefix).map_err(|e| StorageError::Config(format!("the prefix '{prefix}': {e}")))?;
        let bucket = Bucket { store: Arc::new(store), bucket: bucket.to_string(), prefix, endpoint };
        bucket.check().await?;
        Ok(bucket)
    }

    pub(super) fn describe(&self, url: &StorageUrl) -> String {
        format!("{url} at {}", self.endpoint)
    }

    /// The key of an id, or of a nested path (`a/b/c`, each part its own segment).
    fn key(&self, id: &str) -> Key {
        id.split('/').fold(self.prefix.clone(), |key, part| key.join(part))
    }

    /// What lies directly under the nested path `dir`: (name, size) of objects, and the names of
    /// the folders.
    pub(super) async fn list_dir(&self, dir: &str) -> Result<(Vec<(String, u64)>, Vec<String>), StorageError> {
        let listed = self.store.list_with_delimiter(Some(&self.key(dir))).await.map_err(|e| self.failed(dir, e))?;
        let files = listed.objects.iter().filter_map(|o| Some((o.location.filename()?.to_string(), o.size))).collect();
        let dirs = listed.common_prefixes.iter().filter_map(|p| p.filename().map(String::from)).collect();
        Ok((files, dirs))
    }

    /// Removes every object under the nested path `dir`.
    pub(super) async fn delete_tree(&self, dir: &str) -> Result<(), StorageError> {
        let prefix = self.key(dir);
        let keys: Vec<Key> = self
            .store
            .list(Some(&prefix))
            .map_ok(|o| o.location)
            .try_collect()
            .await
            .map_err(|e| self.failed(dir, e))?;
        for key in keys {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.failed(dir, e)),
            }
        }
        Ok(())
    }

    /// Lists the prefix once: the bucket exists, the credentials are good, the endpoint answers.
    pub(super) async fn check(&self) -> Result<(), StorageError> {
        let (bucket, endpoint) = (&self.bucket, &self.endpoint);
        match tokio::time::timeout(CHECK_WITHIN, self.store.list_with_delimiter(Some(&self.prefix))).await {
            Err(_) => Err(StorageError::Unavailable(format!(
                "the object store at {endpoint} did not answer within {} s (bucket '{bucket}')",
                CHECK_WITHIN.as_secs()
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let text = e.to_string();
                Err(StorageError::Unavailable(
                    if matches!(e, object_store::Error::NotFound { .. }) || text.contains("NoSuchBucket") {
                        format!("the bucket '{bucket}' does not exist at {endpoint}")
                    } else if ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden"]
                        .iter()
                        .any(|t| text.contains(t))
                    {
                        format!("the object store at {endpoint} refused the credentials for bucket '{bucket}': {text}")
                    } else {
                        format!("cannot reach the object store at {endpoint} (bucket '{bucket}'): {text}")
                    },
                ))
            }
        }
    }

    fn failed(&self, what: &str, e: object_store::Error) -> StorageError {
        match e {
            object_store::Error::NotFound { .. } => StorageError::Missing(what.to_string()),
            e => StorageError::Unavailable(format!("the object store at {} failed on '{what}': {e}", self.endpoint)),
        }
    }

    /// Streams `body` into `<prefix>/<id>`: one PUT when it fits in a part, else a multipart
    /// upload, aborted on any failure or drop.
    pub(super) async fn write<S, B, E>(
        &self,
        db: &Database,
        owner: &str,
        id: &str,
        limit: u64,
        body: S,
    ) -> Result<Stored, WriteError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let key = self.key(id);
        let mut tally = Tally::new(limit);
        let mut upload: Option<Upload> = None;
        let result = async {
            let mut buf = BytesMut::with_capacity(PART_BYTES);
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| WriteError::Source(e.to_string()))?;
                let chunk = chunk.as_ref();
                tally.add(chunk)?;
                buf.extend_from_slice(chunk);
                while buf.len() >= PART_BYTES {
                    let part = buf.split_to(PART_BYTES).freeze();
                    let up = match &mut upload {
                        Some(up) => up,
                        None => upload.insert(Upload::begin(self, db, owner, &key).await?),
                    };
                    up.send(part).await?;
                }
            }
            match upload.as_mut() {
                None => {
                    self.store.put(&key, buf.freeze().into()).await.map_err(|e| WriteError::Remote(e.to_string()))?;
                }
                Some(up) => {
                    if !buf.is_empty() {
                        up.send(buf.split().freeze()).await?;
                    }
                    up.complete().await?;
                }
            }
            Ok::<_, WriteError>(())
        }
        .await;
        match result {
            Ok(()) => {
                let (bytes, sha256, head) = tally.finish();
                Ok(Stored { bytes, sha256, head })
            }
            Err(e) => {
                if let Some(up) = upload.take() {
                    up.abort().await;
                }
                Err(e)
            }
        }
    }

    pub(super) async fn read(&self, id: &str, range: Option<std::ops::Range<u64>>) -> Result<ByteStream, StorageError> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..Default::default() };
        let got = self.store.get_opts(&self.key(id), options).await.map_err(|e| self.failed(id, e))?;
        Ok(Box::pin(got.into_stream().map_err(std::io::Error::other)))
    }

    /// Copies the object into `path`, locked (so no sweep takes it while in use), and checks it
    /// is the one recorded.
    pub(super) async fn copy_to(
        &self,
        id: &str,
        path: &Path,
        bytes: u64,
        sha256: &str,
    ) -> Result<std::fs::File, StorageError> {
        let copied = async {
            let lock = super::local::create_locked(path)
                .await
                .map_err(|e| StorageError::Io(format!("cannot create '{}': {e}", path.display())))?;
            let mut file = tokio::fs::File::from_std(
                lock.try_clone().map_err(|e| StorageError::Io(format!("'{}': {e}", path.display())))?,
            );
            let mut tally = Tally::new(u64::MAX);
            let mut body = self.read(id, None).await?;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    StorageError::Unavailable(format!("reading '{id}' from the object store at {}: {e}", self.endpoint))
                })?;
                let _ = tally.add(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| StorageError::Io(format!("cannot write '{}': {e}", path.display())))?;
            }
            file.flush().await.map_err(|e| StorageError::Io(format!("cannot write '{}': {e}", path.display())))?;
            let (got, hash, _) = tally.finish();
            if got != bytes || hash != sha256 {
                return Err(StorageError::Io(format!(
                    "the stored object of '{id}' is not the one recorded ({got} bytes, sha256 {hash}; recorded {bytes} bytes, sha256 {sha256})"
                )));
            }
            Ok(lock)
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(path).await;
        }
        copied
    }

    /// The ids stored under the prefix.
    pub(super) async fn ids(&self) -> Result<Vec<String>, StorageError> {
        let listed =
            self.store.list_with_delimiter(Some(&self.prefix)).await.map_err(|e| self.failed("the listing", e))?;
        Ok(listed.objects.iter().filter_map(|o| o.location.filename()).filter(|n| is_id(n)).map(String::from).collect())
    }

    pub(super) async fn delete(&self, id: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.key(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(id, e)),
        }
    }

    /// Aborts the multipart uploads of processes no longer live, then removes objects under the
    /// prefix that no record names and that are older than `orphan_age` ([`ORPHAN_AGE`]).
    pub(super) async fn sweep(&self, db: &Database, known: &HashSet<String>, orphan_age: Duration) {
        match pending::take_abandoned(db).await {
            Ok(abandoned) => {
                for (upload_id, key) in abandoned {
                    tracing::warn!(object = %key, "aborting a multipart upload that a stopped process left");
                    if let Err(e) = self.store.abort_multipart(&Key::from(key.as_str()), &upload_id).await {
                        tracing::warn!(object = %key, error = %e, "could not abort an abandoned multipart upload");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the multipart uploads under way"),
        }
        let listed = match self.store.list_with_delimiter(Some(&self.prefix)).await {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(store = %self.endpoint, error = %e, "could not list the bucket to sweep it");
                return;
            }
        };
        let ours: Vec<_> = listed.objects.iter().filter(|o| o.location.filename().is_some_and(is_id)).collect();
        if known.is_empty() && !ours.is_empty() {
            tracing::warn!(bucket = %self.bucket, "the database records no files but the bucket holds some; left as they are");
            return;
        }
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(orphan_age).unwrap_or(chrono::Duration::MAX);
        for object in ours {
            let name = object.location.filename().unwrap_or_default();
            if !known.contains(name) && object.last_modified < cutoff {
                tracing::warn!(object = %object.location, "removing a stored object without a record");
                if let Err(e) = self.store.delete(&object.location).await {
                    tracing::warn!(object = %object.location, error = %e, "could not remove an orphaned object");
                }
            }
        }
    }
}

pub(super) async fn uploads_under_way(db: &Database) -> Result<u64, StorageError> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM storage_uploads")
        .fetch_one(db.pool())
        .await
        .map_err(|e| StorageError::Unavailable(format!("cannot count the uploads under way: {e}")))?;
    Ok(n.max(0) as u64)
}

/// A multipart upload under way: recorded in `storage_uploads` until completed or aborted;
/// aborted in the background if dropped unfinished.
struct Upload {
    store: Arc<AmazonS3>,
    db: Database,
    key: Key,
    id: String,
    in_flight: FuturesOrdered<BoxFuture<'static, object_store::Result<PartId>>>,
    parts: Vec<PartId>,
    next: usize,
    settled: bool,
}

impl Upload {
    async fn begin(bucket: &Bucket, db: &Database, owner: &str, key: &Key) -> Result<Upload, WriteError> {
        let remote = |e: object_store::Error| WriteError::Remote(e.to_string());
        let id = bucket.store.create_multipart(key).await.map_err(remote)?;
        if let Err(e) = pending::record(db, &id, key.as_ref(), owner).await {
            let _ = bucket.store.abort_multipart(key, &id).await;
            return Err(WriteError::Remote(format!("could not record the upload: {e}")));
        }
        Ok(Upload {
            store: bucket.store.clone(),
            db: db.clone(),
            key: key.clone(),
            id,
            in_flight: FuturesOrdered::new(),
            parts: Vec::new(),
            next: 0,
            settled: false,
        })
    }

    /// Starts the next part; waits for the oldest while more than [`PARTS_IN_FLIGHT`] are under way.
    async fn send(&mut self, part: Bytes) -> Result<(), WriteError> {
        let (store, key, id, index) = (self.store.clone(), self.key.clone(), self.id.clone(), self.next);
        self.next += 1;
        self.in_flight.push_back(Box::pin(async move { store.put_part(&key, &id, index, part.into()).await }));
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            self.wait_one().await?;
        }
        Ok(())
    }

    async fn wait_one(&mut self) -> Result<(), WriteError> {
        if let Some(done) = self.in_flight.next().await {
            self.parts.push(done.map_err(|e| WriteError::Remote(e.to_string()))?);
        }
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), WriteError> {
        while !self.in_flight.is_empty() {
            self.wait_one().await?;
        }
        let parts = std::mem::take(&mut self.parts);
        self.store
            .complete_multipart(&self.key, &self.id, parts)
            .await
            .map_err(|e| WriteError::Remote(e.to_string()))?;
        self.settled = true;
        if let Err(e) = pending::forget(&self.db, &self.id).await {
            tracing::warn!(object = %self.key, error = %e, "a completed upload is still listed as under way");
        }
        Ok(())
    }

    async fn abort(mut self) {
        self.settled = true;
        abort(self.store.clone(), self.db.clone(), self.key.clone(), self.id.clone()).await;
    }
}

async fn abort(store: Arc<AmazonS3>, db: Database, key: Key, id: String) {
    match store.abort_multipart(&key, &id).await {
        Ok(()) => {
            let _ = pending::forget(&db, &id).await;
        }
        // Left recorded: the next sweep tries again once this process is gone.
        Err(e) => tracing::warn!(object = %key, error = %e, "could not abort a multipart upload"),
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, db, key, id) = (self.store.clone(), self.db.clone(), self.key.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(abort(store, db, key, id));
        }
    }
}

/// The `storage_uploads` table: multipart uploads under way, by owner process.
mod pending {
    use crate::db::Database;

    pub(super) async fn record(db: &Database, upload_id: &str, key: &str, owner: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO storage_uploads (upload_id, object_key, owner, started_ms) VALUES ($1, $2, $3, $4)")
            .bind(upload_id)
            .bind(key)
            .bind(owner)
            .bind(crate::now_ms())
            .execute(db.pool())
            .await?;
        Ok(())
    }

    pub(super) async fn forget(db: &Database, upload_id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM storage_uploads WHERE upload_id = $1").bind(upload_id).execute(db.pool()).await?;
        Ok(())
    }

    /// Takes the uploads whose owner no longer beats (see [`crate::processes::LIVE_WITHIN`]).
    pub(super) async fn take_abandoned(db: &Database) -> Result<Vec<(String, String)>, sqlx::Error> {
        let live_since = crate::now_ms() - crate::processes::LIVE_WITHIN.as_millis() as i64;
        sqlx::query_as(
            "DELETE FROM storage_uploads WHERE owner NOT IN (SELECT id FROM processes WHERE heartbeat_ms >= $1) \
             RETURNING upload_id, object_key",
        )
        .bind(live_since)
        .fetch_all(db.pool())
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;
    use crate::storage::testing::TestBucket;

    async fn recorded(db: &Database) -> Vec<String> {
        sqlx::query_scalar("SELECT owner FROM storage_uploads ORDER BY owner").fetch_all(db.pool()).await.unwrap()
    }

    both_backends! {
        async fn the_sweep_aborts_the_uploads_of_processes_no_longer_live(db) {
            let t = TestBucket::new();
            let StorageUrl::S3 { bucket, prefix } = &t.url else { unreachable!("a test bucket is S3") };
            let b = Bucket::open(bucket, prefix, &t.vars).await.unwrap();
            sqlx::query(
                "INSERT INTO processes (id, host, pid, role, version, address, runs_jobs, started_ms, heartbeat_ms) \
                 VALUES ('a-live-process', 'h', 1, 'serve', 'v', '', 1, $1, $1)",
            )
            .bind(crate::now_ms())
            .execute(db.pool())
            .await
            .unwrap();
            // What a process killed mid-upload leaves: a part in the bucket, the upload recorded.
            let (dead_key, live_key) = (b.key(&crate::storage::new_file_id()), b.key(&crate::storage::new_file_id()));
            let dead = Upload::begin(&b, &db, "a-dead-process", &dead_key).await.unwrap();
            let live = Upload::begin(&b, &db, "a-live-process", &live_key).await.unwrap();
            let dead_id = dead.id.clone();
            std::mem::forget(dead); // no drop guard runs: as if the process were killed
            b.store.put_part(&dead_key, &dead_id, 0, Bytes::from(vec![7u8; 5 << 20]).into()).await.unwrap();
            assert_eq!(recorded(&db).await, ["a-dead-process", "a-live-process"]);

            b.sweep(&db, &HashSet::new(), ORPHAN_AGE).await;
            assert_eq!(recorded(&db).await, ["a-live-process"], "a live process's upload is left alone");
            // Aborting it again finds no such upload: the sweep aborted it.
            let gone = b.store.abort_multipart(&dead_key, &dead_id).await.unwrap_err();
            assert!(
                matches!(gone, object_store::Error::NotFound { .. }) || gone.to_string().contains("NoSuchUpload"),
                "the dead process's upload was aborted: {gone}"
            );
            live.abort().await;
            assert!(recorded(&db).await.is_empty());
        }
    }
}
