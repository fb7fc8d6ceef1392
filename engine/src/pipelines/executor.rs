//! The executor: a process's worker slots. Each slot claims a queued task instance from the
//! database with a lease (any `serve` or `worker` process over the database may), renews the
//! lease while the attempt runs, captures its output as the attempt's log, enforces its
//! timeout, stops it when the lease is lost (cancelled, marked, reaped), and records its end,
//! which queues what comes next. The same loop reaps the leases of processes that stopped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, Semaphore};

use super::attempt_log::{self, LogKey, LogSink};
use super::runs::{self, Attempt, Claimed, Ended, Outcome};
use super::{Definition, TaskSpec, TaskType};
use crate::db::Database;
use crate::storage::Storage;

/// How a process runs tasks.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Attempts this process runs at once (0: none; it still reaps).
    pub slots: usize,
    /// How long a claimed attempt stays this process's without a renewal (renewed every
    /// third of it).
    pub lease: Duration,
    /// Task instances running at once across every process, if bounded.
    pub max_running: Option<u32>,
    pub max_log_bytes: u64,
    /// `<data-dir>/runs`: each run's working folder (`command` tasks run inside it).
    pub runs_dir: PathBuf,
    /// How often the queue is looked at when nothing woke the executor (work queued by
    /// another process has no other way to reach this one).
    pub poll: Duration,
}

impl ExecutorConfig {
    pub fn new(runs_dir: PathBuf) -> ExecutorConfig {
        ExecutorConfig {
            slots: 4,
            lease: Duration::from_secs(30),
            max_running: None,
            max_log_bytes: attempt_log::DEFAULT_MAX_LOG_BYTES,
            runs_dir,
            poll: Duration::from_millis(500),
        }
    }
}

/// How often expired leases are reaped and unsealed logs sealed.
const REAP_EVERY: Duration = Duration::from_secs(2);

/// What the executor of this process shares with the pipelines handle: a wake-up when work
/// was queued here, and a stop for each attempt it runs (a cancel in this process stops it at
/// once; one from another process is seen at the next renewal).
#[derive(Default)]
pub struct Local {
    pub wake: Notify,
    running: Mutex<HashMap<(i64, String), Arc<Notify>>>,
    /// When this process's scheduler last looked at the schedules (0: never).
    pub last_tick_ms: std::sync::atomic::AtomicI64,
}

impl Local {
    /// Stops the attempt of `task_id` in `run_id` if this process runs it.
    pub fn stop(&self, run_id: i64, task_id: &str) {
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stop) = running.get(&(run_id, task_id.to_string())) {
            stop.notify_one();
        }
    }

    fn register(&self, run_id: i64, task_id: &str) -> Arc<Notify> {
        let stop = Arc::new(Notify::new());
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.insert((run_id, task_id.to_string()), stop.clone());
        stop
    }

    fn unregister(&self, run_id: i64, task_id: &str) {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.remove(&(run_id, task_id.to_string()));
    }

    /// How many attempts this process runs now.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

/// Finds the definition a run was created with.
pub trait Definitions: Send + Sync + 'static {
    fn definition_at(
        &self,
        id: &str,
        version: i64,
    ) -> impl std::future::Future<Output = Result<Arc<Definition>, String>> + Send;
}

struct Context<D> {
    db: Database,
    storage: Storage,
    definitions: D,
    owner: String,
    config: ExecutorConfig,
    local: Arc<Local>,
}

/// Starts the executor's loop; it runs until aborted.
pub fn spawn<D: Definitions>(
    db: Database,
    storage: Storage,
    definitions: D,
    owner: String,
    config: ExecutorConfig,
    local: Arc<Local>,
) -> tokio::task::JoinHandle<()> {
    let ctx = Arc::new(Context { db, storage, definitions, owner, config, local });
    tokio::spawn(async move { work(ctx).await })
}

