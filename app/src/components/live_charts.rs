//! The system charts and metric cards that Overview and Monitoring share: each joins the
//! history the server rendered with the live samples that arrived since, so what hydrates is
//! what the server drew and every new sample moves it.

use leptos::prelude::*;
use okrflow_engine::monitoring::series::{downsample, trim_before, value_near};
use okrflow_engine::monitoring::{Metric, MetricHistory, Point, Sample, Unit, CHART_POINTS, LIVE_SAMPLES};
use okrflow_engine::units::format_rate;

use crate::components::card::StatCard;
use crate::components::chart::{format_value, ChartLine, LineChart};

/// One chart: which metrics it draws, in which colours.
pub struct ChartSpec {
    pub title: &'static str,
    pub unit: Unit,
    pub y_max: Option<f64>,
    pub test_id: &'static str,
    pub metrics: &'static [(Metric, &'static str)],
}

pub const CPU: ChartSpec = ChartSpec {
    title: "CPU",
    unit: Unit::Percent,
    y_max: Some(100.0),
    test_id: "chart-cpu",
    metrics: &[(Metric::Cpu, "line-1"), (Metric::ProcessCpu, "line-2")],
};
pub const MEMORY: ChartSpec = ChartSpec {
    title: "Memory",
    unit: Unit::Percent,
    y_max: Some(100.0),
    test_id: "chart-memory",
    metrics: &[(Metric::Memory, "line-1"), (Metric::Swap, "line-3")],
};
pub const DISK_IO: ChartSpec = ChartSpec {
    title: "Disk I/O",
    unit: Unit::BytesPerSec,
    y_max: None,
    test_id: "chart-disk",
    metrics: &[(Metric::DiskRead, "line-1"), (Metric::DiskWrite, "line-4")],
};
pub const NETWORK: ChartSpec = ChartSpec {
    title: "Network",
    unit: Unit::BytesPerSec,
    y_max: None,
    test_id: "chart-network",
    metrics: &[(Metric::NetReceive, "line-1"), (Metric::NetTransmit, "line-2")],
};

/// Live samples newer than the history, oldest first.
pub fn newer_than(live: &[Sample], end_ms: i64) -> impl Iterator<Item = &Sample> {
    live.iter().filter(move |s| s.t_ms > end_ms)
}

/// The end of the window: the newest live sample, or the history's end.
pub fn window_end(history: &MetricHistory, live: &[Sample]) -> i64 {
    live.last().map(|s| s.t_ms).filter(|t| *t > history.end_ms).unwrap_or(history.end_ms)
}

/// A metric's points: history, then live samples, within the range's window.
pub fn combined(history: &MetricHistory, live: &[Sample], metric: Metric) -> Vec<Point> {
    let mut points = history.series(metric).map(|s| s.points.clone()).unwrap_or_default();
    if history.range.is_live() {
        points.extend(newer_than(live, history.end_ms).map(|s| Point::exact(s.t_ms, s.metric(metric))));
    }
    let end = window_end(history, live);
    let from = end - history.range.millis();
    trim_before(&mut points, from);
    downsample(&points, from, end, CHART_POINTS)
}

/// The newest sample: the last live one, else the one the history came with.
pub fn latest(history: &MetricHistory, live: &[Sample]) -> Option<Sample> {
    newer_than(live, history.end_ms).last().cloned().or_else(|| history.latest.clone())
}

#[component]
pub fn SystemCharts(history: MetricHistory, live: Signal<Vec<Sample>>, charts: &'static [ChartSpec]) -> impl IntoView {
    let history = StoredValue::new(history);
    let window = Signal::derive(move || {
        let end = history.with_value(|h| live.with(|l| window_end(h, l)));
        (end - history.with_value(|h| h.range.millis()), end)
    });
    charts
        .iter()
        .map(|spec| {
            let lines = Signal::derive(move || {
                history.with_value(|h| {
                    live.with(|l| {
                        spec.metrics
                            .iter()
                            .map(|(metric, class)| ChartLine {
                                label: metric.label(),
                                class,
                                points: combined(h, l, *metric),
                            })
                            .collect::<Vec<_>>()
                    })
                })
            });
            match spec.y_max {
                Some(max) => view! {
                    <LineChart title=spec.title unit=spec.unit lines=lines window=window y_max=max test_id=spec.test_id/>
                }
                .into_any(),
                None => view! {
                    <LineChart title=spec.title unit=spec.unit lines=lines window=window test_id=spec.test_id/>
                }
                .into_any(),
            }
        })
        .collect_view()
}

