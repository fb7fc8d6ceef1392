//! The command line: `okrflow serve` (the default), `okrflow worker`, `okrflow migrate`,
//! `okrflow db copy`, and
//! what each exit
//! code means: 0 done, 1 failed at run time (the message names what and why), 2 bad usage
//! (clap's message names the flag).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ServeArgs, ServeConfig, StorageArgs, WorkerArgs};
use crate::startup::Application;
use crate::telemetry;

#[derive(Parser, Debug)]
#[command(
    name = "okrflow",
    version,
    about = "OKR ML pipeline in one binary: files, pipelines, experiment tracking, models and monitoring.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// With no subcommand, okrflow serves with these flags.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the dashboard, the APIs and the background work (the default).
    Serve(ServeArgs),
    /// Run the background jobs only (file profiling now; pipeline tasks and training later),
    /// claiming them from the database with leases beside any number of `serve` and `worker`
    /// processes over the same database. No web server.
    Worker(WorkerArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(StorageArgs),
    /// Database tools: copy every table from one database to another.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Profile one file as the Files page would (type from its extension), print the profile
    /// as JSON and how long it took, then exit. Nothing is stored.
    Profile {
        /// The file to profile.
        file: std::path::PathBuf,
    },
    /// The child process of a profile or conversion (started by okrflow itself, one per job):
    /// limits itself, profiles FILE as KIND (or converts it into OUT_DIR/OUT_ID) and prints one
    /// JSON line.
    #[command(hide = true)]
    FileJob {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        memory_bytes: u64,
        #[arg(long)]
        stack_bytes: u64,
        #[arg(long)]
        time_secs: u64,
        #[arg(long)]
        max_columns: usize,
        #[arg(long)]
        max_text_chars: usize,
        #[arg(long, requires_all = ["out_dir", "out_id"])]
        convert_to: Option<String>,
        #[arg(long)]
        sheet: Option<String>,
        #[arg(long)]
        out_dir: Option<std::path::PathBuf>,
        #[arg(long)]
        out_id: Option<String>,
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Copy every table (users, sessions, tokens, audit, files, monitoring history, logs, …)
    /// from one database into another, e.g. from SQLite to Postgres when a team outgrows one
    /// machine. Stop okrflow first. The target is migrated; one that holds rows is refused
    /// unless --replace. Prints the rows copied per table.
    Copy {
        /// The database to copy from (sqlite://… or postgres://…); it is only read.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The database to copy into (sqlite://… or postgres://…).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Delete the target's rows first (in the same transaction as the copy).
        #[arg(long)]
        replace: bool,
    },
}

/// Parses the command line (exiting with 2 on bad usage), runs the command, and maps the
/// outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => match ServeConfig::from_args(args) {
            Ok(config) => run_serve(config),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        Command::Worker(args) => match args.storage.check().and_then(|()| args.log_filter()) {
            Ok(log) => run_worker(args, log),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        Command::Migrate(storage) => match storage.check() {
            Ok(()) => run_migrate(storage),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        Command::Db { command: DbCommand::Copy { from, to, replace } } => {
            let checked = crate::config::check_database_url("--from", &from)
                .and_then(|()| crate::config::check_database_url("--to", &to));
            match checked {
                Ok(()) => run_db_copy(&from, &to, replace),
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            }
        }
        Command::Profile { file } => run_profile(&file),
        Command::FileJob {
            kind,
            memory_bytes,
            stack_bytes,
            time_secs,
            max_columns,
            max_text_chars,
            convert_to,
            sheet,
            out_dir,
            out_id,
            file,
        } => {
            use okrflow_engine::files::{sandbox, Conversion, FileKind, ProfileLimits};
            let limits = ProfileLimits {
                memory_bytes,
                stack_bytes,
                time: std::time::Duration::from_secs(time_secs),
                max_attempts: 1,
                max_columns,
                max_text_chars,
            };
            let job = match (convert_to, out_dir, out_id) {
                (Some(to), Some(dir), Some(id)) => Conversion::parse(&to)
                    .map(|to| sandbox::Job::Convert { to, sheet, dir, id })
                    .map_err(anyhow::Error::msg),
                _ => Ok(sandbox::Job::Profile),
            };
            FileKind::parse(&kind)
                .map_err(anyhow::Error::msg)
                .and_then(|kind| Ok((kind, job?)))
                .and_then(|(kind, job)| Ok(sandbox::child_main(&file, kind, job, &limits)?))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole chain: "cannot start okrflow: data directory '…': …".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let (buffer, receiver) = telemetry::init(&config.log, config.log_format);
    runtime()?.block_on(async move {
        let app = Application::build(config, buffer, receiver).await?;
        // Before okrflow says it listens: from then on a stop signal is a graceful stop.
        let stop = crate::startup::shutdown_signal();
        app.run_until(stop).await
    })
}

fn run_profile(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use okrflow_engine::files::{profile, FileKind};
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kind = FileKind::from_name(&name).map_err(anyhow::Error::msg)?;
    let mut head = Vec::with_capacity(1024);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path).with_context(|| format!("cannot read '{}'", path.display()))?,
            1024,
        ),
        &mut head,
    )?;
    kind.check_signature(&head).map_err(anyhow::Error::msg).with_context(|| format!("'{name}'"))?;
    let started = std::time::Instant::now();
    let profile = profile::profile(path, kind).map_err(anyhow::Error::msg).with_context(|| format!("'{name}'"))?;
    let took = started.elapsed();
    println!("{}", serde_json::to_string(&profile)?);
    eprintln!("profiled '{name}' in {:.3} s", took.as_secs_f64());
    Ok(())
}

