//! Experiment tracking pages, over the same engine methods the MLflow API uses: the list of
//! experiments (`/experiments`, this file) with run counts and last activity; an experiment's
//! runs table (`runs.rs`, `/experiments/{id}`); a run (`run.rs`, `/runs/{id}`); runs side by
//! side (`compare.rs`, `/compare?runs=a,b`). The server functions of all four are here: each
//! checks its arguments and calls one `engine.tracking()` method as the caller.

pub mod compare;
pub mod run;
pub mod runs;

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::accounts::Role;
use okrflow_engine::logs::format_timestamp;
use okrflow_engine::tracking::{
    ArtifactEntry, ArtifactPreview, Experiment, ExperimentSummary, Metric, Run, RunColumns, RunDetail, RunPage,
};

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;
use crate::components::{error_text, ErrorNote};
use crate::refresh::{tab_is_hidden, use_refresh};

/// How often the tracking pages ask again while the tab is visible (new runs, running runs).
pub const POLL: Duration = Duration::from_secs(3);
/// Runs a page of the runs table may hold, and runs the Compare page takes.
pub const MAX_PAGE: i64 = 1_000;
pub const MAX_COMPARED: usize = 20;
/// Points per run a chart asks for; the database samples longer histories down to this.
pub const CHART_POINTS: i64 = 500;
/// MLflow's tag that holds a run's note.
pub const NOTE_TAG: &str = "mlflow.note.content";

#[server]
pub async fn list_experiments(deleted: bool) -> Result<Vec<ExperimentSummary>, ServerFnError> {
    use crate::server::*;
    use okrflow_engine::tracking::ViewType;
    let view = if deleted { ViewType::DeletedOnly } else { ViewType::ActiveOnly };
    engine()?.tracking().experiment_summaries(&actor(), view).await.map_err(failed)
}

#[server]
pub async fn create_experiment(name: String) -> Result<String, ServerFnError> {
    use crate::server::*;
    engine()?.tracking().create_experiment(&actor(), name.trim(), None, &[]).await.map_err(failed)
}

#[server]
pub async fn set_experiment_deleted(id: String, deleted: bool) -> Result<(), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let tracking = engine.tracking();
    if deleted {
        tracking.delete_experiment(&actor(), &id).await.map_err(failed)
    } else {
        tracking.restore_experiment(&actor(), &id).await.map_err(failed)
    }
}

#[server]
pub async fn get_experiment(id: String) -> Result<(Experiment, RunColumns), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let tracking = engine.tracking();
    let experiment = tracking.experiment(&actor(), &id).await.map_err(failed)?;
    let columns = tracking.run_columns(&actor(), &id).await.map_err(failed)?;
    Ok((experiment, columns))
}

/// A page of an experiment's runs: MLflow's filter grammar and one `order_by` clause, as the
/// API takes them; `page_token` from the page before.
#[server]
pub async fn search_runs(
    experiment_id: String,
    filter: String,
    order_by: String,
    page_token: String,
    per_page: i64,
) -> Result<RunPage, ServerFnError> {
    use crate::server::*;
    use okrflow_engine::tracking::RunQuery;
    let per_page = in_range("per_page", per_page, 1, MAX_PAGE)?;
    let q = RunQuery {
        experiment_ids: vec![experiment_id],
        filter: Some(filter).filter(|f| !f.trim().is_empty()),
        max_results: Some(per_page),
        order_by: Some(order_by).filter(|o| !o.trim().is_empty()).into_iter().collect(),
        page_token: Some(page_token).filter(|t| !t.is_empty()),
        ..RunQuery::default()
    };
    engine()?.tracking().search_runs(&actor(), &q).await.map_err(failed)
}

#[server]
pub async fn get_run(id: String) -> Result<RunDetail, ServerFnError> {
    use crate::server::*;
    engine()?.tracking().run_detail(&actor(), &id).await.map_err(failed)
}

/// One metric of some runs (ids joined by commas), sampled by the database to at most
/// [`CHART_POINTS`] points per run.
#[server]
pub async fn metric_points(run_ids: String, key: String) -> Result<Vec<Metric>, ServerFnError> {
    use crate::server::*;
    let ids: Vec<String> = run_ids.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    engine()?
        .tracking()
        .metric_history_sampled(&actor(), &ids, &key, (None, None), Some(CHART_POINTS))
        .await
        .map_err(failed)
}

#[server]
pub async fn run_artifacts(run_id: String, path: String) -> Result<Vec<ArtifactEntry>, ServerFnError> {
    use crate::server::*;
    let path = Some(path.as_str()).filter(|p| !p.is_empty());
    Ok(engine()?.tracking().list_run_artifacts(&actor(), &run_id, path).await.map_err(failed)?.1)
}

