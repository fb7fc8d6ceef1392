//! The settings `okrflow serve` runs with, validated once: flags first, then environment
//! variables, then defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use okrflow_engine::db::DatabaseUrl;
use tracing_subscriber::EnvFilter;

use crate::origin::Origin;
use crate::serve::ConnectionLimits;

/// The default listen address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_LOG: &str = "info";

/// Where the database lives; shared by `serve` and `migrate`.
#[derive(Args, Clone, Debug)]
pub struct StorageArgs {
    /// Data directory: the SQLite database, uploaded files and artifacts. Created on first start.
    #[arg(long, env = "OKRFLOW_DATA_DIR", default_value = "./data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Database URL: sqlite://FILE (default: SQLite at <data-dir>/okrflow.db) or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=require&…], shared by several okrflow
    /// processes.
    // hide_env_values: a URL may carry a password, and --help would print it. Checked after
    // parsing (`StorageArgs::check`), not by a clap value parser, whose message would quote it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Where the bytes of uploaded files live: file:///PATH (default: <data-dir>/files) or
    /// s3://BUCKET[/PREFIX], shared by several okrflow processes. S3 credentials and region come
    /// from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION; AWS_ENDPOINT names an
    /// S3-compatible server (AWS_ALLOW_HTTP=true for plain http).
    // Checked after parsing, like --database-url: clap's message would quote the value.
    #[arg(long, env = "OKRFLOW_STORAGE_URL", hide_env_values = true, value_name = "URL")]
    pub storage_url: Option<String>,
}

impl StorageArgs {
    /// The database URL understood, or a message that names the problem without the password.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.database_url {
            check_database_url("--database-url", url)?;
        }
        self.storage().map(|_| ())
    }

    /// `--storage-url` understood; `None` is the data directory's `files/`.
    pub fn storage(&self) -> Result<Option<okrflow_engine::storage::StorageUrl>, String> {
        self.storage_url.as_deref().map(|url| url.parse().map_err(|e| format!("--storage-url: {e}"))).transpose()
    }
}

/// A database URL given as `flag`, checked; the message shows the URL with its password hidden.
pub fn check_database_url(flag: &str, url: &str) -> Result<(), String> {
    url.parse::<DatabaseUrl>().map(|_| ()).map_err(|e| format!("{flag}: {e}"))
}

/// Flags of `okrflow serve` (also accepted with no subcommand, which is how `cargo leptos
/// watch` starts the binary).
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Falls back to LEPTOS_SITE_ADDR (set by cargo-leptos), then
    /// 127.0.0.1:3000. Use port 0 to let the system choose.
    #[arg(long, env = "OKRFLOW_ADDR", value_name = "HOST:PORT")]
    pub addr: Option<SocketAddr>,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Log filter in tracing's EnvFilter syntax, e.g. "info" or "info,okrflow_engine=debug".
    /// Falls back to RUST_LOG, then "info".
    #[arg(long, env = "OKRFLOW_LOG", value_name = "FILTER", value_parser = parse_log_filter)]
    pub log: Option<String>,

    /// Log line format on stderr.
    #[arg(long, env = "OKRFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve /metrics to anyone, for a Prometheus scraper without a token. Default: viewers only.
    #[arg(long, env = "OKRFLOW_METRICS_PUBLIC")]
    pub metrics_public: bool,

    /// The largest file accepted by an upload, in megabytes (10^6 bytes). Past it the upload
    /// stops and nothing is kept.
    #[arg(long, env = "OKRFLOW_MAX_UPLOAD_MB", default_value_t = 500, value_name = "MB",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_upload_mb: u64,

    #[command(flatten)]
    pub profiling: ProfileArgs,

    /// Run no background jobs (file profiling) in this process: leave them to `okrflow worker`
    /// processes over the same database.
    #[arg(long, env = "OKRFLOW_NO_JOBS")]
    pub no_jobs: bool,

    /// Folder with the built browser bundle (pkg/ with wasm, JS, CSS) and public assets.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site", value_name = "DIR")]
    pub site_root: PathBuf,

    // Security limits (issue 10), kept together.
    /// The address people open okrflow at, e.g. https://okr.example.com behind a TLS proxy.
    /// Browser requests that change something must come from this origin (CSRF). Default:
    /// http://<the address okrflow binds>, and http://localhost:<port> on loopback.
    #[arg(long, env = "OKRFLOW_PUBLIC_URL", value_name = "URL", value_parser = Origin::parse)]
    pub public_url: Option<Origin>,

    /// The most connections served at once; further ones wait until one closes.
    #[arg(long, env = "OKRFLOW_MAX_CONNECTIONS", default_value_t = 1_024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

