//! The one access layer every request passes: it finds the route's minimum role in the policy
//! (`app::access::policy`; anything undeclared is denied), identifies the caller (session
//! cookie, `Authorization: Bearer <token>`, or Basic with a password or token), refuses
//! cross-site state changes (CSRF), and answers 401, 403 or a redirect to the login page.
//! The caller and their address are handed on in the request's extensions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use app::access::{policy, Access};
use app::server::ClientIp;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use http::{header, HeaderMap, Method, StatusCode};
use okrflow_engine::accounts::audit::{self, Outcome};
use okrflow_engine::accounts::{tokens, users, AccountError, AuthMethod, Principal, Role};
use okrflow_engine::{now_ms, Engine};

/// What the layer needs: the rules, the engine, and where static files live.
#[derive(Clone)]
pub struct AccessControl {
    rules: Arc<HashMap<String, Access>>,
    engine: Engine,
    site_root: PathBuf,
}

impl AccessControl {
    pub fn new(engine: Engine, site_root: PathBuf, metrics_public: bool) -> AccessControl {
        let mut rules: HashMap<String, Access> = policy().into_iter().collect();
        if metrics_public {
            rules.insert("/metrics".into(), Access::Anonymous);
        }
        AccessControl { rules: Arc::new(rules), engine, site_root }
    }

    /// The rule for a request: its matched route's, or for the fallback, anonymous for a file
    /// that exists in the site root (the browser bundle, the icon) and viewer for anything else
    /// (the 404 page).
    /// A rule keyed "METHOD route" (REST routes whose methods need different roles) wins over
    /// one keyed by the route alone; HEAD follows GET.
    pub fn rule(&self, method: &Method, matched: Option<&str>, path: &str) -> Option<Access> {
        let method = if method == Method::HEAD { Method::GET } else { method.clone() };
        match matched {
            Some(route) => self.rules.get(&format!("{method} {route}")).or_else(|| self.rules.get(route)).copied(),
            None if self.is_static_file(path) => Some(Access::Anonymous),
            None => Some(Access::AtLeast(Role::Viewer)),
        }
    }

    fn is_static_file(&self, path: &str) -> bool {
        let relative = path.trim_start_matches('/');
        !relative.is_empty()
            && !relative.split('/').any(|part| part == ".." || part.is_empty() || part.contains('\\'))
            && self.site_root.join(relative).is_file()
    }

    /// Every route this layer knows a rule for (for tests and diagnostics).
    pub fn declared(&self) -> impl Iterator<Item = (&String, &Access)> {
        self.rules.iter()
    }
}

