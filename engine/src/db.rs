//! The database: one handle over SQLite (the embedded default) or Postgres (the shared control
//! plane of several processes), which URL means which, connecting with each backend's settings,
//! the migrations of each backend embedded in the binary, and the few statements whose SQL must
//! differ between the two (text search, checkpoints).
//!
//! Stores write their queries once, in the subset both backends speak: `$1…$n` placeholders
//! (SQLite binds `$N` by number), `RETURNING`, `ON CONFLICT`, integers as i64, flags as 0/1.
//! They reach the connection pool only through this module's [`Database`]; nothing outside the
//! engine names sqlx.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, Arguments, ConnectOptions, Connection, Encode, Type};

pub mod copy;
pub mod scratch;

/// How long a writer waits for SQLite's lock before giving up with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Set on every SQLite connection: WAL (readers never wait for the writer), fsync at
/// checkpoints only, foreign keys enforced, and [`BUSY_TIMEOUT`] in milliseconds.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
/// How long the first connection to Postgres may take before start-up gives up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// A parsed `--database-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path/to/file.db`, `sqlite:path`, or `sqlite::memory:`.
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`, with TLS and other options as URL parameters.
    Postgres(String),
}

/// Which database a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "Postgres",
        }
    }

    /// A condition true when `needle` (an expression already in lower case) occurs in the lower
    /// case of `haystack`: plain substring search, no wildcards to escape.
    pub(crate) fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Backend::Sqlite => format!("instr(lower({haystack}), {needle}) > 0"),
            Backend::Postgres => format!("strpos(lower({haystack}), {needle}) > 0"),
        }
    }

    fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL '{url}' is not understood: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open database '{url}': {cause}")]
    Connect { url: String, cause: String },
    #[error("cannot connect to Postgres at {server}: {cause}")]
    Unreachable { server: String, cause: String },
    #[error("Postgres at {server} refused user '{user}': authentication failed ({cause})")]
    Authentication { server: String, user: String, cause: String },
    #[error(
        "Postgres at {server} has no database '{database}': create it (createdb -h HOST -U USER {database}) or name \
         another one in the URL"
    )]
    NoDatabase { server: String, database: String },
    #[error("cannot migrate database '{url}': {cause}")]
    Migrate { url: String, cause: String },
    #[error(
        "database '{url}' has schema version {database}, newer than this okrflow knows (up to {binary}): \
         run the okrflow release that wrote it, or point --database-url at another database"
    )]
    NewerSchema { url: String, database: i64, binary: i64 },
    #[error("database '{url}': {source}")]
    Query { url: String, source: sqlx::Error },
}

impl FromStr for DatabaseUrl {
    type Err = DbError;

    fn from_str(url: &str) -> Result<Self, DbError> {
        let bad = |reason: &str| DbError::BadUrl { url: redact_password(url), reason: reason.to_string() };
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

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }
}

/// `scheme://user:password@host/…` with the password shown as `***`; also a `password=`
/// parameter. Any other URL is returned as it is.
pub fn redact_password(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some((user, _)) = rest[..at].split_once(':') {
                out = format!("{scheme}://{user}:***{}", &rest[at..]);
            }
        }
    }
    if let Some((head, query)) = out.split_once('?') {
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{head}?{}", query.join("&"));
    }
    out
}

/// The kind of a failed query: the database not answering (a full pool, a lost connection)
/// is `Unavailable`, anything else `Internal`.
pub fn error_kind(e: &sqlx::Error) -> crate::error::ErrorKind {
    use crate::error::ErrorKind;
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Internal,
    }
}

/// A connected, migrated database. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    /// Redacted: safe to show.
    url: String,
    file: Option<PathBuf>,
}

