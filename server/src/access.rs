//! The one access layer every request passes: it finds the route's minimum role in the policy
//! (`app::access::policy`; anything undeclared is denied), identifies the caller (session
//! cookie, `Authorization: Bearer <token>`, or Basic with a password or token), refuses
//! cross-site state changes (CSRF: the Origin must be one of okrflow's own public origins), and
//! answers 401, 403 or a redirect to the login page. Other spellings of a path are first
//! redirected to the canonical one (see `paths`), so that every rule applies to every spelling.
//! Refusals are logged as warnings, at most [`DENIALS_LOGGED_PER_MINUTE`] a minute.
//! The caller and their address are handed on in the request's extensions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use app::access::{policy, Access};
use app::errors::ApiError;
use app::server::ClientIp;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use http::{header, HeaderMap, Method, StatusCode};
use okrflow_engine::accounts::names::UserName;
use okrflow_engine::accounts::{audit, tokens, AccountError, Principal, Role};
use okrflow_engine::{Actor, Engine, ErrorKind};

use crate::origin::PublicOrigins;

/// Refusals logged per minute at most; the rest are counted in one line at the next minute.
/// Anyone can cause refusals, and the stored logs keep a bounded number of rows: a flood of
/// them must not push out the errors people need to see.
pub const DENIALS_LOGGED_PER_MINUTE: u32 = 10;

/// What the layer needs: the rules, the engine, where static files live, and okrflow's own
/// origins for the CSRF check.
#[derive(Clone)]
pub struct AccessControl {
    rules: Arc<HashMap<String, Access>>,
    engine: Engine,
    site_root: PathBuf,
    origins: Arc<PublicOrigins>,
    denials: Arc<DenialLog>,
}

impl AccessControl {
    pub fn new(engine: Engine, site_root: PathBuf, metrics_public: bool, origins: PublicOrigins) -> AccessControl {
        let mut rules: HashMap<String, Access> = policy().into_iter().collect();
        if metrics_public {
            rules.insert("/metrics".into(), Access::Anonymous);
        }
        rules.extend(crate::routes::mlflow::rules());
        AccessControl {
            rules: Arc::new(rules),
            engine,
            site_root,
            origins: Arc::new(origins),
            denials: Arc::new(DenialLog::default()),
        }
    }

    /// The rule for a request: its matched route's, or for the fallback, anonymous for a file
    /// that exists in the site root (the browser bundle, the icon) and viewer for anything else
    /// (the 404 page) — or, should the path still spell a declared route in another way (other
    /// letter case, percent-escapes), that route's rule if it is stricter, because the page's
    /// router might render it.
    /// A rule keyed "METHOD route" (REST routes whose methods need different roles) wins over
    /// one keyed by the route alone; HEAD follows GET.
    pub fn rule(&self, method: &Method, matched: Option<&str>, path: &str) -> Option<Access> {
        let method = if method == Method::HEAD { Method::GET } else { method.clone() };
        match matched {
            Some(route) => self.rules.get(&format!("{method} {route}")).or_else(|| self.rules.get(route)).copied(),
            None if self.is_static_file(path) => Some(Access::Anonymous),
            None => {
                let fallback = Access::AtLeast(Role::Viewer);
                let spelled = percent_encoding::percent_decode_str(path).decode_utf8_lossy().to_lowercase();
                let declared = self.rules.iter().find(|(route, _)| route.to_lowercase() == spelled).map(|(_, a)| *a);
                Some(match declared {
                    Some(Access::AtLeast(role)) if role > Role::Viewer => Access::AtLeast(role),
                    _ => fallback,
                })
            }
        }
    }

    fn is_static_file(&self, path: &str) -> bool {
        let relative = path.trim_start_matches('/');
        !relative.is_empty()
            && !relative.split('/').any(|part| part == ".." || part.is_empty() || part.contains('\\'))
            && self.site_root.join(relative).is_file()
    }

