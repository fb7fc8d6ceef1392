//! Logs (`/logs`): recent log entries newest first, from the in-memory ring (everything since
//! start) or from the database (warnings and errors, kept across restarts), with a level filter
//! and text search. While the tab is visible, new entries are fetched every two seconds and
//! appear at the top without a reload.

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::logs::{format_timestamp, LogEntry, LogLevel};
use serde::{Deserialize, Serialize};

use crate::components::table::TableHead;
use crate::components::ErrorNote;
use crate::refresh::{tab_is_hidden, use_refresh};

/// Where entries come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogSource {
    /// The in-memory ring: every level, since this process started.
    Memory,
    /// The database: warnings and errors, across restarts.
    Stored,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// The newest id at the source, so the next poll asks only for what came after it.
    pub latest_id: u64,
}

/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 200;
/// How many rows the page keeps at most.
const MAX_ROWS: usize = 500;
const POLL: Duration = Duration::from_secs(2);

#[server]
pub async fn list_logs(
    source: LogSource,
    min_level: Option<LogLevel>,
    text: String,
    after_id: Option<u64>,
) -> Result<LogPage, ServerFnError> {
    use okrflow_engine::logs::LogQuery;

    let chars = text.chars().count();
    if chars > MAX_SEARCH_CHARS {
        return Err(crate::server::bad_request(format!(
            "search text is {chars} characters long; at most {MAX_SEARCH_CHARS} are allowed"
        )));
    }
    // Stored ids are SQLite's signed 64-bit integers: a larger one would wrap to a negative.
    let after_id = after_id.map(|id| crate::server::in_range("after_id", id, 0, i64::MAX as u64)).transpose()?;
    let engine = crate::server::engine()?;
    let query = LogQuery { min_level, text: Some(text), after_id, limit: MAX_ROWS };
    match source {
        LogSource::Memory => {
            let latest_id = engine.logs().latest_id();
            Ok(LogPage { entries: engine.logs().query(&query), latest_id })
        }
        LogSource::Stored => {
            let failed = |e: String| ServerFnError::new(format!("reading stored logs: {e}"));
            let latest_id = engine.latest_stored_log_id().await.map_err(|e| failed(e.to_string()))?;
            let entries = engine.stored_logs(&query).await.map_err(|e| failed(e.to_string()))?;
            Ok(LogPage { entries, latest_id })
        }
    }
}

lazy_page!(LogsRoute, LogsPage);

