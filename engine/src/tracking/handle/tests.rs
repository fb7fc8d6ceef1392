use super::*;
use crate::accounts::{AuditQuery, AuthMethod, Principal};
use crate::db::testing::both_backends;
use crate::tracking::{NewRun, RunStatus, ViewType, RUN_NAME_TAG};

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
        assert!(text.contains("1 to 250 characters"), "{text}");
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
        let long = t.log_param(&editor(), &id, &tag("big", &"x".repeat(6_001))).await.unwrap_err();
        assert!(long.to_string().contains("more than 6000 characters"), "{long}");

        t.set_run_tag(&editor(), &id, &tag(RUN_NAME_TAG, "renamed")).await.unwrap();
        let info = t.update_run(&editor(), &id, Some(RunStatus::Finished), Some(2_000), None).await.unwrap();
        assert_eq!((info.run_name.as_str(), info.status, info.end_time), ("renamed", RunStatus::Finished, Some(2_000)));
        let run = t.run(&editor(), &id).await.unwrap();
        assert_eq!(run.data.params, [tag("lr", "0.1")]);
        assert!(run.data.tags.contains(&tag("team", "growth")));
        t.delete_run_tag(&editor(), &id, "team").await.unwrap();
        assert_eq!(t.delete_run_tag(&editor(), &id, "team").await.unwrap_err().kind(), ErrorKind::NotFound);

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
