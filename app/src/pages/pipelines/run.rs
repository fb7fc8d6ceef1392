//! A pipeline run (`/pipelines/{id}/runs/{run}`): its tasks' states updated live, a timeline of
//! their attempts, each attempt's log streaming while it runs, and the run's and tasks'
//! actions for editors: cancel, clear (run again with what follows), mark success or failed.

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use okrflow_engine::pipelines::{LogPiece, RunView, TaskInstanceView};

use super::{percent_path, run_class, task_class, task_word};
use crate::components::{error_text, ErrorNote};
use crate::pages::experiments::{now_ms, poll_ticks, run_duration, short_time, use_can_edit};
use crate::refresh::{tab_is_hidden, use_refresh};

#[server]
pub async fn get_pipeline_run(id: String, run: i64) -> Result<RunView, ServerFnError> {
    use crate::server::*;
    engine()?.pipelines().run_in(&actor(), &id, run).await.map_err(failed)
}

/// `action`: cancel_run, cancel, clear, mark_success or mark_failed (`task` names the task).
#[server]
pub async fn pipeline_run_action(
    id: String,
    run: i64,
    action: String,
    task: String,
    note: String,
) -> Result<(), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let p = engine.pipelines();
    let actor = actor();
    p.run_in(&actor, &id, run).await.map_err(failed)?;
    match action.as_str() {
        "cancel_run" => p.cancel_run(&actor, run).await.map_err(failed),
        "cancel" => p.cancel_task(&actor, run, &task).await.map_err(failed),
        "clear" => p.clear(&actor, run, &task).await.map(|_| ()).map_err(failed),
        "mark_success" => p.mark(&actor, run, &task, true, &note).await.map_err(failed),
        "mark_failed" => p.mark(&actor, run, &task, false, &note).await.map_err(failed),
        other => Err(bad_request(format!(
            "'{other}' is not an action on a run: cancel_run, cancel, clear, mark_success or mark_failed"
        ))),
    }
}

#[server]
pub async fn pipeline_task_log(
    id: String,
    run: i64,
    task: String,
    attempt: u32,
    offset: u64,
) -> Result<LogPiece, ServerFnError> {
    use crate::server::*;
    engine()?.pipelines().log_in(&actor(), &id, run, &task, Some(attempt), offset).await.map_err(failed)
}

lazy_page!(PipelineRunRoute, PipelineRunPage);

#[component]
pub fn PipelineRunPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let run = Memo::new(move |_| params.with(|p| p.get("run").and_then(|r| r.parse::<i64>().ok()).unwrap_or(0)));
    let asked_task = query.with_untracked(|q| q.get("task"));
    let refresh = use_refresh();
    let busy = RwSignal::new(true);
    let changed = RwSignal::new(0u64);
    let tick = poll_ticks(move || busy.get());
    let data = Resource::new(
        move || (id.get(), run.get(), refresh.get(), tick.get(), changed.get()),
        |(id, run, ..)| get_pipeline_run(id, run),
    );
    Effect::new(move |_| {
        if let Some(Ok(v)) = data.get() {
            busy.set(!v.run.state.is_done() || v.tasks.iter().any(|t| !t.state.is_done()));
        }
    });
    // The task whose log is shown (the one clicked, else what runs now, else what failed,
    // else the last that ran), and which attempt (0: its latest).
    let chosen = RwSignal::new(asked_task);
    let attempt = RwSignal::new(0u32);
    let picked =
        Memo::new(move |_| chosen.get().or_else(|| data.get().and_then(|r| r.ok()).and_then(|v| default_task(&v))));
    // The log panel keeps its own text across the page's refreshes, so it lives outside the
    // refreshed part and renders only in the browser (nothing of it to hydrate).
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    // Page-wide, so a refresh of the run does not drop a note being typed or an action's error.
    let action = ServerAction::<PipelineRunAction>::new();
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            changed.update(|n| *n += 1);
        }
    });
    let note = RwSignal::new(String::new());
    let can_edit = use_can_edit();
    view! {
        <div class="page pipeline-run">
            <Transition fallback=|| view! { <p class="loading">"Loading the run…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(v) => view! { <RunBody view=v can_edit action note chosen picked attempt/> }.into_any(),
                })}
            </Transition>
            {move || mounted.get().then(|| picked.get().map(|task| view! { <LogPanel id=id.get_untracked() run=run.get_untracked() task attempt data/> }))}
        </div>
    }
}

