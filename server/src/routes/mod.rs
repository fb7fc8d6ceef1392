//! The axum router: Leptos pages and server functions, the operational endpoints, static files,
//! and the layers every request passes, outermost first: request id, trace span, metrics,
//! security headers, access (who may), server-function status codes.

pub mod files;
pub mod health;
pub mod metrics;
pub mod mlflow;
pub mod pipelines;
pub mod server_fns;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use app::{shell, App};
use axum::extract::State;
use axum::response::IntoResponse as _;
use axum::routing::get;
use axum::{middleware, Router};
use http::{HeaderName, Request};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::state::AppState;
use crate::{access, http_metrics, security_headers};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids: a process-wide counter, enough to find one request's lines in the log.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        Some(RequestId::new(n.to_string().parse().ok()?))
    }
}

/// The app's routes, generated once per process. Generating them renders the app with resource
/// loading switched off through a process-wide flag in Leptos, which would stall pages being
/// rendered at the same moment by another router in the process (as in the test suite).
pub fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The browser bundle (`/pkg/…`) keeps its names across releases, so browsers must ask before
/// reusing a copy: `no-cache` makes every page load revalidate it (a `304 Not Modified` from
/// its Last-Modified date when unchanged), and after an upgrade no browser runs an old bundle
/// against the new server, which would fail to hydrate.
async fn revalidate_bundle(req: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    let is_bundle = req.uri().path().starts_with("/pkg/");
    let mut response = next.run(req).await;
    if is_bundle {
        response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    }
    response
}

/// The bundle from the site root with the whole request, so that revalidation
/// (`If-Modified-Since`) answers 304; Leptos's file handler passes on only Accept-Encoding.
async fn serve_bundle(state: &AppState, req: axum::extract::Request) -> axum::response::Response {
    use tower::ServiceExt as _;
    let root = state.leptos_options.site_root.to_string();
    match tower_http::services::ServeDir::new(root).precompressed_gzip().precompressed_br().oneshot(req).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, format!("cannot read the bundle: {e}")).into_response(),
    }
}

/// The REST API's OpenAPI document, generated once per process.
async fn openapi() -> axum::response::Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| app::openapi::document().to_string()).clone();
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The caller of a REST route as the engine's [`Actor`]: the principal and address the access
/// layer put in the request (no principal on anonymous routes).
pub struct Caller(pub okrflow_engine::Actor);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Caller, Self::Rejection> {
        let principal = parts.extensions.get::<okrflow_engine::accounts::Principal>().cloned();
        let address = parts.extensions.get::<app::server::ClientIp>().map(|ip| ip.0.clone()).unwrap_or_default();
        Ok(Caller(okrflow_engine::Actor::new(principal, address)))
    }
}

/// Builds the whole application router over `state`.
pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let engine = state.engine.clone();
    let options = state.leptos_options.clone();
    let pages_fallback = leptos_axum::file_and_error_handler::<AppState, _>(shell);
    let pages = Router::<AppState>::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(app::api::OPENAPI.path, get(openapi))
        .merge(files::routes())
        .merge(mlflow::routes())
        .merge(pipelines::routes())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(engine.clone()),
            move || shell(options.clone()),
        )
        .fallback(move |uri: http::Uri, State(state): State<AppState>, req: axum::extract::Request| {
            let pages = pages_fallback.clone();
            async move {
                if uri.path().starts_with("/pkg/") {
                    serve_bundle(&state, req).await
                } else {
                    pages(uri, State(state), req).await
                }
            }
        });

    pages
        .layer(middleware::from_fn(revalidate_bundle))
        .layer(middleware::from_fn(server_fns::caller_errors_are_4xx))
        .layer(middleware::from_fn_with_state(state.access.clone(), access::enforce))
        .layer(middleware::from_fn(security_headers::add))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), http_metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: query strings may carry tokens.
                    tracing::info_span!("request", id, method = %req.method(), path = req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, Counter::default()))
        .with_state(state)
}
