//! `okrflow db copy`: every table of one database into another (SQLite → Postgres when a team
//! outgrows one machine, or back), in one transaction on the target, refusing a target that
//! holds rows unless told to replace them, and reporting the rows of each table.
//!
//! Tables are found in the source's schema, not listed here, so whatever later capabilities add
//! is copied too; parents are copied before the tables that refer to them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{Backend, Database, DbError, Sql};

/// Rows per INSERT are bounded by this many bound values (SQLite takes 32,766, Postgres 65,535).
const MAX_VALUES_PER_INSERT: usize = 8_000;

/// What a copy moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    /// Every table copied, in the order copied, with its rows.
    pub tables: Vec<(String, u64)>,
    /// Rows deleted from the target first (only when replacing).
    pub replaced: u64,
    pub took: Duration,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// How a column's values are read from the source and bound for the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColumnKind {
    Integer,
    Real,
    Text,
    Blob,
}

impl ColumnKind {
    fn from_declared(backend: Backend, declared: &str) -> ColumnKind {
        let t = declared.to_ascii_lowercase();
        match backend {
            // SQLite's affinity rules (https://sqlite.org/datatype3.html §3.1), in their order.
            Backend::Sqlite if t.contains("int") => ColumnKind::Integer,
            Backend::Sqlite if t.contains("char") || t.contains("clob") || t.contains("text") => ColumnKind::Text,
            Backend::Sqlite if t.contains("blob") || t.is_empty() => ColumnKind::Blob,
            Backend::Sqlite if t.contains("real") || t.contains("floa") || t.contains("doub") => ColumnKind::Real,
            Backend::Sqlite => ColumnKind::Real,
            Backend::Postgres => match t.as_str() {
                "bigint" | "integer" | "smallint" | "boolean" => ColumnKind::Integer,
                "double precision" | "real" | "numeric" => ColumnKind::Real,
                "bytea" => ColumnKind::Blob,
                _ => ColumnKind::Text,
            },
        }
    }
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    columns: Vec<(String, ColumnKind)>,
    parents: BTreeSet<String>,
}

fn query_err(db: &Database) -> impl Fn(sqlx::Error) -> DbError + '_ {
    move |source| DbError::Query { url: db.url().to_string(), source }
}

/// The tables okrflow keeps in `db` (not the migrations' own), with columns and parents.
async fn tables(db: &Database) -> Result<Vec<Table>, DbError> {
    let err = query_err(db);
    let names: Vec<String> = match db.backend() {
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND name != '_sqlx_migrations' ORDER BY name",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name != '_sqlx_migrations' ORDER BY table_name",
        ),
    }
    .fetch_all(db.pool())
    .await
    .map_err(&err)?;
    let mut out = Vec::new();
    for name in names {
        let (columns, parents): (Vec<(String, String)>, Vec<String>) = match db.backend() {
            Backend::Sqlite => (
                sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(&name)
                    .fetch_all(db.pool())
                    .await
                    .map_err(&err)?,
                sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                    .bind(&name)
                    .fetch_all(db.pool())
                    .await
                    .map_err(&err)?,
            ),
            Backend::Postgres => (
                sqlx::query_as(
                    "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(&name)
                .fetch_all(db.pool())
                .await
                .map_err(&err)?,
                sqlx::query_scalar(
                    "SELECT DISTINCT CAST(p.relname AS TEXT) FROM pg_constraint c \
                     JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE c.contype = 'f' AND t.relname = $1 AND n.nspname = current_schema()",
                )
                .bind(&name)
                .fetch_all(db.pool())
                .await
                .map_err(&err)?,
            ),
        };
        let columns = columns
            .into_iter()
            .map(|(c, declared)| {
                let kind = ColumnKind::from_declared(db.backend(), &declared);
                (c, kind)
            })
            .collect();
        let parents = parents.into_iter().filter(|p| p != &name).collect();
        out.push(Table { name, columns, parents });
    }
    Ok(order_by_parents(out))
}

