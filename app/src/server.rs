//! Server-only helpers for server functions: reaching the engine that the router put in context.

use leptos::prelude::*;
use okrflow_engine::Engine;

/// The engine, or an error saying the server was wired without it (a bug, not user input).
pub fn engine() -> Result<Engine, ServerFnError> {
    use_context::<Engine>()
        .ok_or_else(|| ServerFnError::new("okrflow engine is not available in this request"))
}

/// A caller's mistake: answers 400 with `message` instead of the default 500.
pub fn bad_request(message: String) -> ServerFnError {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::BAD_REQUEST);
    }
    ServerFnError::new(message)
}
