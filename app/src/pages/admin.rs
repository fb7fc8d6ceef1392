//! Administration, for admins only: users (`/admin/users`: create, re-role, disable, reset) and
//! the audit log (`/admin/audit`: who did what, when, from where, with filters, a page at a time).

use leptos::prelude::*;
use okrflow_engine::accounts::{AuditEntry, Role, UserView};
use okrflow_engine::logs::format_timestamp;

use crate::components::table::TableHead;
use crate::components::ErrorNote;

#[server]
pub async fn list_users() -> Result<Vec<UserView>, ServerFnError> {
    use crate::server::*;
    engine()?.accounts().users(&actor()).await.map_err(failed)
}

#[cfg(feature = "ssr")]
fn parse_role(role: &str) -> Result<Role, ServerFnError> {
    Role::parse(role)
        .ok_or_else(|| crate::server::bad_request(format!("role '{role}' is not one of viewer, editor, admin")))
}

#[server]
pub async fn create_user(username: String, password: String, role: String) -> Result<UserView, ServerFnError> {
    use crate::server::*;
    let role = parse_role(&role)?;
    engine()?.accounts().create_user(&actor(), &username, &password, role).await.map_err(failed)
}

#[server]
pub async fn set_user_role(id: i64, role: String) -> Result<UserView, ServerFnError> {
    use crate::server::*;
    let (id, role) = (check_id("id", id)?, parse_role(&role)?);
    engine()?.accounts().set_role(&actor(), id, role).await.map_err(failed)
}

#[server]
pub async fn set_user_disabled(id: i64, disabled: bool) -> Result<UserView, ServerFnError> {
    use crate::server::*;
    let id = check_id("id", id)?;
    engine()?.accounts().set_disabled(&actor(), id, disabled).await.map_err(failed)
}

#[server]
pub async fn reset_user_password(id: i64, password: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    let id = check_id("id", id)?;
    engine()?.accounts().reset_password(&actor(), id, &password).await.map_err(failed)?;
    Ok(())
}

/// The most audit entries one call returns.
pub const AUDIT_PAGE: i64 = 100;

