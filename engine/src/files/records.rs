//! The `files` and `file_downloads` tables: one row per stored file (uploads and outputs), its
//! status and profile, and every download. Status moves queued → profiling → ready | failed;
//! only the profiler moves it past queued, and a reprocess puts it back.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{
    Conversion, DownloadView, FileKind, FileQuery, FileRef, FileSort, FileStatus, FileTotals, FileView, Profile,
};
use crate::db::{Backend, Database, Sql};

/// A file about to be recorded.
pub struct NewFile<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: FileKind,
    pub size_bytes: u64,
    pub sha256: &'a str,
    pub uploaded_by: &'a str,
    pub uploaded_at_ms: i64,
    pub source: Option<&'a FileRef>,
    pub conversion: Option<Conversion>,
}

const VIEW: &str = "SELECT f.id, f.name, f.kind, f.size_bytes, f.sha256, f.uploaded_by, f.uploaded_at_ms, f.status, \
     f.status_message, f.rows, f.columns, f.downloads, f.last_download_ms, f.last_download_by, f.source_id, \
     f.source_name, f.conversion, \
     (SELECT d.id || '/' || d.name FROM files d WHERE d.sha256 = f.sha256 AND (d.uploaded_at_ms < f.uploaded_at_ms \
       OR (d.uploaded_at_ms = f.uploaded_at_ms AND d.id < f.id)) ORDER BY d.uploaded_at_ms, d.id LIMIT 1) AS duplicate \
     FROM files f";

fn view_of(row: &AnyRow) -> Result<FileView, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let decode = |what: &str, e: String| sqlx::Error::Decode(format!("files.{what}: {e}").into());
    let source =
        match (row.try_get::<Option<String>, _>("source_id")?, row.try_get::<Option<String>, _>("source_name")?) {
            (Some(id), Some(name)) => Some(FileRef { id, name }),
            // The source was deleted: its name stays, the link does not.
            (None, Some(name)) => Some(FileRef { id: String::new(), name }),
            _ => None,
        };
    let duplicate_of = row
        .try_get::<Option<String>, _>("duplicate")?
        .and_then(|d| d.split_once('/').map(|(id, name)| FileRef { id: id.into(), name: name.into() }));
    Ok(FileView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: FileKind::parse(&kind).map_err(|e| decode("kind", e))?,
        size_bytes: row.try_get::<i64, _>("size_bytes")? as u64,
        sha256: row.try_get("sha256")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at_ms: row.try_get("uploaded_at_ms")?,
        status: FileStatus::parse(&status).ok_or_else(|| decode("status", status.clone()))?,
        status_message: row.try_get("status_message")?,
        rows: row.try_get::<Option<i64>, _>("rows")?.map(|v| v as u64),
        columns: row.try_get::<Option<i64>, _>("columns")?.map(|v| v as u64),
        downloads: row.try_get::<i64, _>("downloads")? as u64,
        last_download_ms: row.try_get("last_download_ms")?,
        last_download_by: row.try_get("last_download_by")?,
        duplicate_of,
        source,
        conversion: row.try_get::<Option<String>, _>("conversion")?.and_then(|c| Conversion::parse(&c).ok()),
    })
}

pub async fn insert(db: &Database, f: &NewFile<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO files (id, name, kind, size_bytes, sha256, uploaded_by, uploaded_at_ms, source_id, source_name, \
         conversion, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued')",
    )
    .bind(f.id)
    .bind(f.name)
    .bind(f.kind.as_str())
    .bind(f.size_bytes as i64)
    .bind(f.sha256)
    .bind(f.uploaded_by)
    .bind(f.uploaded_at_ms)
    .bind(f.source.map(|s| s.id.as_str()))
    .bind(f.source.map(|s| s.name.as_str()))
    .bind(f.conversion.map(Conversion::as_str))
    .execute(db.pool())
    .await?;
    Ok(())
}

pub async fn get(db: &Database, id: &str) -> Result<Option<FileView>, sqlx::Error> {
    let row = sqlx::query(&format!("{VIEW} WHERE f.id = $1")).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(view_of).transpose()
}

