//! The attacker-probe findings of issue 10 (point 3), replayed against the real router over raw
//! TCP, so that requests go out exactly as an attacker would write them (tabs, forged Host
//! headers, non-canonical paths): oversized user names, a lock dodged by a trailing space, open
//! redirects after login, admin pages under another spelling of their path, a CSRF check that
//! trusted the Host header, API tokens that outlived a password change, and numbers that wrapped.

mod common;

use std::time::Duration;

use common::{basic, spawn_app, TestApp, ADMIN};
use okrflow_engine::accounts::{audit, tokens, users, AuditQuery, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "a long password";

/// A response as read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn set_cookies(&self) -> Vec<&str> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The live session cookie the response set, as `name=value`.
    fn session_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with("okrflow_session=") && !c.starts_with("okrflow_session=;"))
            .map(|c| c.split(';').next().unwrap_or_default().to_string())
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body` on a fresh
/// connection, and reads the answer until the server closes it. A connection the server drops
/// without answering reads as status 0.
async fn send(app: &TestApp, head: &str, body: &[u8]) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.expect("connects");
    let mut request = format!("{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("request written");
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes)).await;
    assert!(read.is_ok(), "no complete answer within 30 s to {}", head.lines().next().unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Raw { status, head: head.to_string(), body: body.to_string() }
}

/// A request with the given extra header lines (`Name: value`) and no body.
async fn request(app: &TestApp, method: &str, path: &str, headers: &[String]) -> Raw {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}", app.addr);
    for h in headers {
        head.push_str("\r\n");
        head.push_str(h);
    }
    send(app, &head, b"").await
}

/// A form POST (as server functions take it) with the given extra header lines.
async fn post_form(app: &TestApp, path: &str, headers: &[String], form: &[(&str, &str)]) -> Raw {
    post_form_with_host(app, path, &app.addr.to_string(), headers, form).await
}

async fn post_form_with_host(app: &TestApp, path: &str, host: &str, headers: &[String], form: &[(&str, &str)]) -> Raw {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded");
    for h in headers {
        head.push_str("\r\n");
        head.push_str(h);
    }
    send(app, &head, body.as_bytes()).await
}

fn origin_of(app: &TestApp) -> String {
    format!("Origin: http://{}", app.addr)
}

fn auth(value: &str) -> String {
    format!("Authorization: {value}")
}

async fn bearer_for(app: &TestApp, user: &str, name: &str) -> String {
    let who = users::find(app.engine.db(), user).await.unwrap().unwrap();
    let (secret, _) = tokens::create(app.engine.db(), who.id, name, None, okrflow_engine::now_ms()).await.unwrap();
    format!("Bearer {secret}")
}

async fn login(app: &TestApp, user: &str, password: &str) -> Raw {
    post_form(app, "/api/login", &[origin_of(app)], &[("username", user), ("password", password)]).await
}

/// Finding 1: a 1.9 MB user name was refused with 429 but still written to the audit log each
/// time. Names are now capped (and refused with a 400 naming the rule) before anything stores
/// them, and what the audit log keeps per entry is bounded.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_user_names_are_refused_before_anything_stores_them() {
    let app = spawn_app().await;
    let huge = "a".repeat(200_000);
    for _ in 0..8 {
        let reply = login(&app, &huge, "whatever it is").await;
        assert_eq!(reply.status, 400, "{}", &reply.body[..reply.body.len().min(300)]);
        assert!(reply.body.contains("username") && reply.body.contains("64"), "{}", &reply.body[..300]);
    }
    // The same through Basic authentication (an API client).
    let reply = request(&app, "GET", "/metrics", &[auth(&basic(&"b".repeat(20_000), "pw"))]).await;
    assert_eq!(reply.status, 400, "{}", &reply.body[..reply.body.len().min(300)]);
    assert!(reply.body.contains("username"), "{}", reply.body);

    // An admin creating a user with an absurd name: refused, and the audit entry stays small.
    let reply = post_form(
        &app,
        "/api/create_user",
        &[auth(&common::admin_auth())],
        &[("username", &"c".repeat(50_000)), ("password", PASSWORD), ("role", "viewer")],
    )
    .await;
    assert_eq!(reply.status, 400, "{}", &reply.body[..reply.body.len().min(300)]);

    let entries = audit::query(app.engine.db(), &AuditQuery { limit: 500, ..Default::default() }).await.unwrap();
    let stored: usize = entries.iter().map(|e| e.actor.len() + e.target.len() + e.detail.len()).sum();
    assert!(stored < 16 * 1024, "the audit log holds {stored} bytes of names and details");
    app.stop().await.unwrap();
}

/// Finding 1 (reading): the audit log's server function answers pages of bounded size.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_is_read_in_pages_of_bounded_size() {
    let app = spawn_app().await;
    for i in 0..30 {
        let target = format!("t{i}");
        let record = audit::Record { actor: "admin", action: "test.entry", target: &target, ..Default::default() };
        audit::record(app.engine.db(), record).await.unwrap();
    }
    let admin = auth(&common::admin_auth());
    let page = |before: String, limit: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let mut form = vec![("actor", ""), ("action", "test."), ("outcome", ""), ("limit", limit)];
            if !before.is_empty() {
                form.push(("before_id", before.as_str()));
            }
            post_form(app, "/api/list_audit", &[admin], &form).await
        }
    };
    let first = page(String::new(), "10").await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    let entries = first.as_array().expect("a list");
    assert_eq!(entries.len(), 10, "{first}");
    let last_id = entries.last().unwrap()["id"].as_i64().unwrap();
    let second = page(last_id.to_string(), "10").await;
    let second: serde_json::Value = serde_json::from_str(&second.body).unwrap();
    let second = second.as_array().expect("a list");
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|e| e["id"].as_i64().unwrap() < last_id), "older entries follow");

    for (before, limit) in [(String::new(), "100000"), (String::new(), "0"), ("0".to_string(), "10")] {
        let refused = page(before.clone(), limit).await;
        assert_eq!(refused.status, 400, "before_id={before} limit={limit}: {}", refused.body);
        let named = if limit == "10" { "before_id" } else { "limit" };
        assert!(refused.body.contains(named), "{}", refused.body);
    }
    app.stop().await.unwrap();
}

/// Finding 2: after five failures `admin` was locked but `admin ` (or `admin\t`) was not: the
/// limiter keyed on the raw name while authentication trimmed it.
#[tokio::test(flavor = "multi_thread")]
async fn a_locked_account_stays_locked_however_its_name_is_spelled() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(login(&app, "admin", "not the password").await.status, 401);
    }
    for spelling in ["admin", "admin ", "admin\t", " admin", "ADMIN", "Admin\t\r\n", "\u{a0}admin"] {
        let form = login(&app, spelling, ADMIN.1).await;
        assert_eq!(form.status, 429, "login form as {spelling:?}: {}", form.body);
        let api = request(&app, "GET", "/metrics", &[auth(&basic(spelling, ADMIN.1))]).await;
        assert_eq!(api.status, 429, "Basic as {spelling:?}: {}", api.body);
    }
    app.stop().await.unwrap();
}

/// Finding 3: `next` after login redirected to `/\t/evil.com` (which browsers read as
/// `//evil.com`), and a newline in it panicked so that the session never arrived.
#[tokio::test(flavor = "multi_thread")]
async fn after_login_next_is_a_local_path_or_the_overview() {
    let app = spawn_app().await;
    let cases = [
        ("/logs?level=warn", "/logs?level=warn"),
        ("/admin/users", "/admin/users"),
        ("/\t/evil.com", "/"),
        ("/\n/evil.com", "/"),
        ("/\r\nSet-Cookie: x=y", "/"),
        ("/%09/evil.com", "/"),
        ("/%0a/evil.com", "/"),
        ("/%2F/evil.com", "/"),
        ("/%2f%2fevil.com", "/"),
        ("/%5Cevil.com", "/"),
        ("/\\evil.com", "/"),
        ("\\\\evil.com", "/"),
        ("//evil.com", "/"),
        ("///evil.com", "/"),
        ("/a/..//evil.com", "/"),
        ("https://evil.com", "/"),
        ("javascript:alert(1)", "/"),
        ("/caf\u{e9}", "/"),
        ("/login", "/"),
        ("", "/"),
    ];
    for (next, expected) in cases {
        let reply = post_form(
            &app,
            "/api/login",
            &[origin_of(&app), "Accept: text/html".into()],
            &[("username", "admin"), ("password", ADMIN.1), ("next", next)],
        )
        .await;
        assert_eq!(reply.status, 302, "next={next:?}: {}\n{}", reply.head, reply.body);
        assert_eq!(reply.header("location"), Some(expected), "next={next:?}");
        assert!(reply.session_cookie().is_some(), "next={next:?}: the session is delivered");
    }
    app.stop().await.unwrap();
}

