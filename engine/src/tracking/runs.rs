//! The runs store: `runs`, `run_params` and `run_tags` (migration 0009). A run's name is kept
//! both in its row and as its `mlflow.runName` tag, as MLflow does; its parent comes from the
//! `mlflow.parentRunId` tag.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::{Clause, Field, Op, Value};
use super::{
    experiments, metrics, Lifecycle, Run, RunData, RunInfo, RunStatus, Tag, ViewType, PARENT_RUN_TAG, RUN_NAME_TAG,
};
use crate::db::{Backend, Database, Sql};

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

const COLUMNS: &str = "SELECT r.id, r.experiment_id, r.name, r.user_id, r.status, r.start_time, r.end_time, \
     r.artifact_uri, r.lifecycle_stage FROM runs r";

fn info(r: &AnyRow) -> Result<RunInfo, sqlx::Error> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    let stage: String = r.try_get("lifecycle_stage")?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        run_id: id,
        run_name: r.try_get("name")?,
        experiment_id: r.try_get::<i64, _>("experiment_id")?.to_string(),
        user_id: r.try_get("user_id")?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Running),
        start_time: r.try_get("start_time")?,
        end_time: r.try_get("end_time")?,
        artifact_uri: r.try_get("artifact_uri")?,
        lifecycle_stage: Lifecycle::parse(&stage).unwrap_or(Lifecycle::Active),
    })
}

/// The params or tags of each run in `ids`, by run, in key order.
async fn pairs(db: &Database, table: &str, ids: &[String]) -> Result<HashMap<String, Vec<Tag>>, sqlx::Error> {
    let mut sql = Sql::new(format!("SELECT run_id, key, value FROM {table} WHERE run_id IN ("));
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id.clone());
    }
    sql.push(") ORDER BY run_id, key");
    let mut by_run: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        by_run
            .entry(r.try_get("run_id")?)
            .or_default()
            .push(Tag { key: r.try_get("key")?, value: r.try_get("value")? });
    }
    Ok(by_run)
}

/// Runs from their rows, with their data read in three queries for the whole set (not per run).
async fn with_data(db: &Database, rows: &[AnyRow]) -> Result<Vec<Run>, sqlx::Error> {
    let infos = rows.iter().map(info).collect::<Result<Vec<_>, _>>()?;
    if infos.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = infos.iter().map(|i| i.run_id.clone()).collect();
    let mut params = pairs(db, "run_params", &ids).await?;
    let mut tags = pairs(db, "run_tags", &ids).await?;
    let mut metrics = metrics::latest(db, &ids).await?;
    let (mut inputs, mut outputs) = super::models::runs_io(db, &ids).await?;
    Ok(infos
        .into_iter()
        .map(|info| {
            let data = RunData {
                metrics: metrics.remove(&info.run_id).unwrap_or_default(),
                params: params.remove(&info.run_id).unwrap_or_default(),
                tags: tags.remove(&info.run_id).unwrap_or_default(),
            };
            let inputs = inputs.remove(&info.run_id).unwrap_or_default();
            let outputs = outputs.remove(&info.run_id).unwrap_or_default();
            Run { info, data, inputs, outputs }
        })
        .collect())
}

pub async fn get(db: &Database, id: &str) -> Result<Option<Run>, sqlx::Error> {
    let rows = sqlx::query(&format!("{COLUMNS} WHERE r.id = $1")).bind(id).fetch_all(db.pool()).await?;
    Ok(with_data(db, &rows).await?.pop())
}

/// A run's lifecycle stage alone (what a write checks first), None when there is no such run.
pub async fn lifecycle(db: &Database, id: &str) -> Result<Option<Lifecycle>, sqlx::Error> {
    let stage: Option<String> =
        sqlx::query_scalar("SELECT lifecycle_stage FROM runs WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    Ok(stage.map(|s| Lifecycle::parse(&s).unwrap_or(Lifecycle::Active)))
}

/// The SQL of a value a clause or an order reads for run `r`.
fn keyed(sql: &mut Sql<'_>, table: &str, column: &str, key: &str) {
    sql.push(&format!("(SELECT x.{column} FROM {table} x WHERE x.run_id = r.id AND x.key = "));
    sql.bind(key.to_string());
    if table == "latest_metrics" {
        sql.push(" AND x.is_nan = 0");
    }
    sql.push(")");
}

fn text_clause(sql: &mut Sql<'_>, backend: Backend, expr: &str, op: Op, value: &Value) {
    match (op, value) {
        (Op::Like | Op::ILike, Value::Text(t)) => experiments::like(sql, backend, expr, op, t.clone()),
        (Op::In | Op::NotIn, Value::List(items)) => {
            sql.push(&format!("{expr} {} (", op.sql()));
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(item.clone());
            }
            sql.push(")");
        }
        (op, Value::Text(t)) => {
            sql.push(&format!("{expr} {} ", op.sql()));
            sql.bind(t.clone());
        }
        (op, Value::Int(n)) => {
            sql.push(&format!("{expr} {} ", op.sql()));
            sql.bind(*n);
        }
        (Op::IsNull | Op::IsNotNull, _) => {
            sql.push(&format!("{expr} {}", op.sql()));
        }
        // The parser pairs operators with their values.
        _ => {
            sql.push("1 = 0");
        }
    }
}