/// Limits for profiling an uploaded file, which runs in a child process of its own so that a
/// hostile file can cost only its own job.
#[derive(Args, Clone, Debug)]
pub struct ProfileArgs {
    /// Memory one profile may use, in megabytes (10^6 bytes); past it the file fails with
    /// "needed more than … of memory".
    #[arg(long, env = "OKRFLOW_PROFILE_MEMORY_MB", default_value_t = 2_000, value_name = "MB",
          value_parser = clap::value_parser!(u64).range(50..=1_000_000))]
    pub profile_memory_mb: u64,

    /// Seconds one profile may take before it is stopped.
    #[arg(long, env = "OKRFLOW_PROFILE_TIME_S", default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub profile_time_s: u64,

    /// Stack of the parsing thread, in megabytes.
    #[arg(long, env = "OKRFLOW_PROFILE_STACK_MB", default_value_t = 16, value_name = "MB",
          value_parser = clap::value_parser!(u64).range(1..=1_024))]
    pub profile_stack_mb: u64,

    /// Tries of a file whose profiler process died without a known cause (or whose okrflow
    /// stopped while profiling it) before it is marked failed.
    #[arg(long, env = "OKRFLOW_PROFILE_ATTEMPTS", default_value_t = 3, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub profile_attempts: u32,

    /// Columns profiled per table; wider tables say how many more they have.
    #[arg(long, env = "OKRFLOW_PROFILE_MAX_COLUMNS", default_value_t = 1_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub profile_max_columns: u64,

    /// Characters kept of any text in a profile (values, column names); longer ones are cut.
    #[arg(long, env = "OKRFLOW_PROFILE_MAX_TEXT", default_value_t = 200, value_name = "CHARS",
          value_parser = clap::value_parser!(u64).range(10..=100_000))]
    pub profile_max_text: u64,

    /// Seconds a job (a file being profiled) stays this process's without a renewal; renewed
    /// every third of it. When its process dies, another takes the job after this long.
    #[arg(long, env = "OKRFLOW_JOB_LEASE_S", default_value_t = 30, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(2..=3_600))]
    pub job_lease_s: u64,
}

/// Flags of `okrflow worker`: the database, the logs and the job limits; no web server.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub storage: StorageArgs,

    /// Log filter in tracing's EnvFilter syntax. Falls back to RUST_LOG, then "info".
    #[arg(long, env = "OKRFLOW_LOG", value_name = "FILTER", value_parser = parse_log_filter)]
    pub log: Option<String>,

    /// Log line format on stderr.
    #[arg(long, env = "OKRFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub profiling: ProfileArgs,
}

impl WorkerArgs {
    /// The log filter: the flag, then RUST_LOG, then the default.
    pub fn log_filter(&self) -> Result<String, String> {
        resolve_log(self.log.clone())
    }
}

/// The log filter: the flag's, then RUST_LOG's, then [`DEFAULT_LOG`].
fn resolve_log(flag: Option<String>) -> Result<String, String> {
    match flag {
        Some(log) => Ok(log),
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => parse_log_filter(&v).map_err(|e| format!("RUST_LOG: {e}")),
            _ => Ok(DEFAULT_LOG.to_string()),
        },
    }
}

impl ProfileArgs {
    /// How this process profiles: the program (this binary), the limits, the lease.
    pub fn profiler(&self, idle: bool) -> Result<okrflow_engine::files::ProfilerConfig, String> {
        Ok(okrflow_engine::files::ProfilerConfig {
            program: Some(
                std::env::current_exe()
                    .map_err(|e| format!("cannot find okrflow's own binary to profile files: {e}"))?,
            ),
            limits: self.limits(),
            idle,
            lease: Some(std::time::Duration::from_secs(self.job_lease_s)),
        })
    }
}

