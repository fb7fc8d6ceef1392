//! Runs side by side (`/compare?runs=a,b,…`): params and latest metrics in one table (rows whose
//! values are all equal hidden unless asked for), every metric's charts with one line per run,
//! and a parallel-coordinates chart over the numeric params and metrics that differ.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use okrflow_engine::tracking::Run;

use super::{compare_runs, metric_points};
use crate::components::metric_chart::{
    format_number, line_class, MetricChart, MetricSeries, ParallelChart, ParallelLine,
};
use crate::components::ErrorNote;
use crate::refresh::use_refresh;

const MAX_CHARTS: usize = 12;
const MAX_AXES: usize = 10;

/// One row of the table: a key and each run's value.
struct Row {
    section: &'static str,
    key: String,
    values: Vec<Option<String>>,
    numbers: Vec<Option<f64>>,
}

impl Row {
    fn all_equal(&self) -> bool {
        self.values.windows(2).all(|w| w[0] == w[1])
    }
}

fn rows_of(runs: &[Run]) -> Vec<Row> {
    let params: BTreeSet<&str> = runs.iter().flat_map(|r| r.data.params.iter().map(|p| p.key.as_str())).collect();
    let metrics: BTreeSet<&str> = runs.iter().flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str())).collect();
    let mut rows = Vec::new();
    for key in params {
        let values: Vec<Option<String>> =
            runs.iter().map(|r| r.data.params.iter().find(|p| p.key == key).map(|p| p.value.clone())).collect();
        let numbers = values.iter().map(|v| v.as_deref().and_then(|v| v.trim().parse::<f64>().ok())).collect();
        rows.push(Row { section: "Params", key: key.to_string(), values, numbers });
    }
    for key in metrics {
        let found: Vec<Option<f64>> =
            runs.iter().map(|r| r.data.metrics.iter().find(|m| m.key == key).map(|m| m.value)).collect();
        let values = found.iter().map(|v| v.map(format_number)).collect();
        rows.push(Row { section: "Metrics", key: key.to_string(), values, numbers: found });
    }
    rows
}

lazy_page!(CompareRoute, ComparePage);

#[component]
pub fn ComparePage() -> impl IntoView {
    let query = use_query_map();
    let ids = Memo::new(move |_| query.with(|q| q.get("runs").unwrap_or_default()));
    let refresh = use_refresh();
    let runs = Resource::new(move || (ids.get(), refresh.get()), |(ids, _)| compare_runs(ids));
    let only_differences = RwSignal::new(true);
    view! {
        <div class="page compare">
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                {move || {
                    runs.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(runs) => view! { <Comparison runs only_differences/> }.into_any(),
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn Comparison(runs: Vec<Run>, only_differences: RwSignal<bool>) -> impl IntoView {
    let rows = StoredValue::new(rows_of(&runs));
    let names: Vec<String> = runs.iter().map(|r| r.info.run_name.clone()).collect();
    let ids: Vec<String> = runs.iter().map(|r| r.info.run_id.clone()).collect();
    let back =
        runs.first().map(|r| format!("/experiments/{}", r.info.experiment_id)).unwrap_or_else(|| "/experiments".into());
    let head = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            view! {
                <th scope="col">
                    <span class=format!("swatch {}", line_class(i)) aria-hidden="true"></span>
                    <a href=format!("/runs/{}", r.info.run_id)>{r.info.run_name.clone()}</a>
                </th>
            }
        })
        .collect_view();
    let body = move || {
        let hide = only_differences.get();
        rows.with_value(|rows| {
            let shown: Vec<&Row> = rows.iter().filter(|r| !hide || !r.all_equal()).collect();
            if shown.is_empty() {
                return view! { <tr><td colspan="99" class="empty-note">"Every param and metric is equal across these runs."</td></tr> }.into_any();
            }
            shown
                .into_iter()
                .map(|r| {
                    let differs = !r.all_equal();
                    view! {
                        <tr class:differs=differs>
                            <th scope="row"><span class="muted small">{r.section}" "</span><span class="mono">{r.key.clone()}</span></th>
                            {r.values.iter().map(|v| match v {
                                Some(v) => view! { <td>{v.clone()}</td> }.into_any(),
                                None => view! { <td class="null">"—"</td> }.into_any(),
                            }).collect_view()}
                        </tr>
                    }
                })
                .collect_view()
                .into_any()
        })
    };
    // Axes: numeric rows that differ, metrics first.
    let (axes, columns): (Vec<String>, Vec<Vec<Option<f64>>>) = rows.with_value(|rows| {
        let mut picked: Vec<&Row> =
            rows.iter().filter(|r| !r.all_equal() && r.numbers.iter().filter(|n| n.is_some()).count() >= 2).collect();
        picked.sort_by_key(|r| r.section != "Metrics");
        picked.into_iter().take(MAX_AXES).map(|r| (r.key.clone(), r.numbers.clone())).unzip()
    });
    let lines: Vec<ParallelLine> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ParallelLine { label: name.clone(), color: i, values: columns.iter().map(|c| c[i]).collect() })
        .collect();
    let chart_keys: Vec<String> = rows.with_value(|rows| {
        rows.iter().filter(|r| r.section == "Metrics").take(MAX_CHARTS).map(|r| r.key.clone()).collect()
    });
    let joined = ids.join(",");
    view! {
        <div class="detail-head">
            <h2>{format!("{} runs compared", names.len())}</h2>
            <a class="small" href=back>"Back to the experiment"</a>
        </div>
        <label class="check">
            <input type="checkbox" prop:checked=move || only_differences.get() on:change=move |_| only_differences.update(|d| *d = !*d) data-testid="only-differences"/>
            " Only rows that differ"
        </label>
        <div class="table-scroll">
            <table class="table compact compare-table" data-testid="compare-table">
                <thead><tr><th scope="col">"Key"</th>{head}</tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
        {(axes.len() >= 2).then(|| view! { <ParallelChart axes lines/> })}
        {(!chart_keys.is_empty()).then(|| view! {
            <h3 class="section-title">"Metrics by step"</h3>
            <div class="chart-grid">
                {chart_keys.into_iter().map(|key| view! { <CompareChart ids=joined.clone() all=ids.clone() names=names.clone() key/> }).collect_view()}
            </div>
        })}
    }
}

/// One metric of every compared run, one line each, in the table's colours.
#[component]
fn CompareChart(ids: String, all: Vec<String>, names: Vec<String>, key: String) -> impl IntoView {
    let metric = key.clone();
    let points = Resource::new(|| (), move |_| metric_points(ids.clone(), metric.clone()));
    let series = Signal::derive(move || {
        let Some(Ok(ms)) = points.get() else { return Vec::new() };
        all.iter()
            .enumerate()
            .filter_map(|(i, id)| {
                let pts: Vec<(i64, f64)> =
                    ms.iter().filter(|m| m.run_id.as_deref() == Some(id.as_str())).map(|m| (m.step, m.value)).collect();
                (!pts.is_empty()).then(|| MetricSeries { label: names[i].clone(), color: i, points: pts })
            })
            .collect()
    });
    let test_id = format!("compare-chart-{key}");
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading points…"</p> }>
            {move || points.get().map(|r| r.err().map(|e| view! { <ErrorNote error=e/> }))}
            <MetricChart title=key.clone() series test_id=test_id.clone()/>
        </Transition>
    }
}
