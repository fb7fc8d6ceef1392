//! The 404 page: rendered for any path no route matches, with status 404 on the server.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

#[component]
pub fn NotFound() -> impl IntoView {
    let location = use_location();
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
        // Broken links are worth an operator's look; this is the server's only record of them.
        tracing::info!(path = %location.pathname.get_untracked(), "page not found");
    }
    view! {
        <div class="page not-found">
            <section class="empty-state">
                <p class="big-code" aria-hidden="true">"404"</p>
                <h2>"There is no page at " <code>{move || location.pathname.get()}</code></h2>
                <p>"The address may be mistyped, or the page may have moved."</p>
                <p><a class="button" href="/">"Go to the overview"</a></p>
            </section>
        </div>
    }
}
