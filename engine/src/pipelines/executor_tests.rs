use std::time::Duration;

use crate::accounts::{AuthMethod, Principal, Role};
use crate::actor::Actor;
use crate::db::testing::both_backends;
use crate::pipelines::executor::ExecutorConfig;
use crate::pipelines::{Pipelines, RunState, RunView, TaskState};

fn admin() -> Actor {
    let p = Principal { user_id: 1, username: "root".into(), role: Role::Admin, via: AuthMethod::Token };
    Actor::user(p, "127.0.0.1")
}

async fn open(db: &crate::db::Database, dir: &std::path::Path, files: &[(&str, &str)]) -> Pipelines {
    let defs = dir.join("pipelines");
    std::fs::create_dir_all(&defs).unwrap();
    for (name, text) in files {
        std::fs::write(defs.join(name), text).unwrap();
    }
    let storage =
        crate::storage::Storage::open(crate::storage::StorageUrl::default_in(dir), dir, db.clone(), "me".into())
            .await
            .unwrap();
    let p = Pipelines::open(db.clone(), defs).await.unwrap().with_storage(storage);
    let config = ExecutorConfig {
        slots: 2,
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        ..ExecutorConfig::new(dir.join("runs"))
    };
    p.spawn_executor("me".into(), config);
    p
}

async fn until(p: &Pipelines, run: i64, done: impl Fn(&RunView) -> bool) -> RunView {
    for _ in 0..400 {
        let v = p.run(&admin(), run).await.unwrap();
        if done(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {run} did not get there: {:?}", p.run(&admin(), run).await.unwrap());
}

async fn whole_log(p: &Pipelines, run: i64, task: &str, attempt: u32) -> String {
    let mut text = String::new();
    let mut offset = 0;
    loop {
        let piece = p.log(&admin(), run, task, attempt, offset).await.unwrap();
        text.push_str(&piece.text);
        if piece.done || piece.text.is_empty() {
            return text;
        }
        offset = piece.next_offset;
    }
}

/// Whether the process runs (a killed one may linger as a zombie until something reaps it).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
    }
}

const ECHO: &str = r#"
[params.greeting]
type = "string"
default = "hello"

[[tasks]]
id = "say"
type = "command"
config = { program = "sh", args = ["-c", "echo {{ params.greeting }} from run {{ run.id }}; echo to stderr >&2; pwd"] }

[[tasks]]
id = "decide"
type = "branch"
upstream = ["say"]
config = { field = "exit_code", cases = { "0" = ["fine"] }, default = ["alarm"] }

[[tasks]]
id = "fine"
type = "noop"
upstream = ["decide"]

[[tasks]]
id = "alarm"
type = "noop"
upstream = ["decide"]
"#;

const SLOW: &str = r#"
[[tasks]]
id = "hang"
type = "command"
timeout = "1s"
config = { program = "sh", args = ["-c", "sleep 60 & echo $! > child.pid; wait"] }

[[tasks]]
id = "wait"
type = "command"
config = { program = "sh", args = ["-c", "sleep 60 & echo $! > waiting.pid; wait"] }
"#;

both_backends! {
    async fn commands_run_with_their_parameters_and_logs_and_branches_choose(db, dir) {
        let p = open(&db, &dir, &[("echo.toml", ECHO)]).await;
        let params = [("greeting".to_string(), crate::pipelines::ParamValue::Text("hi".into()))].into();
        let run = p.trigger(&admin(), "echo", &params).await.unwrap();
        let v = until(&p, run, |v| v.run.state.is_done()).await;
        assert_eq!(v.run.state, RunState::Success, "{v:?}");
        let states: Vec<(&str, TaskState)> = v.tasks.iter().map(|t| (t.task_id.as_str(), t.state)).collect();
        assert_eq!(
            states,
            vec![("say", TaskState::Success), ("decide", TaskState::Success), ("fine", TaskState::Success), ("alarm", TaskState::Skipped)]
        );
        let log = whole_log(&p, run, "say", 1).await;
        assert!(log.contains(&format!("hi from run {run}\n")), "{log}");
        assert!(log.contains("to stderr\n"), "{log}");
        assert!(log.contains(&format!("runs/{run}\n")), "the command runs in the run's folder: {log}");
        assert!(log.contains("[okrflow] succeeded"), "{log}");
        let attempt = v.attempts.iter().find(|a| a.task_id == "say").unwrap();
        assert_eq!(attempt.log_bytes, log.len() as u64);
        // The finished log went to the object store, its chunks away.
        let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_log_chunks").fetch_one(db.pool()).await.unwrap();
        assert_eq!(chunks, 0);
        assert!(dir.join(format!("files/pipelines/runs/{run}/say/1.log")).exists());
        // A parameter that does not exist is refused before anything runs.
        let bad = [("nope".to_string(), crate::pipelines::ParamValue::Bool(true))].into();
        let e = p.trigger(&admin(), "echo", &bad).await.unwrap_err().to_string();
        assert!(e.contains("pipeline 'echo' has no parameter 'nope' (it has greeting)"), "{e}");
    }

    async fn a_timeout_and_a_cancel_kill_the_command_and_what_it_started(db, dir) {
        let p = open(&db, &dir, &[("slow.toml", SLOW)]).await;
        let run = p.trigger(&admin(), "slow", &Default::default()).await.unwrap();
        let v = until(&p, run, |v| v.tasks[0].state == TaskState::Failed && v.tasks[1].state == TaskState::Running).await;
        assert_eq!(v.tasks[0].message.as_deref(), Some("timed out after 1s"));
        let folder = dir.join(format!("runs/{run}"));
        let hung: i32 = std::fs::read_to_string(folder.join("child.pid")).unwrap().trim().parse().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!alive(hung), "the timed-out command's child was killed too");
        // Wait for the second command's child to exist, then cancel the run.
        for _ in 0..100 {
            if folder.join("waiting.pid").exists() { break }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let waiting: i32 = std::fs::read_to_string(folder.join("waiting.pid")).unwrap().trim().parse().unwrap();
        assert!(alive(waiting));
        p.cancel_run(&admin(), run).await.unwrap();
        let v = until(&p, run, |v| v.attempts.iter().all(|a| a.ended_ms.is_some())).await;
        assert_eq!(v.run.state, RunState::Cancelled);
        assert_eq!(v.tasks[1].state, TaskState::Cancelled);
        for _ in 0..40 {
            if !alive(waiting) { break }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!alive(waiting), "the cancelled command's child was killed");
        let e = p.cancel_run(&admin(), run).await.unwrap_err().to_string();
        assert!(e.contains("has ended (cancelled)"), "{e}");
    }
}
