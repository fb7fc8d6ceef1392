//! Monitoring (`/monitoring`): live system charts. Empty until the monitoring capability lands.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;

#[component]
pub fn MonitoringPage() -> impl IntoView {
    view! {
        <div class="page monitoring">
            <EmptyState icon=Icon::Monitoring title="No metrics collected yet">
                <p>"CPU, memory, disk and network will be sampled every second and drawn here as live charts with an hour of history in memory and seven days stored."</p>
            </EmptyState>
        </div>
    }
}
