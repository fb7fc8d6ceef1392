//! Account (`/account`): change your password (which ends your sessions and revokes your API
//! tokens), manage your API tokens (shown once, stored hashed), and log out everywhere.

use leptos::prelude::*;
use okrflow_engine::accounts::TokenView;
use okrflow_engine::logs::format_timestamp;

use crate::components::table::TableHead;
use crate::components::ErrorNote;

#[server]
pub async fn change_password(current: String, new_password: String, confirm: String) -> Result<(), ServerFnError> {
    use crate::server::*;
    engine()?.accounts().change_password(&actor(), &current, &new_password, &confirm).await.map_err(failed)?;
    // Changing the password ended every session, this one included, and revoked the tokens.
    clear_session_cookie();
    leptos_axum::redirect("/login?notice=Password%20changed.%20Sign%20in%20with%20the%20new%20one.");
    Ok(())
}

#[server]
pub async fn logout_everywhere() -> Result<(), ServerFnError> {
    use crate::server::*;
    engine()?.accounts().logout_everywhere(&actor()).await.map_err(failed)?;
    clear_session_cookie();
    leptos_axum::redirect("/login?notice=Logged%20out%20everywhere.");
    Ok(())
}

#[server]
pub async fn list_tokens() -> Result<Vec<TokenView>, ServerFnError> {
    use crate::server::*;
    engine()?.accounts().tokens(&actor()).await.map_err(failed)
}

/// Creates a token and returns its secret: the only time anyone sees it. `expires_in_days` is
/// the form's text: empty for a token that never expires, else 1 to 3650.
#[server]
pub async fn create_token(name: String, expires_in_days: String) -> Result<String, ServerFnError> {
    use crate::server::*;
    use okrflow_engine::accounts::MAX_TOKEN_DAYS;
    let days = match expires_in_days.trim() {
        "" => None,
        text => Some(text.parse::<u32>().map_err(|_| {
            bad_request(format!("expiry '{text}' must be 1 to {MAX_TOKEN_DAYS} days, or empty for none"))
        })?),
    };
    let (secret, _) = engine()?.accounts().create_token(&actor(), &name, days).await.map_err(failed)?;
    Ok(secret)
}

#[server]
pub async fn revoke_token(id: i64) -> Result<(), ServerFnError> {
    use crate::server::*;
    let id = check_id("id", id)?;
    engine()?.accounts().revoke_token(&actor(), id).await.map_err(failed)?;
    Ok(())
}

lazy_page!(AccountRoute, AccountPage);

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<LogoutEverywhere>::new();
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(move || (create.version().get(), revoke.version().get()), |_| list_tokens());

    view! {
        <div class="page account">
            <section class="panel" aria-labelledby="tokens-title">
                <h2 id="tokens-title">"API tokens"</h2>
                <p class="muted">
                    "For scripts and the MLflow client: send "
                    <code>"Authorization: Bearer <token>"</code>
                    " (MLFLOW_TRACKING_TOKEN), or your username with the token as password."
                </p>
                <ActionForm action=create attr:class="inline-form" attr:data-testid="token-form">
                    <label class="field">
                        <span>"Name"</span>
                        <input name="name" required maxlength="64" placeholder="laptop, ci, …"/>
                    </label>
                    <label class="field">
                        <span>"Expires in days (empty: never)"</span>
                        <input name="expires_in_days" type="number" min="1" max="3650"/>
                    </label>
                    <button type="submit" class="button">"Create token"</button>
                </ActionForm>
                {move || {
                    create
                        .value()
                        .get()
                        .map(|result| match result {
                            Ok(secret) => {
                                view! {
                                    <div class="notice" role="status" data-testid="new-token">
                                        <p>"Copy this token now; it will not be shown again:"</p>
                                        <code class="secret">{secret}</code>
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        })
                }}
                <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                    {move || {
                        tokens
                            .get()
                            .map(|result| match result {
                                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                                Ok(list) if list.is_empty() => view! { <p class="muted">"No tokens yet."</p> }.into_any(),
                                Ok(list) => view! { <TokenTable tokens=list revoke=revoke/> }.into_any(),
                            })
                    }}
                </Transition>
            </section>

            <section class="panel" aria-labelledby="password-title">
                <h2 id="password-title">"Change password"</h2>
                <p class="muted" data-testid="password-note">
                    "Changing it ends every session of yours, this one included, and revokes all your API tokens: scripts using them need a new token."
                </p>
                <ActionForm action=change attr:class="stack narrow">
                    <label class="field">
                        <span>"Current password"</span>
                        <input type="password" name="current" autocomplete="current-password" required/>
                    </label>
                    <label class="field">
                        <span>"New password (at least 10 characters)"</span>
                        <input type="password" name="new_password" autocomplete="new-password" required minlength="10"/>
                    </label>
                    <label class="field">
                        <span>"New password again"</span>
                        <input type="password" name="confirm" autocomplete="new-password" required minlength="10"/>
                    </label>
                    <button type="submit" class="button">"Change password"</button>
                </ActionForm>
                {move || change.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNote error=e/> })}
            </section>

            <section class="panel" aria-labelledby="sessions-title">
                <h2 id="sessions-title">"Sessions"</h2>
                <p class="muted">"Ends every session of yours, on every device, this one included."</p>
                <ActionForm action=everywhere>
                    <button type="submit" class="button danger">"Log out everywhere"</button>
                </ActionForm>
            </section>
        </div>
    }
}

fn when(ms: Option<i64>, none: &'static str) -> String {
    ms.map(format_timestamp).unwrap_or_else(|| none.to_string())
}

#[component]
fn TokenTable(tokens: Vec<TokenView>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="table" data-testid="token-table">
                <TableHead columns=&["Name", "Token", "Created", "Expires", "Last used", "Status"]/>
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|t| {
                            let id = t.id;
                            view! {
                                <tr>
                                    <td>{t.name.clone()}</td>
                                    <td class="mono">{format!("{}…", t.prefix)}</td>
                                    <td class="nowrap">{format_timestamp(t.created_at_ms)}</td>
                                    <td class="nowrap">{when(t.expires_at_ms, "never")}</td>
                                    <td class="nowrap">{when(t.last_used_ms, "not yet")}</td>
                                    <td>
                                        {if t.revoked {
                                            view! { <span class="badge badge-critical">"revoked"</span> }.into_any()
                                        } else {
                                            view! {
                                                <button
                                                    type="button"
                                                    class="button small danger"
                                                    on:click=move |_| {
                                                        revoke.dispatch(RevokeToken { id });
                                                    }
                                                >
                                                    "Revoke"
                                                </button>
                                            }
                                                .into_any()
                                        }}
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
