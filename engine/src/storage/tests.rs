//! Each behaviour of the store runs on the local directory and on the S3-compatible test server
//! (see [`super::testing`]), over SQLite and Postgres (the S3 store records its multipart
//! uploads in the database).

use std::collections::HashSet;
use std::time::Duration;

use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::testing::TestBucket;
use super::*;
use crate::db::testing::both_backends;

/// The local store and a fresh prefix of the test bucket, over `db`.
async fn stores(db: &Database, dir: &Path) -> Vec<Storage> {
    let local = Storage::open(StorageUrl::default_in(dir), dir, db.clone(), "test".into()).await.unwrap();
    let bucket = TestBucket::new();
    let remote =
        Storage::open_with(bucket.url.clone(), dir, db.clone(), "test".into(), &bucket.vars).await.unwrap_or_else(
            |e| panic!("the S3 store tests need the test server ({}; .ci/s3-server starts it): {e}", testing::ENV),
        );
    vec![local, remote]
}

fn chunks(data: &[u8], size: usize) -> impl Stream<Item = Result<Vec<u8>, String>> + use<> {
    let parts: Vec<_> = data.chunks(size.max(1)).map(|c| Ok(c.to_vec())).collect();
    futures::stream::iter(parts)
}

async fn read_all(storage: &Storage, id: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let mut stream = storage.read(id, range).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn pending_uploads(db: &Database) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM storage_uploads").fetch_one(db.pool()).await.unwrap()
}

/// Bytes that differ at every position, so a misplaced part or range shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i / 251 % 256) as u8).collect()
}

#[test]
fn storage_urls_are_checked_and_the_rule_named() {
    assert_eq!("file:///srv/okr".parse(), Ok(StorageUrl::Local("/srv/okr".into())));
    assert_eq!(
        "s3://okr-bytes/team/a/".parse(),
        Ok(StorageUrl::S3 { bucket: "okr-bytes".into(), prefix: "team/a".into() })
    );
    assert_eq!("s3://okr-bytes".parse(), Ok(StorageUrl::S3 { bucket: "okr-bytes".into(), prefix: String::new() }));
    assert_eq!(StorageUrl::S3 { bucket: "b12".into(), prefix: "x/y".into() }.to_string(), "s3://b12/x/y");
    let refused = |url: &str| url.parse::<StorageUrl>().unwrap_err();
    assert!(refused("file://relative/dir").contains("absolute path"));
    assert!(refused("gs://bucket").contains("unsupported scheme 'gs'"));
    assert!(refused("/srv/okr").contains("needs a scheme"));
    assert!(refused("s3://Upper_Case").contains("bucket name"));
    assert!(refused("s3://ab").contains("bucket name"));
    assert!(refused("s3://bucket/a//b").contains("prefix"));
    assert!(refused("s3://bucket/a/../b").contains("prefix"));
    let secret = refused("s3://AKIAEXAMPLE:hunter2@bucket/p");
    assert!(secret.contains("AWS_ACCESS_KEY_ID") && !secret.contains("hunter2"), "{secret}");
}