impl Database {
    /// Connects and proves the connection with one query, so that a bad path, an unreachable
    /// server or a wrong password fails here, at start, naming the server and the cause. SQLite
    /// files are created when missing and opened in WAL mode with a busy timeout.
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        sqlx::any::install_default_drivers();
        let parsed: DatabaseUrl = url.parse()?;
        match parsed {
            DatabaseUrl::Sqlite(u) => Self::connect_sqlite(&u).await,
            DatabaseUrl::Postgres(u) => Self::connect_postgres(&u).await,
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Database, DbError> {
        let connect_err = |e: sqlx::Error| DbError::Connect { url: url.to_string(), cause: e.to_string() };
        let options = SqliteConnectOptions::from_str(url).map_err(connect_err)?.create_if_missing(true);
        let file = Some(options.get_filename().to_path_buf())
            .filter(|p| p.as_os_str() != ":memory:" && !p.to_string_lossy().starts_with("file:sqlx-in-memory"));
        // The Any driver rebuilds SQLite's options from a URL, which carries the file and its
        // mode only; the rest is set on every new connection.
        let any = AnyConnectOptions::from_url(&options.to_url_lossy()).map_err(connect_err)?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect_with(any)
            .await
            .map_err(connect_err)?;
        sqlx::query("SELECT 1").execute(&pool).await.map_err(connect_err)?;
        Ok(Database { pool, backend: Backend::Sqlite, url: url.to_string(), file })
    }

    async fn connect_postgres(url: &str) -> Result<Database, DbError> {
        let redacted = redact_password(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| DbError::BadUrl { url: redacted.clone(), reason: scrub(&e.to_string(), url) })?;
        let server = format!("{}:{}", options.get_host(), options.get_port());
        let any = AnyConnectOptions::from_str(url)
            .map_err(|e| DbError::BadUrl { url: redacted.clone(), reason: scrub(&e.to_string(), url) })?;
        // One connection by hand first: the pool retries a refused connection until its timeout
        // and then reports only that it timed out, losing the cause.
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect_with(&any)).await;
        match probe {
            Err(_) => {
                return Err(DbError::Unreachable {
                    server,
                    cause: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                })
            }
            Ok(Err(sqlx::Error::Database(e))) if e.code().as_deref() == Some("3D000") => {
                let database = options.get_database().unwrap_or(options.get_username()).to_string();
                return Err(DbError::NoDatabase { server, database });
            }
            Ok(Err(e)) => return Err(connect_error(&e, url, server, options.get_username())),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(any)
            .await
            .map_err(|e| connect_error(&e, url, server.clone(), options.get_username()))?;
        Ok(Database { pool, backend: Backend::Postgres, url: redacted, file: None })
    }

    /// Runs the migrations of this backend embedded from `engine/migrations/<backend>/`; already
    /// applied ones are skipped. A database migrated by a newer okrflow is refused untouched.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = self.backend.migrator();
        let binary = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(database) = self.schema_version().await? {
            if database > binary {
                return Err(DbError::NewerSchema { url: self.url.clone(), database, binary });
            }
        }
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| DbError::Migrate { url: self.url.clone(), cause: scrub(&e.to_string(), &self.url) })
    }

    /// The newest migration applied to this database, `None` before the first.
    pub async fn schema_version(&self) -> Result<Option<i64>, DbError> {
        let exists = match self.backend {
            Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            Backend::Postgres => {
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_name = '_sqlx_migrations'"
            }
        };
        let query_err = |source| DbError::Query { url: self.url.clone(), source };
        let n: i64 = sqlx::query_scalar(exists).fetch_one(&self.pool).await.map_err(query_err)?;
        if n == 0 {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(query_err)
    }

    /// The newest schema version this binary knows for this backend.
    pub fn binary_schema_version(&self) -> i64 {
        self.backend.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// One round trip, timed: what `/readyz` and the status pill report.
    pub async fn ping(&self) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(start.elapsed())
    }

    /// Bytes of the database file and of its write-ahead log (0 when absent); `None` for an
    /// in-memory or server database.
    pub fn file_sizes(&self) -> Option<(u64, u64)> {
        let file = self.file()?;
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = file.as_os_str().to_owned();
        wal.push("-wal");
        Some((size(file), size(std::path::Path::new(&wal))))
    }

    /// SQLite only: writes the write-ahead log back into the file and truncates it. Returns
    /// (busy, pages in the log, pages written back).
    pub async fn checkpoint(&self) -> Result<(i64, i64, i64), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.pool).await,
            Backend::Postgres => Err(sqlx::Error::Protocol("Postgres checkpoints itself".into())),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite file, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Waits for open connections to finish and closes them (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// What a failed first connection to Postgres means, with the server named and no password.
fn connect_error(e: &sqlx::Error, url: &str, server: String, user: &str) -> DbError {
    let cause = scrub(&e.to_string(), url);
    match e {
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("28P01" | "28000")) => {
            DbError::Authentication { server, user: user.to_string(), cause }
        }
        _ => DbError::Unreachable { server, cause },
    }
}

