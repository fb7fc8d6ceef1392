//! Monitoring (`/monitoring`): live CPU, memory, disk I/O and network charts with a range
//! switch (5 min and 1 h from the in-memory second samples, moving live; 24 h and 7 days from
//! the stored minutes), and the newest sample in detail: cores, load, disks, interfaces and
//! okrflow's own process.

use leptos::prelude::*;
use okrflow_engine::monitoring::{MetricHistory, Range, Sample};
use okrflow_engine::units::{format_bytes, format_duration, format_rate};

use crate::components::live_charts::{collect_live, latest, SystemCharts, CPU, DISK_IO, MEMORY, NETWORK};
use crate::components::table::TableHead;
use crate::components::ErrorNote;
use crate::live::{refetch_on_reconnect, use_live_feed, LiveState};
use crate::refresh::use_refresh;

/// The charts' data for a range: `5m`, `1h`, `24h` or `7d`; `metrics` is a comma-separated list
/// of metric keys (`cpu,memory,…`), every metric when absent or empty.
#[server]
pub async fn get_metric_history(range: String, metrics: Option<String>) -> Result<MetricHistory, ServerFnError> {
    use okrflow_engine::monitoring::Metric;
    let engine = crate::server::engine()?;
    let range = Range::from_key(&range).ok_or_else(|| {
        let keys: Vec<_> = Range::ALL.iter().map(|r| r.key()).collect();
        crate::server::bad_request(format!("range '{range}': use one of {}", keys.join(", ")))
    })?;
    let wanted = Metric::parse_list(metrics.as_deref().unwrap_or("")).map_err(crate::server::bad_request)?;
    engine
        .sampler()
        .history(engine.db(), range, &wanted)
        .await
        .map_err(|e| ServerFnError::new(format!("reading the metric history: {e}")))
}

const ALL_CHARTS: [crate::components::live_charts::ChartSpec; 4] = [CPU, MEMORY, DISK_IO, NETWORK];

lazy_page!(MonitoringRoute, MonitoringPage);

