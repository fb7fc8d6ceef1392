//! The shell around every page: a collapsible sidebar (a drawer below 768 px) that shows who is
//! logged in and only what their role may open, the navbar with the page title, the status
//! pill and Refresh, and the `<main>` landmark the page renders in.
//!
//! The collapsed state lives in a cookie, not localStorage, so the server renders the same
//! state the browser will hydrate (no mismatch, no flash) and it survives a reload.

use leptos::ev;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::access::Access;
use crate::components::icons::{Icon, IconSvg};
use crate::components::status_pill::StatusPill;
use crate::cookies;
use crate::nav::{title_for, NAV};
use crate::pages::login::{get_session, Logout, SessionInfo};
use crate::refresh::use_refresh;

/// Whether a Cookie header value says the sidebar is collapsed.
pub fn cookie_says_collapsed(cookie_header: &str) -> bool {
    cookies::get(cookie_header, cookies::SIDEBAR) == Some("collapsed")
}

#[cfg(feature = "ssr")]
fn initial_collapsed() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::COOKIE)?.to_str().ok().map(cookie_says_collapsed))
        .unwrap_or(false)
}

#[cfg(not(feature = "ssr"))]
fn initial_collapsed() -> bool {
    use wasm_bindgen::JsCast;
    document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()
        .and_then(|d| d.cookie().ok())
        .is_some_and(|c| cookie_says_collapsed(&c))
}

fn remember_collapsed(collapsed: bool) {
    #[cfg(not(feature = "ssr"))]
    {
        use wasm_bindgen::JsCast;
        if let Ok(doc) = document().dyn_into::<web_sys::HtmlDocument>() {
            let value = if collapsed { "collapsed" } else { "expanded" };
            let _ = doc.set_cookie(&format!("{}={value}; Path=/; Max-Age=31536000; SameSite=Lax", cookies::SIDEBAR));
        }
    }
    #[cfg(feature = "ssr")]
    let _ = collapsed;
}

/// Moves focus to `<main>`; the router would otherwise treat `#main` as a navigation and leave
/// focus on the link.
fn skip_to_main(ev: leptos::ev::MouseEvent) {
    ev.prevent_default();
    #[cfg(not(feature = "ssr"))]
    {
        use wasm_bindgen::JsCast;
        if let Some(main) = document().get_element_by_id("main").and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = main.focus();
        }
    }
}

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let collapsed = RwSignal::new(initial_collapsed());
    let drawer_open = RwSignal::new(false);
    let location = use_location();
    let title = Memo::new(move |_| title_for(&location.pathname.get()));
    let refresh = use_refresh();
    // Asked again on every navigation, so logging in or out shows at once.
    let session = Resource::new(move || location.pathname.get(), |_| get_session());
    let status = crate::components::status_pill::status_resource();
    let user = move || session.get().and_then(|r| r.ok()).flatten();

    // Navigating closes the drawer; Escape closes it too.
    Effect::new(move |_| {
        location.pathname.track();
        drawer_open.set(false);
    });
    let _escape = window_event_listener(ev::keydown, move |e| {
        if e.key() == "Escape" && drawer_open.get_untracked() {
            drawer_open.set(false);
        }
    });

    let toggle_collapsed = move |_| {
        let next = !collapsed.get_untracked();
        collapsed.set(next);
        remember_collapsed(next);
    };

    view! {
        <Title text=move || title.get().to_string()/>
        <a class="skip-link" href="#main" on:click=skip_to_main>"Skip to content"</a>
        <div class="layout" class:collapsed=move || collapsed.get() class:drawer-open=move || drawer_open.get()>
            <aside class="sidebar" id="sidebar" aria-label="Sidebar">
                <div class="brand">
                    <img class="brand-logo" src="/favicon.svg" alt="" width="28" height="28"/>
                    <span class="brand-name label">"OKR ML Pipeline"</span>
                </div>
                // Anonymous visitors (the login page) get no navigation at all.
                <Transition fallback=|| ()>
                    {move || {
                        user()
                            .map(|u| {
                                view! {
                                    <SidebarNav user=u/>
                                    <button
                                        type="button"
                                        class="collapse-toggle"
                                        aria-controls="sidebar"
                                        aria-expanded=move || (!collapsed.get()).to_string()
                                        aria-label=move || {
                                            if collapsed.get() { "Expand sidebar" } else { "Collapse sidebar" }
                                        }
                                        on:click=toggle_collapsed
                                        data-testid="collapse-toggle"
                                    >
                                        <IconSvg icon=Icon::Collapse/>
                                        <span class="label">"Collapse"</span>
                                    </button>
                                }
                            })
                    }}
                </Transition>
            </aside>
            <div class="drawer-backdrop" on:click=move |_| drawer_open.set(false) aria-hidden="true"></div>
            <div class="main-column">
                <header class="navbar">
                    <button
                        type="button"
                        class="menu-button icon-button"
                        aria-controls="sidebar"
                        aria-expanded=move || drawer_open.get().to_string()
                        aria-label="Open navigation"
                        on:click=move |_| drawer_open.update(|open| *open = !*open)
                        data-testid="menu-button"
                    >
                        <IconSvg icon=Icon::Menu/>
                    </button>
                    <h1 class="page-title">{move || title.get()}</h1>
                    <Transition fallback=|| ()>
                        {move || {
                            user()
                                .map(|_| {
                                    view! {
                                        <div class="navbar-actions">
                                            <StatusPill status/>
                                            <button
                                                type="button"
                                                class="icon-button refresh-button"
                                                on:click=move |_| refresh.trigger()
                                                aria-label="Refresh"
                                                title="Refresh this page's data"
                                                data-testid="refresh"
                                            >
                                                <IconSvg icon=Icon::Refresh/>
                                                <span class="refresh-label">"Refresh"</span>
                                            </button>
                                        </div>
                                    }
                                })
                        }}
                    </Transition>
                </header>
                <main id="main" tabindex="-1">{children()}</main>
            </div>
        </div>
    }
}

