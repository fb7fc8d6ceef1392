//! The trigger form (`/pipelines/{id}/trigger`): one field per parameter of the pipeline, of
//! its kind (text, number, a checkbox, a choice, a file from Files), filled with its default;
//! starting the run opens its page.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use okrflow_engine::pipelines::{ParamKind, ParamSpec, ParamValue, PipelineView};

use crate::components::{error_text, ErrorNote};

#[server]
pub async fn get_pipeline_params(id: String) -> Result<PipelineView, ServerFnError> {
    use crate::server::*;
    engine()?.pipelines().get(&actor(), &id).await.map_err(failed)
}

/// Starts a run; `params` is a JSON object of the parameters by name.
#[server]
pub async fn trigger_pipeline(id: String, params: String) -> Result<i64, ServerFnError> {
    use crate::server::*;
    let params: BTreeMap<String, ParamValue> = serde_json::from_str(&params)
        .map_err(|e| bad_request(format!("the parameters are not a JSON object of values: {e}")))?;
    engine()?.pipelines().trigger(&actor(), &id, &params).await.map_err(failed)
}

lazy_page!(TriggerRoute, TriggerPage);

#[component]
pub fn TriggerPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));
    let pipeline = Resource::new(move || id.get(), get_pipeline_params);
    view! {
        <div class="page trigger">
            <Transition fallback=|| view! { <p class="loading">"Loading the pipeline…"</p> }>
                {move || pipeline.get().map(|r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(p) => view! { <TriggerForm pipeline=p/> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

/// A field's text as the parameter's value, or what is wrong with it.
fn value_of(spec: &ParamSpec, text: &str, checked: bool) -> Result<Option<ParamValue>, String> {
    let text = text.trim();
    match spec.kind {
        ParamKind::Boolean => Ok(Some(ParamValue::Bool(checked))),
        _ if text.is_empty() => Ok(None),
        ParamKind::Number | ParamKind::File => text
            .parse::<f64>()
            .map(|n| Some(ParamValue::Number(n)))
            .map_err(|_| format!("{} must be a number", spec.name)),
        ParamKind::String | ParamKind::Choice => Ok(Some(ParamValue::Text(text.to_string()))),
    }
}

#[component]
fn TriggerForm(pipeline: PipelineView) -> impl IntoView {
    let d = pipeline.definition;
    let id = d.id.clone();
    let fields: Vec<(ParamSpec, RwSignal<String>, RwSignal<bool>)> = d
        .params
        .iter()
        .map(|p| {
            let text = p.default.as_ref().map(|v| v.as_text()).unwrap_or_default();
            let checked = matches!(p.default, Some(ParamValue::Bool(true)));
            (p.clone(), RwSignal::new(text), RwSignal::new(checked))
        })
        .collect();
    let trigger = ServerAction::<TriggerPipeline>::new();
    let local_error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let run_base = format!("/pipelines/{}/runs", super::percent_path(&id));
    Effect::new(move |_| {
        if let Some(Ok(run)) = trigger.value().get() {
            navigate(&format!("{run_base}/{run}"), Default::default());
        }
    });
    let submit_fields = fields.clone();
    let submit_id = id.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut values = BTreeMap::new();
        for (spec, text, checked) in &submit_fields {
            match value_of(spec, &text.get_untracked(), checked.get_untracked()) {
                Ok(Some(v)) => {
                    values.insert(spec.name.clone(), v);
                }
                Ok(None) => {}
                Err(e) => {
                    local_error.set(Some(e));
                    return;
                }
            }
        }
        local_error.set(None);
        let params = serde_json::to_string(&values).unwrap_or_else(|_| "{}".into());
        trigger.dispatch(TriggerPipeline { id: submit_id.clone(), params });
    };
    view! {
        <h2 class="page-subtitle">{format!("Trigger {id}")}</h2>
        <p class="muted">{d.description.clone()}</p>
        <form class="form trigger-form" on:submit=on_submit data-testid="trigger-form">
            {if fields.is_empty() {
                view! { <p class="muted">"This pipeline takes no parameters."</p> }.into_any()
            } else {
                fields.into_iter().map(|(spec, text, checked)| {
                    let name = spec.name.clone();
                    let label = if spec.description.is_empty() { name.clone() } else { format!("{name} — {}", spec.description) };
                    let required = spec.default.is_none() && spec.kind != ParamKind::Boolean;
                    let input = match spec.kind {
                        ParamKind::Boolean => view! {
                            <input type="checkbox" name=name.clone() prop:checked=move || checked.get() on:change=move |ev| checked.set(event_target_checked(&ev))/>
                        }.into_any(),
                        ParamKind::Choice => view! {
                            <select name=name.clone() required=required prop:value=move || text.get() on:change=move |ev| text.set(event_target_value(&ev))>
                                {(!required).then(|| view! { <option value="">"(default)"</option> })}
                                {spec.choices.iter().map(|c| view! { <option value=c.clone() selected=text.get_untracked() == *c>{c.clone()}</option> }).collect_view()}
                            </select>
                        }.into_any(),
                        ParamKind::Number => view! {
                            <input type="number" step="any" name=name.clone() required=required prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                        }.into_any(),
                        ParamKind::File => view! {
                            <input type="number" min="1" step="1" name=name.clone() required=required placeholder="a file id from Files" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                        }.into_any(),
                        ParamKind::String => view! {
                            <input type="text" name=name.clone() required=required prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
                        }.into_any(),
                    };
                    let hint = match spec.kind {
                        ParamKind::File => "the id shown in Files",
                        ParamKind::Choice => "one of the listed values",
                        _ => "",
                    };
                    view! {
                        <label class="field" data-param=name.clone()>
                            <span>{label}{required.then(|| view! { <span class="muted">" (required)"</span> })}</span>
                            {input}
                            {(!hint.is_empty()).then(|| view! { <span class="small muted">{hint}</span> })}
                        </label>
                    }
                }).collect_view().into_any()
            }}
            <div class="actions">
                <button class="button" type="submit" disabled=move || trigger.pending().get()>"Start the run"</button>
                <a class="button secondary" href=format!("/pipelines/{}", super::percent_path(&id))>"Back"</a>
            </div>
            {move || local_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || trigger.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{error_text(&e)}</p> })}
        </form>
    }
}