both_backends! {
    async fn a_write_is_hashed_read_whole_or_by_range_and_deleted(db, dir) {
        for storage in stores(&db, &dir).await {
            let id = new_file_id();
            let stored = storage.write(&id, 100, chunks(b"hello world", 4)).await.unwrap();
            assert_eq!(stored.bytes, 11);
            assert_eq!(stored.sha256, hex::encode(Sha256::digest(b"hello world")));
            assert_eq!(stored.head, b"hello world");
            assert_eq!(read_all(&storage, &id, None).await, b"hello world");
            assert_eq!(read_all(&storage, &id, Some(6..11)).await, b"world", "{}", storage.url());
            assert_eq!(read_all(&storage, &id, Some(0..1)).await, b"h");
            let copy = storage.local_copy(&id, stored.bytes, &stored.sha256).await.unwrap();
            assert_eq!(std::fs::read(copy.path()).unwrap(), b"hello world");
            drop(copy);
            assert_eq!(storage.ids().await.unwrap(), std::slice::from_ref(&id));
            storage.delete(&id).await.unwrap();
            storage.delete(&id).await.unwrap();
            assert!(matches!(storage.read(&id, None).await.err(), Some(StorageError::Missing(_))));
            assert!(storage.ids().await.unwrap().is_empty());
            let empty = new_file_id();
            assert_eq!(storage.write(&empty, 10, chunks(b"", 1)).await.unwrap().bytes, 0);
            assert!(read_all(&storage, &empty, None).await.is_empty());
        }
        assert_eq!(std::fs::read_dir(dir.join("scratch")).map(|d| d.count()).unwrap_or(0), 0, "scratch copies removed");
    }

    async fn a_large_write_goes_up_in_parts_and_reads_back_exactly(db, dir) {
        let data = pattern(2 * PART + PART / 2 + 3);
        for storage in stores(&db, &dir).await {
            let id = new_file_id();
            let stored = storage.write(&id, u64::MAX, chunks(&data, 1 << 20)).await.unwrap();
            assert_eq!((stored.bytes, stored.sha256.clone()), (data.len() as u64, hex::encode(Sha256::digest(&data))));
            assert_eq!(read_all(&storage, &id, None).await, data, "{}", storage.url());
            let across = (PART as u64 - 2)..(PART as u64 + 2);
            assert_eq!(read_all(&storage, &id, Some(across.clone())).await, &data[PART - 2..PART + 2]);
            let copy = storage.local_copy(&id, stored.bytes, &stored.sha256).await.unwrap();
            assert_eq!(std::fs::read(copy.path()).unwrap(), data);
        }
        assert_eq!(pending_uploads(&db).await, 0, "completed uploads are no longer listed");
    }

    async fn a_write_that_fails_leaves_nothing_in_the_store(db, dir) {
        let data = pattern(2 * PART + 5);
        for storage in stores(&db, &dir).await {
            // Past the limit after two parts went up.
            let limit = (2 * PART) as u64;
            let err = storage.write(&new_file_id(), limit, chunks(&data, 1 << 20)).await.unwrap_err();
            assert!(matches!(err, WriteError::TooLarge { .. }), "{err}");
            // The client breaks off after one part.
            let broken = chunks(&data[..PART + 10], 1 << 20).chain(futures::stream::iter([Err("connection reset".to_string())]));
            let err = storage.write(&new_file_id(), u64::MAX, broken).await.unwrap_err();
            assert!(err.to_string().contains("connection reset") && err.to_string().contains("nothing was kept"), "{err}");
            // Small ones too.
            let err = storage.write(&new_file_id(), 3, chunks(b"abcd", 1)).await.unwrap_err();
            assert!(matches!(err, WriteError::TooLarge { limit: 3 }));
            assert!(storage.ids().await.unwrap().is_empty(), "{}: {:?}", storage.url(), storage.ids().await);
            assert_eq!(pending_uploads(&db).await, 0, "every multipart upload was aborted");
        }
    }

    async fn a_write_dropped_midway_is_aborted(db, dir) {
        let data = pattern(PART + 10);
        for storage in stores(&db, &dir).await {
            // A client that sends a part's worth and then hangs until the request is dropped.
            let hangs = chunks(&data, 1 << 20).chain(futures::stream::pending());
            let id = new_file_id();
            let cut = tokio::time::timeout(Duration::from_secs(3), storage.write(&id, u64::MAX, hangs)).await;
            assert!(cut.is_err(), "the write was still waiting");
            for _ in 0..50 {
                if pending_uploads(&db).await == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(pending_uploads(&db).await, 0, "the dropped upload was aborted");
            assert!(storage.ids().await.unwrap().is_empty());
            if let Some(dir) = storage.local_dir() {
                assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "no .part left");
            }
        }
    }

    async fn a_copy_that_is_not_the_recorded_object_is_refused(db, dir) {
        let stores = stores(&db, &dir).await;
        let remote = &stores[1];
        let id = new_file_id();
        let stored = remote.write(&id, 100, chunks(b"a,b\n1,2\n", 3)).await.unwrap();
        let wrong = remote.local_copy(&id, stored.bytes, &"0".repeat(64)).await.err().unwrap();
        assert!(wrong.to_string().contains("not the one recorded"), "{wrong}");
        assert!(matches!(remote.local_copy(&new_file_id(), 1, "x").await.err(), Some(StorageError::Missing(_))));
        assert_eq!(std::fs::read_dir(dir.join("scratch")).unwrap().count(), 0, "a refused copy is removed");
    }

    async fn the_sweep_removes_orphans_and_leaves_what_a_database_knows(db, dir) {
        for storage in stores(&db, &dir).await {
            let (kept, orphan) = (new_file_id(), new_file_id());
            storage.write(&kept, 10, chunks(b"kept", 2)).await.unwrap();
            storage.write(&orphan, 10, chunks(b"orphan", 2)).await.unwrap();
            // A database that records nothing: the store may be another's; nothing is touched.
            storage.sweep_aged(&HashSet::new(), Duration::ZERO).await;
            assert_eq!(storage.ids().await.unwrap().len(), 2);
            // Young orphans may be an upload another process is recording.
            let known: HashSet<String> = [kept.clone()].into();
            storage.sweep(&known).await;
            assert_eq!(storage.ids().await.unwrap().len(), 2);
            storage.sweep_aged(&known, Duration::ZERO).await;
            assert_eq!(storage.ids().await.unwrap(), std::slice::from_ref(&kept), "{}", storage.url());
        }
    }
}