fn default_task(v: &RunView) -> Option<String> {
    use okrflow_engine::pipelines::TaskState;
    v.tasks
        .iter()
        .find(|t| t.state == TaskState::Running)
        .or_else(|| v.tasks.iter().find(|t| t.state == TaskState::Failed))
        .or_else(|| v.tasks.iter().rev().find(|t| t.attempts > 0))
        .map(|t| t.task_id.clone())
}

#[component]
fn RunBody(
    view: RunView,
    can_edit: Signal<bool>,
    action: ServerAction<PipelineRunAction>,
    note: RwSignal<String>,
    chosen: RwSignal<Option<String>>,
    picked: Memo<Option<String>>,
    attempt: RwSignal<u32>,
) -> impl IntoView {
    let r = view.run.clone();
    let id = r.pipeline_id.clone();
    let now = now_ms();
    let params = r.params.iter().map(|(k, v)| format!("{k}={}", v.as_text())).collect::<Vec<_>>();
    let (cancel_id, run_id) = (id.clone(), r.id);
    let ended = r.state.is_done();
    view! {
        <p class="crumbs small"><a href=format!("/pipelines/{}", percent_path(&id))>{format!("← {id}")}</a></p>
        <div class="detail-head">
            <h2>{format!("Run #{} of {}", r.id, id)}</h2>
            <span class=run_class(r.state) data-testid="run-state">{r.state.as_str()}</span>
            <span class="chip">{format!("version {}", r.version)}</span>
        </div>
        <dl class="facts run-facts">
            <dt>"Trigger"</dt><dd>{format!("{} · {}", r.trigger.as_str(), r.triggered_by)}</dd>
            <dt>"Created"</dt><dd>{short_time(r.created_ms)}</dd>
            <dt>"Took"</dt><dd>{r.started_ms.map(|s| run_duration(s, r.ended_ms, now)).unwrap_or_else(|| "waiting for a place".into())}</dd>
            {r.scheduled_ms.map(|s| view! { <dt>"Scheduled for"</dt><dd>{short_time(s)}</dd> })}
            <dt>"Parameters"</dt><dd>{if params.is_empty() { view! { <span class="muted">"none"</span> }.into_any() } else { params.into_iter().map(|p| view! { <span class="chip mono">{p}</span> }).collect_view().into_any() }}</dd>
            {r.note.clone().map(|n| view! { <dt>"Note"</dt><dd>{n}</dd> })}
        </dl>
        <div class="actions">
            {move || (can_edit.get() && !ended).then(|| {
                let cancel_id = cancel_id.clone();
                view! {
                    <button class="button danger" data-testid="cancel-run" on:click=move |_| {
                        action.dispatch(PipelineRunAction { id: cancel_id.clone(), run: run_id, action: "cancel_run".into(), task: String::new(), note: String::new() });
                    }>"Cancel run"</button>
                }
            })}
            {move || action.value().get().and_then(|r| r.err()).map(|e| view! { <span class="error" role="alert">{error_text(&e)}</span> })}
        </div>
        <section class="card section">
            <h2>"Tasks"</h2>
            <TaskTable id=id.clone() run=r.id tasks=view.tasks.clone() can_edit action note chosen picked attempt/>
        </section>
        <section class="card section">
            <h2>"Timeline"</h2>
            <Timeline view=view.clone()/>
        </section>
    }
}

