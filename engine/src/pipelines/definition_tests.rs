//! Definitions read from TOML: a full one, and every kind of error named by file, task and field.

use super::definition::{parse, parse_duration};
use super::*;

const FULL: &str = r#"
description = "OKR data in, checked and stored"
owner = "data-team"
tags = ["okr", "daily"]
max_active_runs = 2

[schedule]
cron = "0 6 * * 1-5"
timezone = "Europe/Berlin"
catchup = true
max_catchup_runs = 3

[defaults]
retries = 2
retry_delay = "10s"
max_retry_delay = "5m"
timeout = "1h"

[params.file]
type = "file"
default = 1
description = "the OKR export"

[params.region]
type = "choice"
choices = ["emea", "apac"]
default = "emea"

[params.strict]
type = "boolean"
default = true

[[tasks]]
id = "load"
type = "read_file"
config = { id = "{{ params.file }}" }

[[tasks]]
id = "fetch"
type = "http_fetch"
retries = 5
config = { url = "https://api.example.com/okrs?region={{ params.region }}", pagination = { kind = "page" }, records = "/data", auth = { kind = "bearer", secret = "okr_api" } }

[[tasks]]
id = "merge"
type = "transform"
upstream = ["load", "fetch"]
config = { sql = "SELECT * FROM load UNION ALL SELECT * FROM fetch" }

[[tasks]]
id = "check"
type = "validate"
upstream = ["merge"]
[tasks.config]
max_failed_share = 0.05
rules = [
  { column = "objective", required = true, type = "string" },
  { column = "progress", min = 0, max = 1, max_null_share = 0.1 },
]

[[tasks]]
id = "route"
type = "branch"
upstream = ["check"]
config = { field = "passed", cases = { "true" = ["store"], "false" = ["alert"] } }

[[tasks]]
id = "store"
type = "write_table"
upstream = ["route"]
config = { input = "route", name = "okrs" }

[[tasks]]
id = "alert"
type = "noop"
upstream = ["route"]

[[tasks]]
id = "done"
type = "noop"
upstream = ["store", "alert"]
trigger_rule = "none_failed"
"#;

fn problems(text: &str) -> Vec<Problem> {
    parse("pipelines/p.toml", text, Origin::File).expect_err("should be refused")
}

/// The one problem of `text`, as "task|field|message".
fn one(text: &str) -> (Option<String>, Option<String>, String) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    let p = found.into_iter().next().unwrap();
    assert_eq!(p.file, "pipelines/p.toml");
    (p.task, p.field, p.message)
}

const NOOP: &str = "[[tasks]]\nid = \"a\"\ntype = \"noop\"\n";

#[test]
fn a_full_definition_reads_with_defaults_applied_and_tasks_in_order() {
    let d = parse("pipelines/okr_daily.toml", FULL, Origin::File).unwrap();
    assert_eq!(d.id, "okr_daily", "the file's stem");
    assert_eq!((d.owner.as_str(), d.max_active_runs), ("data-team", 2));
    let s = d.schedule.as_ref().unwrap();
    assert_eq!(
        (s.cron.as_str(), s.timezone.as_str(), s.catchup, s.max_catchup_runs),
        ("0 6 * * 1-5", "Europe/Berlin", true, 3)
    );
    assert_eq!(d.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["file", "region", "strict"]);
    assert_eq!(d.params[0].default, Some(ParamValue::Number(1.0)));
    let ids: Vec<&str> = d.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["load", "fetch", "merge", "check", "route", "store", "alert", "done"]);
    let load = d.task("load").unwrap();
    assert_eq!((load.retry.retries, load.retry.delay_ms, load.retry.max_delay_ms), (2, 10_000, 300_000));
    assert_eq!(load.timeout_ms, 3_600_000);
    assert_eq!(d.task("fetch").unwrap().retry.retries, 5, "a task's own retries win");
    assert_eq!(d.task("fetch").unwrap().retry.delay_ms, 10_000, "the rest from the defaults");
    assert_eq!(d.task("done").unwrap().trigger_rule, TriggerRule::NoneFailed);
    assert_eq!(d.task("store").unwrap().trigger_rule, TriggerRule::AllSuccess);
    let TaskType::HttpFetch(fetch) = &d.task("fetch").unwrap().task else { panic!("a fetch") };
    assert_eq!(fetch.pagination, Some(Pagination::Page { param: "page".into(), start: 1 }));
    assert_eq!(fetch.auth, Some(HttpAuth::Bearer { secret: "okr_api".into() }));
    assert_eq!(d.downstream("route").map(|t| t.id.as_str()).collect::<Vec<_>>(), ["store", "alert"]);
    assert!(!d.has_commands());
}

