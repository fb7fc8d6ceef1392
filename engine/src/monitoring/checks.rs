//! External dependencies the user asks okrflow to watch: a TCP connect to `host:port`, or an
//! HTTP GET expecting a status. Each check runs in its own task on its own interval with its own
//! timeout, so a dependency that hangs never delays the others. Definitions are stored; results
//! (the last [`CHECK_HISTORY`]) are kept in memory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio::task::JoinHandle;

use super::{CheckKind, CheckResult, CheckView, CHECK_HISTORY};
use crate::db::Database;
use crate::health::Health;

pub const MAX_NAME: usize = 60;
pub const INTERVAL_SECS: std::ops::RangeInclusive<u32> = 1..=86_400;
pub const TIMEOUT_MS: std::ops::RangeInclusive<u32> = 100..=60_000;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The definition breaks a rule; the message names the field and the rule.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no external check with id {0}")]
    NotFound(i64),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// A check's definition, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSpec {
    pub name: String,
    pub kind: CheckKind,
    pub target: String,
    pub expected_status: Option<u16>,
    pub interval_secs: u32,
    pub timeout_ms: u32,
}

impl CheckSpec {
    /// Checks every field; the error names the field, the value and the rule.
    pub fn new(
        name: &str,
        kind: CheckKind,
        target: &str,
        expected_status: Option<u16>,
        interval_secs: u32,
        timeout_ms: u32,
    ) -> Result<CheckSpec, CheckError> {
        let invalid = |m: String| Err(CheckError::Invalid(m));
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return invalid(format!("name '{name}': must be 1 to {MAX_NAME} characters without control characters"));
        }
        let target = target.trim();
        let expected_status = match kind {
            CheckKind::Tcp => {
                parse_host_port(target).map_err(CheckError::Invalid)?;
                None
            }
            CheckKind::Http => {
                parse_http_url(target).map_err(CheckError::Invalid)?;
                let status = expected_status.unwrap_or(200);
                if !(100..=599).contains(&status) {
                    return invalid(format!("expected status {status}: must be an HTTP status from 100 to 599"));
                }
                Some(status)
            }
        };
        if !INTERVAL_SECS.contains(&interval_secs) {
            return invalid(format!(
                "interval {interval_secs} s: must be from {} to {} seconds",
                INTERVAL_SECS.start(),
                INTERVAL_SECS.end()
            ));
        }
        if !TIMEOUT_MS.contains(&timeout_ms) {
            return invalid(format!(
                "timeout {timeout_ms} ms: must be from {} to {} milliseconds",
                TIMEOUT_MS.start(),
                TIMEOUT_MS.end()
            ));
        }
        Ok(CheckSpec {
            name: name.to_string(),
            kind,
            target: target.to_string(),
            expected_status,
            interval_secs,
            timeout_ms,
        })
    }
}

/// `host:port`, `1.2.3.4:80` or `[::1]:80`: the host and a port from 1 to 65535.
fn parse_host_port(target: &str) -> Result<(String, u16), String> {
    let bad = |rule: &str| format!("TCP target '{target}': {rule}");
    let (host, port) = target.rsplit_once(':').ok_or_else(|| bad("must be host:port, as in db.internal:5432"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("the host is missing or has spaces or slashes"));
    }
    let port: u16 = port.parse().map_err(|_| bad(&format!("port '{port}' is not a number from 1 to 65535")))?;
    if port == 0 {
        return Err(bad("port 0 is not a port to connect to; use 1 to 65535"));
    }
    Ok((host.to_string(), port))
}

