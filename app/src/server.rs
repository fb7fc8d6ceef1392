//! Server-only helpers for server functions: the engine and the caller (put in the request by
//! the server's access layer), status codes for errors, session cookies and audit records.

use http::request::Parts;
use http::StatusCode;
use leptos::prelude::*;
use okrflow_engine::accounts::audit::{self, Outcome};
use okrflow_engine::accounts::{AccountError, Principal, Role};
use okrflow_engine::Engine;

/// The client's address, as the server's access layer recorded it.
#[derive(Clone, Debug)]
pub struct ClientIp(pub String);

/// The engine, or an error saying the server was wired without it (a bug, not user input).
pub fn engine() -> Result<Engine, ServerFnError> {
    use_context::<Engine>().ok_or_else(|| ServerFnError::new("okrflow engine is not available in this request"))
}

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// Who is calling, if logged in (session, token or password).
pub fn principal() -> Option<Principal> {
    parts()?.extensions.get::<Principal>().cloned()
}

/// The caller, who must hold `role` or more. The access layer checks this before the function
/// runs; checking again here keeps a function safe if its policy entry is ever wrong.
pub fn require(role: Role) -> Result<Principal, ServerFnError> {
    match principal() {
        Some(p) if p.role >= role => Ok(p),
        Some(p) => Err(fail(
            StatusCode::FORBIDDEN,
            format!("this needs the {} role; you are {}", role.as_str(), p.role.as_str()),
        )),
        None => Err(fail(StatusCode::UNAUTHORIZED, "log in first".into())),
    }
}

pub fn client_ip() -> String {
    parts().and_then(|p| p.extensions.get::<ClientIp>().map(|c| c.0.clone())).unwrap_or_default()
}

pub fn header(name: http::header::HeaderName) -> Option<String> {
    parts()?.headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// The session cookie the request carried.
pub fn session_cookie() -> Option<String> {
    header(http::header::COOKIE).and_then(|c| crate::cookies::get(&c, crate::cookies::SESSION).map(str::to_owned))
}

/// An error answered with `status` instead of the default 500.
pub fn fail(status: StatusCode, message: String) -> ServerFnError {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
    ServerFnError::new(message)
}

/// A caller's mistake: 400 with `message`.
pub fn bad_request(message: String) -> ServerFnError {
    fail(StatusCode::BAD_REQUEST, message)
}

/// A number from a caller, checked against its range: the 400 names the parameter and the
/// range (SQLite ids and counters are signed 64-bit: a larger number would wrap around).
pub fn in_range<T: PartialOrd + std::fmt::Display>(name: &str, value: T, min: T, max: T) -> Result<T, ServerFnError> {
    if value < min || value > max {
        return Err(bad_request(format!("{name} must be {min} to {max}; got {value}")));
    }
    Ok(value)
}

/// A database id from a caller: 1 to 2^63 - 1.
pub fn check_id(name: &str, id: i64) -> Result<i64, ServerFnError> {
    in_range(name, id, 1, i64::MAX)
}

/// Maps an accounts error to its status: the caller's mistakes are 4xx, the rest 500.
pub fn account_error(e: AccountError) -> ServerFnError {
    let status = match &e {
        AccountError::Invalid(_) => StatusCode::BAD_REQUEST,
        AccountError::BadCredentials => StatusCode::UNAUTHORIZED,
        AccountError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        AccountError::NotFound(_) => StatusCode::NOT_FOUND,
        AccountError::Conflict(_) => StatusCode::CONFLICT,
        AccountError::Db(_) | AccountError::Hash(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    fail(status, e.to_string())
}

/// Records an action in the audit log, from the caller's address.
pub async fn audit(engine: &Engine, actor: &str, action: &str, target: &str, outcome: Outcome, detail: &str) {
    let ip = client_ip();
    audit::record_or_log(engine.db(), audit::Record { actor, action, target, ip: &ip, outcome, detail }).await;
}

/// Whether the request came through TLS (a proxy in front says so).
fn behind_tls() -> bool {
    header(http::header::HeaderName::from_static("x-forwarded-proto")).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Sets the session cookie: HttpOnly, SameSite=Lax, Secure behind TLS.
pub fn set_session_cookie(value: &str, max_age_secs: i64) {
    let secure = if behind_tls() { "; Secure" } else { "" };
    let cookie =
        format!("{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}", crate::cookies::SESSION);
    if let (Some(response), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(&cookie))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

pub fn clear_session_cookie() {
    set_session_cookie("", 0);
}

pub use okrflow_engine::now_ms;

/// A Files error with its status (refusals are 4xx and name the file).
pub fn file_error(e: okrflow_engine::files::FileError) -> ServerFnError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "file action failed");
    }
    fail(status, e.to_string())
}
