//! The Pipelines REST API and pages through the real router, on the backend the run chose: a
//! definition file read at start, a trigger with parameters, the run followed to its end with
//! its tasks' states and its command's log, the actions (cancel, clear, mark), and the errors
//! bad input gets — each naming the thing and the rule, with a 4xx.

mod common;

use std::time::Duration;

use common::{admin_auth, basic, spawn_app_with, TestApp};
use okrflow_engine::accounts::Role;
use serde_json::{json, Value};

const HELLO: &str = r#"
description = "says hello, then decides"

[params.who]
type = "string"
default = "world"

[params.loud]
type = "boolean"
default = false

[[tasks]]
id = "greet"
type = "command"
config = { program = "sh", args = ["-c", "echo hello {{ params.who }}; echo loud={{ params.loud }}"] }

[[tasks]]
id = "after"
type = "noop"
upstream = ["greet"]
"#;

const SLEEPY: &str = r#"
[[tasks]]
id = "nap"
type = "command"
config = { program = "sleep", args = ["30"] }

[[tasks]]
id = "then"
type = "noop"
upstream = ["nap"]
"#;

async fn app() -> TestApp {
    spawn_app_with(|config| {
        let dir = config.data_dir.join("pipelines");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello.toml"), HELLO).unwrap();
        std::fs::write(dir.join("sleepy.toml"), SLEEPY).unwrap();
    })
    .await
}

async fn call(app: &TestApp, method: &str, path: &str, auth: &str, body: Option<&str>) -> (u16, Value) {
    let headers = [("authorization", auth), ("content-type", "application/json")];
    let reply = app.request_raw(method, path, &headers, body.map(|b| b.as_bytes().to_vec())).await;
    (reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::String(reply.body)))
}

async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    call(app, method, path, &admin_auth(), body.as_deref()).await
}

async fn until_done(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let (status, run) = admin(app, "GET", path, None).await;
        assert_eq!(status, 200, "{run}");
        if done(&run) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} did not get there: {:?}", admin(app, "GET", path, None).await);
}

