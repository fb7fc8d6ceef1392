//! Models (`/models`): the model registry the MLflow client writes to. The list of registered
//! models with their latest version, aliases and tags; a model (`/models/{name}`) with its
//! description, tags and aliases (editable by editors: an alias set here is what
//! `models:/name@alias` loads) and every version with the run it came from.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use okrflow_engine::tracking::{ModelVersion, RegisteredModel};

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;
use crate::components::{error_text, ErrorNote};
use crate::pages::experiments::run::encode_path;
use crate::pages::experiments::{short_time, use_can_edit};
use crate::refresh::use_refresh;

#[server]
pub async fn list_models() -> Result<Vec<RegisteredModel>, ServerFnError> {
    use crate::server::*;
    // The list shows at most this many.
    const MAX_MODELS: i64 = 1_000;
    let order = ["name ASC".to_string()];
    let page = engine()?.tracking().search_registered_models(&actor(), None, Some(MAX_MODELS), &order, None).await;
    Ok(page.map_err(failed)?.registered_models)
}

#[server]
pub async fn get_model(name: String) -> Result<(RegisteredModel, Vec<ModelVersion>), ServerFnError> {
    use crate::server::*;
    engine()?.tracking().model_detail(&actor(), &name).await.map_err(failed)
}

/// Points `alias` at `version`; an empty version removes the alias.
#[server]
pub async fn set_model_alias(name: String, alias: String, version: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    let engine = engine()?;
    let tracking = engine.tracking();
    let alias = alias.trim();
    if version.is_empty() {
        tracking.delete_alias(&actor(), &name, alias).await.map_err(failed)
    } else {
        tracking.set_alias(&actor(), &name, alias, version.trim()).await.map_err(failed)
    }
}

/// Sets a registered model's tag; an empty value removes it.
#[server]
pub async fn set_model_tag(name: String, key: String, value: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    use okrflow_engine::tracking::Tag;
    let engine = engine()?;
    let tracking = engine.tracking();
    if value.is_empty() {
        tracking.delete_registered_model_tag(&actor(), &name, &key).await.map_err(failed)
    } else {
        tracking.set_registered_model_tag(&actor(), &name, &Tag { key, value }).await.map_err(failed)
    }
}

#[server]
pub async fn set_model_description(name: String, description: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    engine()?.tracking().update_registered_model(&actor(), &name, &description).await.map_err(failed).map(|_| ())
}

lazy_page!(ModelsRoute, ModelsPage);