/// The part size the S3 store uses (tests cross its boundaries).
const PART: usize = 8 << 20;

#[tokio::test]
async fn a_store_that_cannot_work_is_named_at_open() {
    let t = crate::db::testing::open(crate::db::Backend::Sqlite).await;
    let dir = t.dir.path();
    let bucket = TestBucket::new();
    let open = |vars: Vec<(String, String)>, url: StorageUrl| {
        let db = t.db.clone();
        async move { Storage::open_with(url, dir, db, "test".into(), &vars).await.err().map(|e| e.to_string()) }
    };
    let no_keys: Vec<_> = bucket
        .vars
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .cloned()
        .collect();
    let missing = open(no_keys, bucket.url.clone()).await.unwrap();
    assert!(missing.contains("no credentials") && missing.contains("AWS_ACCESS_KEY_ID"), "{missing}");
    let no_secret: Vec<_> = bucket.vars.iter().filter(|(k, _)| !k.starts_with("AWS_SECRET")).cloned().collect();
    assert!(open(no_secret, bucket.url.clone()).await.unwrap().contains("AWS_SECRET_ACCESS_KEY is not"));
    let absent = bucket.with_bucket("okrflow-no-such-bucket");
    let message = open(absent.vars.clone(), absent.url.clone()).await.unwrap();
    assert!(message.contains("the bucket 'okrflow-no-such-bucket' does not exist at http://"), "{message}");
    let mut nowhere = bucket.vars.clone();
    nowhere.retain(|(k, _)| k != "AWS_ENDPOINT");
    nowhere.push(("AWS_ENDPOINT".into(), "http://127.0.0.1:9".into()));
    let message = open(nowhere, bucket.url.clone()).await.unwrap();
    assert!(message.contains("cannot reach the object store at http://127.0.0.1:9"), "{message}");
    assert!(!message.contains("test:test"), "no credentials in messages: {message}");
    t.db.close().await;
}

both_backends! {
    async fn nested_paths_are_written_listed_read_and_removed_as_folders(db, dir) {
        for storage in stores(&db, &dir).await {
            let at = |p: &str| format!("artifacts/1/{}/artifacts/{p}", "ab".repeat(16));
            storage.write_at(&at("model/MLmodel"), 1 << 20, chunks(b"flavors: {}\n", 4)).await.unwrap();
            storage.write_at(&at("model/data/weights.bin"), 1 << 20, chunks(&[7u8; 3000], 1000)).await.unwrap();
            storage.write_at(&at("notes.txt"), 1 << 20, chunks(b"hello", 2)).await.unwrap();
            let mut body = storage.read_at(&at("model/MLmodel")).await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = body.next().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert_eq!(got, b"flavors: {}\n", "{}", storage.describe());
            let root = storage.list_at(&at("")[..at("").len() - 1]).await.unwrap();
            let names: Vec<(String, bool, Option<u64>)> = root.into_iter().map(|l| (l.name, l.is_dir, l.bytes)).collect();
            assert_eq!(names, [("model".into(), true, None), ("notes.txt".into(), false, Some(5))], "{}", storage.describe());
            assert!(storage.list_at(&at("missing")).await.unwrap().is_empty());
            assert!(matches!(storage.read_at(&at("model")).await, Err(StorageError::Missing(_))) || storage.local_dir().is_none());
            storage.delete_at(&at("model")).await.unwrap();
            assert!(storage.list_at(&at("model")).await.unwrap().is_empty(), "the folder went with its files");
            assert_eq!(storage.list_at(&at("")[..at("").len() - 1]).await.unwrap().len(), 1);
            for bad in ["", "a/../b", "/abs", "a//b", "a\\b", "a/./b", "x.part"] {
                assert!(storage.write_at(bad, 10, chunks(b"x", 1)).await.is_err(), "{bad}");
                assert!(storage.list_at(bad).await.is_err(), "{bad}");
            }
            // The sweep of ids at the root leaves nested paths alone.
            storage.sweep_aged(&HashSet::new(), Duration::ZERO).await;
            assert_eq!(storage.list_at(&at("")[..at("").len() - 1]).await.unwrap().len(), 1);
        }
    }
}