/// Parents first; tables in a cycle (none today) keep their alphabetical place.
fn order_by_parents(tables: Vec<Table>) -> Vec<Table> {
    let mut left: BTreeMap<String, Table> = tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut ordered = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| t.parents.iter().all(|p| done.contains(p) || !left.contains_key(p)))
            .map(|t| t.name.clone())
            .collect();
        let ready = if ready.is_empty() { vec![left.keys().next().cloned().unwrap_or_default()] } else { ready };
        for name in ready {
            if let Some(t) = left.remove(&name) {
                done.insert(name);
                ordered.push(t);
            }
        }
    }
    ordered
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn count(db: &Database, table: &str) -> Result<u64, DbError> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quoted(table)))
        .fetch_one(db.pool())
        .await
        .map_err(query_err(db))?;
    Ok(n.max(0) as u64)
}

/// Tables of `db` that hold rows, with how many.
async fn non_empty(db: &Database) -> Result<Vec<(String, u64)>, DbError> {
    let mut out = Vec::new();
    for t in tables(db).await? {
        let n = count(db, &t.name).await?;
        if n > 0 {
            out.push((t.name, n));
        }
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "the target database '{url}' is not empty ({tables}); nothing was copied or changed. \
         Copy into an empty database, or pass --replace to delete its rows first"
    )]
    TargetNotEmpty { url: String, tables: String },
    #[error("the source database '{url}' is at schema version {found:?}, this okrflow at {binary}: {hint}")]
    SourceVersion { url: String, found: Option<i64>, binary: i64, hint: &'static str },
    #[error("source and target are the same database '{url}'")]
    SameDatabase { url: String },
    #[error("copying table {table} into '{url}' failed, and nothing was changed: {source}")]
    Table { table: String, url: String, source: sqlx::Error },
    #[error("table {table}: {copied} rows copied but the source has {expected}; nothing was changed")]
    Mismatch { table: String, copied: u64, expected: u64 },
}

