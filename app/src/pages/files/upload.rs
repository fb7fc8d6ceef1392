//! Uploading: a drop zone and a picker for several files at once. Each file is its own request
//! to `POST /api/v1/files` (XMLHttpRequest, for its upload progress events), with a progress
//! bar in bytes and percent and a cancel button. The type and size limit are checked here
//! first with the server's own rules, so a refused file is not sent at all; the server checks
//! again, and its message is shown when it refuses.

use leptos::prelude::*;
use okrflow_engine::files::{names::clean_name, FileKind};
use okrflow_engine::units::format_bytes;

use super::FilesContext;

// Most states are only reached through browser events.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq)]
enum UploadState {
    Sending,
    /// Every byte is sent; the server is checking and storing it.
    Checking,
    Done,
    Failed(String),
    Cancelled,
}

#[derive(Clone, Debug, PartialEq)]
struct Item {
    key: u32,
    name: String,
    size: u64,
    sent: u64,
    state: UploadState,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn update(items: RwSignal<Vec<Item>>, key: u32, f: impl FnOnce(&mut Item)) {
    items.update(|all| {
        if let Some(item) = all.iter_mut().find(|i| i.key == key) {
            f(item)
        }
    });
}

/// Why a file is refused before sending, with the server's rules.
fn precheck(name: &str, size: u64, max: Option<u64>) -> Result<(), String> {
    FileKind::from_name(&clean_name(name))?;
    match max {
        Some(max) if size > max => Err(format!(
            "'{name}' is {}, larger than the upload limit of {}; it was not sent",
            format_bytes(size),
            format_bytes(max)
        )),
        _ => Ok(()),
    }
}

#[component]
pub fn Uploader(max_bytes: Signal<Option<u64>>) -> impl IntoView {
    let ctx = expect_context::<FilesContext>();
    let items = RwSignal::new(Vec::<Item>::new());
    let next_key = StoredValue::new(0u32);
    let dragging = RwSignal::new(false);
    let requests = browser::Requests::new();

    let accept = move |files: Vec<web_sys::File>| {
        for file in files {
            let key = next_key.get_value();
            next_key.set_value(key + 1);
            let (name, size) = (file.name(), file.size() as u64);
            let state = match precheck(&name, size, max_bytes.get_untracked()) {
                Ok(()) => UploadState::Sending,
                Err(why) => UploadState::Failed(why),
            };
            let send = state == UploadState::Sending;
            items.update(|all| all.push(Item { key, name, size, sent: 0, state }));
            if send {
                requests.send(key, file, items, ctx);
            }
        }
    };

    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(list) = ev.data_transfer().and_then(|d| d.files()) {
            accept((0..list.length()).filter_map(|i| list.get(i)).collect());
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else {
            return;
        };
        if let Some(list) = input.files() {
            accept((0..list.length()).filter_map(|i| list.get(i)).collect());
        }
        // Choosing the same file again should upload it again.
        input.set_value("");
    };
    let accepted =
        FileKind::ALL.iter().flat_map(|k| k.extensions()).map(|e| format!(".{e}")).collect::<Vec<_>>().join(",");
    let limit_text = move || max_bytes.get().map(|max| format!("Up to {} each.", format_bytes(max)));

    view! {
        <section class="card uploader">
            <div
                class="dropzone"
                class:dragging=move || dragging.get()
                data-testid="dropzone"
                on:dragover=move |ev: leptos::ev::DragEvent| {
                    ev.prevent_default();
                    dragging.set(true);
                }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
            >
                <p>
                    <strong>"Drop files here"</strong>
                    " or "
                    <label class="button">
                        "choose files"
                        <input type="file" multiple accept=accepted class="sr-only" data-testid="file-picker" on:change=on_pick/>
                    </label>
                </p>
                <p class="muted small">
                    "CSV, TSV, Excel (xlsx, xls), JSON, NDJSON, Parquet, text, PDF, ZIP, TAR and gzip. "
                    // Known once the file list has arrived (set by an effect, so the server's
                    // render and the browser's hydration agree: both start without it).
                    {limit_text}
                </p>
            </div>
            <Show when=move || !items.get().is_empty()>
                <ul class="uploads plain" data-testid="uploads">
                    // Keyed by the upload alone: a row (and its Cancel button) stays the same
                    // element while its progress changes.
                    <For each=move || items.get() key=|i| i.key let:item>
                        <UploadRow upload=item.key name=item.name size=item.size items=items on_cancel=move |key| requests.cancel(key)/>
                    </For>
                </ul>
                <button
                    type="button"
                    class="button small secondary"
                    on:click=move |_| items.update(|all| all.retain(|i| matches!(i.state, UploadState::Sending | UploadState::Checking)))
                >
                    "Clear finished"
                </button>
            </Show>
        </section>
    }
}

#[component]
fn UploadRow(
    upload: u32,
    name: String,
    size: u64,
    items: RwSignal<Vec<Item>>,
    on_cancel: impl Fn(u32) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let now = move || items.with(|all| all.iter().find(|i| i.key == upload).map(|i| (i.sent, i.state.clone())));
    let sent = move || now().map_or(0, |(sent, _)| sent);
    let state = move || now().map_or(UploadState::Cancelled, |(_, state)| state);
    let class = move || match state() {
        UploadState::Sending | UploadState::Checking => "pending",
        UploadState::Done => "ok",
        UploadState::Failed(_) => "error",
        UploadState::Cancelled => "muted",
    };
    let status = move || match state() {
        UploadState::Sending => "Uploading".to_string(),
        UploadState::Checking => "Checking and storing…".to_string(),
        UploadState::Done => "Stored; profiling in the background".to_string(),
        UploadState::Failed(why) => why,
        UploadState::Cancelled => "Cancelled; nothing was kept".to_string(),
    };
    let bytes = move || {
        let sent = sent();
        let percent = (sent * 100).checked_div(size).unwrap_or(100).min(100);
        format!("{} of {} ({percent} %)", format_bytes(sent), format_bytes(size))
    };
    view! {
        <li class="upload" data-testid="upload-item" data-state=class>
            <span class="name">{name.clone()}</span>
            <progress
                max=size.max(1)
                value=move || sent().min(size.max(1))
                data-testid="upload-progress"
                aria-label=format!("{name} uploaded")
            ></progress>
            <span class="small nowrap" data-testid="upload-bytes">{bytes}</span>
            <span
                class=move || format!("small upload-status {}", class())
                role=move || if class() == "error" { "alert" } else { "status" }
            >
                {status}
            </span>
            // Once every byte is sent the server finishes storing it: cancelling then would lie.
            <Show when=move || state() == UploadState::Sending>
                <button type="button" class="button small" on:click=move |_| on_cancel(upload)>"Cancel"</button>
            </Show>
        </li>
    }
}

/// The requests in flight, by item key (browser only: an XMLHttpRequest is not `Send`).
mod browser {
    use leptos::prelude::*;