/// A message with the URL's password (if any) cut out: drivers may quote what they were given.
fn scrub(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, pw)| pw)
        .filter(|pw| !pw.is_empty());
    match password {
        Some(pw) => message.replace(pw, "***"),
        None => message.to_string(),
    }
}

/// A statement built in pieces, with its placeholders numbered `$1…$n` as both backends bind
/// them (sqlx's query builder writes `?` for the Any driver, which Postgres does not take).
pub(crate) struct Sql<'q> {
    text: String,
    args: AnyArguments<'q>,
    n: usize,
}

impl<'q> Sql<'q> {
    pub fn new(text: impl Into<String>) -> Sql<'q> {
        Sql { text: text.into(), args: AnyArguments::default(), n: 0 }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub fn bind<T: 'q + Encode<'q, Any> + Type<Any>>(&mut self, value: T) -> &mut Self {
        let placeholder = self.arg(value);
        self.text.push_str(&placeholder);
        self
    }

    /// Binds `value` to the next placeholder and returns it (`$n`) without writing it, for SQL
    /// that places it itself (see [`Backend::contains`]).
    pub fn arg<T: 'q + Encode<'q, Any> + Type<Any>>(&mut self, value: T) -> String {
        self.n += 1;
        // Encoding into the Any driver's buffer cannot fail for the types it accepts.
        let _ = self.args.add(value);
        format!("${}", self.n)
    }

    pub async fn fetch_all(self, db: &Database) -> Result<Vec<AnyRow>, sqlx::Error> {
        sqlx::query_with(&self.text, self.args).fetch_all(db.pool()).await
    }

    pub async fn fetch_scalar<T>(self, db: &Database) -> Result<T, sqlx::Error>
    where
        T: Send + Unpin + for<'r> sqlx::Decode<'r, Any> + Type<Any>,
    {
        sqlx::query_scalar_with(&self.text, self.args).fetch_one(db.pool()).await
    }

    pub async fn execute(self, db: &Database) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query_with(&self.text, self.args).execute(db.pool()).await?.rows_affected())
    }

    /// Runs on one connection (a transaction's), not the pool.
    pub async fn execute_on(self, conn: &mut sqlx::AnyConnection) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query_with(&self.text, self.args).execute(conn).await?.rows_affected())
    }
}

/// Tests that run one body on both backends: SQLite in a temporary directory, and a scratch
/// database of its own on the Postgres server named by `OKRFLOW_TEST_POSTGRES` (default the
/// local one), dropped afterwards.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A migrated database of one backend; the Postgres one is dropped with it.
    pub struct TestDb {
        pub db: Database,
        pub dir: tempfile::TempDir,
        _scratch: Option<scratch::ScratchDatabase>,
    }

    pub async fn open(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, scratch) = match backend {
            Backend::Sqlite => (DatabaseUrl::default_in(dir.path()), None),
            Backend::Postgres => {
                let s = scratch::ScratchDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
                (s.url().to_string(), Some(s))
            }
        };
        let db = Database::connect(&url).await.expect("connect");
        db.migrate().await.expect("migrate");
        TestDb { db, dir, _scratch: scratch }
    }

    /// `both_backends! { async fn name(db, dir) { … } }` makes the tests `name::sqlite` and
    /// `name::postgres` from one body (`dir` is a temporary directory for the test's files).
    macro_rules! both_backends {
        ($(async fn $name:ident($db:ident $(, $dir:ident)?) $body:block)*) => {
            $(
                mod $name {
                    #[allow(unused_imports)]
                    use super::*;

                    #[tokio::test]
                    async fn sqlite() {
                        let t = $crate::db::testing::open($crate::db::Backend::Sqlite).await;
                        #[allow(unused_variables)]
                        let $db = t.db.clone();
                        $(let $dir = t.dir.path().to_path_buf();)?
                        $body
                        t.db.close().await;
                    }

                    #[tokio::test]
                    async fn postgres() {
                        let t = $crate::db::testing::open($crate::db::Backend::Postgres).await;
                        #[allow(unused_variables)]
                        let $db = t.db.clone();
                        $(let $dir = t.dir.path().to_path_buf();)?
                        $body
                        t.db.close().await;
                    }
                }
            )*
        };
    }
    pub(crate) use both_backends;
}

