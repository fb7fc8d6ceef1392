//! The metrics store: every point in `run_metrics`, and the latest value of each key per run in
//! `latest_metrics` (migration 0010), written in the caller's transaction so the two never
//! disagree. "Latest" is MLflow's: the greatest (step, timestamp, value). NaN is kept as value 0
//! with `is_nan`, since SQLite reads a stored NaN as NULL.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Metric;
use crate::db::{Database, Sql};

/// Buckets of a sampled chart read per statement (each one seek).
const BUCKETS_PER_STATEMENT: usize = 100;
/// Rows per INSERT: 6 values each, well under both backends' limits on bound values.
const ROWS_PER_INSERT: usize = 500;

fn stored(value: f64) -> (f64, i64) {
    if value.is_nan() {
        (0.0, 1)
    } else {
        (value, 0)
    }
}

fn read(r: &AnyRow) -> Result<Metric, sqlx::Error> {
    let is_nan: i64 = r.try_get("is_nan")?;
    let value: f64 = r.try_get("value")?;
    Ok(Metric {
        key: r.try_get("key")?,
        value: if is_nan == 1 { f64::NAN } else { value },
        timestamp: r.try_get("timestamp")?,
        step: r.try_get("step")?,
        run_id: None,
        ..Default::default()
    })
}

/// The order of "latest": (step, timestamp, value), NaN above every number as in MLflow's
/// Python comparison of its stored tuples.
fn later(a: &Metric, b: &Metric) -> bool {
    let value = |m: &Metric| if m.value.is_nan() { f64::INFINITY } else { m.value };
    (a.step, a.timestamp).cmp(&(b.step, b.timestamp)).then(value(a).total_cmp(&value(b))).is_gt()
}

/// Writes `points` of run `id` and moves each key's latest value forward, inside `conn`'s
/// transaction. A point logged before exactly as it is (a retried request) is kept once.
pub async fn log(conn: &mut sqlx::AnyConnection, id: &str, points: &[Metric]) -> Result<(), sqlx::Error> {
    let sqlite = conn.backend_name() == "SQLite";
    for chunk in points.chunks(ROWS_PER_INSERT) {
        let text = format!(
            "INSERT INTO run_metrics (run_id, key, step, timestamp, value, is_nan) VALUES {} ON CONFLICT DO NOTHING",
            row_placeholders(sqlite, chunk.len())
        );
        bind_rows(sqlx::query(&text), id, chunk).execute(&mut *conn).await?;
    }
    // One row per key (a statement may not update one row twice), the batch's own latest.
    let mut latest: HashMap<&str, &Metric> = HashMap::new();
    for m in points {
        match latest.get(m.key.as_str()) {
            Some(seen) if !later(m, seen) => {}
            _ => {
                latest.insert(&m.key, m);
            }
        }
    }
    let mut latest: Vec<Metric> = latest.into_values().cloned().collect();
    latest.sort_by(|a, b| a.key.cmp(&b.key)); // the same lock order in every writer
    for chunk in latest.chunks(ROWS_PER_INSERT) {
        // NaN ranks above every value, as in `later`.
        let text = format!(
            "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan) VALUES {} \
             ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, \
             value = excluded.value, is_nan = excluded.is_nan \
             WHERE (excluded.step, excluded.timestamp, excluded.is_nan, excluded.value) \
             > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.is_nan, latest_metrics.value)",
            row_placeholders(sqlite, chunk.len())
        );
        bind_rows(sqlx::query(&text), id, chunk).execute(&mut *conn).await?;
    }
    Ok(())
}

/// `rows` groups of six placeholders. SQLite gets anonymous `?`s: binding thousands of numbered
/// ones costs it a name lookup each, which made a 1,000-point batch 30 times slower.
fn row_placeholders(sqlite: bool, rows: usize) -> String {
    let mut text = String::with_capacity(rows * 40);
    for i in 0..rows {
        text.push_str(if i == 0 { "(" } else { ", (" });
        for c in 0..6 {
            if c > 0 {
                text.push_str(", ");
            }
            if sqlite {
                text.push('?');
            } else {
                text.push_str(&format!("${}", i * 6 + c + 1));
            }
        }
        text.push(')');
    }
    text
}

fn bind_rows<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    id: &'q str,
    rows: &'q [Metric],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for m in rows {
        let (value, is_nan) = stored(m.value);
        q = q.bind(id).bind(m.key.as_str()).bind(m.step).bind(m.timestamp).bind(value).bind(is_nan);
    }
    q
}

/// The latest value of every key of each run in `ids`, by run.
pub async fn latest(db: &Database, ids: &[String]) -> Result<HashMap<String, Vec<Metric>>, sqlx::Error> {
    let mut by_run: HashMap<String, Vec<Metric>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_run);
    }
    let mut sql = Sql::new("SELECT run_id, key, step, timestamp, value, is_nan FROM latest_metrics WHERE run_id IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(id.clone());
    }
    sql.push(") ORDER BY run_id, key");
    for r in sql.fetch_all(db).await? {
        by_run.entry(r.try_get("run_id")?).or_default().push(read(&r)?);
    }
    Ok(by_run)
}

/// Where a page of history starts: after this point, in (timestamp, step, value, is_nan) order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct After {
    pub timestamp: i64,
    pub step: i64,
    pub value: f64,
    pub is_nan: i64,
}

impl After {
    pub fn of(m: &Metric) -> After {
        let (value, is_nan) = stored(m.value);
        After { timestamp: m.timestamp, step: m.step, value, is_nan }
    }

    /// As a page token's payload; `f64`'s bits keep the value exact.
    pub fn encode(&self) -> String {
        format!("{},{},{},{}", self.timestamp, self.step, self.value.to_bits(), self.is_nan)
    }

