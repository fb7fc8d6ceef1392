//! The experiments store: the `experiments` and `experiment_tags` tables (migration 0008),
//! searched with MLflow's filter (see [`super::filter`]). Experiment `0`, `Default`, is made at
//! start ([`ensure_default`]). The one dialect difference, case-sensitive LIKE, is in [`like`].

use std::collections::HashMap;

use sqlx::Row;

use super::filter::{self, Field, Op, Value};
use super::{Experiment, ExperimentQuery, Lifecycle, Tag, ViewType, DEFAULT_SEARCH_RESULTS};
use crate::db::{Backend, Database, Sql};

/// The experiment every run without one goes to.
pub const DEFAULT_ID: i64 = 0;

/// Where an experiment's artifacts are served from: okrflow's own artifact routes.
pub fn artifact_location(id: i64) -> String {
    format!("mlflow-artifacts:/{id}")
}

/// Makes experiment `0`, `Default`, unless it exists (a renamed one stays as it is).
pub async fn ensure_default(db: &Database, now_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO experiments (id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
         VALUES ($1, 'Default', $2, 'active', $3, $3) ON CONFLICT DO NOTHING",
    )
    .bind(DEFAULT_ID)
    .bind(artifact_location(DEFAULT_ID))
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Creates an experiment with its tags in one transaction; its id.
pub async fn create(db: &Database, name: &str, tags: &[Tag], now_ms: i64) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
         VALUES ($1, '', 'active', $2, $2) RETURNING id",
    )
    .bind(name)
    .bind(now_ms)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE experiments SET artifact_location = $1 WHERE id = $2")
        .bind(artifact_location(id))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for tag in tags {
        upsert_tag(&mut tx, id, tag).await?;
    }
    tx.commit().await?;
    Ok(id)
}

const COLUMNS: &str =
    "SELECT e.id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time \
                       FROM experiments e";

pub async fn get(db: &Database, id: i64) -> Result<Option<Experiment>, sqlx::Error> {
    let mut sql = Sql::new(format!("{COLUMNS} WHERE e.id = "));
    sql.bind(id);
    Ok(with_tags(db, sql.fetch_all(db).await?).await?.pop())
}

pub async fn get_by_name(db: &Database, name: &str) -> Result<Option<Experiment>, sqlx::Error> {
    let mut sql = Sql::new(format!("{COLUMNS} WHERE e.name = "));
    sql.bind(name.to_string());
    Ok(with_tags(db, sql.fetch_all(db).await?).await?.pop())
}

/// Rows as experiments, each with its tags (one more query for the page).
async fn with_tags(db: &Database, rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<Experiment>, sqlx::Error> {
    let mut experiments = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let stage: String = r.try_get("lifecycle_stage")?;
        ids.push(id);
        experiments.push(Experiment {
            experiment_id: id.to_string(),
            name: r.try_get("name")?,
            artifact_location: r.try_get("artifact_location")?,
            lifecycle_stage: Lifecycle::parse(&stage).unwrap_or(Lifecycle::Active),
            creation_time: r.try_get("creation_time")?,
            last_update_time: r.try_get("last_update_time")?,
            tags: Vec::new(),
        });
    }
    if ids.is_empty() {
        return Ok(experiments);
    }
    let mut sql = Sql::new("SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(*id);
    }
    sql.push(") ORDER BY experiment_id, key");
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        let id: i64 = r.try_get("experiment_id")?;
        tags.entry(id).or_default().push(Tag { key: r.try_get("key")?, value: r.try_get("value")? });
    }
    for (e, id) in experiments.iter_mut().zip(&ids) {
        e.tags = tags.remove(id).unwrap_or_default();
    }
    Ok(experiments)
}

