//! okrflow's MLflow REST API through the real router, as MLflow's client speaks it: every route's
//! access for every role in MLflow's error JSON, the not-found route, NaN and ±∞ both ways,
//! run_id/run_uuid, GET arguments as a query, a log-batch refused whole, page tokens bound to
//! their query, artifacts streamed in and out with paths that cannot leave their run.
//! (`.ci/mlflow-client` runs the real Python client against the binary.)

mod common;

use app::access::Access;
use common::{admin_auth, spawn_app, Reply, TestApp};
use okrflow_engine::accounts::{tokens, Role};
use serde_json::{json, Value};

const PASSWORD: &str = "a long password";

async fn token_for(app: &TestApp, user: &str) -> String {
    let who = okrflow_engine::accounts::users::find(app.engine.db(), user).await.unwrap().unwrap();
    let (secret, _) = tokens::create(app.engine.db(), who.id, "test", None, okrflow_engine::now_ms()).await.unwrap();
    format!("Bearer {secret}")
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = admin_auth();
    let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
    let reply = app.request_raw(method, path, &headers, body.map(|b| b.to_string().into_bytes())).await;
    (reply.status, json_of(&reply))
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

/// A concrete path for a route pattern.
fn concrete(route: &str) -> String {
    route
        .replace("{model_id}", "m-0123456789abcdef0123456789abcdef")
        .replace("{tag_key}", "k")
        .replace("{*path}", "0/0123456789abcdef0123456789abcdef/artifacts/x.txt")
        .replace("{*rest}", "no/such/route")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mlflow_route_is_enforced_for_every_role_in_mlflows_error_format() {
    let app = spawn_app().await;
    app.create_user("vic", PASSWORD, Role::Viewer).await;
    app.create_user("eve", PASSWORD, Role::Editor).await;
    let viewer = token_for(&app, "vic").await;
    let editor = token_for(&app, "eve").await;
    let rules = okrflow_server::routes::mlflow::rules();
    assert!(rules.len() > 100, "{}", rules.len());
    for (key, access) in rules {
        let (method, route) =
            key.split_once(' ').filter(|(m, _)| m.chars().all(|c| c.is_ascii_uppercase())).unwrap_or(("GET", &key));
        let path = concrete(route);
        for (who, role, auth) in [
            ("anonymous", None, None),
            ("viewer", Some(Role::Viewer), Some(&viewer)),
            ("editor", Some(Role::Editor), Some(&editor)),
        ] {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(auth) = auth {
                headers.push(("authorization", auth.as_str()));
            }
            let body = (method != "GET").then(|| b"{}".to_vec());
            let reply = app.request_raw(method, &path, &headers, body).await;
            let context = format!("{who} on {method} {path}: {} {}", reply.status, reply.body);
            assert!(reply.status < 500, "never a 5xx: {context}");
            let code = json_of(&reply)["error_code"].as_str().map(String::from);
            match (access.allows(role), role) {
                (true, _) => assert!(![401, 403].contains(&reply.status), "should pass: {context}"),
                (false, None) => {
                    assert_eq!((reply.status, code.as_deref()), (401, Some("UNAUTHENTICATED")), "{context}")
                }
                (false, Some(_)) => {
                    assert_eq!((reply.status, code.as_deref()), (403, Some("PERMISSION_DENIED")), "{context}")
                }
            }
            if reply.status >= 400 && !path.ends_with("/health") {
                assert!(code.is_some(), "refusals are MLflow's JSON: {context}");
            }
        }
        assert!(matches!(access, Access::Anonymous | Access::AtLeast(_)));
    }
    // Unknown routes, and known ones with another method, are ENDPOINT_NOT_FOUND.
    for (method, path) in [
        ("GET", "/api/2.0/mlflow/traces/x"),
        ("POST", "/api/3.0/mlflow/traces"),
        ("GET", "/api/2.0/mlflow/runs/create"),
    ] {
        let (status, body) = call(&app, method, path, None).await;
        assert_eq!(body["error_code"], "ENDPOINT_NOT_FOUND", "{method} {path}: {status} {body}");
        assert!(status == 404 || status == 405, "{status}");
    }
    let health = app.get("/health").await;
    assert_eq!((health.status, health.body.as_str()), (200, "OK"), "anyone may ask");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_metrics_and_batches_speak_mlflows_json() {
    let app = spawn_app().await;
    let (status, created) =
        call(&app, "POST", "/api/2.0/mlflow/experiments/create", Some(json!({"name": "wire"}))).await;
    assert_eq!(status, 200, "{created}");
    let exp = created["experiment_id"].as_str().unwrap().to_string();
    let (_, dup) = call(&app, "POST", "/api/2.0/mlflow/experiments/create", Some(json!({"name": "wire"}))).await;
    assert_eq!(dup["error_code"], "RESOURCE_ALREADY_EXISTS");
    let (status, missing) =
        call(&app, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=nope", None).await;
    assert_eq!((status, missing["error_code"].as_str()), (404, Some("RESOURCE_DOES_NOT_EXIST")));

    // int64s as strings, enums by name.
    let body =
        json!({"experiment_id": exp, "start_time": "1700000000000", "tags": [{"key": "team", "value": "growth"}]});
    let (status, run) = call(&app, "POST", "/api/2.0/mlflow/runs/create", Some(body)).await;
    assert_eq!(status, 200, "{run}");
    let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["run"]["info"]["start_time"], 1_700_000_000_000_i64);
    assert!(run["run"]["info"].get("end_time").is_none(), "unset fields are left out: {run}");

    for (value, step) in [(json!("NaN"), 0), (json!("Infinity"), 1), (json!("-Infinity"), 2), (json!(0.5), 3)] {
        let body = json!({"run_id": id, "run_uuid": id, "key": "m", "value": value, "timestamp": 5, "step": step});
        let (status, answer) = call(&app, "POST", "/api/2.0/mlflow/runs/log-metric", Some(body)).await;
        assert_eq!((status, answer), (200, json!({})));
    }
    let (_, history) =
        call(&app, "GET", &format!("/api/2.0/mlflow/metrics/get-history?run_id={id}&run_uuid={id}&metric_key=m"), None)
            .await;
    let values: Vec<&Value> = history["metrics"].as_array().unwrap().iter().map(|m| &m["value"]).collect();
    assert_eq!(values, [&json!("NaN"), &json!("Infinity"), &json!("-Infinity"), &json!(0.5)]);
    let (_, got) = call(&app, "GET", &format!("/api/2.0/mlflow/runs/get?run_uuid={id}"), None).await;
    assert_eq!(got["run"]["data"]["metrics"][0]["value"], 0.5, "the latest by step: {got}");
    let (status, clash) = call(
        &app,
        "GET",
        &format!("/api/2.0/mlflow/runs/get?run_id={id}&run_uuid=0123456789abcdef0123456789abcdef"),
        None,
    )
    .await;
    assert_eq!((status, clash["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")));

    // A batch over the limit, or with one bad entity, writes nothing.
    let many: Vec<Value> = (0..1001).map(|i| json!({"key": "b", "value": i, "timestamp": 1, "step": i})).collect();
    let (status, over) =
        call(&app, "POST", "/api/2.0/mlflow/runs/log-batch", Some(json!({"run_id": id, "metrics": many}))).await;
    assert_eq!((status, over["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{over}");
    let mixed = json!({"run_id": id, "metrics": [{"key": "b", "value": 1, "timestamp": 1}], "params": [{"key": "../p", "value": "1"}]});
    let (status, _) = call(&app, "POST", "/api/2.0/mlflow/runs/log-batch", Some(mixed)).await;
    assert_eq!(status, 400);
    let (_, none) =
        call(&app, "GET", &format!("/api/2.0/mlflow/metrics/get-history?run_id={id}&metric_key=b"), None).await;
    assert_eq!(none, json!({}), "nothing of either batch");
    for bad in ["{not json", "[1, 2]"] {
        let auth = admin_auth();
        let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
        let reply =
            app.request_raw("POST", "/api/2.0/mlflow/runs/log-batch", &headers, Some(bad.as_bytes().to_vec())).await;
        assert_eq!(
            (reply.status, json_of(&reply)["error_code"].as_str()),
            (400, Some("INVALID_PARAMETER_VALUE")),
            "{bad}"
        );
    }

    // Search: the filter's error names the position; a token is bound to its query.
    for i in 0..3 {
        let body = json!({"experiment_id": exp, "run_name": format!("r{i}")});
        call(&app, "POST", "/api/2.0/mlflow/runs/create", Some(body)).await;
    }
    let (_, page) =
        call(&app, "POST", "/api/2.0/mlflow/runs/search", Some(json!({"experiment_ids": [exp], "max_results": 2})))
            .await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    let token = page["next_page_token"].as_str().unwrap().to_string();
    let (status, forged) = call(
        &app,
        "POST",
        "/api/2.0/mlflow/runs/search",
        Some(json!({"experiment_ids": ["0"], "max_results": 2, "page_token": token})),
    )
    .await;
    assert_eq!((status, forged["error_code"].as_str()), (400, Some("INVALID_PARAMETER_VALUE")), "{forged}");
    let (status, bad) = call(
        &app,
        "POST",
        "/api/2.0/mlflow/runs/search",
        Some(json!({"experiment_ids": [exp], "filter": "metrics.m > 'x'"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(bad["message"].as_str().unwrap().contains("at character 13"), "{bad}");
    let (_, by_get) = call(
        &app,
        "GET",
        &format!("/api/2.0/mlflow/runs/search?experiment_ids={exp}&experiment_ids=0&max_results=10"),
        None,
    )
    .await;
    assert_eq!(by_get["runs"].as_array().unwrap().len(), 4, "repeated query keys are a list: {by_get}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_stream_in_and_out_and_never_leave_their_run() {
    let app = spawn_app().await;
    let (_, run) = call(&app, "POST", "/api/2.0/mlflow/runs/create", Some(json!({"experiment_id": "0"}))).await;
    let uri = run["run"]["info"]["artifact_uri"].as_str().unwrap().to_string();
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_string();
    let auth = admin_auth();
    let headers = [("authorization", auth.as_str())];
    let put = |path: String, bytes: &'static [u8]| {
        let app = &app;
        let headers = headers;
        async move {
            app.request_raw(
                "PUT",
                &format!("/api/2.0/mlflow-artifacts/artifacts/{path}"),
                &headers,
                Some(bytes.to_vec()),
            )
            .await
        }
    };
    assert_eq!(put(format!("{root}/model/MLmodel"), b"flavors: {}\n").await.status, 200);
    assert_eq!(put(format!("{root}/empty.txt"), b"").await.status, 200);
    let got = app
        .request_raw("GET", &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel"), &headers, None)
        .await;
    assert_eq!((got.status, got.body.as_str()), (200, "flavors: {}\n"));
    let (_, listed) = call(&app, "GET", &format!("/api/2.0/mlflow-artifacts/artifacts?path={root}"), None).await;
    assert_eq!(listed, json!({"files": [{"path": "empty.txt", "is_dir": false}, {"path": "model", "is_dir": true}]}));
    let id = run["run"]["info"]["run_id"].as_str().unwrap();
    let (_, by_run) = call(&app, "GET", &format!("/api/2.0/mlflow/artifacts/list?run_id={id}&path=model"), None).await;
    assert_eq!(by_run["files"], json!([{"path": "model/MLmodel", "is_dir": false, "file_size": 12}]));
    assert_eq!(by_run["root_uri"], json!(uri));

    for escape in ["../../x", "..%2f..%2fx", "%2e%2e/%2e%2e/x", "%252e%252e/x", "a%5c..%5cb", "a%23b", "./x"] {
        let reply = put(format!("{root}/{escape}"), b"no").await;
        assert_eq!(reply.status, 400, "{escape}: {}", reply.body);
        assert_eq!(json_of(&reply)["error_code"], "INVALID_PARAMETER_VALUE", "{escape}");
    }
    let elsewhere = app
        .request_raw(
            "PUT",
            "/api/2.0/mlflow-artifacts/artifacts/0/not-a-run/artifacts/x",
            &headers,
            Some(b"x".to_vec()),
        )
        .await;
    assert_eq!(elsewhere.status, 404, "only a run's or model's folder takes files");
    let (status, _) = call(&app, "DELETE", &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model"), None).await;
    assert_eq!(status, 200);
    let gone = app
        .request_raw("GET", &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/model/MLmodel"), &headers, None)
        .await;
    assert_eq!(gone.status, 404);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_values_read_back_exactly() {
    let app = spawn_app().await;
    let (_, run) = call(&app, "POST", "/api/2.0/mlflow/runs/create", Some(json!({"experiment_id": "0"}))).await;
    let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    // Values whose shortest decimal needs all 17 digits: a best-effort float parser is off by one ULP.
    let values = [0.9925434121760651_f64, 0.1 + 0.2, 1e-300, 123456789.12345679];
    let metrics: Vec<Value> =
        values.iter().enumerate().map(|(i, v)| json!({"key": "x", "value": v, "timestamp": 1, "step": i})).collect();
    let (status, _) =
        call(&app, "POST", "/api/2.0/mlflow/runs/log-batch", Some(json!({"run_id": id, "metrics": metrics}))).await;
    assert_eq!(status, 200);
    let reply = app
        .request_raw(
            "GET",
            &format!("/api/2.0/mlflow/metrics/get-history?run_id={id}&metric_key=x"),
            &[("authorization", admin_auth().as_str())],
            None,
        )
        .await;
    let history: Value = serde_json::from_str(&reply.body).unwrap();
    let got: Vec<f64> = history["metrics"].as_array().unwrap().iter().map(|m| m["value"].as_f64().unwrap()).collect();
    assert_eq!(got, values, "{}", reply.body);
    app.stop().await.unwrap();
}
