use super::*;
use crate::db::testing::both_backends;
use crate::pipelines::definition::parse;
use crate::pipelines::{versions, Origin, RunView};

/// A definition recorded as version 1 of its pipeline (runs need the pipeline's row).
async fn recorded(db: &Database, id: &str, text: &str) -> Definition {
    let d = parse(&format!("pipelines/{id}.toml"), text, Origin::File).unwrap_or_else(|p| panic!("{p:?}"));
    let d = Definition { id: id.into(), ..d };
    versions::record(db, id, "sha", text, None, 0).await.unwrap();
    d
}

async fn start(db: &Database, d: &Definition, now: i64) -> i64 {
    let params = BTreeMap::new();
    let run = NewRun {
        definition: d,
        version: 1,
        trigger: TriggerKind::Manual,
        triggered_by: "tester",
        params: &params,
        scheduled_ms: None,
        now_ms: now,
    };
    create(db, &run).await.unwrap().unwrap()
}

async fn view(db: &Database, run: i64) -> RunView {
    get(db, run).await.unwrap().unwrap()
}

async fn task_states(db: &Database, run: i64) -> Vec<(String, TaskState)> {
    view(db, run).await.tasks.into_iter().map(|t| (t.task_id, t.state)).collect()
}

fn named(pairs: &[(&str, TaskState)]) -> Vec<(String, TaskState)> {
    pairs.iter().map(|(t, s)| (t.to_string(), *s)).collect()
}

async fn end(db: &Database, d: &Definition, c: &Claimed, owner: &str, outcome: Outcome, now: i64) -> Ended {
    let a = Attempt { run_id: c.run_id, task_id: &c.task_id, attempt: c.attempt, owner };
    finish(db, d, &a, &outcome, now, 0.0, None).await.unwrap()
}

const CHAIN: &str = r#"
[[tasks]]
id = "a"
type = "noop"
[[tasks]]
id = "b"
type = "noop"
upstream = ["a"]
"#;

const RETRIED: &str = r#"
[defaults]
retries = 2
retry_delay = "10s"
retry_jitter = false
[[tasks]]
id = "flaky"
type = "noop"
[[tasks]]
id = "after"
type = "noop"
upstream = ["flaky"]
"#;

use TaskState::*;

/// `n` tasks side by side, four runs at a time.
fn wide(n: usize) -> String {
    let tasks: String = (0..n).map(|i| format!("[[tasks]]\nid = \"t{i}\"\ntype = \"noop\"\n")).collect();
    format!("max_active_runs = 4\n{tasks}")
}

