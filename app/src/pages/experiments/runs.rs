//! An experiment's runs (`/experiments/{id}`): a table sorted on any column by the database,
//! filtered with MLflow's own grammar (the error names the position), columns chosen from the
//! params, metrics and tags its latest runs have, paged with the API's signed tokens (a page
//! costs its own size however many runs there are), asked again every few seconds on the first
//! page and while runs on the page are running, and runs picked for Compare.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use okrflow_engine::tracking::{Run, RunColumns, RunStatus};

use super::{get_experiment, now_ms, poll_ticks, run_duration, search_runs, short_time, MAX_COMPARED};
use crate::components::metric_chart::format_number;
use crate::components::ErrorNote;
use crate::refresh::use_refresh;

const PER_PAGE_CHOICES: [i64; 4] = [25, 50, 100, 250];
/// Columns of each kind chosen before the user chooses.
const DEFAULT_METRICS: usize = 4;
const DEFAULT_PARAMS: usize = 4;

/// A column the user can add.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Param(String),
    Metric(String),
    Tag(String),
}

impl Column {
    /// The `order_by` key MLflow's search takes for it.
    fn order_key(&self) -> String {
        match self {
            Column::Param(k) => format!("params.`{k}`"),
            Column::Metric(k) => format!("metrics.`{k}`"),
            Column::Tag(k) => format!("tags.`{k}`"),
        }
    }

    fn label(&self) -> String {
        match self {
            Column::Param(k) | Column::Metric(k) | Column::Tag(k) => k.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Column::Param(_) => "param",
            Column::Metric(_) => "metric",
            Column::Tag(_) => "tag",
        }
    }

    fn value(&self, run: &Run) -> Option<String> {
        match self {
            Column::Param(k) => run.data.params.iter().find(|p| &p.key == k).map(|p| p.value.clone()),
            Column::Metric(k) => run.data.metrics.iter().find(|m| &m.key == k).map(|m| format_number(m.value)),
            Column::Tag(k) => run.data.tags.iter().find(|t| &t.key == k).map(|t| t.value.clone()),
        }
    }
}

/// The columns shown before the user chooses: the first few metrics and params.
fn default_columns(c: &RunColumns) -> Vec<Column> {
    let metrics = c.metrics.iter().take(DEFAULT_METRICS).cloned().map(Column::Metric);
    let params = c.params.iter().take(DEFAULT_PARAMS).cloned().map(Column::Param);
    metrics.chain(params).collect()
}

pub fn status_class(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running | RunStatus::Scheduled => "badge status-pending",
        RunStatus::Finished => "badge status-ready",
        RunStatus::Failed | RunStatus::Killed => "badge status-failed",
    }
}

lazy_page!(RunsRoute, RunsPage);