fn run_worker(args: WorkerArgs, log: String) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let (buffer, receiver) = telemetry::init(&log, args.log_format);
    let profiler = args.profiling.profiler(false).map_err(anyhow::Error::msg)?;
    runtime()?.block_on(async move {
        let storage_url = args.storage.storage().map_err(anyhow::Error::msg)?;
        let options = okrflow_engine::EngineOptions {
            data_dir: args.storage.data_dir,
            storage_url,
            database_url: args.storage.database_url,
            storage_vars: None,
            admin_password: std::env::var("OKRFLOW_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty()),
            max_upload_bytes: okrflow_engine::files::DEFAULT_MAX_UPLOAD_BYTES,
            profiler,
            role: Some(okrflow_engine::processes::Role::Worker),
            task_slots: None,
        };
        let (engine, first_admin) = okrflow_engine::Engine::start(options, buffer, receiver)
            .await
            .context("cannot start the okrflow worker")?;
        crate::startup::announce_first_admin(&first_admin);
        let stop = crate::startup::shutdown_signal();
        tracing::info!(
            "okrflow {} worker {} running jobs from {}",
            env!("CARGO_PKG_VERSION"),
            engine.process_id(),
            engine.db().url()
        );
        stop.await;
        tracing::info!("stopping: unfinished jobs go back to the queue");
        engine.shutdown().await;
        Ok(())
    })
}

fn run_db_copy(from: &str, to: &str, replace: bool) -> anyhow::Result<()> {
    use okrflow_engine::db::{copy, Database};
    runtime()?.block_on(async move {
        let source = Database::connect(from).await?;
        let target = Database::connect(to).await?;
        println!("copying {} → {}", source.url(), target.url());
        let report = copy::copy(&source, &target, replace).await?;
        let width = report.tables.iter().map(|(t, _)| t.len()).max().unwrap_or(5).max(5);
        for (table, rows) in &report.tables {
            println!("  {table:<width$}  {rows:>10} rows");
        }
        if report.replaced > 0 {
            println!("  ({} rows of the target were replaced)", report.replaced);
        }
        println!(
            "copied {} rows in {} tables in {:.1} s",
            report.rows(),
            report.tables.len(),
            report.took.as_secs_f64()
        );
        source.close().await;
        target.close().await;
        Ok(())
    })
}

fn run_migrate(storage: StorageArgs) -> anyhow::Result<()> {
    let (buffer, receiver) = telemetry::init(crate::config::DEFAULT_LOG, crate::config::LogFormat::Text);
    let admin_password = std::env::var("OKRFLOW_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty());
    runtime()?.block_on(async move {
        let storage_url = storage.storage().map_err(anyhow::Error::msg)?;
        let options = okrflow_engine::EngineOptions {
            data_dir: storage.data_dir,
            storage_url,
            database_url: storage.database_url,
            storage_vars: None,
            admin_password,
            max_upload_bytes: okrflow_engine::files::DEFAULT_MAX_UPLOAD_BYTES,
            // Migrate only migrates: queued files wait for `serve`, and a live server's partial
            // uploads are not swept.
            profiler: okrflow_engine::files::ProfilerConfig { idle: true, ..Default::default() },
            role: None,
            task_slots: None,
        };
        let (engine, first_admin) = okrflow_engine::Engine::start(options, buffer, receiver).await?;
        crate::startup::announce_first_admin(&first_admin);
        println!("database {} is up to date", engine.db().url());
        engine.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("okrflow").chain(args.iter().copied()))
    }

    #[test]
    fn no_subcommand_means_serve_with_defaults() {
        let cli = parse(&[]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.storage.data_dir, std::path::PathBuf::from("./data"));
        assert!(cli.serve.addr.is_none());
    }

    #[test]
    fn serve_flags_parse() {
        let cli = parse(&[
            "serve",
            "--addr",
            "0.0.0.0:8080",
            "--data-dir",
            "/tmp/okr",
            "--database-url",
            "sqlite:///tmp/okr/x.db",
            "--log",
            "debug,hyper=warn",
            "--log-format",
            "json",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else { panic!("expected serve") };
        let config = ServeConfig::from_args(args).unwrap();
        assert_eq!(config.addr.to_string(), "0.0.0.0:8080");
        assert_eq!(config.database_url.as_deref(), Some("sqlite:///tmp/okr/x.db"));
        assert_eq!(config.log, "debug,hyper=warn");
        assert_eq!(config.log_format, crate::config::LogFormat::Json);
    }

    #[test]
    fn bad_usage_is_a_clap_error_that_names_the_flag() {
        let err = parse(&["serve", "--adr", "x"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownArgument);
        assert_eq!(err.exit_code(), 2);

        let err = parse(&["serve", "--addr", "localhost"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--addr"), "{err}");

        let Some(Command::Serve(args)) = parse(&["serve", "--database-url", "mysql://u:hunter2@h/db"]).unwrap().command
        else {
            panic!("expected serve")
        };
        let err = ServeConfig::from_args(args).unwrap_err();
        assert!(err.contains("--database-url") && err.contains("unsupported scheme 'mysql'"), "{err}");
        assert!(!err.contains("hunter2"), "the password is never echoed: {err}");
        for (url, says) in [
            ("s3://AKIA0:hunter2@bucket", "credentials do not go in the storage URL"),
            ("gs://bucket", "unsupported scheme 'gs'"),
            ("s3://B", "bucket name"),
        ] {
            let Some(Command::Serve(args)) = parse(&["serve", "--storage-url", url]).unwrap().command else {
                panic!("expected serve")
            };
            let err = ServeConfig::from_args(args).unwrap_err();
            assert!(err.starts_with("--storage-url: ") && err.contains(says), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }

        let err = parse(&["serve", "--log", "info,[[["]).unwrap_err();
        assert!(err.to_string().contains("not a valid log filter"), "{err}");

        let err = parse(&["serve", "--log-format", "xml"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