fn filtered<'a>(sql: &mut Sql<'a>, db: &Database, q: &'a FileQuery) {
    sql.push(" WHERE 1 = 1");
    if let Some(name) = q.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        // Plain substring search: no LIKE wildcards to escape. Both backends fold ASCII letters
        // alike; Postgres also folds other letters.
        let needle = sql.arg(name.to_lowercase());
        sql.push(" AND ").push(&db.backend().contains("f.name", &needle));
    }
    if let Some(kind) = q.kind {
        sql.push(" AND f.kind = ").bind(kind.as_str());
    }
}

/// One page of files matching `q`, and how many match.
pub async fn list(db: &Database, q: &FileQuery) -> Result<(Vec<FileView>, u64), sqlx::Error> {
    let mut count = Sql::new("SELECT COUNT(*) FROM files f");
    filtered(&mut count, db, q);
    let matching: i64 = count.fetch_scalar(db).await?;

    let mut select = Sql::new(VIEW);
    filtered(&mut select, db, q);
    let column = match q.sort {
        FileSort::Name => "lower(f.name)",
        FileSort::Kind => "f.kind",
        FileSort::Size => "f.size_bytes",
        FileSort::Uploaded => "f.uploaded_at_ms",
        FileSort::Rows => "f.rows",
        FileSort::Downloads => "f.downloads",
    };
    // NULLs (files without rows) sort first ascending, as SQLite does; Postgres needs telling.
    let (direction, nulls) = if q.descending { ("DESC", "NULLS LAST") } else { ("ASC", "NULLS FIRST") };
    select.push(&format!(" ORDER BY {column} {direction} {nulls}, f.id {direction} LIMIT "));
    select.bind(q.per_page as i64).push(" OFFSET ").bind((q.page as i64 - 1) * q.per_page as i64);
    let rows = select.fetch_all(db).await?;
    let files = rows.iter().map(view_of).collect::<Result<Vec<_>, _>>()?;
    Ok((files, matching as u64))
}

pub async fn totals(db: &Database) -> Result<FileTotals, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS bytes FROM files")
        .fetch_one(db.pool())
        .await?;
    Ok(FileTotals { files: row.try_get::<i64, _>("n")? as u64, bytes: row.try_get::<i64, _>("bytes")? as u64 })
}

pub async fn recent_uploads(db: &Database, limit: u32) -> Result<Vec<FileView>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("{VIEW} WHERE f.conversion IS NULL ORDER BY f.uploaded_at_ms DESC, f.id DESC LIMIT $1"))
            .bind(limit as i64)
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(view_of).collect()
}

pub async fn outputs_of(db: &Database, id: &str) -> Result<Vec<FileView>, sqlx::Error> {
    let rows = sqlx::query(&format!("{VIEW} WHERE f.source_id = $1 ORDER BY f.uploaded_at_ms, f.id"))
        .bind(id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(view_of).collect()
}

/// Recent downloads, of one file or of all.
pub async fn downloads(db: &Database, file_id: Option<&str>, limit: u32) -> Result<Vec<DownloadView>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT file_id, file_name, at_ms, by_user FROM file_downloads WHERE (CAST($1 AS TEXT) IS NULL OR file_id = $1) \
         ORDER BY at_ms DESC, id DESC LIMIT $2",
    )
    .bind(file_id)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DownloadView {
                file_id: r.try_get("file_id")?,
                file_name: r.try_get("file_name")?,
                at_ms: r.try_get("at_ms")?,
                by: r.try_get("by_user")?,
            })
        })
        .collect()
}

pub async fn record_download(db: &Database, id: &str, name: &str, by: &str, at_ms: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE files SET downloads = downloads + 1, last_download_ms = $1, last_download_by = $2 WHERE id = $3",
    )
    .bind(at_ms)
    .bind(by)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO file_downloads (file_id, file_name, at_ms, by_user) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(name)
        .bind(at_ms)
        .bind(by)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The stored profile and how long it took, if the file has one.
pub async fn profile(db: &Database, id: &str) -> Result<(Option<Profile>, Option<u64>), sqlx::Error> {
    let row = sqlx::query("SELECT profile_json, profiled_ms FROM files WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok((None, None)) };
    let json: Option<String> = row.try_get("profile_json")?;
    let profile = json
        .map(|j| serde_json::from_str(&j).map_err(|e| sqlx::Error::Decode(format!("files.profile_json: {e}").into())))
        .transpose()?;
    Ok((profile, row.try_get::<Option<i64>, _>("profiled_ms")?.map(|v| v as u64)))
}

/// A file claimed for profiling: its id, kind (as stored) and the attempt's number.
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub attempt: u32,
    /// What the stored bytes must be (checked when they are copied from a bucket).
    pub size_bytes: u64,
    pub sha256: String,
}