    pub fn decode(text: &str) -> Option<After> {
        let mut parts = text.split(',');
        let timestamp = parts.next()?.parse().ok()?;
        let step = parts.next()?.parse().ok()?;
        let value = f64::from_bits(parts.next()?.parse().ok()?);
        let is_nan = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(After { timestamp, step, value, is_nan })
    }
}

/// Up to `limit` points of `key` in MLflow's history order (timestamp, then step), after
/// `after`; and whether more follow. Read by the primary key's order, so a page costs its own
/// size at any depth.
pub async fn history(
    db: &Database,
    id: &str,
    key: &str,
    after: Option<After>,
    limit: i64,
) -> Result<(Vec<Metric>, bool), sqlx::Error> {
    let mut sql = Sql::new("SELECT key, step, timestamp, value, is_nan FROM run_metrics WHERE run_id = ");
    sql.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
    if let Some(a) = after {
        sql.push(" AND (timestamp, step, value, is_nan) > (");
        sql.bind(a.timestamp).push(", ").bind(a.step).push(", ").bind(a.value).push(", ").bind(a.is_nan).push(")");
    }
    sql.push(" ORDER BY timestamp, step, value, is_nan LIMIT ").bind(limit + 1);
    let rows = sql.fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    let points = rows.iter().take(limit as usize).map(read).collect::<Result<Vec<_>, _>>()?;
    Ok((points, more))
}

/// At most about `points` points of `key` for run `id` with steps in `steps`, sampled by the
/// database: the steps are cut into equal buckets and each bucket gives its first point, plus
/// the very last point, so a chart of a million points reads a few hundred rows out.
pub async fn sampled(
    db: &Database,
    id: &str,
    key: &str,
    steps: (Option<i64>, Option<i64>),
    points: i64,
) -> Result<Vec<Metric>, sqlx::Error> {
    // The count stops past `points`.
    let mut range = Sql::new("SELECT MIN(step) AS lo, MAX(step) AS hi FROM run_metrics WHERE run_id = ");
    range.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
    bound_steps(&mut range, steps);
    let row = range.fetch_all(db).await?.into_iter().next();
    let Some(row) = row else { return Ok(Vec::new()) };
    let (Some(lo), Some(hi)) = (row.try_get::<Option<i64>, _>("lo")?, row.try_get::<Option<i64>, _>("hi")?) else {
        return Ok(Vec::new());
    };
    let mut count = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM run_metrics WHERE run_id = ");
    count.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
    bound_steps(&mut count, steps);
    count.push(" LIMIT ").bind(points + 1).push(") AS head");
    let n: i64 = count.fetch_scalar(db).await?;
    if n <= points {
        return history_in(db, id, key, steps, n).await;
    }
    // Bucket b holds steps lo + b·width … ; its first point (lowest step, then timestamp). One
    // point is kept for the last, so the buckets are at most `points - 1`. Each bucket's first
    // point is read through the step index (run_metrics_steps), a hundred buckets per statement.
    let width = (hi - lo) / (points - 1).max(1) + 1;
    let starts: Vec<i64> = (0..).map(|b| lo + b * width).take_while(|s| *s <= hi).collect();
    let mut rows = Vec::with_capacity(starts.len());
    for group in starts.chunks(BUCKETS_PER_STATEMENT) {
        let mut sql = Sql::new("");
        for (i, start) in group.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push("SELECT * FROM (SELECT key, step, timestamp, value, is_nan FROM run_metrics WHERE run_id = ");
            sql.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
            bound_steps(&mut sql, steps);
            sql.push(" AND step >= ").bind(*start).push(" AND step < ").bind(start + width);
            sql.push(&format!(" ORDER BY step, timestamp, value, is_nan LIMIT 1) AS b{i}"));
        }
        rows.extend(sql.fetch_all(db).await?);
    }
    let mut out: Vec<Metric> = Vec::new();
    for r in &rows {
        let m = read(r)?;
        // Several points may share a bucket's first step: keep the earliest.
        if out.last().is_none_or(|p| p.step != m.step) {
            out.push(m);
        }
    }
    if let Some(last) = last_point(db, id, key, steps).await? {
        if out.last().is_none_or(|p| p.step < last.step) {
            out.push(last);
        }
    }
    Ok(out)
}

fn bound_steps(sql: &mut Sql<'_>, (start, end): (Option<i64>, Option<i64>)) {
    if let Some(start) = start {
        sql.push(" AND step >= ").bind(start);
    }
    if let Some(end) = end {
        sql.push(" AND step <= ").bind(end);
    }
}

async fn history_in(
    db: &Database,
    id: &str,
    key: &str,
    steps: (Option<i64>, Option<i64>),
    limit: i64,
) -> Result<Vec<Metric>, sqlx::Error> {
    let mut sql = Sql::new("SELECT key, step, timestamp, value, is_nan FROM run_metrics WHERE run_id = ");
    sql.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
    bound_steps(&mut sql, steps);
    sql.push(" ORDER BY step, timestamp, value, is_nan LIMIT ").bind(limit);
    sql.fetch_all(db).await?.iter().map(read).collect()
}

async fn last_point(
    db: &Database,
    id: &str,
    key: &str,
    steps: (Option<i64>, Option<i64>),
) -> Result<Option<Metric>, sqlx::Error> {
    let mut sql = Sql::new("SELECT key, step, timestamp, value, is_nan FROM run_metrics WHERE run_id = ");
    sql.bind(id.to_string()).push(" AND key = ").bind(key.to_string());
    bound_steps(&mut sql, steps);
    sql.push(" ORDER BY step DESC, timestamp DESC, value DESC, is_nan DESC LIMIT 1");
    let rows = sql.fetch_all(db).await?;
    rows.first().map(read).transpose()
}