/// A migrated SQLite database in a fresh temporary directory, for tests about SQLite itself.
#[cfg(test)]
pub(crate) async fn test_db() -> (tempfile::TempDir, Database) {
    let t = testing::open(Backend::Sqlite).await;
    (t.dir, t.db)
}

#[cfg(test)]
mod tests {
    use super::testing::both_backends;
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
        assert_eq!(
            redact_password("postgres://db/okr?sslmode=require&password=s3cret"),
            "postgres://db/okr?sslmode=require&password=***"
        );
        assert_eq!(redact_password("postgres://u:p@ss@db/okr"), "postgres://u:***@db/okr");
        assert_eq!(redact_password("postgres://db/okr"), "postgres://db/okr");
        assert_eq!(scrub("bad 'hunter2' here", "postgres://u:hunter2@h/db"), "bad '***' here");
        let err = "mysql://u:hunter2@h/db".parse::<DatabaseUrl>().unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_is_in_wal_mode_and_migrations_twice_are_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite://{}", dir.path().join("fresh.db").display())).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(db.pool()).await.unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(db.pool()).await.unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(db.pool()).await.unwrap();
        assert_eq!(busy as u128, BUSY_TIMEOUT.as_millis());
        assert!(db.ping().await.is_ok());
        assert!(db.file().is_some());
    }

    both_backends! {
        async fn migrations_apply_once_and_record_the_version(db) {
            db.migrate().await.unwrap();
            let version = db.schema_version().await.unwrap();
            assert_eq!(version, Some(db.binary_schema_version()));
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM log_events").fetch_one(db.pool()).await.unwrap();
            assert_eq!(n, 0);
            assert!(db.ping().await.is_ok());
        }

        async fn a_newer_schema_is_refused_untouched(db) {
            let newer = db.binary_schema_version() + 1;
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ($1, 'from the future', true, $2, 0)",
            )
            .bind(newer)
            .bind(vec![0u8; 48])
            .execute(db.pool())
            .await
            .unwrap();
            let err = db.migrate().await.unwrap_err().to_string();
            assert!(err.contains(&format!("schema version {newer}")), "{err}");
            assert!(err.contains(&format!("up to {}", newer - 1)), "{err}");
        }

        async fn placeholders_are_numbered_for_both_backends(db) {
            let mut sql = Sql::new("SELECT count(*) FROM log_events WHERE level = ");
            sql.bind(3i64).push(" OR (ts_ms > ").bind(5i64).push(" AND ");
            let needle = sql.arg("x".to_string());
            sql.push(&db.backend().contains("message", &needle)).push(")");
            assert_eq!(sql.fetch_scalar::<i64>(&db).await.unwrap(), 0);
        }
    }

    #[tokio::test]
    async fn an_unopenable_path_names_the_url_and_the_cause() {
        let err = Database::connect("sqlite:///nonexistent-dir-okrflow/x/y.db").await.unwrap_err().to_string();
        assert!(err.contains("sqlite:///nonexistent-dir-okrflow/x/y.db"), "{err}");
        assert!(err.contains("unable to open"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_postgres_names_host_port_and_cause_without_the_password() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let err = Database::connect("postgres://okr:hunter2@127.0.0.1:1/okr").await.unwrap_err().to_string();
        assert!(err.contains("127.0.0.1:1"), "{err}");
        assert!(err.to_lowercase().contains("refused"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn authentication_failures_are_named_as_such() {
        #[derive(Debug)]
        struct AuthFailed;
        impl std::fmt::Display for AuthFailed {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("password authentication failed for user \"okr\"")
            }
        }
        impl std::error::Error for AuthFailed {}
        impl sqlx::error::DatabaseError for AuthFailed {
            fn message(&self) -> &str {
                "password authentication failed for user \"okr\""
            }
            fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
                Some("28P01".into())
            }
            fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
                self
            }
            fn kind(&self) -> sqlx::error::ErrorKind {
                sqlx::error::ErrorKind::Other
            }
        }
        let e = sqlx::Error::Database(Box::new(AuthFailed));
        let err = connect_error(&e, "postgres://okr:hunter2@db:5432/okr", "db:5432".into(), "okr").to_string();
        assert!(err.contains("authentication failed"), "{err}");
        assert!(err.contains("db:5432") && err.contains("'okr'"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
