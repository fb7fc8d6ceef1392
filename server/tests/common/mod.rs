//! Test helpers: start the real application on a free port with its own data directory, and
//! speak HTTP to it with a real client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

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
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Starts okrflow as `serve` would, on 127.0.0.1 with a port the system picks.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::for_tests(dir.path().join("data"));
    let buffer = LogBuffer::new(1_000);
    let (_layer, receiver) = capture(buffer.clone());
    let app = Application::build(config, buffer, receiver)
        .await
        .expect("application builds");
    let addr = app.local_addr();
    let engine = app.engine().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        engine,
        dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> Reply {
        let url = self.url(path);
        tokio::task::spawn_blocking(move || send(ureq_agent().get(&url).call()))
            .await
            .unwrap()
    }

    /// POSTs a form body, as Leptos server functions expect by default.
    pub async fn post_form(&self, path: &str, form: Vec<(String, String)>) -> Reply {
        let url = self.url(path);
        tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            send(ureq_agent().post(&url).send_form(pairs))
        })
        .await
        .unwrap()
    }

    /// Stops the server as a signal would, and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("stops in time")
            .expect("task joins")
    }
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn send(result: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.expect("request completes");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.body_mut().read_to_string().expect("body reads");
    Reply {
        status,
        content_type,
        body,
    }
}

/// The URL path of the server function whose name contains `name` (paths carry a hash suffix).
pub fn server_fn_path(name: &str) -> String {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .find(|path| path.contains(name))
        .unwrap_or_else(|| panic!("no server function named like {name}"))
}
