//! The navbar's Refresh control: a counter in context. Pages key their resources on it, so one
//! click refetches what the current page shows.

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
