//! Files (`/files`): the File Manager. Uploads with progress and cancel (`upload.rs`, through
//! the REST API), the table of files (name, type, size, time, rows × columns, status,
//! downloads) with filter, sort and paging, totals, recent uploads and downloads, and the
//! detail view with the profile and actions (`detail.rs`). While anything is queued or being
//! profiled, the page asks again every two seconds, so status changes appear without a reload.

mod detail;
mod upload;

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::files::{FileDetail, FileKind, FilePage, FileSort, FileStatus, FileView};
use okrflow_engine::logs::format_timestamp;
use okrflow_engine::units::format_bytes;

use crate::components::ErrorNote;
use crate::refresh::use_refresh;

const POLL: Duration = Duration::from_secs(2);

#[server]
pub async fn list_files(
    name: String,
    kind: String,
    sort: String,
    descending: bool,
    page: u32,
    per_page: u32,
) -> Result<FilePage, ServerFnError> {
    use crate::server::*;
    let query = okrflow_engine::files::FileQuery::parse(
        Some(&name),
        Some(&kind),
        Some(&sort),
        Some(descending),
        Some(page),
        Some(per_page),
    )
    .map_err(bad_request)?;
    engine()?.files().list(&actor(), &query).await.map_err(failed)
}

/// Columns of each table the detail view shows at a time.
pub const DETAIL_COLUMNS: u64 = 50;

#[server]
pub async fn get_file(id: String, column_offset: u64) -> Result<FileDetail, ServerFnError> {
    use crate::server::*;
    let window = okrflow_engine::files::ColumnWindow::new(column_offset, DETAIL_COLUMNS).map_err(bad_request)?;
    engine()?.files().detail(&actor(), &id, window).await.map_err(failed)
}

#[server]
pub async fn reprocess_file(id: String) -> Result<FileView, ServerFnError> {
    use crate::server::*;
    engine()?.files().reprocess(&actor(), &id).await.map_err(failed)
}

#[server]
pub async fn convert_file(id: String, to: String, sheet: String) -> Result<FileView, ServerFnError> {
    use crate::server::*;
    let to = okrflow_engine::files::Conversion::parse(&to).map_err(bad_request)?;
    engine()?.files().convert(&actor(), &id, to, Some(sheet)).await.map_err(failed)
}

#[server]
pub async fn delete_file(id: String) -> Result<FileView, ServerFnError> {
    use crate::server::*;
    Ok(engine()?.files().delete(&actor(), &id).await.map_err(failed)?.deleted)
}

/// The download link of a stored file.
pub fn content_url(id: &str) -> String {
    crate::api::files::CONTENT.url(id)
}

/// "12 × 4" when the shape is known.
fn shape(file: &FileView) -> String {
    match (file.rows, file.columns) {
        (Some(r), Some(c)) => format!("{r} × {c}"),
        (Some(r), None) => format!("{r} lines"),
        _ => "—".into(),
    }
}

fn status_badge(status: FileStatus, message: Option<String>) -> impl IntoView {
    let class = match status {
        FileStatus::Queued | FileStatus::Profiling => "badge status-pending",
        FileStatus::Ready => "badge status-ready",
        FileStatus::Failed => "badge status-failed",
    };
    view! { <span class=class title=message data-testid="file-status">{status.as_str()}</span> }
}

/// Which file the detail view shows, and a counter the page bumps to ask for fresh data.
#[derive(Clone, Copy)]
pub(crate) struct FilesContext {
    pub selected: RwSignal<Option<String>>,
    pub changed: RwSignal<u64>,
    /// What the last action did, or why it was refused; shown above the detail view so it
    /// survives the view's refetches (and a deletion that closes it).
    pub notice: RwSignal<Option<Result<String, String>>>,
    /// The detail view's delete confirmation is open.
    pub confirming: RwSignal<bool>,
    /// The Excel sheet chosen for conversions ("" = the first).
    pub sheet: RwSignal<String>,
    /// The first column the detail view shows (wide tables come [`DETAIL_COLUMNS`] at a time).
    pub column_offset: RwSignal<u64>,
}

const PER_PAGE: u32 = 25;

lazy_page!(FilesRoute, FilesPage);

