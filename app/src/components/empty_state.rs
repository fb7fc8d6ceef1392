//! The honest empty state of a page whose capability has not landed yet: what will be here and
//! what is needed for it, never a made-up number.

use leptos::prelude::*;

use crate::components::icons::{Icon, IconSvg};

#[component]
pub fn EmptyState(icon: Icon, title: &'static str, children: Children) -> impl IntoView {
    view! {
        <section class="empty-state" aria-labelledby="empty-title">
            <div class="empty-icon"><IconSvg icon=icon/></div>
            <h2 id="empty-title">{title}</h2>
            <div class="empty-body">{children()}</div>
        </section>
    }
}
