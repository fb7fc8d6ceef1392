//! Reusable view pieces: icons, the status pill, stat cards, empty states, tables, SVG line
//! charts and the live system charts and cards built on them, and the tracking pages' metric
//! and parallel-coordinates charts.

pub mod card;
pub mod chart;
pub mod empty_state;
pub mod icons;
pub mod live_charts;
pub mod metric_chart;
pub mod status_pill;
pub mod table;

use leptos::prelude::ServerFnError;

/// The message of a server function's error as a person should read it, without the
/// framework's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// A server function's failure, shown where its result would be and announced to screen readers.
#[leptos::component]
pub fn ErrorNote(error: ServerFnError) -> impl leptos::prelude::IntoView {
    use leptos::prelude::*;
    view! { <p class="error" role="alert">{error_text(&error)}</p> }
}
