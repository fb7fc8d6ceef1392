//! Each attempt's log: written in chunks to the database while the attempt runs (so any
//! process can stream it to the page), capped with a note when cut, and moved to the object
//! store as one file when the attempt ends.

use futures::StreamExt;

use super::LogPiece;
use crate::db::Database;
use crate::storage::Storage;

/// The most an attempt's log keeps; the rest is dropped with a note.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;
/// The most one read returns.
pub const MAX_READ_BYTES: usize = 256 * 1024;

/// Which attempt a log is of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogKey {
    pub run_id: i64,
    pub task_id: String,
    pub attempt: u32,
}

impl LogKey {
    /// Where the finished log lives in the object store.
    pub fn object_key(&self) -> String {
        format!("pipelines/runs/{}/{}/{}.log", self.run_id, self.task_id, self.attempt)
    }
}

/// Appends a chunk starting at byte `at` of the log and records the log's size.
pub async fn append(db: &Database, key: &LogKey, at: u64, text: &str, cut: bool) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE task_attempts SET log_bytes = $1, log_cut = $2 WHERE run_id = $3 AND task_id = $4 AND attempt = $5",
    )
    .bind((at + text.len() as u64) as i64)
    .bind(cut as i64)
    .bind(key.run_id)
    .bind(&key.task_id)
    .bind(key.attempt as i64)
    .execute(&mut *tx)
    .await?;
    if !text.is_empty() {
        sqlx::query(
            "INSERT INTO task_log_chunks (run_id, task_id, attempt, at_byte, text) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id, task_id, attempt, at_byte) DO NOTHING",
        )
        .bind(key.run_id)
        .bind(&key.task_id)
        .bind(key.attempt as i64)
        .bind(at as i64)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

async fn chunks(db: &Database, key: &LogKey, from: u64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at_byte, text FROM task_log_chunks WHERE run_id = $1 AND task_id = $2 AND attempt = $3 \
         AND at_byte >= COALESCE((SELECT MAX(at_byte) FROM task_log_chunks WHERE run_id = $1 AND task_id = $2 \
         AND attempt = $3 AND at_byte <= $4), 0) ORDER BY at_byte",
    )
    .bind(key.run_id)
    .bind(&key.task_id)
    .bind(key.attempt as i64)
    .bind(from as i64)
    .fetch_all(db.pool())
    .await
}

/// The attempt's log state: (still running, stored object key, size, cut), or None when there
/// is no such attempt.
async fn state(db: &Database, key: &LogKey) -> Result<Option<(bool, Option<String>, u64, bool)>, sqlx::Error> {
    let row: Option<(String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT state, log_key, log_bytes, log_cut FROM task_attempts WHERE run_id = $1 AND task_id = $2 AND attempt = $3",
    )
    .bind(key.run_id)
    .bind(&key.task_id)
    .bind(key.attempt as i64)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(s, k, b, c)| (s == "running", k, b.max(0) as u64, c != 0)))
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("no attempt {attempt} of task '{task}' in run {run}")]
    NoAttempt { run: i64, task: String, attempt: u32 },
    #[error("the log store failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the stored log could not be read: {0}")]
    Storage(String),
}

