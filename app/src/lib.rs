//! okrflow's Leptos app, shared by the server (feature `ssr`) and the browser (`hydrate`).
//!
//! Module map:
//! - [`nav`]: the one table of pages: path, title, sidebar group, icon.
//! - [`layout`]: the shell around every page: collapsible sidebar (a drawer on phones), navbar
//!   with the page title, the status pill and the refresh control.
//! - [`components`]: reusable pieces (status pill, cards, empty states, icons).
//! - [`pages`]: one module per route, each with the server functions it calls.
//! - [`refresh`]: the navbar's refresh signal that pages' data depends on.
//! - `server` (`ssr` only): helpers for server functions (reaching the engine).

pub mod components;
pub mod layout;
pub mod nav;
pub mod pages;
pub mod refresh;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

use crate::layout::Layout;
use crate::pages::{
    experiments, files, logs, models, monitoring, not_found, overview, pipelines, services,
};

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: router, layout and one route per page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    refresh::provide_refresh();
    // Effects run only in the browser, after hydration: this marks the page as interactive
    // (end-to-end tests wait for it instead of sleeping).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="okrflow" href="/pkg/okrflow.css"/>
        <Title formatter=|page: String| format!("{page} · okrflow")/>
        <Router>
            <Layout>
                <Routes fallback=not_found::NotFound>
                    <Route path=path!("/") view=overview::OverviewPage/>
                    <Route path=path!("/services") view=services::ServicesPage/>
                    <Route path=path!("/pipelines") view=pipelines::PipelinesPage/>
                    <Route path=path!("/files") view=files::FilesPage/>
                    <Route path=path!("/monitoring") view=monitoring::MonitoringPage/>
                    <Route path=path!("/experiments") view=experiments::ExperimentsPage/>
                    <Route path=path!("/models") view=models::ModelsPage/>
                    <Route path=path!("/logs") view=logs::LogsPage/>
                </Routes>
            </Layout>
        </Router>
    }
}