/// Finding 4: `/admin/users/` and `/admin/./users` rendered the admin page to a viewer: the
/// access rule is found by the matched route, and those spellings matched none.
#[tokio::test(flavor = "multi_thread")]
async fn other_spellings_of_a_path_redirect_to_the_canonical_one() {
    let app = spawn_app().await;
    app.create_user("vic", PASSWORD, Role::Viewer).await;
    let viewer = auth(&bearer_for(&app, "vic", "probe").await);
    let html = "Accept: text/html".to_string();
    for (spelling, canonical) in [
        ("/admin/users/", "/admin/users"),
        ("/admin/./users", "/admin/users"),
        ("/admin//users", "/admin/users"),
        ("//admin/users", "/admin/users"),
        ("/admin/%2e/users", "/admin/users"),
        ("/admin/users/.", "/admin/users"),
        ("/x/../admin/users", "/admin/users"),
        ("/admin/%75sers", "/admin/users"),
        ("/admin\\users", "/admin/users"),
        ("/admin/audit/?actor=admin", "/admin/audit?actor=admin"),
        ("/logs/", "/logs"),
    ] {
        let reply = request(&app, "GET", spelling, &[viewer.clone(), html.clone()]).await;
        assert_eq!(reply.status, 308, "{spelling}: {}", reply.head);
        assert_eq!(reply.header("location"), Some(canonical), "{spelling}");
        assert!(!reply.body.contains("new-user-form"), "{spelling} shows the admin page to a viewer");
    }
    // Server functions too: the redirect keeps the method (308).
    let reply = post_form(&app, "/api/list_users/", std::slice::from_ref(&viewer), &[]).await;
    assert_eq!(reply.status, 308, "{}", reply.head);
    assert_eq!(reply.header("location"), Some("/api/list_users"));

    // A spelling the router does not redirect (letter case) still gets the stricter rule.
    for spelling in ["/ADMIN/USERS", "/Admin/Users", "/admin/%55sers"] {
        let reply = request(&app, "GET", spelling, &[viewer.clone(), html.clone()]).await;
        assert!(matches!(reply.status, 308 | 403 | 404), "{spelling}: {}", reply.head);
        assert!(!reply.body.contains("new-user-form"), "{spelling} shows the admin page to a viewer");
        if reply.status == 308 {
            let next = reply.header("location").unwrap().to_string();
            let reply = request(&app, "GET", &next, &[viewer.clone(), html.clone()]).await;
            assert!(matches!(reply.status, 403 | 404), "{next}: {}", reply.head);
            assert!(!reply.body.contains("new-user-form"), "{next} shows the admin page to a viewer");
        }
    }

    // A raw UTF-8 path is canonical as it is: no redirect that mangles it.
    let reply = request(&app, "GET", "/caf\u{e9}", &[viewer.clone(), html.clone()]).await;
    assert_eq!(reply.status, 404, "{}", reply.head);

    // The canonical paths keep their rules.
    let refused = request(&app, "GET", "/admin/users", &[viewer.clone(), html.clone()]).await;
    assert_eq!(refused.status, 403);
    assert!(!refused.body.contains("new-user-form"));
    let admin = auth(&common::admin_auth());
    let page = request(&app, "GET", "/admin/users", &[admin, html.clone()]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("new-user-form"), "admins still get the page");
    assert_eq!(request(&app, "GET", "/logs", &[viewer.clone(), html.clone()]).await.status, 200);
    assert_eq!(request(&app, "GET", "/", &[viewer, html]).await.status, 200);
    app.stop().await.unwrap();
}