#[component]
pub fn ModelsPage() -> impl IntoView {
    let refresh = use_refresh();
    let tick = crate::pages::experiments::poll_ticks(|| true);
    let models = Resource::new(move || (refresh.get(), tick.get()), |_| list_models());
    let name = RwSignal::new(String::new());
    view! {
        <div class="page models">
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <label class="field grow">
                    <span>"Name"</span>
                    <input type="search" placeholder="part of the model name" data-testid="model-search" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading models…"</p> }>
                {move || {
                    models.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(all) if all.is_empty() => view! {
                            <EmptyState icon=Icon::Models title="No registered models yet">
                                <p>"Models registered through the MLflow client (for example "<code>"mlflow.sklearn.log_model(model, name=\"model\", registered_model_name=\"okr-at-risk\")"</code>") appear here with their versions, aliases and the runs they came from."</p>
                            </EmptyState>
                        }.into_any(),
                        Ok(all) => {
                            let needle = name.get().to_lowercase();
                            let shown: Vec<RegisteredModel> = all.into_iter().filter(|m| needle.is_empty() || m.name.to_lowercase().contains(&needle)).collect();
                            view! { <ModelTable models=shown/> }.into_any()
                        }
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn ModelTable(models: Vec<RegisteredModel>) -> impl IntoView {
    if models.is_empty() {
        return view! { <p class="empty-note">"No model matches."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="table" data-testid="model-table">
                <caption class="sr-only">"Registered models"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Latest version"</th>
                        <th scope="col">"Aliases"</th>
                        <th scope="col">"Tags"</th>
                        <th scope="col">"Updated"</th>
                    </tr>
                </thead>
                <tbody>
                    {models.into_iter().map(|m| {
                        let latest = m.latest_versions.iter().map(|v| v.version.parse::<i64>().unwrap_or(0)).max();
                        view! {
                            <tr data-model=m.name.clone()>
                                <td class="wrap"><a href=format!("/models/{}", encode_path(&m.name))>{m.name.clone()}</a></td>
                                <td>{latest.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())}</td>
                                <td>{m.aliases.iter().map(|a| view! { <span class="chip">{format!("@{} → v{}", a.alias, a.version)}</span> }).collect_view()}</td>
                                <td class="small">{m.tags.iter().filter(|t| !t.key.starts_with("mlflow.")).map(|t| view! { <span class="chip mono">{format!("{}={}", t.key, t.value)}</span> }).collect_view()}</td>
                                <td class="nowrap">{short_time(m.last_updated_timestamp)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

lazy_page!(ModelRoute, ModelPage);

#[component]
pub fn ModelPage() -> impl IntoView {
    let params = use_params_map();
    let name = Memo::new(move |_| params.with(|p| p.get("name").unwrap_or_default()));
    let refresh = use_refresh();
    let changed = RwSignal::new(0u64);
    let model = Resource::new(move || (name.get(), refresh.get(), changed.get()), |(n, _, _)| get_model(n));
    let can_edit = use_can_edit();
    view! {
        <div class="page model">
            <Transition fallback=|| view! { <p class="loading">"Loading the model…"</p> }>
                {move || {
                    model.get().map(|r| match r {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok((m, versions)) => view! { <ModelView model=m versions can_edit changed/> }.into_any(),
                    })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn ModelView(
    model: RegisteredModel,
    versions: Vec<ModelVersion>,
    can_edit: Signal<bool>,
    changed: RwSignal<u64>,
) -> impl IntoView {
    let alias_action = ServerAction::<SetModelAlias>::new();
    let tag_action = ServerAction::<SetModelTag>::new();
    let describe = ServerAction::<SetModelDescription>::new();
    Effect::new(move |_| {
        let ok = matches!(alias_action.value().get(), Some(Ok(())))
            || matches!(tag_action.value().get(), Some(Ok(())))
            || matches!(describe.value().get(), Some(Ok(())));
        if ok {
            changed.update(|n| *n += 1);
        }
    });
    let name = model.name.clone();
    let alias = RwSignal::new(String::new());
    let alias_version = RwSignal::new(versions.first().map(|v| v.version.clone()).unwrap_or_default());
    let tag_key = RwSignal::new(String::new());
    let tag_value = RwSignal::new(String::new());
    let description = RwSignal::new(model.description.clone());
    let version_numbers: Vec<String> = versions.iter().map(|v| v.version.clone()).collect();
    let alias_choices = version_numbers.clone();
    let errors = move || {
        [alias_action.value().get(), tag_action.value().get(), describe.value().get()]
            .into_iter()
            .flatten()
            .filter_map(|r| r.err())
            .map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })
            .collect_view()
    };
    let user_tags: Vec<_> = model.tags.iter().filter(|t| !t.key.starts_with("mlflow.")).cloned().collect();
    let (n1, n2, n3, n4) = (name.clone(), name.clone(), name.clone(), name.clone());

    view! {
        <div class="detail-head">
            <h2 data-testid="model-name">{model.name.clone()}</h2>
            <span class="muted small">{format!("{} versions", versions.len())}</span>
        </div>
        <p class="muted small"><a href="/models">"All models"</a> " · updated " {short_time(model.last_updated_timestamp)}</p>
        {errors}
        <section class="card section">
            <h2>"Description"</h2>
            <Show
                when=move || can_edit.get()
                fallback={
                    let text = model.description.clone();
                    move || if text.is_empty() { view! { <p class="empty-note">"No description."</p> }.into_any() } else { view! { <p class="note-text">{text.clone()}</p> }.into_any() }
                }
            >
                {
                    let n = n1.clone();
                    view! {
                        <form class="stack" on:submit=move |ev| { ev.prevent_default(); describe.dispatch(SetModelDescription { name: n.clone(), description: description.get_untracked() }); }>
                            <textarea rows="3" aria-label="Description" prop:value=move || description.get() on:input=move |ev| description.set(event_target_value(&ev))></textarea>
                            <div><button type="submit" class="button small">"Save description"</button></div>
                        </form>
                    }
                }
            </Show>
        </section>
        <div class="grid two">
            <section class="card" data-testid="model-aliases">
                <h2>"Aliases"</h2>
                {if model.aliases.is_empty() {
                    view! { <p class="empty-note">"No aliases. An alias names a version for clients: "<code>{format!("models:/{}@champion", model.name)}</code></p> }.into_any()
                } else {
                    view! {
                        <ul class="plain">
                            {model.aliases.iter().map(|a| {
                                let (n, al) = (n2.clone(), a.alias.clone());
                                view! {
                                    <li data-alias=a.alias.clone()>
                                        <span class="chip">{format!("@{}", a.alias)}</span>
                                        " → version " <strong>{a.version.clone()}</strong>
                                        " " <code class="small">{format!("models:/{}@{}", model.name, a.alias)}</code>
                                        <Show when=move || can_edit.get()>
                                            {
                                                let (n, al) = (n.clone(), al.clone());
                                                view! { <button type="button" class="button small secondary" aria-label=format!("Remove alias {al}") on:click=move |_| { alias_action.dispatch(SetModelAlias { name: n.clone(), alias: al.clone(), version: String::new() }); }>"Remove"</button> }
                                            }
                                        </Show>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <Show when=move || can_edit.get() && !version_numbers.is_empty()>
                    {
                        let n = n3.clone();
                        let numbers = alias_choices.clone();
                        view! {
                            <form class="inline-form" data-testid="alias-form" on:submit=move |ev| { ev.prevent_default(); alias_action.dispatch(SetModelAlias { name: n.clone(), alias: alias.get_untracked(), version: alias_version.get_untracked() }); }>
                                <label class="field"><span>"Alias"</span><input type="text" required maxlength="255" placeholder="champion" data-testid="alias-name" prop:value=move || alias.get() on:input=move |ev| alias.set(event_target_value(&ev))/></label>
                                <label class="field"><span>"Version"</span>
                                    <select data-testid="alias-version" on:change=move |ev| alias_version.set(event_target_value(&ev))>
                                        {numbers.iter().map(|v| view! { <option value=v.clone() selected={let v = v.clone(); move || alias_version.get() == v}>{v.clone()}</option> }).collect_view()}
                                    </select>
                                </label>
                                <button type="submit" class="button small" disabled=move || alias_action.pending().get()>"Set alias"</button>
                            </form>
                        }
                    }
                </Show>
            </section>
            <section class="card" data-testid="model-tags">
                <h2>"Tags"</h2>
                {if user_tags.is_empty() {
                    view! { <p class="empty-note">"No tags."</p> }.into_any()
                } else {
                    view! {
                        <table class="table compact kv"><tbody>
                            {user_tags.into_iter().map(|t| {
                                let (n, k) = (n4.clone(), t.key.clone());
                                view! {
                                    <tr>
                                        <th scope="row" class="mono">{t.key.clone()}</th>
                                        <td class="break">{t.value.clone()}</td>
                                        <td>
                                            <Show when=move || can_edit.get()>
                                                {
                                                    let (n, k) = (n.clone(), k.clone());
                                                    view! { <button type="button" class="button small secondary" aria-label=format!("Remove tag {k}") on:click=move |_| { tag_action.dispatch(SetModelTag { name: n.clone(), key: k.clone(), value: String::new() }); }>"Remove"</button> }
                                                }
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody></table>
                    }.into_any()
                }}
                <Show when=move || can_edit.get()>
                    {
                        let n = name.clone();
                        view! {
                            <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); tag_action.dispatch(SetModelTag { name: n.clone(), key: tag_key.get_untracked(), value: tag_value.get_untracked() }); }>
                                <label class="field"><span>"Key"</span><input type="text" required maxlength="250" prop:value=move || tag_key.get() on:input=move |ev| tag_key.set(event_target_value(&ev))/></label>
                                <label class="field grow"><span>"Value"</span><input type="text" required prop:value=move || tag_value.get() on:input=move |ev| tag_value.set(event_target_value(&ev))/></label>
                                <button type="submit" class="button small">"Set tag"</button>
                            </form>
                        }
                    }
                </Show>
            </section>
        </div>
        <section class="card section">
            <h2>"Versions"</h2>
            {if versions.is_empty() {
                view! { <p class="empty-note">"No versions yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                        <table class="table compact" data-testid="version-table">
                            <thead><tr>
                                <th scope="col">"Version"</th><th scope="col">"Aliases"</th><th scope="col">"Created"</th>
                                <th scope="col">"Source run"</th><th scope="col">"Status"</th><th scope="col">"Tags"</th><th scope="col">"Source"</th>
                            </tr></thead>
                            <tbody>
                                {versions.iter().map(|v| view! {
                                    <tr data-version=v.version.clone()>
                                        <td><strong>{format!("v{}", v.version)}</strong></td>
                                        <td>{v.aliases.iter().map(|a| view! { <span class="chip">{format!("@{a}")}</span> }).collect_view()}</td>
                                        <td class="nowrap">{short_time(v.creation_timestamp)}</td>
                                        <td>{v.run_id.clone().map(|r| view! { <a class="mono small" href=format!("/runs/{r}")>{r.chars().take(12).collect::<String>()}"…"</a> })}</td>
                                        <td>{v.status.to_lowercase().replace('_', " ")}</td>
                                        <td class="small">{v.tags.iter().map(|t| view! { <span class="chip mono">{format!("{}={}", t.key, t.value)}</span> }).collect_view()}</td>
                                        <td class="mono small break">{v.source.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