/// The navigation a user may use, and who they are with Account and Log out.
#[component]
fn SidebarNav(user: SessionInfo) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    let role = user.role;
    let initial = user.username.chars().next().unwrap_or('?').to_uppercase().to_string();
    let name = user.username.clone();
    let groups = NAV
        .iter()
        .map(|group| {
            let items: Vec<_> = group.items.iter().filter(|i| Access::AtLeast(i.min_role).allows(Some(role))).collect();
            (group.name, items)
        })
        .filter(|(_, items)| !items.is_empty())
        .map(|(name, items)| {
            view! {
                <div class="nav-group">
                    <h2 class="nav-group-name label">{name}</h2>
                    <ul>
                        {items
                            .into_iter()
                            .map(|item| {
                                view! {
                                    <li>
                                        <A href=item.path exact={item.path == "/"} attr:title=item.title attr:class="nav-link">
                                            <IconSvg icon=item.icon/>
                                            <span class="label">{item.title}</span>
                                        </A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                </div>
            }
        })
        .collect_view();
    view! {
        <nav aria-label="Main">{groups}</nav>
        <div class="user-box" data-testid="user-box">
            <A href="/account" attr:class="nav-link" attr:title="Account">
                <span class="avatar" aria-hidden="true">{initial}</span>
                <span class="label user-name">
                    <span data-testid="user-name">{name}</span>
                    <span class="user-role">{role.as_str()}</span>
                </span>
            </A>
            <ActionForm action=logout>
                <button type="submit" class="logout-button" data-testid="logout" title="Log out">
                    <span class="label">"Log out"</span>
                    <span class="sr-only">" " {user.username.clone()}</span>
                </button>
            </ActionForm>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_read_exactly() {
        assert!(cookie_says_collapsed("a=1; okrflow_sidebar=collapsed"));
        assert!(!cookie_says_collapsed("okrflow_sidebar=expanded"));
        assert!(!cookie_says_collapsed("xokrflow_sidebar=collapsed"));
        assert!(!cookie_says_collapsed(""));
    }
}
