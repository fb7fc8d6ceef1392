//! Keeps warnings and errors in the database so they outlive a restart, and reads them back.
//!
//! One task drains the capture channel in batches (one transaction per batch) and prunes old
//! rows now and then; it never blocks the code that logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{LogEntry, LogLevel, LogQuery, LogReceiver};
use crate::db::{Database, Sql};

/// Stored entries older than this are pruned.
const RETENTION: chrono::Duration = chrono::Duration::days(30);
/// And never more than this many rows are kept.
const MAX_ROWS: i64 = 100_000;
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const BATCH: usize = 256;

/// What the writer has done so far, for the Services page and the status pill.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogStoreStats {
    pub written: u64,
    /// Events lost because the queue to the writer was full.
    pub dropped: u64,
    /// The last failed write, if the latest write failed.
    pub last_error: Option<String>,
}

struct Shared {
    written: AtomicU64,
    dropped: Arc<AtomicU64>,
    last_error: Mutex<Option<String>>,
    stop: Notify,
}

/// The running writer. Dropping it does not stop it; call [`LogStore::shutdown`].
pub struct LogStore {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl LogStore {
    /// Starts the writer on the current tokio runtime.
    pub fn spawn(db: Database, receiver: LogReceiver) -> LogStore {
        let shared = Arc::new(Shared {
            written: AtomicU64::new(0),
            dropped: receiver.dropped,
            last_error: Mutex::new(None),
            stop: Notify::new(),
        });
        let task = tokio::spawn(run(db, receiver.rx, shared.clone()));
        LogStore { shared, task: Mutex::new(Some(task)) }
    }