    /// The methods declared for a route that has rules per method (REST routes), HEAD with GET;
    /// empty for other routes.
    fn methods_of(&self, route: &str) -> Vec<String> {
        let mut methods: Vec<String> =
            self.rules.keys().filter_map(|key| key.strip_suffix(route)?.strip_suffix(' ').map(str::to_owned)).collect();
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".into());
        }
        methods.sort();
        methods
    }

    /// Every route this layer knows a rule for (for tests and diagnostics).
    pub fn declared(&self) -> impl Iterator<Item = (&String, &Access)> {
        self.rules.iter()
    }
}

/// Counts refusals and logs at most [`DENIALS_LOGGED_PER_MINUTE`] of them a minute.
#[derive(Default)]
struct DenialLog {
    window: Mutex<DenialWindow>,
}

#[derive(Default)]
struct DenialWindow {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl DenialLog {
    /// Logs one refusal as a warning, unless this minute's share is used up.
    fn note(&self, status: StatusCode, method: &Method, path: &str, ip: &str, message: &str) {
        let now = Instant::now();
        let (log, suppressed_before) = {
            let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
            let mut suppressed_before = 0;
            if w.started.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
                suppressed_before = std::mem::take(&mut w.suppressed);
                *w = DenialWindow { started: Some(now), logged: 0, suppressed: 0 };
            }
            let log = w.logged < DENIALS_LOGGED_PER_MINUTE;
            if log {
                w.logged += 1;
            } else {
                w.suppressed += 1;
            }
            (log, suppressed_before)
        };
        if suppressed_before > 0 {
            tracing::warn!(
                suppressed = suppressed_before,
                "{suppressed_before} more denials suppressed in the last minute"
            );
        }
        if log {
            // The path is the caller's: keep the line short.
            let path = audit::bounded(path, 200);
            tracing::warn!(status = status.as_u16(), %method, path = %path, ip, "access denied: {message}");
        }
    }
}

/// Why a request was refused; rendered as the REST API's JSON (see `app::errors`), or in
/// server-function error form for the server functions under `/api/`.
struct Refusal(ApiError);

impl Refusal {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Refusal {
        Refusal(ApiError::new(kind, message))
    }

    fn status(&self) -> StatusCode {
        self.0.status()
    }

    fn into_response(self, path: &str) -> Response {
        let status = self.status();
        let mut response = if crate::routes::mlflow::is_mlflow_path(path) {
            // MLflow's client reads its own error format from every answer.
            crate::routes::mlflow::MlflowError::of_kind(self.0.kind, self.0.message).into_response()
        } else if path.starts_with("/api/") && !path.starts_with("/api/v1/") {
            // Leptos's client reads "Kind|message" bodies and shows the message.
            (status, format!("ServerError|{}", self.0.message)).into_response()
        } else {
            self.0.into_response()
        };
        if status == StatusCode::UNAUTHORIZED {
            // Bearer only: a Basic challenge would make browsers pop up their own login box.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer realm=\"okrflow\""));
        }
        response
    }
}

/// Credentials a request carries.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    None,
    Session(String),
    Bearer(String),
    Basic { user: String, secret: String },
}

/// Reads the Authorization header (preferred) or the session cookie. A malformed header is an
/// error that says what is wrong with it.
fn credentials(headers: &HeaderMap) -> Result<Credentials, String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| "the Authorization header is not valid text".to_string())?;
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let rest = rest.trim();
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" if rest.is_empty() => Err("the Authorization header says Bearer but carries no token".into()),
            "bearer" => Ok(Credentials::Bearer(rest.to_string())),
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .map_err(|_| "the Basic credentials are not valid base64".to_string())?;
                let text = String::from_utf8(decoded).map_err(|_| "the Basic credentials are not UTF-8".to_string())?;
                let (user, secret) =
                    text.split_once(':').ok_or_else(|| "the Basic credentials are not 'user:password'".to_string())?;
                Ok(Credentials::Basic { user: user.to_string(), secret: secret.to_string() })
            }
            _ => Err(format!(
                "the Authorization scheme '{scheme}' is not supported; use 'Bearer <token>' or 'Basic <base64 of user:password>'"
            )),
        };
    }
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| app::cookies::get(c, app::cookies::SESSION))
        .filter(|v| !v.is_empty());
    Ok(cookie.map_or(Credentials::None, |c| Credentials::Session(c.to_string())))
}

