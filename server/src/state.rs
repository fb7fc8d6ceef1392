//! [`AppState`]: what every axum handler can reach. Leptos pages and server functions get the
//! [`Engine`] through Leptos context instead (see `routes::router`).

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use okrflow_engine::Engine;

use crate::access::AccessControl;
use crate::http_metrics::HttpMetrics;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub engine: Engine,
    pub metrics: Arc<HttpMetrics>,
    pub access: AccessControl,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
