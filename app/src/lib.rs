//! okrflow's Leptos app, shared by the server (feature `ssr`) and the browser (`hydrate`).
//!
//! Module map:
//! - [`access`]: the access policy: every route's and server function's minimum role.
//! - [`api`]: the REST endpoints, declared once (router, policy, pages, OpenAPI document).
//! - [`cookies`]: cookie names and reading them from a header.
//! - [`nav`]: the one table of sidebar pages: path, title, group, icon, minimum role.
//! - [`layout`]: the shell around every page: collapsible sidebar (a drawer on phones), navbar
//!   with the page title, the status pill and the refresh control.
//! - [`components`]: reusable pieces (status pill, cards, empty states, icons).
//! - [`pages`]: one module per route, each with the server functions it calls.
//! - [`refresh`]: the navbar's refresh signal that pages' data depends on.
//! - `errors` (`ssr` only): the one mapping from an engine error to an HTTP status, the REST
//!   API's JSON body and a server function's error.
//! - `openapi` (`ssr` only): the OpenAPI 3.1 document generated from `api` and the engine's
//!   types' schemas.
//! - `server` (`ssr` only): helpers for server functions: the engine, the caller as an
//!   `Actor`, session cookies, parameter checks.

/// Declares a lazy route `$route` whose view is the component `$page`: with
/// `cargo leptos build --split` its code becomes a wasm chunk fetched on first visit.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        #[doc = concat!("The lazily loaded route of [`", stringify!($page), "`].")]
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}

pub mod access;
pub mod api;
pub mod components;
pub mod cookies;
#[cfg(feature = "ssr")]
pub mod errors;
pub mod layout;
pub mod live;
pub mod nav;
#[cfg(feature = "ssr")]
pub mod openapi;
pub mod pages;
pub mod refresh;
#[cfg(feature = "ssr")]
pub mod server;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, Lazy};

use crate::layout::Layout;
use crate::pages::{
    account, admin, experiments, files, login, logs, models, monitoring, not_found, overview, pipelines, services,
};

/// The Content-Security-Policy of pages: scripts only from this site or with this response's
/// nonce (the inline hydration script), wasm allowed to compile, nothing framed or embedded.
pub fn page_csp(nonce: &str) -> String {
    // `cargo leptos watch` reloads the page through a websocket on another port.
    let dev_socket = if option_env!("LEPTOS_WATCH").is_some() { " ws:" } else { "" };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'{dev_socket}; frame-ancestors 'none'; base-uri 'self'; \
         form-action 'self'; object-src 'none'"
    )
}

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(value) = http::HeaderValue::from_str(&page_csp(&nonce)) {
            response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
        }
    }
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
                    <Route path=path!("/") view={Lazy::<overview::OverviewRoute>::new()}/>
                    <Route path=path!("/services") view={Lazy::<services::ServicesRoute>::new()}/>
                    <Route path=path!("/pipelines") view={Lazy::<pipelines::PipelinesRoute>::new()}/>
                    <Route path=path!("/pipelines/:id") view={Lazy::<pipelines::pipeline::PipelineRoute>::new()}/>
                    <Route path=path!("/pipelines/:id/trigger") view={Lazy::<pipelines::trigger::TriggerRoute>::new()}/>
                    <Route path=path!("/pipelines/:id/runs/:run") view={Lazy::<pipelines::run::PipelineRunRoute>::new()}/>
                    <Route path=path!("/files") view={Lazy::<files::FilesRoute>::new()}/>
                    <Route path=path!("/monitoring") view={Lazy::<monitoring::MonitoringRoute>::new()}/>
                    <Route path=path!("/experiments") view={Lazy::<experiments::ExperimentsRoute>::new()}/>
                    <Route path=path!("/experiments/:id") view={Lazy::<experiments::runs::RunsRoute>::new()}/>
                    <Route path=path!("/runs/:id") view={Lazy::<experiments::run::RunRoute>::new()}/>
                    <Route path=path!("/compare") view={Lazy::<experiments::compare::CompareRoute>::new()}/>
                    <Route path=path!("/models") view={Lazy::<models::ModelsRoute>::new()}/>
                    <Route path=path!("/models/:name") view={Lazy::<models::ModelRoute>::new()}/>
                    <Route path=path!("/logs") view={Lazy::<logs::LogsRoute>::new()}/>
                    <Route path=path!("/login") view=login::LoginPage/>
                    <Route path=path!("/account") view={Lazy::<account::AccountRoute>::new()}/>
                    <Route path=path!("/admin/users") view={Lazy::<admin::UsersRoute>::new()}/>
                    <Route path=path!("/admin/audit") view={Lazy::<admin::AuditRoute>::new()}/>
                </Routes>
            </Layout>
        </Router>
    }
}
