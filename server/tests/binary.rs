//! The real `okrflow` binary: bad usage exits 2 with the flag named, start-up failures exit 1
//! naming the path, URL or address, and SIGTERM / SIGINT shut it down gracefully.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn okrflow() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_okrflow"));
    // Keep the environment from choosing for the test.
    for var in [
        "OKRFLOW_ADDR",
        "OKRFLOW_DATA_DIR",
        "DATABASE_URL",
        "OKRFLOW_LOG",
        "RUST_LOG",
        "LEPTOS_SITE_ADDR",
        "OKRFLOW_ADMIN_PASSWORD",
        "OKRFLOW_METRICS_PUBLIC",
        "OKRFLOW_PUBLIC_URL",
        "OKRFLOW_MAX_CONNECTIONS",
        "OKRFLOW_STORAGE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ALLOW_HTTP",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn run(args: &[&str]) -> Output {
    run_command(okrflow().args(args), Duration::from_secs(30))
}

/// Runs `command` to its end with its output captured; kills it after `within`.
fn run_command(command: &mut Command, within: Duration) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command:?} did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_flags_and_bad_values_exit_2_naming_the_flag() {
    let out = run(&["serve", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--bogus"), "{}", stderr(&out));

    let out = run(&["serve", "--addr", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--addr"), "{}", stderr(&out));

    let out = run(&["serve", "--database-url", "mongodb://x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unsupported scheme 'mongodb'"), "{}", stderr(&out));

    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_never_prints_a_database_password_from_the_environment() {
    let out = okrflow().arg("--help").env("DATABASE_URL", "postgres://okr:s3cret@db/okr").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("DATABASE_URL"), "{help}");
    assert!(!help.contains("s3cret"), "{help}");
}

#[test]
fn an_unusable_data_dir_fails_at_start_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let bad = file.join("data");
    let out = run(&["serve", "--addr", "127.0.0.1:0", "--data-dir", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(bad.to_str().unwrap()), "{err}");
    assert!(err.contains("Not a directory"), "{err}");
}

#[test]
fn an_unopenable_database_fails_at_start_with_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite:///nonexistent-okrflow-dir/deeper/okr.db";
    let out =
        run(&["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--database-url", url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(url), "{err}");
    assert!(err.contains("unable to open database file"), "{err}");
}

#[test]
fn an_unreachable_postgres_fails_at_start_naming_host_port_and_cause_not_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1 of loopback: refused at once.
    let url = "postgres://okr:hunter2@127.0.0.1:1/okr";
    let out =
        run(&["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--database-url", url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot connect to Postgres at 127.0.0.1:1"), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// `okrflow serve` over a bucket of the S3 test server, with `vars` for the environment.
fn run_on_bucket(bucket: &okrflow_engine::storage::testing::TestBucket, vars: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let url = bucket.url.to_string();
    let args = ["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--storage-url", &url];
    run_command(okrflow().args(args).envs(vars.iter().map(|(k, v)| (k, v))), Duration::from_secs(60))
}

#[test]
fn a_bucket_that_cannot_be_used_is_named_at_start() {
    let bucket = okrflow_engine::storage::testing::TestBucket::new();
    let keyless: Vec<_> = bucket.vars.iter().filter(|(k, _)| !k.starts_with("AWS_ACCESS")).cloned().collect();
    let out = run_on_bucket(&bucket, &keyless);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot open the storage {}", bucket.url)), "{err}");
    assert!(err.contains("no credentials") && err.contains("AWS_ACCESS_KEY_ID"), "{err}");

    let missing = bucket.with_bucket("okrflow-no-such-bucket");
    let err = stderr(&run_on_bucket(&missing, &missing.vars));
    assert!(err.contains("the bucket 'okrflow-no-such-bucket' does not exist at http://127.0.0.1"), "{err}");

    let mut nowhere = bucket.vars.clone();
    nowhere.retain(|(k, _)| k != "AWS_ENDPOINT");
    nowhere.push(("AWS_ENDPOINT".into(), "http://127.0.0.1:9".into()));
    let out = run_on_bucket(&bucket, &nowhere);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot reach the object store at http://127.0.0.1:9"), "{err}");
    assert!(!err.contains("AWS_SECRET") && !err.contains("test:test"), "{err}");

    let out = run(&["serve", "--storage-url", "s3://Not_A_Bucket"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--storage-url: the bucket name"), "{}", stderr(&out));
}

#[test]
fn a_missing_postgres_database_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgres://postgres@127.0.0.1:5432/okrflow_no_such_database";
    let out =
        run(&["serve", "--addr", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap(), "--database-url", url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Postgres at 127.0.0.1:5432 has no database 'okrflow_no_such_database'"), "{err}");
    assert!(err.contains("createdb"), "{err}");
}

#[test]
fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["serve", "--addr", &addr, "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("another program is using that port"), "{err}");
}

#[test]
fn the_first_start_creates_an_admin_with_a_generated_password_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let file = dir.path().join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    assert_eq!(password.len(), 20);
    assert!(stdout.contains(&format!("generated password {password}")), "{stdout}");
    assert!(stdout.contains("initial-admin-password"), "{stdout}");
    assert!(!stderr(&out).contains(&password), "the password never reaches the log");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    // A second start creates nothing and prints nothing about it.
    let again = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&again.stdout).contains("created the admin"));
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("is up to date"));
    assert!(dir.path().join("okrflow.db").exists());
}

#[test]
fn migrate_on_postgres_creates_the_schema_and_no_sqlite_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = rt.block_on(okrflow_engine::db::scratch::ScratchDatabase::create()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = ["migrate", "--data-dir", dir.path().to_str().unwrap(), "--database-url", scratch.url()];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("is up to date"), "{stdout}");
    assert!(stdout.contains("generated password"), "the first admin is created on Postgres too: {stdout}");
    assert!(!dir.path().join("okrflow.db").exists());
    // Twice is harmless, and the admin is not created again.
    let again = run(&args);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!String::from_utf8_lossy(&again.stdout).contains("generated password"));
}

/// Starts `okrflow serve` on a free port and returns it with its address, read from its log.
fn start_server(data_dir: &std::path::Path) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = okrflow()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap(), "--log", "info"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if let Some(i) = line.find("listening on http://") {
                    let addr = line[i + "listening on http://".len()..].trim().to_string();
                    return (child, addr, rx);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("okrflow did not log its address within 30 s");
            }
        }
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "okrflow did not stop within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn graceful_stop_on(signal: i32) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, logs) = start_server(dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let status = agent.get(&format!("http://{addr}/healthz")).call().unwrap().status();
    assert_eq!(status, 200);

    // SAFETY: kill(2) on our own child's pid with a standard signal.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let exit = wait_exit(&mut child, Duration::from_secs(15));
    assert!(exit.success(), "exit status {exit:?}");
    let lines: Vec<String> = logs.try_iter().collect();
    assert!(lines.iter().any(|l| l.contains("shutdown requested")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("okrflow stopped")), "{lines:#?}");
    // The port is free again.
    std::net::TcpListener::bind(&addr).expect("port released after shutdown");
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    graceful_stop_on(libc::SIGTERM);
}

#[test]
fn sigint_stops_the_server_gracefully() {
    graceful_stop_on(libc::SIGINT);
}

/// Finding 6 of the attacker probe (issue 10): anonymous 401s and 403s wrote ERROR rows into the
/// stored logs, where a flood of them could push out real errors. Denials are warnings now, and
/// only so many a minute are logged, then one line saying how many more were suppressed.
#[test]
fn a_flood_of_anonymous_denials_adds_a_bounded_number_of_warnings_and_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr, _logs) = start_server(dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    for i in 0..100 {
        // A method the route does not have (405), and an admin function without credentials (401).
        let status = agent.put(&format!("http://{addr}/api/v1/files/{i}")).send("x").unwrap().status();
        assert_eq!(status, 405);
        let status = agent.post(&format!("http://{addr}/api/list_users")).send("").unwrap().status();
        assert_eq!(status, 401);
    }
    // SAFETY: kill(2) on our own child's pid with a standard signal; the stop flushes the logs.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert!(wait_exit(&mut child, Duration::from_secs(15)).success());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stored = runtime.block_on(async {
        let url = okrflow_engine::db::DatabaseUrl::default_in(dir.path());
        let db = okrflow_engine::db::Database::connect(&url).await.unwrap();
        let query = okrflow_engine::logs::LogQuery { limit: 1_000, ..Default::default() };
        okrflow_engine::logs::store::query(&db, &query).await.unwrap()
    });
    let errors: Vec<_> = stored.iter().filter(|e| e.level == okrflow_engine::logs::LogLevel::Error).collect();
    assert!(errors.is_empty(), "denials are not errors: {errors:#?}");
    let denials: Vec<_> = stored.iter().filter(|e| e.message.contains("denied")).collect();
    assert!(!denials.is_empty(), "denials are still logged: {stored:#?}");
    assert!(stored.len() <= 25, "{} stored rows for 200 denials: {stored:#?}", stored.len());
}

#[test]
fn a_bad_public_url_or_connection_cap_exits_2_naming_the_flag() {
    for (args, says) in [
        (&["serve", "--public-url", "ftp://okr.example.com"][..], "http or https"),
        (&["serve", "--public-url", "https://okr.example.com/okrflow"][..], "without a path"),
        (&["serve", "--max-connections", "0"][..], "--max-connections"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
