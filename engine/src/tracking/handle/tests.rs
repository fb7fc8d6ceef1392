use super::*;
use crate::accounts::{AuditQuery, AuthMethod, Principal};
use crate::db::testing::both_backends;
use crate::tracking::{
    ArtifactEntry, Metric, ModelOutput, NewLoggedModel, NewModelVersion, NewRun, RunColumns, RunPage, RunQuery,
    RunStatus, ViewType, RUN_NAME_TAG,
};

fn as_role(role: Role) -> Actor {
    let p = Principal { user_id: 1, username: format!("the {}", role.as_str()), role, via: AuthMethod::Token };
    Actor::user(p, "10.1.2.3")
}

fn editor() -> Actor {
    as_role(Role::Editor)
}

fn tag(key: &str, value: &str) -> Tag {
    Tag { key: key.into(), value: value.into() }
}

fn names(page: &ExperimentPage) -> Vec<&str> {
    page.experiments.iter().map(|e| e.name.as_str()).collect()
}

async fn search(t: &Tracking, filter: &str, order: &[&str], view: ViewType) -> Result<ExperimentPage, TrackingError> {
    let q = ExperimentQuery {
        view_type: view,
        filter: Some(filter.into()),
        order_by: order.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    t.search_experiments(&editor(), &q).await
}

both_backends! {
    async fn experiments_are_created_found_renamed_deleted_and_restored(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let default = t.experiment(&editor(), "0").await.unwrap();
        Tracking::open(db.clone()).await.unwrap(); // a second start finds it and adds nothing
        assert_eq!((default.name.as_str(), default.artifact_location.as_str()), ("Default", "mlflow-artifacts:/0"));

        let id = t.create_experiment(&editor(), "okr-churn", None, &[tag("team", "growth")]).await.unwrap();
        assert_eq!(id, "1", "ids continue after the Default experiment's 0");
        let e = t.experiment_by_name(&editor(), "okr-churn").await.unwrap();
        assert_eq!(e.experiment_id, id);
        assert_eq!(e.artifact_location, "mlflow-artifacts:/1");
        assert_eq!(e.tags, [tag("team", "growth")]);
        assert_eq!(e.lifecycle_stage, Lifecycle::Active);

        let dup = t.create_experiment(&editor(), "okr-churn", None, &[]).await.unwrap_err();
        assert_eq!((dup.code(), dup.kind()), ("RESOURCE_ALREADY_EXISTS", ErrorKind::Invalid));
        let missing = t.experiment_by_name(&editor(), "nope").await.unwrap_err();
        assert_eq!((missing.code(), missing.kind()), ("RESOURCE_DOES_NOT_EXIST", ErrorKind::NotFound));
        assert_eq!(t.experiment(&editor(), "abc").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(t.experiment(&editor(), "99").await.unwrap_err().kind(), ErrorKind::NotFound);

        t.rename_experiment(&editor(), &id, "okr-attrition").await.unwrap();
        assert_eq!(t.experiment(&editor(), &id).await.unwrap().name, "okr-attrition");
        let taken = t.rename_experiment(&editor(), &id, "Default").await.unwrap_err();
        assert_eq!(taken.code(), "RESOURCE_ALREADY_EXISTS");

        t.delete_experiment(&editor(), &id).await.unwrap();
        assert_eq!(t.experiment(&editor(), &id).await.unwrap().lifecycle_stage, Lifecycle::Deleted);
        assert_eq!(t.delete_experiment(&editor(), &id).await.unwrap_err().kind(), ErrorKind::Invalid);
        assert!(t.set_experiment_tag(&editor(), &id, &tag("a", "b")).await.is_err(), "a deleted experiment's tags stay");
        t.restore_experiment(&editor(), &id).await.unwrap();
        assert_eq!(t.experiment(&editor(), &id).await.unwrap().lifecycle_stage, Lifecycle::Active);
        let default_delete = t.delete_experiment(&editor(), "0").await.unwrap_err();
        assert!(default_delete.to_string().contains("Default"), "{default_delete}");

        t.set_experiment_tag(&editor(), &id, &tag("team", "retention")).await.unwrap();
        t.set_experiment_tag(&editor(), &id, &tag("owner", "ana")).await.unwrap();
        let e = t.experiment(&editor(), &id).await.unwrap();
        assert_eq!(e.tags, [tag("owner", "ana"), tag("team", "retention")]);
        t.delete_experiment_tag(&editor(), &id, "owner").await.unwrap();
        assert_eq!(t.delete_experiment_tag(&editor(), &id, "owner").await.unwrap_err().kind(), ErrorKind::NotFound);

        let audit = accounts::audit::query(&db, &AuditQuery::default()).await.unwrap();
        let mut actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        actions.reverse();
        assert_eq!(
            actions,
            [
                "experiment.create", "experiment.rename", "experiment.delete", "experiment.restore",
                "experiment.set_tag", "experiment.set_tag", "experiment.delete_tag"
            ],
            "each change audited once; refusals and reads not at all"
        );
    }

    async fn viewers_read_editors_write_and_bad_input_is_named(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let viewer = as_role(Role::Viewer);
        let refused = t.create_experiment(&viewer, "x", None, &[]).await.unwrap_err();
        assert_eq!((refused.kind(), refused.code()), (ErrorKind::Forbidden, "PERMISSION_DENIED"));
        let nobody = Actor::anonymous("10.0.0.9");
        assert_eq!(t.experiment(&nobody, "0").await.unwrap_err().code(), "UNAUTHENTICATED");
        assert!(t.experiment(&viewer, "0").await.is_ok());

        let bad = |e: TrackingError| (e.kind(), e.to_string());
        let (kind, text) = bad(t.create_experiment(&editor(), "  ", None, &[]).await.unwrap_err());
        assert_eq!(kind, ErrorKind::Invalid);
        assert!(text.contains("needs a name"), "{text}");
        let (_, text) = bad(t.create_experiment(&editor(), &"n".repeat(501), None, &[]).await.unwrap_err());
        assert!(text.contains("at most 500 characters"), "{text}");
        let (_, text) = bad(t.create_experiment(&editor(), "x", None, &[tag(&"k".repeat(251), "v")]).await.unwrap_err());
        assert!(text.contains("maximum length of 250"), "{text}");
        let (_, text) = bad(t.create_experiment(&editor(), "x", Some("s3://elsewhere/x"), &[]).await.unwrap_err());
        assert!(text.contains("okrflow keeps artifacts"), "{text}");
        let (_, text) = bad(t.create_experiment(&editor(), "x", None, &[tag("k", &"v".repeat(20_001))]).await.unwrap_err());
        assert!(text.contains("more than 20000 characters"), "{text}");
        assert!(experiments::get_by_name(&db, "x").await.unwrap().is_none(), "nothing half-written");
    }

    async fn experiments_are_searched_with_mlflow_filters_orders_and_pages(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        for (name, team) in [("okr-Churn", "growth"), ("okr-revenue", "finance"), ("ops_latency", "growth"), ("OKR-misc", "ops")] {
            t.create_experiment(&editor(), name, None, &[tag("team", team)]).await.unwrap();
        }
        let all = search(&t, "", &["name ASC"], ViewType::ActiveOnly).await.unwrap();
        assert_eq!(names(&all), ["Default", "OKR-misc", "okr-Churn", "okr-revenue", "ops_latency"]);
        // LIKE is case-sensitive on both backends, ILIKE is not; `_` is one character.
        assert_eq!(names(&search(&t, "name LIKE 'okr-%'", &["name"], ViewType::All).await.unwrap()), ["okr-Churn", "okr-revenue"]);
        assert_eq!(
            names(&search(&t, "name ILIKE 'okr-%'", &["name"], ViewType::All).await.unwrap()),
            ["OKR-misc", "okr-Churn", "okr-revenue"]
        );
        assert_eq!(names(&search(&t, "name LIKE 'ops_latenc_'", &[], ViewType::All).await.unwrap()), ["ops_latency"]);
        assert_eq!(
            names(&search(&t, "tags.team = 'growth' AND name != 'ops_latency'", &[], ViewType::All).await.unwrap()),
            ["okr-Churn"]
        );
        let default_made = t.experiment(&editor(), "0").await.unwrap().creation_time;
        let last_made = t.experiment_by_name(&editor(), "OKR-misc").await.unwrap().creation_time;
        let since = format!("creation_time >= {default_made} AND last_update_time <= {last_made}");
        assert_eq!(search(&t, &since, &[], ViewType::All).await.unwrap().experiments.len(), 5);
        let after = format!("creation_time > {last_made}");
        assert!(search(&t, &after, &[], ViewType::All).await.unwrap().experiments.is_empty());
        assert_eq!(
            names(&search(&t, "", &["experiment_id DESC"], ViewType::All).await.unwrap())[..2],
            ["OKR-misc", "ops_latency"]
        );
        // Deleted ones only when asked for.
        let id = t.experiment_by_name(&editor(), "okr-revenue").await.unwrap().experiment_id;
        t.delete_experiment(&editor(), &id).await.unwrap();
        assert_eq!(names(&search(&t, "", &[], ViewType::DeletedOnly).await.unwrap()), ["okr-revenue"]);
        assert!(!names(&search(&t, "", &[], ViewType::ActiveOnly).await.unwrap()).contains(&"okr-revenue"));
        // Pages of two until the last, which has no token.
        let mut q = ExperimentQuery { view_type: ViewType::All, max_results: Some(2), order_by: vec!["name".into()], ..Default::default() };
        let mut seen = Vec::new();
        loop {
            let page = t.search_experiments(&editor(), &q).await.unwrap();
            seen.extend(page.experiments.iter().map(|e| e.name.clone()));
            match page.next_page_token {
                Some(token) => q.page_token = Some(token),
                None => break,
            }
        }
        assert_eq!(seen, ["Default", "OKR-misc", "okr-Churn", "okr-revenue", "ops_latency"]);
        // Bad searches are named.
        for (filter, order, says) in [
            ("name = 'a' OR name = 'b'", "name", "AND between clauses"),
            ("", "size", "experiments sort by name"),
            ("", "name SIDEWAYS", "ASC or DESC"),
        ] {
            let err = search(&t, filter, &[order], ViewType::All).await.unwrap_err();
            assert!(err.to_string().contains(says) && err.kind() == ErrorKind::Invalid, "{err}");
        }
        let q = ExperimentQuery { max_results: Some(50_001), ..Default::default() };
        assert!(t.search_experiments(&editor(), &q).await.unwrap_err().to_string().contains("between 1 and 50000"));
        let q = ExperimentQuery { page_token: Some("garbage".into()), ..Default::default() };
        assert!(t.search_experiments(&editor(), &q).await.unwrap_err().to_string().contains("invalid page_token"));
    }
}

both_backends! {
    async fn runs_start_change_end_and_keep_their_params(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-runs", None, &[]).await.unwrap();
        let new = NewRun { experiment_id: exp.clone(), start_time: Some(1_000), tags: vec![tag("team", "growth")], ..Default::default() };
        let run = t.create_run(&editor(), &new).await.unwrap();
        let id = run.info.run_id.clone();
        assert_eq!((run.info.run_uuid.as_str(), run.info.status), (id.as_str(), RunStatus::Running));
        assert_eq!(run.info.artifact_uri, format!("mlflow-artifacts:/{exp}/{id}/artifacts"));
        assert_eq!(run.info.user_id, "the editor", "the caller, when no user is given");
        assert!(run.info.run_name.split('-').count() == 3, "a generated name: {}", run.info.run_name);
        assert!(run.data.tags.contains(&tag(RUN_NAME_TAG, &run.info.run_name)), "{:?}", run.data.tags);

        let named = NewRun { experiment_id: exp.clone(), run_name: Some("baseline".into()), ..Default::default() };
        assert_eq!(t.create_run(&editor(), &named).await.unwrap().info.run_name, "baseline");
        let clash = NewRun { tags: vec![tag(RUN_NAME_TAG, "other")], ..named.clone() };
        assert!(t.create_run(&editor(), &clash).await.unwrap_err().to_string().contains("differ"));
        let nowhere = NewRun { experiment_id: "77".into(), ..Default::default() };
        assert_eq!(t.create_run(&editor(), &nowhere).await.unwrap_err().code(), "RESOURCE_DOES_NOT_EXIST");

        t.log_param(&editor(), &id, &tag("lr", "0.1")).await.unwrap();
        t.log_param(&editor(), &id, &tag("lr", "0.1")).await.unwrap();
        let changed = t.log_param(&editor(), &id, &tag("lr", "0.2")).await.unwrap_err();
        assert_eq!(changed.code(), "INVALID_PARAMETER_VALUE");
        assert!(changed.to_string().contains("Changing param values is not allowed"), "{changed}");
        // Values over MLflow's limits are cut to them, as MLflow 3's server does; keys are refused.
        t.log_param(&editor(), &id, &tag("big", &"x".repeat(6_001))).await.unwrap();
        t.set_run_tag(&editor(), &id, &tag("long", &"t".repeat(8_001))).await.unwrap();
        let kept = t.run(&editor(), &id).await.unwrap();
        assert_eq!(kept.data.params.iter().find(|p| p.key == "big").unwrap().value.len(), 6_000);
        assert_eq!(kept.data.tags.iter().find(|p| p.key == "long").unwrap().value.len(), 8_000);
        t.delete_run_tag(&editor(), &id, "long").await.unwrap();
        let bad_key = t.log_param(&editor(), &id, &tag("../up", "1")).await.unwrap_err();
        assert!(bad_key.to_string().contains("is not valid"), "{bad_key}");

        t.set_run_tag(&editor(), &id, &tag(RUN_NAME_TAG, "renamed")).await.unwrap();
        let info = t.update_run(&editor(), &id, Some(RunStatus::Finished), Some(2_000), None).await.unwrap();
        assert_eq!((info.run_name.as_str(), info.status, info.end_time), ("renamed", RunStatus::Finished, Some(2_000)));
        let run = t.run(&editor(), &id).await.unwrap();
        assert_eq!(run.data.params.iter().find(|p| p.key == "lr"), Some(&tag("lr", "0.1")));
        assert!(run.data.tags.contains(&tag("team", "growth")));
        t.delete_run_tag(&editor(), &id, "team").await.unwrap();
        assert_eq!(t.delete_run_tag(&editor(), &id, "team").await.unwrap_err().kind(), ErrorKind::NotFound);
        // The pages' clear: what is not there is cleared already, but the run must exist and
        // the caller must be an editor.
        t.set_run_tag(&editor(), &id, &tag("mlflow.note.content", "hello")).await.unwrap();
        assert!(t.clear_run_tag(&editor(), &id, "mlflow.note.content").await.unwrap());
        assert!(!t.clear_run_tag(&editor(), &id, "mlflow.note.content").await.unwrap());
        assert_eq!(t.clear_run_tag(&editor(), "not-a-run", "x").await.unwrap_err().kind(), ErrorKind::NotFound);
        let viewer_clear = t.clear_run_tag(&as_role(Role::Viewer), &id, "x").await.unwrap_err();
        assert_eq!(viewer_clear.kind(), ErrorKind::Forbidden);
        // Several runs at once, in the order asked; an unknown id names itself.
        let both = t.runs_by_id(&as_role(Role::Viewer), &[&id, &id]).await.unwrap();
        assert_eq!(both.iter().map(|r| r.info.run_id.as_str()).collect::<Vec<_>>(), [id.as_str(), id.as_str()]);
        let unknown = t.runs_by_id(&editor(), &[&id, "nope"]).await.unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::NotFound);
        assert!(unknown.to_string().contains("nope"), "{unknown}");

        t.delete_run(&editor(), &id).await.unwrap();
        assert_eq!(t.run(&editor(), &id).await.unwrap().info.lifecycle_stage, Lifecycle::Deleted);
        assert!(t.log_param(&editor(), &id, &tag("x", "1")).await.unwrap_err().to_string().contains("deleted"));
        t.restore_run(&editor(), &id).await.unwrap();
        assert_eq!(t.run(&as_role(Role::Viewer), &id).await.unwrap().info.lifecycle_stage, Lifecycle::Active);
        assert_eq!(t.run(&editor(), "not-a-run").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(t.update_run(&as_role(Role::Viewer), &id, None, None, None).await.unwrap_err().kind(), ErrorKind::Forbidden);

        t.delete_experiment(&editor(), &exp).await.unwrap();
        let in_deleted = NewRun { experiment_id: exp, ..Default::default() };
        assert!(t.create_run(&editor(), &in_deleted).await.unwrap_err().to_string().contains("is deleted"));
    }
}

fn point(key: &str, value: f64, step: i64, timestamp: i64) -> Metric {
    Metric { key: key.into(), value, timestamp, step, ..Default::default() }
}

async fn new_run(t: &Tracking, exp: &str, name: &str, start: i64) -> String {
    let new = NewRun {
        experiment_id: exp.into(),
        run_name: Some(name.into()),
        start_time: Some(start),
        ..Default::default()
    };
    t.create_run(&editor(), &new).await.unwrap().info.run_id
}

both_backends! {
    async fn metrics_keep_every_point_nan_and_infinities_and_the_latest_value(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-metrics", None, &[]).await.unwrap();
        let id = new_run(&t, &exp, "m", 1).await;
        t.log_metric(&editor(), &id, &point("loss", 0.9, 0, 10)).await.unwrap();
        t.log_metric(&editor(), &id, &point("loss", 0.5, 2, 30)).await.unwrap();
        t.log_metric(&editor(), &id, &point("loss", 0.7, 1, 40)).await.unwrap(); // an older step, logged later
        t.log_metric(&editor(), &id, &point("loss", 0.7, 1, 40)).await.unwrap(); // a retry: kept once
        let batch = [point("odd", f64::NAN, 0, 1), point("odd", f64::INFINITY, 1, 1), point("odd", f64::NEG_INFINITY, 2, 1)];
        t.log_batch(&editor(), &id, &batch, &[tag("p", "1")], &[tag("t", "x")]).await.unwrap();

        let run = t.run(&editor(), &id).await.unwrap();
        let latest = |k: &str| run.data.metrics.iter().find(|m| m.key == k).cloned().unwrap();
        assert_eq!((latest("loss").value, latest("loss").step), (0.5, 2), "the greatest step wins, not the last logged");
        assert_eq!(latest("odd").value, f64::NEG_INFINITY);
        assert_eq!(run.data.params, [tag("p", "1")]);
        assert!(run.data.tags.contains(&tag("t", "x")));

        let history = t.metric_history(&editor(), &id, "loss", None, None).await.unwrap();
        let steps: Vec<(i64, f64)> = history.metrics.iter().map(|m| (m.step, m.value)).collect();
        assert_eq!(steps, [(0, 0.9), (2, 0.5), (1, 0.7)], "in timestamp order, as MLflow answers");
        assert!(history.next_page_token.is_none());
        let odd = t.metric_history(&editor(), &id, "odd", None, None).await.unwrap().metrics;
        assert!(odd[0].value.is_nan() && odd[1].value == f64::INFINITY && odd[2].value == f64::NEG_INFINITY);
        assert!(t.metric_history(&editor(), &id, "never", None, None).await.unwrap().metrics.is_empty());

        // NaN as the latest value: it ranks above every number at the same step.
        let id2 = new_run(&t, &exp, "n", 2).await;
        t.log_batch(&editor(), &id2, &[point("a", 1.0, 5, 5), point("a", f64::NAN, 5, 5)], &[], &[]).await.unwrap();
        assert!(t.run(&editor(), &id2).await.unwrap().data.metrics[0].value.is_nan());

        // JSON as MLflow writes it, both ways.
        let json = serde_json::to_string(&odd).unwrap();
        assert!(json.contains(r#""value":"NaN""#) && json.contains(r#""value":"Infinity""#) && json.contains(r#""value":"-Infinity""#), "{json}");
        let back: Vec<Metric> = serde_json::from_str(&json).unwrap();
        assert!(back[0].value.is_nan() && back[2].value == f64::NEG_INFINITY);
        let m: Metric = serde_json::from_str(r#"{"key":"k","value":"0.25","timestamp":1}"#).unwrap();
        assert_eq!((m.value, m.step), (0.25, 0));
        assert!(serde_json::from_str::<Metric>(r#"{"key":"k","value":"lots","timestamp":1}"#).is_err());
    }

    async fn a_batch_is_written_whole_or_not_at_all_within_mlflows_limits(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-batch", None, &[]).await.unwrap();
        let id = new_run(&t, &exp, "b", 1).await;
        let at_limit: Vec<Metric> = (0..1000).map(|i| point("m", i as f64, i, 1)).collect();
        t.log_batch(&editor(), &id, &at_limit, &[], &[]).await.unwrap();
        let params: Vec<Tag> = (0..100).map(|i| tag(&format!("p{i}"), "v")).collect();
        let tags: Vec<Tag> = (0..100).map(|i| tag(&format!("t{i}"), "v")).collect();
        t.log_batch(&editor(), &id, &[], &params, &tags).await.unwrap();
        let run = t.run(&editor(), &id).await.unwrap();
        assert_eq!((run.data.params.len(), run.data.tags.len()), (100, 101), "100 tags and the name tag");

        let fresh = new_run(&t, &exp, "c", 2).await;
        let over: Vec<Metric> = (0..1001).map(|i| point("m", 1.0, i, 1)).collect();
        let refusals = [
            (t.log_batch(&editor(), &fresh, &over, &[], &[]).await, "at most 1000 metrics"),
            (t.log_batch(&editor(), &fresh, &[], &(0..101).map(|i| tag(&format!("p{i}"), "v")).collect::<Vec<_>>(), &[]).await, "at most 100 params"),
            (t.log_batch(&editor(), &fresh, &at_limit[..950], &params[..30], &tags[..30]).await, "1000 metrics, params, and tags in total"),
            (t.log_batch(&editor(), &fresh, &at_limit[..5], &[tag("k", "1"), tag("k", "1")], &[]).await, "Duplicate parameter keys"),
            (t.log_batch(&editor(), &fresh, &[point("m", 1.0, 0, -1)], &[tag("ok", "1")], &[]).await, "must be 0 or more"),
            (t.log_batch(&editor(), &fresh, &[point(&"k".repeat(251), 1.0, 0, 1)], &[], &[]).await, "maximum length of 250"),
            (t.log_batch(&editor(), &fresh, &at_limit[..3], &[], &[tag("a//b", "v")]).await, "is not valid"),
        ];
        for (result, says) in refusals {
            let err = result.unwrap_err();
            assert!(err.to_string().contains(says) && err.code() == "INVALID_PARAMETER_VALUE", "{says}: {err}");
        }
        t.log_param(&editor(), &fresh, &tag("lr", "0.1")).await.unwrap();
        let changed = t.log_batch(&editor(), &fresh, &at_limit[..10], &[tag("lr", "0.2")], &[tag("t", "x")]).await.unwrap_err();
        assert!(changed.to_string().contains("Changing param values is not allowed"), "{changed}");
        let run = t.run(&editor(), &fresh).await.unwrap();
        assert!(run.data.metrics.is_empty() && run.data.tags.len() == 1 && run.data.params == [tag("lr", "0.1")], "refused batches wrote nothing: {:?}", run.data);
        assert!(t.metric_history(&editor(), &fresh, "m", None, None).await.unwrap().metrics.is_empty());
        assert_eq!(t.log_batch(&as_role(Role::Viewer), &fresh, &[], &[], &[]).await.unwrap_err().kind(), ErrorKind::Forbidden);

        let audit = accounts::audit::query(&db, &AuditQuery::default()).await.unwrap();
        let batches = audit.iter().filter(|a| a.action == "run.log_batch").count();
        assert_eq!(batches, 2, "one record per accepted batch, none for refusals");
    }

    async fn history_pages_by_token_and_charts_are_sampled_by_the_database(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-history", None, &[]).await.unwrap();
        let id = new_run(&t, &exp, "h", 1).await;
        for chunk in (0..5_000).collect::<Vec<i64>>().chunks(1000) {
            let points: Vec<Metric> = chunk.iter().map(|i| point("loss", *i as f64 / 10.0, *i, 100 + i)).collect();
            t.log_batch(&editor(), &id, &points, &[], &[]).await.unwrap();
        }
        let mut token = None;
        let mut steps = Vec::new();
        loop {
            let page = t.metric_history(&editor(), &id, "loss", Some(1_500), token.as_deref()).await.unwrap();
            assert!(page.metrics.len() <= 1_500);
            steps.extend(page.metrics.iter().map(|m| m.step));
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(steps, (0..5_000).collect::<Vec<_>>(), "every point once, in order, across four pages");
        // A token is for its own run and key only.
        let first = t.metric_history(&editor(), &id, "loss", Some(10), None).await.unwrap().next_page_token.unwrap();
        let other = new_run(&t, &exp, "o", 2).await;
        let forged = t.metric_history(&editor(), &other, "loss", Some(10), Some(&first)).await.unwrap_err();
        assert!(forged.to_string().contains("invalid page_token"), "{forged}");
        assert!(t.metric_history(&editor(), &id, "acc", Some(10), Some(&first)).await.is_err());

        let sampled = t.metric_history_sampled(&editor(), std::slice::from_ref(&id), "loss", (None, None), Some(100)).await.unwrap();
        assert!((90..=100).contains(&sampled.len()), "at most the 100 asked, and near: {}", sampled.len());
        assert_eq!((sampled[0].step, sampled.last().unwrap().step), (0, 4_999), "the ends are kept");
        assert!(sampled.windows(2).all(|w| w[0].step < w[1].step) && sampled.iter().all(|m| m.run_id.as_deref() == Some(id.as_str())));
        let window = t.metric_history_sampled(&editor(), std::slice::from_ref(&id), "loss", (Some(10), Some(19)), Some(100)).await.unwrap();
        assert_eq!(window.iter().map(|m| m.step).collect::<Vec<_>>(), (10..20).collect::<Vec<_>>(), "fewer than asked: all of them");
        assert!(t.metric_history_sampled(&editor(), &[], "loss", (None, None), None).await.is_err());
        assert!(t.metric_history_sampled(&editor(), std::slice::from_ref(&id), "loss", (Some(5), Some(1)), None).await.is_err());
    }

    async fn runs_are_searched_with_mlflows_grammar_orders_and_signed_pages(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-search", None, &[]).await.unwrap();
        let elsewhere = t.create_experiment(&editor(), "okr-elsewhere", None, &[]).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            let id = new_run(&t, &exp, &format!("run-{i}"), 1_000 + i).await;
            let params = [tag("model", if i % 2 == 0 { "forest" } else { "linear" }), tag("depth", &i.to_string())];
            let tags: Vec<Tag> = if i < 3 { vec![tag("team", "growth")] } else { vec![] };
            t.log_batch(&editor(), &id, &[point("rmse", i as f64 / 10.0, 0, 1)], &params, &tags).await.unwrap();
            ids.push(id);
        }
        t.update_run(&editor(), &ids[1], Some(RunStatus::Finished), Some(5_000), None).await.unwrap();
        new_run(&t, &elsewhere, "other", 1).await;
        let search = |filter: &str, order: &[&str]| {
            let q = RunQuery {
                experiment_ids: vec![exp.clone()],
                filter: Some(filter.into()),
                order_by: order.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            let t = t.clone();
            async move { t.search_runs(&editor(), &q).await }
        };
        let names = |page: RunPage| page.runs.into_iter().map(|r| r.info.run_name).collect::<Vec<_>>();
        assert_eq!(names(search("", &[]).await.unwrap()), ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"], "newest first");
        assert_eq!(names(search("metrics.rmse < 0.2", &[]).await.unwrap()), ["run-1", "run-0"]);
        assert_eq!(names(search("metrics.rmse >= 0.4 AND params.model = 'forest'", &[]).await.unwrap()), ["run-4"]);
        assert_eq!(names(search("params.model != 'forest'", &["run_name"]).await.unwrap()), ["run-1", "run-3", "run-5"]);
        assert_eq!(names(search("tags.team = 'growth'", &["metrics.rmse DESC"]).await.unwrap()), ["run-2", "run-1", "run-0"]);
        assert_eq!(names(search("tags.team IS NULL", &["run_name ASC"]).await.unwrap()), ["run-3", "run-4", "run-5"]);
        assert_eq!(search("tags.team IS NOT NULL", &[]).await.unwrap().runs.len(), 3);
        assert_eq!(names(search("attributes.status = 'FINISHED'", &[]).await.unwrap()), ["run-1"]);
        assert_eq!(names(search("attributes.run_name LIKE 'run-_' AND end_time > 4000", &[]).await.unwrap()), ["run-1"]);
        assert_eq!(names(search("run_name ILIKE 'RUN-3'", &[]).await.unwrap()), ["run-3"]);
        assert_eq!(names(search("run_name LIKE 'RUN-3'", &[]).await.unwrap()), Vec::<String>::new(), "LIKE is case-sensitive");
        let among = format!("attributes.run_id IN ('{}', '{}')", ids[0], ids[5]);
        assert_eq!(names(search(&among, &["attributes.start_time ASC"]).await.unwrap()), ["run-0", "run-5"]);
        assert_eq!(names(search("start_time >= 1004", &["params.depth DESC"]).await.unwrap()), ["run-5", "run-4"]);
        assert_eq!(names(search("metrics.`rmse` = 0.3 and tags.\"team\" IS NULL", &[]).await.unwrap()), ["run-3"]);
        // Runs without the sort key come last in both directions.
        let unmeasured = new_run(&t, &exp, "run-none", 2_000).await;
        assert_eq!(names(search("", &["metrics.rmse ASC"]).await.unwrap()).last().unwrap(), "run-none");
        assert_eq!(names(search("", &["metrics.rmse DESC"]).await.unwrap()).last().unwrap(), "run-none");
        t.delete_run(&editor(), &unmeasured).await.unwrap();
        let deleted = RunQuery { experiment_ids: vec![exp.clone()], view_type: ViewType::DeletedOnly, ..Default::default() };
        assert_eq!(names(t.search_runs(&editor(), &deleted).await.unwrap()), ["run-none"]);

        // Pages: no overlap, all seen; a token is bound to its query.
        let mut q = RunQuery { experiment_ids: vec![exp.clone()], max_results: Some(4), ..Default::default() };
        let first = t.search_runs(&editor(), &q).await.unwrap();
        let token = first.next_page_token.clone().unwrap();
        q.page_token = Some(token.clone());
        let second = t.search_runs(&editor(), &q).await.unwrap();
        assert_eq!((first.runs.len(), second.runs.len(), second.next_page_token.is_none()), (4, 2, true));
        let other = RunQuery { experiment_ids: vec![elsewhere.clone()], page_token: Some(token.clone()), max_results: Some(4), ..Default::default() };
        assert!(t.search_runs(&editor(), &other).await.unwrap_err().to_string().contains("invalid page_token"));
        let refiltered = RunQuery { filter: Some("metrics.rmse > 0".into()), ..q.clone() };
        assert!(t.search_runs(&editor(), &refiltered).await.is_err(), "another filter's token");

        // Bad filters name the position; bad orders and sizes are named.
        for (filter, says) in [
            ("metrics.rmse LIKE '1'", "compares with =, !=, <, <=, > or >="),
            ("metrics.rmse > 'x'", "expected a number at character 16"),
            ("params.model > 'a'", "IS NULL or IS NOT NULL"),
            ("sizes = 1", "unknown field 'sizes'"),
            ("run_id IN 'a'", "parenthesised list"),
            ("tags.team IS MAYBE", "NULL or NOT NULL"),
            ("params.model = 'a' OR params.model = 'b'", "AND between clauses"),
            ("params. = 'a'", "a key after 'params.'"),
        ] {
            let err = search(filter, &[]).await.unwrap_err();
            assert!(err.to_string().contains(says) && err.code() == "INVALID_PARAMETER_VALUE", "{filter}: {err}");
        }
        assert!(search("", &["metrics.rmse SIDEWAYS"]).await.unwrap_err().to_string().contains("ASC or DESC"));
        assert!(search("", &["colour"]).await.unwrap_err().to_string().contains("unknown field 'colour'"));
        let huge = RunQuery { experiment_ids: vec![exp.clone()], max_results: Some(50_001), ..Default::default() };
        assert!(t.search_runs(&editor(), &huge).await.is_err());
        let bad_id = RunQuery { experiment_ids: vec!["x1".into()], ..Default::default() };
        assert!(t.search_runs(&editor(), &bad_id).await.unwrap_err().to_string().contains("not an experiment id"));
    }
}

both_backends! {
    async fn logged_models_and_the_registry_keep_versions_aliases_and_locations(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let exp = t.create_experiment(&editor(), "okr-models", None, &[]).await.unwrap();
        let run = new_run(&t, &exp, "train", 1).await;
        let new = NewLoggedModel {
            experiment_id: exp.clone(),
            name: Some("model".into()),
            source_run_id: Some(run.clone()),
            params: vec![tag("depth", "4")],
            ..Default::default()
        };
        let model = t.create_logged_model(&editor(), &new).await.unwrap();
        let mid = model.info.model_id.clone();
        assert!(mid.starts_with("m-") && model.info.status == "LOGGED_MODEL_PENDING");
        assert_eq!(model.info.artifact_uri, format!("mlflow-artifacts:/{exp}/models/{mid}/artifacts"));
        t.log_outputs(&editor(), &run, &[ModelOutput { model_id: mid.clone(), step: 0 }]).await.unwrap();
        assert_eq!(t.run(&editor(), &run).await.unwrap().outputs.model_outputs[0].model_id, mid);
        let stranger = Metric { model_id: Some(format!("m-{}", "ef".repeat(16))), ..point("acc", 0.1, 0, 1) };
        let refused = t.log_batch(&editor(), &run, &[stranger], &[], &[]).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::NotFound, "{refused}");
        assert!(t.run(&editor(), &run).await.unwrap().data.metrics.is_empty(), "nothing of the refused batch");
        let metric = Metric { model_id: Some(mid.clone()), ..point("acc", 0.9, 0, 1) };
        t.log_batch(&editor(), &run, &[metric], &[], &[]).await.unwrap();
        t.set_logged_model_tags(&editor(), &mid, &[tag("mlflow.modelVersions", "[]")]).await.unwrap();
        let ready = t.finalize_logged_model(&editor(), &mid, "LOGGED_MODEL_READY").await.unwrap();
        assert_eq!((ready.info.status.as_str(), ready.data.metrics[0].value), ("LOGGED_MODEL_READY", 0.9));
        assert!(t.finalize_logged_model(&editor(), &mid, "DONE").await.is_err());
        let found = t.search_logged_models(&editor(), std::slice::from_ref(&exp), Some("name = 'model'"), None, &[], None).await.unwrap();
        assert_eq!(found.models.iter().map(|m| m.info.source_run_id.clone()).collect::<Vec<_>>(), [Some(run.clone())]);
        let none = t.search_logged_models(&editor(), std::slice::from_ref(&exp), Some("name = 'other'"), None, &[], None).await.unwrap();
        assert!(none.models.is_empty());

        t.create_registered_model(&editor(), "okr-risk", None, &[tag("team", "growth")]).await.unwrap();
        let dup = t.create_registered_model(&editor(), "okr-risk", None, &[]).await.unwrap_err();
        assert_eq!(dup.code(), "RESOURCE_ALREADY_EXISTS");
        let source = format!("models:/{mid}");
        let v1 = NewModelVersion { name: "okr-risk".into(), source: source.clone(), run_id: Some(run.clone()), model_id: Some(mid.clone()), ..Default::default() };
        let made = t.create_model_version(&editor(), &v1).await.unwrap();
        assert_eq!((made.version.as_str(), made.status.as_str(), made.current_stage.as_str()), ("1", "READY", "None"));
        let v2 = NewModelVersion { name: "okr-risk".into(), source: format!("runs:/{run}/model"), ..Default::default() };
        assert_eq!(t.create_model_version(&editor(), &v2).await.unwrap().version, "2");
        assert_eq!(t.model_version_download_uri(&editor(), "okr-risk", "1").await.unwrap(), ready.info.artifact_uri);
        let run_root = t.run(&editor(), &run).await.unwrap().info.artifact_uri;
        assert_eq!(t.model_version_download_uri(&editor(), "okr-risk", "2").await.unwrap(), format!("{run_root}/model"));

        t.set_alias(&editor(), "okr-risk", "champion", "1").await.unwrap();
        assert_eq!(t.version_by_alias(&editor(), "okr-risk", "champion").await.unwrap().version, "1");
        t.set_alias(&editor(), "okr-risk", "champion", "2").await.unwrap();
        assert_eq!(t.version_by_alias(&editor(), "okr-risk", "champion").await.unwrap().aliases, ["champion"]);
        assert!(t.set_alias(&editor(), "okr-risk", "latest", "1").await.is_err());
        assert_eq!(t.set_alias(&editor(), "okr-risk", "x", "9").await.unwrap_err().kind(), ErrorKind::NotFound);
        let missing = t.version_by_alias(&editor(), "okr-risk", "nope").await.unwrap_err();
        assert_eq!(missing.code(), "INVALID_PARAMETER_VALUE", "as MLflow answers a missing alias");
        let model = t.registered_model(&editor(), "okr-risk").await.unwrap();
        assert_eq!((model.latest_versions[0].version.as_str(), model.aliases.len()), ("2", 1));
        assert_eq!(t.latest_versions(&editor(), "okr-risk", &["Production".into()]).await.unwrap().len(), 0, "no stages");

        t.rename_registered_model(&editor(), "okr-risk", "okr-at-risk").await.unwrap();
        assert_eq!(t.version_by_alias(&editor(), "okr-at-risk", "champion").await.unwrap().name, "okr-at-risk", "versions and aliases move along");
        assert_eq!(t.registered_model(&editor(), "okr-risk").await.unwrap_err().code(), "RESOURCE_DOES_NOT_EXIST");
        let by_run = t.search_model_versions(&editor(), Some(&format!("run_id = '{run}'")), None, &[], None).await.unwrap();
        assert_eq!(by_run.model_versions.len(), 2, "version 1 through its logged model's run, version 2 through runs:/");
        assert_eq!(made.run_id.as_deref(), Some(run.as_str()));
        let by_number = t.search_model_versions(&editor(), Some("name = 'okr-at-risk' AND version_number = 2"), None, &[], None).await.unwrap();
        assert_eq!(by_number.model_versions[0].version, "2");
        let filter = "name LIKE 'okr-%' AND tag.`mlflow.prompt.is_prompt` != 'true'"; // as MLflow's client asks
        let listed = t.search_registered_models(&editor(), Some(filter), None, &["name ASC".into()], None).await.unwrap();
        assert_eq!(listed.registered_models.len(), 1);
        assert!(t.search_registered_models(&editor(), Some("colour = 'x'"), None, &[], None).await.is_err());

        t.delete_model_version(&editor(), "okr-at-risk", "2").await.unwrap();
        assert!(t.version_by_alias(&editor(), "okr-at-risk", "champion").await.is_err(), "the alias went with its version");
        assert_eq!(t.create_registered_model(&as_role(Role::Viewer), "x", None, &[]).await.unwrap_err().kind(), ErrorKind::Forbidden);
        t.delete_registered_model(&editor(), "okr-at-risk").await.unwrap();
        assert!(t.registered_model(&editor(), "okr-at-risk").await.is_err());
    }
}

both_backends! {
    async fn artifacts_are_kept_under_their_run_or_model_and_need_the_right_role(db, dir) {
        let storage = crate::storage::Storage::open(crate::storage::StorageUrl::default_in(&dir), &dir, db.clone(), "t".into()).await.unwrap();
        let t = Tracking::open(db.clone()).await.unwrap().with_artifacts(storage);
        let exp = t.create_experiment(&editor(), "okr-artifacts", None, &[]).await.unwrap();
        let run = t.create_run(&editor(), &NewRun { experiment_id: exp.clone(), ..Default::default() }).await.unwrap();
        let root = run.info.artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap().to_string();
        let body = || futures::stream::iter(vec![Ok::<_, String>(b"a,b\n1,2\n".to_vec())]);
        assert_eq!(t.put_artifact(&editor(), &format!("{root}/data/table.csv"), body()).await.unwrap(), 8);
        let listed = t.list_artifacts(&as_role(Role::Viewer), &root).await.unwrap();
        assert_eq!(listed, [ArtifactEntry { path: "data".into(), is_dir: true, file_size: None }]);
        let (uri, by_run) = t.list_run_artifacts(&editor(), &run.info.run_id, Some("data")).await.unwrap();
        assert_eq!((uri, by_run[0].path.as_str(), by_run[0].file_size), (run.info.artifact_uri.clone(), "data/table.csv", Some(8)));
        let refused = t.put_artifact(&as_role(Role::Viewer), &format!("{root}/x"), body()).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Forbidden);
        assert_eq!(t.put_artifact(&editor(), &format!("{root}/../x"), body()).await.unwrap_err().kind(), ErrorKind::Invalid);
        let stranger = format!("{exp}/{}/artifacts/x", "cd".repeat(16));
        assert_eq!(t.put_artifact(&editor(), &stranger, body()).await.unwrap_err().kind(), ErrorKind::NotFound, "no such run");

        let model = t.create_logged_model(&editor(), &NewLoggedModel { experiment_id: exp.clone(), ..Default::default() }).await.unwrap();
        let model_root = model.info.artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap().to_string();
        t.put_artifact(&editor(), &format!("{model_root}/MLmodel"), body()).await.unwrap();
        assert_eq!(t.list_artifacts(&editor(), &model_root).await.unwrap().len(), 1);
        t.delete_artifact(&editor(), &format!("{root}/data")).await.unwrap();
        assert!(t.list_artifacts(&editor(), &root).await.unwrap().is_empty());
        assert_eq!(t.artifact(&editor(), &format!("{root}/data/table.csv")).await.err().unwrap().kind(), ErrorKind::NotFound);
        let audit = accounts::audit::query(&db, &AuditQuery::default()).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.action.starts_with("artifact.")).count(), 3, "two puts and a delete, refusals not");
    }
}

both_backends! {
    async fn experiment_summaries_count_runs_and_columns_list_keys(db) {
        let t = Tracking::open(db.clone()).await.unwrap();
        let busy = t.create_experiment(&editor(), "busy", None, &[]).await.unwrap();
        let quiet = t.create_experiment(&editor(), "quiet", None, &[]).await.unwrap();
        let new = |start| NewRun { experiment_id: busy.clone(), start_time: Some(start), ..Default::default() };
        let a = t.create_run(&editor(), &new(5_000_000_000_000)).await.unwrap().info.run_id;
        let b = t.create_run(&editor(), &new(5_000_000_000_100)).await.unwrap().info.run_id;
        let gone = t.create_run(&editor(), &new(5_000_000_000_200)).await.unwrap().info.run_id;
        t.update_run(&editor(), &a, Some(RunStatus::Finished), Some(5_000_000_000_900), None).await.unwrap();
        t.delete_run(&editor(), &gone).await.unwrap();
        t.log_param(&editor(), &a, &tag("lr", "0.1")).await.unwrap();
        t.log_param(&editor(), &b, &tag("depth", "3")).await.unwrap();
        t.log_metric(&editor(), &b, &Metric { key: "auc".into(), value: 0.9, timestamp: 1, step: 0, ..Default::default() })
            .await
            .unwrap();
        t.set_run_tag(&editor(), &a, &tag("team", "growth")).await.unwrap();

        let viewer = as_role(Role::Viewer);
        let all = t.experiment_summaries(&viewer, ViewType::ActiveOnly).await.unwrap();
        let of = |id: &str| all.iter().find(|s| s.experiment.experiment_id == id).unwrap();
        assert_eq!(all[0].experiment.experiment_id, busy, "the latest activity first");
        assert_eq!((of(&busy).runs, of(&busy).running), (2, 1), "deleted runs are not counted");
        assert_eq!(of(&busy).last_activity, 5_000_000_000_900, "a run's end is activity");
        assert_eq!((of(&quiet).runs, of(&quiet).running), (0, 0));
        assert_eq!(of(&quiet).last_activity, of(&quiet).experiment.last_update_time);

        let columns = t.run_columns(&viewer, &busy).await.unwrap();
        assert_eq!(columns.params, ["depth", "lr"]);
        assert_eq!(columns.metrics, ["auc"]);
        assert!(columns.tags.contains(&"team".to_string()) && columns.tags.contains(&RUN_NAME_TAG.to_string()));
        assert_eq!(t.run_columns(&viewer, &quiet).await.unwrap(), RunColumns::default());
        assert_eq!(t.run_columns(&viewer, "404").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(t.experiment_summaries(&Actor::anonymous("10.0.0.1"), ViewType::All).await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    }
}