fn parse_http_url(target: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(target).map_err(|e| format!("URL '{target}' is not valid: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("URL '{target}': the scheme must be http or https, not '{}'", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("URL '{target}' has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Check targets are shown to every viewer and written to the audit log.
        return Err(
            "the URL carries a user name or password, which every viewer would see; use a health URL that needs none"
                .into(),
        );
    }
    Ok(url)
}

/// Runs one probe of `spec` now, bounded by its timeout.
pub async fn probe(client: &reqwest::Client, spec: &CheckSpec) -> CheckResult {
    let started = Instant::now();
    let timeout = Duration::from_millis(spec.timeout_ms as u64);
    let outcome: Result<(), String> = match tokio::time::timeout(timeout, attempt(client, spec)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", spec.timeout_ms)),
    };
    CheckResult {
        t_ms: crate::now_ms(),
        ok: outcome.is_ok(),
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
        error: outcome.err(),
    }
}

async fn attempt(client: &reqwest::Client, spec: &CheckSpec) -> Result<(), String> {
    match spec.kind {
        CheckKind::Tcp => {
            tokio::net::TcpStream::connect(&spec.target)
                .await
                .map_err(|e| format!("connect to {}: {e}", spec.target))?;
            Ok(())
        }
        CheckKind::Http => {
            let response = client.get(&spec.target).send().await.map_err(|e| describe_http_error(&e))?;
            let expected = spec.expected_status.unwrap_or(200);
            let got = response.status().as_u16();
            if got == expected {
                Ok(())
            } else {
                Err(format!("expected HTTP {expected}, got {got}"))
            }
        }
    }
}

/// reqwest's Display hides the cause ("error sending request"); the chain says what happened.
fn describe_http_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Default)]
struct CheckState {
    results: VecDeque<CheckResult>,
    /// When the check last went from passing to failing or back (ms).
    since_ms: Option<i64>,
}

struct Running {
    id: i64,
    spec: CheckSpec,
    state: Arc<Mutex<CheckState>>,
    task: JoinHandle<()>,
}

/// A check as the Services page and the status pill see it.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckStatus {
    pub name: String,
    pub health: Health,
    pub detail: String,
    pub since_ms: Option<i64>,
    pub view: CheckView,
}

/// Every configured check and its task. The definitions live in the database, so that every
/// okrflow process over it runs the same checks: each process re-reads them every
/// [`SYNC_EVERY`] and starts the ones another process added, stops the ones it removed.
pub struct Checks {
    db: Database,
    client: reqwest::Client,
    running: Arc<Mutex<Vec<Running>>>,
    sync: Mutex<Option<JoinHandle<()>>>,
}

/// How often a process takes up the checks other processes added or removed.
pub const SYNC_EVERY: Duration = Duration::from_secs(5);

/// The stored definitions, oldest first (rows this version cannot read are skipped).
async fn load(db: &Database) -> Result<Vec<(i64, CheckSpec)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, kind, target, expected_status, interval_secs, timeout_ms FROM service_checks ORDER BY id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let kind = CheckKind::parse(&row.get::<String, _>("kind"))?;
            let status: Option<i64> = row.get("expected_status");
            let spec = CheckSpec {
                name: row.get("name"),
                kind,
                target: row.get("target"),
                expected_status: status.and_then(|s| u16::try_from(s).ok()),
                interval_secs: row.get::<i64, _>("interval_secs").clamp(1, 86_400) as u32,
                timeout_ms: row.get::<i64, _>("timeout_ms").clamp(100, 60_000) as u32,
            };
            Some((row.get("id"), spec))
        })
        .collect())
}

fn launch(client: &reqwest::Client, running: &Mutex<Vec<Running>>, id: i64, spec: CheckSpec) {
    let mut running = lock(running);
    if running.iter().any(|r| r.id == id) {
        return;
    }
    let state = Arc::new(Mutex::new(CheckState::default()));
    let task = tokio::spawn(run(client.clone(), spec.clone(), state.clone()));
    running.push(Running { id, spec, state, task });
}