/// Why a request was refused; rendered as JSON, or in server-function error form for `/api/`.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal { status, message: message.into() }
    }

    fn into_response(self, path: &str) -> Response {
        let mut response = if path.starts_with("/api/") && !path.starts_with("/api/v1/") {
            // Leptos's client reads "Kind|message" bodies and shows the message.
            (self.status, format!("ServerError|{}", self.message)).into_response()
        } else {
            (self.status, axum::Json(serde_json::json!({ "error": self.message, "status": self.status.as_u16() })))
                .into_response()
        };
        if self.status == StatusCode::UNAUTHORIZED {
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

fn internal(e: AccountError) -> Refusal {
    tracing::error!("checking credentials failed: {e}");
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "could not check credentials; see the server log")
}

/// Turns credentials into the caller. Bad tokens and passwords are refusals, never anonymous.
async fn authenticate(ac: &AccessControl, creds: Credentials, ip: &str) -> Result<Option<Principal>, Refusal> {
    let db = ac.engine.db();
    let now = now_ms();
    let bad_token = || Refusal::new(StatusCode::UNAUTHORIZED, "the API token is invalid, expired or revoked");
    match creds {
        Credentials::None => Ok(None),
        // An expired or unknown session is simply not logged in: the login page follows.
        Credentials::Session(cookie) => {
            okrflow_engine::accounts::sessions::lookup(db, &cookie, now).await.map_err(internal)
        }
        Credentials::Bearer(token) => {
            tokens::verify(db, &token, now).await.map_err(internal)?.map(Some).ok_or_else(bad_token)
        }
        Credentials::Basic { user, secret } if secret.starts_with(tokens::PREFIX) => {
            // MLflow's client sends a token as the password; the user name must be its owner's.
            match tokens::verify(db, &secret, now).await.map_err(internal)? {
                Some(p) if p.username.eq_ignore_ascii_case(&user) || user.is_empty() => Ok(Some(p)),
                _ => Err(bad_token()),
            }
        }
        Credentials::Basic { user, secret } => {
            let limiter = ac.engine.login_limiter();
            let started = std::time::Instant::now();
            if let Err(message) = limiter.check(&user, ip, started) {
                record(ac, "anonymous", "login.failed", &user, ip, Outcome::Denied, &message).await;
                return Err(Refusal::new(StatusCode::TOO_MANY_REQUESTS, message));
            }
            match users::authenticate(db, &user, &secret).await {
                Ok(u) => {
                    limiter.record_success(&user);
                    Ok(Some(Principal { user_id: u.id, username: u.username, role: u.role, via: AuthMethod::Password }))
                }
                Err(AccountError::BadCredentials) => {
                    limiter.record_failure(&user, ip, started);
                    record(ac, "anonymous", "login.failed", &user, ip, Outcome::Failed, "Basic authentication").await;
                    Err(Refusal::new(StatusCode::UNAUTHORIZED, "wrong username or password"))
                }
                Err(e) => Err(internal(e)),
            }
        }
    }
}

async fn record(ac: &AccessControl, actor: &str, action: &str, target: &str, ip: &str, outcome: Outcome, detail: &str) {
    audit::record_or_log(ac.engine.db(), audit::Record { actor, action, target, ip, outcome, detail }).await;
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// CSRF: a state-changing request that a browser could have been tricked into sending (it
/// carries the session cookie, or it is the login itself) must come from this site. Browsers
/// send `Origin` on every such POST; `Sec-Fetch-Site` covers the rest.
fn check_same_origin(headers: &HeaderMap) -> Result<(), String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
        return if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
            Ok(())
        } else {
            Err(format!("cross-site request refused: Origin '{origin}' is not this site ({host})"))
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

/// The middleware.
pub async fn enforce(State(ac): State<AccessControl>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| path.clone());
    let method = req.method().clone();
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());

    let Some(rule) = ac.rule(&method, matched.as_deref(), &path) else {
        tracing::error!(
            route = matched.as_deref().unwrap_or(&path),
            "route is not declared in the access policy; denied"
        );
        return Refusal::new(
            StatusCode::FORBIDDEN,
            "this route is not open to anyone (not declared in the access policy)",
        )
        .into_response(&path);
    };

    let creds = match credentials(req.headers()) {
        Ok(c) => c,
        Err(message) => return Refusal::new(StatusCode::UNAUTHORIZED, message).into_response(&path),
    };
    let by_cookie = matches!(creds, Credentials::Session(_));
    let principal = match authenticate(&ac, creds, &ip).await {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(&path),
    };

    let state_changing = is_state_changing(&method);
    let is_login = matched.as_deref() == Some(app::pages::login::login_path());
    if state_changing && (by_cookie || is_login) {
        if let Err(message) = check_same_origin(req.headers()) {
            let actor = principal.as_ref().map_or("anonymous", |p| p.username.as_str());
            record(&ac, actor, "access.denied", &path, &ip, Outcome::Denied, &message).await;
            return Refusal::new(StatusCode::FORBIDDEN, message).into_response(&path);
        }
    }

    if !rule.allows(principal.as_ref().map(|p| p.role)) {
        return match (&principal, rule) {
            (None, _) if wants_page(&method, &path, req.headers()) => login_redirect(&path_and_query),
            (None, _) => {
                Refusal::new(StatusCode::UNAUTHORIZED, "log in first, or send an API token").into_response(&path)
            }
            (Some(p), Access::AtLeast(min)) => {
                let message = format!("this needs the {} role; {} is {}", min.as_str(), p.username, p.role.as_str());
                if state_changing {
                    record(&ac, &p.username, "access.denied", &path, &ip, Outcome::Denied, &message).await;
                }
                if wants_page(&method, &path, req.headers()) {
                    return forbidden_page(&message);
                }
                Refusal::new(StatusCode::FORBIDDEN, message).into_response(&path)
            }
            (Some(_), Access::Anonymous) => unreachable!("anonymous routes allow everyone"),
        };
    }

    req.extensions_mut().insert(ClientIp(ip));
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
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")])).is_ok());
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "h"), ("origin", "null")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "h"), ("sec-fetch-site", "same-origin")])).is_ok());
        assert!(check_same_origin(&headers(&[("host", "h"), ("sec-fetch-site", "cross-site")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "h")])).unwrap_err().contains("Origin header"));
    }
}