#[component]
pub fn MonitoringPage() -> impl IntoView {
    let refresh = use_refresh();
    let range = RwSignal::new(Range::FiveMinutes);
    let feed = use_live_feed();
    let live = collect_live(feed);
    let history = Resource::new(
        move || (range.get(), refresh.get()),
        |(range, _)| get_metric_history(range.key().to_string(), None),
    );
    // A reconnection refetches the history to fill the gap; the stored ranges (which do not
    // move live) refetch every minute.
    refetch_on_reconnect(feed, history);
    Effect::new(move |_| {
        let every_minute = move || {
            if !range.get_untracked().is_live() {
                history.refetch();
            }
        };
        if let Ok(handle) = set_interval_with_handle(every_minute, std::time::Duration::from_secs(60)) {
            on_cleanup(move || handle.clear());
        }
    });
    // A clock for "no new samples for a while", ticking only in the browser.
    let clock = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Ok(handle) =
            set_interval_with_handle(move || clock.update(|c| *c += 1), std::time::Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
    });
    let sampler_paused = move || {
        clock.track();
        feed.received_at.get().is_some_and(|t| crate::live::browser_now_ms().is_some_and(|now| now - t > 5_000))
    };

    view! {
        <div class="page monitoring">
            <div class="toolbar">
                <div class="segmented" role="group" aria-label="Chart range">
                    {Range::ALL
                        .into_iter()
                        .map(|r| {
                            view! {
                                <button
                                    type="button"
                                    aria-pressed=move || (range.get() == r).to_string()
                                    on:click=move |_| range.set(r)
                                >
                                    {r.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
                <span class="live-state small" data-testid="live-state" role="status">
                    {move || {
                        let state = feed.state.get();
                        let stale = state == LiveState::Live && sampler_paused();
                        if stale {
                            "Live, but no new samples: is the sampler paused? (Services)".to_string()
                        } else {
                            state.describe()
                        }
                    }}
                </span>
            </div>
            <Transition fallback=|| view! { <p class="loading">"Loading the history…"</p> }>
                {move || {
                    history
                        .get()
                        .map(|result| match result {
                            Ok(h) => {
                                let snapshot = h.clone();
                                view! {
                                    <div class="chart-grid">
                                        <SystemCharts history=h live=live.into() charts=&ALL_CHARTS/>
                                    </div>
                                    <SampleDetails history=snapshot live=live.into()/>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn SampleDetails(history: MetricHistory, live: Signal<Vec<Sample>>) -> impl IntoView {
    let history = StoredValue::new(history);
    let now = move || history.with_value(|h| live.with(|l| latest(h, l)));
    move || {
        match now() {
        None => view! {
            <p class="muted">"No sample yet: the sampler takes its first one within a second of starting, unless it is paused."</p>
        }
        .into_any(),
        Some(s) => view! { <SampleTables sample=s/> }.into_any(),
    }
    }
}

#[component]
fn SampleTables(sample: Sample) -> impl IntoView {
    let cores = sample
        .cpu_per_core
        .iter()
        .enumerate()
        .map(|(i, usage)| {
            // An SVG bar: the page's CSP allows no inline styles.
            let width = format!("{:.1}", usage.clamp(0.0, 100.0));
            view! {
                <li>
                    <span class="core-name">{format!("core {i}")}</span>
                    <svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true">
                        <rect class="bar-fill" width=width height="8"></rect>
                    </svg>
                    <span class="core-value">{format!("{usage:.0} %")}</span>
                </li>
            }
        })
        .collect_view();
    let p = &sample.process;
    let open_files = p.open_files.map(|n| n.to_string()).unwrap_or_else(|| "not reported".into());
    view! {
        <div class="detail-grid">
            <section class="card">
                <h3>"Cores"</h3>
                <ul class="cores">{cores}</ul>
                <p class="small muted">
                    {format!(
                        "Load {:.2} / {:.2} / {:.2} (1, 5, 15 min) · machine up {}",
                        sample.load[0],
                        sample.load[1],
                        sample.load[2],
                        format_duration(sample.uptime_secs),
                    )}
                </p>
            </section>
            <section class="card">
                <h3>"okrflow process"</h3>
                <dl class="facts">
                    <dt>"CPU"</dt>
                    <dd>{format!("{:.1} % of a core", p.cpu_percent)}</dd>
                    <dt>"Resident memory"</dt>
                    <dd>{format_bytes(p.rss)}</dd>
                    <dt>"Threads"</dt>
                    <dd>{p.threads}</dd>
                    <dt>"Open files"</dt>
                    <dd>{open_files}</dd>
                    <dt>"Swap"</dt>
                    <dd>{format!("{} of {}", format_bytes(sample.swap_used), format_bytes(sample.swap_total))}</dd>
                </dl>
            </section>
            <section class="card">
                <h3>"Disks"</h3>
                <table class="table">
                    <TableHead columns=&["Mount", "Used", "Read", "Write"]/>
                    <tbody>
                        {sample
                            .disks
                            .iter()
                            .map(|d| {
                                view! {
                                    <tr>
                                        <td><code>{d.mount.clone()}</code></td>
                                        <td>{format!("{} of {}", format_bytes(d.used), format_bytes(d.total))}</td>
                                        <td>{format_rate(d.read_per_sec)}</td>
                                        <td>{format_rate(d.write_per_sec)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
            <section class="card">
                <h3>"Network interfaces"</h3>
                <table class="table">
                    <TableHead columns=&["Interface", "Receive", "Transmit"]/>
                    <tbody>
                        {sample
                            .networks
                            .iter()
                            .map(|n| {
                                let name = if n.is_loopback() {
                                    format!("{} (loopback, not in totals)", n.interface)
                                } else {
                                    n.interface.clone()
                                };
                                view! {
                                    <tr>
                                        <td>{name}</td>
                                        <td>{format_rate(n.receive_per_sec)}</td>
                                        <td>{format_rate(n.transmit_per_sec)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
    }
}
