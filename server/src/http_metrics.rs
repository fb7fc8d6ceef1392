//! Prometheus metrics for HTTP: requests by method, route and status, and a latency histogram
//! by method and route. Routes are axum's matched templates (`/api/{*fn_name}` style), never raw
//! paths, so a scan of random URLs cannot blow up the number of series.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The registry and the HTTP series in it. Later capabilities register their own metrics in
/// [`HttpMetrics::registry_mut`] before the state is shared.
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    /// All requests, for the web server's line on the Services page.
    total: std::sync::atomic::AtomicU64,
    /// The monitoring gauges, refreshed from the engine on each scrape.
    pub system: crate::system_metrics::SystemMetrics,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("okrflow");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route, until the response head",
            latency.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
        registry.register("build_info", "The running okrflow version", build);
        let system = crate::system_metrics::SystemMetrics::register(&mut registry);
        HttpMetrics { registry, requests, latency, total: Default::default(), system }
    }

    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn requests_total(&self) -> u64 {
        self.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.requests.get_or_create(&RequestLabels { method: method.into(), route: route.into(), status }).inc();
        self.latency.get_or_create(&RouteLabels { method: method.into(), route: route.into() }).observe(seconds);
    }

    /// The exposition text (OpenMetrics, which Prometheus reads).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Middleware: times each request and counts it under its matched route ("unmatched" for the
/// static-file and 404 fallback).
pub async fn track(State(metrics): State<Arc<HttpMetrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    metrics.observe(&method, &route, response.status().as_u16(), start.elapsed().as_secs_f64());
    response
}
