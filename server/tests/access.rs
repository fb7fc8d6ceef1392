//! Accounts and access through the real router: every route's outcome for anonymous, viewer,
//! editor and admin (the list comes from the router itself), sessions, CSRF, tokens, Basic
//! authentication, the login rate limit, the audit trail and the security headers.

mod common;

use std::collections::HashSet;

use app::access::{policy, Access};
use common::{basic, spawn_app, Reply, TestApp, ADMIN};
use okrflow_engine::accounts::{audit, tokens, AuditQuery, Role};

const PASSWORD: &str = "a long password";

/// Every route the router serves: Leptos pages, server functions and the plain axum routes.
fn routes_from_router() -> Vec<(String, bool)> {
    let mut routes: Vec<(String, bool)> =
        okrflow_server::routes::route_list().into_iter().map(|r| (r.path().to_string(), false)).collect();
    routes.extend(leptos::server_fn::axum::server_fn_paths().map(|(p, _)| (p.to_string(), true)));
    for plain in ["/healthz", "/readyz", "/metrics"] {
        routes.push((plain.to_string(), false));
    }
    routes
}

/// A route's path with a value in each `{parameter}`, as a link to it would have.
fn concrete(route: &str) -> String {
    route.split('/').map(|part| if part.starts_with('{') { "1" } else { part }).collect::<Vec<_>>().join("/")
}

async fn token_for(app: &TestApp, user: &str) -> String {
    let who = okrflow_engine::accounts::users::find(app.engine.db(), user).await.unwrap().unwrap();
    let (secret, _) = tokens::create(app.engine.db(), who.id, "test", None, okrflow_engine::now_ms()).await.unwrap();
    format!("Bearer {secret}")
}