/// `expr LIKE/ILIKE pattern` as each backend matches it: SQLite's LIKE ignores ASCII case, so
/// a case-sensitive LIKE is a GLOB there.
pub(crate) fn like<'q>(sql: &mut Sql<'q>, backend: Backend, expr: &str, op: Op, pattern: String) {
    match (backend, op) {
        (Backend::Sqlite, Op::Like) => {
            let p = sql.arg(filter::like_to_glob(&pattern));
            sql.push(&format!("{expr} GLOB {p}"));
        }
        (Backend::Sqlite, _) => {
            let p = sql.arg(pattern);
            sql.push(&format!("{expr} LIKE {p}"));
        }
        (Backend::Postgres, op) => {
            let p = sql.arg(pattern);
            sql.push(&format!("{expr} {} {p}", op.sql()));
        }
    }
}

/// One page of experiments and whether another follows. The filter and order were checked by
/// the caller (`clauses`, `order`).
pub async fn search(
    db: &Database,
    q: &ExperimentQuery,
    clauses: &[filter::Clause],
    order: &[(&'static str, bool)],
    offset: i64,
) -> Result<(Vec<Experiment>, bool), sqlx::Error> {
    let mut sql = Sql::new(format!("{COLUMNS} WHERE 1 = 1"));
    match q.view_type {
        ViewType::ActiveOnly => sql.push(" AND e.lifecycle_stage = 'active'"),
        ViewType::DeletedOnly => sql.push(" AND e.lifecycle_stage = 'deleted'"),
        ViewType::All => &mut sql,
    };
    for clause in clauses {
        sql.push(" AND ");
        match (&clause.field, &clause.value) {
            (Field::Name, Value::Text(text)) => match clause.op {
                Op::Like | Op::ILike => like(&mut sql, db.backend(), "e.name", clause.op, text.clone()),
                op => {
                    sql.push(&format!("e.name {} ", op.sql()));
                    sql.bind(text.clone());
                }
            },
            (Field::Tag(key), Value::Text(text)) => {
                sql.push("EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.id AND t.key = ");
                sql.bind(key.clone());
                sql.push(" AND ");
                match clause.op {
                    Op::Like | Op::ILike => like(&mut sql, db.backend(), "t.value", clause.op, text.clone()),
                    op => {
                        sql.push(&format!("t.value {} ", op.sql()));
                        sql.bind(text.clone());
                    }
                }
                sql.push(")");
            }
            (Field::CreationTime | Field::LastUpdateTime, Value::Int(n)) => {
                let column = if clause.field == Field::CreationTime { "e.creation_time" } else { "e.last_update_time" };
                sql.push(&format!("{column} {} ", clause.op.sql()));
                sql.bind(*n);
            }
            // The parser pairs fields with their value types.
            _ => {
                sql.push("1 = 0");
            }
        }
    }
    sql.push(" ORDER BY ");
    for (column, ascending) in order {
        sql.push(&format!("{column} {}, ", if *ascending { "ASC" } else { "DESC" }));
    }
    sql.push("e.id ASC LIMIT ");
    let limit = q.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
    sql.bind(limit + 1);
    sql.push(" OFFSET ");
    sql.bind(offset);
    let mut page = with_tags(db, sql.fetch_all(db).await?).await?;
    let more = page.len() as i64 > limit;
    page.truncate(limit as usize);
    Ok((page, more))
}

/// Renames; false when there is no such experiment.
pub async fn rename(db: &Database, id: i64, name: &str, now_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE experiments SET name = $1, last_update_time = $2 WHERE id = $3")
        .bind(name)
        .bind(now_ms)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Soft-deletes or restores; false when there is no such experiment.
pub async fn set_lifecycle(db: &Database, id: i64, stage: Lifecycle, now_ms: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE experiments SET lifecycle_stage = $1, last_update_time = $2 WHERE id = $3")
        .bind(stage.as_str())
        .bind(now_ms)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

async fn upsert_tag(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: i64, tag: &Tag) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(&tag.key)
    .bind(&tag.value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_tag(db: &Database, id: i64, tag: &Tag, now_ms: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    upsert_tag(&mut tx, id, tag).await?;
    sqlx::query("UPDATE experiments SET last_update_time = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Removes a tag; false when the experiment has none under `key`.
pub async fn delete_tag(db: &Database, id: i64, key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}