/// A failure to check credentials: the caller's mistakes keep their kind (a malformed name is
/// 400, a locked one 429, wrong ones 401); okrflow's own failures are logged and not detailed.
fn refusal(e: AccountError) -> Refusal {
    let e = ApiError::from(e);
    if e.kind.is_server_error() {
        return Refusal::new(e.kind, "could not check credentials; see the server log");
    }
    Refusal(e)
}

/// Turns credentials into the caller. Bad tokens and passwords are refusals, never anonymous.
async fn authenticate(ac: &AccessControl, creds: Credentials, ip: &str) -> Result<Option<Principal>, Refusal> {
    let accounts = ac.engine.accounts();
    let bad_token = || Refusal::new(ErrorKind::Unauthenticated, "the API token is invalid, expired or revoked");
    match creds {
        Credentials::None => Ok(None),
        // An expired or unknown session is simply not logged in: the login page follows.
        Credentials::Session(cookie) => accounts.session(&cookie).await.map_err(refusal),
        Credentials::Bearer(token) => accounts.token(&token).await.map_err(refusal)?.map(Some).ok_or_else(bad_token),
        Credentials::Basic { user, secret } if secret.starts_with(tokens::PREFIX) => {
            // MLflow's client sends a token as the password; the user name, if any, must be its
            // owner's.
            let user = match user.trim() {
                "" => None,
                _ => Some(user_name(&user)?),
            };
            match accounts.token(&secret).await.map_err(refusal)? {
                Some(p) if user.as_ref().is_none_or(|u| p.username.to_ascii_lowercase() == u.key()) => Ok(Some(p)),
                _ => Err(bad_token()),
            }
        }
        // The same limits, normalisation and audit as the login form.
        Credentials::Basic { user, secret } => {
            accounts.authenticate_password(ip, &user, &secret).await.map(Some).map_err(|e| match e {
                AccountError::Invalid(why) => Refusal::new(ErrorKind::Invalid, format!("Basic credentials: {why}")),
                e => refusal(e),
            })
        }
    }
}

/// A Basic user name, normalised; a malformed one is the caller's mistake (400).
fn user_name(raw: &str) -> Result<UserName, Refusal> {
    UserName::parse(raw).map_err(|e| Refusal::new(ErrorKind::Invalid, format!("Basic credentials: {e}")))
}

/// Audits a refusal of a logged-in caller.
async fn record_denied(ac: &AccessControl, who: &Principal, ip: &str, path: &str, message: &str) {
    ac.engine.accounts().record_denied(&Actor::user(who.clone(), ip), path, message).await;
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// CSRF: a state-changing request that a browser could have been tricked into sending (it
/// carries the session cookie, or it is the login itself) must come from this site: its
/// `Origin` (scheme, host and port) must be one of okrflow's own public origins. Browsers
/// send `Origin` on every such POST; `Sec-Fetch-Site` covers the rest. The request's Host
/// header plays no part: the client chooses it.
fn check_same_origin(headers: &HeaderMap, origins: &PublicOrigins) -> Result<(), String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes());
        return if origins.allows(&origin) {
            Ok(())
        } else {
            let origin = audit::bounded(&origin, 100);
            Err(format!(
                "cross-site request refused: Origin '{origin}' is not this site ({}); set --public-url to the address people use",
                origins.describe()
            ))
        };
    }
    match headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()) {
        Some("same-origin") | Some("none") => Ok(()),
        Some(other) => Err(format!("cross-site request refused: Sec-Fetch-Site is '{other}'")),
        None => Err(
            "cross-site request refused: a state-changing request with a session cookie must carry an Origin header"
                .into(),
        ),
    }
}