/// One page of the runs of `experiments` that pass `clauses`, in `order` (then newest first, then
/// by id, so pages never overlap), and whether another page follows.
pub async fn search(
    db: &Database,
    experiments: &[i64],
    view: ViewType,
    clauses: &[Clause],
    order: &[(Field, bool)],
    offset: i64,
    limit: i64,
) -> Result<(Vec<Run>, bool), sqlx::Error> {
    if experiments.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut sql = Sql::new(format!("{COLUMNS} WHERE r.experiment_id IN ("));
    for (i, e) in experiments.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(*e);
    }
    sql.push(")");
    match view {
        ViewType::ActiveOnly => sql.push(" AND r.lifecycle_stage = 'active'"),
        ViewType::DeletedOnly => sql.push(" AND r.lifecycle_stage = 'deleted'"),
        ViewType::All => &mut sql,
    };
    let backend = db.backend();
    for clause in clauses {
        sql.push(" AND ");
        match &clause.field {
            Field::Metric(key) => {
                // NaN compares unequal to everything and passes no other comparison.
                sql.push("EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.id AND m.key = ");
                sql.bind(key.clone());
                if let Value::Number(n) = clause.value {
                    if clause.op == Op::Ne {
                        sql.push(" AND (m.is_nan = 1 OR m.value != ").bind(n).push(")");
                    } else {
                        sql.push(&format!(" AND m.is_nan = 0 AND m.value {} ", clause.op.sql()));
                        sql.bind(n);
                    }
                }
                sql.push(")");
            }
            Field::Param(key) | Field::Tag(key) => {
                let table = if matches!(clause.field, Field::Param(_)) { "run_params" } else { "run_tags" };
                let negated = clause.op == Op::IsNull;
                sql.push(if negated { "NOT EXISTS" } else { "EXISTS" });
                sql.push(&format!(" (SELECT 1 FROM {table} p WHERE p.run_id = r.id AND p.key = "));
                sql.bind(key.clone());
                if !matches!(clause.op, Op::IsNull | Op::IsNotNull) {
                    sql.push(" AND ");
                    text_clause(&mut sql, backend, "p.value", clause.op, &clause.value);
                }
                sql.push(")");
            }
            Field::Attribute(a) => text_clause(&mut sql, backend, a.column(), clause.op, &clause.value),
            _ => {
                sql.push("1 = 0");
            }
        }
    }
    sql.push(" ORDER BY ");
    for (key, ascending) in order {
        let direction = if *ascending { "ASC" } else { "DESC" };
        let value = |sql: &mut Sql<'_>| match key {
            Field::Metric(k) => keyed(sql, "latest_metrics", "value", k),
            Field::Param(k) => keyed(sql, "run_params", "value", k),
            Field::Tag(k) => keyed(sql, "run_tags", "value", k),
            Field::Attribute(a) => {
                sql.push(a.column());
            }
            // `filter::run_order` gives only run fields.
            _ => {
                sql.push("r.id");
            }
        };
        // Runs without the value come last either way, as in MLflow; a NaN metric just before them.
        if let Field::Metric(k) = key {
            sql.push("COALESCE((SELECT x.is_nan FROM latest_metrics x WHERE x.run_id = r.id AND x.key = ");
            sql.bind(k.clone());
            sql.push("), 2), ");
        } else {
            sql.push("CASE WHEN ");
            value(&mut sql);
            sql.push(" IS NULL THEN 1 ELSE 0 END, ");
        }
        value(&mut sql);
        sql.push(&format!(" {direction}, "));
    }
    sql.push("r.start_time DESC, r.id ASC LIMIT ").bind(limit + 1).push(" OFFSET ").bind(offset);
    let rows = sql.fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    let page = with_data(db, &rows[..rows.len().min(limit as usize)]).await?;
    Ok((page, more))
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
    apply_tag(&mut tx, id, tag).await?;
    tx.commit().await
}

/// Sets a tag inside `tx`: `mlflow.runName` also renames the run, `mlflow.parentRunId` records
/// its parent.
async fn apply_tag(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str, tag: &Tag) -> Result<(), sqlx::Error> {
    upsert_tag(tx, id, &tag.key, &tag.value).await?;
    if tag.key == RUN_NAME_TAG {
        sqlx::query("UPDATE runs SET name = $1 WHERE id = $2").bind(&tag.value).bind(id).execute(&mut **tx).await?;
    }
    if tag.key == PARENT_RUN_TAG {
        sqlx::query("UPDATE runs SET parent_run_id = $1 WHERE id = $2")
            .bind(&tag.value)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The params of run `id` already logged under any of `keys`.
pub async fn params_among(db: &Database, id: &str, keys: &[&str]) -> Result<Vec<Tag>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new("SELECT key, value FROM run_params WHERE run_id = ");
    sql.bind(id.to_string()).push(" AND key IN (");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(key.to_string());
    }
    sql.push(")");
    sql.fetch_all(db).await?.iter().map(|r| Ok(Tag { key: r.try_get("key")?, value: r.try_get("value")? })).collect()
}

/// Writes a batch (params not logged before, tags, metric points) and its audit record in one
/// transaction: all of it or, on any failure, none.
pub async fn log_batch(
    db: &Database,
    id: &str,
    metrics: &[super::Metric],
    params: &[Tag],
    tags: &[Tag],
    audit: Option<crate::accounts::audit::Record<'_>>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if let Some(record) = audit {
        crate::accounts::audit::record_in(&mut tx, record).await?;
    }
    for param in params {
        sqlx::query(
            "INSERT INTO run_params (run_id, key, value) VALUES ($1, $2, $3) ON CONFLICT (run_id, key) DO NOTHING",
        )
        .bind(id)
        .bind(&param.key)
        .bind(&param.value)
        .execute(&mut *tx)
        .await?;
    }
    for tag in tags {
        apply_tag(&mut tx, id, tag).await?;
    }
    metrics::log(&mut tx, id, metrics).await?;
    let for_models: Vec<(String, super::Metric)> =
        metrics.iter().filter_map(|m| Some((m.model_id.clone()?, m.clone()))).collect();
    super::models::log_metrics(&mut tx, id, &for_models).await?;
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
