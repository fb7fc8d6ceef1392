//! `/healthz` (the process answers) and `/readyz` (it can reach its database), as JSON for
//! load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use okrflow_engine::health::Health;
use serde_json::{json, Value};

use crate::state::AppState;

/// Alive: answers as long as the process serves HTTP.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.engine.uptime().as_secs(),
    }))
}

/// Ready: the database answers. 503 with the reason when it does not.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = state.engine.database_health().await;
    let ready = db.health == Health::Healthy;
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "database": { "status": db.health.label(), "detail": db.detail },
        })),
    )
}