async fn work<D: Definitions>(ctx: Arc<Context<D>>) {
    let slots = Arc::new(Semaphore::new(ctx.config.slots));
    let host = crate::processes::host();
    let me = std::process::id();
    let alive = |pid: u32| pid == me || std::path::Path::new(&format!("/proc/{pid}")).exists();
    match runs::expire_leases_of_dead(&ctx.db, &host, alive).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tasks = n, "taking back tasks whose okrflow process on this host is gone"),
        Err(e) => tracing::warn!(error = %e, "could not look for tasks of processes that are gone"),
    }
    let mut reaped_at: Option<Instant> = None;
    let mut failing = false;
    loop {
        if reaped_at.is_none_or(|t| t.elapsed() >= REAP_EVERY) {
            reaped_at = Some(Instant::now());
            reap(&ctx).await;
        }
        let permit = if ctx.config.slots == 0 {
            None
        } else {
            match slots.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => None,
            }
        };
        if let Some(permit) = permit {
            let now = crate::now_ms();
            let until = now + ctx.config.lease.as_millis() as i64;
            match runs::claim(&ctx.db, &ctx.owner, now, until, ctx.config.max_running).await {
                Ok(Some(claimed)) => {
                    failing = false;
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        run_attempt(&ctx, claimed).await;
                        drop(permit);
                        ctx.local.wake.notify_one();
                    });
                    continue;
                }
                Ok(None) => failing = false,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "could not claim a task to run; trying again");
                    }
                    failing = true;
                }
            }
        }
        tokio::select! {
            _ = ctx.local.wake.notified() => {}
            _ = tokio::time::sleep(ctx.config.poll) => {}
        }
    }
}

/// Ends the attempts whose lease ran out as failed with the reason (retried if the task has
/// attempts left), and seals the logs their processes left in chunks.
async fn reap<D: Definitions>(ctx: &Context<D>) {
    let now = crate::now_ms();
    let expired = match runs::expired(&ctx.db, now, 100).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for task leases that ran out");
            return;
        }
    };
    for e in expired {
        let definition = match ctx.definitions.definition_at(&e.pipeline_id, e.version).await {
            Ok(d) => d,
            Err(message) => {
                tracing::error!(run = e.run_id, task = %e.task_id, "cannot reap: {message}");
                continue;
            }
        };
        let reason = format!(
            "lease expired: the okrflow process {} stopped renewing its lease on attempt {} (it died, hung or lost the database)",
            e.owner, e.attempt
        );
        let attempt = Attempt { run_id: e.run_id, task_id: &e.task_id, attempt: e.attempt, owner: &e.owner };
        match runs::finish(&ctx.db, &definition, &attempt, &Outcome::Failed(reason), now, unit(), Some(now)).await {
            Ok(Ended::NotOwned) => {}
            Ok(ended) => {
                tracing::warn!(run = e.run_id, task = %e.task_id, attempt = e.attempt, owner = %e.owner, ?ended, "a task's lease ran out");
                ctx.local.wake.notify_one();
            }
            Err(err) => {
                tracing::warn!(run = e.run_id, task = %e.task_id, error = %err, "could not reap a task's lease")
            }
        }
    }
    // Two leases after its end the attempt's process has stopped writing or is gone.
    let settled = now - 2 * ctx.config.lease.as_millis() as i64;
    if let Ok(keys) = attempt_log::unsealed(&ctx.db, settled, 50).await {
        for key in keys {
            if ctx
                .local
                .running
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains_key(&(key.run_id, key.task_id.clone()))
            {
                continue;
            }
            if let Err(e) = attempt_log::seal(&ctx.db, &ctx.storage, &key).await {
                tracing::warn!(run = key.run_id, task = %key.task_id, error = %e, "could not store a task's log");
            }
        }
    }
}

/// A number in [0, 1) for a retry's jitter.
fn unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// Why an attempt stopped before its work ended.
enum Interrupted {
    LeaseLost,
    Stopped,
}

async fn run_attempt<D: Definitions>(ctx: &Context<D>, claimed: Claimed) {
    let key = LogKey { run_id: claimed.run_id, task_id: claimed.task_id.clone(), attempt: claimed.attempt };
    let stop = ctx.local.register(claimed.run_id, &claimed.task_id);
    let mut log = LogSink::new(ctx.db.clone(), key.clone(), ctx.config.max_log_bytes);
    let attempt =
        Attempt { run_id: claimed.run_id, task_id: &claimed.task_id, attempt: claimed.attempt, owner: &ctx.owner };
    let definition = ctx.definitions.definition_at(&claimed.pipeline_id, claimed.version).await;
    let (outcome, definition) = match definition {
        Err(message) => (Some(Outcome::Failed(message)), None),
        Ok(definition) => match definition.task(&claimed.task_id).cloned() {
            None => (
                Some(Outcome::Failed(format!(
                    "version {} of pipeline '{}' has no task '{}'",
                    claimed.version, claimed.pipeline_id, claimed.task_id
                ))),
                Some(definition),
            ),
            Some(spec) => {
                let outcome = supervise(ctx, &claimed, &spec, &mut log, &stop).await;
                (outcome, Some(definition))
            }
        },
    };
    log.flush().await;
    ctx.local.unregister(claimed.run_id, &claimed.task_id);
    let Some(outcome) = outcome else {
        // Cancelled, marked or reaped elsewhere: that action recorded the end.
        seal_quietly(ctx, &key).await;
        return;
    };
    let Some(definition) = definition else {
        tracing::error!(run = claimed.run_id, task = %claimed.task_id, "{outcome:?}");
        seal_quietly(ctx, &key).await;
        return;
    };
    let now = crate::now_ms();
    match runs::finish(&ctx.db, &definition, &attempt, &outcome, now, unit(), None).await {
        Ok(_) => {}
        Err(e) => {
            tracing::error!(run = claimed.run_id, task = %claimed.task_id, error = %e, "could not record a task's end")
        }
    }
    seal_quietly(ctx, &key).await;
}

