//! The run store (migration 0015): runs, their task instances with leases, every attempt, and
//! the log chunks of running attempts. Every change of a run's state happens in one
//! transaction that first locks its pipeline's row, so the tasks a finished task makes ready
//! are queued with its end, two processes ending sibling tasks at once cannot both miss (or
//! both start) their common downstream, and `max_active_runs` holds with several processes.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::dag::{self, Seen};
use super::{AttemptView, Definition, ParamValue, RunState, RunSummary, TaskInstanceView, TaskState, TriggerKind};
use crate::db::{Backend, Database};

/// A run about to be created.
pub struct NewRun<'a> {
    pub definition: &'a Definition,
    pub version: i64,
    pub trigger: TriggerKind,
    pub triggered_by: &'a str,
    /// Checked against the parameters, defaults filled in.
    pub params: &'a BTreeMap<String, ParamValue>,
    /// The cron time of a scheduled run: one run per time, however many schedulers ask.
    pub scheduled_ms: Option<i64>,
    pub now_ms: i64,
}

fn decode(what: &str, e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what}: {e}").into())
}

/// Takes the pipeline's row for the rest of the transaction: on Postgres a row lock, on SQLite
/// the database's write lock (taken by a write, so the transaction never has to upgrade a
/// read lock and fail with SQLITE_BUSY).
async fn lock_pipeline(conn: &mut AnyConnection, backend: Backend, id: &str) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Postgres => {
            sqlx::query("SELECT id FROM pipelines WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        }
        Backend::Sqlite => {
            sqlx::query("UPDATE pipelines SET paused = paused WHERE id = $1").bind(id).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

async fn pipeline_of(conn: &mut AnyConnection, run_id: i64) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT pipeline_id, version FROM pipeline_runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
}

/// Creates a run with its task instances: running at once (its first tasks queued) when the
/// pipeline has fewer than `max_active_runs` running, else queued behind them. `None` when a
/// run for the same scheduled time exists already.
pub async fn create(db: &Database, r: &NewRun<'_>) -> Result<Option<i64>, sqlx::Error> {
    let d = r.definition;
    let params = serde_json::to_string(r.params).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut tx = db.pool().begin().await?;
    lock_pipeline(&mut tx, db.backend(), &d.id).await?;
    let running: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pipeline_runs WHERE pipeline_id = $1 AND state = 'running'")
            .bind(&d.id)
            .fetch_one(&mut *tx)
            .await?;
    let start = running < d.max_active_runs.max(1) as i64;
    let state = if start { RunState::Running } else { RunState::Queued };
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO pipeline_runs (pipeline_id, version, state, trigger_kind, triggered_by, params_json, scheduled_ms, \
         max_active_runs, created_ms, started_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (pipeline_id, scheduled_ms) DO NOTHING RETURNING id",
    )
    .bind(&d.id)
    .bind(r.version)
    .bind(state.as_str())
    .bind(r.trigger.as_str())
    .bind(r.triggered_by)
    .bind(params)
    .bind(r.scheduled_ms)
    .bind(d.max_active_runs.max(1) as i64)
    .bind(r.now_ms)
    .bind(start.then_some(r.now_ms))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    // Several rows per statement, well under either backend's limit of bound values.
    for chunk in d.tasks.iter().enumerate().collect::<Vec<_>>().chunks(200) {
        let mut sql = String::from(
            "INSERT INTO task_instances (run_id, task_id, position, is_root, timeout_ms, state, max_attempts, ready_ms) VALUES ",
        );
        for (i, _) in chunk.iter().enumerate() {
            let b = i * 8;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            ));
        }
        let mut q = sqlx::query(&sql);
        for (position, t) in chunk {
            let root = t.upstream.is_empty();
            let state = if root && start { TaskState::Queued } else { TaskState::Pending };
            q = q
                .bind(id)
                .bind(t.id.as_str())
                .bind(*position as i64)
                .bind(root as i64)
                .bind(t.timeout_ms.min(i64::MAX as u64) as i64)
                .bind(state.as_str())
                .bind(t.retry.retries as i64 + 1)
                .bind(r.now_ms);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// A task instance a process took to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Claimed {
    pub run_id: i64,
    pub task_id: String,
    pub attempt: u32,
    pub pipeline_id: String,
    pub version: i64,
    pub params: BTreeMap<String, ParamValue>,
    /// The attempt's timeout (0: none).
    pub timeout_ms: u64,
    /// The run's scheduled time, or when it was created: `{{ run.date }}` and `{{ run.time }}`.
    pub logical_ms: i64,
    /// The small JSON results of the run's finished tasks, by task.
    pub outputs: HashMap<String, serde_json::Value>,
}

/// Takes the queued task instance that has waited longest (a retry only once its time came) for
/// `owner` with a lease until `lease_until_ms`, counting the attempt and recording it.
/// `max_running` bounds the task instances running across every process. Atomic: Postgres
/// picks the row `FOR UPDATE SKIP LOCKED`, so processes claiming at once take different tasks
/// without waiting for each other; SQLite has one writer at a time.
pub async fn claim(
    db: &Database,
    owner: &str,
    now_ms: i64,
    lease_until_ms: i64,
    max_running: Option<u32>,
) -> Result<Option<Claimed>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if max_running.is_some() && db.backend() == Backend::Postgres {
        // The global count must not be read by two claimers at once (SQLite has one writer).
        sqlx::query("SELECT pg_advisory_xact_lock(4242013)").execute(&mut *tx).await?;
    }
    let pick = match db.backend() {
        Backend::Postgres => {
            "SELECT run_id, task_id FROM task_instances WHERE state = 'queued' AND ready_ms <= $1 \
             ORDER BY ready_ms, run_id, position LIMIT 1 FOR UPDATE SKIP LOCKED"
        }
        Backend::Sqlite => {
            "SELECT run_id, task_id FROM task_instances WHERE state = 'queued' AND ready_ms <= $1 \
             ORDER BY ready_ms, run_id, position LIMIT 1"
        }
    };
    let row: Option<(i64, String, i64, i64)> = sqlx::query_as(&format!(
        "UPDATE task_instances SET state = 'running', attempts = attempts + 1, lease_owner = $2, lease_expires_ms = $3, \
         started_ms = $1, ended_ms = NULL, message = NULL, output_json = NULL, \
         deadline_ms = CASE WHEN timeout_ms > 0 THEN $1 + timeout_ms ELSE NULL END \
         WHERE (run_id, task_id) = ({pick}) AND state = 'queued' \
         AND (CAST($4 AS BIGINT) IS NULL OR (SELECT COUNT(*) FROM task_instances WHERE state = 'running') < $4) \
         RETURNING run_id, task_id, attempts, timeout_ms"
    ))
    .bind(now_ms)
    .bind(owner)
    .bind(lease_until_ms)
    .bind(max_running.map(i64::from))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((run_id, task_id, attempt, timeout_ms)) = row else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO task_attempts (run_id, task_id, attempt, owner, state, started_ms) VALUES ($1, $2, $3, $4, 'running', $5)",
    )
    .bind(run_id)
    .bind(&task_id)
    .bind(attempt)
    .bind(owner)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    let (pipeline_id, version, params, logical_ms): (String, i64, String, i64) = sqlx::query_as(
        "SELECT pipeline_id, version, params_json, COALESCE(scheduled_ms, created_ms) FROM pipeline_runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await?;
    let outputs: Vec<(String, String)> =
        sqlx::query_as("SELECT task_id, output_json FROM task_instances WHERE run_id = $1 AND output_json IS NOT NULL")
            .bind(run_id)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let outputs = outputs
        .into_iter()
        .map(|(t, json)| Ok((t, serde_json::from_str(&json).map_err(|e| decode("task_instances.output_json", e))?)))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(Claimed {
        run_id,
        task_id,
        attempt: attempt.clamp(0, u32::MAX as i64) as u32,
        pipeline_id,
        version,
        params: serde_json::from_str(&params).map_err(|e| decode("pipeline_runs.params_json", e))?,
        timeout_ms: timeout_ms.max(0) as u64,
        logical_ms,
        outputs,
    }))
}

