//! The registry of okrflow's own components (the Services page and the status pill): each says
//! how it is, for how long, and which controls apply to it right now. The engine registers the
//! database, the log store and the metrics sampler; the server registers the web server; later
//! capabilities (scheduler, workers) register theirs through [`Registry::register`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::sampler::Sampler;
use super::ControlView;
use crate::db::Database;
use crate::health::Health;
use crate::logs::LogStore;
use crate::units::{format_bytes, format_duration};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long the database may take to answer a health ping before it counts as down.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A component's state, measured now.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentState {
    pub health: Health,
    pub detail: String,
    pub uptime_secs: Option<u64>,
}

/// Something of okrflow's own that the Services page lists.
pub trait Component: Send + Sync + 'static {
    /// Stable, unique name: "database", "metrics sampler".
    fn name(&self) -> &str;
    fn state(&self) -> BoxFuture<'_, ComponentState>;
    /// The controls that apply now (a paused sampler offers Resume, not Pause).
    fn controls(&self) -> Vec<ControlView> {
        Vec::new()
    }
    /// Runs a control; `Ok` says what was done, `Err` why it could not be.
    fn act<'a>(&'a self, control: &'a str, actor: &'a str) -> BoxFuture<'a, Result<String, String>> {
        let _ = (control, actor);
        Box::pin(async { Err("this component has no controls".to_string()) })
    }
}

/// The registered components, in registration order.
#[derive(Default)]
pub struct Registry {
    components: RwLock<Vec<Arc<dyn Component>>>,
}

impl Registry {
    /// Adds a component; one registered under the same name before is replaced.
    pub fn register(&self, component: Arc<dyn Component>) {
        let mut all = self.components.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.retain(|c| c.name() != component.name());
        all.push(component);
    }

    pub fn all(&self) -> Vec<Arc<dyn Component>> {
        self.components.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn find(&self, name: &str) -> Option<Arc<dyn Component>> {
        self.all().into_iter().find(|c| c.name() == name)
    }

    pub fn names(&self) -> Vec<String> {
        self.all().iter().map(|c| c.name().to_string()).collect()
    }
}

fn control(id: &str, label: &str, help: &str) -> ControlView {
    ControlView { id: id.into(), label: label.into(), help: help.into() }
}

/// The database: answers a ping; for SQLite, shows its file and WAL sizes and can checkpoint
/// the WAL.
pub struct DatabaseComponent {
    pub db: Database,
    pub started: Instant,
}

/// The store of uploaded bytes: a directory or a bucket, checked by listing it (at most every
/// [`STORAGE_CHECK_EVERY`]: a bucket bills each request).
pub struct StorageComponent {
    pub storage: crate::storage::Storage,
    pub started: Instant,
    pub last: std::sync::Mutex<Option<(Instant, Health, String)>>,
}

/// How long a storage check's answer stands.
const STORAGE_CHECK_EVERY: Duration = Duration::from_secs(15);

impl Component for StorageComponent {
    fn name(&self) -> &str {
        "object storage"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        Box::pin(async move {
            let uptime_secs = Some(self.started.elapsed().as_secs());
            let cached = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            if let Some((at, health, detail)) = cached.filter(|(at, ..)| at.elapsed() < STORAGE_CHECK_EVERY) {
                let _ = at;
                return ComponentState { health, detail, uptime_secs };
            }
            let started = Instant::now();
            let where_ = self.storage.describe();
            let (health, detail) = match tokio::time::timeout(PING_TIMEOUT, self.storage.check()).await {
                Ok(Ok(())) => {
                    (Health::Healthy, format!("{where_} answered in {:.1} ms", started.elapsed().as_secs_f64() * 1e3))
                }
                Ok(Err(e)) => (Health::Critical, format!("{where_}: {e}")),
                Err(_) => (Health::Critical, format!("{where_}: no answer within {} s", PING_TIMEOUT.as_secs())),
            };
            *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some((Instant::now(), health, detail.clone()));
            ComponentState { health, detail, uptime_secs }
        })
    }
}

impl Component for DatabaseComponent {
    fn name(&self) -> &str {
        "database"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        Box::pin(async move {
            let (health, mut detail) = match tokio::time::timeout(PING_TIMEOUT, self.db.ping()).await {
                Ok(Ok(took)) => (
                    Health::Healthy,
                    format!("{} answered in {:.1} ms", self.db.backend().name(), took.as_secs_f64() * 1e3),
                ),
                Ok(Err(e)) => (Health::Critical, format!("query failed: {e}")),
                Err(_) => (Health::Critical, format!("no answer within {} s", PING_TIMEOUT.as_secs())),
            };
            if let Some((file, wal)) = self.db.file_sizes() {
                detail.push_str(&format!(" · file {}, WAL {}", format_bytes(file), format_bytes(wal)));
            }
            ComponentState { health, detail, uptime_secs: Some(self.started.elapsed().as_secs()) }
        })
    }

    fn controls(&self) -> Vec<ControlView> {
        match self.db.file() {
            Some(_) => vec![control(
                "checkpoint",
                "Checkpoint",
                "Write the write-ahead log back into the database file and truncate it",
            )],
            None => Vec::new(),
        }
    }

    fn act<'a>(&'a self, control: &'a str, _actor: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            if control != "checkpoint" || self.db.file().is_none() {
                return Err(format!("the database has no control '{control}'"));
            }
            let before = self.db.file_sizes().map(|(_, wal)| wal).unwrap_or(0);
            let (busy, log, done) = self.db.checkpoint().await.map_err(|e| format!("checkpoint failed: {e}"))?;
            let after = self.db.file_sizes().map(|(_, wal)| wal).unwrap_or(0);
            if busy != 0 {
                return Err(format!(
                    "checkpoint could not finish: readers were busy ({done} of {log} pages written back); try again"
                ));
            }
            Ok(format!(
                "Checkpoint done: {done} pages written back; WAL {} → {}",
                format_bytes(before),
                format_bytes(after)
            ))
        })
    }
}

