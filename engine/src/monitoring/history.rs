//! The stored metric history: one row per metric and minute (mean, minimum, maximum), kept for
//! seven days and pruned by the sampler itself.

use sqlx::Row;

use super::{Metric, Point, Series};
use crate::db::{Database, Sql};

/// Minutes older than this are deleted.
pub const RETENTION_MS: i64 = 7 * 24 * 3_600_000;

/// Stores one minute's summaries; a minute written twice keeps the later values.
pub async fn write(db: &Database, rows: &[(Metric, Point)]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new("INSERT INTO metric_minutes (metric, t_ms, avg, min, max) VALUES ");
    for (i, (metric, p)) in rows.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        q.bind(metric.key())
            .push(", ")
            .bind(p.t_ms)
            .push(", ")
            .bind(p.avg)
            .push(", ")
            .bind(p.min)
            .push(", ")
            .bind(p.max);
        q.push(")");
    }
    q.push(" ON CONFLICT (metric, t_ms) DO UPDATE SET avg = excluded.avg, min = excluded.min, max = excluded.max");
    q.execute(db).await?;
    Ok(())
}

/// Every metric's stored minutes from `from_ms` on, oldest first. Metrics without rows get an
/// empty series, so the charts can say "no history yet".
pub async fn read(db: &Database, from_ms: i64) -> Result<Vec<Series>, sqlx::Error> {
    let rows = sqlx::query("SELECT metric, t_ms, avg, min, max FROM metric_minutes WHERE t_ms >= $1 ORDER BY t_ms")
        .bind(from_ms)
        .fetch_all(db.pool())
        .await?;
    let mut series: Vec<Series> = Metric::ALL.into_iter().map(|metric| Series { metric, points: Vec::new() }).collect();
    for row in rows {
        let key: String = row.get("metric");
        // Rows of metrics this build no longer charts are skipped, not an error.
        let Some(metric) = Metric::from_key(&key) else { continue };
        let point = Point { t_ms: row.get("t_ms"), avg: row.get("avg"), min: row.get("min"), max: row.get("max") };
        if let Some(s) = series.iter_mut().find(|s| s.metric == metric) {
            s.points.push(point);
        }
    }
    Ok(series)
}

/// Deletes minutes older than the retention; returns how many rows went.
pub async fn prune(db: &Database, now_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM metric_minutes WHERE t_ms < $1")
        .bind(now_ms - RETENTION_MS)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;

    both_backends! {
        async fn minutes_round_trip_and_old_ones_are_pruned(db) {
            let now = 30 * 24 * 3_600_000;
            let old = now - RETENTION_MS - 60_000;
            let recent = now - 120_000;
            let p = |t| Point { t_ms: t, avg: 2.0, min: 1.0, max: 3.0 };
            write(&db, &[(Metric::Cpu, p(old)), (Metric::Cpu, p(recent)), (Metric::Memory, p(recent))]).await.unwrap();
            // Writing a minute again replaces it.
            write(&db, &[(Metric::Cpu, Point { avg: 5.0, ..p(recent) })]).await.unwrap();

            let all = read(&db, 0).await.unwrap();
            let cpu = all.iter().find(|s| s.metric == Metric::Cpu).unwrap();
            assert_eq!(cpu.points.len(), 2);
            assert_eq!(cpu.points[1].avg, 5.0);
            assert_eq!(all.len(), Metric::ALL.len(), "every metric has a series");

            assert_eq!(prune(&db, now).await.unwrap(), 1);
            let cpu = read(&db, 0).await.unwrap().into_iter().find(|s| s.metric == Metric::Cpu).unwrap();
            assert_eq!(cpu.points, vec![Point { avg: 5.0, ..p(recent) }]);
            assert!(read(&db, now).await.unwrap().iter().all(|s| s.points.is_empty()), "window respected");
        }
    }
}
