//! [`Application`]: opens the engine, binds the listener, serves until told to stop, then shuts
//! down in order: stop accepting, let in-flight requests finish (bounded), flush logs, close
//! the database.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use leptos::prelude::LeptosOptions;
use okrflow_engine::accounts::users::FirstAdmin;
use okrflow_engine::health::Health;
use okrflow_engine::logs::{LogBuffer, LogReceiver};
use okrflow_engine::monitoring::services::{BoxFuture, Component, ComponentState};
use okrflow_engine::{Engine, EngineOptions};
use tokio::net::TcpListener;

use crate::access::AccessControl;
use crate::config::ServeConfig;
use crate::http_metrics::HttpMetrics;
use crate::origin::PublicOrigins;
use crate::routes;
use crate::serve::ConnectionLimits;
use crate::state::AppState;

/// In-flight requests get this long after a shutdown signal before the server stops anyway.
pub const GRACE: Duration = Duration::from_secs(10);

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    engine: Engine,
    addr: SocketAddr,
    limits: ConnectionLimits,
}

impl Application {
    /// Opens the data directory and database (running migrations) and binds the address.
    /// Errors name the path, URL or address and the cause.
    pub async fn build(config: ServeConfig, logs: LogBuffer, receiver: LogReceiver) -> anyhow::Result<Application> {
        let options = EngineOptions {
            data_dir: config.data_dir.clone(),
            database_url: config.database_url.clone(),
            storage_url: config.storage_url.clone(),
            storage_vars: config.storage_vars.clone(),
            admin_password: config.admin_password.clone(),
            max_upload_bytes: config.max_upload_bytes,
            profiler: config.profiler.clone(),
            role: Some(okrflow_engine::processes::Role::Serve),
            task_slots: None,
        };
        let (engine, first_admin) = Engine::start(options, logs, receiver).await.context("cannot start okrflow")?;
        announce_first_admin(&first_admin);

        let listener = match TcpListener::bind(config.addr).await {
            Ok(listener) => listener,
            Err(e) => {
                engine.shutdown().await;
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another program is using that port; choose another with --addr)"
                } else {
                    ""
                };
                anyhow::bail!("cannot listen on {}: {e}{hint}", config.addr);
            }
        };
        let addr = listener.local_addr().context("reading the bound address")?;
        engine.set_process_address(&addr.to_string()).await;

        let site_root = config.site_root.to_string_lossy().into_owned();
        if !config.site_root.join("pkg").is_dir() {
            tracing::warn!(
                site_root = %site_root,
                "no browser bundle in the site root: pages render but will not hydrate; build with `cargo leptos build`"
            );
        }
        let leptos_options = LeptosOptions::builder()
            .output_name("okrflow")
            .site_root(site_root)
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .reload_port(reload_port())
            .build();
        let origins = PublicOrigins::new(config.public_url.as_ref(), addr);
        if config.public_url.is_none() && addr.ip().is_unspecified() {
            tracing::warn!(
                origins = %origins.describe(),
                "listening on every interface without --public-url: browsers at other addresses cannot log in"
            );
        }
        tracing::info!(origins = %origins.describe(), "accepting browser changes from these origins");
        let access = AccessControl::new(engine.clone(), config.site_root.clone(), config.metrics_public, origins);
        let metrics = Arc::new(HttpMetrics::new());
        engine.components().register(Arc::new(WebServer {
            addr,
            started: std::time::Instant::now(),
            metrics: metrics.clone(),
            sampler: engine.sampler().clone(),
        }));
        let state = AppState { leptos_options, engine: engine.clone(), metrics, access };
        let router = routes::router(state);
        Ok(Application { listener, router, engine, addr, limits: config.limits })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `shutdown` completes, then stops gracefully (see [`GRACE`]).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Application { listener, router, engine, addr, limits } = self;
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "listening beyond loopback: put TLS in front of okrflow before exposing it");
        }
        tracing::info!("okrflow {} listening on http://{addr}", env!("CARGO_PKG_VERSION"));

        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let closing = engine.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: finishing in-flight requests");
            // Live metric streams never finish by themselves: end them so the server can stop.
            closing.begin_shutdown();
            let _ = stopping_tx.send(true);
        };
        let server = crate::serve::serve(listener, router, limits, signal);
        let deadline = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(GRACE).await;
        };
        tokio::select! {
            () = server => {}
            _ = deadline => tracing::warn!("in-flight requests still open after {} s; stopping anyway", GRACE.as_secs()),
        }
        engine.shutdown().await;
        tracing::info!("okrflow stopped");
        Ok(())
    }
}

/// The web server on the Services page: where it listens, what it has served. It has no
/// controls: stopping it from its own page would leave nothing to restart it from.
struct WebServer {
    addr: SocketAddr,
    started: std::time::Instant,
    metrics: Arc<HttpMetrics>,
    sampler: okrflow_engine::monitoring::sampler::Sampler,
}

impl Component for WebServer {
    fn name(&self) -> &str {
        "web server"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        let detail = format!(
            "listening on http://{} · {} requests served · {} live metric streams",
            self.addr,
            self.metrics.requests_total(),
            self.sampler.stats().subscribers
        );
        let uptime_secs = Some(self.started.elapsed().as_secs());
        Box::pin(async move { ComponentState { health: Health::Healthy, detail, uptime_secs } })
    }
}

/// Tells the person starting okrflow about a first admin just created. On standard output, not
/// in the logs: a generated password must not end up in log files.
pub fn announce_first_admin(first_admin: &FirstAdmin) {
    match first_admin {
        FirstAdmin::NotNeeded => {}
        FirstAdmin::FromEnvironment => {
            println!("okrflow: created the admin 'admin' with the password from OKRFLOW_ADMIN_PASSWORD");
        }
        FirstAdmin::Generated { password, file } => {
            println!(
                "okrflow: created the admin 'admin' with the generated password {password}\n\
                 okrflow: it is also in {} (readable only by you); change it after logging in",
                file.display()
            );
        }
    }
}

/// cargo-leptos's watch mode tells the page where its live-reload socket is.
fn reload_port() -> u32 {
    std::env::var("LEPTOS_RELOAD_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3001)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a signal that arrives just after okrflow said it is
/// listening (a deploy stopping a fresh process) must still stop it gracefully, not kill it.
/// Call it inside the runtime, before announcing readiness.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (interrupt, terminate) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