/// Takes the oldest queued file for `owner` (a process id) with a lease until
/// `lease_until_ms`, counting the attempt; `None` when nothing is queued. Atomic: on Postgres
/// the row is picked `FOR UPDATE SKIP LOCKED`, so processes claiming at once take different
/// files without waiting for each other; SQLite has one writer at a time.
pub async fn claim_next(db: &Database, owner: &str, lease_until_ms: i64) -> Result<Option<Claimed>, sqlx::Error> {
    let pick = match db.backend() {
        Backend::Postgres => {
            "SELECT id FROM files WHERE status = 'queued' ORDER BY uploaded_at_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        }
        Backend::Sqlite => "SELECT id FROM files WHERE status = 'queued' ORDER BY uploaded_at_ms, id LIMIT 1",
    };
    let row: Option<(String, String, i64, i64, String)> = sqlx::query_as(&format!(
        "UPDATE files SET status = 'profiling', profile_attempts = profile_attempts + 1, lease_owner = $1, \
         lease_expires_ms = $2 WHERE id = ({pick}) AND status = 'queued' \
         RETURNING id, kind, profile_attempts, size_bytes, sha256"
    ))
    .bind(owner)
    .bind(lease_until_ms)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id, kind, n, size, sha256)| Claimed {
        id,
        kind,
        attempt: n.clamp(0, u32::MAX as i64) as u32,
        size_bytes: size.max(0) as u64,
        sha256,
    }))
}

/// Extends `owner`'s lease on a file it is profiling; false when the lease is no longer its
/// own (it ran out and the file was reaped, reprocessed or deleted).
pub async fn renew(db: &Database, id: &str, owner: &str, lease_until_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE files SET lease_expires_ms = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'profiling'",
    )
    .bind(lease_until_ms)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Puts a file `owner` was profiling back in the queue for another attempt (its process died);
/// false if it is no longer `owner`'s.
pub async fn retry(db: &Database, id: &str, owner: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE files SET status = 'queued', status_message = $1, lease_owner = NULL, lease_expires_ms = NULL \
         WHERE id = $2 AND status = 'profiling' AND lease_owner = $3",
    )
    .bind(reason)
    .bind(id)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What reaping expired leases did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    pub requeued: u64,
    pub failed: u64,
}

/// Files whose lease ran out before `now_ms` (their process died, hung, or lost the database):
/// queued again with the reason, or failed once they had `max_attempts`. A file that takes its
/// process down with it must not do so forever.
pub async fn reap(db: &Database, now_ms: i64, max_attempts: u32) -> Result<Reaped, sqlx::Error> {
    let failed = sqlx::query(
        "UPDATE files SET status = 'failed', status_message = 'the okrflow process profiling this file stopped before \
         it finished, ' || profile_attempts || ' times; it was not tried again (Reprocess tries once more)', \
         lease_owner = NULL, lease_expires_ms = NULL \
         WHERE status = 'profiling' AND COALESCE(lease_expires_ms, 0) < $1 AND profile_attempts >= $2",
    )
    .bind(now_ms)
    .bind(max_attempts as i64)
    .execute(db.pool())
    .await?
    .rows_affected();
    let requeued = sqlx::query(
        "UPDATE files SET status = 'queued', status_message = 'the okrflow process profiling this file stopped before \
         it finished (attempt ' || profile_attempts || '); queued again', lease_owner = NULL, lease_expires_ms = NULL \
         WHERE status = 'profiling' AND COALESCE(lease_expires_ms, 0) < $1",
    )
    .bind(now_ms)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(Reaped { requeued, failed })
}

