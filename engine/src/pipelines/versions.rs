//! The `pipelines` and `pipeline_versions` tables (migration 0013): each pipeline's pause
//! switch, and every version of its definition's source, numbered from 1, so a run can name the
//! one it used and any process can read it back.

use sqlx::Row;

use super::VersionInfo;
use crate::db::Database;

/// Records `source` as pipeline `id`'s newest version unless it is that already; the version
/// number either way. Two processes reading the same change agree on one number: the loser of
/// the insert finds the winner's row with the same hash.
pub async fn record(
    db: &Database,
    id: &str,
    sha256: &str,
    source: &str,
    saved_by: Option<&str>,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO pipelines (id, paused, created_ms) VALUES ($1, 0, $2) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    loop {
        let latest = sqlx::query(
            "SELECT version, sha256 FROM pipeline_versions WHERE pipeline_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
        let latest = match latest {
            Some(r) => Some((r.try_get::<i64, _>("version")?, r.try_get::<String, _>("sha256")?)),
            None => None,
        };
        if let Some((version, sha)) = &latest {
            if sha == sha256 {
                return Ok(*version);
            }
        }
        let next = latest.map(|l| l.0).unwrap_or(0) + 1;
        let done = sqlx::query(
            "INSERT INTO pipeline_versions (pipeline_id, version, sha256, source, saved_by, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pipeline_id, version) DO NOTHING",
        )
        .bind(id)
        .bind(next)
        .bind(sha256)
        .bind(source)
        .bind(saved_by)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(next);
        }
        // Another process took this number a moment ago: read again.
    }
}

fn info(r: &sqlx::any::AnyRow) -> Result<VersionInfo, sqlx::Error> {
    Ok(VersionInfo {
        version: r.try_get("version")?,
        sha256: r.try_get("sha256")?,
        saved_by: r.try_get("saved_by")?,
        created_ms: r.try_get("created_ms")?,
    })
}

/// Every version of pipeline `id`, newest first.
pub async fn list(db: &Database, id: &str) -> Result<Vec<VersionInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT version, sha256, saved_by, created_ms FROM pipeline_versions WHERE pipeline_id = $1 ORDER BY version DESC",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(info).collect()
}

/// One version with its source.
pub async fn get(db: &Database, id: &str, version: i64) -> Result<Option<(VersionInfo, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT version, sha256, saved_by, created_ms, source FROM pipeline_versions \
         WHERE pipeline_id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| Ok((info(&r)?, r.try_get("source")?))).transpose()
}

/// The paused pipelines' ids.
pub async fn paused(db: &Database) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM pipelines WHERE paused = 1 ORDER BY id").fetch_all(db.pool()).await
}

/// Pauses or resumes pipeline `id`; false when no such pipeline was ever recorded.
pub async fn set_paused(db: &Database, id: &str, paused: bool) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE pipelines SET paused = $1 WHERE id = $2")
        .bind(i64::from(paused))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}