#[component]
pub fn RunsPage() -> impl IntoView {
    let params = use_params_map();
    let exp_id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let refresh = use_refresh();
    let experiment = Resource::new(move || (exp_id.get(), refresh.get()), |(id, _)| get_experiment(id));

    let filter_text = RwSignal::new(String::new());
    let filter = RwSignal::new(String::new());
    // (order key, ascending); None is the API's default, newest first.
    let order = RwSignal::new(None::<(String, bool)>);
    let per_page = RwSignal::new(50i64);
    // Tokens of the pages before this one; empty on the first page.
    let tokens = RwSignal::new(Vec::<String>::new());
    // The columns the user chose; until then the defaults of the experiment's keys.
    let chosen = RwSignal::new(None::<Vec<Column>>);
    let columns = Signal::derive(move || {
        chosen.get().unwrap_or_else(|| {
            experiment.get().and_then(|r| r.ok()).map(|(_, c)| default_columns(&c)).unwrap_or_default()
        })
    });
    let selected = RwSignal::new(Vec::<String>::new());
    let any_running = RwSignal::new(false);
    let tick = poll_ticks(move || tokens.with(|t| t.is_empty()) || any_running.get());

    // A new experiment, filter, order or page size starts again at the first page.
    Effect::new(move |_| {
        let _ = (exp_id.get(), filter.get(), order.get(), per_page.get());
        tokens.set(Vec::new());
    });
    Effect::new(move |_| {
        let _ = exp_id.get();
        chosen.set(None);
        selected.set(Vec::new());
    });

    let runs = Resource::new(
        move || {
            let token = tokens.with(|t| t.last().cloned().unwrap_or_default());
            (exp_id.get(), filter.get(), order.get(), token, per_page.get(), refresh.get(), tick.get())
        },
        |(id, filter, order, token, per_page, _, _)| {
            let order_by =
                order.map(|(k, asc)| format!("{k} {}", if asc { "ASC" } else { "DESC" })).unwrap_or_default();
            search_runs(id, filter, order_by, token, per_page)
        },
    );
    // The next page's token, kept from the latest answer.
    let next = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(Ok(page)) = runs.get() {
            any_running.set(page.runs.iter().any(|r| r.info.status == RunStatus::Running));
            next.set(page.next_page_token.clone());
        }
    });

    let header = move || {
        experiment.get().map(|r| match r {
            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
            Ok((e, _)) => view! {
                <div class="detail-head">
                    <h2 data-testid="experiment-name">{e.name.clone()}</h2>
                    <span class="muted small mono">"id " {e.experiment_id.clone()}</span>
                    {(e.lifecycle_stage == okrflow_engine::tracking::Lifecycle::Deleted)
                        .then(|| view! { <span class="badge status-failed">"deleted"</span> })}
                </div>
                <p class="muted small">
                    <a href="/experiments">"All experiments"</a>
                    " · created " {short_time(e.creation_time)}
                    {e.tags.iter().filter(|t| !t.key.starts_with("mlflow.")).map(|t| view! { " · " <span class="mono">{t.key.clone()} "=" {t.value.clone()}</span> }).collect_view()}
                </p>
            }
            .into_any(),
        })
    };

    view! {
        <div class="page runs">
            <Transition fallback=|| view! { <p class="loading">"Loading the experiment…"</p> }>{header}</Transition>
            <form
                class="toolbar"
                role="search"
                on:submit=move |ev| {
                    ev.prevent_default();
                    filter.set(filter_text.get_untracked());
                }
            >
                <label class="field grow">
                    <span>"Filter (MLflow search syntax)"</span>
                    <input
                        type="search"
                        class="mono"
                        placeholder="metrics.auc > 0.8 and params.model = 'forest' and attributes.status = 'FINISHED'"
                        data-testid="run-filter"
                        prop:value=move || filter_text.get()
                        on:input=move |ev| filter_text.set(event_target_value(&ev))
                    />
                </label>
                <button type="submit" class="button">"Apply"</button>
                <label class="field">
                    <span>"Per page"</span>
                    <select on:change=move |ev| per_page.set(event_target_value(&ev).parse().unwrap_or(50))>
                        {PER_PAGE_CHOICES
                            .iter()
                            .map(|n| view! { <option value=n.to_string() selected=*n == 50>{n.to_string()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <ColumnChooser experiment=experiment columns chosen/>
                {move || {
                    let picked = selected.get();
                    let ok = (2..=MAX_COMPARED).contains(&picked.len());
                    let href = format!("/compare?runs={}", picked.join(","));
                    view! {
                        <a
                            class="button"
                            class:disabled=!ok
                            aria-disabled=(!ok).to_string()
                            data-testid="compare-runs"
                            href=if ok { href } else { "#".to_string() }
                            title="Pick 2 or more runs in the table"
                        >
                            {format!("Compare ({})", picked.len())}
                        </a>
                    }
                }}
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
                {move || {
                    runs.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(page) => view! { <RunTable runs=page.runs columns=columns order=order selected=selected/> }.into_any(),
                    })
                }}
            </Transition>
            <nav class="pager" aria-label="Pages of runs">
                <button
                    type="button"
                    class="button secondary small"
                    disabled=move || tokens.with(|t| t.is_empty())
                    on:click=move |_| tokens.update(|t| {
                        t.pop();
                    })
                >
                    "Previous"
                </button>
                <span class="muted small" data-testid="run-page">
                    {move || {
                        let n = tokens.with(|t| t.len()) as i64;
                        let live = if n == 0 { " · updating live" } else { "" };
                        format!("Page {}{live}", n + 1)
                    }}
                </span>
                <button
                    type="button"
                    class="button secondary small"
                    data-testid="next-page"
                    disabled=move || next.with(|n| n.is_none())
                    on:click=move |_| {
                        if let Some(t) = next.get_untracked() {
                            tokens.update(|all| all.push(t));
                        }
                    }
                >
                    "Next"
                </button>
            </nav>
        </div>
    }
}

/// The column chooser: every param, metric and tag key of the experiment's latest runs.
#[component]
fn ColumnChooser(
    experiment: Resource<Result<(okrflow_engine::tracking::Experiment, RunColumns), ServerFnError>>,
    columns: Signal<Vec<Column>>,
    chosen: RwSignal<Option<Vec<Column>>>,
) -> impl IntoView {
    let toggle = move |c: Column| {
        let mut cols = columns.get_untracked();
        if let Some(i) = cols.iter().position(|x| *x == c) {
            cols.remove(i);
        } else {
            cols.push(c);
        }
        chosen.set(Some(cols));
    };
    let group = move |title: &'static str, keys: Vec<Column>| {
        (!keys.is_empty()).then(|| {
            view! {
                <fieldset>
                    <legend>{title}</legend>
                    {keys
                        .into_iter()
                        .map(|c| {
                            let checked = {
                                let c = c.clone();
                                move || columns.with(|cols| cols.contains(&c))
                            };
                            let label = c.label();
                            view! {
                                <label class="check">
                                    <input type="checkbox" prop:checked=checked on:change=move |_| toggle(c.clone())/>
                                    " " {label}
                                </label>
                            }
                        })
                        .collect_view()}
                </fieldset>
            }
        })
    };
    view! {
        <details class="chooser" data-testid="column-chooser">
            <summary class="button secondary">"Columns"</summary>
            <div class="chooser-body">
                <Transition fallback=|| ()>
                    {move || {
                        experiment.get().and_then(|r| r.ok()).map(|(_, c)| {
                            let none = c.params.is_empty() && c.metrics.is_empty() && c.tags.is_empty();
                            let tags: Vec<Column> =
                                c.tags.iter().filter(|t| !t.starts_with("mlflow.")).cloned().map(Column::Tag).collect();
                            view! {
                                {none.then(|| view! { <p class="muted small">"The runs have no params, metrics or tags yet."</p> })}
                                {group("Metrics", c.metrics.iter().cloned().map(Column::Metric).collect())}
                                {group("Params", c.params.iter().cloned().map(Column::Param).collect())}
                                {group("Tags", tags)}
                            }
                        })
                    }}
                </Transition>
            </div>
        </details>
    }
}

