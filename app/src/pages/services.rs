//! Services (`/services`): okrflow's own components with their measured health. Controls and
//! external dependency checks arrive with the monitoring capability.

use leptos::prelude::*;

use crate::components::status_pill::get_system_status;
use crate::components::table::TableHead;
use crate::components::ErrorNote;
use crate::refresh::use_refresh;

#[component]
pub fn ServicesPage() -> impl IntoView {
    let refresh = use_refresh();
    let status = Resource::new(move || refresh.get(), |_| get_system_status());
    view! {
        <div class="page services">
            <p class="muted">
                "Each component is checked when this page loads and on Refresh. External dependency checks and controls arrive with the monitoring capability."
            </p>
            <Transition fallback=|| view! { <p class="loading">"Checking…"</p> }>
                {move || {
                    status
                        .get()
                        .map(|result| match result {
                            Ok(s) => {
                                view! {
                                    <table class="table">
                                        <caption class="sr-only">"okrflow components"</caption>
                                        <TableHead columns=&["Component", "Health", "Detail"]/>
                                        <tbody>
                                            {s
                                                .components
                                                .into_iter()
                                                .map(|c| {
                                                    let class = format!("badge badge-{}", c.health.label());
                                                    view! {
                                                        <tr>
                                                            <td>{c.name}</td>
                                                            <td><span class=class>{c.health.label()}</span></td>
                                                            <td>{c.detail}</td>
                                                        </tr>
                                                    }
                                                })
                                                .collect_view()}
                                        </tbody>
                                    </table>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        })
                }}
            </Transition>
        </div>
    }
}