both_backends! {
    async fn a_chain_runs_task_by_task_and_the_run_ends_with_its_last(db) {
        let d = recorded(&db, "chain", CHAIN).await;
        let run = start(&db, &d, 1_000).await;
        assert_eq!(view(&db, run).await.run.state, RunState::Running);
        assert_eq!(task_states(&db, run).await, named(&[("a", Queued), ("b", Pending)]));
        let a = claim(&db, "w1", 1_000, 60_000, None).await.unwrap().unwrap();
        assert_eq!((a.run_id, a.task_id.as_str(), a.attempt, a.pipeline_id.as_str()), (run, "a", 1, "chain"));
        assert!(claim(&db, "w2", 1_000, 60_000, None).await.unwrap().is_none(), "b waits for a");
        // Only the holder ends it.
        assert_eq!(end(&db, &d, &a, "w2", Outcome::Success(None), 2_000).await, Ended::NotOwned);
        let out = serde_json::json!({ "rows": 3 });
        assert_eq!(end(&db, &d, &a, "w1", Outcome::Success(Some(out.clone())), 2_000).await, Ended::Succeeded);
        assert_eq!(task_states(&db, run).await, named(&[("a", Success), ("b", Queued)]));
        let b = claim(&db, "w2", 2_000, 60_000, None).await.unwrap().unwrap();
        assert_eq!(b.outputs.get("a"), Some(&out), "a task sees its upstreams' results");
        end(&db, &d, &b, "w2", Outcome::Success(None), 3_000).await;
        let v = view(&db, run).await;
        assert_eq!((v.run.state, v.run.started_ms, v.run.ended_ms), (RunState::Success, Some(1_000), Some(3_000)));
        assert_eq!(v.attempts.len(), 2);
        assert!(v.attempts.iter().all(|a| a.state == Success && a.ended_ms.is_some()));
    }

    async fn a_failed_attempt_is_retried_with_backoff_then_fails_its_downstream(db) {
        let d = recorded(&db, "retried", RETRIED).await;
        let run = start(&db, &d, 0).await;
        let first = claim(&db, "w", 1_000, 60_000, None).await.unwrap().unwrap();
        assert_eq!(end(&db, &d, &first, "w", Outcome::Failed("boom".into()), 1_000).await, Ended::Retrying { ready_ms: 11_000 });
        let t = &view(&db, run).await.tasks[0];
        assert_eq!((t.state, t.attempts, t.max_attempts), (Queued, 1, 3));
        assert_eq!(t.message.as_deref(), Some("attempt 1 of 3 failed: boom"));
        assert!(claim(&db, "w", 10_999, 60_000, None).await.unwrap().is_none(), "the retry waits for its time");
        let second = claim(&db, "w", 11_000, 60_000, None).await.unwrap().unwrap();
        assert_eq!(second.attempt, 2);
        // Doubled: 20 s after the second failure.
        assert_eq!(end(&db, &d, &second, "w", Outcome::Failed("boom".into()), 12_000).await, Ended::Retrying { ready_ms: 32_000 });
        let third = claim(&db, "w", 32_000, 60_000, None).await.unwrap().unwrap();
        assert_eq!(end(&db, &d, &third, "w", Outcome::Failed("still".into()), 33_000).await, Ended::Failed);
        let v = view(&db, run).await;
        assert_eq!(v.run.state, RunState::Failed);
        assert_eq!(task_states(&db, run).await, named(&[("flaky", Failed), ("after", UpstreamFailed)]));
        assert_eq!(v.tasks[0].message.as_deref(), Some("still"));
        assert_eq!(v.tasks[1].message.as_deref(), Some("upstream 'flaky' did not succeed"));
        let attempts: Vec<(u32, TaskState)> = v.attempts.iter().map(|a| (a.attempt, a.state)).collect();
        assert_eq!(attempts, vec![(1, Failed), (2, Failed), (3, Failed)]);
    }

    async fn runs_beyond_max_active_wait_and_start_when_one_ends(db) {
        let d = recorded(&db, "one_at_a_time", &format!("max_active_runs = 1\n{CHAIN}")).await;
        let first = start(&db, &d, 0).await;
        let second = start(&db, &d, 1).await;
        assert_eq!(view(&db, second).await.run.state, RunState::Queued);
        assert_eq!(task_states(&db, second).await, named(&[("a", Pending), ("b", Pending)]));
        let a = claim(&db, "w", 2, 60_000, None).await.unwrap().unwrap();
        assert_eq!(a.run_id, first);
        assert!(claim(&db, "w", 2, 60_000, None).await.unwrap().is_none(), "the queued run's tasks wait");
        end(&db, &d, &a, "w", Outcome::Failed("no".into()), 3).await;
        // The first run failed: the second starts in the same transaction.
        assert_eq!(view(&db, first).await.run.state, RunState::Failed);
        let v = view(&db, second).await;
        assert_eq!((v.run.state, v.run.started_ms), (RunState::Running, Some(3)));
        assert_eq!(claim(&db, "w", 4, 60_000, None).await.unwrap().unwrap().run_id, second);
    }

    async fn an_expired_lease_is_reaped_as_a_failed_attempt_and_retried(db) {
        let d = recorded(&db, "retried", RETRIED).await;
        let run = start(&db, &d, 0).await;
        let c = claim(&db, "dead", 0, 100, None).await.unwrap().unwrap();
        assert!(!renew(&db, run, "flaky", 1, "someone-else", 500).await.unwrap());
        assert!(renew(&db, run, "flaky", 1, "dead", 200).await.unwrap());
        assert!(expired(&db, 150, 10).await.unwrap().is_empty(), "renewed to 200");
        let found = expired(&db, 300, 10).await.unwrap();
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!((e.run_id, e.task_id.as_str(), e.attempt, e.owner.as_str(), e.version), (run, "flaky", 1, "dead", 1));
        // A renewal that lands first wins over the reaper.
        assert!(renew(&db, run, "flaky", 1, "dead", 1_000).await.unwrap());
        let a = Attempt { run_id: run, task_id: "flaky", attempt: 1, owner: "dead" };
        let reason = Outcome::Failed("lease expired".into());
        assert_eq!(finish(&db, &d, &a, &reason, 300, 0.0, Some(300)).await.unwrap(), Ended::NotOwned);
        assert!(matches!(finish(&db, &d, &a, &reason, 1_500, 0.0, Some(1_500)).await.unwrap(), Ended::Retrying { .. }));
        // The dead process comes back late: its end is dropped, its renewals refused.
        assert_eq!(end(&db, &d, &c, "dead", Outcome::Success(None), 1_600).await, Ended::NotOwned);
        assert!(!renew(&db, run, "flaky", 1, "dead", 5_000).await.unwrap());
        let v = view(&db, run).await;
        assert_eq!(v.attempts[0].message.as_deref(), Some("lease expired"));
        assert_eq!((v.tasks[0].state, v.tasks[0].attempts), (Queued, 1));
    }

    async fn an_orderly_stop_gives_tasks_back_with_the_attempt_counted(db) {
        let d = recorded(&db, "chain", CHAIN).await;
        let run = start(&db, &d, 0).await;
        claim(&db, "stopping", 0, 60_000, None).await.unwrap().unwrap();
        assert_eq!(release(&db, "stopping", 10).await.unwrap(), 1);
        let again = claim(&db, "other", 20, 60_000, None).await.unwrap().unwrap();
        assert_eq!((again.task_id.as_str(), again.attempt), ("a", 2));
        let v = view(&db, run).await;
        assert_eq!(v.tasks[0].max_attempts, 2, "the interruption does not use up the task's own tries");
        assert!(v.attempts[0].message.as_deref().unwrap().starts_with("interrupted"));
    }

    async fn cancelling_a_run_stops_its_attempts_and_starts_the_next(db) {
        let d = recorded(&db, "one_at_a_time", &format!("max_active_runs = 1\n{CHAIN}")).await;
        let first = start(&db, &d, 0).await;
        let second = start(&db, &d, 1).await;
        let a = claim(&db, "w", 2, 60_000, None).await.unwrap().unwrap();
        let stopped = cancel_run(&db, first, "cancelled by tester", 5).await.unwrap().unwrap().unwrap();
        assert_eq!(stopped, vec![Stopped { task_id: "a".into(), attempt: 1, owner: "w".into() }]);
        assert!(!renew(&db, first, "a", 1, "w", 100_000).await.unwrap(), "the worker sees it at its next renewal");
        assert_eq!(end(&db, &d, &a, "w", Outcome::Success(None), 6).await, Ended::NotOwned);
        assert_eq!(task_states(&db, first).await, named(&[("a", Cancelled), ("b", Cancelled)]));
        assert_eq!(view(&db, first).await.attempts[0].state, Cancelled);
        assert_eq!(view(&db, second).await.run.state, RunState::Running);
        // An ended run stays as it was.
        assert_eq!(cancel_run(&db, first, "again", 7).await.unwrap().unwrap(), Err(RunState::Cancelled));
        assert!(cancel_run(&db, 999_999, "x", 7).await.unwrap().is_none());
    }

    async fn clear_reruns_a_task_and_its_downstream_and_mark_moves_the_run_on(db) {
        let d = recorded(&db, "chain", CHAIN).await;
        let run = start(&db, &d, 0).await;
        let a = claim(&db, "w", 0, 60_000, None).await.unwrap().unwrap();
        end(&db, &d, &a, "w", Outcome::Failed("bad input".into()), 1).await;
        assert_eq!(view(&db, run).await.run.state, RunState::Failed);
        let (reset, stopped) = clear(&db, &d, run, "a", "cleared by tester", 2).await.unwrap().unwrap();
        assert_eq!((reset, stopped.len()), (vec!["a".to_string(), "b".to_string()], 0));
        let v = view(&db, run).await;
        assert_eq!((v.run.state, v.run.ended_ms), (RunState::Running, None));
        assert_eq!(task_states(&db, run).await, named(&[("a", Queued), ("b", Pending)]));
        let again = claim(&db, "w", 3, 60_000, None).await.unwrap().unwrap();
        assert_eq!(again.attempt, 2, "attempts number on; the first stays in the history");
        end(&db, &d, &again, "w", Outcome::Failed("still bad".into()), 4).await;
        // Marked success with a note: b runs.
        let stopped = set_task(&db, &d, run, "a", Success, "marked success by tester: fixed by hand", 5).await.unwrap().unwrap();
        assert!(stopped.is_empty());
        assert_eq!(task_states(&db, run).await, named(&[("a", Success), ("b", Queued)]));
        assert_eq!(view(&db, run).await.run.state, RunState::Running);
        // Cancelling an ended task is refused with its state; unknown names are told apart.
        assert_eq!(set_task(&db, &d, run, "a", Cancelled, "x", 6).await.unwrap(), Err(TaskRefusal::State(Success)));
        assert_eq!(set_task(&db, &d, run, "zzz", Cancelled, "x", 6).await.unwrap(), Err(TaskRefusal::NoTask));
        assert_eq!(set_task(&db, &d, 999_999, "a", Cancelled, "x", 6).await.unwrap(), Err(TaskRefusal::NoRun));
        let b = claim(&db, "w", 7, 60_000, None).await.unwrap().unwrap();
        end(&db, &d, &b, "w", Outcome::Success(None), 8).await;
        assert_eq!(view(&db, run).await.run.state, RunState::Success);
    }

    async fn claimers_at_once_take_different_tasks_and_the_global_limit_holds(db) {
        let d = recorded(&db, "wide", &wide(12)).await;
        start(&db, &d, 0).await;
        start(&db, &d, 0).await;
        let mut workers = Vec::new();
        for w in 0..4 {
            let db = db.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(c) = claim(&db, &format!("w{w}"), 1, i64::MAX, None).await.unwrap() {
                    mine.push((c.run_id, c.task_id));
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!((before, all.len()), (24, 24), "every task claimed exactly once");

        let d2 = recorded(&db, "wide2", &wide(6)).await;
        start(&db, &d2, 0).await;
        assert!(claim(&db, "w", 1, i64::MAX, Some(24)).await.unwrap().is_none(), "24 running: the limit is reached");
        assert!(claim(&db, "w", 1, i64::MAX, Some(25)).await.unwrap().is_some());
    }

    async fn logs_are_read_live_from_chunks_and_then_from_the_store(db, dir) {
        use crate::pipelines::attempt_log::{self, LogKey, LogSink};
        let storage = crate::storage::Storage::open(crate::storage::StorageUrl::default_in(&dir), &dir, db.clone(), "me".into())
            .await
            .unwrap();
        let d = recorded(&db, "chain", CHAIN).await;
        let run = start(&db, &d, 0).await;
        let c = claim(&db, "w", 0, 60_000, None).await.unwrap().unwrap();
        let key = LogKey { run_id: run, task_id: "a".into(), attempt: 1 };
        let mut sink = LogSink::new(db.clone(), key.clone(), 40);
        sink.push("first line\n").await;
        sink.flush().await;
        sink.push("second line, é\n").await;
        sink.flush().await;
        let piece = attempt_log::read(&db, &storage, &key, 0).await.unwrap();
        assert_eq!((piece.text.as_str(), piece.done), ("first line\nsecond line, é\n", false));
        let rest = attempt_log::read(&db, &storage, &key, 11).await.unwrap();
        assert_eq!(rest.text, "second line, é\n");
        let offset = piece.next_offset;
        sink.push("this line goes past the cap of forty bytes\n").await;
        let more = attempt_log::read(&db, &storage, &key, offset).await.unwrap();
        assert!(more.cut && more.text.contains("the log reached its cap of 40 B"), "{more:?}");
        end(&db, &d, &c, "w", Outcome::Success(None), 1).await;
        // Left in chunks, it is sealed by a reaper only once it ended a while ago.
        assert!(attempt_log::unsealed(&db, 1, 10).await.unwrap().is_empty());
        assert_eq!(attempt_log::unsealed(&db, 2, 10).await.unwrap(), vec![key.clone()]);
        attempt_log::seal(&db, &storage, &key).await.unwrap();
        assert!(attempt_log::unsealed(&db, 2, 10).await.unwrap().is_empty());
        let whole = attempt_log::read(&db, &storage, &key, 0).await.unwrap();
        assert!(whole.done && whole.cut);
        assert!(whole.text.starts_with("first line\nsecond line, é\nthis line"), "{:?}", whole.text);
        assert_eq!(whole.next_offset, view(&db, run).await.attempts[0].log_bytes);
        let none = attempt_log::read(&db, &storage, &LogKey { attempt: 9, ..key }, 0).await;
        assert!(matches!(none, Err(attempt_log::LogError::NoAttempt { .. })));
    }
}
