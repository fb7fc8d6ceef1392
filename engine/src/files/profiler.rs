//! The background profiler: one task per process that claims the oldest queued file from the
//! database with a lease (any process over the same database may run one), renews the lease
//! while it works, and profiles the file in a child process under [`ProfileLimits`] (see
//! [`sandbox`](super::sandbox)), so a hostile file costs only its own job. It also reaps leases
//! that ran out: their process died or hung, so the file is queued again or, out of attempts,
//! failed with the reason. A parser's message or a limit reached marks the file failed with
//! the reason; a process that died for no stated reason is tried again, up to the limit's
//! attempts. Without a profiler program (the engine's own unit tests) profiles run on the
//! blocking pool in-process, bounded the same way.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::sandbox::{self, ChildOutcome, Envelope, Job, ProfileLimits};
use super::{profile, records};
use crate::db::Database;
use crate::storage::Storage;

/// How profiles are run.
#[derive(Clone, Debug, Default)]
pub struct ProfilerConfig {
    /// The `okrflow` binary that runs `file-job`; `None` profiles in-process.
    pub program: Option<PathBuf>,
    pub limits: ProfileLimits,
    /// Take no work and sweep nothing at start: `okrflow migrate`, `serve --no-jobs`, or a
    /// process that must not profile.
    pub idle: bool,
    /// How long a claimed file stays this process's without a renewal (renewed every third of
    /// it); after that any process may take it again. `None`: [`DEFAULT_LEASE`].
    pub lease: Option<Duration>,
}

/// The default lease on a file being profiled.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// How often the queue is looked at when nothing woke the profiler (work queued by another
/// process has no other way to reach this one).
const POLL: Duration = Duration::from_secs(1);
/// How often leases that ran out are reaped.
const REAP_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Profiler {
    wake: Arc<Notify>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    owner: String,
}

impl Profiler {
    /// Starts the task over files in `storage`, claiming as `owner` (this process's id).
    pub fn spawn(db: Database, storage: Storage, config: ProfilerConfig, owner: String) -> Profiler {
        let wake = Arc::new(Notify::new());
        let task = (!config.idle).then(|| {
            let (wake, owner) = (wake.clone(), owner.clone());
            tokio::spawn(async move { work(db, storage, config, owner, wake).await })
        });
        Profiler { wake, task: Arc::new(Mutex::new(task)), owner }
    }

    /// A file was queued: look at the queue now rather than at the next poll.
    pub fn enqueue(&self, _id: &str) {
        self.wake.notify_one();
    }