/// Makes the running checks those stored: starts the new, stops the removed.
async fn sync(db: &Database, client: &reqwest::Client, running: &Mutex<Vec<Running>>) -> Result<(), sqlx::Error> {
    let stored = load(db).await?;
    lock(running).retain(|r| {
        let keep = stored.iter().any(|(id, _)| *id == r.id);
        if !keep {
            r.task.abort();
        }
        keep
    });
    for (id, spec) in stored {
        launch(client, running, id, spec);
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Checks {
    /// Loads the stored checks and starts each.
    pub async fn start(db: Database) -> Result<Checks, CheckError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("okrflow/", env!("CARGO_PKG_VERSION"), " health check"))
            .build()
            .map_err(|e| CheckError::Invalid(format!("HTTP client: {e}")))?;
        let running = Arc::new(Mutex::new(Vec::new()));
        sync(&db, &client, &running).await?;
        let task = {
            let (db, client, running) = (db.clone(), client.clone(), running.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(SYNC_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                every.tick().await;
                loop {
                    every.tick().await;
                    if let Err(e) = sync(&db, &client, &running).await {
                        tracing::warn!("could not re-read the service checks: {e}");
                    }
                }
            })
        };
        Ok(Checks { db, client, running, sync: Mutex::new(Some(task)) })
    }

    /// Takes up at once what other processes added or removed (the background sync does it
    /// every [`SYNC_EVERY`]).
    pub async fn sync_now(&self) -> Result<(), CheckError> {
        Ok(sync(&self.db, &self.client, &self.running).await?)
    }

    /// Stores a new check and starts it at once. Names are unique among checks and must not be
    /// one of `taken` (okrflow's own components).
    pub async fn add(&self, spec: CheckSpec, created_by: &str, taken: &[String]) -> Result<i64, CheckError> {
        let clash = taken.iter().any(|t| t.eq_ignore_ascii_case(&spec.name))
            || lock(&self.running).iter().any(|r| r.spec.name.eq_ignore_ascii_case(&spec.name));
        if clash {
            return Err(CheckError::Conflict(format!("name '{}': a service with this name exists already", spec.name)));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO service_checks (name, kind, target, expected_status, interval_secs, timeout_ms, created_by, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&spec.name)
        .bind(spec.kind.as_str())
        .bind(&spec.target)
        .bind(spec.expected_status.map(i64::from))
        .bind(spec.interval_secs as i64)
        .bind(spec.timeout_ms as i64)
        .bind(created_by)
        .bind(crate::now_ms())
        .fetch_one(self.db.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                CheckError::Conflict(format!("name '{}': a check with this name exists already", spec.name))
            }
            _ => CheckError::Db(e),
        })?;
        launch(&self.client, &self.running, id, spec);
        Ok(id)
    }

    /// Stops and forgets a check, wherever it was added; returns its name.
    pub async fn remove(&self, id: i64) -> Result<String, CheckError> {
        let name: Option<String> = sqlx::query_scalar("DELETE FROM service_checks WHERE id = $1 RETURNING name")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        let name = name.ok_or(CheckError::NotFound(id))?;
        let mut running = lock(&self.running);
        if let Some(i) = running.iter().position(|r| r.id == id) {
            running.remove(i).task.abort();
        }
        Ok(name)
    }

    /// Every check with its health: failing checks are degraded (okrflow itself still works),
    /// checks not run yet are healthy and say so.
    pub fn list(&self) -> Vec<CheckStatus> {
        lock(&self.running)
            .iter()
            .map(|r| {
                let state = lock(&r.state);
                let last = state.results.back();
                let (health, detail) = match last {
                    None => (Health::Healthy, "not checked yet".to_string()),
                    Some(res) if res.ok => {
                        (Health::Healthy, format!("{} in {:.1} ms", describe(&r.spec), res.latency_ms))
                    }
                    Some(res) => (
                        Health::Degraded,
                        format!("{} failed: {}", describe(&r.spec), res.error.clone().unwrap_or_default()),
                    ),
                };
                let last_error = state.results.iter().rev().find_map(|r| r.error.clone());
                CheckStatus {
                    name: r.spec.name.clone(),
                    health,
                    detail,
                    since_ms: state.since_ms,
                    view: CheckView {
                        id: r.id,
                        kind: r.spec.kind,
                        target: r.spec.target.clone(),
                        expected_status: r.spec.expected_status,
                        interval_secs: r.spec.interval_secs,
                        timeout_ms: r.spec.timeout_ms,
                        results: state.results.iter().cloned().collect(),
                        last_error,
                    },
                }
            })
            .collect()
    }

    /// Stops every check's task and the sync.
    pub fn stop(&self) {
        if let Some(task) = lock(&self.sync).take() {
            task.abort();
        }
        for r in lock(&self.running).iter() {
            r.task.abort();
        }
    }
}

fn describe(spec: &CheckSpec) -> String {
    match spec.kind {
        CheckKind::Tcp => format!("TCP connect to {}", spec.target),
        CheckKind::Http => format!("GET {}", spec.target),
    }
}