/// "+4.1 pts vs 5 min ago": the change of `metric` against the sample five minutes before the
/// newest, from the five-minute history and the live samples.
fn change(history: &MetricHistory, live: &[Sample], metric: Metric) -> String {
    let Some(now) = latest(history, live) else { return "no samples yet".into() };
    let points = combined(history, live, metric);
    let Some(before) = value_near(&points, now.t_ms - 5 * 60_000, 2_000) else {
        return "no sample from 5 min ago yet".into();
    };
    let delta = now.metric(metric) - before;
    match metric.unit() {
        Unit::Percent => format!("{delta:+.1} pts vs 5 min ago"),
        Unit::BytesPerSec => {
            let sign = if delta < 0.0 { "−" } else { "+" };
            format!("{sign}{} vs 5 min ago", format_rate(delta.abs()))
        }
        unit => format!("{} vs 5 min ago", format_value(unit, delta)),
    }
}

fn percent_tone(v: f64) -> String {
    match v {
        v if v >= 90.0 => "tone-bad",
        v if v >= 75.0 => "tone-warn",
        _ => "",
    }
    .to_string()
}

/// CPU, memory, disk and network now, each with its change against five minutes ago. `history`
/// must be the five-minute range.
#[component]
pub fn MetricCards(history: MetricHistory, live: Signal<Vec<Sample>>) -> impl IntoView {
    let history = StoredValue::new(history);
    let now = move || history.with_value(|h| live.with(|l| latest(h, l)));
    let value =
        move |f: fn(&Sample) -> String| Signal::derive(move || now().map(|s| f(&s)).unwrap_or_else(|| "—".into()));
    let changed = move |m: Metric| Signal::derive(move || history.with_value(|h| live.with(|l| change(h, l, m))));
    let tone = move |m: Metric| Signal::derive(move || now().map(|s| percent_tone(s.metric(m))).unwrap_or_default());

    let cpu_detail = {
        let change = changed(Metric::Cpu);
        Signal::derive(move || {
            let load = now().map(|s| format!("load {:.2} · ", s.load[0])).unwrap_or_default();
            format!("{load}{}", change.get())
        })
    };
    let memory_detail = {
        let change = changed(Metric::Memory);
        Signal::derive(move || {
            let of = now()
                .map(|s| {
                    format!(
                        "{} of {} · ",
                        okrflow_engine::units::format_bytes(s.memory_used),
                        okrflow_engine::units::format_bytes(s.memory_total)
                    )
                })
                .unwrap_or_default();
            format!("{of}{}", change.get())
        })
    };
    let disk_detail = {
        let change = changed(Metric::DiskUsage);
        Signal::derive(move || {
            let io = now()
                .map(|s| {
                    format!(
                        "read {}, write {} · ",
                        format_rate(s.disk_read_per_sec()),
                        format_rate(s.disk_write_per_sec())
                    )
                })
                .unwrap_or_default();
            format!("{io}{}", change.get())
        })
    };
    let network_detail = {
        let rx = changed(Metric::NetReceive);
        Signal::derive(move || {
            let split = now()
                .map(|s| {
                    format!(
                        "↓ {} ↑ {} · ",
                        format_rate(s.network_receive_per_sec()),
                        format_rate(s.network_transmit_per_sec())
                    )
                })
                .unwrap_or_default();
            format!("{split}receive {}", rx.get())
        })
    };
    view! {
        <section class="cards" aria-label="System now">
            <StatCard
                label="CPU"
                value=value(|s| format!("{:.1} %", s.cpu_percent))
                detail=cpu_detail
                tone=tone(Metric::Cpu)
                href="/monitoring"
                test_id="card-cpu"
            />
            <StatCard
                label="Memory"
                value=value(|s| format!("{:.1} %", s.memory_percent()))
                detail=memory_detail
                tone=tone(Metric::Memory)
                href="/monitoring"
                test_id="card-memory"
            />
            <StatCard
                label="Disk space"
                value=value(|s| format!("{:.1} % used", s.disk_used_percent()))
                detail=disk_detail
                tone=tone(Metric::DiskUsage)
                href="/monitoring"
                test_id="card-disk"
            />
            <StatCard
                label="Network"
                value=value(|s| format_rate(s.network_receive_per_sec() + s.network_transmit_per_sec()))
                detail=network_detail
                href="/monitoring"
                test_id="card-network"
            />
        </section>
    }
}

/// Appends each new live sample to `live` (at most an hour of them), for the charts and cards.
pub fn collect_live(feed: crate::live::LiveFeed) -> RwSignal<Vec<Sample>> {
    let live = RwSignal::new(Vec::<Sample>::new());
    Effect::new(move |_| {
        if let Some(sample) = feed.latest.get() {
            live.update(|l| {
                if l.last().is_none_or(|last| sample.t_ms > last.t_ms) {
                    if l.len() >= LIVE_SAMPLES {
                        l.remove(0);
                    }
                    l.push(sample);
                }
            });
        }
    });
    live
}