/// Ends at once the leases of processes known to be gone: same host, and no process with that
/// pid runs there (okrflow restarted after a crash). The reaper then takes their files without
/// waiting for the leases to run out. Leases of processes on other hosts wait for expiry.
pub async fn expire_leases_of_dead(db: &Database, host: &str, alive: impl Fn(u32) -> bool) -> Result<u64, sqlx::Error> {
    let holders: Vec<(String, i64)> = sqlx::query_as(
        "SELECT DISTINCT p.id, p.pid FROM files f JOIN processes p ON p.id = f.lease_owner \
         WHERE f.status = 'profiling' AND p.host = $1",
    )
    .bind(host)
    .fetch_all(db.pool())
    .await?;
    let mut ended = 0;
    for (owner, pid) in holders {
        if u32::try_from(pid).is_ok_and(|pid| !alive(pid)) {
            ended +=
                sqlx::query("UPDATE files SET lease_expires_ms = 0 WHERE lease_owner = $1 AND status = 'profiling'")
                    .bind(&owner)
                    .execute(db.pool())
                    .await?
                    .rows_affected();
        }
    }
    Ok(ended)
}

/// Stores a profile's outcome, unless the file was deleted or queued again meanwhile.
pub async fn finish(
    db: &Database,
    id: &str,
    owner: &str,
    outcome: &Result<Profile, String>,
    took_ms: u64,
) -> Result<(), sqlx::Error> {
    let query = match outcome {
        Ok(profile) => {
            let (rows, columns) = profile.shape();
            let json = serde_json::to_string(profile).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(
                "UPDATE files SET status = 'ready', status_message = NULL, profile_json = $1, rows = $2, columns = $3, \
                 profiled_ms = $4, lease_owner = NULL, lease_expires_ms = NULL \
                 WHERE id = $5 AND status = 'profiling' AND lease_owner = $6",
            )
            .bind(json)
            .bind(rows.map(|v| v as i64))
            .bind(columns.map(|v| v as i64))
        }
        Err(message) => sqlx::query(
            "UPDATE files SET status = 'failed', status_message = $1, profile_json = NULL, rows = NULL, columns = NULL, \
             profiled_ms = $2, lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = $3 AND status = 'profiling' AND lease_owner = $4",
        )
        .bind(message),
    };
    query.bind(took_ms as i64).bind(id).bind(owner).execute(db.pool()).await?;
    Ok(())
}

