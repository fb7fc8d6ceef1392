//! `/healthz` and `/readyz` against the real router.

mod common;

use common::spawn_app;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_with_version_and_uptime() {
    let app = spawn_app().await;
    let reply = app.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"), "{}", reply.content_type);
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["uptime_secs"].is_u64());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_ready_with_a_database_and_503_without() {
    let app = spawn_app().await;
    let reply = app.get("/readyz").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["status"], "ready");
    assert_eq!(json["database"]["status"], "healthy");

    // Closing the pool is what a lost database looks like from here.
    app.engine.db().close().await;
    let reply = app.get("/readyz").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let json: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["status"], "not ready");
    assert_eq!(json["database"]["status"], "critical");
    assert!(json["database"]["detail"].as_str().unwrap().contains("closed"), "{}", reply.body);

    // /healthz still answers: the process is alive, just not ready.
    assert_eq!(app.get("/healthz").await.status, 200);
    app.stop().await.unwrap();
}
