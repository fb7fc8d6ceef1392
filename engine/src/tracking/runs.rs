//! The runs store: `runs`, `run_params` and `run_tags` (migration 0009). A run's name is kept
//! both in its row and as its `mlflow.runName` tag, as MLflow does; its parent comes from the
//! `mlflow.parentRunId` tag.

use sqlx::Row;

use super::{Lifecycle, Run, RunData, RunInfo, RunStatus, Tag, PARENT_RUN_TAG, RUN_NAME_TAG};
use crate::db::Database;

/// Whether `id` has a run id's shape (32 hex digits, MLflow's uuid4().hex); no other names a run.
pub fn is_id(id: &str) -> bool {
    crate::storage::is_id(id)
}

/// A run as it is written.
pub struct Insert<'a> {
    pub id: &'a str,
    pub experiment_id: i64,
    pub name: &'a str,
    pub user_id: &'a str,
    pub start_time: i64,
    pub artifact_uri: &'a str,
    pub tags: &'a [Tag],
}

/// Writes a run with its tags (the name tag among them) in one transaction.
pub async fn insert(db: &Database, run: &Insert<'_>) -> Result<(), sqlx::Error> {
    let parent = run.tags.iter().find(|t| t.key == PARENT_RUN_TAG).map(|t| t.value.clone());
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO runs (id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage, parent_run_id) \
         VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6, 'active', $7)",
    )
    .bind(run.id)
    .bind(run.experiment_id)
    .bind(run.name)
    .bind(run.user_id)
    .bind(run.start_time)
    .bind(run.artifact_uri)
    .bind(parent)
    .execute(&mut *tx)
    .await?;
    let name_tag = Tag { key: RUN_NAME_TAG.into(), value: run.name.into() };
    for tag in run.tags.iter().filter(|t| t.key != RUN_NAME_TAG).chain([&name_tag]) {
        sqlx::query("INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3)")
            .bind(run.id)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

pub async fn get(db: &Database, id: &str) -> Result<Option<Run>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage \
         FROM runs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let status: String = r.try_get("status")?;
    let stage: String = r.try_get("lifecycle_stage")?;
    let info = RunInfo {
        run_id: id.to_string(),
        run_uuid: id.to_string(),
        run_name: r.try_get("name")?,
        experiment_id: r.try_get::<i64, _>("experiment_id")?.to_string(),
        user_id: r.try_get("user_id")?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Running),
        start_time: r.try_get("start_time")?,
        end_time: r.try_get("end_time")?,
        artifact_uri: r.try_get("artifact_uri")?,
        lifecycle_stage: Lifecycle::parse(&stage).unwrap_or(Lifecycle::Active),
    };
    let pairs = |table: &'static str| async move {
        let rows = sqlx::query(&format!("SELECT key, value FROM {table} WHERE run_id = $1 ORDER BY key"))
            .bind(id)
            .fetch_all(db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(Tag { key: r.try_get("key")?, value: r.try_get("value")? }))
            .collect::<Result<Vec<_>, sqlx::Error>>()
    };
    let data = RunData { params: pairs("run_params").await?, tags: pairs("run_tags").await? };
    Ok(Some(Run { info, data }))
}

/// Changes what was asked (status, end time, name: the name tag follows).
pub async fn update(
    db: &Database,
    id: &str,
    status: Option<RunStatus>,
    end_time: Option<i64>,
    name: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE runs SET status = COALESCE($1, status), end_time = COALESCE($2, end_time), name = COALESCE($3, name) \
         WHERE id = $4",
    )
    .bind(status.map(RunStatus::as_str))
    .bind(end_time)
    .bind(name)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if let Some(name) = name {
        upsert_tag(&mut tx, id, RUN_NAME_TAG, name).await?;
    }
    tx.commit().await
}

async fn upsert_tag(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_lifecycle(db: &Database, id: &str, stage: Lifecycle) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE runs SET lifecycle_stage = $1 WHERE id = $2")
        .bind(stage.as_str())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A param as logged before, if it was.
pub async fn param(db: &Database, id: &str, key: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM run_params WHERE run_id = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .fetch_optional(db.pool())
        .await
}

/// Logs a param; one already logged with the same value is kept as it is.
pub async fn log_param(db: &Database, id: &str, param: &Tag) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO run_params (run_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (run_id, key) DO NOTHING")
        .bind(id)
        .bind(&param.key)
        .bind(&param.value)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Sets a tag; the name tag renames the run.
pub async fn set_tag(db: &Database, id: &str, tag: &Tag) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    upsert_tag(&mut tx, id, &tag.key, &tag.value).await?;
    if tag.key == RUN_NAME_TAG {
        sqlx::query("UPDATE runs SET name = $1 WHERE id = $2").bind(&tag.value).bind(id).execute(&mut *tx).await?;
    }
    if tag.key == PARENT_RUN_TAG {
        sqlx::query("UPDATE runs SET parent_run_id = $1 WHERE id = $2")
            .bind(&tag.value)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Removes a tag; false when the run has none under `key`.
pub async fn delete_tag(db: &Database, id: &str, key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM run_tags WHERE run_id = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A name for a run that was given none: MLflow's adjective-animal-number shape.
pub fn generated_name(seed: &str) -> String {
    const ADJECTIVES: [&str; 16] = [
        "bold", "brave", "calm", "clever", "eager", "gentle", "keen", "lively", "merry", "nimble", "proud", "quick",
        "quiet", "sharp", "steady", "witty",
    ];
    const ANIMALS: [&str; 16] = [
        "badger", "bear", "crane", "deer", "eagle", "fox", "hare", "heron", "lynx", "moose", "otter", "owl", "seal",
        "swan", "trout", "wolf",
    ];
    let bytes = hex::decode(seed.get(..8).unwrap_or("00000000")).unwrap_or_else(|_| vec![0; 4]);
    let n = |i: usize| *bytes.get(i).unwrap_or(&0) as usize;
    format!("{}-{}-{}", ADJECTIVES[n(0) % 16], ANIMALS[n(1) % 16], (n(2) << 8 | n(3)) % 1000)
}
