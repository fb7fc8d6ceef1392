//! The logged-models store (MLflow 3; migration 0011): `logged_models` with their params, tags
//! and latest metrics, and what runs produced (`run_outputs`) and read (`run_dataset_inputs`,
//! `run_model_inputs`). A model's artifacts live under `mlflow-artifacts:/<exp>/models/<id>/artifacts`.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::Op;
use super::{
    experiments, DatasetInput, Lifecycle, LoggedModel, LoggedModelData, LoggedModelInfo, Metric, ModelInput,
    ModelOutput, RunInputs, RunOutputs, Tag,
};
use crate::db::{Database, Sql};

/// Whether `id` has a logged model id's shape: `m-` and 32 hex digits.
pub fn is_id(id: &str) -> bool {
    id.strip_prefix("m-").is_some_and(crate::storage::is_id)
}

pub struct Insert<'a> {
    pub id: &'a str,
    pub experiment_id: i64,
    pub name: &'a str,
    pub artifact_uri: &'a str,
    pub model_type: Option<&'a str>,
    pub source_run_id: Option<&'a str>,
    pub params: &'a [Tag],
    pub tags: &'a [Tag],
    pub now: i64,
}

pub async fn insert(db: &Database, m: &Insert<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO logged_models (id, experiment_id, name, artifact_uri, status, model_type, source_run_id, \
         lifecycle_stage, creation_time, last_update_time) \
         VALUES ($1, $2, $3, $4, 'LOGGED_MODEL_PENDING', $5, $6, 'active', $7, $7)",
    )
    .bind(m.id)
    .bind(m.experiment_id)
    .bind(m.name)
    .bind(m.artifact_uri)
    .bind(m.model_type)
    .bind(m.source_run_id)
    .bind(m.now)
    .execute(&mut *tx)
    .await?;
    for (table, pairs) in [("logged_model_params", m.params), ("logged_model_tags", m.tags)] {
        for p in pairs {
            upsert(&mut tx, table, m.id, p).await?;
        }
    }
    tx.commit().await
}

