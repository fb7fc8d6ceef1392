//! Test helpers: start the real application on a free port with its own data directory, and
//! speak HTTP to it with a real client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use okrflow_engine::db::scratch::ScratchDatabase;
use okrflow_engine::logs::{capture, LogBuffer};
use okrflow_engine::Engine;
use okrflow_server::config::ServeConfig;
use okrflow_server::startup::Application;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub addr: SocketAddr,
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    /// The Postgres database of a test run on Postgres, dropped with the app.
    pub scratch: Option<ScratchDatabase>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

/// The first admin of every test app.
pub const ADMIN: (&str, &str) = ("admin", okrflow_server::config::ServeConfig::TEST_ADMIN_PASSWORD);

/// An `Authorization: Basic` value.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// The admin's Basic credentials, for tests that are not about access.
pub fn admin_auth() -> String {
    basic(ADMIN.0, ADMIN.1)
}

/// The `okrflow` binary the tests start: cargo's, or `OKRFLOW_TEST_BIN` (a copy of another
/// build, e.g. while a second checkout shares the target directory).
pub fn okrflow_bin() -> std::path::PathBuf {
    std::env::var_os("OKRFLOW_TEST_BIN").map(Into::into).unwrap_or_else(|| env!("CARGO_BIN_EXE_okrflow").into())
}

/// The database backend the suite runs on: `OKRFLOW_TEST_BACKEND=postgres` runs every app on
/// a scratch database of its own on the Postgres server (`OKRFLOW_TEST_POSTGRES`); the default
/// is SQLite in the app's data directory. `.ci/run` runs the suite both ways.
pub fn on_postgres() -> bool {
    match std::env::var("OKRFLOW_TEST_BACKEND").unwrap_or_default().as_str() {
        "" | "sqlite" => false,
        "postgres" => true,
        other => panic!("OKRFLOW_TEST_BACKEND={other}: use sqlite or postgres"),
    }
}

/// The store the suite's apps keep bytes in: `OKRFLOW_TEST_STORAGE=s3` puts each app's files
/// under a prefix of its own in the S3-compatible test server's bucket
/// (`okrflow_engine::storage::testing`); the default is the app's data directory. `.ci/run`
/// runs the SQLite suite on the local store and the Postgres suite on S3.
pub fn on_s3() -> bool {
    match std::env::var("OKRFLOW_TEST_STORAGE").unwrap_or_default().as_str() {
        "" | "local" => false,
        "s3" => true,
        other => panic!("OKRFLOW_TEST_STORAGE={other}: use local or s3"),
    }
}

/// A scratch Postgres database when the suite runs on Postgres.
pub async fn scratch_database() -> Option<ScratchDatabase> {
    if on_postgres() {
        Some(ScratchDatabase::create().await.unwrap_or_else(|e| panic!("{e}")))
    } else {
        None
    }
}

/// Starts okrflow as `serve` would, on 127.0.0.1 with a port the system picks.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a change to the test configuration.
pub async fn spawn_app_with(change: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServeConfig::for_tests(dir.path().join("data"));
    // Files are profiled as `serve` does: in child processes of the real binary.
    config.profiler.program = Some(okrflow_bin());
    let scratch = scratch_database().await;
    config.database_url = scratch.as_ref().map(|s| s.url().to_string());
    if on_s3() {
        let bucket = okrflow_engine::storage::testing::TestBucket::new();
        config.storage_url = Some(bucket.url);
        config.storage_vars = Some(bucket.vars);
    }
    change(&mut config);
    let buffer = LogBuffer::new(1_000);
    let (_layer, receiver) = capture(buffer.clone());
    let app = Application::build(config, buffer, receiver).await.expect("application builds");
    let addr = app.local_addr();
    let engine = app.engine().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp { addr, engine, dir, scratch, stop: Some(stop), task: Some(task) }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET without credentials.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    /// GET as the admin (Basic), for tests that are not about access.
    pub async fn get_as_admin(&self, path: &str) -> Reply {
        self.get_with(path, &[("authorization", &admin_auth())]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, None).await
    }

    /// POSTs a form body as the admin (Basic), as Leptos server functions expect by default.
    pub async fn post_form(&self, path: &str, form: Vec<(String, String)>) -> Reply {
        self.request("POST", path, &[("authorization", &admin_auth())], Some(form)).await
    }

    /// A GET, DELETE or POST with the given headers and, for POST, a form body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        form: Option<Vec<(String, String)>>,
    ) -> Reply {
        let url = self.url(path);
        let method = method.to_string();
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        tokio::task::spawn_blocking(move || {
            let agent = ureq_agent();
            if method == "GET" || method == "DELETE" {
                let mut req = if method == "GET" { agent.get(&url) } else { agent.delete(&url) };
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                send(&url, req.call())
            } else {
                let mut req = agent.post(&url);
                for (k, v) in &headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                let form = form.unwrap_or_default();
                let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                send(&url, req.send_form(pairs))
            }
        })
        .await
        .unwrap()
    }

    /// Any method with a raw body (none for `None`), the path sent exactly as given (no dot
    /// segments resolved), and the whole answer read whatever its type.
    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = self.url(path);
        let mut builder = http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body.unwrap_or_default()).expect("a valid request");
        tokio::task::spawn_blocking(move || {
            let mut response = ureq_agent().run(request).unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let content_type =
                headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let bytes = response.body_mut().with_config().limit(256 * 1024 * 1024).read_to_vec().expect("the body");
            Reply { status, content_type, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        })
        .await
        .unwrap()
    }

    /// Logs in through the login server function as a browser would; returns the session
    /// cookie's `name=value`.
    pub async fn login(&self, user: &str, password: &str) -> Result<String, Reply> {
        let origin = format!("http://{}", self.addr);
        let form = vec![("username".to_string(), user.to_string()), ("password".to_string(), password.to_string())];
        let reply = self.request("POST", "/api/login", &[("origin", &origin)], Some(form)).await;
        let cookie = reply
            .headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("okrflow_session=") && !c.starts_with("okrflow_session=;"))
            .map(|c| c.split(';').next().unwrap_or_default().to_string());
        match cookie {
            Some(c) if (200..400).contains(&reply.status) => Ok(c),
            _ => Err(reply),
        }
    }

    /// Creates a user directly in the engine; returns nothing (the password is the caller's).
    pub async fn create_user(&self, name: &str, password: &str, role: okrflow_engine::accounts::Role) {
        okrflow_engine::accounts::users::create(self.engine.db(), name, password, role).await.expect("user created");
    }

    /// Stops the server as a signal would, and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(20), task).await.expect("stops in time").expect("task joins")
    }
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn send(url: &str, result: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let headers = response.headers().clone();
    // Streaming responses (the live metrics) never end: only their head is checked here.
    if content_type == "application/octet-stream" {
        return Reply { status, content_type, headers, body: String::new() };
    }
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{url}: reading the body: {e}"));
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Reply { status, content_type, headers, body }
}

/// The URL path of a server function (stable: see .cargo/config.toml).
pub fn server_fn_path(name: &str) -> String {
    let path = format!("/api/{name}");
    assert!(leptos::server_fn::axum::server_fn_paths().any(|(p, _)| p == path), "no server function at {path}");
    path
}