async fn run(client: reqwest::Client, spec: CheckSpec, state: Arc<Mutex<CheckState>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(spec.interval_secs as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ok: Option<bool> = None;
    loop {
        tick.tick().await;
        let result = probe(&client, &spec).await;
        let mut s = lock(&state);
        if last_ok != Some(result.ok) {
            s.since_ms = Some(result.t_ms);
            last_ok = Some(result.ok);
        }
        if s.results.len() == CHECK_HISTORY {
            s.results.pop_front();
        }
        s.results.push_back(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_checked_field_by_field() {
        let ok = CheckSpec::new("db", CheckKind::Tcp, "localhost:5432", Some(200), 10, 2000).unwrap();
        assert_eq!(ok.expected_status, None, "TCP has no status");
        let http = CheckSpec::new("api", CheckKind::Http, "http://x.test/health", None, 10, 2000).unwrap();
        assert_eq!(http.expected_status, Some(200), "HTTP defaults to 200");
        assert!(CheckSpec::new("v6", CheckKind::Tcp, "[::1]:80", None, 10, 2000).is_ok());

        let err = |r: Result<CheckSpec, CheckError>| r.unwrap_err().to_string();
        assert!(err(CheckSpec::new("x", CheckKind::Tcp, "localhost", None, 10, 2000)).contains("host:port"));
        assert!(err(CheckSpec::new("x", CheckKind::Tcp, "h:99999", None, 10, 2000)).contains("port '99999'"));
        assert!(err(CheckSpec::new("x", CheckKind::Tcp, "h:0", None, 10, 2000)).contains("port 0"));
        assert!(err(CheckSpec::new("x", CheckKind::Http, "not a url", None, 10, 2000)).contains("is not valid"));
        assert!(err(CheckSpec::new("x", CheckKind::Http, "ftp://h/", None, 10, 2000)).contains("http or https"));
        assert!(err(CheckSpec::new("x", CheckKind::Http, "http://h/", Some(99), 10, 2000)).contains("100 to 599"));
        assert!(err(CheckSpec::new("x", CheckKind::Http, "http://u:p@h/", None, 10, 2000)).contains("password"));
        assert!(err(CheckSpec::new("", CheckKind::Tcp, "h:1", None, 10, 2000)).contains("name"));
        assert!(err(CheckSpec::new("x", CheckKind::Tcp, "h:1", None, 0, 2000)).contains("interval"));
        assert!(err(CheckSpec::new("x", CheckKind::Tcp, "h:1", None, 1, 5)).contains("timeout"));
    }

    crate::db::testing::both_backends! {
        async fn every_process_runs_the_checks_any_of_them_added(db) {
            let one = Checks::start(db.clone()).await.unwrap();
            let other = Checks::start(db.clone()).await.unwrap();
            let spec = CheckSpec::new("pg", CheckKind::Tcp, "127.0.0.1:1", None, 30, 1000).unwrap();
            let id = one.add(spec.clone(), "admin", &[]).await.unwrap();
            assert!(other.list().is_empty(), "not before the next sync");
            other.sync_now().await.unwrap();
            assert_eq!(other.list().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["pg"]);
            let again = other.add(spec, "admin", &[]).await.unwrap_err();
            assert!(matches!(again, CheckError::Conflict(_)), "{again}");
            // Removed through the other process; the first stops it at its next sync.
            assert_eq!(other.remove(id).await.unwrap(), "pg");
            one.sync_now().await.unwrap();
            assert!(one.list().is_empty());
            assert!(matches!(one.remove(id).await.unwrap_err(), CheckError::NotFound(_)));
            one.stop();
            other.stop();
        }
    }

    #[tokio::test]
    async fn tcp_probe_sees_a_listener_and_a_refusal() {
        let client = reqwest::Client::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spec = CheckSpec::new("up", CheckKind::Tcp, &addr.to_string(), None, 1, 1000).unwrap();
        assert!(probe(&client, &spec).await.ok);
        drop(listener);
        let down = probe(&client, &spec).await;
        assert!(!down.ok);
        assert!(down.error.unwrap().contains("refused"), "names the refusal");
    }
}
