//! The okrflow processes sharing one database: each registers itself at start (host, pid, role,
//! version, where it listens), beats every few seconds, and removes itself on an orderly stop.
//! The Services page lists the live ones; a job's lease names the process that holds it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `okrflow serve`: the web server, and the job runners unless `--no-jobs`.
    Serve,
    /// `okrflow worker`: the job runners only.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "serve" => Some(Role::Serve),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }
}

/// One registered process, as the Services page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessView {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub role: Role,
    pub version: String,
    /// Where a server listens (empty for a worker).
    pub address: String,
    /// Whether it runs jobs (profiling now; pipeline tasks and training later).
    pub runs_jobs: bool,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    /// This is the process answering the request.
    pub this: bool,
}

/// How often a process beats.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A process that has not beaten for this long is no longer listed as live.
pub const LIVE_WITHIN: Duration = Duration::from_secs(20);
/// Rows of processes that stopped without removing themselves are deleted after this.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

#[cfg(feature = "runtime")]
pub use registry::{host, Registration, Registry};

#[cfg(feature = "runtime")]
mod registry {
    use sqlx::Row;

    use super::*;
    use crate::db::Database;

    /// This process's registration: its id is the owner of the leases it takes.
    #[derive(Clone, Debug)]
    pub struct Registration {
        pub id: String,
        pub role: Role,
        pub address: String,
        pub runs_jobs: bool,
    }

    impl Registration {
        pub fn new(role: Role, address: String, runs_jobs: bool) -> Registration {
            let id = format!("{}-{}", std::process::id(), &crate::accounts::secret::new_secret("")[..12]);
            Registration { id, role, address, runs_jobs }
        }
    }

    /// This machine's name, as processes are registered under it.
    pub fn host() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into())
    }

    /// The registered processes of one database, and this one's heartbeat.
    #[derive(Clone)]
    pub struct Registry {
        db: Database,
        me: Registration,
    }

    impl Registry {
        /// Registers this process (forgetting processes silent for a day).
        pub async fn register(db: Database, me: Registration) -> Result<Registry, sqlx::Error> {
            let now = crate::now_ms();
            sqlx::query("DELETE FROM processes WHERE heartbeat_ms < $1")
                .bind(now - FORGET_AFTER.as_millis() as i64)
                .execute(db.pool())
                .await?;
            sqlx::query(
                "INSERT INTO processes (id, host, pid, role, version, address, runs_jobs, started_ms, heartbeat_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&me.id)
            .bind(host())
            .bind(std::process::id() as i64)
            .bind(me.role.as_str())
            .bind(env!("CARGO_PKG_VERSION"))
            .bind(&me.address)
            .bind(me.runs_jobs as i64)
            .bind(now)
            .execute(db.pool())
            .await?;
            Ok(Registry { db, me })
        }

        pub fn me(&self) -> &Registration {
            &self.me
        }

        /// Records where this process's web server listens.
        pub async fn set_address(&self, address: &str) -> Result<(), sqlx::Error> {
            sqlx::query("UPDATE processes SET address = $1 WHERE id = $2")
                .bind(address)
                .bind(&self.me.id)
                .execute(self.db.pool())
                .await?;
            Ok(())
        }

        /// One beat; re-registers if the row went (a long pause let another process forget it).
        pub async fn beat(&self) -> Result<(), sqlx::Error> {
            let done = sqlx::query("UPDATE processes SET heartbeat_ms = $1 WHERE id = $2")
                .bind(crate::now_ms())
                .bind(&self.me.id)
                .execute(self.db.pool())
                .await?;
            if done.rows_affected() == 0 {
                Registry::register(self.db.clone(), self.me.clone()).await?;
            }
            Ok(())
        }

        /// Beats every [`HEARTBEAT`] until the task is aborted.
        pub fn spawn_heartbeat(&self) -> tokio::task::JoinHandle<()> {
            let registry = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(HEARTBEAT);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = registry.beat().await {
                        tracing::warn!(error = %e, "could not record this process's heartbeat");
                    }
                }
            })
        }

        /// The processes that beat within [`LIVE_WITHIN`], servers first, oldest first.
        pub async fn live(&self) -> Result<Vec<ProcessView>, sqlx::Error> {
            let rows = sqlx::query(
                "SELECT id, host, pid, role, version, address, runs_jobs, started_ms, heartbeat_ms FROM processes \
                 WHERE heartbeat_ms >= $1 ORDER BY role, started_ms, id",
            )
            .bind(crate::now_ms() - LIVE_WITHIN.as_millis() as i64)
            .fetch_all(self.db.pool())
            .await?;
            rows.iter()
                .map(|r| {
                    let id: String = r.try_get("id")?;
                    let role: String = r.try_get("role")?;
                    Ok(ProcessView {
                        this: id == self.me.id,
                        id,
                        host: r.try_get("host")?,
                        pid: r.try_get::<i64, _>("pid")?.clamp(0, u32::MAX as i64) as u32,
                        role: Role::parse(&role).unwrap_or(Role::Worker),
                        version: r.try_get("version")?,
                        address: r.try_get("address")?,
                        runs_jobs: r.try_get::<i64, _>("runs_jobs")? != 0,
                        started_ms: r.try_get("started_ms")?,
                        heartbeat_ms: r.try_get("heartbeat_ms")?,
                    })
                })
                .collect()
        }

        /// Whether a process (by id) beat within [`LIVE_WITHIN`].
        pub async fn is_live(&self, id: &str) -> Result<bool, sqlx::Error> {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM processes WHERE id = $1 AND heartbeat_ms >= $2")
                .bind(id)
                .bind(crate::now_ms() - LIVE_WITHIN.as_millis() as i64)
                .fetch_one(self.db.pool())
                .await?;
            Ok(n > 0)
        }

        /// An orderly stop: this process is no longer listed.
        pub async fn deregister(&self) -> Result<(), sqlx::Error> {
            sqlx::query("DELETE FROM processes WHERE id = $1").bind(&self.me.id).execute(self.db.pool()).await?;
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::db::testing::both_backends;

        both_backends! {
            async fn processes_register_beat_list_and_leave(db) {
                let a = Registry::register(db.clone(), Registration::new(Role::Serve, "127.0.0.1:1".into(), true)).await.unwrap();
                let b = Registry::register(db.clone(), Registration::new(Role::Worker, String::new(), true)).await.unwrap();
                let live = a.live().await.unwrap();
                assert_eq!(live.len(), 2);
                assert_eq!(live[0].role, Role::Serve);
                assert!(live[0].this && !live[1].this);
                assert_eq!(live[0].pid, std::process::id());
                assert!(a.is_live(&b.me().id).await.unwrap());
                // A silent process drops off the list.
                sqlx::query("UPDATE processes SET heartbeat_ms = 0 WHERE id = $1").bind(&b.me().id).execute(db.pool()).await.unwrap();
                assert_eq!(a.live().await.unwrap().len(), 1);
                assert!(!a.is_live(&b.me().id).await.unwrap());
                // Its beat brings it back; deregistering removes it.
                b.beat().await.unwrap();
                assert_eq!(a.live().await.unwrap().len(), 2);
                b.deregister().await.unwrap();
                b.beat().await.unwrap();
                assert_eq!(a.live().await.unwrap().len(), 2, "a beat after the row went registers again");
            }
        }
    }
}
