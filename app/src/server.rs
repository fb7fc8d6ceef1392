//! Server-only helpers for server functions: the engine and the caller as an [`Actor`] (put in
//! the request by the server's access layer), parameter checks, session cookies. Errors reach
//! the caller through [`crate::errors`].

use http::request::Parts;
use leptos::prelude::*;
use okrflow_engine::accounts::{Principal, Role};
use okrflow_engine::{Actor, Engine, ErrorKind};

pub use crate::errors::failed;

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

/// The caller of this request (logged in or not) with their address: what every engine action
/// takes.
pub fn actor() -> Actor {
    Actor::new(principal(), client_ip())
}

/// The caller, who must hold `role` or more. The engine checks each action's role itself; this
/// is for functions that read what only some roles may see.
pub fn require(role: Role) -> Result<Actor, ServerFnError> {
    let actor = actor();
    actor.require(role).map_err(failed)?;
    Ok(actor)
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

/// An error of `kind` with `message`, answered with the kind's status.
pub fn fail(kind: ErrorKind, message: String) -> ServerFnError {
    crate::errors::ApiError::new(kind, message).into_server_fn_error()
}

/// A caller's mistake: 400 with `message`.
pub fn bad_request(message: String) -> ServerFnError {
    fail(ErrorKind::Invalid, message)
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
