//! The navbar's system-status pill: the worst component decides its colour, and its text names
//! what is degraded or critical. It re-checks every 15 s and on Refresh.

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::health::{Health, SystemStatus};

use crate::refresh::use_refresh;

/// Every component's health, measured now.
#[server]
pub async fn get_system_status() -> Result<SystemStatus, ServerFnError> {
    Ok(crate::server::engine()?.status().await)
}

const RECHECK: Duration = Duration::from_secs(15);

#[component]
pub fn StatusPill() -> impl IntoView {
    let refresh = use_refresh();
    let tick = RwSignal::new(0u32);
    // Only in the browser: a timer that re-checks while the page is open.
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|n| *n = n.wrapping_add(1)), RECHECK) {
            on_cleanup(move || handle.clear());
        }
    });
    let status = Resource::new(move || (refresh.get(), tick.get()), |_| get_system_status());

    view! {
        <Transition fallback=|| view! { <span class="pill pill-unknown" role="status">"Checking…"</span> }>
            {move || {
                status
                    .get()
                    .map(|result| {
                        let (class, text, title) = match result {
                            Ok(s) => pill_parts(&s),
                            Err(e) => ("pill pill-critical", "Server unreachable".to_string(), e.to_string()),
                        };
                        view! {
                            <span class=class role="status" title=title data-testid="status-pill">
                                <span class="pill-dot" aria-hidden="true"></span>
                                <span class="pill-text">{text}</span>
                            </span>
                        }
                    })
            }}
        </Transition>
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
