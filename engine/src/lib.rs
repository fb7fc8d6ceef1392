//! okrflow's domain engine: everything the server does that is not HTTP or UI.
//!
//! Module map:
//! - [`accounts`]: roles and users; with `runtime`, passwords (argon2id), sessions, API tokens,
//!   the audit log and the login rate limit.
//! - [`logs`]: log entries; with `runtime`, the in-memory ring buffer, the tracing layer that
//!   fills it, and the writer that keeps warnings and errors in the database.
//! - [`files`]: accepted file types with their signature checks, original names made safe, the
//!   views of stored files and profiles; with `runtime`, streaming storage, the records,
//!   background profiling (polars, calamine, archives, PDF, text), conversions and downloads.
//! - [`health`]: the health of okrflow's components and the overall status derived from them.
//! - [`monitoring`]: the one-second system samples, chart series and ranges, the Services
//!   page's view; with `runtime`, the sysinfo sampler, the stored minute history, external
//!   checks and the registry of components with their controls.
//! - [`pipelines`]: DAG definitions (typed parameters, a cron schedule in a time zone, typed
//!   tasks); with `runtime`, reading and checking them from TOML, cron times, placeholders.
//! - [`tracking`]: MLflow-compatible experiment tracking (experiments so far); with `runtime`,
//!   the store, MLflow's search filter and the `Tracking` handle.
//! - [`units`]: bytes, rates and durations as people read them.
//! - [`error`]: [`error::ErrorKind`], the kinds of failure every capability's error maps to,
//!   and the one mapping from kind to HTTP status.
//! - [`actor`] (`runtime`): who asks for an action and from where; every action takes one.
//! - [`db`] (`runtime`): the database handle, URL parsing, embedded migrations.
//! - [`storage`] (`runtime`): where bytes live (a directory or an S3-compatible bucket): streamed
//!   writes that leave nothing behind, ranged reads, local copies for parsers, the sweep.
//! - [`engine`] (`runtime`): [`Engine`], the one handle the web server, server functions and
//!   (later) workers share.
//!
//! Without the `runtime` feature only plain serde types remain, so the browser bundle can use
//! the same types as the server without compiling sqlx or tokio to wasm.
//!
//! Capabilities still to come live here under their own names:
//! `models` (OKR models); the rest of `pipelines` (the scheduler, the runs, the task library).

pub mod accounts;
pub mod error;
pub mod files;
pub mod health;
pub mod logs;
pub mod monitoring;
pub mod pipelines;
pub mod processes;
pub mod tracking;
pub mod units;

#[cfg(feature = "runtime")]
pub mod actor;
#[cfg(feature = "runtime")]
pub mod db;
#[cfg(feature = "runtime")]
mod engine;
#[cfg(feature = "runtime")]
pub mod storage;

#[cfg(feature = "runtime")]
pub use actor::{Actor, Denied};
#[cfg(feature = "runtime")]
pub use engine::{prepare_data_dir, Engine, EngineError, EngineOptions};
pub use error::{ErrorKind, Failure};

/// Milliseconds since the Unix epoch, now: the time unit of every stored timestamp.
#[cfg(feature = "runtime")]
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