#[server]
pub async fn preview_artifact(run_id: String, path: String) -> Result<ArtifactPreview, ServerFnError> {
    use crate::server::*;
    engine()?.tracking().preview_artifact(&actor(), &run_id, &path).await.map_err(failed)
}

/// Sets a run's tag (the note is the tag [`NOTE_TAG`]); an empty value removes it.
#[server]
pub async fn set_run_tag(run_id: String, key: String, value: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    use okrflow_engine::tracking::Tag;
    let engine = engine()?;
    let tracking = engine.tracking();
    if value.is_empty() {
        tracking.clear_run_tag(&actor(), &run_id, &key).await.map(|_| ()).map_err(failed)
    } else {
        tracking.set_run_tag(&actor(), &run_id, &Tag { key, value }).await.map_err(failed)
    }
}

/// Runs side by side (ids joined by commas; 2 to [`MAX_COMPARED`]).
#[server]
pub async fn compare_runs(ids: String) -> Result<Vec<Run>, ServerFnError> {
    use crate::server::*;
    let ids: Vec<&str> = ids.split(',').filter(|s| !s.is_empty()).collect();
    if ids.is_empty() || ids.len() > MAX_COMPARED {
        return Err(bad_request(format!("runs must name 1 to {MAX_COMPARED} runs; got {}", ids.len())));
    }
    engine()?.tracking().runs_by_id(&actor(), &ids).await.map_err(failed)
}

/// A value that counts up every [`POLL`] while the tab is visible and `active` says so; a
/// resource keyed on it asks again then.
pub fn poll_ticks(active: impl Fn() -> bool + Send + Sync + 'static) -> Memo<u64> {
    let tick = RwSignal::new(0u64);
    Effect::new(move |_| {
        let step = move || {
            if !tab_is_hidden() {
                tick.update(|n| *n += 1);
            }
        };
        if let Ok(handle) = set_interval_with_handle(step, POLL) {
            on_cleanup(move || handle.clear());
        }
    });
    Memo::new(move |previous: Option<&u64>| {
        let n = tick.get();
        match previous {
            Some(p) if !active() => *p,
            _ => n,
        }
    })
}

/// Whether the caller may change things (editors and admins), for showing the edit controls;
/// the engine checks again on every change.
pub fn use_can_edit() -> Signal<bool> {
    let session = Resource::new(|| (), |_| crate::pages::login::get_session());
    Signal::derive(move || session.get().and_then(|r| r.ok()).flatten().is_some_and(|s| s.role >= Role::Editor))
}

/// "1.2 s", "3m 4s": how long a run took or has been running.
pub fn run_duration(start: i64, end: Option<i64>, now: i64) -> String {
    let ms = end.unwrap_or(now).saturating_sub(start).max(0);
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        okrflow_engine::units::format_duration((ms / 1000) as u64)
    }
}

