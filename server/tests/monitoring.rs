//! Live monitoring against the real server: the metrics stream (shared samples, dropped
//! subscribers), external checks against listeners this test starts (up, refused, wrong status,
//! hanging), the status pill derived from them, Services controls, and the /metrics gauges.

mod common;

use std::time::Duration;

use common::{admin_auth, spawn_app, TestApp};
use okrflow_engine::monitoring::{Sample, ServiceView};

/// A live stream's response, read line by line.
struct Lines {
    response: reqwest::Response,
    pending: String,
}

impl Lines {
    async fn open(app: &TestApp) -> Lines {
        let response = reqwest::Client::new()
            .post(app.url("/api/stream_metrics"))
            .header("authorization", admin_auth())
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .expect("stream opens");
        assert_eq!(response.status(), 200);
        Lines { response, pending: String::new() }
    }

    /// The next line, raw; fails the test after 5 s without one.
    async fn next(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.find('\n') {
                return self.pending.drain(..=end).collect::<String>().trim_end().to_string();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("a sample within 5 s")
                .expect("stream readable")
                .expect("stream still open");
            self.pending.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn two_subscribers_receive_the_same_samples_and_a_leaver_is_dropped() {
    let app = spawn_app().await;
    let (mut a, mut b) = (Lines::open(&app).await, Lines::open(&app).await);
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    for _ in 0..4 {
        seen_a.push(a.next().await);
        seen_b.push(b.next().await);
    }
    let shared: Vec<_> = seen_a.iter().filter(|line| seen_b.contains(line)).collect();
    assert!(shared.len() >= 3, "the same samples, byte for byte: {seen_a:?} vs {seen_b:?}");
    let sample: Sample = serde_json::from_str(shared[0]).expect("a sample");
    assert!(sample.memory_total > 0 && !sample.cpu_per_core.is_empty());
    let times: Vec<i64> = seen_a.iter().map(|l| serde_json::from_str::<Sample>(l).unwrap().t_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "newest last, no repeats: {times:?}");

    assert_eq!(app.engine.sampler().stats().subscribers, 2);
    drop(b);
    let sampler = app.engine.sampler().clone();
    wait_until("the closed subscriber is dropped", || sampler.stats().subscribers == 1).await;
    a.next().await; // the other one still receives
    app.stop().await.expect("stops while a stream is open");
}

async fn services(app: &TestApp) -> Vec<ServiceView> {
    let reply = app.post_form("/api/list_services", vec![]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let now: app::pages::services::ServicesNow = serde_json::from_str(&reply.body).expect("services as JSON");
    assert!(now.can_control, "the admin may use the controls");
    now.services
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn add_check(
    app: &TestApp,
    name: &str,
    kind: &str,
    target: &str,
    status: &str,
    timeout_ms: &str,
) -> common::Reply {
    let fields = [
        ("name", name),
        ("kind", kind),
        ("target", target),
        ("expected_status", status),
        ("interval_secs", "1"),
        ("timeout_ms", timeout_ms),
    ];
    app.post_form("/api/add_service_check", form(&fields)).await
}

/// An HTTP server with /ok (200), /down (503) and /hang (never answers).
async fn http_dependency() -> std::net::SocketAddr {
    use axum::routing::get;
    let router = axum::Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/down", get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }))
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test]
async fn external_checks_report_up_refused_wrong_status_and_timeouts_without_delaying_each_other() {
    let app = spawn_app().await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    let refused_addr = {
        let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        gone.local_addr().unwrap().to_string()
    };
    let http = http_dependency().await;

    let checks = [
        ("tcp-up", "tcp", tcp_addr.clone(), "", "1000"),
        ("tcp-refused", "tcp", refused_addr, "", "1000"),
        ("http-ok", "http", format!("http://{http}/ok"), "200", "1000"),
        ("http-down", "http", format!("http://{http}/down"), "200", "1000"),
        ("http-hang", "http", format!("http://{http}/hang"), "", "300"),
    ];
    for (name, kind, target, status, timeout) in &checks {
        let reply = add_check(&app, name, kind, target, status, timeout).await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
    }

    // Every check runs each second; the hanging one times out after 300 ms on its own task.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let list = services(&app).await;
    let get = |name: &str| list.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name} listed"));
    let up = get("tcp-up");
    assert_eq!(up.health.label(), "healthy", "{up:?}");
    assert!(up.check.as_ref().unwrap().results.len() >= 2, "the hang did not hold the others back: {up:?}");
    assert_eq!(get("http-ok").health.label(), "healthy");
    let refused = get("tcp-refused");
    assert_eq!(refused.health.label(), "degraded");
    assert!(refused.check.as_ref().unwrap().last_error.as_deref().unwrap().contains("refused"), "{refused:?}");
    assert!(get("http-down").detail.contains("expected HTTP 200, got 503"), "{:?}", get("http-down"));
    let hang = get("http-hang");
    assert!(hang.detail.contains("no answer within 300 ms"), "{hang:?}");
    assert!(hang.check.as_ref().unwrap().results.iter().all(|r| r.latency_ms < 1_000.0), "{hang:?}");

    // The pill names what is degraded.
    let status = app.engine.status().await;
    let headline = status.headline();
    assert!(headline.starts_with("Degraded:"), "{headline}");
    for name in ["tcp-refused", "http-down", "http-hang"] {
        assert!(headline.contains(name), "{headline}");
    }
    assert!(!headline.contains("tcp-up"), "{headline}");

    // A dependency that goes down turns its check degraded.
    drop(tcp);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let list = services(&app).await;
    let up = list.iter().find(|s| s.name == "tcp-up").unwrap();
    assert_eq!(up.health.label(), "degraded", "{up:?}");

    // Removing a check removes it from the pill.
    let id = up.check.as_ref().unwrap().id;
    let reply = app.post_form("/api/remove_service_check", form(&[("id", &id.to_string())])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(!services(&app).await.iter().any(|s| s.name == "tcp-up"));
    let reply = app.post_form("/api/remove_service_check", form(&[("id", &id.to_string())])).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[tokio::test]
async fn bad_check_definitions_are_refused_with_the_reason_and_nothing_is_saved() {
    let app = spawn_app().await;
    let cases = [
        (("bad-url", "http", "not a url", ""), 400, "URL 'not a url' is not valid"),
        (("bad-port", "tcp", "localhost:70000", ""), 400, "port '70000' is not a number from 1 to 65535"),
        (("no-port", "tcp", "localhost", ""), 400, "must be host:port"),
        (("bad-scheme", "http", "ftp://x/", ""), 400, "scheme must be http or https"),
        (("secret", "http", "http://user:pw@x/health", ""), 400, "user name or password"),
        (("bad-status", "http", "http://x/", "700"), 400, "from 100 to 599"),
        (("bad-kind", "smtp", "x:25", ""), 400, "check type 'smtp'"),
        (("database", "tcp", "localhost:1", ""), 409, "exists already"),
    ];
    for ((name, kind, target, status), code, message) in cases {
        let reply = add_check(&app, name, kind, target, status, "1000").await;
        assert_eq!(reply.status, code, "{name}: {}", reply.body);
        assert!(reply.body.contains(message), "{name}: {}", reply.body);
    }
    let reply = app
        .post_form(
            "/api/add_service_check",
            form(&[
                ("name", "x"),
                ("kind", "tcp"),
                ("target", "h:1"),
                ("expected_status", ""),
                ("interval_secs", "often"),
                ("timeout_ms", ""),
            ]),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("interval 'often' is not a whole number"), "{}", reply.body);
    assert!(services(&app).await.iter().all(|s| s.check.is_none()), "nothing half-saved");

    // A duplicate of a stored check.
    assert_eq!(add_check(&app, "pg", "tcp", "127.0.0.1:1", "", "1000").await.status, 200);
    let reply = add_check(&app, "PG", "tcp", "127.0.0.1:2", "", "1000").await;
    assert_eq!(reply.status, 409, "{}", reply.body);
}

#[tokio::test]
async fn services_list_own_components_and_controls_say_what_they_did() {
    let app = spawn_app().await;
    let list = services(&app).await;
    let names: Vec<_> = list.iter().map(|s| s.name.as_str()).collect();
    for name in ["database", "log store", "metrics sampler", "object storage", "web server"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let storage = list.iter().find(|s| s.name == "object storage").unwrap();
    assert!(storage.detail.contains("answered in"), "{storage:?}");
    let web = list.iter().find(|s| s.name == "web server").unwrap();
    assert!(web.controls.is_empty(), "no control that does not apply");
    assert!(web.detail.contains(&app.addr.to_string()), "{web:?}");
    let db = list.iter().find(|s| s.name == "database").unwrap();
    let control = |service: &str, control: &str| form(&[("service", service), ("control", control)]);
    let reply = app.post_form("/api/run_service_control", control("database", "checkpoint")).await;
    if common::on_postgres() {
        // Postgres manages its own write-ahead log: nothing to checkpoint from here.
        assert!(db.detail.starts_with("Postgres answered in"), "{db:?}");
        assert!(db.controls.is_empty(), "{db:?}");
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.body.contains("it offers: nothing"), "{}", reply.body);
    } else {
        assert!(db.detail.contains("WAL"), "{db:?}");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains("Checkpoint done"), "{}", reply.body);
    }

    let reply = app.post_form("/api/run_service_control", control("metrics sampler", "pause")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(app.engine.sampler().is_paused());
    let sampler = services(&app).await.into_iter().find(|s| s.name == "metrics sampler").unwrap();
    assert_eq!(sampler.controls.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["resume"]);
    assert!(sampler.detail.contains("paused by admin"), "{sampler:?}");
    let reply = app.post_form("/api/run_service_control", control("metrics sampler", "pause")).await;
    assert_eq!(reply.status, 400, "pausing twice: {}", reply.body);
    assert!(reply.body.contains("it offers: resume"), "{}", reply.body);
    let reply = app.post_form("/api/run_service_control", control("metrics sampler", "resume")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let reply = app.post_form("/api/run_service_control", control("mainframe", "reboot")).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = app.post_form("/api/run_service_control", control("web server", "stop")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("it offers: nothing"), "{}", reply.body);

    let audit = app.get_as_admin("/admin/audit").await;
    assert_eq!(audit.status, 200);
    // Every attempt is audited once, by the engine, whatever its outcome.
    let query = okrflow_engine::accounts::AuditQuery { action: Some("service.control".into()), ..Default::default() };
    let entries = okrflow_engine::accounts::audit::query(app.engine.db(), &query).await.unwrap();
    let targets: Vec<String> = entries.iter().rev().map(|e| format!("{} {}", e.target, e.outcome)).collect();
    let first = if common::on_postgres() { "database/checkpoint failed" } else { "database/checkpoint ok" };
    assert_eq!(
        targets,
        [
            first,
            "metrics sampler/pause ok",
            "metrics sampler/pause failed",
            "metrics sampler/resume ok",
            "mainframe/reboot failed",
            "web server/stop failed"
        ]
    );
}

#[tokio::test]
async fn history_ranges_and_metrics_gauges() {
    let app = spawn_app().await;
    let sampler = app.engine.sampler().clone();
    wait_until("two samples", || sampler.stats().samples >= 2).await;
    for range in ["5m", "1h", "24h", "7d"] {
        let reply = app.post_form("/api/get_metric_history", form(&[("range", range)])).await;
        assert_eq!(reply.status, 200, "{range}: {}", reply.body);
        let history: okrflow_engine::monitoring::MetricHistory = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(history.series.len(), okrflow_engine::monitoring::Metric::ALL.len());
        assert!(history.latest.is_some());
        if range == "5m" {
            let cpu = history.series(okrflow_engine::monitoring::Metric::Cpu).unwrap();
            assert!(cpu.points.len() >= 2, "{cpu:?}");
        }
    }
    let reply = app.post_form("/api/get_metric_history", form(&[("range", "1y")])).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("range '1y': use one of 5m, 1h, 24h, 7d"), "{}", reply.body);
    let reply = app.post_form("/api/get_metric_history", form(&[("range", "5m"), ("metrics", "cpu, memory")])).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let history: okrflow_engine::monitoring::MetricHistory = serde_json::from_str(&reply.body).unwrap();
    let got: Vec<_> = history.series.iter().map(|s| s.metric.key()).collect();
    assert_eq!(got, ["cpu", "memory"]);
    let reply = app.post_form("/api/get_metric_history", form(&[("range", "5m"), ("metrics", "cpu,gpu")])).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("metric 'gpu': use any of"), "{}", reply.body);

    let metrics = app.get_as_admin("/metrics").await;
    assert_eq!(metrics.status, 200);
    for series in [
        "okrflow_system_cpu_percent ",
        "okrflow_system_memory_total_bytes ",
        "okrflow_process_resident_memory_bytes ",
        "okrflow_sampler_samples ",
        "okrflow_live_subscribers ",
        "okrflow_service_health{service=\"database\"} 0",
    ] {
        assert!(metrics.body.contains(series), "missing {series}");
    }
}
