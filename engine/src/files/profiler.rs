//! The background profiler: one task that takes queued files in order and profiles each on
//! the blocking pool (polars already uses both cores for one file). A profile that fails, or
//! a parser that panics, marks the file failed with the message; the bytes stay.

use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::mpsc;

use super::{profile, records};
use crate::db::Database;

#[derive(Clone)]
pub struct Profiler {
    queue: mpsc::UnboundedSender<String>,
}

impl Profiler {
    /// Starts the task over files stored in `dir`.
    pub fn spawn(db: Database, dir: PathBuf) -> Profiler {
        let (queue, mut ids) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(id) = ids.recv().await {
                if let Err(e) = run(&db, &dir, &id).await {
                    tracing::error!(file = %id, error = %e, "could not record a profile");
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

async fn run(db: &Database, dir: &std::path::Path, id: &str) -> Result<(), sqlx::Error> {
    let Some(kind) = records::claim(db, id).await? else { return Ok(()) };
    let path = dir.join(id);
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || profile::profile(&path, kind))
        .await
        .unwrap_or_else(|e| Err(format!("the {} parser stopped unexpectedly: {e}", kind.description())));
    let took = started.elapsed();
    match &outcome {
        Ok(_) => tracing::info!(file = %id, kind = kind.as_str(), took_ms = took.as_millis() as u64, "file profiled"),
        Err(message) => tracing::warn!(file = %id, kind = kind.as_str(), %message, "file could not be profiled"),
    }
    if let Err(e) = records::finish(db, id, &outcome, took.as_millis() as u64).await {
        // A profile too big to store, or a database hiccup: say so on the file rather than
        // leaving it "profiling" (and the page polling) until the next start.
        let failed = Err(format!("the profile could not be stored: {e}"));
        records::finish(db, id, &failed, took.as_millis() as u64).await?;
    }
    Ok(())
}
