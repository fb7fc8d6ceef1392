//! A stat card: a label, a measured value and a line of detail; optionally a link to its page.
//! Value, detail and tone may be signals, so live cards update in place.

use leptos::prelude::*;

#[component]
pub fn StatCard(
    label: &'static str,
    #[prop(into)] value: Signal<String>,
    #[prop(into, optional)] detail: Signal<String>,
    #[prop(optional)] href: Option<&'static str>,
    #[prop(into, optional)] tone: Signal<String>,
    #[prop(optional)] test_id: Option<&'static str>,
) -> impl IntoView {
    let body = move || {
        view! {
            <p class="card-label">{label}</p>
            <p class="card-value">{move || value.get()}</p>
            <p class="card-detail">{move || detail.get()}</p>
        }
    };
    let class = move || format!("card stat-card {}", tone.get());
    match href {
        Some(href) => view! { <a class=class href=href data-testid=test_id>{body()}</a> }.into_any(),
        None => view! { <div class=class data-testid=test_id>{body()}</div> }.into_any(),
    }
}
