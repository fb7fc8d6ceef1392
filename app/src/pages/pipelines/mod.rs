//! Pipelines (`/pipelines`): every pipeline with its schedule, next time, latest runs, a pause
//! switch and Trigger; a pipeline (`/pipelines/{id}`) with its DAG, the grid of recent runs by
//! tasks, its run history and definition versions; a run (`/pipelines/{id}/runs/{run}`) with
//! live task states, a timeline, each attempt's log and the cancel, clear and mark actions; the
//! trigger form (`/pipelines/{id}/trigger`) generated from the parameters.

pub mod pipeline;
pub mod run;
pub mod trigger;

use leptos::prelude::*;
use okrflow_engine::pipelines::{PipelineRow, Problem, RunState, TaskState};

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;
use crate::components::{error_text, ErrorNote};
use crate::pages::experiments::{poll_ticks, short_time, use_can_edit};
use crate::refresh::use_refresh;

#[server]
pub async fn list_pipelines() -> Result<(Vec<PipelineRow>, Vec<Problem>), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let p = engine.pipelines();
    Ok((p.overview(&actor()).await.map_err(failed)?, p.problems(&actor()).await.map_err(failed)?))
}

#[server]
pub async fn set_pipeline_paused(id: String, paused: bool) -> Result<(), ServerFnError> {
    use crate::server::*;
    engine()?.pipelines().set_paused(&actor(), &id, paused).await.map_err(failed)
}

/// The CSS class of a run's or task's state (its colour).
pub fn run_class(state: RunState) -> &'static str {
    match state {
        RunState::Queued => "state state-queued",
        RunState::Running => "state state-running",
        RunState::Success => "state state-success",
        RunState::Failed => "state state-failed",
        RunState::Cancelled => "state state-cancelled",
    }
}

pub fn task_class(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "state state-pending",
        TaskState::Queued => "state state-queued",
        TaskState::Running => "state state-running",
        TaskState::Success => "state state-success",
        TaskState::Failed => "state state-failed",
        TaskState::Skipped => "state state-skipped",
        TaskState::UpstreamFailed => "state state-upstream_failed",
        TaskState::Cancelled => "state state-cancelled",
    }
}

/// How a state reads in a table.
pub fn task_word(state: TaskState) -> &'static str {
    match state {
        TaskState::UpstreamFailed => "upstream failed",
        other => other.as_str(),
    }
}

pub fn percent_path(text: &str) -> String {
    crate::pages::experiments::run::encode_path(text)
}

lazy_page!(PipelinesRoute, PipelinesPage);

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let refresh = use_refresh();
    let changed = RwSignal::new(0u64);
    let tick = poll_ticks(|| true);
    let list = Resource::new(move || (refresh.get(), tick.get(), changed.get()), |_| list_pipelines());
    let can_edit = use_can_edit();
    let pause = ServerAction::<SetPipelinePaused>::new();
    Effect::new(move |_| {
        if matches!(pause.value().get(), Some(Ok(()))) {
            changed.update(|n| *n += 1);
        }
    });
    view! {
        <div class="page pipelines">
            {move || pause.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading pipelines…"</p> }>
                {move || {
                    list.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok((rows, problems)) => view! {
                            <Problems problems/>
                            {if rows.is_empty() {
                                view! {
                                    <EmptyState icon=Icon::Pipelines title="No pipelines yet">
                                        <p>"A pipeline is a TOML file in "<code>"<data-dir>/pipelines/"</code>": its tasks (read a file, fetch an API, validate, transform, write, branch, run a command), their order, parameters and an optional cron schedule. okrflow reads a file when it changes; see the README's Pipelines section for the format."</p>
                                    </EmptyState>
                                }.into_any()
                            } else {
                                view! { <PipelineTable rows can_edit pause/> }.into_any()
                            }}
                        }.into_any(),
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn Problems(problems: Vec<Problem>) -> impl IntoView {
    (!problems.is_empty()).then(|| {
        view! {
            <div class="warning problems" role="status" data-testid="definition-problems">
                <strong>"Definition files with problems (the last good version of each stays in force):"</strong>
                <ul class="plain">
                    {problems.into_iter().map(|p| view! { <li class="mono small">{p.to_string()}</li> }).collect_view()}
                </ul>
            </div>
        }
    })
}

#[component]
fn PipelineTable(
    rows: Vec<PipelineRow>,
    can_edit: Signal<bool>,
    pause: ServerAction<SetPipelinePaused>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table pipeline-table" data-testid="pipeline-table">
                <caption class="sr-only">"Pipelines"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Pipeline"</th>
                        <th scope="col">"Schedule"</th>
                        <th scope="col">"Next run"</th>
                        <th scope="col">"Latest runs"</th>
                        <th scope="col">"Schedule on"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let s = row.summary;
                        let id = s.id.clone();
                        let link = format!("/pipelines/{}", percent_path(&id));
                        let trigger = format!("{link}/trigger");
                        let schedule = s.schedule.as_ref().map(|c| format!("{} ({})", c.cron, c.timezone)).unwrap_or_else(|| "manual".into());
                        let next = match (&s.schedule, row.next_ms, s.paused) {
                            (None, _, _) => "—".to_string(),
                            (Some(_), _, true) => "paused".to_string(),
                            (Some(_), Some(ms), false) => short_time(ms),
                            (Some(_), None, false) => "soon".to_string(),
                        };
                        let (paused, scheduled) = (s.paused, s.schedule.is_some());
                        let toggle_id = id.clone();
                        view! {
                            <tr data-pipeline=id.clone()>
                                <td class="wrap">
                                    <a href=link.clone()><strong>{id.clone()}</strong></a>
                                    {s.has_problems.then(|| view! { <span class="chip warn-chip">"file has problems"</span> })}
                                    <div class="small muted">{s.description.clone()}</div>
                                    <div class="small muted">{format!("{} tasks · version {}{}", s.tasks, s.version, if s.owner.is_empty() { String::new() } else { format!(" · {}", s.owner) })}</div>
                                </td>
                                <td class="mono small">{schedule}</td>
                                <td class="nowrap small">{next}</td>
                                <td>
                                    <div class="dots">
                                        {if row.recent.is_empty() { view! { <span class="muted small">"no runs yet"</span> }.into_any() } else {
                                            row.recent.iter().rev().map(|r| view! {
                                                <a class=format!("dot-link {}", run_class(r.state)) href=format!("{link}/runs/{}", r.id) title=format!("run {}: {}", r.id, r.state.as_str())>
                                                    <span class="sr-only">{format!("run {} {}", r.id, r.state.as_str())}</span>
                                                </a>
                                            }).collect_view().into_any()
                                        }}
                                    </div>
                                </td>
                                <td class="nowrap">
                                    {if scheduled {
                                        view! {
                                            <span class=if paused { "state state-cancelled" } else { "state state-success" }>{if paused { "paused" } else { "on" }}</span>
                                            {move || can_edit.get().then(|| {
                                                let id = toggle_id.clone();
                                                view! {
                                                    <button class="button small secondary" aria-label=format!("{} the schedule of {id}", if paused { "resume" } else { "pause" })
                                                        on:click=move |_| { pause.dispatch(SetPipelinePaused { id: id.clone(), paused: !paused }); }>
                                                        {if paused { "Resume" } else { "Pause" }}
                                                    </button>
                                                }
                                            })}
                                        }.into_any()
                                    } else {
                                        view! { <span class="muted small">"no schedule"</span> }.into_any()
                                    }}
                                </td>
                                <td>{move || can_edit.get().then(|| view! { <a class="button" href=trigger.clone()>"Trigger"</a> })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