#[component]
pub fn FilesPage() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let sort = RwSignal::new(FileSort::Uploaded);
    let descending = RwSignal::new(true);
    let page = RwSignal::new(1u32);
    let ctx = FilesContext {
        selected: RwSignal::new(None),
        changed: RwSignal::new(0),
        notice: RwSignal::new(None),
        confirming: RwSignal::new(false),
        sheet: RwSignal::new(String::new()),
        column_offset: RwSignal::new(0),
    };
    // Another file chosen: its own confirmation, sheet and notices, not the last one's (closing
    // the view keeps the notice: it says what was deleted).
    Effect::new(move |previous: Option<Option<String>>| {
        let now = ctx.selected.get();
        if previous.is_some_and(|p| p != now) {
            ctx.confirming.set(false);
            ctx.sheet.set(String::new());
            ctx.column_offset.set(0);
            if now.is_some() {
                ctx.notice.set(None);
            }
        }
        now
    });
    provide_context(ctx);
    let refresh = use_refresh();

    let files = Resource::new(
        move || (name.get(), kind.get(), sort.get(), descending.get(), page.get(), ctx.changed.get(), refresh.get()),
        |(name, kind, sort, descending, page, _, _)| {
            list_files(name, kind, sort.as_str().to_string(), descending, page, PER_PAGE)
        },
    );
    let detail = Resource::new(
        move || (ctx.selected.get(), ctx.column_offset.get(), ctx.changed.get(), refresh.get()),
        |(selected, column_offset, _, _)| async move {
            match selected {
                Some(id) => get_file(id, column_offset).await.map(Some),
                None => Ok(None),
            }
        },
    );

    // Ask again while something is queued or being profiled. The effect notes it whenever the
    // data arrives (resources are read in effects or boundaries, never in a timer).
    let pending = RwSignal::new(false);
    // The upload limit travels with the file list; the uploader reads it at drop time.
    let max_upload = RwSignal::new(None::<u64>);
    Effect::new(move |_| {
        let page = files.get().and_then(|r| r.ok());
        if let Some(p) = &page {
            max_upload.set(Some(p.max_upload_bytes));
        }
        let files_pending =
            page.is_some_and(|p| p.files.iter().chain(p.recent_uploads.iter()).any(|f| f.status.is_pending()));
        let detail_pending = detail
            .get()
            .and_then(|r| r.ok())
            .flatten()
            .is_some_and(|d| d.file.status.is_pending() || d.outputs.iter().any(|o| o.status.is_pending()));
        pending.set(files_pending || detail_pending);
    });
    Effect::new(move |_| {
        let tick = move || {
            if pending.get_untracked() {
                ctx.changed.update(|n| *n += 1);
            }
        };
        if let Ok(handle) = set_interval_with_handle(tick, POLL) {
            on_cleanup(move || handle.clear());
        }
    });

    let sort_by = move |column: FileSort| {
        if sort.get_untracked() == column {
            descending.update(|d| *d = !*d);
        } else {
            sort.set(column);
            descending
                .set(matches!(column, FileSort::Uploaded | FileSort::Size | FileSort::Rows | FileSort::Downloads));
        }
        page.set(1);
    };
    let header = move |label: &'static str, column: FileSort| {
        let aria = move || {
            if sort.get() != column {
                "none"
            } else if descending.get() {
                "descending"
            } else {
                "ascending"
            }
        };
        view! {
            <th scope="col" aria-sort=aria>
                <button type="button" class="sort" on:click=move |_| sort_by(column)>{label}</button>
            </th>
        }
    };

    view! {
        <div class="page files">
            <upload::Uploader max_bytes=max_upload.into()/>
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <label class="field grow">
                    <span>"Name"</span>
                    <input
                        type="search"
                        placeholder="part of the file name"
                        data-testid="file-search"
                        prop:value=move || name.get()
                        on:input=move |ev| {
                            name.set(event_target_value(&ev));
                            page.set(1);
                        }
                    />
                </label>
                <label class="field">
                    <span>"Type"</span>
                    <select
                        data-testid="file-kind"
                        on:change=move |ev| {
                            kind.set(event_target_value(&ev));
                            page.set(1);
                        }
                    >
                        <option value="">"All types"</option>
                        {FileKind::ALL
                            .iter()
                            .map(|k| view! { <option value=k.as_str()>{k.description()}</option> })
                            .collect_view()}
                    </select>
                </label>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading files…"</p> }>
                {move || {
                    files
                        .get()
                        .map(|result| match result {
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                            Ok(p) => {
                                let pages = p.matching.div_ceil(PER_PAGE as u64).max(1) as u32;
                                let rows = p.files.clone();
                                view! {
                                    <p class="muted small" data-testid="file-totals">
                                        {format!(
                                            "{} files, {} in all. {} match.",
                                            p.totals.files,
                                            format_bytes(p.totals.bytes),
                                            p.matching,
                                        )}
                                    </p>
                                    <div class="table-scroll">
                                        <table class="table file-table" data-testid="file-table">
                                            <caption class="sr-only">"Stored files"</caption>
                                            <thead>
                                                <tr>
                                                    {header("Name", FileSort::Name)}
                                                    {header("Type", FileSort::Kind)}
                                                    {header("Size", FileSort::Size)}
                                                    {header("Uploaded", FileSort::Uploaded)}
                                                    {header("Rows × columns", FileSort::Rows)}
                                                    <th scope="col">"Status"</th>
                                                    {header("Downloads", FileSort::Downloads)}
                                                </tr>
                                            </thead>
                                            <tbody>
                                                {rows.into_iter().map(|f| file_row(f, ctx)).collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                    {(p.matching == 0).then(|| view! {
                                        <p class="empty-note">"No files yet. Drop CSV, Excel, JSON, Parquet, text, PDF or archives above."</p>
                                    })}
                                    <nav class="pager" aria-label="Pages">
                                        <button
                                            type="button"
                                            class="button small secondary"
                                            disabled=move || { page.get() <= 1 }
                                            on:click=move |_| page.update(|n| *n = n.saturating_sub(1).max(1))
                                        >
                                            "Previous"
                                        </button>
                                        <span>{move || format!("Page {} of {pages}", page.get())}</span>
                                        <button
                                            type="button"
                                            class="button small secondary"
                                            disabled=move || { page.get() >= pages }
                                            on:click=move |_| page.update(|n| *n += 1)
                                        >
                                            "Next"
                                        </button>
                                    </nav>
                                    <Activity page=p/>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
            {move || {
                ctx.notice
                    .get()
                    .map(|m| match m {
                        Ok(text) => view! { <p class="notice" role="status">{text}</p> }.into_any(),
                        Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
                    })
            }}
            <detail::DetailPanel detail=detail/>
        </div>
    }
}

fn file_row(f: FileView, ctx: FilesContext) -> impl IntoView {
    let id = f.id.clone();
    let selected = {
        let id = id.clone();
        move || ctx.selected.get().as_deref() == Some(id.as_str())
    };
    let origin = match (&f.source, &f.duplicate_of) {
        (Some(source), _) => Some(format!("from {}", source.name)),
        (None, Some(dup)) => Some(format!("duplicate of {}", dup.name)),
        _ => None,
    };
    view! {
        <tr class:selected=selected data-testid="file-row" data-file-id=f.id.clone()>
            <td>
                <button
                    type="button"
                    class="link"
                    on:click=move |_| {
                        ctx.notice.set(None);
                        ctx.selected.set(Some(id.clone()));
                    }
                >
                    {f.name.clone()}
                </button>
                {origin.map(|o| view! { <span class="muted small block">{o}</span> })}
            </td>
            <td>{f.kind.description()}</td>
            <td class="nowrap num">{format_bytes(f.size_bytes)}</td>
            <td class="nowrap mono small">{format_timestamp(f.uploaded_at_ms)}</td>
            <td class="nowrap num">{shape(&f)}</td>
            <td>{status_badge(f.status, f.status_message.clone())}</td>
            <td class="num">{f.downloads}</td>
        </tr>
    }
}

#[component]
fn Activity(page: FilePage) -> impl IntoView {
    let ctx = expect_context::<FilesContext>();
    view! {
        <div class="grid two activity">
            <section class="card">
                <h2>"Recent uploads"</h2>
                {if page.recent_uploads.is_empty() {
                    view! { <p class="muted">"None yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain">
                            {page
                                .recent_uploads
                                .into_iter()
                                .map(|f| {
                                    let id = f.id.clone();
                                    view! {
                                        <li>
                                            <button type="button" class="link" on:click=move |_| ctx.selected.set(Some(id.clone()))>
                                                {f.name.clone()}
                                            </button>
                                            <span class="muted small">
                                                {format!(" {} by {}, {}", format_bytes(f.size_bytes), f.uploaded_by, format_timestamp(f.uploaded_at_ms))}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
            <section class="card">
                <h2>"Recent downloads"</h2>
                {if page.recent_downloads.is_empty() {
                    view! { <p class="muted">"None yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain" data-testid="recent-downloads">
                            {page
                                .recent_downloads
                                .into_iter()
                                .map(|d| {
                                    view! {
                                        <li>
                                            {d.file_name.clone()}
                                            <span class="muted small">{format!(" by {}, {}", d.by, format_timestamp(d.at_ms))}</span>
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                        .into_any()
                }}
            </section>
        </div>
    }
}