async fn seal_quietly<D: Definitions>(ctx: &Context<D>, key: &LogKey) {
    if let Err(e) = attempt_log::seal(&ctx.db, &ctx.storage, key).await {
        tracing::warn!(run = key.run_id, task = %key.task_id, error = %e, "could not store a task's log (the reaper tries again)");
    }
}

/// Runs the task under its lease, timeout and stop; None when it was interrupted (the action
/// that interrupted it recorded its end).
async fn supervise<D: Definitions>(
    ctx: &Context<D>,
    claimed: &Claimed,
    spec: &TaskSpec,
    log: &mut LogSink,
    stop: &Notify,
) -> Option<Outcome> {
    log.push(&format!(
        "[okrflow] {} attempt {} ({}) on process {}\n",
        spec.id,
        claimed.attempt,
        spec.task.name(),
        ctx.owner
    ))
    .await;
    let started = Instant::now();
    let timeout = (claimed.timeout_ms > 0).then(|| Duration::from_millis(claimed.timeout_ms));
    let interrupted = async {
        tokio::select! {
            _ = keep_lease(ctx, claimed) => Interrupted::LeaseLost,
            _ = stop.notified() => Interrupted::Stopped,
        }
    };
    let result = {
        let work = execute(ctx, claimed, spec, log);
        tokio::select! {
        r = work => Some(r),
        why = interrupted => {
            let _ = why;
            None
        }
        _ = async { match timeout { Some(t) => tokio::time::sleep(t).await, None => std::future::pending().await } } => {
            Some(Err(format!("timed out after {}", humantime::format_duration(timeout.unwrap_or_default()))))
        }
        }
    };
    let took = humantime::format_duration(Duration::from_millis(started.elapsed().as_millis() as u64));
    match result {
        None => {
            log.push(&format!("[okrflow] stopped after {took}: cancelled, marked or its lease lost\n")).await;
            None
        }
        Some(Ok(output)) => {
            log.push(&format!("[okrflow] succeeded in {took}\n")).await;
            Some(Outcome::Success(output))
        }
        Some(Err(message)) => {
            log.push(&format!("[okrflow] failed after {took}: {message}\n")).await;
            Some(Outcome::Failed(message))
        }
    }
}

/// Renews the lease every third of it; returns when it is lost.
async fn keep_lease<D: Definitions>(ctx: &Context<D>, claimed: &Claimed) {
    let lease = ctx.config.lease;
    let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(50)));
    tick.tick().await;
    let mut failures = 0u32;
    loop {
        tick.tick().await;
        let until = crate::now_ms() + lease.as_millis() as i64;
        match runs::renew(&ctx.db, claimed.run_id, &claimed.task_id, claimed.attempt, &ctx.owner, until).await {
            Ok(true) => failures = 0,
            Ok(false) => return,
            // The database is away: keep working while the lease may still be ours.
            Err(e) => {
                failures += 1;
                tracing::warn!(run = claimed.run_id, task = %claimed.task_id, error = %e, "could not renew a task's lease");
                if failures >= 3 {
                    return;
                }
            }
        }
    }
}

/// What the placeholders of a config read for this attempt.
fn lookup(claimed: &Claimed) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        if let Some(param) = name.strip_prefix("params.") {
            return claimed.params.get(param).map(|v| v.as_text());
        }
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(claimed.logical_ms)?;
        match name {
            "run.id" => Some(claimed.run_id.to_string()),
            "run.date" => Some(at.format("%Y-%m-%d").to_string()),
            "run.time" => Some(at.format("%H:%M:%S").to_string()),
            "pipeline.id" => Some(claimed.pipeline_id.clone()),
            _ => None,
        }
    }
}