/// Finding 7: the CSRF check compared only the Origin's host with the request's own Host
/// header: another scheme passed, and so did a forged Host.
#[tokio::test(flavor = "multi_thread")]
async fn csrf_compares_the_whole_origin_with_okrflows_own() {
    let app = spawn_app().await;
    let port = app.addr.port();
    let form = [("username", "admin"), ("password", ADMIN.1)];
    for origin in [
        format!("https://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port.wrapping_add(1)),
        "http://127.0.0.1".to_string(),
        format!("http://127.0.0.1:{port}.evil.example"),
        format!("http://evil.example:{port}"),
        "null".to_string(),
    ] {
        let reply = post_form(&app, "/api/login", &[format!("Origin: {origin}")], &form).await;
        assert_eq!(reply.status, 403, "Origin {origin}: {}", reply.body);
        assert!(reply.body.contains("cross-site request refused"), "{}", reply.body);
    }
    // A forged Host header that matches a forged Origin.
    let forged =
        post_form_with_host(&app, "/api/login", "evil.example", &["Origin: http://evil.example".into()], &form).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    for origin in
        [format!("http://127.0.0.1:{port}"), format!("http://localhost:{port}"), format!("HTTP://LOCALHOST:{port}")]
    {
        let reply = post_form(&app, "/api/login", &[format!("Origin: {origin}")], &form).await;
        assert!(reply.status < 400, "Origin {origin}: {} {}", reply.status, reply.body);
        assert!(reply.session_cookie().is_some());
    }
    app.stop().await.unwrap();
}

/// Finding 8: API tokens kept working after their owner changed the password and after an
/// admin reset it.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_or_reset_ends_the_users_api_tokens() {
    let app = spawn_app().await;
    app.create_user("vic", PASSWORD, Role::Viewer).await;
    let token = auth(&bearer_for(&app, "vic", "laptop").await);
    assert_eq!(post_form(&app, "/api/list_tokens", std::slice::from_ref(&token), &[]).await.status, 200);

    let session = login(&app, "vic", PASSWORD).await.session_cookie().expect("logged in");
    let changed = post_form(
        &app,
        "/api/change_password",
        &[format!("Cookie: {session}"), origin_of(&app)],
        &[("current", PASSWORD), ("new_password", "another long password"), ("confirm", "another long password")],
    )
    .await;
    assert!(changed.status < 400, "{} {}", changed.status, changed.body);
    let after = post_form(&app, "/api/list_tokens", &[token], &[]).await;
    assert_eq!(after.status, 401, "the token ended with the password change: {}", after.body);

    // An admin's reset ends them too.
    let token = auth(&bearer_for(&app, "vic", "ci").await);
    assert_eq!(post_form(&app, "/api/list_tokens", std::slice::from_ref(&token), &[]).await.status, 200);
    let vic = users::find(app.engine.db(), "vic").await.unwrap().unwrap();
    let reset = post_form(
        &app,
        "/api/reset_user_password",
        &[auth(&common::admin_auth())],
        &[("id", &vic.id.to_string()), ("password", "a third long password")],
    )
    .await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(post_form(&app, "/api/list_tokens", &[token], &[]).await.status, 401, "ended by the reset");

    let entries = audit::query(app.engine.db(), &AuditQuery::default()).await.unwrap();
    for action in ["password.change", "user.reset_password"] {
        let entry = entries.iter().find(|e| e.action == action && e.outcome == "ok").expect(action);
        assert!(entry.detail.contains("1 API token"), "{action}: {}", entry.detail);
    }
    app.stop().await.unwrap();
}