/// Copies every table of `from` into `to`. `to` is migrated first; it must hold no rows unless
/// `replace`, which deletes them in the same transaction as the copy. Either every row arrives,
/// or the target is left as it was.
pub async fn copy(from: &Database, to: &Database, replace: bool) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    if from.url() == to.url() && from.backend() == to.backend() {
        return Err(CopyError::SameDatabase { url: from.url().to_string() });
    }
    let binary = from.binary_schema_version();
    let found = from.schema_version().await?;
    if found != Some(binary) {
        let hint = match found {
            Some(v) if v > binary => "use the okrflow release that wrote it",
            _ => "run `okrflow migrate --database-url <source>` first, so both sides have the same tables",
        };
        return Err(CopyError::SourceVersion { url: from.url().to_string(), found, binary, hint });
    }
    // Refuse before touching the target at all (not even its schema) when it has rows.
    let occupied = non_empty(to).await?;
    if !occupied.is_empty() && !replace {
        let tables = occupied.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ");
        return Err(CopyError::TargetNotEmpty { url: to.url().to_string(), tables });
    }
    to.migrate().await?;
    let source_tables = tables(from).await?;
    let target_order = tables(to).await?;
    let target_tables: BTreeMap<String, Table> = target_order.iter().map(|t| (t.name.clone(), t.clone())).collect();

    // One snapshot of the source, one transaction on the target.
    let mut src = from.pool().begin().await.map_err(query_err(from))?;
    if from.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *src)
            .await
            .map_err(query_err(from))?;
    }
    let mut dst = to.pool().begin().await.map_err(query_err(to))?;
    let table_err = |table: &str| {
        let (table, url) = (table.to_string(), to.url().to_string());
        move |source| CopyError::Table { table: table.clone(), url: url.clone(), source }
    };
    let mut replaced = 0;
    if replace {
        // Children before their parents.
        for t in target_order.iter().rev() {
            let done = sqlx::query(&format!("DELETE FROM {}", quoted(&t.name)))
                .execute(&mut *dst)
                .await
                .map_err(table_err(&t.name))?;
            replaced += done.rows_affected();
        }
    }
    let mut report = Vec::new();
    for table in &source_tables {
        // Columns both sides have, typed as the target declares them.
        let Some(target) = target_tables.get(&table.name) else { continue };
        let columns: Vec<(String, ColumnKind)> =
            table.columns.iter().filter_map(|(c, _)| target.columns.iter().find(|(tc, _)| tc == c).cloned()).collect();
        if columns.is_empty() {
            continue;
        }
        let list = columns.iter().map(|(c, _)| quoted(c)).collect::<Vec<_>>().join(", ");
        let select = format!("SELECT {list} FROM {}", quoted(&table.name));
        let per_insert = (MAX_VALUES_PER_INSERT / columns.len()).max(1);
        let mut copied = 0u64;
        let mut batch: Vec<AnyRow> = Vec::with_capacity(per_insert);
        {
            let mut rows = sqlx::query(&select).fetch(&mut *src);
            while let Some(row) = rows.try_next().await.map_err(table_err(&table.name))? {
                batch.push(row);
                if batch.len() == per_insert {
                    copied +=
                        insert(&mut dst, &table.name, &list, &columns, &batch).await.map_err(table_err(&table.name))?;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            copied += insert(&mut dst, &table.name, &list, &columns, &batch).await.map_err(table_err(&table.name))?;
        }
        let expected = {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quoted(&table.name)))
                .fetch_one(&mut *src)
                .await
                .map_err(table_err(&table.name))?;
            n.max(0) as u64
        };
        if copied != expected {
            return Err(CopyError::Mismatch { table: table.name.clone(), copied, expected });
        }
        if to.backend() == Backend::Postgres && columns.iter().any(|(c, k)| c == "id" && *k == ColumnKind::Integer) {
            // Explicit ids do not move an identity's sequence: the next insert would collide.
            // Sequences start at 1, and a table may hold only id 0 (the Default experiment).
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), GREATEST(COALESCE(MAX(id), 1), 1), \
                 COALESCE(MAX(id) >= 1, false)) FROM {}",
                quoted(&table.name)
            ))
            .bind(&table.name)
            .fetch_optional(&mut *dst)
            .await
            .map_err(table_err(&table.name))?;
        }
        report.push((table.name.clone(), copied));
    }
    dst.commit().await.map_err(query_err(to))?;
    src.rollback().await.map_err(query_err(from))?;
    Ok(CopyReport { tables: report, replaced, took: started.elapsed() })
}

