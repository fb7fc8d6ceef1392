//! The server-rendered shell and pages, the 404 page, and the Logs server function, through
//! the real router.

mod common;

use app::nav::NAV;
use common::{server_fn_path, spawn_app};
use okrflow_engine::logs::{LogEntry, LogLevel};

#[tokio::test(flavor = "multi_thread")]
async fn every_page_renders_inside_the_shell_with_the_sidebar() {
    let app = spawn_app().await;
    for item in NAV.iter().flat_map(|g| g.items) {
        let reply = app.get_as_admin(item.path).await;
        assert_eq!(reply.status, 200, "{}", item.path);
        assert!(reply.content_type.starts_with("text/html"), "{}", item.path);
        let html = reply.body;
        assert!(html.contains("OKR ML Pipeline"), "{}: sidebar title", item.path);
        assert!(html.contains(&format!("<h1 class=\"page-title\">{}", item.title)), "{}: navbar title", item.path);
        for group in ["Main", "Data", "ML", "Tools"] {
            assert!(html.contains(&format!("class=\"nav-group-name label\">{group}<")), "{}: group {group}", item.path);
        }
        // The current page is marked for assistive technology and the style sheet.
        assert!(html.contains("aria-current=\"page\""), "{}: current page marked", item.path);
        assert!(html.contains("<main id=\"main\""), "{}: main landmark", item.path);
        assert!(html.contains("/pkg/okrflow.js"), "{}: hydration script", item.path);
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_get_the_404_page_with_status_404() {
    let app = spawn_app().await;
    let reply = app.get_as_admin("/definitely/not/here").await;
    assert_eq!(reply.status, 404);
    assert!(reply.body.contains("There is no page at"), "{}", reply.body);
    assert!(reply.body.contains("Page not found"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collapsed_sidebar_cookie_is_rendered_on_the_server() {
    let app = spawn_app().await;
    let url = app.url("/");
    let html = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
            .get(&url)
            .header("Cookie", "okrflow_sidebar=collapsed")
            .header("Authorization", common::admin_auth())
            .call()
            .unwrap();
        response.body_mut().read_to_string().unwrap()
    })
    .await
    .unwrap();
    assert!(html.contains("class=\"layout collapsed\""), "collapsed on first paint");
    app.stop().await.unwrap();
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Calls the `list_logs` server function with form fields; returns the status and JSON body.
async fn list_logs(app: &common::TestApp, pairs: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let reply = app.post_form(&server_fn_path("list_logs"), form(pairs)).await;
    let json = serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::String(reply.body));
    (reply.status, json)
}

fn messages(page: &serde_json::Value) -> Vec<&str> {
    page["entries"].as_array().expect("entries").iter().map(|e| e["message"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_listed_newest_first_filtered_and_incrementally() {
    let app = spawn_app().await;
    let logs = app.engine.logs();
    let entry = |level, message: &str| LogEntry {
        id: 0,
        ts_ms: 1,
        level,
        target: "okrflow::test".into(),
        message: message.into(),
        fields: String::new(),
    };
    let first = logs.push(entry(LogLevel::Info, "pipeline queued"));
    logs.push(entry(LogLevel::Warn, "pipeline slow"));
    logs.push(entry(LogLevel::Info, "upload done"));

    let (status, page) = list_logs(&app, &[("source", "Memory"), ("text", "PIPELINE")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(messages(&page), ["pipeline slow", "pipeline queued"]);

    let (_, page) = list_logs(&app, &[("source", "Memory"), ("text", ""), ("min_level", "Warn")]).await;
    assert_eq!(messages(&page), ["pipeline slow"]);

    let after = first.to_string();
    let (_, page) = list_logs(&app, &[("source", "Memory"), ("text", "pipeline"), ("after_id", &after)]).await;
    assert_eq!(messages(&page), ["pipeline slow"]);
    assert_eq!(page["latest_id"], logs.latest_id());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_logs_outlive_the_ring_and_bad_searches_are_400() {
    let app = spawn_app().await;
    okrflow_engine::logs::store::insert(
        app.engine.db(),
        &[LogEntry {
            id: 0,
            ts_ms: 5,
            level: LogLevel::Error,
            target: "okrflow::files".into(),
            message: "profiling failed".into(),
            fields: "file=a.csv".into(),
        }],
    )
    .await
    .unwrap();
    let path = server_fn_path("list_logs");
    let reply = app.post_form(&path, form(&[("source", "Stored"), ("text", "a.csv")])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("profiling failed"), "{}", reply.body);

    let long = "x".repeat(201);
    let reply = app.post_form(&path, form(&[("source", "Memory"), ("text", &long)])).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("at most 200"), "{}", reply.body);

    let reply = app.post_form(&path, form(&[("source", "Elsewhere"), ("text", "")])).await;
    assert!((400..500).contains(&reply.status), "unknown source is a caller error: {} {}", reply.status, reply.body);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_bundle_is_revalidated_so_an_upgrade_never_runs_an_old_one() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/okrflow.js"), "// bundle").unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg/>").unwrap();
    let root = site.path().to_path_buf();
    let app = common::spawn_app_with(move |c| c.site_root = root).await;
    let reply = app.get("/pkg/okrflow.js").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "// bundle");
    assert_eq!(reply.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-cache"));
    let modified = reply.headers.get("last-modified").expect("a validator to revalidate with").clone();
    // Revalidation answers 304 without the body while the file is unchanged.
    let again = app.get_with("/pkg/okrflow.js", &[("if-modified-since", modified.to_str().unwrap())]).await;
    assert_eq!(again.status, 304);
    // Other static files keep the default.
    assert!(app.get("/favicon.svg").await.headers.get("cache-control").is_none());
    app.stop().await.unwrap();
}
