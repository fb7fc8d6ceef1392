//! A stat card: a label, a measured value and a line of detail; optionally a link to its page.

use leptos::prelude::*;

#[component]
pub fn StatCard(
    label: &'static str,
    #[prop(into)] value: String,
    #[prop(into, optional)] detail: String,
    #[prop(optional)] href: Option<&'static str>,
    #[prop(into, optional)] tone: String,
) -> impl IntoView {
    let body = view! {
        <p class="card-label">{label}</p>
        <p class="card-value">{value}</p>
        <p class="card-detail">{detail}</p>
    };
    let class = format!("card stat-card {tone}");
    match href {
        Some(href) => view! { <a class=class href=href>{body}</a> }.into_any(),
        None => view! { <div class=class>{body}</div> }.into_any(),
    }
}