#[component]
pub fn LogsPage() -> impl IntoView {
    let source = RwSignal::new(LogSource::Memory);
    let level = RwSignal::new(None::<LogLevel>);
    let text = RwSignal::new(String::new());
    let live = RwSignal::new(true);
    let refresh = use_refresh();

    let first_page = Resource::new(
        move || (source.get(), level.get(), text.get(), refresh.get()),
        |(source, level, text, _)| list_logs(source, level, text, None),
    );
    // Entries that arrived after the first page, newest first, and the id to poll after.
    let newer = RwSignal::new(Vec::<LogEntry>::new());
    let cursor = RwSignal::new(None::<u64>);
    Effect::new(move |_| {
        if let Some(Ok(page)) = first_page.get() {
            newer.set(Vec::new());
            cursor.set(Some(page.latest_id));
        }
    });

    Effect::new(move |_| {
        let poll = move || {
            let Some(after) = cursor.get_untracked() else {
                return;
            };
            if !live.get_untracked() || tab_is_hidden() {
                return;
            }
            let (src, lvl, txt) = (source.get_untracked(), level.get_untracked(), text.get_untracked());
            leptos::task::spawn_local(async move {
                let Ok(page) = list_logs(src, lvl, txt, Some(after)).await else {
                    return;
                };
                // Filters changed or another poll won while this one was out: drop the answer.
                if cursor.get_untracked() != Some(after) {
                    return;
                }
                if !page.entries.is_empty() {
                    newer.update(|rows| {
                        let mut fresh = page.entries;
                        fresh.append(rows);
                        fresh.truncate(MAX_ROWS);
                        *rows = fresh;
                    });
                }
                cursor.set(Some(page.latest_id));
            });
        };
        if let Ok(handle) = set_interval_with_handle(poll, POLL) {
            on_cleanup(move || handle.clear());
        }
    });

    let on_level = move |ev| level.set(LogLevel::parse(&event_target_value(&ev)));
    let on_text = move |ev| text.set(event_target_value(&ev));

    view! {
        <div class="page logs">
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <div class="segmented" role="group" aria-label="Source">
                    <button
                        type="button"
                        aria-pressed=move || (source.get() == LogSource::Memory).to_string()
                        on:click=move |_| source.set(LogSource::Memory)
                    >
                        "Live (memory)"
                    </button>
                    <button
                        type="button"
                        aria-pressed=move || (source.get() == LogSource::Stored).to_string()
                        on:click=move |_| source.set(LogSource::Stored)
                    >
                        "Stored warnings and errors"
                    </button>
                </div>
                <label class="field">
                    <span>"Level"</span>
                    <select on:change=on_level data-testid="log-level">
                        <option value="">"All levels"</option>
                        <option value="debug">"Debug and above"</option>
                        <option value="info">"Info and above"</option>
                        <option value="warn">"Warnings and errors"</option>
                        <option value="error">"Errors only"</option>
                    </select>
                </label>
                <label class="field grow">
                    <span>"Search"</span>
                    <input
                        type="search"
                        placeholder="message, module or field"
                        maxlength=MAX_SEARCH_CHARS
                        on:input=on_text
                        prop:value=move || text.get()
                        data-testid="log-search"
                    />
                </label>
                <label class="check">
                    <input type="checkbox" prop:checked=move || live.get() on:change=move |_| live.update(|l| *l = !*l)/>
                    " Live updates"
                </label>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading logs…"</p> }>
                {move || {
                    first_page
                        .get()
                        .map(|result| match result {
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                            Ok(page) => view! { <LogTable first=page.entries newer=newer/> }.into_any(),
                        })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn LogTable(first: Vec<LogEntry>, newer: RwSignal<Vec<LogEntry>>) -> impl IntoView {
    // Polled entries can briefly overlap a freshly fetched first page (the poll that was out
    // when the filters changed); keep only those newer than the page's top so ids stay unique.
    let top = first.first().map(|e| e.id).unwrap_or(0);
    let first = StoredValue::new(first);
    let rows = move || {
        let mut all: Vec<LogEntry> = newer.get().into_iter().filter(|e| e.id > top).collect();
        first.with_value(|f| all.extend(f.iter().cloned()));
        all.truncate(MAX_ROWS);
        all
    };
    view! {
        <p class="muted small" aria-live="polite">
            {move || {
                let n = rows().len();
                if n == 0 { "No entries match.".to_string() } else { format!("{n} entries, newest first") }
            }}
        </p>
        <div class="table-scroll">
            <table class="table log-table" data-testid="log-table">
                <caption class="sr-only">"Log entries, newest first"</caption>
                <TableHead columns=&["Time (UTC)", "Level", "Module", "Message"]/>
                <tbody>
                    <For each=rows key=|e| e.id let:entry>
                        <tr class=format!("level-{}", entry.level.as_str().to_lowercase())>
                            <td class="nowrap mono">{format_timestamp(entry.ts_ms)}</td>
                            <td><span class=format!("badge level-badge-{}", entry.level.as_str().to_lowercase())>{entry.level.as_str()}</span></td>
                            <td class="mono small">{entry.target.clone()}</td>
                            <td>
                                {entry.message.clone()}
                                {(!entry.fields.is_empty()).then(|| view! { <span class="fields mono small">{entry.fields.clone()}</span> })}
                            </td>
                        </tr>
                    </For>
                </tbody>
            </table>
        </div>
    }
}
