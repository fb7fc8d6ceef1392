//! [`Engine`]: the one handle that the web server, its server functions and (later) workers
//! share. It owns the data directory, the database, the log store, the metrics sampler, the
//! external checks, the accounts' housekeeping and the registry of components, and answers
//! "how is the system doing".

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accounts::ratelimit::{self, LoginLimiter};
use crate::accounts::users::{self, FirstAdmin};
use crate::accounts::{AccountError, Accounts};
use crate::db::{Database, DatabaseUrl, DbError};
use crate::files::{FileError, Files};
use crate::health::{ComponentHealth, SystemStatus};
use crate::logs::{self, LogBuffer, LogEntry, LogQuery, LogReceiver, LogStore, LogStoreStats};
use crate::monitoring::checks::{CheckError, Checks};
use crate::monitoring::handle::Services;
use crate::monitoring::sampler::Sampler;
use crate::monitoring::services::{
    Component, DatabaseComponent, LogStoreComponent, Registry, SamplerComponent, StorageComponent,
};
use crate::storage::Storage;

/// How often the audit log and expired sessions are pruned (and once at start).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// Where the engine keeps its state.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Files, artifacts and (by default) the SQLite database live here. Created if missing.
    pub data_dir: PathBuf,
    /// `None` means SQLite at `<data_dir>/okrflow.db`.
    pub database_url: Option<String>,
    /// Where the bytes of files (and later artifacts) live; `None` means `<data_dir>/files`.
    pub storage_url: Option<crate::storage::StorageUrl>,
    /// The `AWS_*` settings of an S3 store; `None` reads them from the environment.
    pub storage_vars: Option<Vec<(String, String)>>,
    /// The first admin's password on an empty database; `None` generates one.
    pub admin_password: Option<String>,
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// How uploaded files are profiled: in which program, under which limits (`idle`: this
    /// process runs no jobs).
    pub profiler: crate::files::ProfilerConfig,
    /// What this process is, registered in the database so the others see it; `None` for a
    /// process that does not stay (`okrflow migrate`).
    pub role: Option<crate::processes::Role>,
    /// Pipeline task attempts this process runs at once; `None`: the executor's default (4).
    pub task_slots: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("data directory '{}' is not usable: {source}", path.display())]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot create the first admin: {0}")]
    FirstAdmin(#[from] AccountError),
    #[error("cannot load the external checks: {0}")]
    Checks(#[from] CheckError),
    #[error("cannot open the file store: {0}")]
    Files(#[from] FileError),
    #[error("cannot open the storage {url}: {source}")]
    Storage { url: String, source: crate::storage::StorageError },
    #[error("cannot prepare experiment tracking: {0}")]
    Tracking(#[from] crate::tracking::TrackingError),
    #[error("cannot read the pipelines: {0}")]
    Pipelines(#[from] crate::pipelines::PipelineError),
    #[error("cannot register this process in the database: {0}")]
    Register(#[source] sqlx::Error),
}

/// The shared engine handle. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    db: Database,
    logs: LogBuffer,
    log_store: Arc<LogStore>,
    accounts: Accounts,
    sampler: Sampler,
    services: Services,
    files: Files,
    storage: Storage,
    tracking: crate::tracking::Tracking,
    pipelines: crate::pipelines::Pipelines,
    /// This process in the database's registry, with its heartbeat task.
    process: crate::processes::Registration,
    registry: Option<(crate::processes::Registry, std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>)>,
    started: Instant,
    /// Background tasks aborted at shutdown: the pruning of the audit log and sessions, and the
    /// watch over the pipeline definitions.
    housekeeping: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Makes sure the data directory exists and that this process can write into it, so that a
/// read-only or mistyped path fails at start with its name, not later on the first upload.
pub fn prepare_data_dir(path: &Path) -> Result<(), EngineError> {
    let fail = |source| EngineError::DataDir { path: path.to_path_buf(), source };
    std::fs::create_dir_all(path).map_err(fail)?;
    let probe = path.join(".okrflow-write-check");
    std::fs::write(&probe, b"okrflow").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

impl Engine {
    /// Prepares the data directory, opens and migrates the database, and starts the log store.
    /// `logs` and `receiver` come from [`logs::capture`], installed in tracing before this.
    /// Returns the engine and what was done about the first admin (the caller tells the person
    /// starting okrflow where a generated password is).
    pub async fn start(
        options: EngineOptions,
        logs: LogBuffer,
        receiver: LogReceiver,
    ) -> Result<(Engine, FirstAdmin), EngineError> {
        prepare_data_dir(&options.data_dir)?;
        let url = match &options.database_url {
            Some(url) => url.clone(),
            None => DatabaseUrl::default_in(&options.data_dir),
        };
        let db = Database::connect(&url).await?;
        db.migrate().await?;
        let first_admin = users::ensure_first_admin(&db, &options.data_dir, options.admin_password.as_deref()).await?;
        let log_store = Arc::new(LogStore::spawn(db.clone(), receiver));
        use crate::processes::{Registration, Registry as Processes, Role};
        let role = options.role;
        let process = Registration::new(role.unwrap_or(Role::Serve), String::new(), !options.profiler.idle);
        let registry = match role {
            Some(_) => {
                let registry = Processes::register(db.clone(), process.clone()).await.map_err(EngineError::Register)?;
                let beat = registry.spawn_heartbeat();
                Some((registry, std::sync::Mutex::new(Some(beat))))
            }
            None => None,
        };
        let checks = Checks::start(db.clone()).await?;
        // A worker keeps no metric history: the servers' samplers do.
        let sampler = Sampler::spawn((role != Some(Role::Worker)).then(|| db.clone()));
        let storage_url =
            options.storage_url.clone().unwrap_or_else(|| crate::storage::StorageUrl::default_in(&options.data_dir));
        let (dir, owner) = (&options.data_dir, process.id.clone());
        let storage = match &options.storage_vars {
            Some(vars) => Storage::open_with(storage_url.clone(), dir, db.clone(), owner, vars).await,
            None => Storage::open(storage_url.clone(), dir, db.clone(), owner).await,
        }
        .map_err(|source| EngineError::Storage { url: storage_url.to_string(), source })?;
        let files = Files::open(
            db.clone(),
            storage.clone(),
            options.max_upload_bytes,
            options.profiler.clone(),
            process.id.clone(),
        )
        .await?;
        let started = Instant::now();
        let components = Registry::default();
        components.register(Arc::new(DatabaseComponent { db: db.clone(), started }));
        components.register(Arc::new(LogStoreComponent { store: log_store.clone(), started }));
        components.register(Arc::new(SamplerComponent { sampler: sampler.clone(), started }));
        components.register(Arc::new(StorageComponent { storage: storage.clone(), started, last: Default::default() }));
        let mut background = vec![spawn_housekeeping(db.clone())];
        tracing::info!(
            database = %db.url(),
            data_dir = %options.data_dir.display(),
            storage = %storage.describe(),
            process = %process.id,
            jobs = !options.profiler.idle,
            "engine started"
        );
        let accounts = Accounts::new(db.clone());
        let services = Services::new(db.clone(), components, checks);
        let tracking = crate::tracking::Tracking::open(db.clone()).await?.with_artifacts(storage.clone());
        let pipelines = crate::pipelines::Pipelines::open(db.clone(), options.data_dir.join("pipelines"))
            .await?
            .with_storage(storage.clone());
        // Definitions are files beside a serve process, which also schedules; workers read
        // definitions from the database and only run tasks.
        if role.is_some() && role != Some(Role::Worker) {
            background.push(pipelines.spawn_watch());
            background.push(pipelines.spawn_scheduler());
        }
        let runs_tasks = role.is_some() && !options.profiler.idle;
        let mut config = crate::pipelines::executor::ExecutorConfig::new(options.data_dir.join("runs"));
        config.slots = if runs_tasks { options.task_slots.unwrap_or(config.slots) } else { 0 };
        if runs_tasks {
            background.push(pipelines.spawn_executor(process.id.clone(), config.clone()));
        }
        services.components().register(Arc::new(crate::pipelines::component::PipelinesComponent {
            db: db.clone(),
            local: pipelines.local().clone(),
            schedules: role.is_some() && role != Some(Role::Worker),
            slots: config.slots,
            started,
        }));
        let housekeeping = std::sync::Mutex::new(background);
        let inner = Inner {
            data_dir: options.data_dir,
            db,
            logs,
            log_store,
            accounts,
            sampler,
            services,
            files,
            storage,
            tracking,
            pipelines,
            process,
            registry,
            started,
            housekeeping,
        };
        Ok((Engine { inner: Arc::new(inner) }, first_admin))
    }

    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Pipelines: the definitions in force and their versions.
    pub fn pipelines(&self) -> &crate::pipelines::Pipelines {
        &self.inner.pipelines
    }

    /// Experiment tracking (MLflow-compatible).
    pub fn tracking(&self) -> &crate::tracking::Tracking {
        &self.inner.tracking
    }

    /// Where stored bytes live (files now; tracking artifacts next).
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// This process's id: the owner named on the leases it takes.
    pub fn process_id(&self) -> &str {
        &self.inner.process.id
    }

    /// Records where this process's web server listens (known once it is bound).
    pub async fn set_process_address(&self, address: &str) {
        if let Some((registry, _)) = &self.inner.registry {
            if let Err(e) = registry.set_address(address).await {
                tracing::warn!(error = %e, "could not record this process's address");
            }
        }
    }

    /// The okrflow processes over this database that beat recently (this one included when it
    /// registered).
    pub async fn processes(&self) -> Result<Vec<crate::processes::ProcessView>, sqlx::Error> {
        match &self.inner.registry {
            Some((registry, _)) => registry.live().await,
            None => Ok(Vec::new()),
        }
    }

    /// The in-memory ring of recent log entries.
    pub fn logs(&self) -> &LogBuffer {
        &self.inner.logs
    }

    /// Logins, sessions, tokens, users and the audit log.
    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    pub fn log_store_stats(&self) -> LogStoreStats {
        self.inner.log_store.stats()
    }

    /// Stored warnings and errors (these outlive restarts), newest first.
    pub async fn stored_logs(&self, query: &LogQuery) -> Result<Vec<LogEntry>, sqlx::Error> {
        logs::store::query(&self.inner.db, query).await
    }

    /// The newest stored log id (0 when none): where polling for new stored entries starts.
    pub async fn latest_stored_log_id(&self) -> Result<u64, sqlx::Error> {
        logs::store::latest_id(&self.inner.db).await
    }

    /// Stored (warnings, errors) logged within the last `window`.
    pub async fn problems_within(&self, window: Duration) -> Result<(u64, u64), sqlx::Error> {
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        logs::store::count_since(&self.inner.db, chrono::Utc::now() - window).await
    }

    /// Bytes of the SQLite file plus its write-ahead log; `None` for an in-memory database.
    pub fn database_bytes(&self) -> Option<u64> {
        self.inner.db.file_sizes().map(|(file, wal)| file + wal)
    }

    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The database's health, measured now (`/readyz`).
    pub async fn database_health(&self) -> ComponentHealth {
        let db = DatabaseComponent { db: self.inner.db.clone(), started: self.inner.started };
        let state = db.state().await;
        ComponentHealth { name: db.name().to_string(), health: state.health, detail: state.detail }
    }

    /// The metrics sampler: live samples, the in-memory hour, pause and resume.
    pub fn sampler(&self) -> &Sampler {
        &self.inner.sampler
    }

    /// Where later capabilities (and the server) register their components.
    pub fn components(&self) -> &Registry {
        self.inner.services.components()
    }

    /// Uploads, profiles, conversions and downloads.
    pub fn files(&self) -> &Files {
        &self.inner.files
    }

    /// okrflow's components and the external checks, with their controls.
    pub fn services(&self) -> &Services {
        &self.inner.services
    }

    /// Every component's health and the overall status the navbar pill shows, measured at most
    /// a second ago.
    pub async fn status(&self) -> SystemStatus {
        let components = self.inner.services.health().await;
        SystemStatus::from_components(components, self.uptime().as_secs(), env!("CARGO_PKG_VERSION"))
    }

    /// Ends live streams and background checks so the server can stop; called when shutdown
    /// begins, before in-flight requests are awaited.
    pub fn begin_shutdown(&self) {
        self.inner.sampler.close();
        self.inner.services.stop();
    }

    /// Flushes the log store and closes the database. Call once, after the server has stopped.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let background =
            std::mem::take(&mut *self.inner.housekeeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in background {
            task.abort();
            let _ = task.await;
        }
        // A profile cut short by a stop is not the file's fault: back in the queue, the attempt
        // not counted (a crash, which never gets here, does count).
        if let Err(e) = self.inner.files.release_claims().await {
            tracing::warn!("could not put unfinished profiles back in the queue: {e}");
        }
        // Task attempts cut short by a stop: counted, recorded as interrupted, queued again.
        match crate::pipelines::runs::release(&self.inner.db, &self.inner.process.id, crate::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(tasks = n, "gave back the pipeline tasks this process was running"),
            Err(e) => tracing::warn!("could not give back the pipeline tasks this process was running: {e}"),
        }
        if let Some((registry, beat)) = &self.inner.registry {
            let beat = beat.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(task) = beat {
                task.abort();
                let _ = task.await;
            }
            if let Err(e) = registry.deregister().await {
                tracing::warn!("could not remove this process from the registry: {e}");
            }
        }
        self.inner.log_store.shutdown().await;
        self.inner.db.close().await;
    }
}

/// Prunes the audit log (by age and count, like the stored logs) and expired sessions, at start
/// and then every [`HOUSEKEEPING_EVERY`]: without it both tables grow with every login attempt.
fn spawn_housekeeping(db: Database) -> tokio::task::JoinHandle<()> {
    use crate::accounts::{audit, sessions};
    tokio::spawn(async move {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        loop {
            every.tick().await;
            let now = crate::now_ms();
            match audit::prune(&db, now - audit::RETENTION.num_milliseconds(), audit::MAX_ROWS).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "pruned the audit log"),
                Err(e) => tracing::error!("pruning the audit log failed: {e}"),
            }
            if let Err(e) = sessions::prune_expired(&db, now).await {
                tracing::error!("pruning expired sessions failed: {e}");
            }
            let limiter = LoginLimiter::new(db.clone(), ratelimit::PER_ACCOUNT, ratelimit::PER_ADDRESS);
            if let Err(e) = limiter.prune(now).await {
                tracing::error!("pruning old failed logins failed: {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Health;

    #[tokio::test]
    async fn starts_on_an_empty_data_dir_and_reports_healthy() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let buffer = LogBuffer::new(10);
        let (_layer, receiver) = logs::capture(buffer.clone());
        let options = EngineOptions {
            data_dir: data_dir.clone(),
            database_url: None,
            storage_url: None,
            storage_vars: None,
            admin_password: None,
            max_upload_bytes: crate::files::DEFAULT_MAX_UPLOAD_BYTES,
            profiler: Default::default(),
            role: Some(crate::processes::Role::Serve),
            task_slots: None,
        };
        let (engine, first_admin) = Engine::start(options, buffer, receiver).await.unwrap();
        assert!(matches!(first_admin, FirstAdmin::Generated { .. }));
        assert!(data_dir.join("okrflow.db").exists());
        let status = engine.status().await;
        assert_eq!(status.overall, Health::Healthy, "{status:?}");
        // A second look within the TTL reuses the measurement.
        assert_eq!(engine.status().await.components, status.components);
        engine.shutdown().await;
    }

    #[tokio::test]
    async fn starts_on_postgres_and_reports_healthy() {
        let scratch = crate::db::scratch::ScratchDatabase::create().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let buffer = LogBuffer::new(10);
        let (_layer, receiver) = logs::capture(buffer.clone());
        let options = EngineOptions {
            data_dir: dir.path().join("data"),
            database_url: Some(scratch.url().to_string()),
            storage_url: None,
            storage_vars: None,
            admin_password: Some("a long password".into()),
            max_upload_bytes: crate::files::DEFAULT_MAX_UPLOAD_BYTES,
            profiler: Default::default(),
            role: Some(crate::processes::Role::Serve),
            task_slots: None,
        };
        let (engine, first_admin) = Engine::start(options, buffer, receiver).await.unwrap();
        assert_eq!(first_admin, FirstAdmin::FromEnvironment);
        assert_eq!(engine.db().backend(), crate::db::Backend::Postgres);
        assert!(!dir.path().join("data/okrflow.db").exists(), "no SQLite file beside Postgres");
        let status = engine.status().await;
        assert_eq!(status.overall, Health::Healthy, "{status:?}");
        let database = status.components.iter().find(|c| c.name == "database").unwrap();
        assert!(database.detail.starts_with("Postgres answered in"), "{}", database.detail);
        engine.shutdown().await;
    }

    #[test]
    fn an_unwritable_data_dir_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = prepare_data_dir(&file.join("sub")).unwrap_err().to_string();
        assert!(err.contains("not-a-dir/sub"), "{err}");
        assert!(err.contains("is not usable"), "{err}");
    }
}
