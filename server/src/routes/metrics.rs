//! `/metrics`: the Prometheus exposition of everything registered in [`crate::http_metrics`],
//! with the monitoring gauges refreshed from the engine first.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::state::AppState;

pub const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.system.update(&state.engine).await;
    ([(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], state.metrics.render())
}
