//! The okrflow server: everything between the command line and the engine.
//!
//! Module map:
//! - [`access`]: the one access layer: the route's minimum role, who the caller is, CSRF, and
//!   401 / 403 / login redirects.
//! - [`cli`]: the command line (`serve`, `migrate`), exit codes, and the entry point.
//! - [`config`]: the validated settings `serve` runs with, from flags and environment.
//! - [`telemetry`]: tracing set-up (env filter, text or JSON to stderr, capture for the Logs page).
//! - [`startup`]: [`startup::Application`]: opens the engine, binds, serves, shuts down gracefully.
//! - [`state`]: [`state::AppState`], what every handler and server function can reach.
//! - [`routes`]: the axum router: Leptos pages and server functions, `/healthz`, `/readyz`,
//!   `/metrics`, static files.
//! - [`http_metrics`]: Prometheus counters and latency histograms per route and status.
//! - [`system_metrics`]: the monitoring gauges (machine, okrflow's process, sampler, services).
//! - [`security_headers`]: CSP fallback, no framing, nosniff, referrer policy on every response.
//! - [`serve`]: the accept loop: header-read, idle and request timeouts, the connection cap.
//! - [`origin`]: okrflow's own public origins (`--public-url`), which the CSRF check compares.
//! - [`paths`]: canonical request paths (other spellings are redirected before the rules).

pub mod access;
pub mod cli;
pub mod config;
pub mod http_metrics;
pub mod origin;
pub mod paths;
pub mod routes;
pub mod security_headers;
pub mod serve;
pub mod startup;
pub mod state;
pub mod system_metrics;
pub mod telemetry;