fn refused_as_anonymous(reply: &Reply, is_fn: bool) -> bool {
    if is_fn {
        reply.status == 401
    } else {
        reply.status == 303
            && reply
                .headers
                .get("location")
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/login?next="))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_is_declared_and_enforced_for_every_role() {
    let app = spawn_app().await;
    app.create_user("vic", PASSWORD, Role::Viewer).await;
    app.create_user("eve", PASSWORD, Role::Editor).await;
    let viewer = token_for(&app, "vic").await;
    let editor = token_for(&app, "eve").await;
    let admin = token_for(&app, ADMIN.0).await;
    let declared: std::collections::HashMap<String, Access> = policy().into_iter().collect();

    let routes = routes_from_router();
    assert!(routes.len() > 20, "the router lists its routes: {routes:?}");
    let mut seen = HashSet::new();
    for (path, is_fn) in routes {
        assert!(seen.insert(path.clone()), "{path} is registered twice");
        let access = *declared.get(&path).unwrap_or_else(|| panic!("{path} is not declared in app::access::policy"));
        let callers: [(&str, Option<Role>, Option<&str>); 4] = [
            ("anonymous", None, None),
            ("viewer", Some(Role::Viewer), Some(viewer.as_str())),
            ("editor", Some(Role::Editor), Some(editor.as_str())),
            ("admin", Some(Role::Admin), Some(admin.as_str())),
        ];
        for (who, role, auth) in callers {
            // Same-origin, as a browser sends it; CSRF has its own test.
            let origin = format!("http://{}", app.addr);
            let mut headers = vec![("accept", "text/html"), ("origin", origin.as_str())];
            if let Some(auth) = auth {
                headers.push(("authorization", auth));
            }
            // Server functions are POSTs; an empty form is enough to see whether access is granted.
            let reply = if is_fn {
                app.request("POST", &path, &headers, Some(Vec::new())).await
            } else {
                app.request("GET", &concrete(&path), &headers, None).await
            };
            let allowed = access.allows(role);
            let context =
                format!("{who} on {path}: {} {}", reply.status, reply.body.chars().take(200).collect::<String>());
            if allowed {
                assert!(
                    ![401, 403].contains(&reply.status) && !refused_as_anonymous(&reply, is_fn),
                    "should pass: {context}"
                );
                assert!(reply.status < 500, "never a 5xx: {context}");
            } else if role.is_none() {
                assert!(refused_as_anonymous(&reply, is_fn), "should ask to log in: {context}");
            } else {
                assert_eq!(reply.status, 403, "should be forbidden: {context}");
            }
        }
    }
    // The REST API, from its declarations (the router mounts the same paths): each method
    // with its own role, refused as JSON (401 anonymous, 403 below the role), never a 5xx.
    for endpoint in app::api::ENDPOINTS {
        let path = endpoint.url("0123456789abcdef0123456789abcdef");
        for (who, role, auth) in [
            ("anonymous", None, None),
            ("viewer", Some(Role::Viewer), Some(viewer.as_str())),
            ("editor", Some(Role::Editor), Some(editor.as_str())),
            ("admin", Some(Role::Admin), Some(admin.as_str())),
        ] {
            let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
            let body = (endpoint.method == app::api::Method::Post).then(Vec::new);
            let reply = app.request(endpoint.method.as_str(), &path, &headers, body).await;
            let context = format!("{who} on {}: {} {}", endpoint.key(), reply.status, reply.body);
            assert!(reply.status < 500, "never a 5xx: {context}");
            match (endpoint.access.allows(role), role) {
                (true, _) => assert!(![401, 403].contains(&reply.status), "should pass: {context}"),
                (false, None) => assert_eq!(reply.status, 401, "should ask for credentials: {context}"),
                (false, Some(_)) => assert_eq!(reply.status, 403, "should be forbidden: {context}"),
            }
            if reply.status >= 400 {
                assert!(reply.body.contains("\"kind\""), "refusals are the API's JSON: {context}");
            }
        }
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_logs_in_works_and_logs_out() {
    let app = spawn_app().await;
    let cookie = app.login(ADMIN.0, ADMIN.1).await.unwrap_or_else(|r| panic!("login: {} {}", r.status, r.body));
    let page = app.get_with("/", &[("cookie", &cookie), ("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-testid=\"user-name\">admin<"), "the sidebar shows who is logged in");
    assert!(page.body.contains("href=\"/admin/users\""), "admins see the admin pages");

    let origin = format!("http://{}", app.addr);
    let out = app.request("POST", "/api/logout", &[("cookie", &cookie), ("origin", &origin)], Some(Vec::new())).await;
    assert!(out.status < 400, "logout: {} {}", out.status, out.body);
    let after = app.get_with("/", &[("cookie", &cookie), ("accept", "text/html")]).await;
    assert_eq!(after.status, 303, "the old cookie no longer works");

    let entries =
        audit::query(app.engine.db(), &AuditQuery { actor: Some("admin".into()), ..Default::default() }).await.unwrap();
    let actions: Vec<_> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"login") && actions.contains(&"logout"), "{actions:?}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_see_no_admin_controls_and_are_refused_admin_functions() {
    let app = spawn_app().await;
    app.create_user("vera", PASSWORD, Role::Viewer).await;
    let cookie = app.login("vera", PASSWORD).await.unwrap_or_else(|r| panic!("{}", r.body));
    let page = app.get_with("/", &[("cookie", &cookie), ("accept", "text/html")]).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("/admin/users"), "no admin links for a viewer");
    let refused = app.get_with("/admin/users", &[("cookie", &cookie), ("accept", "text/html")]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.content_type.starts_with("text/html"), "a person gets a page: {}", refused.content_type);
    assert!(refused.body.contains("this needs the admin role; vera is viewer"), "{}", refused.body);

    let origin = format!("http://{}", app.addr);
    let form = vec![
        ("username".into(), "mallory".into()),
        ("password".into(), PASSWORD.into()),
        ("role".into(), "admin".into()),
    ];
    let reply = app.request("POST", "/api/create_user", &[("cookie", &cookie), ("origin", &origin)], Some(form)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("this needs the admin role; vera is viewer"), "{}", reply.body);
    assert!(okrflow_engine::accounts::users::find(app.engine.db(), "mallory").await.unwrap().is_none());
    let denied = audit::query(app.engine.db(), &AuditQuery { outcome: Some("denied".into()), ..Default::default() })
        .await
        .unwrap();
    assert!(denied.iter().any(|e| e.actor == "vera" && e.target == "/api/create_user"), "{denied:?}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_site_requests_with_a_session_are_refused() {
    let app = spawn_app().await;
    let cookie = app.login(ADMIN.0, ADMIN.1).await.unwrap_or_else(|r| panic!("{}", r.body));
    let form = || Some(vec![("source".to_string(), "Memory".to_string()), ("text".to_string(), String::new())]);
    let evil =
        app.request("POST", "/api/list_logs", &[("cookie", &cookie), ("origin", "http://evil.example")], form()).await;
    assert_eq!(evil.status, 403);
    assert!(evil.body.contains("Origin 'http://evil.example' is not this site"), "{}", evil.body);
    let bare = app.request("POST", "/api/list_logs", &[("cookie", &cookie)], form()).await;
    assert_eq!(bare.status, 403, "no Origin, no Sec-Fetch-Site");
    let origin = format!("http://{}", app.addr);
    let ok = app.request("POST", "/api/list_logs", &[("cookie", &cookie), ("origin", &origin)], form()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // Login itself is protected against login CSRF.
    let form = vec![("username".to_string(), "admin".to_string()), ("password".to_string(), ADMIN.1.to_string())];
    let forced = app.request("POST", "/api/login", &[("origin", "http://evil.example")], Some(form)).await;
    assert_eq!(forced.status, 403);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_basic_auth_work_and_revocation_is_immediate() {
    let app = spawn_app().await;
    let admin = okrflow_engine::accounts::users::find(app.engine.db(), "admin").await.unwrap().unwrap();
    let (secret, token) =
        tokens::create(app.engine.db(), admin.id, "ci", None, okrflow_engine::now_ms()).await.unwrap();
    let bearer = format!("Bearer {secret}");
    assert_eq!(app.get_with("/metrics", &[("authorization", &bearer)]).await.status, 200);
    // MLflow's client: MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD (a token or the password).
    assert_eq!(app.get_with("/metrics", &[("authorization", &basic("admin", &secret))]).await.status, 200);
    assert_eq!(app.get_with("/metrics", &[("authorization", &basic("admin", ADMIN.1))]).await.status, 200);
    assert_eq!(app.get_with("/metrics", &[("authorization", &basic("someone-else", &secret))]).await.status, 401);

    tokens::revoke(app.engine.db(), admin.id, token.id, okrflow_engine::now_ms()).await.unwrap();
    let after = app.get_with("/metrics", &[("authorization", &bearer)]).await;
    assert_eq!(after.status, 401);
    assert!(after.body.contains("invalid, expired or revoked"), "{}", after.body);
    assert_eq!(after.headers.get("www-authenticate").unwrap(), "Bearer realm=\"okrflow\"");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_authorization_is_a_401_with_the_reason() {
    let app = spawn_app().await;
    for (header, reason) in [
        ("Bearer", "carries no token"),
        ("Basic ???", "not valid base64"),
        ("Basic YWRtaW4=", "not 'user:password'"),
        ("Token abc", "scheme 'Token' is not supported"),
        ("Bearer okf_not-a-real-token", "invalid, expired or revoked"),
    ] {
        let reply = app.get_with("/metrics", &[("authorization", header)]).await;
        assert_eq!(reply.status, 401, "{header}: {}", reply.body);
        assert!(reply.body.contains(reason), "{header}: {}", reply.body);
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_and_unknown_users_look_the_same_and_are_rate_limited() {
    let app = spawn_app().await;
    app.create_user("walt", PASSWORD, Role::Editor).await;
    let wrong = app.login("walt", "not the password").await.unwrap_err();
    let unknown = app.login("nobody", "not the password").await.unwrap_err();
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.body.contains("wrong username or password"));

    for _ in 0..4 {
        app.login("walt", "still wrong").await.unwrap_err();
    }
    let limited = app.login("walt", PASSWORD).await.unwrap_err();
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("too many failed logins for this account"), "{}", limited.body);
    assert!(limited.body.contains("try again in"), "{}", limited.body);

    let failures =
        audit::query(app.engine.db(), &AuditQuery { action: Some("login.failed".into()), ..Default::default() })
            .await
            .unwrap();
    // The failures are audited; the refusal while locked checked no password and is not (a
    // flood of refusals must not push the history out of the bounded audit log).
    assert_eq!(failures.len(), 6, "the six failed logins are audited, not the refusal: {failures:?}");
    assert!(failures.iter().all(|e| e.outcome == audit::Outcome::Failed.as_str()), "{failures:?}");
    assert!(failures.iter().all(|e| e.ip == "127.0.0.1"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_account_change_is_audited() {
    let app = spawn_app().await;
    let admin = format!("Basic {}", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ADMIN.0, ADMIN.1))
    });
    let post = |path: &'static str, form: Vec<(&str, &str)>| {
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let auth = admin.clone();
        let app = &app;
        async move { app.request("POST", path, &[("authorization", &auth)], Some(form)).await }
    };
    let created = post("/api/create_user", vec![("username", "zoe"), ("password", PASSWORD), ("role", "viewer")]).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let zoe: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    let id = zoe["id"].to_string();
    assert_eq!(post("/api/set_user_role", vec![("id", &id), ("role", "editor")]).await.status, 200);
    assert_eq!(post("/api/set_user_disabled", vec![("id", &id), ("disabled", "true")]).await.status, 200);
    assert_eq!(post("/api/set_user_disabled", vec![("id", &id), ("disabled", "false")]).await.status, 200);
    assert_eq!(post("/api/reset_user_password", vec![("id", &id), ("password", "another long one")]).await.status, 200);
    let bad = post("/api/set_user_role", vec![("id", &id), ("role", "owner")]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("role 'owner' is not one of viewer, editor, admin"), "{}", bad.body);
    // As the Account page's form sends it: the expiry field empty, or text.
    let token = post("/api/create_token", vec![("name", "script"), ("expires_in_days", "")]).await;
    assert_eq!(token.status, 200, "{}", token.body);
    let dated = post("/api/create_token", vec![("name", "dated"), ("expires_in_days", "30")]).await;
    assert_eq!(dated.status, 200, "{}", dated.body);
    let bad = post("/api/create_token", vec![("name", "bad"), ("expires_in_days", "forever")]).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("expiry 'forever' must be 1 to 3650 days"), "{}", bad.body);
    let listed = post("/api/list_tokens", vec![]).await;
    let listed: serde_json::Value = serde_json::from_str(&listed.body).unwrap();
    let token_id = listed[0]["id"].to_string();
    assert_eq!(post("/api/revoke_token", vec![("id", &token_id)]).await.status, 200);

    assert!(post("/api/logout_everywhere", vec![]).await.status < 400);
    let mismatch =
        post("/api/change_password", vec![("current", ADMIN.1), ("new_password", "new admin pw 1"), ("confirm", "x")])
            .await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    let changed = post(
        "/api/change_password",
        vec![("current", ADMIN.1), ("new_password", "new admin pw 1"), ("confirm", "new admin pw 1")],
    )
    .await;
    assert!(changed.status < 400, "{} {}", changed.status, changed.body);

    let entries = audit::query(app.engine.db(), &AuditQuery::default()).await.unwrap();
    let actions: HashSet<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "logout.everywhere",
        "password.change",
        "user.create",
        "user.role",
        "user.disable",
        "user.enable",
        "user.reset_password",
        "token.create",
        "token.revoke",
    ] {
        assert!(actions.contains(expected), "{expected} missing from {actions:?}");
    }
    assert!(entries.iter().all(|e| e.actor == "admin" && e.ip == "127.0.0.1"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_security_headers_and_a_csp_with_the_scripts_nonce() {
    let app = spawn_app().await;
    let anonymous = app.get_with("/login", &[("accept", "text/html")]).await;
    assert_eq!(anonymous.status, 200, "the login page is open to anyone");
    let csp = anonymous.headers.get("content-security-policy").unwrap().to_str().unwrap().to_string();
    let nonce = csp.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce in the CSP");
    assert!(anonymous.body.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the CSP's nonce");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"), "{csp}");
    assert_eq!(anonymous.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(anonymous.headers.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(anonymous.headers.get("referrer-policy").unwrap(), "same-origin");
    let json = app.get("/healthz").await;
    assert!(json.headers.get("content-security-policy").unwrap().to_str().unwrap().starts_with("default-src 'none'"));
    app.stop().await.unwrap();
}