    use super::Item;
    #[cfg(feature = "hydrate")]
    use super::{update, UploadState};
    use crate::pages::files::FilesContext;

    #[derive(Clone, Copy)]
    pub struct Requests {
        #[cfg(feature = "hydrate")]
        open: StoredValue<Vec<(u32, web_sys::XmlHttpRequest)>, LocalStorage>,
    }

    impl Requests {
        pub fn new() -> Requests {
            Requests {
                #[cfg(feature = "hydrate")]
                open: StoredValue::new_local(Vec::new()),
            }
        }
    }

    #[cfg(feature = "hydrate")]
    impl Requests {
        pub fn send(&self, key: u32, file: web_sys::File, items: RwSignal<Vec<Item>>, ctx: FilesContext) {
            use wasm_bindgen::closure::Closure;
            use wasm_bindgen::JsCast;

            let fail = move |why: String| update(items, key, |i| i.state = UploadState::Failed(why));
            let (Ok(xhr), Ok(form)) = (web_sys::XmlHttpRequest::new(), web_sys::FormData::new()) else {
                return fail("this browser cannot upload files".into());
            };
            if form.append_with_blob_and_filename("file", &file, &file.name()).is_err()
                || xhr.open(crate::api::files::UPLOAD.method.as_str(), crate::api::files::UPLOAD.path).is_err()
            {
                return fail("this browser cannot upload files".into());
            }
            let open = self.open;
            let forget = move || open.update_value(|all| all.retain(|(k, _)| *k != key));

            let progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |ev: web_sys::ProgressEvent| {
                let sent = ev.loaded() as u64;
                update(items, key, |i| {
                    i.sent = sent;
                    if sent >= i.size {
                        i.state = UploadState::Checking;
                    }
                });
            });
            if let Ok(upload) = xhr.upload() {
                upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
            }
            let reader = xhr.clone();
            let load = Closure::<dyn FnMut()>::new(move || {
                forget();
                let status = reader.status().unwrap_or(0);
                if status == 201 {
                    update(items, key, |i| {
                        i.sent = i.size;
                        i.state = UploadState::Done;
                    });
                    ctx.changed.update(|n| *n += 1);
                } else {
                    let body = reader.response_text().ok().flatten().unwrap_or_default();
                    let why = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                        .unwrap_or_else(|| format!("the server answered {status}"));
                    fail(why);
                }
            });
            xhr.set_onload(Some(load.as_ref().unchecked_ref()));
            let error = Closure::<dyn FnMut()>::new(move || {
                forget();
                fail("the connection broke off; nothing was kept".into());
            });
            xhr.set_onerror(Some(error.as_ref().unchecked_ref()));
            let abort = Closure::<dyn FnMut()>::new(move || {
                forget();
                update(items, key, |i| i.state = UploadState::Cancelled);
            });
            xhr.set_onabort(Some(abort.as_ref().unchecked_ref()));
            // The handlers live as long as the request; one upload's closures are a few bytes.
            progress.forget();
            load.forget();
            error.forget();
            abort.forget();

            if xhr.send_with_opt_form_data(Some(&form)).is_err() {
                return fail("the upload could not be started".into());
            }
            self.open.update_value(|all| all.push((key, xhr)));
        }

        pub fn cancel(&self, key: u32) {
            let xhr = self.open.with_value(|all| all.iter().find(|(k, _)| *k == key).map(|(_, x)| x.clone()));
            if let Some(xhr) = xhr {
                let _ = xhr.abort();
            }
        }
    }

    #[cfg(not(feature = "hydrate"))]
    impl Requests {
        // Events only fire in the browser; the server renders the same component without them.
        pub fn send(&self, _: u32, _: web_sys::File, _: RwSignal<Vec<Item>>, _: FilesContext) {}
        pub fn cancel(&self, _: u32) {}
    }
}
