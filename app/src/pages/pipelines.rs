//! Pipelines (`/pipelines`): the pipeline runs grid. Empty until the pipeline capability lands.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;

#[component]
pub fn PipelinesPage() -> impl IntoView {
    view! {
        <div class="page pipelines">
            <EmptyState icon=Icon::Pipelines title="No pipelines yet">
                <p>"Pipelines that ingest, validate, clean and transform OKR data, and train and monitor models, will be defined, triggered and followed here: a grid of runs by tasks, with each task's log and outputs."</p>
            </EmptyState>
        </div>
    }
}