    /// The process id this profiler's leases carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops the task; a profile under way is abandoned (its child process killed) and its
    /// lease stays for the caller to release.
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn work(db: Database, storage: Storage, config: ProfilerConfig, owner: String, wake: Arc<Notify>) {
    let lease = config.lease.unwrap_or(DEFAULT_LEASE);
    let max_attempts = config.limits.max_attempts;
    let host = crate::processes::host();
    let me = std::process::id();
    // Files a crashed okrflow on this machine left half-profiled are taken at once, not after
    // their lease runs out; another host's are left to their leases.
    let alive = |pid: u32| pid == me || std::path::Path::new(&format!("/proc/{pid}")).exists();
    match records::expire_leases_of_dead(&db, &host, alive).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "taking back files whose okrflow process on this host is gone"),
        Err(e) => tracing::warn!(error = %e, "could not look for files of processes that are gone"),
    }
    let mut reaped_at: Option<Instant> = None;
    let mut failing = false;
    loop {
        if reaped_at.is_none_or(|t| t.elapsed() >= REAP_EVERY) {
            reaped_at = Some(Instant::now());
            match records::reap(&db, crate::now_ms(), max_attempts).await {
                Ok(r) if r.requeued + r.failed > 0 => tracing::warn!(
                    requeued = r.requeued,
                    failed = r.failed,
                    "leases ran out on files being profiled (their process stopped); requeued or failed them"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not reap profiling leases"),
            }
        }
        let until = crate::now_ms() + lease.as_millis() as i64;
        match records::claim_next(&db, &owner, until).await {
            Ok(Some(claimed)) => {
                failing = false;
                let id = claimed.id.clone();
                if let Err(e) = run(&db, &storage, &config, &owner, lease, claimed).await {
                    tracing::error!(file = %id, error = %e, "could not record a profile");
                }
                continue;
            }
            Ok(None) => failing = false,
            Err(e) => {
                // Said once per outage, not once a second.
                if !failing {
                    tracing::warn!(error = %e, "could not claim a file to profile; trying again");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Keeps `owner`'s lease on `id` until it is lost (then returns) or the caller stops polling.
async fn keep_lease(db: &Database, id: &str, owner: &str, lease: Duration) {
    let mut tick = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
    tick.tick().await;
    loop {
        tick.tick().await;
        match records::renew(db, id, owner, crate::now_ms() + lease.as_millis() as i64).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(file = %id, error = %e, "could not renew the lease on a file being profiled"),
        }
    }
}

/// Profiles one claimed file, renewing its lease meanwhile.
async fn run(
    db: &Database,
    storage: &Storage,
    config: &ProfilerConfig,
    owner: &str,
    lease: Duration,
    claimed: records::Claimed,
) -> Result<(), sqlx::Error> {
    let records::Claimed { id, kind, attempt, size_bytes, sha256 } = claimed;
    let id = id.as_str();
    let kind = match super::FileKind::parse(&kind) {
        Ok(kind) => kind,
        Err(e) => return records::finish(db, id, owner, &Err(e), 0).await,
    };
    let limits = &config.limits;
    let started = Instant::now();
    let profiling = async {
        // Inside the lease's select: a copy from a bucket may take a while.
        let copy = match storage.local_copy(id, size_bytes, &sha256).await {
            Ok(copy) => copy,
            Err(e) => return ChildOutcome::Died(format!("the stored file could not be read: {e}")),
        };
        let path = copy.path().to_path_buf();
        match &config.program {
            Some(program) => sandbox::run_in_child(program, &path, kind, &Job::Profile, limits).await,
            None => {
                let (columns, chars) = (limits.max_columns, limits.max_text_chars);
                let done = tokio::task::spawn_blocking(move || {
                    profile::profile(&path, kind).map(|mut p| {
                        profile::bound(&mut p, columns, chars);
                        p
                    })
                })
                .await;
                match done {
                    Ok(Ok(profile)) => ChildOutcome::Done(Envelope::Profile(profile)),
                    Ok(Err(message)) => ChildOutcome::Done(Envelope::Failed(message)),
                    Err(e) => ChildOutcome::Done(Envelope::Failed(format!(
                        "the {} parser stopped unexpectedly: {e}",
                        kind.description()
                    ))),
                }
            }
        }
    };
    let outcome = tokio::select! {
        outcome = profiling => outcome,
        () = keep_lease(db, id, owner, lease) => {
            // Reaped (this process looked dead), reprocessed or deleted meanwhile: whoever has it
            // now decides. Dropping the profile kills its child process.
            tracing::warn!(file = %id, "lost the lease on a file being profiled; abandoning this attempt");
            return Ok(());
        }
    };
    let took = started.elapsed();
    let took_ms = took.as_millis() as u64;
    let result = match outcome {
        ChildOutcome::Done(Envelope::Profile(profile)) => Ok(profile),
        ChildOutcome::Done(Envelope::Failed(message) | Envelope::WriteFailed(message)) => Err(message),
        ChildOutcome::Done(Envelope::Converted { .. }) => Err("the profiler process answered with a conversion".into()),
        ChildOutcome::Limit(reason) => Err(format!("the file {reason}")),
        ChildOutcome::Died(reason) if attempt < limits.max_attempts => {
            tracing::warn!(file = %id, attempt, %reason, "the profiler process died; trying again");
            let message = format!("attempt {attempt} of {}: {reason}; trying again", limits.max_attempts);
            records::retry(db, id, owner, &message).await?;
            return Ok(());
        }
        ChildOutcome::Died(reason) => Err(format!("{reason} ({attempt} attempts; not tried again)")),
    };
    match &result {
        Ok(_) => tracing::info!(file = %id, kind = kind.as_str(), took_ms, "file profiled"),
        Err(message) => tracing::warn!(file = %id, kind = kind.as_str(), %message, "file could not be profiled"),
    }
    if let Err(e) = records::finish(db, id, owner, &result, took_ms).await {
        // A profile too big to store, or a database hiccup: say so on the file rather than
        // leaving it "profiling" (and the page polling) until its lease runs out.
        let failed = Err(format!("the profile could not be stored: {e}"));
        records::finish(db, id, owner, &failed, took_ms).await?;
    }
    Ok(())
}
