//! When pages ask again: the navbar's Refresh control (a counter in context that pages key their
//! resources on, so one click refetches what the current page shows), and whether the tab is out
//! of sight, when polls and live feeds wait.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Refresh(pub RwSignal<u32>);

pub fn provide_refresh() {
    provide_context(Refresh(RwSignal::new(0)));
}

/// The current refresh generation; reading it inside a resource's source subscribes to it.
pub fn use_refresh() -> Refresh {
    use_context::<Refresh>().unwrap_or_else(|| Refresh(RwSignal::new(0)))
}

impl Refresh {
    pub fn get(self) -> u32 {
        self.0.get()
    }

    pub fn trigger(self) {
        self.0.update(|n| *n = n.wrapping_add(1));
    }
}

/// Whether the browser tab is hidden (always false while rendering on the server).
pub fn tab_is_hidden() -> bool {
    #[cfg(not(feature = "ssr"))]
    {
        document().visibility_state() == web_sys::VisibilityState::Hidden
    }
    #[cfg(feature = "ssr")]
    {
        false
    }
}