/// Extends `owner`'s lease on an attempt it runs; false when the attempt is no longer its own
/// (cancelled, marked, or its lease ran out and it was reaped): the caller stops it.
pub async fn renew(
    db: &Database,
    run_id: i64,
    task_id: &str,
    attempt: u32,
    owner: &str,
    lease_until_ms: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE task_instances SET lease_expires_ms = $1 WHERE run_id = $2 AND task_id = $3 AND attempts = $4 \
         AND lease_owner = $5 AND state = 'running'",
    )
    .bind(lease_until_ms)
    .bind(run_id)
    .bind(task_id)
    .bind(attempt as i64)
    .bind(owner)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Success(Option<serde_json::Value>),
    Failed(String),
}

/// Which attempt is being ended, and by whom.
#[derive(Clone, Debug)]
pub struct Attempt<'a> {
    pub run_id: i64,
    pub task_id: &'a str,
    pub attempt: u32,
    pub owner: &'a str,
}

/// What ending an attempt did.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// The attempt was no longer its owner's (cancelled, marked, reaped): nothing recorded.
    NotOwned,
    Succeeded,
    /// Queued again, to start at `ready_ms`.
    Retrying {
        ready_ms: i64,
    },
    Failed,
}

/// Records the end of an attempt, and in the same transaction queues, skips or fails the tasks
/// downstream as their rules say, ends the run when every task has, and starts the runs queued
/// behind it. `unit` in [0, 1) draws the retry's jitter. `expired_before`: only if the lease
/// ran out before then (the reaper's end, which must not race a renewal).
pub async fn finish(
    db: &Database,
    definition: &Definition,
    a: &Attempt<'_>,
    outcome: &Outcome,
    now_ms: i64,
    unit: f64,
    expired_before: Option<i64>,
) -> Result<Ended, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    lock_pipeline(&mut tx, db.backend(), &definition.id).await?;
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT attempts, max_attempts FROM task_instances WHERE run_id = $1 AND task_id = $2 AND state = 'running' \
         AND lease_owner = $3 AND attempts = $4 AND (CAST($5 AS BIGINT) IS NULL OR COALESCE(lease_expires_ms, 0) < $5)",
    )
    .bind(a.run_id)
    .bind(a.task_id)
    .bind(a.owner)
    .bind(a.attempt as i64)
    .bind(expired_before)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((attempts, max_attempts)) = row else {
        return Ok(Ended::NotOwned);
    };
    let (state, message, output, ready_ms, ended) = match outcome {
        Outcome::Success(output) => {
            let json =
                output.as_ref().map(serde_json::to_string).transpose().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            (TaskState::Success, None, json, now_ms, Ended::Succeeded)
        }
        Outcome::Failed(message) if attempts < max_attempts => {
            let retry = definition.task(a.task_id).map(|t| t.retry.clone()).unwrap_or_default();
            let wait = retry.delay_before(attempts.max(1) as u32, unit) as i64;
            let ready = now_ms.saturating_add(wait);
            let text = format!("attempt {attempts} of {max_attempts} failed: {message}");
            (TaskState::Queued, Some(text), None, ready, Ended::Retrying { ready_ms: ready })
        }
        Outcome::Failed(message) => (TaskState::Failed, Some(message.clone()), None, now_ms, Ended::Failed),
    };
    sqlx::query(
        "UPDATE task_instances SET state = $1, message = $2, output_json = $3, ready_ms = $4, \
         ended_ms = CASE WHEN $1 = 'queued' THEN NULL ELSE $5 END, lease_owner = NULL, lease_expires_ms = NULL, \
         deadline_ms = NULL WHERE run_id = $6 AND task_id = $7",
    )
    .bind(state.as_str())
    .bind(message.as_deref())
    .bind(output)
    .bind(ready_ms)
    .bind(now_ms)
    .bind(a.run_id)
    .bind(a.task_id)
    .execute(&mut *tx)
    .await?;
    let attempt_state = match outcome {
        Outcome::Success(_) => TaskState::Success,
        Outcome::Failed(_) => TaskState::Failed,
    };
    let attempt_message = match outcome {
        Outcome::Success(_) => None,
        Outcome::Failed(m) => Some(m.as_str()),
    };
    end_attempt(&mut tx, a.run_id, a.task_id, a.attempt, attempt_state, attempt_message, now_ms).await?;
    if state != TaskState::Queued {
        settle(&mut tx, definition, a.run_id, now_ms).await?;
    }
    tx.commit().await?;
    Ok(ended)
}

