//! Table pieces shared by every page that lists things.

use leptos::prelude::*;

/// A header row of column names (`<th scope="col">`).
#[component]
pub fn TableHead(columns: &'static [&'static str]) -> impl IntoView {
    view! {
        <thead>
            <tr>{columns.iter().map(|c| view! { <th scope="col">{*c}</th> }).collect_view()}</tr>
        </thead>
    }
}
