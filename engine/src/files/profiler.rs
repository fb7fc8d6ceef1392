//! The background profiler: one task that takes queued files in order and profiles each in a
//! child process under [`ProfileLimits`] (see [`sandbox`](super::sandbox)), so a hostile file
//! costs only its own job. A parser's message or a limit reached marks the file failed with
//! the reason; a process that died for no stated reason is tried again, up to the limit's
//! attempts. Without a profiler program (the engine's own unit tests) profiles run on the
//! blocking pool in-process, bounded the same way.

use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::mpsc;

use super::sandbox::{self, ChildOutcome, Envelope, Job, ProfileLimits};
use super::{profile, records};
use crate::db::Database;

/// How profiles are run.
#[derive(Clone, Debug, Default)]
pub struct ProfilerConfig {
    /// The `okrflow` binary that runs `file-job`; `None` profiles in-process.
    pub program: Option<PathBuf>,
    pub limits: ProfileLimits,
    /// Take no work and sweep nothing at start: `okrflow migrate`, which stops at once and may
    /// run beside a live server.
    pub idle: bool,
}

#[derive(Clone)]
pub struct Profiler {
    queue: mpsc::UnboundedSender<String>,
}

impl Profiler {
    /// Starts the task over files stored in `dir`.
    pub fn spawn(db: Database, dir: PathBuf, config: ProfilerConfig) -> Profiler {
        let (queue, mut ids) = mpsc::unbounded_channel::<String>();
        let again = queue.clone();
        tokio::spawn(async move {
            while let Some(id) = ids.recv().await {
                match run(&db, &dir, &config, &id).await {
                    Ok(true) => {
                        let _ = again.send(id);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(file = %id, error = %e, "could not record a profile"),
                }
            }
        });
        Profiler { queue }
    }

    /// Profiles the file when its turn comes (it must be queued in the database).
    pub fn enqueue(&self, id: &str) {
        // Fails only when the task is gone (shutdown); the file stays queued for the next start.
        let _ = self.queue.send(id.to_string());
    }
}

/// Profiles one file; true when it was put back in the queue for another attempt.
async fn run(db: &Database, dir: &std::path::Path, config: &ProfilerConfig, id: &str) -> Result<bool, sqlx::Error> {
    let Some((kind, attempt)) = records::claim(db, id).await? else { return Ok(false) };
    let path = dir.join(id);
    let limits = &config.limits;
    let started = Instant::now();
    let outcome = match &config.program {
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
            return records::retry(db, id, &message).await;
        }
        ChildOutcome::Died(reason) => Err(format!("{reason} ({attempt} attempts; not tried again)")),
    };
    match &result {
        Ok(_) => tracing::info!(file = %id, kind = kind.as_str(), took_ms, "file profiled"),
        Err(message) => tracing::warn!(file = %id, kind = kind.as_str(), %message, "file could not be profiled"),
    }
    if let Err(e) = records::finish(db, id, &result, took_ms).await {
        // A profile too big to store, or a database hiccup: say so on the file rather than
        // leaving it "profiling" (and the page polling) until the next start.
        let failed = Err(format!("the profile could not be stored: {e}"));
        records::finish(db, id, &failed, took_ms).await?;
    }
    Ok(false)
}