#[test]
fn tasks_are_ordered_after_their_upstreams_whatever_the_file_order() {
    let text = "[[tasks]]\nid = \"c\"\ntype = \"noop\"\nupstream = [\"b\"]\n\
                [[tasks]]\nid = \"b\"\ntype = \"noop\"\nupstream = [\"a\"]\n\
                [[tasks]]\nid = \"a\"\ntype = \"noop\"\n";
    let d = parse("p.toml", text, Origin::File).unwrap();
    assert_eq!(d.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
}

#[test]
fn syntax_errors_give_the_line() {
    let (_, _, message) = one("description = \"x\"\n[[tasks]\nid = 1\n");
    assert!(message.contains("not valid TOML at line 2"), "{message}");
}

#[test]
fn unknown_and_mistyped_fields_are_named() {
    let (task, field, message) = one(&format!("schedul = \"@daily\"\n{NOOP}"));
    assert_eq!((task, field.as_deref()), (None, Some("schedul")));
    assert!(message.contains("unknown field `schedul`"), "{message}");
    let (_, field, _) = one(&format!("max_active_runs = \"two\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("max_active_runs"));
    let (task, field, message) = one("[[tasks]]\nid = \"a\"\ntype = \"noop\"\nretrys = 2\n");
    assert_eq!(task.as_deref(), Some("a"));
    assert!(message.contains("unknown field `retrys`"), "{message} {field:?}");
    let (_, field, message) = one(&format!("[defaults]\ntimeout = \"soon\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("defaults.timeout"));
    assert!(message.contains("'soon' is not a duration"), "{message}");
}

#[test]
fn task_configs_must_fit_their_type() {
    let (task, field, message) =
        one("[[tasks]]\nid = \"get\"\ntype = \"http_fetch\"\nconfig = { url = \"https://x.org\", method = \"PUT\" }\n");
    assert_eq!((task.as_deref(), field.as_deref()), (Some("get"), Some("config.method")));
    assert!(message.contains("PUT"), "{message}");
    let (_, field, message) =
        one("[[tasks]]\nid = \"get\"\ntype = \"http_fetch\"\nconfig = { url = \"ftp://x.org\" }\n");
    assert_eq!(field.as_deref(), Some("config.url"));
    assert!(message.contains("ftp://x.org"), "{message}");
    let (_, field, message) =
        one("[[tasks]]\nid = \"get\"\ntype = \"http_fetch\"\nconfig = { urll = \"https://x.org\" }\n");
    assert!(message.contains("urll") && field.as_deref().unwrap_or("").starts_with("config"), "{message} {field:?}");
    let (_, field, _) =
        one("[[tasks]]\nid = \"f\"\ntype = \"read_file\"\nconfig = { name = \"a.csv\", glob = \"*.csv\" }\n");
    assert_eq!(field.as_deref(), Some("config.id"));
    // Two problems at once: the bad range, and no upstream to read.
    let found = problems(
        "[[tasks]]\nid = \"v\"\ntype = \"validate\"\nconfig = { rules = [{ column = \"x\", min = 2, max = 1 }] }\n",
    );
    let fields: Vec<_> = found.iter().map(|p| p.field.clone().unwrap_or_default()).collect();
    assert!(fields.contains(&"config.rules[0].min".to_string()), "{fields:?}");
    assert!(fields.contains(&"config.input".to_string()), "{fields:?}");
    let (_, field, message) = one("[[tasks]]\nid = \"x\"\ntype = \"teleport\"\n");
    assert_eq!(field.as_deref(), Some("type"));
    assert!(message.contains("unknown type 'teleport'") && message.contains("read_file"), "{message}");
    let (_, field, _) =
        one("[[tasks]]\nid = \"c\"\ntype = \"command\"\nconfig = { program = \"sh\", workdir = \"../up\" }\n");
    assert_eq!(field.as_deref(), Some("config.workdir"));
}

#[test]
fn the_graph_is_checked() {
    let (task, field, message) = one("[[tasks]]\nid = \"a\"\ntype = \"noop\"\nupstream = [\"zz\"]\n");
    assert_eq!((task.as_deref(), field.as_deref()), (Some("a"), Some("upstream")));
    assert!(message.contains("unknown task 'zz'"), "{message}");
    let (_, _, message) = one(&format!("{NOOP}{NOOP}"));
    assert!(message.contains("another task has this id"), "{message}");
    let cycle = "[[tasks]]\nid = \"a\"\ntype = \"noop\"\nupstream = [\"c\"]\n\
                 [[tasks]]\nid = \"b\"\ntype = \"noop\"\nupstream = [\"a\"]\n\
                 [[tasks]]\nid = \"c\"\ntype = \"noop\"\nupstream = [\"b\"]\n\
                 [[tasks]]\nid = \"d\"\ntype = \"noop\"\n";
    let (_, field, message) = one(cycle);
    assert_eq!(field.as_deref(), Some("upstream"));
    assert!(message.contains("cycle") && message.contains("a → b → c → a"), "{message}");
    let (_, _, message) = one("[[tasks]]\nid = \"a\"\ntype = \"noop\"\nupstream = [\"a\"]\n");
    assert!(message.contains("its own upstream"), "{message}");
    let (_, field, message) = one("[[tasks]]\nid = \"b\"\ntype = \"branch\"\nconfig = { input = \"a\", field = \"ok\", cases = { yes = [\"a\"] } }\nupstream = [\"a\"]\n[[tasks]]\nid = \"a\"\ntype = \"noop\"\n");
    assert_eq!(field.as_deref(), Some("config.cases.yes"));
    assert!(message.contains("'a' is not a task downstream"), "{message}");
    let (_, field, _) = one("");
    assert_eq!(field.as_deref(), Some("tasks"));
}

#[test]
fn parameters_schedules_and_placeholders_are_checked() {
    let (_, field, message) =
        one(&format!("[params.region]\ntype = \"choice\"\nchoices = [\"a\"]\ndefault = \"b\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("params.region.default"));
    assert!(message.contains("must be one of a"), "{message}");
    let (_, field, _) = one(&format!("[params.n]\ntype = \"integer\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("params.n.type"));
    let (_, field, message) = one(&format!("schedule = \"0 6 * * *\"\n[params.n]\ntype = \"number\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("params.n.default"));
    assert!(message.contains("scheduled"), "{message}");
    let (_, field, _) = one(&format!("schedule = \"0 25 * * *\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("schedule.cron"));
    let (_, field, _) = one(&format!("[schedule]\ncron = \"@daily\"\ntimezone = \"Europe/Atlantis\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("schedule.timezone"));
    let (_, field, _) = one(&format!("[schedule]\ncron = \"@daily\"\ncatchup = true\nmax_catchup_runs = 5000\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("schedule.max_catchup_runs"));
    let (task, field, message) = one(
        "[[tasks]]\nid = \"get\"\ntype = \"http_fetch\"\nconfig = { url = \"https://x.org/{{ params.regoin }}\" }\n",
    );
    assert_eq!((task.as_deref(), field.as_deref()), (Some("get"), Some("config.url")));
    assert!(message.contains("params.regoin") && message.contains("it has none"), "{message}");
    let (_, field, _) = one(
        "[[tasks]]\nid = \"c\"\ntype = \"command\"\nconfig = { program = \"echo\", args = [\"{{ env.HOME }}\"] }\n",
    );
    assert_eq!(field.as_deref(), Some("config.args[0]"));
    let (_, field, message) = one(&format!("id = \"other\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("id"));
    assert!(message.contains("p.toml"), "{message}");
    let (_, field, _) = one("[[tasks]]\nid = \"has space\"\ntype = \"noop\"\n");
    assert_eq!(field.as_deref(), Some("id"));
    let (_, field, _) = one(&format!("[defaults]\ntrigger_rule = \"sometimes\"\n{NOOP}"));
    assert_eq!(field.as_deref(), Some("defaults.trigger_rule"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "max_active_runs = 0\n[[tasks]]\nid = \"a\"\ntype = \"noop\"\ntrigger_rule = \"maybe\"\n\
                [[tasks]]\nid = \"b\"\ntype = \"teleport\"\n";
    let found = problems(text);
    assert_eq!(found.len(), 3, "{found:#?}");
    let shown: Vec<String> = found.iter().map(|p| p.to_string()).collect();
    assert!(shown.contains(&"pipelines/p.toml: max_active_runs: must be 1 to 100; got 0".to_string()), "{shown:?}");
    assert!(
        shown.iter().any(|s| s.starts_with("pipelines/p.toml: task 'a': trigger_rule: unknown trigger rule 'maybe'")),
        "{shown:?}"
    );
    assert!(shown.iter().any(|s| s.starts_with("pipelines/p.toml: task 'b': type: unknown type")), "{shown:?}");
}

#[test]
fn commands_are_flagged_and_durations_read() {
    let d = parse(
        "p.toml",
        "[[tasks]]\nid = \"c\"\ntype = \"command\"\nconfig = { program = \"python3\", args = [\"train.py\"] }\n",
        Origin::File,
    )
    .unwrap();
    assert!(d.has_commands());
    assert_eq!(parse_duration("1h 30m").unwrap(), 5_400_000);
    assert_eq!(parse_duration("250ms").unwrap(), 250);
    assert!(parse_duration("fast").is_err());
}

#[test]
fn retry_delays_grow_to_their_cap_with_jitter_in_the_upper_half() {
    let p = RetryPolicy { retries: 5, delay_ms: 1_000, backoff: 2.0, max_delay_ms: 5_000, jitter: false };
    let waits: Vec<u64> = (1..=5).map(|n| p.delay_before(n, 0.0)).collect();
    assert_eq!(waits, [1_000, 2_000, 4_000, 5_000, 5_000]);
    let j = RetryPolicy { jitter: true, ..p };
    assert_eq!(j.delay_before(2, 0.0), 1_000);
    assert_eq!(j.delay_before(2, 1.0), 2_000);
    assert_eq!(j.delay_before(40, 0.5), 3_750, "capped, then jittered");
}

#[test]
fn parameter_values_are_checked_against_their_kind() {
    let spec = |kind, choices: &[&str]| ParamSpec {
        name: "p".into(),
        kind,
        description: String::new(),
        default: None,
        choices: choices.iter().map(|c| c.to_string()).collect(),
    };
    assert!(spec(ParamKind::Number, &[]).check(&ParamValue::Number(2.5)).is_ok());
    assert!(spec(ParamKind::Number, &[])
        .check(&ParamValue::Text("2".into()))
        .unwrap_err()
        .contains("must be a number"));
    assert!(spec(ParamKind::Choice, &["a", "b"])
        .check(&ParamValue::Text("c".into()))
        .unwrap_err()
        .contains("one of a, b"));
    assert!(spec(ParamKind::File, &[]).check(&ParamValue::Number(3.0)).is_ok());
    assert!(spec(ParamKind::File, &[]).check(&ParamValue::Number(0.5)).is_err());
    assert_eq!(ParamValue::Number(42.0).as_text(), "42");
    assert_eq!(ParamValue::Number(0.25).as_text(), "0.25");
}