/// Puts a file back in the queue with a fresh count of attempts; false if there is no such file.
pub async fn requeue(db: &Database, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE files SET status = 'queued', status_message = NULL, profile_attempts = 0, lease_owner = NULL, \
         lease_expires_ms = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Puts every file `owner` is profiling back in the queue without counting its attempt (the
/// process is stopping in order; any process profiles them again).
pub async fn release_claims(db: &Database, owner: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE files SET status = 'queued', lease_owner = NULL, lease_expires_ms = NULL, \
         profile_attempts = CASE WHEN profile_attempts > 0 THEN profile_attempts - 1 ELSE 0 END \
         WHERE status = 'profiling' AND lease_owner = $1",
    )
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Every stored file's id.
pub async fn ids(db: &Database) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM files").fetch_all(db.pool()).await?;
    Ok(ids.into_iter().collect())
}

/// Removes a file's row; outputs made from it keep their source's name.
pub async fn delete(db: &Database, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE files SET source_id = NULL WHERE source_id = $1").bind(id).execute(&mut *tx).await?;
    let done = sqlx::query("DELETE FROM files WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;

    async fn add(db: &Database, id: &str, at: i64) {
        let f = NewFile {
            id,
            name: "okrs.csv",
            kind: FileKind::Csv,
            size_bytes: 10,
            sha256: id,
            uploaded_by: "tester",
            uploaded_at_ms: at,
            source: None,
            conversion: None,
        };
        insert(db, &f).await.unwrap();
    }

    async fn status(db: &Database, id: &str) -> (FileStatus, Option<String>) {
        let f = get(db, id).await.unwrap().unwrap();
        (f.status, f.status_message)
    }

    both_backends! {
        async fn leases_are_claimed_oldest_first_renewed_reaped_and_released(db) {
            add(&db, "f1", 1).await;
            add(&db, "f2", 2).await;
            let a = claim_next(&db, "a", 10_000).await.unwrap().unwrap();
            assert_eq!((a.id.as_str(), a.kind.as_str(), a.attempt), ("f1", "csv", 1));
            let b = claim_next(&db, "b", 10_000).await.unwrap().unwrap();
            assert_eq!(b.id, "f2");
            assert!(claim_next(&db, "c", 10_000).await.unwrap().is_none(), "nothing left to claim");
            // Only the holder renews, finishes or retries.
            assert!(!renew(&db, "f1", "b", 20_000).await.unwrap());
            assert!(renew(&db, "f1", "a", 20_000).await.unwrap());
            finish(&db, "f1", "b", &Err("not mine".into()), 1).await.unwrap();
            assert_eq!(status(&db, "f1").await.0, FileStatus::Profiling);
            // b's lease (10 s) runs out before a's (renewed to 20 s).
            let reaped = reap(&db, 15_000, 3).await.unwrap();
            assert_eq!(reaped, Reaped { requeued: 1, failed: 0 });
            let (s, message) = status(&db, "f2").await;
            assert_eq!(s, FileStatus::Queued);
            assert!(message.unwrap().contains("stopped before it finished (attempt 1)"));
            // b comes back to a file it no longer holds: its result is dropped.
            finish(&db, "f2", "b", &Err("late".into()), 1).await.unwrap();
            assert_eq!(status(&db, "f2").await.0, FileStatus::Queued);
            // An orderly stop gives back a's file without counting the attempt.
            assert_eq!(release_claims(&db, "b").await.unwrap(), 0);
            assert_eq!(release_claims(&db, "a").await.unwrap(), 1);
            let again = claim_next(&db, "c", 30_000).await.unwrap().unwrap();
            assert_eq!((again.id.as_str(), again.attempt), ("f1", 1));
        }

        async fn a_file_whose_process_keeps_dying_is_failed_after_its_attempts(db) {
            add(&db, "f1", 1).await;
            for attempt in 1..=2 {
                let c = claim_next(&db, "p", 100).await.unwrap().unwrap();
                assert_eq!(c.attempt, attempt);
                assert_eq!(reap(&db, 1_000, 3).await.unwrap().requeued, 1);
            }
            // Claimed a third time by someone who then dies: attempts used up.
            claim_next(&db, "p", 100).await.unwrap().unwrap();
            assert_eq!(reap(&db, 1_000, 3).await.unwrap(), Reaped { requeued: 0, failed: 1 });
            let (s, message) = status(&db, "f1").await;
            assert_eq!(s, FileStatus::Failed);
            assert!(message.unwrap().contains("3 times; it was not tried again"));
            // Reprocess starts the count again.
            assert!(requeue(&db, "f1").await.unwrap());
            assert_eq!(claim_next(&db, "p", 100).await.unwrap().unwrap().attempt, 1);
        }

        async fn processes_claiming_at_once_take_different_files(db) {
            for i in 0..24 {
                add(&db, &format!("f{i:02}"), i).await;
            }
            let mut tasks = Vec::new();
            for worker in 0..4 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Some(c) = claim_next(&db, &format!("w{worker}"), i64::MAX).await.unwrap() {
                        mine.push(c.id);
                    }
                    mine
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            all.sort();
            let expected: Vec<String> = (0..24).map(|i| format!("f{i:02}")).collect();
            assert_eq!(all, expected, "every file claimed exactly once");
        }

        async fn leases_of_processes_gone_from_this_host_end_at_once(db) {
            use crate::processes::{Registration, Registry, Role};
            add(&db, "f1", 1).await;
            let gone = Registry::register(db.clone(), Registration::new(Role::Worker, String::new(), true)).await.unwrap();
            sqlx::query("UPDATE processes SET pid = 999999999 WHERE id = $1").bind(&gone.me().id).execute(db.pool()).await.unwrap();
            claim_next(&db, &gone.me().id, i64::MAX).await.unwrap().unwrap();
            let host = crate::processes::host();
            assert_eq!(expire_leases_of_dead(&db, "another-host", |_| false).await.unwrap(), 0, "other hosts wait for expiry");
            assert_eq!(expire_leases_of_dead(&db, &host, |_| true).await.unwrap(), 0, "a live pid keeps its lease");
            assert_eq!(expire_leases_of_dead(&db, &host, |pid| pid != 999_999_999).await.unwrap(), 1);
            assert_eq!(reap(&db, crate::now_ms(), 3).await.unwrap().requeued, 1);
        }
    }
}
