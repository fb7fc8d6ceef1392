//! The browser entry point: hydrates the server-rendered [`app::App`]. Nothing else lives here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`, not `hydrate_body`: a full page load of a lazy route (logs, account, admin,
    // monitoring, services) must fetch its wasm chunk before hydrating it; `hydrate_body` panics.
    leptos::mount::hydrate_lazy(app::App);
}
