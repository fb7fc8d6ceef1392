//! The detail view of one file: what is known about it, its profile (column statistics and
//! preview per table or sheet; archive entries; PDF pages and title; text lines, words and
//! encoding), its outputs and downloads, and the actions: download, reprocess, convert,
//! delete (after confirmation).

use leptos::prelude::*;
use okrflow_engine::files::{ArchiveProfile, ColumnProfile, Conversion, FileDetail, FileStatus, Profile, TableProfile};
use okrflow_engine::logs::format_timestamp;
use okrflow_engine::units::format_bytes;

use super::{content_url, convert_file, delete_file, reprocess_file, shape, status_badge, FilesContext};
use crate::components::{error_text, ErrorNote};

#[component]
pub fn DetailPanel(detail: Resource<Result<Option<FileDetail>, ServerFnError>>) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || {
                detail
                    .get()
                    .map(|result| match result {
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        Ok(None) => view! { <p class="muted">"Choose a file to see its profile."</p> }.into_any(),
                        Ok(Some(d)) => view! { <Detail detail=d/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[component]
fn Detail(detail: FileDetail) -> impl IntoView {
    let ctx = expect_context::<FilesContext>();
    let file = detail.file.clone();
    let id = StoredValue::new(file.id.clone());
    // What must survive this view being rebuilt (each refetch does) lives in the page's context.
    let (message, confirming) = (ctx.notice, ctx.confirming);

    let done = move |result: Result<String, ServerFnError>| {
        message.set(Some(result.map_err(|e| error_text(&e))));
        ctx.changed.update(|n| *n += 1);
    };
    let reprocess = Action::new(move |id: &String| {
        let id = id.clone();
        async move { done(reprocess_file(id).await.map(|f| format!("'{}' is queued for profiling again.", f.name))) }
    });
    let convert = Action::new(move |(id, to, sheet): &(String, Conversion, String)| {
        let (id, to, sheet) = (id.clone(), *to, sheet.clone());
        async move { done(convert_file(id, to.as_str().to_string(), sheet).await.map(|f| format!("Made '{}'.", f.name))) }
    });
    let delete = Action::new(move |id: &String| {
        let id = id.clone();
        async move {
            match delete_file(id).await {
                Ok(f) => {
                    // The detail view closes with the file; the page keeps the notice.
                    ctx.notice.set(Some(Ok(format!("Deleted '{}'.", f.name))));
                    ctx.selected.set(None);
                    ctx.changed.update(|n| *n += 1);
                }
                Err(e) => message.set(Some(Err(error_text(&e)))),
            }
        }
    });
    let busy = move || reprocess.pending().get() || convert.pending().get() || delete.pending().get();

    let sheets: Vec<String> = match &detail.profile {
        Some(Profile::Tables(tables)) => tables.iter().filter_map(|t| t.sheet.clone()).collect(),
        _ => vec![],
    };
    let first_sheet = sheets.first().cloned().unwrap_or_default();
    let sheet = move || Some(ctx.sheet.get()).filter(|s| !s.is_empty()).unwrap_or_else(|| first_sheet.clone());
    let sheet = Signal::derive(sheet);
    let tabular = file.kind.is_tabular();

    view! {
        <section class="card file-detail" data-testid="file-detail" aria-label=format!("File {}", file.name)>
            <header class="detail-head">
                <h2>{file.name.clone()}</h2>
                {status_badge(file.status, file.status_message.clone())}
            </header>
            <dl class="facts">
                <dt>"Type"</dt>
                <dd>{format!("{} ({})", file.kind.description(), file.kind.mime())}</dd>
                <dt>"Size"</dt>
                <dd>{format!("{} ({} bytes)", format_bytes(file.size_bytes), file.size_bytes)}</dd>
                <dt>"Uploaded"</dt>
                <dd>{format!("{} by {}", format_timestamp(file.uploaded_at_ms), file.uploaded_by)}</dd>
                <dt>"SHA-256"</dt>
                <dd class="mono small break">{file.sha256.clone()}</dd>
                <dt>"Rows × columns"</dt>
                <dd data-testid="file-shape">{shape(&file)}</dd>
                <dt>"Downloads"</dt>
                <dd>
                    {match (&file.last_download_ms, &file.last_download_by) {
                        (Some(at), Some(by)) => format!("{}, last {} by {by}", file.downloads, format_timestamp(*at)),
                        _ => file.downloads.to_string(),
                    }}
                </dd>
                {file.duplicate_of.clone().map(|d| view! {
                    <dt>"Duplicate"</dt>
                    <dd data-testid="duplicate-of">
                        "Same content as "
                        <button type="button" class="link" on:click=move |_| ctx.selected.set(Some(d.id.clone()))>{d.name.clone()}</button>
                    </dd>
                })}
                {file.source.clone().map(|s| view! {
                    <dt>"Made from"</dt>
                    <dd>
                        {if s.id.is_empty() {
                            view! { <span>{format!("{} (deleted)", s.name)}</span> }.into_any()
                        } else {
                            view! { <button type="button" class="link" on:click=move |_| ctx.selected.set(Some(s.id.clone()))>{s.name.clone()}</button> }.into_any()
                        }}
                    </dd>
                })}
                {detail.profiled_ms.map(|ms| view! { <dt>"Profiled in"</dt><dd>{format!("{:.2} s", ms as f64 / 1000.0)}</dd> })}
            </dl>
            {(file.status == FileStatus::Failed).then(|| view! {
                <p class="error" role="alert" data-testid="profile-error">
                    {format!("Profiling failed: {}", file.status_message.clone().unwrap_or_default())}
                </p>
            })}
            <div class="actions">
                <a class="button small" href=content_url(&file.id) download=file.name.clone() rel="external" data-testid="download">
                    "Download"
                </a>
                <button type="button" class="button small" disabled=busy on:click=move |_| { reprocess.dispatch(id.get_value()); }>
                    "Reprocess"
                </button>
                {tabular.then(|| view! {
                    {(!sheets.is_empty()).then(|| view! {
                        <label class="field inline">
                            <span>"Sheet"</span>
                            <select on:change=move |ev| ctx.sheet.set(event_target_value(&ev))>
                                {sheets
                                    .iter()
                                    .map(|s| {
                                        let name = s.clone();
                                        // Per option: a select's value set before its options exist is lost.
                                        view! { <option value=s.clone() selected=move || sheet.get() == name>{s.clone()}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                    })}
                    {[Conversion::Parquet, Conversion::CleanCsv]
                        .into_iter()
                        .map(|to| view! {
                            <button
                                type="button"
                                class="button small"
                                disabled=busy
                                on:click=move |_| { convert.dispatch((id.get_value(), to, sheet.get_untracked())); }
                            >
                                {format!("Convert to {}", to.label())}
                            </button>
                        })
                        .collect_view()}
                })}
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="button small danger" on:click=move |_| confirming.set(true)>"Delete"</button>
                    }
                >
                    <span class="confirm" role="group" aria-label="Confirm deletion">
                        "Delete this file for good? "
                        <button type="button" class="button small danger" disabled=busy on:click=move |_| { delete.dispatch(id.get_value()); }>
                            "Yes, delete"
                        </button>
                        <button type="button" class="button small secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                    </span>
                </Show>
            </div>

            {detail.profile.clone().map(|p| view! { <ProfileView profile=p/> })}
            {(!detail.outputs.is_empty()).then(|| view! {
                <h3>"Outputs"</h3>
                <ul class="plain" data-testid="outputs">
                    {detail.outputs.iter().map(|o| {
                        let oid = o.id.clone();
                        view! {
                            <li>
                                <button type="button" class="link" on:click=move |_| ctx.selected.set(Some(oid.clone()))>{o.name.clone()}</button>
                                {format!(" {} · {} · ", o.conversion.map(|c| c.label()).unwrap_or(""), format_bytes(o.size_bytes))}
                                {status_badge(o.status, o.status_message.clone())}
                                " "
                                <a href=content_url(&o.id) download=o.name.clone() rel="external">"Download"</a>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            {(!detail.downloads.is_empty()).then(|| view! {
                <h3>"Downloads"</h3>
                <ul class="plain">
                    {detail.downloads.iter().map(|d| view! {
                        <li>{format!("{} by {}", format_timestamp(d.at_ms), d.by)}</li>
                    }).collect_view()}
                </ul>
            })}
        </section>
    }
}

#[component]
fn ProfileView(profile: Profile) -> impl IntoView {
    match profile {
        Profile::Tables(tables) => tables.into_iter().map(|t| view! { <TableView table=t/> }).collect_view().into_any(),
        Profile::Archive(a) => view! { <ArchiveView archive=a/> }.into_any(),
        Profile::Pdf { pages, title } => view! {
            <dl class="facts" data-testid="profile-pdf">
                <dt>"Pages"</dt><dd>{pages}</dd>
                <dt>"Title"</dt><dd>{title.unwrap_or_else(|| "(none)".into())}</dd>
            </dl>
        }
        .into_any(),
        Profile::Text { lines, words, encoding } => view! {
            <dl class="facts" data-testid="profile-text">
                <dt>"Lines"</dt><dd>{lines}</dd>
                <dt>"Words"</dt><dd>{words}</dd>
                <dt>"Encoding"</dt><dd>{encoding}</dd>
            </dl>
        }
        .into_any(),
    }
}

#[component]
fn TableView(table: TableProfile) -> impl IntoView {
    let total = table.width();
    let title = match &table.sheet {
        Some(s) => format!("Sheet '{s}': {} rows × {total} columns", table.rows),
        None => format!("{} rows × {total} columns", table.rows),
    };
    // Wide tables come a window of columns at a time: say which, and move the window.
    let ctx = expect_context::<FilesContext>();
    let first = table.column_offset;
    let shown = table.columns.len() as u64;
    let profiled = table.profiled_columns.max(shown);
    let pager = (profiled > shown).then(|| {
        let step = super::DETAIL_COLUMNS;
        let label = format!("Columns {}–{} of {profiled} profiled", first + 1, first + shown);
        let at_start = first == 0;
        let at_end = first + shown >= profiled;
        view! {
            <nav class="pager" aria-label="Columns" data-testid="column-pager">
                <button type="button" class="button small secondary" disabled=at_start
                    on:click=move |_| ctx.column_offset.set(first.saturating_sub(step))>"Previous columns"</button>
                <span class="muted">{label}</span>
                <button type="button" class="button small secondary" disabled=at_end
                    on:click=move |_| ctx.column_offset.set(first + step)>"Next columns"</button>
            </nav>
        }
    });
    let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    view! {
        <section class="profile-table" data-testid="profile-table">
            <h3>{title}</h3>
            {table.warnings.iter().map(|w| view! { <p class="warning">{w.clone()}</p> }).collect_view()}
            {pager}
            <div class="table-scroll">
                <table class="table compact" data-testid="column-stats">
                    <caption class="sr-only">"Column statistics"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Column"</th>
                            <th scope="col">"Type"</th>
                            <th scope="col">"Nulls"</th>
                            <th scope="col">"Distinct"</th>
                            <th scope="col">"Min"</th>
                            <th scope="col">"Max"</th>
                            <th scope="col">"Mean"</th>
                            <th scope="col">"Std"</th>
                            <th scope="col">"Top values"</th>
                        </tr>
                    </thead>
                    <tbody>{table.columns.into_iter().map(column_row).collect_view()}</tbody>
                </table>
            </div>
            {(!table.preview.is_empty()).then(|| view! {
                <h4>{format!("First {} rows", table.preview.len())}</h4>
                <div class="table-scroll">
                    <table class="table compact preview" data-testid="preview">
                        <caption class="sr-only">"Preview"</caption>
                        <thead><tr>{names.iter().map(|n| view! { <th scope="col">{n.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {table.preview.into_iter().map(|row| view! {
                                <tr>
                                    {row.into_iter().map(|cell| match cell {
                                        Some(v) => view! { <td>{v}</td> }.into_any(),
                                        None => view! { <td class="null">"null"</td> }.into_any(),
                                    }).collect_view()}
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
        </section>
    }
}

fn column_row(c: ColumnProfile) -> impl IntoView {
    let n = c.numbers.clone();
    let top = c.top.iter().map(|(v, k)| format!("{v} ({k})")).collect::<Vec<_>>().join(", ");
    view! {
        <tr>
            <th scope="row">{c.name.clone()}</th>
            <td class="mono small">{c.dtype.clone()}</td>
            <td class="num">
                {c.nulls}
                {n.as_ref().filter(|n| n.non_finite > 0).map(|n| view! { <span class="muted small block">{format!("+{} NaN/∞", n.non_finite)}</span> })}
            </td>
            <td class="num">{c.distinct}</td>
            <td class="num">{n.as_ref().map(|n| number(n.min))}</td>
            <td class="num">{n.as_ref().map(|n| number(n.max))}</td>
            <td class="num">{n.as_ref().map(|n| number(n.mean))}</td>
            <td class="num">{n.as_ref().and_then(|n| n.std).map(number)}</td>
            <td class="small">{top}</td>
        </tr>
    }
}

#[component]
fn ArchiveView(archive: ArchiveProfile) -> impl IntoView {
    view! {
        <section data-testid="profile-archive">
            <h3>{format!("{} entries, {} declared", archive.total_entries, format_bytes(archive.total_size))}</h3>
            {archive.notes.iter().map(|n| view! { <p class="warning">{n.clone()}</p> }).collect_view()}
            <div class="table-scroll">
                <table class="table compact">
                    <caption class="sr-only">"Archive entries"</caption>
                    <thead><tr><th scope="col">"Path"</th><th scope="col">"Size"</th><th scope="col">"Compressed"</th></tr></thead>
                    <tbody>
                        {archive.entries.into_iter().map(|e| view! {
                            <tr>
                                <td class="mono small">{if e.is_dir { format!("{}/", e.path.trim_end_matches('/')) } else { e.path.clone() }}</td>
                                <td class="num">{format_bytes(e.size)}</td>
                                <td class="num">{e.compressed.map(format_bytes)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