/// Pages for people: a redirect to the login page suits them better than a 401.
fn wants_page(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    *method == Method::GET
        && !path.starts_with("/api/")
        && headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

fn login_redirect(path_and_query: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A person who followed a link above their role gets a page saying so, not JSON.
fn forbidden_page(message: &str) -> Response {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Not allowed · okrflow</title><link rel=\"stylesheet\" href=\"/pkg/okrflow.css\"></head>\
         <body><main id=\"main\"><section class=\"empty-state\"><p class=\"big-code\">403</p>\
         <h2>Not allowed</h2><p>{escaped}.</p><p><a class=\"button\" href=\"/\">Go to the overview</a></p>\
         </section></main></body></html>"
    );
    let mut response = (StatusCode::FORBIDDEN, axum::response::Html(html)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"),
    );
    response
}

/// Another spelling of a path (`/admin/users/`, `/admin/./users`) is sent to the canonical one
/// with 308, which keeps the method and body; the query goes along unchanged.
fn canonical_redirect(req: &Request) -> Option<Response> {
    let canonical = crate::paths::canonical(req.uri().path())?;
    let location = match req.uri().query() {
        Some(query) => format!("{canonical}?{query}"),
        None => canonical,
    };
    let response = match http::HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, value)]).into_response(),
        // Cannot happen for a path the http crate accepted; refuse rather than guess.
        Err(_) => Refusal::new(ErrorKind::Invalid, "the request path is not valid").into_response(""),
    };
    Some(response)
}