#[component]
fn RunTable(
    runs: Vec<Run>,
    columns: Signal<Vec<Column>>,
    order: RwSignal<Option<(String, bool)>>,
    selected: RwSignal<Vec<String>>,
) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="empty-note" data-testid="no-runs">"No runs match."</p> }.into_any();
    }
    let runs = StoredValue::new(runs);
    let now = now_ms();
    let sort_by = move |key: String| {
        order.update(|o| {
            *o = match o.take() {
                Some((k, asc)) if k == key => Some((k, !asc)),
                // Metrics read best high: their first click is descending, like times.
                _ => {
                    let descending_first = key.starts_with("metrics.") || key.ends_with("start_time");
                    Some((key, !descending_first))
                }
            }
        })
    };
    let head = move |label: String, key: String, kind: &'static str| {
        let aria = {
            let key = key.clone();
            move || match order.get() {
                Some((k, true)) if k == key => "ascending",
                Some((k, false)) if k == key => "descending",
                _ => "none",
            }
        };
        view! {
            <th scope="col" aria-sort=aria class=format!("col-{kind}")>
                <button type="button" class="sort" on:click=move |_| sort_by(key.clone())>{label}</button>
            </th>
        }
    };
    let cols = move || columns.get();
    let toggle = move |id: String| {
        selected.update(|s| {
            if let Some(i) = s.iter().position(|x| *x == id) {
                s.remove(i);
            } else {
                s.push(id);
            }
        })
    };
    view! {
        <div class="table-scroll">
            <table class="table compact run-table" data-testid="run-table">
                <caption class="sr-only">"Runs"</caption>
                <thead>
                    <tr>
                        <th scope="col"><span class="sr-only">"Compare"</span></th>
                        {head("Run".into(), "attributes.run_name".into(), "attr")}
                        {head("Status".into(), "attributes.status".into(), "attr")}
                        {head("Started".into(), "attributes.start_time".into(), "attr")}
                        <th scope="col">"Duration"</th>
                        {head("User".into(), "attributes.user_id".into(), "attr")}
                        {move || cols().into_iter().map(|c| head(c.label(), c.order_key(), c.kind())).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        let cols = cols();
                        runs.with_value(|runs| {
                            runs.iter()
                                .map(|run| {
                                    let id = run.info.run_id.clone();
                                    let checked = {
                                        let id = id.clone();
                                        move || selected.with(|s| s.contains(&id))
                                    };
                                    let cells = cols
                                        .iter()
                                        .map(|c| match c.value(run) {
                                            Some(v) => view! { <td class=format!("col-{}", c.kind())>{v}</td> }.into_any(),
                                            None => view! { <td class="null">"—"</td> }.into_any(),
                                        })
                                        .collect_view();
                                    let name = run.info.run_name.clone();
                                    let toggle_id = id.clone();
                                    view! {
                                        <tr data-run=id.clone()>
                                            <td>
                                                <input
                                                    type="checkbox"
                                                    aria-label=format!("Compare {name}")
                                                    prop:checked=checked
                                                    on:change=move |_| toggle(toggle_id.clone())
                                                />
                                            </td>
                                            <td class="wrap"><a href=format!("/runs/{id}")>{run.info.run_name.clone()}</a></td>
                                            <td><span class=status_class(run.info.status)>{run.info.status.as_str()}</span></td>
                                            <td class="nowrap">{short_time(run.info.start_time)}</td>
                                            <td class="nowrap">{run_duration(run.info.start_time, run.info.end_time, now)}</td>
                                            <td>{run.info.user_id.clone()}</td>
                                            {cells}
                                        </tr>
                                    }
                                })
                                .collect_view()
                        })
                    }}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