pub fn now_ms() -> i64 {
    #[cfg(not(feature = "ssr"))]
    {
        js_sys_now()
    }
    #[cfg(feature = "ssr")]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

#[cfg(not(feature = "ssr"))]
fn js_sys_now() -> i64 {
    window().performance().map(|p| (p.time_origin() + p.now()) as i64).unwrap_or(0)
}

/// A timestamp without the milliseconds.
pub fn short_time(ms: i64) -> String {
    let full = format_timestamp(ms);
    match full.split_once('.') {
        Some((head, _)) => format!("{head} UTC"),
        None => full,
    }
}

lazy_page!(ExperimentsRoute, ExperimentsPage);

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    let refresh = use_refresh();
    let deleted = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let changed = RwSignal::new(0u64);
    let tick = poll_ticks(|| true);
    let list = Resource::new(
        move || (deleted.get(), refresh.get(), changed.get(), tick.get()),
        |(deleted, _, _, _)| list_experiments(deleted),
    );
    let can_edit = use_can_edit();
    let create = ServerAction::<CreateExperiment>::new();
    let new_name = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            new_name.set(String::new());
            changed.update(|n| *n += 1);
        }
    });

    view! {
        <div class="page experiments">
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <label class="field grow">
                    <span>"Name"</span>
                    <input
                        type="search"
                        placeholder="part of the experiment name"
                        data-testid="experiment-search"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=move || deleted.get() on:change=move |_| deleted.update(|d| *d = !*d)/>
                    " Deleted experiments"
                </label>
            </form>
            <Show when=move || can_edit.get()>
                <form
                    class="inline-form panel"
                    data-testid="create-experiment"
                    on:submit=move |ev| {
                        ev.prevent_default();
                        create.dispatch(CreateExperiment { name: new_name.get_untracked() });
                    }
                >
                    <label class="field grow">
                        <span>"New experiment"</span>
                        <input
                            type="text"
                            required
                            maxlength="500"
                            placeholder="a unique name"
                            prop:value=move || new_name.get()
                            on:input=move |ev| new_name.set(event_target_value(&ev))
                        />
                    </label>
                    <button type="submit" class="button" disabled=move || create.pending().get()>"Create"</button>
                    {move || match create.value().get() {
                        Some(Err(e)) => Some(view! { <p class="error" role="alert">{error_text(&e)}</p> }.into_any()),
                        _ => None,
                    }}
                </form>
            </Show>
            <Transition fallback=|| view! { <p class="loading">"Loading experiments…"</p> }>
                {move || {
                    list.get().map(|result| match result {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(all) => {
                            let needle = name.get().to_lowercase();
                            let shown: Vec<ExperimentSummary> = all
                                .iter()
                                .filter(|s| needle.is_empty() || s.experiment.name.to_lowercase().contains(&needle))
                                .cloned()
                                .collect();
                            let no_runs = all.iter().all(|s| s.runs == 0);
                            view! {
                                {(no_runs && !deleted.get()).then(|| view! { <GettingStarted/> })}
                                <ExperimentTable experiments=shown deleted=deleted.get() can_edit changed/>
                            }
                            .into_any()
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn ExperimentTable(
    experiments: Vec<ExperimentSummary>,
    deleted: bool,
    can_edit: Signal<bool>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    if experiments.is_empty() {
        let text = if deleted { "No deleted experiments." } else { "No experiment matches." };
        return view! { <p class="empty-note">{text}</p> }.into_any();
    }
    let toggle = ServerAction::<SetExperimentDeleted>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = toggle.value().get() {
            changed.update(|n| *n += 1);
        }
    });
    let rows = experiments
        .into_iter()
        .map(|s| {
            let e = s.experiment;
            let href = format!("/experiments/{}", e.experiment_id);
            let id = e.experiment_id.clone();
            let is_default = id == "0";
            view! {
                <tr data-experiment=e.experiment_id.clone()>
                    <td class="wrap"><a href=href>{e.name.clone()}</a></td>
                    <td class="num">{s.runs}</td>
                    <td class="num">
                        {if s.running > 0 {
                            view! { <span class="badge status-pending">{format!("{} running", s.running)}</span> }.into_any()
                        } else {
                            view! { <span class="muted">"0"</span> }.into_any()
                        }}
                    </td>
                    <td class="nowrap">{short_time(s.last_activity)}</td>
                    <td class="nowrap">{short_time(e.creation_time)}</td>
                    <td class="mono">{e.experiment_id.clone()}</td>
                    <td>
                        <Show when=move || can_edit.get() && !is_default>
                            {
                                let id = id.clone();
                                view! {
                                    <button
                                        type="button"
                                        class="button small secondary"
                                        on:click=move |_| {
                                            toggle.dispatch(SetExperimentDeleted { id: id.clone(), deleted: !deleted });
                                        }
                                    >
                                        {if deleted { "Restore" } else { "Delete" }}
                                    </button>
                                }
                            }
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        {move || toggle.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
        <div class="table-scroll">
            <table class="table" data-testid="experiment-table">
                <caption class="sr-only">"Experiments, latest activity first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col" class="num">"Runs"</th>
                        <th scope="col" class="num">"Running"</th>
                        <th scope="col">"Last activity"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Id"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Shown while no experiment has a run: how to point the MLflow client here.
#[component]
fn GettingStarted() -> impl IntoView {
    // The server cannot know the address the browser used: filled in after hydration.
    let origin = RwSignal::new(String::from("http://<this server>"));
    Effect::new(move |_| {
        if let Ok(o) = window().location().origin() {
            origin.set(o);
        }
    });
    view! {
        <EmptyState icon=Icon::Experiments title="No runs logged yet">
            <p>"okrflow serves the MLflow tracking API. Point the MLflow client at it with an API token from your Account page, and its runs appear here as they are logged:"</p>
            <pre class="code-block">{move || format!(
                "export MLFLOW_TRACKING_URI={}\nexport MLFLOW_TRACKING_TOKEN=<token>\npython -c 'import mlflow; mlflow.set_experiment(\"demo\"); mlflow.start_run(); mlflow.log_metric(\"auc\", 0.9)'",
                origin.get()
            )}</pre>
        </EmptyState>
    }
}