async fn execute<D: Definitions>(
    ctx: &Context<D>,
    claimed: &Claimed,
    spec: &TaskSpec,
    log: &mut LogSink,
) -> Result<Option<serde_json::Value>, String> {
    match &spec.task {
        TaskType::Noop(_) => Ok(None),
        TaskType::Branch(b) => {
            let input = b.input.clone().or_else(|| spec.upstream.first().cloned()).unwrap_or_default();
            let value = claimed
                .outputs
                .get(&input)
                .and_then(|o| o.get(&b.field))
                .ok_or_else(|| format!("upstream '{input}' gave no field '{}' to branch on", b.field))?;
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let chose = b.cases.get(&text).cloned().unwrap_or_else(|| b.default.clone());
            log.push(&format!(
                "{}.{} is {text}: running {}\n",
                input,
                b.field,
                if chose.is_empty() { "none".to_string() } else { chose.join(", ") }
            ))
            .await;
            Ok(Some(serde_json::json!({ "value": value, "chose": chose })))
        }
        TaskType::Command(c) => command(ctx, claimed, c, log).await,
        other => {
            Err(format!("task type {} does not run in this okrflow yet (noop, branch and command do)", other.name()))
        }
    }
}

/// Kills a command's whole process group when dropped: the attempt ended, timed out, was
/// cancelled or lost its lease, and nothing it started may outlive it.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) on our own child's process group; no memory is involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}

async fn command<D: Definitions>(
    ctx: &Context<D>,
    claimed: &Claimed,
    c: &super::Command,
    log: &mut LogSink,
) -> Result<Option<serde_json::Value>, String> {
    let fill = |text: &str| super::template::fill(text, lookup(claimed));
    let program = fill(&c.program).map_err(|e| format!("config.program {e}"))?;
    let args = c.args.iter().map(|a| fill(a)).collect::<Result<Vec<_>, _>>().map_err(|e| format!("config.args {e}"))?;
    let run_dir = ctx.config.runs_dir.join(claimed.run_id.to_string());
    let workdir = match &c.workdir {
        Some(w) => run_dir.join(fill(w).map_err(|e| format!("config.workdir {e}"))?),
        None => run_dir.clone(),
    };
    tokio::fs::create_dir_all(&workdir)
        .await
        .map_err(|e| format!("cannot make the folder {}: {e}", workdir.display()))?;
    let mut cmd = tokio::process::Command::new(&program);
    cmd.args(&args)
        .current_dir(&workdir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for name in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    cmd.env("OKRFLOW_PIPELINE_ID", &claimed.pipeline_id)
        .env("OKRFLOW_RUN_ID", claimed.run_id.to_string())
        .env("OKRFLOW_TASK_ID", &claimed.task_id)
        .env("OKRFLOW_ATTEMPT", claimed.attempt.to_string())
        .env("OKRFLOW_RUN_DIR", &run_dir);
    for (name, value) in &c.env {
        cmd.env(name, fill(value).map_err(|e| format!("config.env.{name} {e}"))?);
    }
    log.push(&format!("[okrflow] $ {program} {}\n", args.join(" "))).await;
    let mut child = cmd.spawn().map_err(|e| format!("cannot start '{program}': {e}"))?;
    let _group = Group(child.id());
    let mut out = tokio::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut err = tokio::io::BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let mut flush = tokio::time::interval(Duration::from_millis(250));
    while out_open || err_open {
        tokio::select! {
            n = out.read_until(b'\n', &mut out_line), if out_open => {
                match n {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(_) => log.push(&String::from_utf8_lossy(&out_line)).await,
                }
                out_line.clear();
            }
            n = err.read_until(b'\n', &mut err_line), if err_open => {
                match n {
                    Ok(0) | Err(_) => err_open = false,
                    Ok(_) => log.push(&String::from_utf8_lossy(&err_line)).await,
                }
                err_line.clear();
            }
            _ = flush.tick() => log.flush().await,
        }
    }
    let status = child.wait().await.map_err(|e| format!("cannot wait for '{program}': {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(Some(serde_json::json!({ "exit_code": 0 }))),
        (Some(code), _) => Err(format!("'{program}' exited with status {code}")),
        (None, Some(signal)) => Err(format!("'{program}' was killed by signal {signal}")),
        (None, None) => Err(format!("'{program}' ended without a status")),
    }
}