/// Finding 9: `list_logs` with `after_id` of 2^63 or more wrapped around to a negative id.
/// Every number a server function takes is range-checked, and the 400 names the parameter and
/// its range.
#[tokio::test(flavor = "multi_thread")]
async fn numbers_out_of_range_are_a_400_naming_the_parameter() {
    let app = spawn_app().await;
    let admin = auth(&common::admin_auth());
    for source in ["Stored", "Memory"] {
        for after in ["9223372036854775808", "18446744073709551615"] {
            let reply = post_form(
                &app,
                "/api/list_logs",
                std::slice::from_ref(&admin),
                &[("source", source), ("text", ""), ("after_id", after)],
            )
            .await;
            assert_eq!(reply.status, 400, "{source} after_id={after}: {}", reply.body);
            assert!(reply.body.contains("after_id") && reply.body.contains("9223372036854775807"), "{}", reply.body);
        }
        let fine = post_form(
            &app,
            "/api/list_logs",
            std::slice::from_ref(&admin),
            &[("source", source), ("text", ""), ("after_id", "5")],
        )
        .await;
        assert_eq!(fine.status, 200, "{}", fine.body);
    }
    for (path, form) in [
        ("/api/set_user_role", vec![("id", "0"), ("role", "viewer")]),
        ("/api/set_user_disabled", vec![("id", "-5"), ("disabled", "true")]),
        ("/api/reset_user_password", vec![("id", "0"), ("password", PASSWORD)]),
        ("/api/revoke_token", vec![("id", "-1")]),
        ("/api/remove_service_check", vec![("id", "0")]),
    ] {
        let reply = post_form(&app, path, std::slice::from_ref(&admin), &form).await;
        assert_eq!(reply.status, 400, "{path} {form:?}: {}", reply.body);
        assert!(reply.body.contains("id must be 1 to 9223372036854775807"), "{path}: {}", reply.body);
    }
    app.stop().await.unwrap();
}

/// Finding 7, with `--public-url`: the named origin replaces the bound address.
#[tokio::test(flavor = "multi_thread")]
async fn with_a_public_url_only_that_origin_may_change_things() {
    let url = okrflow_server::origin::Origin::parse("https://okr.example.com").unwrap();
    let app = common::spawn_app_with(|c| c.public_url = Some(url)).await;
    let form = [("username", "admin"), ("password", ADMIN.1)];
    let ok = post_form(&app, "/api/login", &["Origin: https://okr.example.com".into()], &form).await;
    assert!(ok.status < 400 && ok.session_cookie().is_some(), "{} {}", ok.status, ok.body);
    for origin in ["http://okr.example.com".to_string(), format!("http://{}", app.addr)] {
        let refused = post_form(&app, "/api/login", &[format!("Origin: {origin}")], &form).await;
        assert_eq!(refused.status, 403, "Origin {origin}: {}", refused.body);
        assert!(
            refused.body.contains("https://okr.example.com"),
            "the message names the expected origin: {}",
            refused.body
        );
    }
    app.stop().await.unwrap();
}
