//! Login (`/login`), logout, and who is logged in. Logging in creates a server-side session
//! behind an HttpOnly cookie; failures are rate limited per account and per address, and every
//! attempt is audited.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use okrflow_engine::accounts::Role;
use serde::{Deserialize, Serialize};

use crate::components::error_text;

/// The logged-in user as the layout shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub username: String,
    pub role: Role,
}

#[server]
pub async fn get_session() -> Result<Option<SessionInfo>, ServerFnError> {
    Ok(crate::server::principal().map(|p| SessionInfo { username: p.username, role: p.role }))
}

/// Where to go after logging in: a plain local path, or the overview. Refused: anything not
/// starting with a single `/`, any byte outside visible ASCII (browsers drop tabs and newlines,
/// so `/\t/evil.com` would become `//evil.com`; a newline cannot go into a header at all), and
/// `//` or `\` anywhere, also once percent-decoded (`/%2F/evil.com`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_plain_local_path(n) && n != "/login" && !n.starts_with("/login?") => n.to_string(),
        _ => "/".to_string(),
    }
}

fn is_plain_local_path(next: &str) -> bool {
    if !next.starts_with('/') || !next.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    // Decoded until nothing changes (a double encoding hides a single one).
    let mut text = next.as_bytes().to_vec();
    for _ in 0..4 {
        if text.windows(2).any(|w| w == b"//") || text.iter().any(|b| *b == b'\\' || b.is_ascii_control()) {
            return false;
        }
        let decoded = percent_decode(&text);
        if decoded == text {
            return true;
        }
        text = decoded;
    }
    false
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The login server function's route, which the access layer checks for CSRF even though the
/// caller has no session yet (login CSRF).
pub fn login_path() -> &'static str {
    <Login as leptos::server_fn::ServerFn>::PATH
}

#[server]
pub async fn login(username: String, password: String, next: Option<String>) -> Result<(), ServerFnError> {
    use crate::server::*;
    let agent = header(http::header::USER_AGENT).unwrap_or_default();
    let done = engine()?.accounts().login(&actor(), &username, &password, &agent).await.map_err(failed)?;
    let session = done.session;
    set_session_cookie(&session.cookie, (session.expires_at_ms - now_ms()) / 1000 + sessions_max_age_slack());
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

/// The cookie outlives the idle expiry so that a renewed session keeps working; the server's
/// record decides validity.
#[cfg(feature = "ssr")]
fn sessions_max_age_slack() -> i64 {
    okrflow_engine::accounts::sessions::MAX_AGE.as_secs() as i64
}

#[server]
pub async fn logout() -> Result<(), ServerFnError> {
    use crate::server::*;
    engine()?.accounts().logout(&actor(), session_cookie().as_deref()).await.map_err(failed)?;
    clear_session_cookie();
    leptos_axum::redirect("/login");
    Ok(())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let notice = move || query.read().get("notice");
    view! {
        <div class="login-page">
            <section class="login-card" aria-labelledby="login-title">
                <h2 id="login-title">"Sign in to okrflow"</h2>
                {move || notice().map(|n| view! { <p class="notice" role="status">{n}</p> })}
                <ActionForm action=login attr:class="stack" attr:data-testid="login-form">
                    <input type="hidden" name="next" prop:value=next/>
                    <label class="field">
                        <span>"Username"</span>
                        <input name="username" autocomplete="username" required maxlength="64" autofocus/>
                    </label>
                    <label class="field">
                        <span>"Password"</span>
                        <input type="password" name="password" autocomplete="current-password" required/>
                    </label>
                    <button type="submit" class="button" disabled=move || login.pending().get()>
                        {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                {move || {
                    login
                        .value()
                        .get()
                        .and_then(|r| r.err())
                        .map(|e| view! { <p class="error" role="alert" data-testid="login-error">{error_text(&e)}</p> })
                }}
                <p class="muted small">
                    "First start? The admin's password is in "
                    <code>"data/initial-admin-password"</code>
                    ", or the value of OKRFLOW_ADMIN_PASSWORD if you set it."
                </p>
            </section>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/logs?x=1")), "/logs?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(Some("/login?next=/x")), "/");
        for hostile in [
            "/\t/evil.com",
            "/\n/evil.com",
            "/%09/evil.com",
            "/%0a/evil.com",
            "/%2F/evil.com",
            "/%252F%252Fevil.com",
            "/%5cevil.com",
            "/a/..//evil.com",
            " /x",
            "/caf\u{e9}",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(safe_next(Some("/files?name=a%20b")), "/files?name=a%20b");
    }
}
