//! Line icons drawn as inline SVG (no icon font, no network): one path set per page.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    Overview,
    Services,
    Pipelines,
    Files,
    Monitoring,
    Experiments,
    Models,
    Logs,
    Users,
    Audit,
    Menu,
    Collapse,
    Refresh,
}

impl Icon {
    /// SVG path data on a 24×24 grid, stroked.
    fn paths(self) -> &'static [&'static str] {
        match self {
            Icon::Overview => &["M3 3h7v9H3z", "M14 3h7v5h-7z", "M14 12h7v9h-7z", "M3 16h7v5H3z"],
            Icon::Services => &["M4 4h16v6H4z", "M4 14h16v6H4z", "M8 7h.01", "M8 17h.01"],
            Icon::Pipelines => &[
                "M5 6a2 2 0 1 0 0 .01",
                "M19 12a2 2 0 1 0 0 .01",
                "M5 18a2 2 0 1 0 0 .01",
                "M7 6h5l5 5",
                "M7 18h5l5-5",
            ],
            Icon::Files => &["M6 2h8l6 6v14H6z", "M14 2v6h6"],
            Icon::Monitoring => &["M3 12h4l3-8 4 16 3-8h4"],
            Icon::Experiments => &["M9 3h6", "M10 3v6L4 20h16L14 9V3"],
            Icon::Models => &["M12 2l9 5v10l-9 5-9-5V7z", "M12 12l9-5", "M12 12v10", "M12 12L3 7"],
            Icon::Logs => &["M4 6h16", "M4 12h16", "M4 18h10"],
            Icon::Users => &[
                "M9 11a4 4 0 1 0 0-.01",
                "M2 21v-1a6 6 0 0 1 12 0v1",
                "M16 3.5a4 4 0 0 1 0 7.5",
                "M22 21v-1a6 6 0 0 0-4-5.6",
            ],
            Icon::Audit => &["M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z", "M9 12l2 2 4-4"],
            Icon::Menu => &["M3 6h18", "M3 12h18", "M3 18h18"],
            Icon::Collapse => &["M15 6l-6 6 6 6"],
            Icon::Refresh => &["M20 11a8 8 0 1 0-2.3 5.7", "M20 4v7h-7"],
        }
    }
}

/// An icon that screen readers skip; the text next to it carries the meaning.
#[component]
pub fn IconSvg(icon: Icon) -> impl IntoView {
    view! {
        <svg
            class="icon"
            viewBox="0 0 24 24"
            width="20"
            height="20"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
            focusable="false"
        >
            {icon.paths().iter().map(|d| view! { <path d=*d></path> }).collect_view()}
        </svg>
    }
}
