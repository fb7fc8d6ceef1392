//! Overview (`/`): the machine now (CPU, memory, disk, network, each against five minutes ago)
//! with live CPU and memory charts, the services summary, uptime, the database, recent warnings
//! and errors, and an honest list of the capabilities still to come.

use leptos::prelude::*;
use okrflow_engine::health::{Health, SystemStatus};
use okrflow_engine::units::{format_bytes, format_duration};
use serde::{Deserialize, Serialize};

use crate::components::card::StatCard;
use crate::components::live_charts::{collect_live, MetricCards, SystemCharts, CPU, MEMORY};
use crate::components::ErrorNote;
use crate::live::{refetch_on_reconnect, use_live_feed};
use crate::pages::monitoring::get_metric_history;
use okrflow_engine::monitoring::Range;

const OVERVIEW_CHARTS: [crate::components::live_charts::ChartSpec; 2] = [CPU, MEMORY];
/// The metrics the Overview's charts and cards use.
const OVERVIEW_METRICS: &str = "cpu,process_cpu,memory,swap,disk_usage,net_receive,net_transmit";
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
    /// Stored files (uploads and outputs) and their bytes.
    pub files: okrflow_engine::files::FileTotals,
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
        files: engine.files().totals().await.map_err(|e| ServerFnError::new(format!("counting files: {e}")))?,
    })
}

lazy_page!(OverviewRoute, OverviewPage);

#[component]
pub fn OverviewPage() -> impl IntoView {
    let refresh = use_refresh();
    let overview = Resource::new(move || refresh.get(), |_| get_overview());
    // Only what the cards and the two charts draw: less to measure, send and hydrate.
    let history = Resource::new(
        move || refresh.get(),
        |_| get_metric_history(Range::FiveMinutes.key().to_string(), Some(OVERVIEW_METRICS.to_string())),
    );
    let feed = use_live_feed();
    let live = collect_live(feed);
    refetch_on_reconnect(feed, history);

    view! {
        <div class="page overview">
            // One boundary for both resources, each read before branching, so the server sends
            // the page in one piece (two boundaries here hydrated out of step now and then).
            <Transition fallback=|| view! { <p class="loading">"Measuring…"</p> }>
                {move || {
                    let (history, overview) = (history.get(), overview.get());
                    let (history, overview) = (history?, overview?);
                    let machine = match history {
                        Ok(h) => {
                            let charts = h.clone();
                            view! {
                                <MetricCards history=h live=live.into()/>
                                <div class="chart-grid">
                                    <SystemCharts history=charts live=live.into() charts=&OVERVIEW_CHARTS/>
                                </div>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    };
                    let system = match overview {
                        Ok(o) => view! { <OverviewCards overview=o/> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    };
                    Some(view! { {machine} {system} })
                }}
            </Transition>
            <section class="coming" aria-labelledby="coming-title">
                <h2 id="coming-title">"Capabilities"</h2>
                <p class="muted">
                    "Files are here; these pages show real data once their capability lands, and until then they say so instead of showing invented numbers."
                </p>
                <ul class="coming-list">
                    <li><a href="/pipelines">"Pipelines"</a>" — ingestion, validation, training and monitoring runs."</li>
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
                detail=services_summary(status)
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
                label="Files"
                value=overview.files.files.to_string()
                detail=format!("{} stored", format_bytes(overview.files.bytes))
                href="/files"
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

/// "6 services: 5 healthy, 1 degraded".
fn services_summary(status: &SystemStatus) -> String {
    let count = |h: Health| status.components.iter().filter(|c| c.health == h).count();
    let mut parts = vec![format!("{} healthy", count(Health::Healthy))];
    for h in [Health::Degraded, Health::Critical] {
        if count(h) > 0 {
            parts.push(format!("{} {}", count(h), h.label()));
        }
    }
    format!("{} services: {}", status.components.len(), parts.join(", "))
}