impl ProfileArgs {
    pub fn limits(&self) -> okrflow_engine::files::ProfileLimits {
        okrflow_engine::files::ProfileLimits {
            memory_bytes: self.profile_memory_mb * 1_000_000,
            time: std::time::Duration::from_secs(self.profile_time_s),
            stack_bytes: self.profile_stack_mb * 1_000_000,
            max_attempts: self.profile_attempts,
            max_columns: self.profile_max_columns as usize,
            max_text_chars: self.profile_max_text as usize,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_log_filter(s: &str) -> Result<String, String> {
    EnvFilter::try_new(s).map(|_| s.to_string()).map_err(|e| format!("not a valid log filter: {e}"))
}

/// Everything `serve` needs, resolved.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub storage_url: Option<okrflow_engine::storage::StorageUrl>,
    /// The `AWS_*` settings of an S3 store; `None` (what `serve` uses) reads the environment.
    pub storage_vars: Option<Vec<(String, String)>>,
    pub log: String,
    pub log_format: LogFormat,
    pub site_root: PathBuf,
    pub metrics_public: bool,
    /// The upload limit in bytes.
    pub max_upload_bytes: u64,
    /// How uploads are profiled: the program (this binary) and its limits. `program: None`
    /// profiles in-process, which only the engine's unit tests should do.
    pub profiler: okrflow_engine::files::ProfilerConfig,
    /// The first admin's password on an empty database (from OKRFLOW_ADMIN_PASSWORD only, never
    /// a flag: command lines are visible to other users).
    pub admin_password: Option<String>,
    /// `--public-url`; `None` means the bound address (see `origin::PublicOrigins`).
    pub public_url: Option<Origin>,
    /// Timeouts and the connection cap.
    pub limits: ConnectionLimits,
}

impl ServeConfig {
    /// Resolves the fallbacks that clap cannot express (a second environment variable).
    pub fn from_args(args: ServeArgs) -> Result<ServeConfig, String> {
        args.storage.check()?;
        let storage_url = args.storage.storage()?;
        let addr = match args.addr {
            Some(addr) => addr,
            None => match std::env::var("LEPTOS_SITE_ADDR") {
                Ok(v) => v.parse().map_err(|e| format!("LEPTOS_SITE_ADDR '{v}' is not HOST:PORT: {e}"))?,
                Err(_) => DEFAULT_ADDR.parse().expect("the default address parses"),
            },
        };
        let log = resolve_log(args.log)?;
        Ok(ServeConfig {
            addr,
            data_dir: args.storage.data_dir,
            storage_url,
            database_url: args.storage.database_url,
            storage_vars: None,
            log,
            log_format: args.log_format,
            site_root: args.site_root,
            metrics_public: args.metrics_public,
            max_upload_bytes: args.max_upload_mb * 1_000_000,
            profiler: args.profiling.profiler(args.no_jobs)?,
            admin_password: std::env::var("OKRFLOW_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
            public_url: args.public_url,
            limits: ConnectionLimits { max_connections: args.max_connections as usize, ..Default::default() },
        })
    }

    /// The first admin's password in [`ServeConfig::for_tests`].
    pub const TEST_ADMIN_PASSWORD: &'static str = "test-admin-password";

    /// A configuration for tests: loopback on a free port, the given data dir, quiet logs, and
    /// the first admin's password [`ServeConfig::TEST_ADMIN_PASSWORD`]. Files are profiled
    /// in-process unless the test names the `okrflow` binary in `profiler.program`.
    pub fn for_tests(data_dir: PathBuf) -> ServeConfig {
        ServeConfig {
            addr: "127.0.0.1:0".parse().expect("valid"),
            data_dir,
            database_url: None,
            storage_url: None,
            storage_vars: None,
            log: "warn".into(),
            log_format: LogFormat::Text,
            site_root: PathBuf::from("target/site"),
            metrics_public: false,
            max_upload_bytes: okrflow_engine::files::DEFAULT_MAX_UPLOAD_BYTES,
            profiler: Default::default(),
            admin_password: Some(Self::TEST_ADMIN_PASSWORD.into()),
            public_url: None,
            limits: ConnectionLimits::default(),
        }
    }
}
