//! Files (`/files`): the file manager. Empty until the files capability lands.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::components::icons::Icon;

#[component]
pub fn FilesPage() -> impl IntoView {
    view! {
        <div class="page files">
            <EmptyState icon=Icon::Files title="No files yet">
                <p>"Upload CSV, Excel, JSON, Parquet and archives here to see their true row counts, columns and profiles, convert them to Parquet or clean CSV, and download them again."</p>
            </EmptyState>
        </div>
    }
}