async fn insert(
    dst: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    list: &str,
    columns: &[(String, ColumnKind)],
    rows: &[AnyRow],
) -> Result<u64, sqlx::Error> {
    let mut sql = Sql::new(format!("INSERT INTO {} ({list}) VALUES ", quoted(table)));
    for (r, row) in rows.iter().enumerate() {
        sql.push(if r == 0 { "(" } else { ", (" });
        for (i, (_, kind)) in columns.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            match kind {
                ColumnKind::Integer => sql.bind(row.try_get::<Option<i64>, _>(i)?),
                ColumnKind::Real => {
                    // SQLite may hand back an integer for a whole number in a column of no type.
                    let v = match row.try_get::<Option<f64>, _>(i) {
                        Ok(v) => v,
                        Err(_) => row.try_get::<Option<i64>, _>(i)?.map(|v| v as f64),
                    };
                    sql.bind(v)
                }
                ColumnKind::Text => sql.bind(row.try_get::<Option<String>, _>(i)?),
                ColumnKind::Blob => sql.bind(row.try_get::<Option<Vec<u8>>, _>(i)?),
            };
        }
        sql.push(")");
    }
    sql.execute_on(dst).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{audit, sessions, tokens, users, Role};
    use crate::db::testing::open;

    async fn populate(db: &Database) {
        let u = users::create(db, "alice", "a long password", Role::Editor).await.unwrap();
        users::create(db, "bob", "a long password", Role::Viewer).await.unwrap();
        // Only the Default experiment (id 0): a table whose ids are all below a sequence's start.
        crate::tracking::experiments::ensure_default(db, 1_000).await.unwrap();
        sessions::create(db, u.id, "127.0.0.1", "test", 1_000).await.unwrap();
        tokens::create(db, u.id, "ci", None, 1_000).await.unwrap();
        for i in 0..1_500 {
            audit::record(
                db,
                audit::Record {
                    actor: "alice",
                    action: "file.upload",
                    target: &format!("f{i}"),
                    ip: "127.0.0.1",
                    outcome: audit::Outcome::Ok,
                    detail: "",
                },
            )
            .await
            .unwrap();
        }
        crate::logs::store::insert(
            db,
            &[crate::logs::LogEntry {
                id: 0,
                ts_ms: 5,
                level: crate::logs::LogLevel::Error,
                target: "okrflow".into(),
                message: "it broke".into(),
                fields: "k=v".into(),
            }],
        )
        .await
        .unwrap();
        crate::monitoring::history::write(
            db,
            &[(
                crate::monitoring::Metric::ALL[0],
                crate::monitoring::Point { t_ms: 60_000, avg: 1.5, min: 1.0, max: 2.0 },
            )],
        )
        .await
        .unwrap();
    }

    async fn fingerprint(db: &Database) -> (Vec<String>, usize, Vec<String>, Vec<String>) {
        let users: Vec<String> =
            users::list(db).await.unwrap().into_iter().map(|u| format!("{}:{}", u.id, u.username)).collect();
        let audit: Vec<String> = audit::query(db, &Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{}:{}", e.id, e.target))
            .collect();
        let logs =
            crate::logs::store::query(db, &Default::default()).await.unwrap().into_iter().map(|l| l.message).collect();
        let history = crate::monitoring::history::read(db, 0).await.unwrap();
        let points: usize = history.iter().map(|s| s.points.len()).sum();
        (users, points, logs, audit)
    }

    async fn round_trip(from: Backend, to: Backend) {
        let a = open(from).await;
        let b = open(to).await;
        populate(&a.db).await;
        let report = copy(&a.db, &b.db, false).await.unwrap();
        assert!(report.tables.iter().any(|(t, n)| t == "audit_log" && *n == 1_500), "{report:?}");
        assert!(
            report.tables.iter().position(|(t, _)| t == "users")
                < report.tables.iter().position(|(t, _)| t == "sessions")
        );
        assert_eq!(fingerprint(&a.db).await, fingerprint(&b.db).await);
        // Ids go on after the copied ones: a new user does not collide.
        let carol = users::create(&b.db, "carol", "a long password", Role::Viewer).await.unwrap();
        assert_eq!(carol.id, 3);
        let first = crate::tracking::experiments::create(&b.db, "after the copy", &[], 2_000).await.unwrap();
        assert_eq!(first, 1, "experiment ids start after the Default experiment's 0");
        // A second copy into the now non-empty target is refused and changes nothing.
        let err = copy(&a.db, &b.db, false).await.unwrap_err().to_string();
        assert!(err.contains("not empty") && err.contains("users: 3 rows"), "{err}");
        assert_eq!(users::list(&b.db).await.unwrap().len(), 3);
        // Replacing does what it says.
        let report = copy(&a.db, &b.db, true).await.unwrap();
        assert!(report.replaced > 0);
        assert_eq!(fingerprint(&a.db).await, fingerprint(&b.db).await);
    }

    #[tokio::test]
    async fn sqlite_to_postgres_and_refusals() {
        round_trip(Backend::Sqlite, Backend::Postgres).await;
    }

    #[tokio::test]
    async fn postgres_to_sqlite() {
        round_trip(Backend::Postgres, Backend::Sqlite).await;
    }

    #[test]
    fn parents_come_first() {
        let t = |name: &str, parents: &[&str]| Table {
            name: name.into(),
            columns: vec![],
            parents: parents.iter().map(|p| p.to_string()).collect(),
        };
        let ordered = order_by_parents(vec![t("api_tokens", &["users"]), t("audit_log", &[]), t("users", &[])]);
        let names: Vec<_> = ordered.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["audit_log", "users", "api_tokens"]);
    }
}
