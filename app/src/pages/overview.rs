//! Overview (`/`): what is measured today — system status, uptime, the database, recent
//! warnings and errors — and an honest list of the capabilities still to come.

use leptos::prelude::*;
use okrflow_engine::health::{format_duration, Health, SystemStatus};
use serde::{Deserialize, Serialize};

use crate::components::card::StatCard;
use crate::refresh::use_refresh;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub status: SystemStatus,
    pub database_url: String,
    /// Size of the SQLite file plus its WAL, when the database is a file.
    pub database_bytes: Option<u64>,
    pub warnings_24h: u64,
    pub errors_24h: u64,
    pub log_entries_in_memory: usize,
}

#[server]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    let engine = crate::server::engine()?;
    let status = engine.status().await;
    let (warnings_24h, errors_24h) = engine
        .problems_within(std::time::Duration::from_secs(24 * 3600))
        .await
        .map_err(|e| ServerFnError::new(format!("counting stored warnings and errors: {e}")))?;
    Ok(Overview {
        status,
        database_url: engine.db().url().to_string(),
        database_bytes: engine.database_bytes(),
        warnings_24h,
        errors_24h,
        log_entries_in_memory: engine.logs().len(),
    })
}

/// "1.2 MB" from bytes (decimal units, as file managers show them).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let refresh = use_refresh();
    let overview = Resource::new(move || refresh.get(), |_| get_overview());

    view! {
        <div class="page overview">
            <Transition fallback=|| view! { <p class="loading">"Measuring…"</p> }>
                {move || {
                    overview
                        .get()
                        .map(|result| match result {
                            Ok(o) => view! { <OverviewCards overview=o/> }.into_any(),
                            Err(e) => {
                                view! { <p class="error" role="alert">"Could not load the overview: " {e.to_string()}</p> }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            <section class="coming" aria-labelledby="coming-title">
                <h2 id="coming-title">"Capabilities"</h2>
                <p class="muted">
                    "These pages show real data once their capability lands; until then they say so instead of showing invented numbers."
                </p>
                <ul class="coming-list">
                    <li><a href="/files">"Files"</a>" — upload, profile and convert CSV, Excel, JSON and archives."</li>
                    <li><a href="/pipelines">"Pipelines"</a>" — ingestion, validation, training and monitoring runs."</li>
                    <li><a href="/monitoring">"Monitoring"</a>" — live CPU, memory, disk and network charts."</li>
                    <li><a href="/experiments">"Experiments"</a>" — MLflow-compatible tracking of runs, params and metrics."</li>
                    <li><a href="/models">"Models"</a>" — OKR success classifiers and their versions."</li>
                </ul>
            </section>
        </div>
    }
}

#[component]
fn OverviewCards(overview: Overview) -> impl IntoView {
    let status = &overview.status;
    let tone = match status.overall {
        Health::Healthy => "tone-ok",
        Health::Degraded => "tone-warn",
        Health::Critical => "tone-bad",
    };
    let db = status.components.iter().find(|c| c.name == "database").cloned();
    let db_size = overview.database_bytes.map(format_bytes).unwrap_or_else(|| "in memory".into());
    let problems = overview.warnings_24h + overview.errors_24h;
    let problem_tone = if overview.errors_24h > 0 {
        "tone-bad"
    } else if overview.warnings_24h > 0 {
        "tone-warn"
    } else {
        "tone-ok"
    };
    view! {
        <section class="cards" aria-label="System summary">
            <StatCard
                label="System status"
                value=status.headline()
                detail=format!("{} components checked", status.components.len())
                href="/services"
                tone=tone
            />
            <StatCard
                label="Uptime"
                value=format_duration(status.uptime_secs)
                detail=format!("okrflow {}", status.version)
            />
            <StatCard
                label="Database"
                value=db_size
                detail=db.map(|c| c.detail).unwrap_or_default()
                href="/services"
            />
            <StatCard
                label="Warnings and errors, 24 h"
                value=problems.to_string()
                detail=format!(
                    "{} errors, {} warnings · {} entries in memory",
                    overview.errors_24h,
                    overview.warnings_24h,
                    overview.log_entries_in_memory,
                )
                href="/logs"
                tone=problem_tone
            />
        </section>
        <p class="muted small">"Database: " <code>{overview.database_url}</code></p>
    }
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1_500), "1.5 KB");
        assert_eq!(format_bytes(2_000_000_000), "2.0 GB");
    }
}