/// The middleware.
pub async fn enforce(State(ac): State<AccessControl>, req: Request, next: Next) -> Response {
    // MLflow's paths are matched exactly (another spelling is its not-found route), and artifact
    // paths are checked by their handler: a redirect would resolve `..` for the caller.
    let mlflow = crate::routes::mlflow::is_mlflow_path(req.uri().path());
    if let Some(redirect) = canonical_redirect(&req).filter(|_| !mlflow) {
        return redirect;
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let response = decide(&ac, req, next, &ip).await;
    // The layer's own refusals (not a handler's answers, such as a wrong password at login,
    // which the audit log has).
    if let Some(DenialReason(message)) = response.extensions().get::<DenialReason>() {
        ac.denials.note(response.status(), &method, &path, &ip, message);
    }
    response
}

/// Why the layer refused, for its log line.
#[derive(Clone)]
struct DenialReason(String);

fn refuse(kind: ErrorKind, message: impl Into<String>, path: &str) -> Response {
    let message = message.into();
    let mut response = Refusal::new(kind, message.clone()).into_response(path);
    response.extensions_mut().insert(DenialReason(message));
    response
}

async fn decide(ac: &AccessControl, mut req: Request, next: Next, ip: &str) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.clone());
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());

    let Some(rule) = ac.rule(&method, matched.as_deref(), &path) else {
        // A REST route asked with a method it does not have: 405 with the ones it has.
        let allowed = matched.as_deref().map(|route| ac.methods_of(route)).unwrap_or_default();
        if !allowed.is_empty() {
            let allow = allowed.join(", ");
            let message =
                format!("{method} is not a method of {}; it answers {allow}", matched.as_deref().unwrap_or(&path));
            let mut response = refuse(ErrorKind::MethodNotAllowed, message, &path);
            if let Ok(value) = http::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        // A warning, not an error: anyone can ask for an undeclared method or route.
        let message = format!(
            "{method} {} is not open to anyone (not declared in the access policy)",
            matched.as_deref().unwrap_or(&path)
        );
        return refuse(ErrorKind::Forbidden, message, &path);
    };

    let creds = match credentials(req.headers()) {
        Ok(c) => c,
        Err(message) => return refuse(ErrorKind::Unauthenticated, message, &path),
    };
    let by_cookie = matches!(creds, Credentials::Session(_));
    let principal = match authenticate(ac, creds, ip).await {
        Ok(p) => p,
        Err(refusal) => {
            let status = refusal.status();
            let mut response = refusal.into_response(&path);
            if status == StatusCode::UNAUTHORIZED {
                response.extensions_mut().insert(DenialReason("bad credentials".into()));
            }
            return response;
        }
    };

    let state_changing = is_state_changing(&method);
    let is_login = matched.as_deref() == Some(app::pages::login::login_path());
    if state_changing && (by_cookie || is_login) {
        if let Err(message) = check_same_origin(req.headers(), &ac.origins) {
            // Audited when a session was used (someone's browser was steered); anonymous ones
            // only reach the rate-limited denial warning, so they cannot flood the audit log.
            if let Some(p) = &principal {
                record_denied(ac, p, ip, &path, &message).await;
            }
            return refuse(ErrorKind::Forbidden, message, &path);
        }
    }

    if !rule.allows(principal.as_ref().map(|p| p.role)) {
        return match (&principal, rule) {
            (None, _) if wants_page(&method, &path, req.headers()) => login_redirect(&path_and_query),
            (None, _) => refuse(ErrorKind::Unauthenticated, "log in first, or send an API token", &path),
            (Some(p), Access::AtLeast(min)) => {
                let message = format!("this needs the {} role; {} is {}", min.as_str(), p.username, p.role.as_str());
                if state_changing {
                    record_denied(ac, p, ip, &path, &message).await;
                }
                if wants_page(&method, &path, req.headers()) {
                    let mut page = forbidden_page(&message);
                    page.extensions_mut().insert(DenialReason(message));
                    return page;
                }
                refuse(ErrorKind::Forbidden, message, &path)
            }
            (Some(_), Access::Anonymous) => unreachable!("anonymous routes allow everyone"),
        };
    }

    req.extensions_mut().insert(ClientIp(ip.to_string()));
    if let Some(p) = principal {
        req.extensions_mut().insert(p);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn authorization_headers_parse_or_say_what_is_wrong() {
        assert_eq!(
            credentials(&headers(&[("authorization", "Bearer okf_x")])),
            Ok(Credentials::Bearer("okf_x".into()))
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("ann:pw:with:colons");
        assert_eq!(
            credentials(&headers(&[("authorization", &format!("Basic {basic}"))])),
            Ok(Credentials::Basic { user: "ann".into(), secret: "pw:with:colons".into() })
        );
        assert!(credentials(&headers(&[("authorization", "Bearer")])).unwrap_err().contains("no token"));
        assert!(credentials(&headers(&[("authorization", "Basic !!!")])).unwrap_err().contains("base64"));
        let no_colon = base64::engine::general_purpose::STANDARD.encode("ann");
        assert!(credentials(&headers(&[("authorization", &format!("Basic {no_colon}"))]))
            .unwrap_err()
            .contains("user:password"));
        assert!(credentials(&headers(&[("authorization", "Digest x")]))
            .unwrap_err()
            .contains("'Digest' is not supported"));
        assert_eq!(credentials(&headers(&[("cookie", "okrflow_session=abc")])), Ok(Credentials::Session("abc".into())));
        assert_eq!(credentials(&headers(&[])), Ok(Credentials::None));
    }

    #[test]
    fn same_origin_is_required_for_cookie_writes() {
        let origins = PublicOrigins::new(None, "127.0.0.1:3000".parse().unwrap());
        let check = |pairs: &[(&'static str, &str)]| check_same_origin(&headers(pairs), &origins);
        assert!(check(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")]).is_ok());
        assert!(check(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")]).is_err());
        assert!(check(&[("host", "127.0.0.1:3000"), ("origin", "https://127.0.0.1:3000")]).is_err(), "scheme");
        assert!(check(&[("host", "evil.example"), ("origin", "http://evil.example")]).is_err(), "a forged Host");
        assert!(check(&[("host", "h"), ("origin", "null")]).is_err());
        assert!(check(&[("host", "h"), ("sec-fetch-site", "same-origin")]).is_ok());
        assert!(check(&[("host", "h"), ("sec-fetch-site", "cross-site")]).is_err());
        assert!(check(&[("host", "h")]).unwrap_err().contains("Origin header"));
    }

    #[test]
    fn denials_beyond_the_share_of_a_minute_are_counted_not_logged() {
        let log = DenialLog::default();
        for _ in 0..(DENIALS_LOGGED_PER_MINUTE + 5) {
            log.note(StatusCode::FORBIDDEN, &Method::GET, "/x", "127.0.0.1", "no");
        }
        let w = log.window.lock().unwrap();
        assert_eq!((w.logged, w.suppressed), (DENIALS_LOGGED_PER_MINUTE, 5));
    }
}