/// One page of the audit log, newest first: at most `limit` entries (1 to [`AUDIT_PAGE`];
/// default [`AUDIT_PAGE`]) older than `before_id` (the last id of the previous page).
#[server]
pub async fn list_audit(
    actor: String,
    action: String,
    outcome: String,
    before_id: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<AuditEntry>, ServerFnError> {
    use crate::server::{check_id, engine, failed, in_range};
    let before_id = before_id.map(|id| check_id("before_id", id)).transpose()?;
    let limit = in_range("limit", limit.unwrap_or(AUDIT_PAGE), 1, AUDIT_PAGE)?;
    let query = okrflow_engine::accounts::AuditQuery {
        actor: Some(actor),
        action: Some(action),
        outcome: Some(outcome),
        before_id,
        limit: limit as usize,
    };
    engine()?.accounts().audit_log(&crate::server::actor(), &query).await.map_err(failed)
}

lazy_page!(UsersRoute, UsersPage);
lazy_page!(AuditRoute, AuditPage);

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let set_disabled = ServerAction::<SetUserDisabled>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let users = Resource::new(
        move || (create.version().get(), set_role.version().get(), set_disabled.version().get()),
        |_| list_users(),
    );
    let last_error = move || {
        [
            set_role.value().get().and_then(|r| r.err()),
            set_disabled.value().get().and_then(|r| r.err()),
            reset.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .next()
    };

    view! {
        <div class="page admin-users">
            <section class="panel" aria-labelledby="new-user-title">
                <h2 id="new-user-title">"New user"</h2>
                <ActionForm action=create attr:class="inline-form" attr:data-testid="new-user-form">
                    <label class="field">
                        <span>"Username"</span>
                        <input name="username" required maxlength="64" autocomplete="off"/>
                    </label>
                    <label class="field">
                        <span>"Password (at least 10 characters)"</span>
                        <input name="password" type="password" required minlength="10" autocomplete="new-password"/>
                    </label>
                    <label class="field">
                        <span>"Role"</span>
                        <select name="role">
                            <option value="viewer">"viewer: reads everything"</option>
                            <option value="editor">"editor: also uploads, runs, logs experiments"</option>
                            <option value="admin">"admin: also users, services, settings"</option>
                        </select>
                    </label>
                    <button type="submit" class="button">"Create user"</button>
                </ActionForm>
                {move || create.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
            </section>
            {move || last_error().map(|e| view! { <ErrorNote error=e/> })}
            <p class="muted small">
                "Resetting a password ends every session of that user and revokes their API tokens; they need new ones."
            </p>
            {move || {
                reset.value().get().and_then(|r| r.ok()).map(|_| view! { <p class="notice" role="status">"Password reset; that user's sessions ended and their API tokens were revoked."</p> })
            }}
            <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                {move || {
                    users
                        .get()
                        .map(|result| match result {
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                            Ok(list) => view! { <UserTable users=list set_role set_disabled reset/> }.into_any(),
                        })
                }}
            </Transition>
        </div>
    }
}

#[component]
fn UserTable(
    users: Vec<UserView>,
    set_role: ServerAction<SetUserRole>,
    set_disabled: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table" data-testid="user-table">
                <TableHead columns=&["User", "Role", "Status", "Created", "Reset password"]/>
                <tbody>
                    {users
                        .into_iter()
                        .map(|u| {
                            let id = u.id;
                            let disabled = u.disabled;
                            let current = u.role;
                            let on_role = move |ev| {
                                set_role.dispatch(SetUserRole { id, role: event_target_value(&ev) });
                            };
                            view! {
                                <tr>
                                    <td>{u.username.clone()}</td>
                                    <td>
                                        <select on:change=on_role aria-label=format!("Role of {}", u.username)>
                                            {Role::ALL
                                                .into_iter()
                                                .map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> })
                                                .collect_view()}
                                        </select>
                                    </td>
                                    <td>
                                        <span class=if disabled { "badge badge-critical" } else { "badge badge-healthy" }>
                                            {if disabled { "disabled" } else { "active" }}
                                        </span>
                                        " "
                                        <button
                                            type="button"
                                            class="button small"
                                            on:click=move |_| {
                                                set_disabled.dispatch(SetUserDisabled { id, disabled: !disabled });
                                            }
                                        >
                                            {if disabled { "Enable" } else { "Disable" }}
                                        </button>
                                    </td>
                                    <td class="nowrap">{format_timestamp(u.created_at_ms)}</td>
                                    <td>
                                        <ActionForm action=reset attr:class="inline-form compact">
                                            <input type="hidden" name="id" value=id.to_string()/>
                                            <input
                                                type="password"
                                                name="password"
                                                required
                                                minlength="10"
                                                autocomplete="new-password"
                                                aria-label=format!("New password for {}", u.username)
                                            />
                                            <button type="submit" class="button small">"Reset"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let outcome = RwSignal::new(String::new());
    // The page shown: the newest (None) or the one older than this id.
    let before = RwSignal::new(None::<i64>);
    let refresh = crate::refresh::use_refresh();
    let entries = Resource::new(
        move || (actor.get(), action.get(), outcome.get(), before.get(), refresh.get()),
        |(actor, action, outcome, before, _)| list_audit(actor, action, outcome, before, Some(AUDIT_PAGE)),
    );
    // A new filter starts again from the newest entries.
    let filter = move |signal: RwSignal<String>, value: String| {
        before.set(None);
        signal.set(value);
    };
    view! {
        <div class="page audit">
            <form class="toolbar" role="search" on:submit=|ev| ev.prevent_default()>
                <label class="field">
                    <span>"Who"</span>
                    <input type="search" placeholder="username" on:input=move |ev| filter(actor, event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Action (prefix)"</span>
                    <input type="search" placeholder="login, user., token." on:input=move |ev| filter(action, event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Outcome"</span>
                    <select on:change=move |ev| filter(outcome, event_target_value(&ev))>
                        <option value="">"Any"</option>
                        <option value="ok">"ok"</option>
                        <option value="failed">"failed"</option>
                        <option value="denied">"denied"</option>
                    </select>
                </label>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
                {move || {
                    entries
                        .get()
                        .map(|result| match result {
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                            Ok(list) if list.is_empty() => view! { <p class="muted">"No entries match."</p> }.into_any(),
                            Ok(list) => {
                                // A full page may have older entries behind it.
                                let older = list.last().map(|e| e.id).filter(|_| list.len() as i64 == AUDIT_PAGE);
                                view! {
                                    <nav class="toolbar" aria-label="Audit pages">
                                        <button
                                            type="button"
                                            class="button small"
                                            disabled=move || before.get().is_none()
                                            on:click=move |_| before.set(None)
                                        >
                                            "Newest"
                                        </button>
                                        <button
                                            type="button"
                                            class="button small"
                                            data-testid="audit-older"
                                            disabled=older.is_none()
                                            on:click=move |_| before.set(older)
                                        >
                                            "Older"
                                        </button>
                                    </nav>
                                    <div class="table-scroll">
                                        <table class="table" data-testid="audit-table">
                                            <TableHead columns=&["Time (UTC)", "Who", "Action", "Target", "From", "Outcome", "Detail"]/>
                                            <tbody>
                                                {list
                                                    .into_iter()
                                                    .map(|e| {
                                                        let badge = match e.outcome.as_str() {
                                                            "ok" => "badge badge-healthy",
                                                            "denied" => "badge badge-degraded",
                                                            _ => "badge badge-critical",
                                                        };
                                                        view! {
                                                            <tr>
                                                                <td class="nowrap mono">{format_timestamp(e.ts_ms)}</td>
                                                                <td>{e.actor}</td>
                                                                <td class="mono">{e.action}</td>
                                                                <td class="wrap">{e.target}</td>
                                                                <td class="mono small">{e.ip}</td>
                                                                <td><span class=badge>{e.outcome}</span></td>
                                                                <td class="small wrap">{e.detail}</td>
                                                            </tr>
                                                        }
                                                    })
                                                    .collect_view()}
                                            </tbody>
                                        </table>
                                    </div>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </div>
    }
}
