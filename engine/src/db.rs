//! The database: which URL means what, connecting with SQLite's WAL and busy timeout, the
//! migrations embedded in the binary, and a ping for readiness.
//!
//! SQLite is the embedded default. Postgres is recognised here so that the scale-out work has
//! one seam to fill; until then a Postgres URL is refused with that reason.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// How long a writer waits for SQLite's lock before giving up with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `--database-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path/to/file.db`, `sqlite:path`, or `sqlite::memory:`.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL '{url}' is not understood: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "database URL '{url}': Postgres is not supported by this build yet; use a sqlite:// URL (the embedded default)"
    )]
    PostgresNotYet { url: String },
    #[error("cannot open database '{url}': {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot migrate database '{url}': {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
}

impl FromStr for DatabaseUrl {
    type Err = DbError;

    fn from_str(url: &str) -> Result<Self, DbError> {
        let bad = |reason: &str| DbError::BadUrl { url: url.to_string(), reason: reason.to_string() };
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| bad("expected a scheme, as in sqlite://data/okrflow.db or postgres://host/db"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.trim_start_matches("//");
                if path.is_empty() {
                    return Err(bad("no file path after sqlite://"));
                }
                Ok(DatabaseUrl::Sqlite(url.to_string()))
            }
            "postgres" | "postgresql" => Ok(DatabaseUrl::Postgres(url.to_string())),
            other => Err(bad(&format!("unsupported scheme '{other}'; use sqlite:// or postgres://"))),
        }
    }
}

impl DatabaseUrl {
    /// The default: `okrflow.db` in the data directory.
    pub fn default_in(data_dir: &std::path::Path) -> String {
        format!("sqlite://{}", data_dir.join("okrflow.db").display())
    }

    /// The URL with any password replaced by `***`, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(u) => u.clone(),
            DatabaseUrl::Postgres(u) => redact_password(u),
        }
    }
}

fn redact_password(url: &str) -> String {
    // scheme://user:password@host/…: hide what is between the first ':' after '//' and the '@'.
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A connected, migrated database. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: SqlitePool,
    url: String,
    file: Option<PathBuf>,
}

impl Database {
    /// Connects, creating the SQLite file if missing, in WAL mode with a busy timeout, and proves
    /// the connection with one query so that a bad path fails here, at start.
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        let parsed: DatabaseUrl = url.parse()?;
        let url = match parsed {
            DatabaseUrl::Sqlite(u) => u,
            DatabaseUrl::Postgres(_) => return Err(DbError::PostgresNotYet { url: parsed.redacted() }),
        };
        let connect_err = |source| DbError::Connect { url: url.clone(), source };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let file = Some(options.get_filename().to_path_buf()).filter(|p| p.as_os_str() != ":memory:");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        sqlx::query("SELECT 1").execute(&pool).await.map_err(connect_err)?;
        Ok(Database { pool, url, file })
    }

    /// Runs the migrations embedded from `engine/migrations`; already applied ones are skipped.
    pub async fn migrate(&self) -> Result<(), DbError> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|source| DbError::Migrate { url: self.url.clone(), source })
    }

    /// One round trip, timed: what `/readyz` and the status pill report.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(start.elapsed())
    }

    /// Bytes of the database file and of its write-ahead log (0 when absent); `None` for an
    /// in-memory database.
    pub fn file_sizes(&self) -> Option<(u64, u64)> {
        let file = self.file()?;
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        Some((size(file), size(std::path::Path::new(&wal))))
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Waits for open connections to finish and closes them, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A migrated database in a fresh temporary directory, for the engine's tests.
#[cfg(test)]
pub(crate) async fn test_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Database::connect(&DatabaseUrl::default_in(dir.path())).await.expect("connect");
    db.migrate().await.expect("migrate");
    (dir, db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_classified_by_scheme() {
        assert!(matches!("sqlite://data/x.db".parse(), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!("sqlite::memory:".parse(), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!("postgresql://u@h/db".parse(), Ok(DatabaseUrl::Postgres(_))));
        let err = "mysql://h/db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(err.contains("unsupported scheme 'mysql'"), "{err}");
        let err = "okrflow.db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(err.contains("expected a scheme"), "{err}");
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn passwords_never_reach_messages() {
        let url: DatabaseUrl = "postgres://okr:s3cret@db:5432/okr".parse().unwrap();
        assert_eq!(url.redacted(), "postgres://okr:***@db:5432/okr");
    }

    #[tokio::test]
    async fn migrations_apply_to_an_empty_database_and_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("fresh.db").display())).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(db.pool()).await.unwrap();
        assert_eq!(mode, "wal");
        let tables: i64 =
            sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'log_events'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(tables, 1);
        assert!(db.ping().await.is_ok());
    }

    #[tokio::test]
    async fn an_unopenable_path_names_the_url_and_the_cause() {
        let err = Database::connect("sqlite:///nonexistent-dir-okrflow/x/y.db").await.unwrap_err().to_string();
        assert!(err.contains("sqlite:///nonexistent-dir-okrflow/x/y.db"), "{err}");
        assert!(err.contains("unable to open"), "{err}");
    }

    #[tokio::test]
    async fn postgres_is_refused_with_the_reason() {
        let err = Database::connect("postgres://u:pw@localhost/db").await.unwrap_err().to_string();
        assert!(err.contains("not supported by this build yet"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
