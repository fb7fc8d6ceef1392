//! Models (`/models`): OKR models. Empty until the models capability lands.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;

#[component]
pub fn ModelsPage() -> impl IntoView {
    view! {
        <div class="page models">
            <EmptyState icon=Icon::Models title="No models yet">
                <p>"Models that predict which key results will be missed will be trained, compared and versioned here, each with the data and metrics it was trained on."</p>
            </EmptyState>
        </div>
    }
}
