//! The scheduler: one loop per `serve` process that keeps each scheduled pipeline's next cron
//! time in the database (`pipeline_schedules`) and creates its due runs. Several schedulers
//! over one database create each run once: the runs' unique (pipeline, scheduled time) turns
//! a second creation into nothing, and the next time moves on by compare-and-set.

use std::sync::Arc;

use super::runs::{self, NewRun};
use super::schedule::Cadence;
use super::{Definition, ParamValue, TriggerKind};
use crate::db::Database;

/// What one look at the schedules did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    /// (pipeline, run id) of each run created.
    pub created: Vec<(String, i64)>,
}

/// The schedule's key: a changed pattern or zone starts its times afresh.
fn schedule_key(d: &Definition) -> Option<String> {
    d.schedule.as_ref().map(|s| format!("{} @ {}", s.cron, s.timezone))
}

/// Looks at every scheduled, unpaused pipeline of `pipelines` at `now_ms` and creates the runs
/// its schedule owes since it was last looked at: the latest missed time only, or up to
/// `max_catchup_runs` with catch-up. A schedule seen for the first time (or changed) owes
/// nothing before now.
pub async fn tick(
    db: &Database,
    pipelines: &[(Arc<Definition>, i64)],
    paused: &[String],
    now_ms: i64,
) -> Result<Tick, sqlx::Error> {
    let mut out = Tick::default();
    for (definition, version) in pipelines {
        let (Some(schedule), Some(key)) = (&definition.schedule, schedule_key(definition)) else { continue };
        let Ok(cadence) = Cadence::of(schedule) else { continue };
        let id = &definition.id;
        let row: Option<(String, Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT cron, next_ms, last_ms FROM pipeline_schedules WHERE pipeline_id = $1")
                .bind(id)
                .fetch_optional(db.pool())
                .await?;
        let (next, since) = match row {
            Some((cron, next, last)) if cron == key => (next, last.unwrap_or(now_ms)),
            stale => {
                // New or changed: times count from now.
                let next = cadence.next_after(now_ms);
                let moved = match stale {
                    None => sqlx::query(
                        "INSERT INTO pipeline_schedules (pipeline_id, cron, next_ms, last_ms) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (pipeline_id) DO NOTHING",
                    )
                    .bind(id)
                    .bind(&key)
                    .bind(next)
                    .bind(now_ms)
                    .execute(db.pool())
                    .await?,
                    Some((cron, _, _)) => sqlx::query(
                        "UPDATE pipeline_schedules SET cron = $1, next_ms = $2, last_ms = $3 WHERE pipeline_id = $4 AND cron = $5",
                    )
                    .bind(&key)
                    .bind(next)
                    .bind(now_ms)
                    .bind(id)
                    .bind(cron)
                    .execute(db.pool())
                    .await?,
                };
                let _ = moved.rows_affected();
                continue;
            }
        };
        let Some(next) = next else { continue };
        if next > now_ms {
            continue;
        }
        let new_next = cadence.next_after(now_ms);
        // Paused: its times pass without runs, and none are owed when it resumes.
        let due = if paused.contains(id) {
            Vec::new()
        } else {
            cadence.due(since, now_ms, schedule.catchup, schedule.max_catchup_runs)
        };
        let last = due.last().copied().unwrap_or(since);
        // Runs first, then the next time: a scheduler that dies between the two leaves the
        // time due, and the next look creates what is missing (the unique key stops doubles).
        let params = defaults(definition);
        for at in due {
            let run = NewRun {
                definition,
                version: *version,
                trigger: TriggerKind::Schedule,
                triggered_by: "schedule",
                params: &params,
                scheduled_ms: Some(at),
                now_ms,
            };
            if let Some(run_id) = runs::create(db, &run).await? {
                out.created.push((id.clone(), run_id));
            }
        }
        sqlx::query("UPDATE pipeline_schedules SET next_ms = $1, last_ms = $2 WHERE pipeline_id = $3 AND next_ms = $4")
            .bind(new_next)
            .bind(if paused.contains(id) { now_ms } else { last })
            .bind(id)
            .bind(next)
            .execute(db.pool())
            .await?;
    }
    Ok(out)
}

/// The parameters of a scheduled run: every default (a definition with a schedule has one for
/// each parameter; its check says so).
pub fn defaults(d: &Definition) -> std::collections::BTreeMap<String, ParamValue> {
    d.params.iter().filter_map(|p| p.default.clone().map(|v| (p.name.clone(), v))).collect()
}

/// The next cron time of each scheduled pipeline, as the database has it.
pub async fn next_times(db: &Database) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT pipeline_id, next_ms FROM pipeline_schedules").fetch_all(db.pool()).await?;
    Ok(rows.into_iter().filter_map(|(id, next)| next.map(|n| (id, n))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::both_backends;
    use crate::pipelines::definition::parse;
    use crate::pipelines::{versions, Origin};

    const HOUR: i64 = 3_600_000;
    /// 2026-03-02 00:00 UTC.
    const T0: i64 = 1_772_409_600_000;

    async fn hourly(db: &Database, id: &str, catchup: bool) -> Arc<Definition> {
        let text = format!(
            "[schedule]\ncron = \"0 * * * *\"\ncatchup = {catchup}\nmax_catchup_runs = 3\n[[tasks]]\nid = \"a\"\ntype = \"noop\"\n"
        );
        let d = parse(&format!("pipelines/{id}.toml"), &text, Origin::File).unwrap_or_else(|p| panic!("{p:?}"));
        versions::record(db, id, "sha", &text, None, 0).await.unwrap();
        Arc::new(Definition { id: id.into(), max_active_runs: 100, ..d })
    }

    async fn scheduled(db: &Database, id: &str) -> Vec<i64> {
        let mut times: Vec<i64> = runs::list(db, Some(id), None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!((r.trigger, r.triggered_by.as_str()), (TriggerKind::Schedule, "schedule"));
                r.scheduled_ms.unwrap()
            })
            .collect();
        times.sort();
        times
    }

    both_backends! {
        async fn a_schedule_runs_each_time_once_and_skips_missed_times_without_catch_up(db) {
            let d = hourly(&db, "hourly", false).await;
            let all = vec![(d.clone(), 1)];
            // First sight at 00:30: nothing owed before now.
            assert!(tick(&db, &all, &[], T0 + HOUR / 2).await.unwrap().created.is_empty());
            assert_eq!(next_times(&db).await.unwrap().get("hourly"), Some(&(T0 + HOUR)));
            assert!(tick(&db, &all, &[], T0 + HOUR - 1).await.unwrap().created.is_empty());
            assert_eq!(tick(&db, &all, &[], T0 + HOUR + 5).await.unwrap().created.len(), 1);
            assert!(tick(&db, &all, &[], T0 + HOUR + 6).await.unwrap().created.is_empty(), "01:00 ran once");
            // Down from 01:00 to 05:30: only 05:00 runs.
            tick(&db, &all, &[], T0 + 5 * HOUR + HOUR / 2).await.unwrap();
            assert_eq!(scheduled(&db, "hourly").await, vec![T0 + HOUR, T0 + 5 * HOUR]);
            // Paused over 06:00: no run, and none owed after.
            tick(&db, &all, &["hourly".to_string()], T0 + 6 * HOUR + 1).await.unwrap();
            tick(&db, &all, &[], T0 + 6 * HOUR + 2).await.unwrap();
            assert_eq!(scheduled(&db, "hourly").await.len(), 2);
        }

        async fn catch_up_runs_the_most_recent_missed_times_up_to_its_bound(db) {
            let d = hourly(&db, "caught", true).await;
            let all = vec![(d.clone(), 1)];
            tick(&db, &all, &[], T0).await.unwrap();
            // Away until 10:10: 01:00 … 10:00 missed; the bound keeps 08:00, 09:00, 10:00.
            let created = tick(&db, &all, &[], T0 + 10 * HOUR + 600_000).await.unwrap().created;
            assert_eq!(created.len(), 3);
            assert_eq!(scheduled(&db, "caught").await, vec![T0 + 8 * HOUR, T0 + 9 * HOUR, T0 + 10 * HOUR]);
        }

        async fn two_schedulers_at_once_create_each_run_once(db) {
            let d = hourly(&db, "raced", true).await;
            let all = vec![(d.clone(), 1)];
            tick(&db, &all, &[], T0).await.unwrap();
            let mut handles = Vec::new();
            for _ in 0..2 {
                let (db, all) = (db.clone(), all.clone());
                handles.push(tokio::spawn(async move {
                    let mut made = 0;
                    for h in 1..=6 {
                        made += tick(&db, &all, &[], T0 + h * HOUR + 1).await.unwrap().created.len();
                    }
                    made
                }));
            }
            let mut made = 0;
            for h in handles {
                made += h.await.unwrap();
            }
            assert_eq!(made, 6, "six times, six runs between both schedulers");
            assert_eq!(scheduled(&db, "raced").await, (1..=6).map(|h| T0 + h * HOUR).collect::<Vec<_>>());
        }
    }
}