/// The writer that keeps warnings and errors in the database.
pub struct LogStoreComponent {
    pub store: Arc<LogStore>,
    pub started: Instant,
}

impl Component for LogStoreComponent {
    fn name(&self) -> &str {
        "log store"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        let stats = self.store.stats();
        let uptime_secs = Some(self.started.elapsed().as_secs());
        Box::pin(async move {
            match stats.last_error {
                Some(e) => ComponentState { health: Health::Degraded, detail: e, uptime_secs },
                None => ComponentState {
                    health: Health::Healthy,
                    detail: format!(
                        "{} warnings and errors stored, {} dropped (queue full)",
                        stats.written, stats.dropped
                    ),
                    uptime_secs,
                },
            }
        })
    }
}

/// The metrics sampler: paused (by whom), its cost, its live subscribers; pause and resume.
pub struct SamplerComponent {
    pub sampler: Sampler,
    pub started: Instant,
}

impl Component for SamplerComponent {
    fn name(&self) -> &str {
        "metrics sampler"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        let stats = self.sampler.stats();
        let uptime = self.started.elapsed();
        Box::pin(async move {
            let per_sample_ms =
                if stats.samples > 0 { stats.busy.as_secs_f64() * 1e3 / stats.samples as f64 } else { 0.0 };
            let share = stats.busy.as_secs_f64() * 100.0 / uptime.as_secs_f64().max(1.0);
            let cost = format!(
                "{} samples, {per_sample_ms:.2} ms each ({share:.2} % of a core); {} live subscribers",
                stats.samples, stats.subscribers
            );
            let age_ms = stats.last_sample_ms.map(|t| crate::now_ms() - t);
            let (health, detail) = if let Some((by, at)) = &stats.paused {
                let ago = ((crate::now_ms() - at) / 1000).max(0) as u64;
                (
                    Health::Degraded,
                    format!("paused by {by} {} ago; charts are not moving · {cost}", format_duration(ago)),
                )
            } else if let Some(e) = &stats.last_error {
                (Health::Degraded, format!("{e} · {cost}"))
            } else if age_ms.is_some_and(|a| a > 5_000) || (age_ms.is_none() && uptime > Duration::from_secs(5)) {
                (Health::Degraded, format!("no sample for over 5 s · {cost}"))
            } else {
                (Health::Healthy, format!("sampling every second · {cost}"))
            };
            ComponentState { health, detail, uptime_secs: Some(uptime.as_secs()) }
        })
    }

    fn controls(&self) -> Vec<ControlView> {
        if self.sampler.is_paused() {
            vec![control("resume", "Resume", "Sample every second again")]
        } else {
            vec![control("pause", "Pause", "Stop sampling: charts and cards stop moving until resumed")]
        }
    }

    fn act<'a>(&'a self, control: &'a str, actor: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            match control {
                "pause" if self.sampler.pause(actor) => Ok("Sampler paused: no new samples until resumed".into()),
                "pause" => Err("the sampler is paused already".into()),
                "resume" if self.sampler.resume() => Ok("Sampler resumed: sampling every second".into()),
                "resume" => Err("the sampler is not paused".into()),
                other => Err(format!("the metrics sampler has no control '{other}'")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_db;

    // SQLite only: the write-ahead log and its checkpoint are SQLite's.
    #[tokio::test]
    async fn database_checkpoint_empties_the_wal() {
        let (_dir, db) = test_db().await;
        sqlx::query("CREATE TABLE t (x)").execute(db.pool()).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(db.pool()).await.unwrap();
        let c = DatabaseComponent { db: db.clone(), started: Instant::now() };
        assert_eq!(c.controls()[0].id, "checkpoint");
        let state = c.state().await;
        assert_eq!(state.health, Health::Healthy);
        assert!(state.detail.contains("WAL"), "{}", state.detail);
        let said = c.act("checkpoint", "tester").await.unwrap();
        assert!(said.contains("WAL") && said.ends_with("→ 0 B"), "{said}");
        assert!(c.act("vacuum", "tester").await.unwrap_err().contains("no control 'vacuum'"));
    }

    #[tokio::test]
    async fn sampler_offers_the_control_that_applies() {
        let sampler = Sampler::spawn(None);
        let c = SamplerComponent { sampler: sampler.clone(), started: Instant::now() };
        assert_eq!(c.controls().iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["pause"]);
        c.act("pause", "alice").await.unwrap();
        assert_eq!(c.controls()[0].id, "resume");
        let state = c.state().await;
        assert_eq!(state.health, Health::Degraded);
        assert!(state.detail.contains("paused by alice"), "{}", state.detail);
        assert!(c.act("pause", "alice").await.is_err(), "pausing twice says so");
        c.act("resume", "alice").await.unwrap();
        sampler.close();
    }

    #[test]
    fn registering_a_name_again_replaces_it() {
        let r = Registry::default();
        struct Named(&'static str, Health);
        impl Component for Named {
            fn name(&self) -> &str {
                self.0
            }
            fn state(&self) -> BoxFuture<'_, ComponentState> {
                let health = self.1;
                Box::pin(async move { ComponentState { health, detail: String::new(), uptime_secs: None } })
            }
        }
        r.register(Arc::new(Named("scheduler", Health::Healthy)));
        r.register(Arc::new(Named("workers", Health::Healthy)));
        r.register(Arc::new(Named("scheduler", Health::Critical)));
        assert_eq!(r.names(), ["workers", "scheduler"]);
    }
}