fn states(run: &Value) -> Vec<(String, String)> {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["task_id"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_triggered_run_runs_its_tasks_and_shows_on_the_pages() {
    let app = app().await;
    let (status, list) = admin(&app, "GET", "/api/v1/pipelines", None).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["pipelines"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["hello", "sleepy"]);

    let (status, started) = admin(
        &app,
        "POST",
        "/api/v1/pipelines/hello/runs",
        Some(json!({ "params": { "who": "okr team", "loud": true } })),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    let run = started["run_id"].as_i64().unwrap();
    let path = format!("/api/v1/pipelines/hello/runs/{run}");
    let done = until_done(&app, &path, |r| r["run"]["state"] == "success" || r["run"]["state"] == "failed").await;
    assert_eq!(done["run"]["state"], "success", "{done}");
    assert_eq!(states(&done), pairs(&[("greet", "success"), ("after", "success")]));
    assert_eq!(done["run"]["params"], json!({ "who": "okr team", "loud": true }));
    assert_eq!(done["run"]["triggered_by"], "admin");

    let (status, log) = admin(&app, "GET", &format!("{path}/tasks/greet/log"), None).await;
    assert_eq!(status, 200, "{log}");
    let text = log["text"].as_str().unwrap();
    assert!(text.contains("hello okr team\nloud=true\n"), "{text}");
    assert_eq!(log["done"], true);

    let (status, runs) = admin(&app, "GET", "/api/v1/pipelines/hello/runs?limit=10", None).await;
    assert_eq!(status, 200);
    assert_eq!(runs["runs"][0]["id"], run);

    // The pages, server-rendered.
    let page = app.get_as_admin("/pipelines").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-pipeline=\"hello\"") && page.body.contains("says hello, then decides"),
        "{}",
        page.body
    );
    let page = app.get_as_admin("/pipelines/hello").await;
    assert!(
        page.body.contains("data-testid=\"run-grid\"") && page.body.contains("data-state=\"success\""),
        "{}",
        page.body
    );
    let page = app.get_as_admin(&format!("/pipelines/hello/runs/{run}")).await;
    assert!(page.body.contains(&format!("Run #{run} of hello")), "{}", page.body);
    let page = app.get_as_admin("/pipelines/hello/trigger").await;
    assert!(page.body.contains("data-param=\"who\"") && page.body.contains("data-param=\"loud\""), "{}", page.body);

    // Audited once.
    let audit = okrflow_engine::accounts::audit::query(
        app.engine.db(),
        &okrflow_engine::accounts::AuditQuery {
            action: Some("pipeline.trigger".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target, "pipeline hello");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_clear_and_mark_act_on_a_run_and_bad_input_is_named() {
    let app = app().await;
    let (_, started) = admin(&app, "POST", "/api/v1/pipelines/sleepy/runs", Some(json!({}))).await;
    let run = started["run_id"].as_i64().unwrap();
    let path = format!("/api/v1/pipelines/sleepy/runs/{run}");
    until_done(&app, &path, |r| r["tasks"][0]["state"] == "running").await;

    // Marked success while it sleeps: its command is stopped and the run goes on.
    let (status, marked) = admin(
        &app,
        "POST",
        &format!("{path}/tasks/nap/mark"),
        Some(json!({ "state": "success", "note": "done by hand" })),
    )
    .await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["tasks"][0]["message"], "marked success by admin: done by hand");
    let done = until_done(&app, &path, |r| r["run"]["state"] == "success").await;
    assert_eq!(states(&done), pairs(&[("nap", "success"), ("then", "success")]));
    assert_eq!(done["attempts"][0]["state"], "cancelled", "the attempt itself was stopped");

    // Cancelling an ended run is a conflict; clearing runs it again.
    let (status, e) = admin(&app, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(
        (status, e["error"].as_str().unwrap()),
        (409, &*format!("run {run} has ended (success); only a queued or running run can be cancelled"))
    );
    let (status, cleared) = admin(&app, "POST", &format!("{path}/tasks/nap/clear"), None).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["run"]["state"], "running");
    until_done(&app, &path, |r| r["tasks"][0]["state"] == "running" && r["tasks"][0]["attempts"] == 2).await;
    let (status, cancelled) = admin(&app, "POST", &format!("{path}/cancel"), None).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["run"]["state"], "cancelled");
    assert_eq!(states(&cancelled), pairs(&[("nap", "cancelled"), ("then", "cancelled")]));

    // Bad input: each refusal names what and why.
    let cases: Vec<(&str, String, Option<&str>, u16, String)> = vec![
        (
            "POST",
            "/api/v1/pipelines/hello/runs".into(),
            Some(r#"{"params":{"whom":"x"}}"#),
            400,
            "pipeline 'hello' has no parameter 'whom' (it has loud, who)".into(),
        ),
        (
            "POST",
            "/api/v1/pipelines/hello/runs".into(),
            Some(r#"{"params":{"loud":"yes"}}"#),
            400,
            "parameter 'loud' must be a boolean".into(),
        ),
        ("POST", "/api/v1/pipelines/hello/runs".into(), Some("not json"), 400, "the body is not valid".into()),
        (
            "POST",
            "/api/v1/pipelines/hello/runs".into(),
            Some(r#"{"parameters":{}}"#),
            400,
            "unknown field `parameters`".into(),
        ),
        ("POST", "/api/v1/pipelines/nowhere/runs".into(), Some("{}"), 404, "no pipeline 'nowhere'".into()),
        ("GET", format!("/api/v1/pipelines/hello/runs/{run}"), None, 404, format!("pipeline 'hello' has no run {run}")),
        ("GET", "/api/v1/pipelines/sleepy/runs/999999".into(), None, 404, "no run 999999".into()),
        ("GET", "/api/v1/pipelines/sleepy/runs/abc".into(), None, 400, "the path is not valid".into()),
        ("POST", format!("{path}/tasks/ghost/clear"), None, 404, format!("run {run} has no task 'ghost'")),
        ("POST", format!("{path}/tasks/nap/mark"), Some(r#"{"state":"maybe"}"#), 400, "unknown variant `maybe`".into()),
        ("GET", "/api/v1/pipelines/sleepy/runs?limit=0".into(), None, 400, "limit must be 1 to 500; got 0".into()),
    ];
    for (method, path, body, status, message) in cases {
        let (got, answer) = call(&app, method, &path, &admin_auth(), body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        let text = answer["error"].as_str().unwrap_or_default();
        assert!(text.contains(&message), "{method} {path}: {text}");
    }

    // A viewer reads but does not trigger.
    app.create_user("vera", "a long password", Role::Viewer).await;
    let viewer = basic("vera", "a long password");
    assert_eq!(call(&app, "GET", "/api/v1/pipelines", &viewer, None).await.0, 200);
    assert_eq!(call(&app, "POST", "/api/v1/pipelines/hello/runs", &viewer, Some("{}")).await.0, 403);
    assert_eq!(call(&app, "POST", &format!("{path}/cancel"), &viewer, None).await.0, 403);
    app.stop().await.unwrap();
}
