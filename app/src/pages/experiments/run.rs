//! A run (`/runs/{id}`): its facts, parent and children, the note (MLflow's
//! `mlflow.note.content` tag, editable by editors), params, metrics with a chart each (sampled
//! by the database, so a million points draw as fast as a hundred), tags, datasets, the models
//! it logged and the registered versions made from it, and the artifact browser with previews.
//! While the run is running, the page asks again every few seconds.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use okrflow_engine::tracking::{PreviewBody, RunDetail, RunStatus, Tag};

use super::runs::status_class;
use super::{
    get_run, metric_points, now_ms, poll_ticks, preview_artifact, run_artifacts, run_duration, short_time, SetRunTag,
    NOTE_TAG,
};
use crate::components::metric_chart::{format_number, MetricChart, MetricSeries};
use crate::components::{error_text, ErrorNote};
use crate::refresh::use_refresh;

/// Charts the page draws at most (the metrics table lists every metric).
const MAX_CHARTS: usize = 24;

/// A path made safe for a URL, one segment at a time.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The proxy URL that downloads an artifact of a run.
fn download_url(artifact_uri: &str, path: &str) -> String {
    let root = artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap_or(artifact_uri);
    format!("/api/2.0/mlflow-artifacts/artifacts/{}", encode_path(&format!("{root}/{path}")))
}