/// Up to [`MAX_READ_BYTES`] of the log from byte `offset` (offsets fall on what earlier reads
/// returned), wherever it is now: in chunks while running, in the object store once sealed.
pub async fn read(db: &Database, storage: &Storage, key: &LogKey, offset: u64) -> Result<LogPiece, LogError> {
    let Some((running, object, size, cut)) = state(db, key).await? else {
        return Err(LogError::NoAttempt { run: key.run_id, task: key.task_id.clone(), attempt: key.attempt });
    };
    let mut text = String::new();
    let mut at = offset.min(size);
    if let Some(object) = object.filter(|_| !running) {
        let whole = read_object(storage, &object).await?;
        let start = floor_char(&whole, at as usize);
        let end = floor_char(&whole, (start + MAX_READ_BYTES).min(whole.len()));
        text.push_str(&whole[start..end]);
        at = start as u64;
    } else {
        let mut first = true;
        for (chunk_at, chunk) in chunks(db, key, at).await? {
            let chunk_at = chunk_at.max(0) as u64;
            let skip = if first { floor_char(&chunk, at.saturating_sub(chunk_at) as usize) } else { 0 };
            if first {
                at = chunk_at + skip as u64;
                first = false;
            }
            text.push_str(&chunk[skip..]);
            if text.len() >= MAX_READ_BYTES {
                break;
            }
        }
    }
    let next_offset = at + text.len() as u64;
    Ok(LogPiece { done: !running && next_offset >= size, next_offset, text, cut })
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

async fn read_object(storage: &Storage, object: &str) -> Result<String, LogError> {
    let mut stream = storage.read_at(object).await.map_err(|e| LogError::Storage(e.to_string()))?;
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece.map_err(|e| LogError::Storage(e.to_string()))?);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Moves an ended attempt's chunks into one object and deletes them; the log stays readable
/// from the chunks if the object store fails (tried again by the next seal).
pub async fn seal(db: &Database, storage: &Storage, key: &LogKey) -> Result<(), String> {
    let all = chunks(db, key, 0).await.map_err(|e| e.to_string())?;
    let text: String = all.into_iter().map(|(_, t)| t).collect();
    let object = key.object_key();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(text.into_bytes()))]);
    storage.write_at(&object, u64::MAX, body).await.map_err(|e| e.to_string())?;
    let mut tx = db.pool().begin().await.map_err(|e| e.to_string())?;
    sqlx::query("UPDATE task_attempts SET log_key = $1 WHERE run_id = $2 AND task_id = $3 AND attempt = $4")
        .bind(&object)
        .bind(key.run_id)
        .bind(&key.task_id)
        .bind(key.attempt as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query("DELETE FROM task_log_chunks WHERE run_id = $1 AND task_id = $2 AND attempt = $3")
        .bind(key.run_id)
        .bind(&key.task_id)
        .bind(key.attempt as i64)
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// Attempts that ended before `ended_before_ms` with their log still in chunks (their process
/// died before sealing). Only ones ended a while ago: an attempt cancelled or marked elsewhere
/// keeps writing until its process sees it lost the lease, and sealing before then would
/// store a log that later chunks then overwrite with only its tail.
pub async fn unsealed(db: &Database, ended_before_ms: i64, limit: u32) -> Result<Vec<LogKey>, sqlx::Error> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT DISTINCT c.run_id, c.task_id, c.attempt FROM task_log_chunks c JOIN task_attempts a \
         ON a.run_id = c.run_id AND a.task_id = c.task_id AND a.attempt = c.attempt \
         WHERE a.state != 'running' AND a.ended_ms < $1 LIMIT $2",
    )
    .bind(ended_before_ms)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(run_id, task_id, attempt)| LogKey { run_id, task_id, attempt: attempt.clamp(0, u32::MAX as i64) as u32 })
        .collect())
}

/// Collects an attempt's output into chunks: flushed when large enough or asked, cut at the cap
/// with a note saying so.
pub struct LogSink {
    db: Database,
    key: LogKey,
    max_bytes: u64,
    written: u64,
    pending: String,
    cut: bool,
}

/// A chunk is written once this much is pending.
const FLUSH_BYTES: usize = 16 * 1024;

impl LogSink {
    pub fn new(db: Database, key: LogKey, max_bytes: u64) -> LogSink {
        LogSink { db, key, max_bytes, written: 0, pending: String::new(), cut: false }
    }

    pub fn bytes(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// Adds text (a line with its newline); writes a chunk when enough is pending.
    pub async fn push(&mut self, text: &str) {
        if self.cut {
            return;
        }
        let room = self.max_bytes.saturating_sub(self.bytes()) as usize;
        if text.len() <= room {
            self.pending.push_str(text);
        } else {
            self.pending.push_str(&text[..floor_char(text, room)]);
            self.pending.push_str(&format!(
                "\n[okrflow: the log reached its cap of {}; the rest of this attempt's output was dropped]\n",
                crate::units::format_bytes(self.max_bytes)
            ));
            self.cut = true;
        }
        if self.pending.len() >= FLUSH_BYTES || self.cut {
            self.flush().await;
        }
    }

    /// Writes what is pending (a failure is logged: the attempt goes on without its log).
    pub async fn flush(&mut self) {
        if self.pending.is_empty() && !self.cut {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        if let Err(e) = append(&self.db, &self.key, self.written, &text, self.cut).await {
            tracing::warn!(run = self.key.run_id, task = %self.key.task_id, error = %e, "could not write a task's log");
        }
        self.written += text.len() as u64;
    }
}
