//! A pipeline (`/pipelines/{id}`): the DAG as an SVG graph coloured by the latest run, the grid
//! of recent runs by tasks (one aggregated query, at most 25 runs), updated while runs are
//! under way, the run history with durations, and the definition with every version.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use okrflow_engine::pipelines::{Definition, PipelineVersion, PipelineView, RunGrid, TaskState, VersionInfo};

use super::{percent_path, run_class, task_class, task_word, SetPipelinePaused};
use crate::components::{error_text, ErrorNote};
use crate::pages::experiments::{now_ms, poll_ticks, run_duration, short_time, use_can_edit};
use crate::refresh::use_refresh;

#[server]
pub async fn get_pipeline(id: String) -> Result<(PipelineView, RunGrid, Vec<VersionInfo>), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let p = engine.pipelines();
    let actor = actor();
    let view = p.get(&actor, &id).await.map_err(failed)?;
    let grid = p.grid(&actor, &id).await.map_err(failed)?;
    let versions = p.versions(&actor, &id).await.map_err(failed)?;
    Ok((view, grid, versions))
}

#[server]
pub async fn get_pipeline_version(id: String, version: i64) -> Result<PipelineVersion, ServerFnError> {
    use crate::server::*;
    engine()?.pipelines().version(&actor(), &id, version).await.map_err(failed)
}

lazy_page!(PipelineRoute, PipelinePage);

