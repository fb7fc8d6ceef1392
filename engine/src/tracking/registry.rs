//! The model registry store (migration 0011): registered models (an id of their own, so a rename
//! is one row), numbered versions with tags, and aliases that point at a version. Versions are
//! READY when made; the legacy stage is always "None".

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::filter::Op;
use super::{experiments, Alias, ModelVersion, NewModelVersion, RegisteredModel, Tag};
use crate::db::{Database, Sql};

pub async fn id_of(db: &Database, name: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM registered_models WHERE name = $1").bind(name).fetch_optional(db.pool()).await
}

pub async fn create(
    db: &Database,
    name: &str,
    description: &str,
    user: &str,
    tags: &[Tag],
    now: i64,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO registered_models (name, description, user_id, creation_time, last_update_time) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(name)
    .bind(description)
    .bind(user)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    for t in tags {
        set_model_tag_on(&mut tx, id, t).await?;
    }
    tx.commit().await?;
    Ok(id)
}

async fn set_model_tag_on(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: i64, t: &Tag) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO registered_model_tags (model, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (model, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(&t.key)
    .bind(&t.value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_model_tag(db: &Database, id: i64, t: &Tag, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    set_model_tag_on(&mut tx, id, t).await?;
    touch(&mut tx, id, now).await?;
    tx.commit().await
}

async fn touch(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registered_models SET last_update_time = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn delete_model_tag(db: &Database, id: i64, key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM registered_model_tags WHERE model = $1 AND key = $2")
        .bind(id)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn rename(db: &Database, id: i64, name: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registered_models SET name = $1, last_update_time = $2 WHERE id = $3")
        .bind(name)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn describe(db: &Database, id: i64, description: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE registered_models SET description = $1, last_update_time = $2 WHERE id = $3")
        .bind(description)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes the model with its versions, tags and aliases.
pub async fn delete(db: &Database, id: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for table in ["registered_model_aliases", "model_version_tags", "model_versions", "registered_model_tags"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE model = $1")).bind(id).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM registered_models WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await
}

/// Makes the next version of model `id` (one more than the highest ever made is not kept: the
/// highest existing, as MLflow numbers them) in one transaction; its number.
pub async fn create_version(
    db: &Database,
    id: i64,
    v: &NewModelVersion,
    storage_location: &str,
    user: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    // Taking the model's row first serialises concurrent registrations of one model.
    touch(&mut tx, id, now).await?;
    let version: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO model_versions (model, version, description, user_id, source, storage_location, run_id, run_link, \
         model_id, creation_time, last_update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(version)
    .bind(v.description.as_deref().unwrap_or(""))
    .bind(user)
    .bind(&v.source)
    .bind(storage_location)
    .bind(v.run_id.as_deref())
    .bind(v.run_link.as_deref())
    .bind(v.model_id.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for t in &v.tags {
        set_version_tag_on(&mut tx, id, version, t).await?;
    }
    tx.commit().await?;
    Ok(version)
}

async fn set_version_tag_on(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    version: i64,
    t: &Tag,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO model_version_tags (model, version, key, value) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (model, version, key) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(version)
    .bind(&t.key)
    .bind(&t.value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_version_tag(db: &Database, id: i64, version: i64, t: &Tag) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    set_version_tag_on(&mut tx, id, version, t).await?;
    tx.commit().await
}

pub async fn delete_version_tag(db: &Database, id: i64, version: i64, key: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM model_version_tags WHERE model = $1 AND version = $2 AND key = $3")
        .bind(id)
        .bind(version)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn describe_version(
    db: &Database,
    id: i64,
    version: i64,
    description: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE model_versions SET description = $1, last_update_time = $2 WHERE model = $3 AND version = $4")
        .bind(description)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes a version with its tags and the aliases that pointed at it.
pub async fn delete_version(db: &Database, id: i64, version: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for table in ["registered_model_aliases", "model_version_tags", "model_versions"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE model = $1 AND version = $2"))
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

pub async fn set_alias(db: &Database, id: i64, alias: &str, version: i64, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO registered_model_aliases (model, alias, version) VALUES ($1, $2, $3) \
         ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version",
    )
    .bind(id)
    .bind(alias)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, id, now).await?;
    tx.commit().await
}

pub async fn delete_alias(db: &Database, id: i64, alias: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM registered_model_aliases WHERE model = $1 AND alias = $2")
        .bind(id)
        .bind(alias)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn alias(db: &Database, id: i64, alias: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM registered_model_aliases WHERE model = $1 AND alias = $2")
        .bind(id)
        .bind(alias)
        .fetch_optional(db.pool())
        .await
}

/// A version's storage location (what `get-download-uri` answers).
pub async fn storage_location(db: &Database, id: i64, version: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT storage_location FROM model_versions WHERE model = $1 AND version = $2")
        .bind(id)
        .bind(version)
        .fetch_optional(db.pool())
        .await
}

const VERSION_COLUMNS: &str = "SELECT v.model, r.name, v.version, v.description, v.user_id, v.source, v.run_id, \
     v.run_link, v.model_id, v.creation_time, v.last_update_time FROM model_versions v \
     JOIN registered_models r ON r.id = v.model";

/// Versions from their rows, with tags and aliases read for the whole set.
async fn versions_of(db: &Database, rows: &[AnyRow]) -> Result<Vec<ModelVersion>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let models: Vec<i64> = rows.iter().map(|r| r.try_get("model")).collect::<Result<_, _>>()?;
    let mut sql = Sql::new("SELECT model, version, key, value FROM model_version_tags WHERE model IN (");
    let list = |sql: &mut Sql<'_>| {
        for (i, m) in models.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(*m);
        }
        sql.push(")");
    };
    list(&mut sql);
    sql.push(" ORDER BY key");
    let mut tags: HashMap<(i64, i64), Vec<Tag>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        tags.entry((r.try_get("model")?, r.try_get("version")?))
            .or_default()
            .push(Tag { key: r.try_get("key")?, value: r.try_get("value")? });
    }
    let mut sql = Sql::new("SELECT model, version, alias FROM registered_model_aliases WHERE model IN (");
    list(&mut sql);
    sql.push(" ORDER BY alias");
    let mut aliases: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        aliases.entry((r.try_get("model")?, r.try_get("version")?)).or_default().push(r.try_get("alias")?);
    }
    rows.iter()
        .map(|r| {
            let key: (i64, i64) = (r.try_get("model")?, r.try_get("version")?);
            Ok(ModelVersion {
                name: r.try_get("name")?,
                version: key.1.to_string(),
                creation_timestamp: r.try_get("creation_time")?,
                last_updated_timestamp: r.try_get("last_update_time")?,
                user_id: r.try_get("user_id")?,
                current_stage: "None".into(),
                description: r.try_get("description")?,
                source: r.try_get("source")?,
                run_id: r.try_get("run_id")?,
                status: "READY".into(),
                tags: tags.remove(&key).unwrap_or_default(),
                run_link: r.try_get("run_link")?,
                aliases: aliases.remove(&key).unwrap_or_default(),
                model_id: r.try_get("model_id")?,
            })
        })
        .collect()
}

pub async fn version(db: &Database, id: i64, version: i64) -> Result<Option<ModelVersion>, sqlx::Error> {
    let rows = sqlx::query(&format!("{VERSION_COLUMNS} WHERE v.model = $1 AND v.version = $2"))
        .bind(id)
        .bind(version)
        .fetch_all(db.pool())
        .await?;
    Ok(versions_of(db, &rows).await?.pop())
}

/// A clause of a model-version filter: `name`, `run_id`, `source`, `version_number`, `tags.<k>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionField {
    Column(&'static str),
    Tag(String),
}

pub async fn search_versions(
    db: &Database,
    clauses: &[(VersionField, Op, Vec<String>)],
    order: &[(&'static str, bool)],
    offset: i64,
    limit: i64,
) -> Result<(Vec<ModelVersion>, bool), sqlx::Error> {
    let mut sql = Sql::new(format!("{VERSION_COLUMNS} WHERE 1 = 1"));
    for (field, op, values) in clauses {
        sql.push(" AND ");
        let expr = match field {
            VersionField::Column(c) => c.to_string(),
            VersionField::Tag(k) if *op == Op::Ne => {
                sql.push("NOT EXISTS (SELECT 1 FROM model_version_tags t WHERE t.model = v.model AND t.version = v.version AND t.key = ");
                sql.bind(k.clone());
                sql.push(" AND ");
                condition(&mut sql, db, "t.value", Op::Eq, values);
                sql.push(")");
                continue;
            }
            VersionField::Tag(k) => {
                sql.push("EXISTS (SELECT 1 FROM model_version_tags t WHERE t.model = v.model AND t.version = v.version AND t.key = ");
                sql.bind(k.clone());
                sql.push(" AND ");
                "t.value".into()
            }
        };
        condition(&mut sql, db, &expr, *op, values);
        if matches!(field, VersionField::Tag(_)) {
            sql.push(")");
        }
    }
    sql.push(" ORDER BY ");
    for (column, ascending) in order {
        sql.push(&format!("{column} {}, ", if *ascending { "ASC" } else { "DESC" }));
    }
    sql.push("r.name ASC, v.version DESC LIMIT ").bind(limit + 1).push(" OFFSET ").bind(offset);
    let rows = sql.fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    Ok((versions_of(db, &rows[..rows.len().min(limit as usize)]).await?, more))
}

fn condition(sql: &mut Sql<'_>, db: &Database, expr: &str, op: Op, values: &[String]) {
    // Version numbers are integers on both backends (the caller checked they parse).
    if expr == "v.version" {
        let numbers: Vec<i64> = values.iter().filter_map(|v| v.parse().ok()).collect();
        match op {
            Op::In | Op::NotIn => {
                sql.push(&format!("{expr} {} (", op.sql()));
                for (i, n) in numbers.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind(*n);
                }
                sql.push(")");
            }
            Op::Like | Op::ILike => {
                sql.push("1 = 0");
            }
            op => {
                sql.push(&format!("{expr} {} ", op.sql()));
                sql.bind(numbers.first().copied().unwrap_or(-1));
            }
        }
        return;
    }
    match op {
        Op::Like | Op::ILike => {
            experiments::like(sql, db.backend(), expr, op, values.first().cloned().unwrap_or_default())
        }
        Op::In | Op::NotIn => {
            sql.push(&format!("{expr} {} (", op.sql()));
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(v.clone());
            }
            sql.push(")");
        }
        op => {
            sql.push(&format!("{expr} {} ", op.sql()));
            sql.bind(values.first().cloned().unwrap_or_default());
        }
    }
}

const MODEL_COLUMNS: &str =
    "SELECT m.id, m.name, m.description, m.user_id, m.creation_time, m.last_update_time FROM registered_models m";

async fn models_of(db: &Database, rows: &[AnyRow]) -> Result<Vec<RegisteredModel>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
    let list = |sql: &mut Sql<'_>| {
        for (i, m) in ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(*m);
        }
        sql.push(")");
    };
    let mut sql = Sql::new("SELECT model, key, value FROM registered_model_tags WHERE model IN (");
    list(&mut sql);
    sql.push(" ORDER BY key");
    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        tags.entry(r.try_get("model")?).or_default().push(Tag { key: r.try_get("key")?, value: r.try_get("value")? });
    }
    let mut sql = Sql::new("SELECT model, alias, version FROM registered_model_aliases WHERE model IN (");
    list(&mut sql);
    sql.push(" ORDER BY alias");
    let mut aliases: HashMap<i64, Vec<Alias>> = HashMap::new();
    for r in sql.fetch_all(db).await? {
        let version: i64 = r.try_get("version")?;
        aliases
            .entry(r.try_get("model")?)
            .or_default()
            .push(Alias { alias: r.try_get("alias")?, version: version.to_string() });
    }
    // The newest version of each.
    let mut sql = Sql::new(format!(
        "{VERSION_COLUMNS} WHERE v.version = (SELECT MAX(w.version) FROM model_versions w WHERE w.model = v.model) AND v.model IN ("
    ));
    list(&mut sql);
    let latest = versions_of(db, &sql.fetch_all(db).await?).await?;
    let mut latest: HashMap<String, ModelVersion> = latest.into_iter().map(|v| (v.name.clone(), v)).collect();
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            let name: String = r.try_get("name")?;
            Ok(RegisteredModel {
                latest_versions: latest.remove(&name).into_iter().collect(),
                name,
                creation_timestamp: r.try_get("creation_time")?,
                last_updated_timestamp: r.try_get("last_update_time")?,
                user_id: r.try_get("user_id")?,
                description: r.try_get("description")?,
                tags: tags.remove(&id).unwrap_or_default(),
                aliases: aliases.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn model(db: &Database, id: i64) -> Result<Option<RegisteredModel>, sqlx::Error> {
    let rows = sqlx::query(&format!("{MODEL_COLUMNS} WHERE m.id = $1")).bind(id).fetch_all(db.pool()).await?;
    Ok(models_of(db, &rows).await?.pop())
}

/// A clause of a registered-model filter: `name` or `tags.<key>`.
pub async fn search_models(
    db: &Database,
    clauses: &[(VersionField, Op, Vec<String>)],
    order: &[(&'static str, bool)],
    offset: i64,
    limit: i64,
) -> Result<(Vec<RegisteredModel>, bool), sqlx::Error> {
    let mut sql = Sql::new(format!("{MODEL_COLUMNS} WHERE 1 = 1"));
    for (field, op, values) in clauses {
        sql.push(" AND ");
        let expr = match field {
            VersionField::Column(c) => c.to_string(),
            // `tags.k != 'v'` also matches models without the tag, as in MLflow (its client adds
            // `tag.mlflow.prompt.is_prompt != 'true'` to every search).
            VersionField::Tag(k) if *op == Op::Ne => {
                sql.push("NOT EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.model = m.id AND t.key = ");
                sql.bind(k.clone());
                sql.push(" AND ");
                condition(&mut sql, db, "t.value", Op::Eq, values);
                sql.push(")");
                continue;
            }
            VersionField::Tag(k) => {
                sql.push("EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.model = m.id AND t.key = ");
                sql.bind(k.clone());
                sql.push(" AND ");
                "t.value".into()
            }
        };
        condition(&mut sql, db, &expr, *op, values);
        if matches!(field, VersionField::Tag(_)) {
            sql.push(")");
        }
    }
    sql.push(" ORDER BY ");
    for (column, ascending) in order {
        sql.push(&format!("{column} {}, ", if *ascending { "ASC" } else { "DESC" }));
    }
    sql.push("m.name ASC LIMIT ").bind(limit + 1).push(" OFFSET ").bind(offset);
    let rows = sql.fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    Ok((models_of(db, &rows[..rows.len().min(limit as usize)]).await?, more))
}