#[component]
fn TaskTable(
    id: String,
    run: i64,
    tasks: Vec<TaskInstanceView>,
    can_edit: Signal<bool>,
    action: ServerAction<PipelineRunAction>,
    note: RwSignal<String>,
    chosen: RwSignal<Option<String>>,
    picked: Memo<Option<String>>,
    attempt: RwSignal<u32>,
) -> impl IntoView {
    let now = now_ms();
    let states: Vec<_> = tasks.iter().map(|t| (t.task_id.clone(), t.state)).collect();
    view! {
        <div class="table-scroll">
            <table class="table compact task-table" data-testid="task-table">
                <thead>
                    <tr>
                        <th scope="col">"Task"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Started"</th>
                        <th scope="col">"Took"</th>
                        <th scope="col">"Message"</th>
                    </tr>
                </thead>
                <tbody>
                    {tasks.into_iter().map(|t| {
                        let task = t.task_id.clone();
                        let log_task = task.clone();
                        // From the data alone (not the clock), so the server and the browser render alike.
                        let waiting = t.state == okrflow_engine::pipelines::TaskState::Queued && t.attempts > 0;
                        let row_task = t.task_id.clone();
                        view! {
                            <tr data-task=t.task_id.clone() class:selected=move || picked.get().as_deref() == Some(row_task.as_str())>
                                <th scope="row" class="mono">
                                    <button class="link" disabled=t.attempts == 0 on:click=move |_| { chosen.set(Some(log_task.clone())); attempt.set(0); }>{t.task_id.clone()}</button>
                                </th>
                                <td><span class=task_class(t.state) data-state=t.state.as_str()>{task_word(t.state)}</span>{waiting.then(|| view! { <span class="small muted">{format!(" retry at {}", short_time(t.ready_ms))}</span> })}</td>
                                <td class="num">{format!("{}/{}", t.attempts, t.max_attempts)}</td>
                                <td class="nowrap small">{t.started_ms.map(short_time).unwrap_or_default()}</td>
                                <td class="nowrap small">{t.started_ms.map(|s| run_duration(s, t.ended_ms, now)).unwrap_or_default()}</td>
                                <td class="small wrap">{t.message.clone().unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {move || can_edit.get().then(|| {
            let id = id.clone();
            let states = states.clone();
            view! { <TaskActions id run picked states action note/> }
        })}
    }
}

/// The actions on the chosen task: cancel it while it has not ended, clear it (it and what
/// follows run again), mark it success or failed with a note.
#[component]
fn TaskActions(
    id: String,
    run: i64,
    picked: Memo<Option<String>>,
    states: Vec<(String, okrflow_engine::pipelines::TaskState)>,
    action: ServerAction<PipelineRunAction>,
    note: RwSignal<String>,
) -> impl IntoView {
    let act = move |name: &'static str| {
        let id = id.clone();
        move |_| {
            if let Some(task) = picked.get_untracked() {
                action.dispatch(PipelineRunAction {
                    id: id.clone(),
                    run,
                    action: name.into(),
                    task,
                    note: note.get_untracked(),
                });
            }
        }
    };
    let done = move || {
        let task = picked.get();
        states.iter().find(|(t, _)| Some(t) == task.as_ref()).is_none_or(|(_, s)| s.is_done())
    };
    view! {
        <div class="task-actions" data-testid="task-actions">
            <span class="small">{move || picked.get().map(|t| format!("Task {t}:")).unwrap_or_else(|| "Choose a task by its name.".into())}</span>
            <button class="button small secondary" disabled=move || done() || picked.get().is_none() on:click=act("cancel")>"Cancel task"</button>
            <button class="button small secondary" disabled=move || picked.get().is_none() on:click=act("clear") title="run it and what follows again">"Clear"</button>
            <button class="button small secondary" disabled=move || picked.get().is_none() on:click=act("mark_success")>"Mark success"</button>
            <button class="button small secondary" disabled=move || picked.get().is_none() on:click=act("mark_failed")>"Mark failed"</button>
            <input type="text" class="mark-note" maxlength="1000" placeholder="note for a mark: why" aria-label="note for a mark"
                prop:value=move || note.get() on:input=move |ev| note.set(event_target_value(&ev))/>
        </div>
    }
}

#[component]
fn Timeline(view: RunView) -> impl IntoView {
    let now = now_ms();
    let start = view.attempts.iter().map(|a| a.started_ms).min();
    let Some(start) = start else {
        return view! { <p class="empty-note">"No task has started yet."</p> }.into_any();
    };
    let end = view.attempts.iter().map(|a| a.ended_ms.unwrap_or(now)).max().unwrap_or(now).max(start + 1);
    let span = (end - start) as f64;
    let at = |ms: i64| (ms - start) as f64 / span * 100.0;
    view! {
        <div class="timeline" role="img" aria-label="when each task's attempts ran">
            {view.tasks.iter().map(|t| {
                let bars = view.attempts.iter().filter(|a| a.task_id == t.task_id).map(|a| {
                    let (left, right) = (at(a.started_ms), at(a.ended_ms.unwrap_or(now)));
                    let title = format!("{} attempt {}: {} ({})", a.task_id, a.attempt, task_word(a.state), run_duration(a.started_ms, a.ended_ms, now));
                    // In a 0–100 wide box stretched to the lane (no inline styles under the CSP).
                    view! {
                        <rect class=format!("bar {}", task_class(a.state)) x=format!("{left:.2}") y="0" width=format!("{:.2}", (right - left).max(0.4)) height="10">
                            <title>{title}</title>
                        </rect>
                    }
                }).collect_view();
                view! {
                    <div class="lane">
                        <span class="lane-name mono">{t.task_id.clone()}</span>
                        <svg class="track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">{bars}</svg>
                    </div>
                }
            }).collect_view()}
            <div class="lane axis">
                <span class="lane-name"></span>
                <span class="ticks small muted"><span>"0 s"</span><span>{run_duration(start, Some(end), end)}</span></span>
            </div>
        </div>
    }
    .into_any()
}

/// The log of the chosen task's attempt: read from the start, then followed every second while
/// the attempt runs.
#[component]
fn LogPanel(
    id: String,
    run: i64,
    task: String,
    attempt: RwSignal<u32>,
    data: Resource<Result<RunView, ServerFnError>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let offset = RwSignal::new(0u64);
    let done = RwSignal::new(false);
    let cut = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let task_for_attempts = task.clone();
    let attempts = Memo::new(move |_| {
        data.get()
            .and_then(|r| r.ok())
            .and_then(|v| v.tasks.iter().find(|t| t.task_id == task_for_attempts).map(|t| t.attempts))
            .unwrap_or(0)
    });
    let shown = Memo::new(move |_| if attempt.get() == 0 { attempts.get() } else { attempt.get() });
    // A new attempt to show starts the text afresh.
    Effect::new(move |_| {
        shown.get();
        text.set(String::new());
        offset.set(0);
        done.set(false);
        cut.set(false);
        error.set(None);
    });
    let in_flight = RwSignal::new(false);
    let (poll_id, poll_task) = (id.clone(), task.clone());
    Effect::new(move |_| {
        let (id, task) = (poll_id.clone(), poll_task.clone());
        let poll = move || {
            let which = shown.get_untracked();
            if which == 0 || done.get_untracked() || in_flight.get_untracked() || tab_is_hidden() {
                return;
            }
            in_flight.set(true);
            let (id, task, from) = (id.clone(), task.clone(), offset.get_untracked());
            leptos::task::spawn_local(async move {
                let answer = pipeline_task_log(id, run, task, which, from).await;
                in_flight.set(false);
                // Another attempt was chosen meanwhile: drop the answer.
                if shown.get_untracked() != which || offset.get_untracked() != from {
                    return;
                }
                match answer {
                    Ok(piece) => {
                        if !piece.text.is_empty() {
                            text.update(|t| t.push_str(&piece.text));
                        }
                        offset.set(piece.next_offset);
                        cut.set(piece.cut);
                        done.set(piece.done);
                    }
                    Err(e) => {
                        error.set(Some(error_text(&e)));
                        done.set(true);
                    }
                }
            });
        };
        poll();
        if let Ok(handle) = set_interval_with_handle(poll, Duration::from_millis(1000)) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <section class="card section log-panel" data-testid="task-log">
            <div class="detail-head">
                <h2>{format!("Log of {task}")}</h2>
                <label class="field inline">
                    <span>"Attempt"</span>
                    <select on:change=move |ev| attempt.set(event_target_value(&ev).parse().unwrap_or(0))>
                        {move || (1..=attempts.get()).rev().map(|n| view! { <option value=n.to_string() selected=shown.get_untracked() == n>{n.to_string()}</option> }).collect_view()}
                    </select>
                </label>
                <span class="small muted">{move || if done.get() { "ended".to_string() } else if shown.get() == 0 { "not started".to_string() } else { "following…".to_string() }}</span>
            </div>
            {move || cut.get().then(|| view! { <p class="warning small">"This attempt's log reached its cap; the rest was dropped."</p> })}
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <pre class="code-block log-text" data-testid="log-text">{move || text.get()}</pre>
        </section>
    }
}