#[component]
pub fn PipelinePage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let refresh = use_refresh();
    let busy = RwSignal::new(false);
    let changed = RwSignal::new(0u64);
    let tick = poll_ticks(move || busy.get());
    let data = Resource::new(move || (id.get(), refresh.get(), tick.get(), changed.get()), |(id, ..)| get_pipeline(id));
    // Page-wide: the view below is built again at every refresh.
    let can_edit = use_can_edit();
    let pause = ServerAction::<SetPipelinePaused>::new();
    Effect::new(move |_| {
        if matches!(pause.value().get(), Some(Ok(()))) {
            changed.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok((_, grid, _))) = data.get() {
            busy.set(grid.runs.iter().any(|r| !r.state.is_done()));
        }
    });
    view! {
        <div class="page pipeline">
            <Transition fallback=|| view! { <p class="loading">"Loading the pipeline…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok((view, grid, versions)) => view! { <PipelineView view grid versions can_edit pause/> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn PipelineView(
    view: PipelineView,
    grid: RunGrid,
    versions: Vec<VersionInfo>,
    can_edit: Signal<bool>,
    pause: ServerAction<SetPipelinePaused>,
) -> impl IntoView {
    let d = view.definition.clone();
    let id = d.id.clone();
    let link = format!("/pipelines/{}", percent_path(&id));
    let (paused, has_schedule) = (view.paused, d.schedule.is_some());
    let toggle_id = id.clone();
    // The newest run's state of each task colours the graph.
    let latest: HashMap<String, TaskState> = grid
        .runs
        .first()
        .map(|r| grid.cells.iter().filter(|c| c.0 == r.id).map(|c| (c.1.clone(), c.2)).collect())
        .unwrap_or_default();
    let schedule = d.schedule.as_ref().map(|s| {
        format!(
            "{} in {}{}",
            s.cron,
            s.timezone,
            if s.catchup { format!(", catching up at most {} missed runs", s.max_catchup_runs) } else { String::new() }
        )
    });
    view! {
        <div class="detail-head">
            <h2>{id.clone()}</h2>
            <span class="chip">{format!("version {}", view.version)}</span>
            {d.tags.iter().map(|t| view! { <span class="chip">{t.clone()}</span> }).collect_view()}
        </div>
        <p class="muted">{d.description.clone()}</p>
        <dl class="facts run-facts">
            <dt>"Schedule"</dt><dd class="mono">{schedule.unwrap_or_else(|| "none (manual triggers only)".into())}</dd>
            <dt>"Owner"</dt><dd>{if d.owner.is_empty() { "—".to_string() } else { d.owner.clone() }}</dd>
            <dt>"At once"</dt><dd>{format!("{} run(s)", d.max_active_runs)}</dd>
            <dt>"File"</dt><dd class="mono">{view.file.clone()}</dd>
        </dl>
        {(!view.problems.is_empty()).then(|| view! {
            <div class="warning" role="status">
                <strong>"The file has problems; this version stays in force until they are fixed:"</strong>
                <ul class="plain">{view.problems.iter().map(|p| view! { <li class="mono small">{p.to_string()}</li> }).collect_view()}</ul>
            </div>
        })}
        <div class="actions">
            {move || can_edit.get().then(|| view! { <a class="button" href=format!("{}/trigger", link.clone())>"Trigger"</a> })}
            {move || (can_edit.get() && has_schedule).then(|| {
                let id = toggle_id.clone();
                view! {
                    <button class="button secondary" on:click=move |_| { pause.dispatch(SetPipelinePaused { id: id.clone(), paused: !paused }); }>
                        {if paused { "Resume the schedule" } else { "Pause the schedule" }}
                    </button>
                }
            })}
            {has_schedule.then(|| view! { <span class=if paused { "state state-cancelled" } else { "state state-success" }>{if paused { "schedule paused" } else { "schedule on" }}</span> })}
            {move || pause.value().get().and_then(|r| r.err()).map(|e| view! { <span class="error" role="alert">{error_text(&e)}</span> })}
        </div>
        <section class="card section">
            <h2>"Tasks"</h2>
            <Dag definition=d.clone() latest/>
        </section>
        <section class="card section">
            <h2>"Recent runs by task"</h2>
            <Grid definition=d.clone() grid=grid.clone()/>
        </section>
        <section class="card section">
            <h2>"Run history"</h2>
            <History id=id.clone() grid/>
        </section>
        <section class="card section">
            <h2>"Definition"</h2>
            <Versions id=id.clone() current=view.version source=view.source.clone() versions/>
        </section>
    }
}

const NODE_W: f64 = 150.0;
const NODE_H: f64 = 34.0;
const GAP_X: f64 = 56.0;
const GAP_Y: f64 = 18.0;

/// Each task's column (its longest path from a first task) and row within the column.
fn layout(d: &Definition) -> HashMap<&str, (usize, usize)> {
    let mut column: HashMap<&str, usize> = HashMap::new();
    let mut rows: Vec<usize> = Vec::new();
    let mut at = HashMap::new();
    // Tasks come upstream-first, so every upstream is placed already.
    for t in &d.tasks {
        let c = t.upstream.iter().filter_map(|u| column.get(u.as_str())).map(|c| c + 1).max().unwrap_or(0);
        column.insert(t.id.as_str(), c);
        if rows.len() <= c {
            rows.resize(c + 1, 0);
        }
        at.insert(t.id.as_str(), (c, rows[c]));
        rows[c] += 1;
    }
    at
}

#[component]
fn Dag(definition: Definition, latest: HashMap<String, TaskState>) -> impl IntoView {
    let at = layout(&definition);
    let columns = at.values().map(|p| p.0 + 1).max().unwrap_or(1);
    let rows = at.values().map(|p| p.1 + 1).max().unwrap_or(1);
    let width = columns as f64 * (NODE_W + GAP_X) - GAP_X + 4.0;
    let height = rows as f64 * (NODE_H + GAP_Y) - GAP_Y + 4.0;
    let pos = |c: usize, r: usize| (2.0 + c as f64 * (NODE_W + GAP_X), 2.0 + r as f64 * (NODE_H + GAP_Y));
    let mut edges = Vec::new();
    for t in &definition.tasks {
        let (tc, tr) = at[t.id.as_str()];
        for u in &t.upstream {
            let Some(&(uc, ur)) = at.get(u.as_str()) else { continue };
            let (x1, y1) = pos(uc, ur);
            let (x2, y2) = pos(tc, tr);
            let (x1, y1, x2, y2) = (x1 + NODE_W, y1 + NODE_H / 2.0, x2, y2 + NODE_H / 2.0);
            let mid = (x1 + x2) / 2.0;
            edges.push(format!("M{x1:.1},{y1:.1} C{mid:.1},{y1:.1} {mid:.1},{y2:.1} {x2:.1},{y2:.1}"));
        }
    }
    let nodes: Vec<_> = definition
        .tasks
        .iter()
        .map(|t| {
            let (c, r) = at[t.id.as_str()];
            let (x, y) = pos(c, r);
            let state = latest.get(&t.id).copied();
            let class = state.map(task_class).unwrap_or("state state-none");
            let label: String = if t.id.chars().count() > 18 {
                t.id.chars().take(17).collect::<String>() + "…"
            } else {
                t.id.clone()
            };
            let title = format!(
                "{} ({}){}",
                t.id,
                t.task.name(),
                state.map(|s| format!(": {} in the latest run", task_word(s))).unwrap_or_default()
            );
            view! {
                <g class=format!("node {class}") transform=format!("translate({x:.1},{y:.1})") data-task=t.id.clone()>
                    <title>{title}</title>
                    <rect width=NODE_W height=NODE_H rx="8"/>
                    <text x="10" y="14" class="node-name">{label}</text>
                    <text x="10" y="27" class="node-type">{t.task.name()}</text>
                </g>
            }
        })
        .collect();
    view! {
        <div class="dag-scroll">
            <svg class="dag" viewBox=format!("0 0 {width:.0} {height:.0}") width=format!("{width:.0}") height=format!("{height:.0}") role="img" aria-label="the pipeline's tasks and their order">
                <defs>
                    <marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">
                        <path d="M0,0 L8,4 L0,8 z" class="arrow-head"/>
                    </marker>
                </defs>
                {edges.into_iter().map(|d| view! { <path class="edge" d=d marker-end="url(#arrow)"/> }).collect_view()}
                {nodes}
            </svg>
        </div>
    }
}

#[component]
fn Grid(definition: Definition, grid: RunGrid) -> impl IntoView {
    if grid.runs.is_empty() {
        return view! { <p class="empty-note">"No runs yet. Trigger one, or wait for its schedule."</p> }.into_any();
    }
    let link = format!("/pipelines/{}/runs", percent_path(&definition.id));
    // Oldest on the left, as time runs.
    let runs: Vec<_> = grid.runs.iter().rev().cloned().collect();
    let cells: HashMap<(i64, &str), (TaskState, u32)> =
        grid.cells.iter().map(|(r, t, s, a)| ((*r, t.as_str()), (*s, *a))).collect();
    view! {
        <div class="table-scroll">
            <table class="run-grid" data-testid="run-grid">
                <caption class="sr-only">"Task states by run"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Task"</th>
                        {runs.iter().map(|r| view! {
                            <th scope="col"><a class=format!("grid-run {}", run_class(r.state)) href=format!("{link}/{}", r.id) title=format!("run {}: {}", r.id, r.state.as_str())>{r.id}</a></th>
                        }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {definition.tasks.iter().map(|t| view! {
                        <tr>
                            <th scope="row" class="mono">{t.id.clone()}</th>
                            {runs.iter().map(|r| match cells.get(&(r.id, t.id.as_str())) {
                                Some((state, attempts)) => {
                                    let title = format!("{} in run {}: {}{}", t.id, r.id, task_word(*state), if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() });
                                    view! {
                                        <td><a class=format!("cell {}", task_class(*state)) href=format!("{link}/{}?task={}", r.id, t.id) title=title.clone() data-state=state.as_str()><span class="sr-only">{title.clone()}</span></a></td>
                                    }.into_any()
                                }
                                None => view! { <td><span class="cell state state-none" title="not in this run's version"></span></td> }.into_any(),
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn History(id: String, grid: RunGrid) -> impl IntoView {
    if grid.runs.is_empty() {
        return view! { <p class="empty-note">"No runs yet."</p> }.into_any();
    }
    let link = format!("/pipelines/{}/runs", percent_path(&id));
    let now = now_ms();
    view! {
        <div class="table-scroll">
            <table class="table compact" data-testid="run-history">
                <thead>
                    <tr>
                        <th scope="col">"Run"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Trigger"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Took"</th>
                        <th scope="col">"Version"</th>
                    </tr>
                </thead>
                <tbody>
                    {grid.runs.into_iter().map(|r| view! {
                        <tr>
                            <td><a href=format!("{link}/{}", r.id)>{format!("#{}", r.id)}</a></td>
                            <td><span class=run_class(r.state)>{r.state.as_str()}</span></td>
                            <td class="small">{format!("{} · {}", r.trigger.as_str(), r.triggered_by)}</td>
                            <td class="nowrap small">{short_time(r.created_ms)}</td>
                            <td class="nowrap small">{r.started_ms.map(|s| run_duration(s, r.ended_ms, now)).unwrap_or_else(|| "waiting".into())}</td>
                            <td>{format!("v{}", r.version)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn Versions(id: String, current: i64, source: String, versions: Vec<VersionInfo>) -> impl IntoView {
    let chosen = RwSignal::new(current);
    let past = Resource::new(move || chosen.get(), {
        let id = id.clone();
        move |v| {
            let id = id.clone();
            async move {
                if v == current {
                    None
                } else {
                    Some(get_pipeline_version(id, v).await)
                }
            }
        }
    });
    view! {
        <div class="versions">
            <label class="field inline">
                <span>"Version"</span>
                <select on:change=move |ev| chosen.set(event_target_value(&ev).parse().unwrap_or(current)) data-testid="version-select">
                    {versions.iter().map(|v| {
                        let who = v.saved_by.clone().map(|b| format!("saved by {b}")).unwrap_or_else(|| "from its file".into());
                        view! { <option value=v.version.to_string() selected=v.version == current>{format!("v{} · {} · {}", v.version, short_time(v.created_ms), who)}</option> }
                    }).collect_view()}
                </select>
            </label>
            <Transition fallback=|| view! { <p class="loading">"Loading the version…"</p> }>
                {move || match past.get() {
                    None | Some(None) => view! { <pre class="code-block" data-testid="definition-source">{source.clone()}</pre> }.into_any(),
                    Some(Some(Ok(v))) => view! { <pre class="code-block" data-testid="definition-source">{v.source}</pre> }.into_any(),
                    Some(Some(Err(e))) => view! { <ErrorNote error=e/> }.into_any(),
                }}
            </Transition>
        </div>
    }
}