    pub fn stats(&self) -> LogStoreStats {
        LogStoreStats {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            last_error: self.shared.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    /// Writes what is queued, then stops the writer. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.stop.notify_one();
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(db: Database, mut rx: tokio::sync::mpsc::Receiver<LogEntry>, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                write(&db, &mut batch, &shared).await;
            }
            _ = prune.tick() => {
                if let Err(e) = prune_old(&db, chrono::Utc::now() - RETENTION, MAX_ROWS).await {
                    set_error(&shared, Some(format!("pruning stored logs: {e}")));
                }
            }
            _ = shared.stop.notified() => {
                rx.close();
                while let Ok(entry) = rx.try_recv() {
                    batch.push(entry);
                }
                write(&db, &mut batch, &shared).await;
                break;
            }
        }
    }
}

fn set_error(shared: &Shared, error: Option<String>) {
    *shared.last_error.lock().unwrap_or_else(PoisonError::into_inner) = error;
}

async fn write(db: &Database, batch: &mut Vec<LogEntry>, shared: &Shared) {
    if batch.is_empty() {
        return;
    }
    match insert(db, batch).await {
        Ok(()) => {
            shared.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            set_error(shared, None);
        }
        // Logging this failure would queue another entry for the same failing store; the
        // error is shown on the status pill and the Services page instead.
        Err(e) => set_error(shared, Some(format!("writing {} log entries: {e}", batch.len()))),
    }
    batch.clear();
}

fn severity(level: LogLevel) -> i64 {
    level as i64
}

fn level_from(severity: i64) -> LogLevel {
    LogLevel::ALL.get(severity as usize).copied().unwrap_or(LogLevel::Error)
}

/// Inserts entries in one transaction.
pub async fn insert(db: &Database, entries: &[LogEntry]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for e in entries {
        sqlx::query("INSERT INTO log_events (ts_ms, level, target, message, fields) VALUES ($1, $2, $3, $4, $5)")
            .bind(e.ts_ms)
            .bind(severity(e.level))
            .bind(&e.target)
            .bind(&e.message)
            .bind(&e.fields)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Stored entries matching the query, newest first.
pub async fn query(db: &Database, q: &LogQuery) -> Result<Vec<LogEntry>, sqlx::Error> {
    let mut sql = Sql::new("SELECT id, ts_ms, level, target, message, fields FROM log_events WHERE 1=1");
    if let Some(min) = q.min_level {
        sql.push(" AND level >= ").bind(severity(min));
    }
    if let Some(after) = q.after_id {
        // An id past i64's range has nothing after it (a cast would wrap to a negative).
        sql.push(" AND id > ").bind(i64::try_from(after).unwrap_or(i64::MAX));
    }
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let needle = text.to_lowercase();
        let backend = db.backend();
        sql.push(" AND (");
        for (i, column) in ["message", "target", "fields"].into_iter().enumerate() {
            let placeholder = sql.arg(needle.clone());
            sql.push(if i == 0 { "" } else { " OR " }).push(&backend.contains(column, &placeholder));
        }
        sql.push(")");
    }
    sql.push(" ORDER BY id DESC LIMIT ").bind(q.effective_limit() as i64);
    let rows = sql.fetch_all(db).await?;
    rows.iter()
        .map(|r| {
            Ok(LogEntry {
                id: r.try_get::<i64, _>("id")? as u64,
                ts_ms: r.try_get("ts_ms")?,
                level: level_from(r.try_get("level")?),
                target: r.try_get("target")?,
                message: r.try_get("message")?,
                fields: r.try_get("fields")?,
            })
        })
        .collect()
}

/// The newest stored id, 0 when none: where "new entries since" starts.
pub async fn latest_id(db: &Database) -> Result<u64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM log_events").fetch_one(db.pool()).await?;
    Ok(id as u64)
}

/// How many stored warnings and errors are newer than `since`: (warnings, errors).
pub async fn count_since(db: &Database, since: chrono::DateTime<chrono::Utc>) -> Result<(u64, u64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN level = $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS warnings, \
         CAST(COALESCE(SUM(CASE WHEN level = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS errors \
         FROM log_events WHERE ts_ms >= $3",
    )
    .bind(severity(LogLevel::Warn))
    .bind(severity(LogLevel::Error))
    .bind(since.timestamp_millis())
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get::<i64, _>("warnings")? as u64, row.try_get::<i64, _>("errors")? as u64))
}

/// Deletes entries older than `before`, then all but the newest `keep_rows`.
pub async fn prune_old(
    db: &Database,
    before: chrono::DateTime<chrono::Utc>,
    keep_rows: i64,
) -> Result<u64, sqlx::Error> {
    let old = sqlx::query("DELETE FROM log_events WHERE ts_ms < $1")
        .bind(before.timestamp_millis())
        .execute(db.pool())
        .await?
        .rows_affected();
    let extra = sqlx::query(
        "DELETE FROM log_events WHERE id <= (SELECT id FROM log_events ORDER BY id DESC LIMIT 1 OFFSET $1)",
    )
    .bind(keep_rows)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(old + extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;
    use crate::logs::{capture, LogBuffer};
    use tracing_subscriber::layer::SubscriberExt;

    fn entry(ts_ms: i64, level: LogLevel, message: &str) -> LogEntry {
        LogEntry { id: 0, ts_ms, level, target: "okrflow".into(), message: message.into(), fields: "k=v".into() }
    }

    both_backends! {
        async fn warnings_and_errors_reach_the_database_and_flush_on_shutdown(db) {
            let (layer, receiver) = capture(LogBuffer::new(100));
            let store = LogStore::spawn(db.clone(), receiver);
            let subscriber = tracing_subscriber::registry().with(layer);
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!("not stored");
                tracing::warn!(file = "a.csv", "slow parse");
                tracing::error!("parse failed");
            });
            store.shutdown().await;
            assert_eq!(store.stats().written, 2);
            let got = query(&db, &LogQuery::default()).await.unwrap();
            let messages: Vec<_> = got.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(messages, ["parse failed", "slow parse"]);
            assert_eq!(got[1].fields, "file=a.csv");
        }

        async fn stored_query_filters_by_level_text_and_id(db) {
            insert(
                &db,
                &[
                    entry(1, LogLevel::Warn, "Disk slow"),
                    entry(2, LogLevel::Error, "upload failed"),
                    entry(3, LogLevel::Warn, "retrying upload"),
                ],
            )
            .await
            .unwrap();
            let q = LogQuery { min_level: Some(LogLevel::Error), ..Default::default() };
            assert_eq!(query(&db, &q).await.unwrap().len(), 1);
            let q = LogQuery { text: Some("UPLOAD".into()), ..Default::default() };
            let got = query(&db, &q).await.unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].message, "retrying upload");
            let q = LogQuery { after_id: Some(got[0].id), ..Default::default() };
            assert!(query(&db, &q).await.unwrap().is_empty());
            let q = LogQuery { after_id: Some(1 << 63), ..Default::default() };
            assert!(query(&db, &q).await.unwrap().is_empty(), "a huge id does not wrap around");
            // A needle with SQL wildcards is matched literally.
            let q = LogQuery { text: Some("%".into()), ..Default::default() };
            assert!(query(&db, &q).await.unwrap().is_empty());
        }

        async fn prune_removes_old_rows_and_caps_the_count(db) {
            let now = chrono::Utc::now().timestamp_millis();
            let entries: Vec<_> = (0..10).map(|i| entry(now + i, LogLevel::Warn, &format!("m{i}"))).collect();
            insert(&db, &[entry(0, LogLevel::Error, "ancient")]).await.unwrap();
            insert(&db, &entries).await.unwrap();
            let removed = prune_old(&db, chrono::Utc::now() - RETENTION, 4).await.unwrap();
            assert_eq!(removed, 7);
            let left: Vec<_> = query(&db, &LogQuery::default()).await.unwrap().into_iter().map(|e| e.message).collect();
            assert_eq!(left, ["m9", "m8", "m7", "m6"]);
            let (w, e) = count_since(&db, chrono::Utc::now() - chrono::Duration::hours(1)).await.unwrap();
            assert_eq!((w, e), (4, 0));
        }
    }
}
