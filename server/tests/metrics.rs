//! `/metrics`: Prometheus text with requests by route and status, and a latency histogram.

mod common;

use common::{spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_counted_by_route_and_status_and_timed() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get_as_admin("/no-such-page").await;

    let reply = app.get_as_admin("/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/openmetrics-text"), "{}", reply.content_type);
    let text = reply.body;
    assert!(text.contains(r#"okrflow_http_requests_total{method="GET",route="/healthz",status="200"} 2"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404"} 1"#), "{text}");
    assert!(text.contains(r#"okrflow_http_request_duration_seconds_count{method="GET",route="/healthz"} 2"#), "{text}");
    assert!(text.contains("okrflow_http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains(&format!(r#"okrflow_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_a_viewer_unless_opened_by_the_flag() {
    let closed = spawn_app().await;
    assert_eq!(closed.get("/metrics").await.status, 401);
    closed.stop().await.unwrap();

    let open = spawn_app_with(|config| config.metrics_public = true).await;
    assert_eq!(open.get("/metrics").await.status, 200);
    open.stop().await.unwrap();
}