async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    id: &str,
    pair: &Tag,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {table} (model_id, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value"
    ))
    .bind(id)
    .bind(&pair.key)
    .bind(&pair.value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets params or tags (`table`) of model `id` in one transaction, touching its update time.
pub async fn set_pairs(db: &Database, table: &str, id: &str, pairs: &[Tag], now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for p in pairs {
        upsert(&mut tx, table, id, p).await?;
    }
    sqlx::query("UPDATE logged_models SET last_update_time = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub async fn delete_tag(db: &Database, id: &str, key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn set_status(
    db: &Database,
    id: &str,
    status: &str,
    message: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE logged_models SET status = $1, status_message = $2, last_update_time = $3 WHERE id = $4")
        .bind(status)
        .bind(message)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn set_lifecycle(db: &Database, id: &str, stage: Lifecycle, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE logged_models SET lifecycle_stage = $1, last_update_time = $2 WHERE id = $3")
        .bind(stage.as_str())
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Records the latest value of each metric logged against a model (log-batch with `model_id`).
pub async fn log_metrics(
    conn: &mut sqlx::AnyConnection,
    run_id: &str,
    points: &[(String, Metric)],
) -> Result<(), sqlx::Error> {
    for (model_id, m) in points {
        let (value, is_nan) = if m.value.is_nan() { (0.0, 1i64) } else { (m.value, 0) };
        sqlx::query(
            "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, is_nan, run_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model_id, key) DO UPDATE SET step = excluded.step, \
             timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan, run_id = excluded.run_id \
             WHERE (excluded.step, excluded.timestamp) >= (logged_model_metrics.step, logged_model_metrics.timestamp)",
        )
        .bind(model_id)
        .bind(&m.key)
        .bind(m.step)
        .bind(m.timestamp)
        .bind(value)
        .bind(is_nan)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

const COLUMNS: &str =
    "SELECT m.id, m.experiment_id, m.name, m.artifact_uri, m.status, m.status_message, m.model_type, \
     m.source_run_id, m.lifecycle_stage, m.creation_time, m.last_update_time FROM logged_models m";

fn in_list(sql: &mut Sql<'_>, ids: &[String]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id.clone());
    }
    sql.push(")");
}

async fn pairs(db: &Database, table: &str, ids: &[String]) -> Result<HashMap<String, Vec<Tag>>, sqlx::Error> {
    let mut sql = Sql::new(format!("SELECT model_id, key, value FROM {table} WHERE model_id IN "));
    in_list(&mut sql, ids);
    sql.push(" ORDER BY model_id, key");
    let mut by: HashMap<String, Vec<Tag>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        by.entry(r.try_get("model_id")?).or_default().push(Tag { key: r.try_get("key")?, value: r.try_get("value")? });
    }
    Ok(by)
}

async fn with_data(db: &Database, rows: &[AnyRow]) -> Result<Vec<LoggedModel>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    let mut params = pairs(db, "logged_model_params", &ids).await?;
    let mut tags = pairs(db, "logged_model_tags", &ids).await?;
    let mut metrics: HashMap<String, Vec<Metric>> = HashMap::new();
    let mut sql = Sql::new(
        "SELECT model_id, key, step, timestamp, value, is_nan, run_id FROM logged_model_metrics WHERE model_id IN ",
    );
    in_list(&mut sql, &ids);
    sql.push(" ORDER BY model_id, key");
    for r in sql.fetch_all(db).await? {
        let is_nan: i64 = r.try_get("is_nan")?;
        let value: f64 = r.try_get("value")?;
        metrics.entry(r.try_get("model_id")?).or_default().push(Metric {
            key: r.try_get("key")?,
            value: if is_nan == 1 { f64::NAN } else { value },
            timestamp: r.try_get("timestamp")?,
            step: r.try_get("step")?,
            run_id: r.try_get("run_id")?,
            ..Default::default()
        });
    }
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            let stage: String = r.try_get("lifecycle_stage")?;
            let info = LoggedModelInfo {
                experiment_id: r.try_get::<i64, _>("experiment_id")?.to_string(),
                name: r.try_get("name")?,
                creation_timestamp_ms: r.try_get("creation_time")?,
                last_updated_timestamp_ms: r.try_get("last_update_time")?,
                artifact_uri: r.try_get("artifact_uri")?,
                status: r.try_get("status")?,
                status_message: r.try_get("status_message")?,
                model_type: r.try_get("model_type")?,
                source_run_id: r.try_get("source_run_id")?,
                tags: tags.remove(&id).unwrap_or_default(),
                lifecycle_stage: Lifecycle::parse(&stage).unwrap_or(Lifecycle::Active),
                model_id: id.clone(),
            };
            let data = LoggedModelData {
                params: params.remove(&id).unwrap_or_default(),
                metrics: metrics.remove(&id).unwrap_or_default(),
            };
            Ok(LoggedModel { info, data })
        })
        .collect()
}

pub async fn get(db: &Database, id: &str) -> Result<Option<LoggedModel>, sqlx::Error> {
    let rows = sqlx::query(&format!("{COLUMNS} WHERE m.id = $1")).bind(id).fetch_all(db.pool()).await?;
    Ok(with_data(db, &rows).await?.pop())
}

/// A clause of a logged-model filter: `name = 'model'`, `source_run_id = '…'`, `status`,
/// `model_type`, `tags.<key>`, `params.<key>` with = != LIKE ILIKE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelField {
    Column(&'static str),
    Tag(String),
    Param(String),
}

/// One page of active logged models of `experiments` passing `clauses`, newest first (or by
/// `order`: a column and whether it ascends).
pub async fn search(
    db: &Database,
    experiments: &[i64],
    clauses: &[(ModelField, Op, String)],
    order: &[(&'static str, bool)],
    offset: i64,
    limit: i64,
) -> Result<(Vec<LoggedModel>, bool), sqlx::Error> {
    if experiments.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut sql = Sql::new(format!("{COLUMNS} WHERE m.lifecycle_stage = 'active' AND m.experiment_id IN ("));
    for (i, e) in experiments.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(*e);
    }
    sql.push(")");
    for (field, op, value) in clauses {
        sql.push(" AND ");
        let expr = match field {
            ModelField::Column(c) => c.to_string(),
            ModelField::Tag(_) | ModelField::Param(_) => {
                let (table, key) = match field {
                    ModelField::Tag(k) => ("logged_model_tags", k),
                    ModelField::Param(k) => ("logged_model_params", k),
                    ModelField::Column(_) => unreachable!(),
                };
                sql.push(&format!("EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = m.id AND x.key = "));
                sql.bind(key.clone());
                sql.push(" AND ");
                "x.value".to_string()
            }
        };
        match op {
            Op::Like | Op::ILike => experiments::like(&mut sql, db.backend(), &expr, *op, value.clone()),
            op => {
                sql.push(&format!("{expr} {} ", op.sql()));
                sql.bind(value.clone());
            }
        }
        if !matches!(field, ModelField::Column(_)) {
            sql.push(")");
        }
    }
    sql.push(" ORDER BY ");
    for (column, ascending) in order {
        sql.push(&format!("{column} {}, ", if *ascending { "ASC" } else { "DESC" }));
    }
    sql.push("m.creation_time DESC, m.id ASC LIMIT ").bind(limit + 1).push(" OFFSET ").bind(offset);
    let rows = sql.fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    Ok((with_data(db, &rows[..rows.len().min(limit as usize)]).await?, more))
}

/// Records that run `run_id` produced these models.
pub async fn log_outputs(db: &Database, run_id: &str, outputs: &[ModelOutput]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for o in outputs {
        sqlx::query(
            "INSERT INTO run_outputs (run_id, model_id, step) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id, model_id) DO UPDATE SET step = excluded.step",
        )
        .bind(run_id)
        .bind(&o.model_id)
        .bind(o.step)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Records what run `run_id` read; a dataset logged again keeps its first record.
pub async fn log_inputs(
    db: &Database,
    run_id: &str,
    datasets: &[DatasetInput],
    models: &[ModelInput],
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for d in datasets {
        let tags = serde_json::to_string(&d.tags).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO run_dataset_inputs (run_id, name, digest, source_type, source, schema, profile, tags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id, name, digest) DO NOTHING",
        )
        .bind(run_id)
        .bind(&d.dataset.name)
        .bind(&d.dataset.digest)
        .bind(&d.dataset.source_type)
        .bind(&d.dataset.source)
        .bind(d.dataset.schema.as_deref())
        .bind(d.dataset.profile.as_deref())
        .bind(tags)
        .execute(&mut *tx)
        .await?;
    }
    for m in models {
        sqlx::query("INSERT INTO run_model_inputs (run_id, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(run_id)
            .bind(&m.model_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// The inputs and outputs of each run in `ids`.
pub async fn runs_io(
    db: &Database,
    ids: &[String],
) -> Result<(HashMap<String, RunInputs>, HashMap<String, RunOutputs>), sqlx::Error> {
    let mut inputs: HashMap<String, RunInputs> = HashMap::new();
    let mut outputs: HashMap<String, RunOutputs> = HashMap::new();
    if ids.is_empty() {
        return Ok((inputs, outputs));
    }
    let mut sql = Sql::new("SELECT run_id, name, digest, source_type, source, schema, profile, tags FROM run_dataset_inputs WHERE run_id IN ");
    in_list(&mut sql, ids);
    sql.push(" ORDER BY run_id, name, digest");
    for r in sql.fetch_all(db).await? {
        let tags: String = r.try_get("tags")?;
        let input = DatasetInput {
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            dataset: super::Dataset {
                name: r.try_get("name")?,
                digest: r.try_get("digest")?,
                source_type: r.try_get("source_type")?,
                source: r.try_get("source")?,
                schema: r.try_get("schema")?,
                profile: r.try_get("profile")?,
            },
        };
        inputs.entry(r.try_get("run_id")?).or_default().dataset_inputs.push(input);
    }
    let mut sql = Sql::new("SELECT run_id, model_id FROM run_model_inputs WHERE run_id IN ");
    in_list(&mut sql, ids);
    sql.push(" ORDER BY run_id, model_id");
    for r in sql.fetch_all(db).await? {
        inputs
            .entry(r.try_get("run_id")?)
            .or_default()
            .model_inputs
            .push(ModelInput { model_id: r.try_get("model_id")? });
    }
    let mut sql = Sql::new("SELECT run_id, model_id, step FROM run_outputs WHERE run_id IN ");
    in_list(&mut sql, ids);
    sql.push(" ORDER BY run_id, step, model_id");
    for r in sql.fetch_all(db).await? {
        outputs
            .entry(r.try_get("run_id")?)
            .or_default()
            .model_outputs
            .push(ModelOutput { model_id: r.try_get("model_id")?, step: r.try_get("step")? });
    }
    Ok((inputs, outputs))
}