lazy_page!(RunRoute, RunPage);

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let run_id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let refresh = use_refresh();
    let changed = RwSignal::new(0u64);
    let running = RwSignal::new(false);
    let tick = poll_ticks(move || running.get());
    let detail =
        Resource::new(move || (run_id.get(), refresh.get(), changed.get(), tick.get()), |(id, _, _, _)| get_run(id));
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            running.set(d.run.info.status == RunStatus::Running);
        }
    });
    let can_edit = super::use_can_edit();

    view! {
        <div class="page run">
            <Transition fallback=|| view! { <p class="loading">"Loading the run…"</p> }>
                {move || {
                    detail.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(d) => view! { <RunView detail=d can_edit changed tick/> }.into_any(),
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn RunView(detail: RunDetail, can_edit: Signal<bool>, changed: RwSignal<u64>, tick: Memo<u64>) -> impl IntoView {
    let RunDetail { run, experiment, parent, children, logged_models, versions } = detail;
    let info = run.info.clone();
    let note = run.data.tags.iter().find(|t| t.key == NOTE_TAG).map(|t| t.value.clone()).unwrap_or_default();
    let (system_tags, user_tags): (Vec<Tag>, Vec<Tag>) =
        run.data.tags.iter().cloned().filter(|t| t.key != NOTE_TAG).partition(|t| t.key.starts_with("mlflow."));
    let source = system_tags.iter().find(|t| t.key == "mlflow.source.name").map(|t| t.value.clone());
    let mut params = run.data.params.clone();
    params.sort_by(|a, b| a.key.cmp(&b.key));
    let mut metrics = run.data.metrics.clone();
    metrics.sort_by(|a, b| a.key.cmp(&b.key));
    let chart_keys: Vec<String> = metrics.iter().take(MAX_CHARTS).map(|m| m.key.clone()).collect();
    let more_charts = metrics.len().saturating_sub(MAX_CHARTS);
    let id = info.run_id.clone();

    view! {
        <div class="detail-head">
            <h2 data-testid="run-name">{info.run_name.clone()}</h2>
            <span class=status_class(info.status) data-testid="run-status">{info.status.as_str()}</span>
        </div>
        <p class="muted small">
            <a href="/experiments">"Experiments"</a>
            " › "
            <a href=format!("/experiments/{}", experiment.experiment_id)>{experiment.name.clone()}</a>
            " › " {info.run_name.clone()}
        </p>
        <dl class="facts run-facts">
            <dt>"Run id"</dt><dd class="mono break">{info.run_id.clone()}</dd>
            <dt>"Started"</dt><dd>{short_time(info.start_time)}</dd>
            <dt>"Duration"</dt><dd>{run_duration(info.start_time, info.end_time, now_ms())}</dd>
            <dt>"User"</dt><dd>{info.user_id.clone()}</dd>
            {source.map(|s| view! { <dt>"Source"</dt><dd class="mono break">{s}</dd> })}
            <dt>"Artifacts"</dt><dd class="mono break">{info.artifact_uri.clone()}</dd>
            {parent.map(|p| view! {
                <dt>"Parent run"</dt>
                <dd><a href=format!("/runs/{}", p.run_id) data-testid="parent-run">{p.run_name}</a></dd>
            })}
            {(!children.is_empty()).then(|| view! {
                <dt>"Child runs"</dt>
                <dd>
                    <ul class="plain" data-testid="child-runs">
                        {children.into_iter().map(|c| view! {
                            <li>
                                <a href=format!("/runs/{}", c.run_id)>{c.run_name}</a>
                                " " <span class=status_class(c.status)>{c.status.as_str()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                </dd>
            })}
        </dl>
        <Note run_id=id.clone() note can_edit changed/>
        <div class="grid two">
            <section class="card">
                <h2>"Parameters"</h2>
                {if params.is_empty() {
                    view! { <p class="empty-note">"No parameters."</p> }.into_any()
                } else {
                    view! {
                        <table class="table compact kv" data-testid="run-params">
                            <tbody>
                                {params.into_iter().map(|p| view! { <tr><th scope="row" class="mono">{p.key}</th><td class="break">{p.value}</td></tr> }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
            <section class="card">
                <h2>"Metrics"</h2>
                {if metrics.is_empty() {
                    view! { <p class="empty-note">"No metrics."</p> }.into_any()
                } else {
                    view! {
                        <table class="table compact kv" data-testid="run-metrics">
                            <thead><tr><th scope="col">"Key"</th><th scope="col" class="num">"Latest"</th><th scope="col" class="num">"Step"</th></tr></thead>
                            <tbody>
                                {metrics.into_iter().map(|m| view! {
                                    <tr><th scope="row" class="mono">{m.key}</th><td class="num">{format_number(m.value)}</td><td class="num">{m.step}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }}
            </section>
        </div>
        {(!chart_keys.is_empty()).then(|| view! {
            <h3 class="section-title">"Metric charts"</h3>
            <div class="chart-grid">
                {chart_keys.into_iter().map(|key| view! { <RunChart run_id=id.clone() key tick/> }).collect_view()}
            </div>
            {(more_charts > 0).then(|| view! { <p class="muted small">{format!("{more_charts} more metrics are in the table above; compare runs to chart them.")}</p> })}
        })}
        <Tags run_id=id.clone() user_tags system_tags can_edit changed/>
        {(!run.inputs.dataset_inputs.is_empty()).then(|| view! {
            <section class="card section">
                <h2>"Datasets"</h2>
                <table class="table compact">
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Digest"</th><th scope="col">"Source"</th><th scope="col">"Context"</th></tr></thead>
                    <tbody>
                        {run.inputs.dataset_inputs.iter().map(|d| {
                            let context = d.tags.iter().find(|t| t.key == "mlflow.data.context").map(|t| t.value.clone()).unwrap_or_default();
                            view! { <tr><td>{d.dataset.name.clone()}</td><td class="mono">{d.dataset.digest.clone()}</td><td class="break small">{d.dataset.source.clone()}</td><td>{context}</td></tr> }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}
        {(!logged_models.is_empty() || !versions.is_empty()).then(|| view! {
            <section class="card section" data-testid="run-models">
                <h2>"Models"</h2>
                {(!versions.is_empty()).then(|| view! {
                    <p>
                        "Registered: "
                        {versions.iter().map(|v| view! {
                            <a class="chip" href=format!("/models/{}", encode_path(&v.name))>{format!("{} v{}", v.name, v.version)}</a>
                        }).collect_view()}
                    </p>
                })}
                {(!logged_models.is_empty()).then(|| view! {
                    <table class="table compact">
                        <thead><tr><th scope="col">"Logged model"</th><th scope="col">"Type"</th><th scope="col">"Status"</th><th scope="col">"Created"</th><th scope="col">"Id"</th></tr></thead>
                        <tbody>
                            {logged_models.iter().map(|m| view! {
                                <tr>
                                    <td>{m.info.name.clone()}</td>
                                    <td>{m.info.model_type.clone().unwrap_or_default()}</td>
                                    <td>{m.info.status.trim_start_matches("LOGGED_MODEL_").to_lowercase()}</td>
                                    <td class="nowrap">{short_time(m.info.creation_timestamp_ms)}</td>
                                    <td class="mono small">{m.info.model_id.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                })}
            </section>
        })}
        <ArtifactBrowser run_id=id artifact_uri=info.artifact_uri.clone()/>
    }
}

/// The run's note: shown to everyone, edited by editors (an empty note removes the tag).
#[component]
fn Note(run_id: String, note: String, can_edit: Signal<bool>, changed: RwSignal<u64>) -> impl IntoView {
    let save = ServerAction::<SetRunTag>::new();
    let text = RwSignal::new(note.clone());
    let editing = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(())) = save.value().get() {
            editing.set(false);
            changed.update(|n| *n += 1);
        }
    });
    let shown = note.clone();
    view! {
        <section class="card section note" data-testid="run-note">
            <div class="detail-head">
                <h2>"Note"</h2>
                <Show when=move || can_edit.get() && !editing.get()>
                    <button type="button" class="button small secondary" on:click=move |_| editing.set(true)>"Edit"</button>
                </Show>
            </div>
            <Show
                when=move || editing.get()
                fallback={
                    let shown = shown.clone();
                    move || {
                        if shown.is_empty() {
                            view! { <p class="empty-note">"No note."</p> }.into_any()
                        } else {
                            view! { <p class="note-text" data-testid="note-text">{shown.clone()}</p> }.into_any()
                        }
                    }
                }
            >
                {
                    let run_id = run_id.clone();
                    view! {
                        <form
                            class="stack"
                            on:submit=move |ev| {
                                ev.prevent_default();
                                save.dispatch(SetRunTag { run_id: run_id.clone(), key: NOTE_TAG.into(), value: text.get_untracked() });
                            }
                        >
                            <textarea
                                rows="5"
                                aria-label="Note"
                                data-testid="note-input"
                                prop:value=move || text.get()
                                on:input=move |ev| text.set(event_target_value(&ev))
                            ></textarea>
                            <div class="actions">
                                <button type="submit" class="button small" disabled=move || save.pending().get()>"Save note"</button>
                                <button type="button" class="button small secondary" on:click=move |_| editing.set(false)>"Cancel"</button>
                            </div>
                        </form>
                    }
                }
            </Show>
            {move || save.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
        </section>
    }
}

/// One metric's chart, asked again with the page while the run is running.
#[component]
fn RunChart(run_id: String, key: String, tick: Memo<u64>) -> impl IntoView {
    let ids = run_id.clone();
    let metric = key.clone();
    let points = Resource::new(move || tick.get(), move |_| metric_points(ids.clone(), metric.clone()));
    let series = Signal::derive(move || {
        points
            .get()
            .and_then(|r| r.ok())
            .map(|ms| {
                vec![MetricSeries {
                    label: "value".into(),
                    color: 0,
                    points: ms.iter().map(|m| (m.step, m.value)).collect(),
                }]
            })
            .unwrap_or_default()
    });
    let test_id = format!("chart-{key}");
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading points…"</p> }>
            {move || points.get().map(|r| r.err().map(|e| view! { <ErrorNote error=e/> }))}
            <MetricChart title=key.clone() series test_id=test_id.clone()/>
        </Transition>
    }
}

#[component]
fn Tags(
    run_id: String,
    user_tags: Vec<Tag>,
    system_tags: Vec<Tag>,
    can_edit: Signal<bool>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    let set = ServerAction::<SetRunTag>::new();
    let key = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(())) = set.value().get() {
            key.set(String::new());
            value.set(String::new());
            changed.update(|n| *n += 1);
        }
    });
    let row = {
        let run_id = run_id.clone();
        move |t: Tag, removable: bool| {
            let run_id = run_id.clone();
            let k = t.key.clone();
            view! {
                <tr>
                    <th scope="row" class="mono">{t.key}</th>
                    <td class="break">{t.value}</td>
                    <td>
                        <Show when=move || removable && can_edit.get()>
                            {
                                let (run_id, k) = (run_id.clone(), k.clone());
                                view! {
                                    <button
                                        type="button"
                                        class="button small secondary"
                                        aria-label=format!("Remove tag {k}")
                                        on:click=move |_| {
                                            set.dispatch(SetRunTag { run_id: run_id.clone(), key: k.clone(), value: String::new() });
                                        }
                                    >
                                        "Remove"
                                    </button>
                                }
                            }
                        </Show>
                    </td>
                </tr>
            }
        }
    };
    let system_count = system_tags.len();
    view! {
        <section class="card section" data-testid="run-tags">
            <h2>"Tags"</h2>
            {if user_tags.is_empty() {
                view! { <p class="empty-note">"No tags of its own."</p> }.into_any()
            } else {
                let row = row.clone();
                view! { <table class="table compact kv"><tbody>{user_tags.into_iter().map(|t| row(t, true)).collect_view()}</tbody></table> }.into_any()
            }}
            <Show when=move || can_edit.get()>
                {
                    let run_id = run_id.clone();
                    view! {
                        <form
                            class="inline-form"
                            on:submit=move |ev| {
                                ev.prevent_default();
                                set.dispatch(SetRunTag { run_id: run_id.clone(), key: key.get_untracked(), value: value.get_untracked() });
                            }
                        >
                            <label class="field"><span>"Key"</span><input type="text" required maxlength="250" prop:value=move || key.get() on:input=move |ev| key.set(event_target_value(&ev))/></label>
                            <label class="field grow"><span>"Value"</span><input type="text" required prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/></label>
                            <button type="submit" class="button small">"Set tag"</button>
                        </form>
                    }
                }
            </Show>
            {move || set.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
            {(system_count > 0).then(|| view! {
                <details>
                    <summary class="muted small">{format!("{system_count} system tags (mlflow.*)")}</summary>
                    <table class="table compact kv"><tbody>{system_tags.into_iter().map(|t| row(t, false)).collect_view()}</tbody></table>
                </details>
            })}
        </section>
    }
}

/// The run's artifacts as a tree opened folder by folder, with a preview of the chosen file.
#[component]
fn ArtifactBrowser(run_id: String, artifact_uri: String) -> impl IntoView {
    let chosen = RwSignal::new(None::<String>);
    let preview_run = run_id.clone();
    let preview = Resource::new(
        move || chosen.get(),
        move |path| {
            let run_id = preview_run.clone();
            async move {
                match path {
                    Some(p) => preview_artifact(run_id, p).await.map(Some),
                    None => Ok(None),
                }
            }
        },
    );
    let uri = artifact_uri.clone();
    view! {
        <section class="card section artifacts" data-testid="artifacts">
            <h2>"Artifacts"</h2>
            <div class="artifact-layout">
                <div class="artifact-tree">
                    <ArtifactFolder run_id=run_id.clone() path=String::new() chosen/>
                </div>
                <div class="artifact-preview" data-testid="artifact-preview">
                    <Transition fallback=|| view! { <p class="loading">"Reading…"</p> }>
                        {move || {
                            let uri = uri.clone();
                            preview.get().map(move |r| match r {
                                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                                Ok(None) => view! { <p class="muted">"Choose a file to preview it."</p> }.into_any(),
                                Ok(Some(p)) => {
                                    let href = download_url(&uri, &p.path);
                                    let name = p.path.rsplit('/').next().unwrap_or(&p.path).to_string();
                                    let cut = p.truncated.then(|| view! { <span class="muted small">{format!(" · first {} shown", okrflow_engine::units::format_bytes(p.bytes))}</span> });
                                    let body = match p.body {
                                        PreviewBody::Text { text, syntax } => view! { <pre class=format!("code-block lang-{syntax}")>{text}</pre> }.into_any(),
                                        PreviewBody::Table { header, rows } => view! {
                                            <div class="table-scroll">
                                                <table class="table compact preview-table">
                                                    <thead><tr>{header.into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}</tr></thead>
                                                    <tbody>{rows.into_iter().map(|r| view! { <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr> }).collect_view()}</tbody>
                                                </table>
                                            </div>
                                        }.into_any(),
                                        PreviewBody::Image { data_url } => view! { <img class="artifact-image" src=data_url alt=name.clone()/> }.into_any(),
                                        PreviewBody::None { reason } => view! { <p class="muted">{reason}</p> }.into_any(),
                                    };
                                    view! {
                                        <div class="detail-head">
                                            <h3 class="mono break">{p.path.clone()}</h3>
                                            <a class="button small secondary" href=href download=name>"Download"</a>
                                        </div>
                                        <p class="muted small">{okrflow_engine::units::format_bytes(p.bytes)}{cut}</p>
                                        {body}
                                    }
                                    .into_any()
                                }
                            })
                        }}
                    </Transition>
                </div>
            </div>
        </section>
    }
}

/// One folder of the tree; a sub-folder is listed when it is opened.
#[component]
fn ArtifactFolder(run_id: String, path: String, chosen: RwSignal<Option<String>>) -> impl IntoView {
    let (r, p) = (run_id.clone(), path.clone());
    let entries = Resource::new(|| (), move |_| run_artifacts(r.clone(), p.clone()));
    let top = path.is_empty();
    view! {
        <Transition fallback=|| view! { <p class="loading small">"Listing…"</p> }>
            {move || {
                let run_id = run_id.clone();
                entries.get().map(move |r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(list) if list.is_empty() && top => view! { <p class="empty-note">"No artifacts."</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="muted small">"Empty folder."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="tree">
                            {list.into_iter().map(|e| {
                                let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
                                if e.is_dir {
                                    let open = RwSignal::new(false);
                                    let (run_id, sub) = (run_id.clone(), e.path.clone());
                                    view! {
                                        <li class="folder">
                                            <details on:toggle=move |_| open.set(true)>
                                                <summary>{name}"/"</summary>
                                                <Show when=move || open.get()>
                                                    <ArtifactFolder run_id=run_id.clone() path=sub.clone() chosen/>
                                                </Show>
                                            </details>
                                        </li>
                                    }.into_any()
                                } else {
                                    let file = e.path.clone();
                                    let is_chosen = {
                                        let file = file.clone();
                                        move || chosen.with(|c| c.as_deref() == Some(file.as_str()))
                                    };
                                    let size = e.file_size.map(okrflow_engine::units::format_bytes).unwrap_or_else(|| "0 B".into());
                                    view! {
                                        <li class="file" class:chosen=is_chosen>
                                            <button type="button" class="link" data-artifact=file.clone() on:click=move |_| chosen.set(Some(file.clone()))>{name}</button>
                                            " " <span class="muted small">{size}</span>
                                        </li>
                                    }.into_any()
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                })
            }}
        </Transition>
    }
    .into_any()
}
