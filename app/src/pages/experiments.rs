//! Experiments (`/experiments`): experiment tracking. Empty until the MLflow-compatible tracking capability lands.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;

#[component]
pub fn ExperimentsPage() -> impl IntoView {
    view! {
        <div class="page experiments">
            <EmptyState icon=Icon::Experiments title="No experiments yet">
                <p>"Experiments and runs with their parameters, metrics and artifacts will be listed here, logged by okrflow's pipelines or by the MLflow client pointed at okrflow."</p>
            </EmptyState>
        </div>
    }
}
