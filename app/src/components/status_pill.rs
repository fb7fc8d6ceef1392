//! The navbar's system-status pill: the worst component decides its colour, and its text names
//! what is degraded or critical. It re-checks every 15 s and on Refresh.

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::health::{Health, SystemStatus};

use crate::refresh::use_refresh;

/// Every component's health, measured now; `None` for a caller who is not logged in (the
/// login page renders the layout too, and the status names addresses and check targets).
#[server]
pub async fn get_system_status() -> Result<Option<SystemStatus>, ServerFnError> {
    if crate::server::principal().is_none() {
        return Ok(None);
    }
    Ok(Some(crate::server::engine()?.status().await))
}

const RECHECK: Duration = Duration::from_secs(15);

/// The pill's data: created once by the layout, outside any Suspense. A resource created inside
/// the session-dependent navbar boundary got its hydration id at a different moment on the
/// server than in the browser, so the page's own resources picked up the wrong data now and
/// then (an unrecoverable hydration error).
pub fn status_resource() -> Resource<Result<Option<SystemStatus>, ServerFnError>> {
    let refresh = use_refresh();
    let tick = RwSignal::new(0u32);
    // Only in the browser: a timer that re-checks while the page is open.
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|n| *n = n.wrapping_add(1)), RECHECK) {
            on_cleanup(move || handle.clear());
        }
    });
    // Asked again on navigation too: the layout outlives the login, and the answer for an
    // anonymous visitor (None) must not linger once they are in.
    let location = leptos_router::hooks::use_location();
    Resource::new(move || (refresh.get(), tick.get(), location.pathname.get()), |_| get_system_status())
}

/// Renders inside the navbar's boundary, which waits for `status` too: a boundary of its own
/// here would be created while the page renders, at a moment that differs from request to
/// request on the server, and shift the hydration ids of the page's resources.
#[component]
pub fn StatusPill(status: Resource<Result<Option<SystemStatus>, ServerFnError>>) -> impl IntoView {
    move || {
        let (class, text, title) = match status.get() {
            Some(Ok(Some(s))) => pill_parts(&s),
            Some(Ok(None)) => ("pill pill-unknown", "Log in to see the status".to_string(), String::new()),
            Some(Err(e)) => ("pill pill-critical", "Server unreachable".to_string(), e.to_string()),
            None => ("pill pill-unknown", "Checking…".to_string(), String::new()),
        };
        view! {
            <span class=class role="status" title=title data-testid="status-pill">
                <span class="pill-dot" aria-hidden="true"></span>
                <span class="pill-text">{text}</span>
            </span>
        }
    }
}

fn pill_parts(s: &SystemStatus) -> (&'static str, String, String) {
    let class = match s.overall {
        Health::Healthy => "pill pill-healthy",
        Health::Degraded => "pill pill-degraded",
        Health::Critical => "pill pill-critical",
    };
    let title = s
        .components
        .iter()
        .map(|c| format!("{}: {} ({})", c.name, c.health.label(), c.detail))
        .collect::<Vec<_>>()
        .join("\n");
    (class, s.headline(), title)
}
