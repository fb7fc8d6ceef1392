//! The tracking pages through the real router: a run logged over MLflow's API, as a client logs
//! it, shows on the server-rendered Experiments list, runs table, Run, Compare and Models pages;
//! the pages' server functions refuse bad input with a 400 that says why, and a viewer's edit
//! with a 403. (Playwright drives the same pages in a browser: end2end/tests/tracking.spec.ts.)

mod common;

use common::{admin_auth, server_fn_path, spawn_app, TestApp};
use okrflow_engine::accounts::Role;
use serde_json::{json, Value};

async fn mlflow(app: &TestApp, method: &str, path: &str, body: Vec<u8>, content_type: &str) -> Value {
    let auth = admin_auth();
    let headers = [("authorization", auth.as_str()), ("content-type", content_type)];
    let reply = app.request_raw(method, path, &headers, Some(body)).await;
    assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    mlflow(app, "POST", &format!("/api/2.0/mlflow/{path}"), body.to_string().into_bytes(), "application/json").await
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn new_run(app: &TestApp, exp: &str, name: &str, auc: f64, depth: &str) -> String {
    let run = post(app, "runs/create", json!({ "experiment_id": exp, "run_name": name })).await;
    let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let metrics: Vec<Value> = (0..3)
        .map(|s| json!({ "key": "auc", "value": auc - 0.1 * (2 - s) as f64, "timestamp": 1000 + s, "step": s }))
        .collect();
    let batch = json!({
        "run_id": id,
        "metrics": metrics,
        "params": [{ "key": "depth", "value": depth }, { "key": "seed", "value": "7" }],
        "tags": [{ "key": "team", "value": "growth" }],
    });
    post(app, "runs/log-batch", batch).await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logged_run_shows_on_every_tracking_page() {
    let app = spawn_app().await;
    let exp = post(&app, "experiments/create", json!({ "name": "pages-exp" })).await["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = new_run(&app, &exp, "forest-run", 0.91, "4").await;
    let other = new_run(&app, &exp, "shallow-run", 0.72, "2").await;
    let artifact = format!("/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/report/rows.csv");
    mlflow(&app, "PUT", &artifact, b"key_result,probability\nKR-7,0.8\n".to_vec(), "text/csv").await;
    post(&app, "registered-models/create", json!({ "name": "pages-model" })).await;
    let source = format!("runs:/{run}/model");
    post(&app, "model-versions/create", json!({ "name": "pages-model", "source": source, "run_id": run })).await;
    post(&app, "registered-models/alias", json!({ "name": "pages-model", "alias": "champion", "version": "1" })).await;

    let list = app.get_as_admin("/experiments").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("pages-exp") && list.body.contains(&format!("data-experiment=\"{exp}\"")),
        "{}",
        list.body
    );

    let table = app.get_as_admin(&format!("/experiments/{exp}")).await;
    assert_eq!(table.status, 200);
    for expected in ["forest-run", "shallow-run", &format!("data-run=\"{run}\""), "0.91", "depth"] {
        assert!(table.body.contains(expected), "runs table lacks {expected}");
    }

    let page = app.get_as_admin(&format!("/runs/{run}")).await;
    assert_eq!(page.status, 200);
    for expected in ["forest-run", "pages-exp", "depth", "growth", "chart-auc", "pages-model v1"] {
        assert!(page.body.contains(expected), "run page lacks {expected}");
    }

    let compare = app.get_as_admin(&format!("/compare?runs={run},{other}")).await;
    assert_eq!(compare.status, 200);
    assert!(compare.body.contains("forest-run") && compare.body.contains("shallow-run"));
    assert!(compare.body.contains("compare-table") && compare.body.contains("parallel-chart"));

    let models = app.get_as_admin("/models").await;
    assert!(models.body.contains("pages-model") && models.body.contains("@champion"), "models page");
    let model = app.get_as_admin("/models/pages-model").await;
    assert!(model.body.contains("data-version=\"1\"") && model.body.contains("models:/pages-model@champion"));

    // The pages' server functions: the summaries count the runs; previews read the artifact.
    let summaries = app.post_form(&server_fn_path("list_experiments"), form(&[("deleted", "false")])).await;
    let summaries: Value = serde_json::from_str(&summaries.body).unwrap();
    let ours = summaries.as_array().unwrap().iter().find(|s| s["experiment"]["experiment_id"] == exp.as_str()).unwrap();
    assert_eq!((ours["runs"].as_i64(), ours["running"].as_i64()), (Some(2), Some(2)));
    let preview = app
        .post_form(&server_fn_path("preview_artifact"), form(&[("run_id", &run), ("path", "report/rows.csv")]))
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.body.contains("KR-7") && preview.body.contains("Table"), "{}", preview.body);
    let points = app
        .post_form(&server_fn_path("metric_points"), form(&[("run_ids", &format!("{run},{other}")), ("key", "auc")]))
        .await;
    let points: Value = serde_json::from_str(&points.body).unwrap();
    assert_eq!(points.as_array().map(Vec::len), Some(6), "three points of each run");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_server_functions_refuse_bad_input_and_viewers_edits() {
    let app = spawn_app().await;
    let exp = post(&app, "experiments/create", json!({ "name": "refusals" })).await["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = new_run(&app, &exp, "r", 0.5, "1").await;
    let search = |filter: &str, per_page: &str| {
        form(&[
            ("experiment_id", &exp),
            ("filter", filter),
            ("order_by", ""),
            ("page_token", ""),
            ("per_page", per_page),
        ])
    };
    let bad = app.post_form(&server_fn_path("search_runs"), search("metrics.auc <> 1", "50")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("character"), "the error names the position: {}", bad.body);
    let too_many = app.post_form(&server_fn_path("search_runs"), search("", "5000")).await;
    assert_eq!(too_many.status, 400, "{}", too_many.body);
    assert!(too_many.body.contains("per_page"), "{}", too_many.body);
    let forged =
        form(&[("experiment_id", &exp), ("filter", ""), ("order_by", ""), ("page_token", "abc"), ("per_page", "5")]);
    assert_eq!(app.post_form(&server_fn_path("search_runs"), forged).await.status, 400);
    for path in ["../../0/x", "%2e%2e/x", "/etc/passwd", "a\\b", ""] {
        let r = app.post_form(&server_fn_path("preview_artifact"), form(&[("run_id", &run), ("path", path)])).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    let missing =
        app.post_form(&server_fn_path("preview_artifact"), form(&[("run_id", &run), ("path", "nope.txt")])).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let unknown = app.post_form(&server_fn_path("get_run"), form(&[("id", "0123456789abcdef0123456789abcdef")])).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let compare = app.post_form(&server_fn_path("compare_runs"), form(&[("ids", "")])).await;
    assert_eq!(compare.status, 400, "{}", compare.body);
    let no_model = app.post_form(&server_fn_path("get_model"), form(&[("name", "nope")])).await;
    assert_eq!(no_model.status, 404, "{}", no_model.body);

    // A viewer reads the pages' data but cannot change the note.
    app.create_user("vic", "a long password", Role::Viewer).await;
    let viewer = common::basic("vic", "a long password");
    let note = form(&[("run_id", &run), ("key", "mlflow.note.content"), ("value", "hello")]);
    let refused =
        app.request("POST", &server_fn_path("set_run_tag"), &[("authorization", &viewer)], Some(note.clone())).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let read = app
        .request("POST", &server_fn_path("get_run"), &[("authorization", &viewer)], Some(form(&[("id", &run)])))
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    // The admin can; an empty note clears it, twice without complaint.
    assert_eq!(app.post_form(&server_fn_path("set_run_tag"), note).await.status, 200);
    let clear = form(&[("run_id", &run), ("key", "mlflow.note.content"), ("value", "")]);
    assert_eq!(app.post_form(&server_fn_path("set_run_tag"), clear.clone()).await.status, 200);
    assert_eq!(app.post_form(&server_fn_path("set_run_tag"), clear).await.status, 200);
    let bad_alias = form(&[("name", "nope"), ("alias", "latest"), ("version", "1")]);
    let r = app.post_form(&server_fn_path("set_model_alias"), bad_alias).await;
    assert!((400..500).contains(&r.status), "{}", r.body);
    app.stop().await.unwrap();
}