async fn end_attempt(
    conn: &mut AnyConnection,
    run_id: i64,
    task_id: &str,
    attempt: u32,
    state: TaskState,
    message: Option<&str>,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE task_attempts SET state = $1, message = $2, ended_ms = $3 \
         WHERE run_id = $4 AND task_id = $5 AND attempt = $6 AND state = 'running'",
    )
    .bind(state.as_str())
    .bind(message)
    .bind(now_ms)
    .bind(run_id)
    .bind(task_id)
    .bind(attempt as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies the trigger rules to the run's pending tasks, ends the run when every task has, and
/// then starts the runs of its pipeline queued behind it. Inside the caller's transaction,
/// which holds the pipeline's lock.
async fn settle(
    conn: &mut AnyConnection,
    definition: &Definition,
    run_id: i64,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT task_id, state, output_json FROM task_instances WHERE run_id = $1")
            .bind(run_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut seen = HashMap::with_capacity(rows.len());
    for (task, state, output) in rows {
        let state = TaskState::parse(&state).ok_or_else(|| decode("task_instances.state", &state))?;
        let chose = output
            .as_deref()
            .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
            .and_then(|v| v.get("chose").and_then(|c| serde_json::from_value::<Vec<String>>(c.clone()).ok()));
        seen.insert(task, Seen { state, chose });
    }
    let run_state: String =
        sqlx::query_scalar("SELECT state FROM pipeline_runs WHERE id = $1").bind(run_id).fetch_one(&mut *conn).await?;
    if run_state != RunState::Running.as_str() {
        return Ok(());
    }
    for change in dag::advance(definition, &seen) {
        let ended = change.state.is_done().then_some(now_ms);
        sqlx::query(
            "UPDATE task_instances SET state = $1, message = $2, ready_ms = $3, ended_ms = $4 \
             WHERE run_id = $5 AND task_id = $6 AND state = 'pending'",
        )
        .bind(change.state.as_str())
        .bind(change.message.as_deref())
        .bind(now_ms)
        .bind(ended)
        .bind(run_id)
        .bind(&change.task)
        .execute(&mut *conn)
        .await?;
        if let Some(s) = seen.get_mut(&change.task) {
            s.state = change.state;
        }
    }
    let Some(outcome) = dag::outcome(seen.values().map(|s| s.state)) else {
        return Ok(());
    };
    sqlx::query("UPDATE pipeline_runs SET state = $1, ended_ms = $2 WHERE id = $3 AND state = 'running'")
        .bind(outcome.as_str())
        .bind(now_ms)
        .bind(run_id)
        .execute(&mut *conn)
        .await?;
    start_queued(conn, &definition.id, now_ms).await
}

/// Starts the oldest queued runs of a pipeline while it has fewer running than each allows.
async fn start_queued(conn: &mut AnyConnection, pipeline_id: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    loop {
        let running: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pipeline_runs WHERE pipeline_id = $1 AND state = 'running'")
                .bind(pipeline_id)
                .fetch_one(&mut *conn)
                .await?;
        let next: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, max_active_runs FROM pipeline_runs WHERE pipeline_id = $1 AND state = 'queued' ORDER BY id LIMIT 1",
        )
        .bind(pipeline_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((id, max)) = next else { return Ok(()) };
        if running >= max {
            return Ok(());
        }
        sqlx::query("UPDATE pipeline_runs SET state = 'running', started_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE task_instances SET state = 'queued', ready_ms = $1 WHERE run_id = $2 AND state = 'pending' AND is_root = 1",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
}

/// An attempt whose lease ran out, for the reaper.
#[derive(Clone, Debug, PartialEq)]
pub struct Expired {
    pub run_id: i64,
    pub task_id: String,
    pub attempt: u32,
    pub owner: String,
    pub pipeline_id: String,
    pub version: i64,
}

/// Running attempts whose lease ran out before `now_ms` (their process died, hung, or lost the
/// database), oldest first, at most `limit`.
pub async fn expired(db: &Database, now_ms: i64, limit: u32) -> Result<Vec<Expired>, sqlx::Error> {
    let rows: Vec<(i64, String, i64, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT t.run_id, t.task_id, t.attempts, t.lease_owner, r.pipeline_id, r.version FROM task_instances t \
         JOIN pipeline_runs r ON r.id = t.run_id \
         WHERE t.state = 'running' AND COALESCE(t.lease_expires_ms, 0) < $1 ORDER BY t.lease_expires_ms LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(run_id, task_id, attempt, owner, pipeline_id, version)| Expired {
            run_id,
            task_id,
            attempt: attempt.clamp(0, u32::MAX as i64) as u32,
            owner: owner.unwrap_or_default(),
            pipeline_id,
            version,
        })
        .collect())
}

/// Ends at once the leases of processes known to be gone: same host, and no process with that
/// pid runs there (okrflow restarted after a crash). Leases on other hosts wait for expiry.
pub async fn expire_leases_of_dead(db: &Database, host: &str, alive: impl Fn(u32) -> bool) -> Result<u64, sqlx::Error> {
    let holders: Vec<(String, i64)> = sqlx::query_as(
        "SELECT DISTINCT p.id, p.pid FROM task_instances t JOIN processes p ON p.id = t.lease_owner \
         WHERE t.state = 'running' AND p.host = $1",
    )
    .bind(host)
    .fetch_all(db.pool())
    .await?;
    let mut ended = 0;
    for (owner, pid) in holders {
        if u32::try_from(pid).is_ok_and(|pid| !alive(pid)) {
            ended += sqlx::query(
                "UPDATE task_instances SET lease_expires_ms = 0 WHERE lease_owner = $1 AND state = 'running'",
            )
            .bind(&owner)
            .execute(db.pool())
            .await?
            .rows_affected();
        }
    }
    Ok(ended)
}

/// Gives back the attempts `owner` is running because it is stopping in order: each attempt is
/// counted and recorded as interrupted, and the task queued again with one more attempt
/// allowed (it was not the task's fault). A crash, which never gets here, goes through the
/// reaper and the task's own retries.
pub async fn release(db: &Database, owner: &str, now_ms: i64) -> Result<u64, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "UPDATE task_attempts SET state = 'failed', ended_ms = $1, \
         message = 'interrupted: the okrflow process running it stopped; queued again' \
         WHERE owner = $2 AND state = 'running'",
    )
    .bind(now_ms)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query(
        "UPDATE task_instances SET state = 'queued', max_attempts = max_attempts + 1, ready_ms = $1, \
         lease_owner = NULL, lease_expires_ms = NULL, deadline_ms = NULL, \
         message = 'interrupted: the okrflow process running it stopped; queued again' \
         WHERE lease_owner = $2 AND state = 'running'",
    )
    .bind(now_ms)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// A running attempt that an action stopped, so its process kills it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stopped {
    pub task_id: String,
    pub attempt: u32,
    pub owner: String,
}

/// Cancels a run: every task not ended is cancelled (running attempts stop at their next lease
/// renewal, at once in their own process), the run ends cancelled, and the runs queued behind it
/// start. `None` when there is no such run; the attempts to stop, or the state of a run that
/// had ended already.
pub async fn cancel_run(
    db: &Database,
    run_id: i64,
    message: &str,
    now_ms: i64,
) -> Result<Option<Result<Vec<Stopped>, RunState>>, sqlx::Error> {
    // Read before the transaction: on SQLite its first statement must be the lock (a write).
    let Some((pipeline_id, _)) = pipeline_of(&mut *db.pool().acquire().await?, run_id).await? else {
        return Ok(None);
    };
    let mut tx = db.pool().begin().await?;
    lock_pipeline(&mut tx, db.backend(), &pipeline_id).await?;
    let state: String =
        sqlx::query_scalar("SELECT state FROM pipeline_runs WHERE id = $1").bind(run_id).fetch_one(&mut *tx).await?;
    let state = RunState::parse(&state).ok_or_else(|| decode("pipeline_runs.state", &state))?;
    if state.is_done() {
        return Ok(Some(Err(state)));
    }
    let stopped = stop_running(&mut tx, run_id, None, message, now_ms).await?;
    sqlx::query(
        "UPDATE task_instances SET state = 'cancelled', message = $1, ended_ms = $2, lease_owner = NULL, \
         lease_expires_ms = NULL, deadline_ms = NULL WHERE run_id = $3 AND state IN ('pending', 'queued', 'running')",
    )
    .bind(message)
    .bind(now_ms)
    .bind(run_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE pipeline_runs SET state = 'cancelled', ended_ms = $1, note = $2 WHERE id = $3")
        .bind(now_ms)
        .bind(message)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    start_queued(&mut tx, &pipeline_id, now_ms).await?;
    tx.commit().await?;
    Ok(Some(Ok(stopped)))
}

/// Ends the running attempts of a run (or of one task of it) as cancelled; which they were.
async fn stop_running(
    conn: &mut AnyConnection,
    run_id: i64,
    task_id: Option<&str>,
    message: &str,
    now_ms: i64,
) -> Result<Vec<Stopped>, sqlx::Error> {
    let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT task_id, attempts, lease_owner FROM task_instances WHERE run_id = $1 AND state = 'running' \
         AND (CAST($2 AS TEXT) IS NULL OR task_id = $2)",
    )
    .bind(run_id)
    .bind(task_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (task_id, attempt, owner) in rows {
        let attempt = attempt.clamp(0, u32::MAX as i64) as u32;
        end_attempt(conn, run_id, &task_id, attempt, TaskState::Cancelled, Some(message), now_ms).await?;
        out.push(Stopped { task_id, attempt, owner: owner.unwrap_or_default() });
    }
    Ok(out)
}

/// Why a change to one task was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskRefusal {
    NoRun,
    NoTask,
    /// The task is not in a state the change applies to; its state.
    State(TaskState),
}

/// Ends one task as `state` (cancelled, or marked success or failed with a note): a running
/// attempt is stopped, then the run goes on as the task's downstream rules say.
pub async fn set_task(
    db: &Database,
    definition: &Definition,
    run_id: i64,
    task_id: &str,
    state: TaskState,
    message: &str,
    now_ms: i64,
) -> Result<Result<Vec<Stopped>, TaskRefusal>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    lock_pipeline(&mut tx, db.backend(), &definition.id).await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT state FROM task_instances WHERE run_id = $1 AND task_id = $2")
            .bind(run_id)
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(current) = current else {
        let run: Option<i64> = sqlx::query_scalar("SELECT id FROM pipeline_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        return Ok(Err(if run.is_none() { TaskRefusal::NoRun } else { TaskRefusal::NoTask }));
    };
    let current = TaskState::parse(&current).ok_or_else(|| decode("task_instances.state", &current))?;
    // A cancel stops what has not ended; a mark also overrides an ended task's outcome.
    if state == TaskState::Cancelled && current.is_done() {
        return Ok(Err(TaskRefusal::State(current)));
    }
    let stopped = stop_running(&mut tx, run_id, Some(task_id), message, now_ms).await?;
    sqlx::query(
        "UPDATE task_instances SET state = $1, message = $2, ended_ms = $3, lease_owner = NULL, lease_expires_ms = NULL, \
         deadline_ms = NULL WHERE run_id = $4 AND task_id = $5",
    )
    .bind(state.as_str())
    .bind(message)
    .bind(now_ms)
    .bind(run_id)
    .bind(task_id)
    .execute(&mut *tx)
    .await?;
    // What the rules decided without running (skipped, upstream failed) is decided again
    // from the new outcome.
    for t in dag::downstream_of(definition, task_id) {
        sqlx::query(
            "UPDATE task_instances SET state = 'pending', message = NULL, ended_ms = NULL \
             WHERE run_id = $1 AND task_id = $2 AND state IN ('skipped', 'upstream_failed')",
        )
        .bind(run_id)
        .bind(&t)
        .execute(&mut *tx)
        .await?;
    }
    reopen_if_ended(&mut tx, run_id).await?;
    settle(&mut tx, definition, run_id, now_ms).await?;
    tx.commit().await?;
    Ok(Ok(stopped))
}

/// A run that had ended runs again (its tasks were cleared or re-marked).
async fn reopen_if_ended(conn: &mut AnyConnection, run_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE pipeline_runs SET state = 'running', ended_ms = NULL WHERE id = $1 AND state IN ('success', 'failed', 'cancelled')",
    )
    .bind(run_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Clears a task and every task downstream of it so they run again (with their full retries
/// anew; earlier attempts stay in the history), and the run runs again if it had ended.
/// Running attempts among them are stopped. The tasks that were reset.
pub async fn clear(
    db: &Database,
    definition: &Definition,
    run_id: i64,
    task_id: &str,
    message: &str,
    now_ms: i64,
) -> Result<Result<(Vec<String>, Vec<Stopped>), TaskRefusal>, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    lock_pipeline(&mut tx, db.backend(), &definition.id).await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT state FROM task_instances WHERE run_id = $1 AND task_id = $2")
            .bind(run_id)
            .bind(task_id)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        let run: Option<i64> = sqlx::query_scalar("SELECT id FROM pipeline_runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        return Ok(Err(if run.is_none() { TaskRefusal::NoRun } else { TaskRefusal::NoTask }));
    }
    let mut reset = vec![task_id.to_string()];
    reset.extend(dag::downstream_of(definition, task_id));
    let mut stopped = Vec::new();
    for t in &reset {
        stopped.extend(stop_running(&mut tx, run_id, Some(t), message, now_ms).await?);
        sqlx::query(
            "UPDATE task_instances SET state = 'pending', message = NULL, output_json = NULL, started_ms = NULL, \
             ended_ms = NULL, lease_owner = NULL, lease_expires_ms = NULL, deadline_ms = NULL, ready_ms = $1, \
             max_attempts = attempts + $2 WHERE run_id = $3 AND task_id = $4",
        )
        .bind(now_ms)
        .bind(definition.task(t).map_or(1, |s| s.retry.retries as i64 + 1))
        .bind(run_id)
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    reopen_if_ended(&mut tx, run_id).await?;
    sqlx::query("UPDATE pipeline_runs SET state = 'running', started_ms = COALESCE(started_ms, $1) WHERE id = $2 AND state = 'queued'")
        .bind(now_ms)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
    settle(&mut tx, definition, run_id, now_ms).await?;
    tx.commit().await?;
    Ok(Ok((reset, stopped)))
}

const RUN_COLUMNS: &str = "id, pipeline_id, version, state, trigger_kind, triggered_by, params_json, scheduled_ms, \
     note, created_ms, started_ms, ended_ms";

fn run_of(row: &AnyRow) -> Result<RunSummary, sqlx::Error> {
    let state: String = row.try_get("state")?;
    let trigger: String = row.try_get("trigger_kind")?;
    let params: String = row.try_get("params_json")?;
    Ok(RunSummary {
        id: row.try_get("id")?,
        pipeline_id: row.try_get("pipeline_id")?,
        version: row.try_get("version")?,
        state: RunState::parse(&state).ok_or_else(|| decode("pipeline_runs.state", &state))?,
        trigger: TriggerKind::parse(&trigger).ok_or_else(|| decode("pipeline_runs.trigger_kind", &trigger))?,
        triggered_by: row.try_get("triggered_by")?,
        params: serde_json::from_str(&params).map_err(|e| decode("pipeline_runs.params_json", e))?,
        scheduled_ms: row.try_get("scheduled_ms")?,
        note: row.try_get("note")?,
        created_ms: row.try_get("created_ms")?,
        started_ms: row.try_get("started_ms")?,
        ended_ms: row.try_get("ended_ms")?,
    })
}

/// One run with its tasks (in the definition's order) and every attempt.
pub async fn get(db: &Database, run_id: i64) -> Result<Option<super::RunView>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE id = $1"))
        .bind(run_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let run = run_of(&row)?;
    let tasks = sqlx::query(
        "SELECT task_id, state, attempts, max_attempts, ready_ms, started_ms, ended_ms, message, output_json, lease_owner \
         FROM task_instances WHERE run_id = $1 ORDER BY position",
    )
    .bind(run_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let state: String = r.try_get("state")?;
        Ok(TaskInstanceView {
            task_id: r.try_get("task_id")?,
            state: TaskState::parse(&state).ok_or_else(|| decode("task_instances.state", &state))?,
            attempts: r.try_get::<i64, _>("attempts")?.clamp(0, u32::MAX as i64) as u32,
            max_attempts: r.try_get::<i64, _>("max_attempts")?.clamp(0, u32::MAX as i64) as u32,
            ready_ms: r.try_get("ready_ms")?,
            started_ms: r.try_get("started_ms")?,
            ended_ms: r.try_get("ended_ms")?,
            message: r.try_get("message")?,
            output: r.try_get("output_json")?,
            owner: r.try_get("lease_owner")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let attempts = sqlx::query(
        "SELECT task_id, attempt, owner, state, message, started_ms, ended_ms, log_bytes, log_cut FROM task_attempts \
         WHERE run_id = $1 ORDER BY started_ms, task_id, attempt",
    )
    .bind(run_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let state: String = r.try_get("state")?;
        Ok(AttemptView {
            task_id: r.try_get("task_id")?,
            attempt: r.try_get::<i64, _>("attempt")?.clamp(0, u32::MAX as i64) as u32,
            owner: r.try_get("owner")?,
            state: TaskState::parse(&state).ok_or_else(|| decode("task_attempts.state", &state))?,
            message: r.try_get("message")?,
            started_ms: r.try_get("started_ms")?,
            ended_ms: r.try_get("ended_ms")?,
            log_bytes: r.try_get::<i64, _>("log_bytes")?.max(0) as u64,
            log_cut: r.try_get::<i64, _>("log_cut")? != 0,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(super::RunView { run, tasks, attempts }))
}

/// The newest runs, of one pipeline or of all, at most `limit`, before run `before` (paging).
pub async fn list(
    db: &Database,
    pipeline_id: Option<&str>,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<RunSummary>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE (CAST($1 AS TEXT) IS NULL OR pipeline_id = $1) \
         AND (CAST($2 AS BIGINT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(pipeline_id)
    .bind(before)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(run_of).collect()
}

/// The newest `per` runs of every pipeline, newest first, from one query.
pub async fn recent_by_pipeline(db: &Database, per: u32) -> Result<HashMap<String, Vec<super::RunDot>>, sqlx::Error> {
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT pipeline_id, id, state FROM (SELECT pipeline_id, id, state, \
         ROW_NUMBER() OVER (PARTITION BY pipeline_id ORDER BY id DESC) AS n FROM pipeline_runs) ranked \
         WHERE n <= $1 ORDER BY pipeline_id, id DESC",
    )
    .bind(per as i64)
    .fetch_all(db.pool())
    .await?;
    let mut out: HashMap<String, Vec<super::RunDot>> = HashMap::new();
    for (pipeline, id, state) in rows {
        let state = RunState::parse(&state).ok_or_else(|| decode("pipeline_runs.state", &state))?;
        out.entry(pipeline).or_default().push(super::RunDot { id, state });
    }
    Ok(out)
}

/// The grid of a pipeline's newest `limit` runs by task: the runs and every task instance's
/// state in them, in two queries however many runs and tasks there are.
pub async fn grid(db: &Database, pipeline_id: &str, limit: u32) -> Result<super::RunGrid, sqlx::Error> {
    let runs = list(db, Some(pipeline_id), None, limit).await?;
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT t.run_id, t.task_id, t.state, t.attempts FROM task_instances t WHERE t.run_id IN \
         (SELECT id FROM pipeline_runs WHERE pipeline_id = $1 ORDER BY id DESC LIMIT $2) ORDER BY t.run_id DESC, t.position",
    )
    .bind(pipeline_id)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    let cells = rows
        .into_iter()
        .map(|(run, task, state, attempts)| {
            let state = TaskState::parse(&state).ok_or_else(|| decode("task_instances.state", &state))?;
            Ok((run, task, state, attempts.clamp(0, u32::MAX as i64) as u32))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(super::RunGrid { runs, cells })
}

/// How many runs are in each state (the Overview and the scheduler's component).
pub async fn counts(db: &Database) -> Result<BTreeMap<String, u64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM pipeline_runs GROUP BY state").fetch_all(db.pool()).await?;
    Ok(rows.into_iter().map(|(s, n)| (s, n.max(0) as u64)).collect())
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
