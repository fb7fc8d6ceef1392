//! Reading a pipeline definition from TOML and checking it: every problem found is reported at
//! once, each naming the file and, where there is one, the task and the field, so whoever edits
//! the file fixes it in one pass.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::schedule::Cadence;
use super::template;
use super::{
    Definition, HttpAuth, HttpMethod, IdOrTemplate, Origin, Pagination, ParamKind, ParamSpec, ParamValue, Problem,
    RetryPolicy, Schedule, TaskSpec, TaskType, TriggerRule, MAX_CATCHUP_RUNS, MAX_ID, MAX_TASKS,
};

/// A duration in a definition: text such as `30s`, `5m`, `1h 30m`, or a whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Millis(u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Millis;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"1h\", or whole seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
                u64::try_from(v).map(|s| Millis(s.saturating_mul(1_000))).map_err(|_| E::custom("must not be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
                Ok(Millis(v.saturating_mul(1_000)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
                parse_duration(v).map(Millis).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Milliseconds of a duration written as `30s`, `5m`, `1h 30m` (humantime's grammar).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    humantime::parse_duration(text.trim())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| format!("'{text}' is not a duration such as 30s, 5m or 1h ({e})"))
}

/// The retry and timeout fields a task may set and `[defaults]` may set for all.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    retries: Option<u32>,
    retry_delay: Option<Millis>,
    retry_backoff: Option<f64>,
    max_retry_delay: Option<Millis>,
    retry_jitter: Option<bool>,
    timeout: Option<Millis>,
    trigger_rule: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    config: Option<toml::Value>,
    #[serde(default)]
    upstream: Vec<String>,
    retries: Option<u32>,
    retry_delay: Option<Millis>,
    retry_backoff: Option<f64>,
    max_retry_delay: Option<Millis>,
    retry_jitter: Option<bool>,
    timeout: Option<Millis>,
    trigger_rule: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    #[serde(rename = "type")]
    kind: ParamKind,
    #[serde(default)]
    description: String,
    #[serde(default)]
    default: Option<toml::Value>,
    #[serde(default)]
    choices: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSchedule {
    Cron(String),
    Table(RawScheduleTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScheduleTable {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    catchup: bool,
    #[serde(default)]
    max_catchup_runs: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefinition {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default)]
    schedule: Option<RawSchedule>,
    #[serde(default)]
    max_active_runs: Option<u32>,
    #[serde(default)]
    defaults: Option<toml::Value>,
    #[serde(default)]
    tasks: Vec<toml::Value>,
}

/// Collects problems of one file.
struct Report<'a> {
    file: &'a str,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn add(&mut self, task: Option<&str>, field: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_string(),
            task: task.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }
}

/// Deserializes `value` as `T`; a failure names the field path inside it, after `prefix`.
fn typed<T: de::DeserializeOwned>(value: toml::Value, prefix: &str) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (prefix, path.as_str()) {
            ("", ".") => None,
            ("", p) => Some(p.to_string()),
            (pre, ".") => Some(pre.to_string()),
            (pre, p) => Some(format!("{pre}.{p}")),
        };
        (field, e.into_inner().to_string())
    })
}

/// Whether `id` may name a pipeline or a task: 1 to 64 of letters, digits, `_`, `-`, `.`,
/// starting with a letter or digit.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `name` may name a parameter (as `{{ params.name }}` reads it): a letter or `_`, then
/// letters, digits and `_`.
fn valid_param_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ID
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

/// Reads and checks the definition in `text`, from `file` (whose stem is the pipeline's id
/// unless `id` says the same), or every problem with it.
pub fn parse(file: &str, text: &str, origin: Origin) -> Result<Definition, Vec<Problem>> {
    let mut report = Report { file, problems: Vec::new() };
    let table = match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            let at = e.span().map(|s| line_and_column(text, s.start));
            let message = match at {
                Some((line, column)) => format!("not valid TOML at line {line}, column {column}: {}", e.message()),
                None => format!("not valid TOML: {}", e.message()),
            };
            report.add(None, None, message);
            return Err(report.problems);
        }
    };
    let raw: RawDefinition = match typed(toml::Value::Table(table), "") {
        Ok(r) => r,
        Err((field, message)) => {
            report.add(None, field.as_deref(), message);
            return Err(report.problems);
        }
    };
    let definition = check(&mut report, file, raw, origin);
    if report.problems.is_empty() {
        Ok(definition)
    } else {
        Err(report.problems)
    }
}

fn file_stem(file: &str) -> &str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name.strip_suffix(".toml").unwrap_or(name)
}

fn check(report: &mut Report, file: &str, raw: RawDefinition, origin: Origin) -> Definition {
    let stem = file_stem(file);
    let id = match raw.id {
        Some(id) if id != stem => {
            report.add(None, Some("id"), format!("is '{id}' but the file is named '{stem}.toml'; they must agree"));
            id
        }
        Some(id) => id,
        None => stem.to_string(),
    };
    if !valid_id(&id) {
        report.add(None, Some("id"), format!("'{id}' is not a valid id: 1 to {MAX_ID} letters, digits, '_', '-' or '.', starting with a letter or digit"));
    }
    for tag in &raw.tags {
        if tag.trim().is_empty() || tag.chars().count() > MAX_ID {
            report.add(None, Some("tags"), format!("'{tag}' must be 1 to {MAX_ID} characters"));
        }
    }
    if raw.description.chars().count() > 2_000 {
        report.add(None, Some("description"), "must be at most 2,000 characters");
    }
    let max_active_runs = raw.max_active_runs.unwrap_or(1);
    if !(1..=100).contains(&max_active_runs) {
        report.add(None, Some("max_active_runs"), format!("must be 1 to 100; got {max_active_runs}"));
    }

    let params = check_params(report, raw.params);
    let schedule = raw.schedule.map(|s| check_schedule(report, s, &params));

    let defaults: RawDefaults = match raw.defaults.map(|d| typed::<RawDefaults>(d, "defaults")) {
        None => RawDefaults::default(),
        Some(Ok(d)) => d,
        Some(Err((field, message))) => {
            report.add(None, field.as_deref(), message);
            RawDefaults::default()
        }
    };
    let base_retry = retry_policy(report, None, &defaults, &RawDefaults::default());
    let base_rule =
        trigger_rule(report, None, "defaults.trigger_rule", defaults.trigger_rule.as_deref()).unwrap_or_default();

    if raw.tasks.is_empty() {
        report.add(None, Some("tasks"), "a pipeline needs at least one task ([[tasks]])");
    }
    if raw.tasks.len() > MAX_TASKS {
        report.add(None, Some("tasks"), format!("at most {MAX_TASKS} tasks; got {}", raw.tasks.len()));
    }
    let mut tasks = Vec::with_capacity(raw.tasks.len());
    for (i, value) in raw.tasks.into_iter().enumerate() {
        // The id first, so even a task that fails to read is named.
        let named = value.get("id").and_then(|v| v.as_str()).map(str::to_string);
        let label = named.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let task: RawTask = match typed(value, "") {
            Ok(t) => t,
            Err((field, message)) => {
                report.add(Some(&label), field.as_deref(), message);
                continue;
            }
        };
        if let Some(spec) = check_task(report, task, &defaults, &base_retry, base_rule) {
            tasks.push(spec);
        }
    }
    let tasks = check_graph(report, tasks);
    let definition = Definition {
        id,
        description: raw.description,
        owner: raw.owner,
        tags: raw.tags,
        params,
        schedule,
        max_active_runs,
        tasks,
        origin,
    };
    check_templates(report, &definition);
    definition
}

fn param_value(value: toml::Value) -> Option<ParamValue> {
    match value {
        toml::Value::Boolean(b) => Some(ParamValue::Bool(b)),
        toml::Value::Integer(n) => Some(ParamValue::Number(n as f64)),
        toml::Value::Float(f) => Some(ParamValue::Number(f)),
        toml::Value::String(s) => Some(ParamValue::Text(s)),
        _ => None,
    }
}

fn check_params(report: &mut Report, raw: BTreeMap<String, toml::Value>) -> Vec<ParamSpec> {
    let mut params = Vec::new();
    for (name, value) in raw {
        let field = format!("params.{name}");
        if !valid_param_name(&name) {
            report.add(None, Some(&field), format!("'{name}' is not a valid parameter name: a letter or '_', then letters, digits and '_' (at most {MAX_ID})"));
            continue;
        }
        let p: RawParam = match typed(value, &field) {
            Ok(p) => p,
            Err((f, message)) => {
                report.add(None, f.as_deref(), message);
                continue;
            }
        };
        if p.kind == ParamKind::Choice && p.choices.is_empty() {
            report.add(None, Some(&format!("{field}.choices")), "a choice needs at least one choice");
        }
        if p.kind != ParamKind::Choice && !p.choices.is_empty() {
            report.add(None, Some(&format!("{field}.choices")), "only a choice parameter has choices");
        }
        let default = match p.default.map(param_value) {
            None => None,
            Some(None) => {
                report.add(None, Some(&format!("{field}.default")), "must be text, a number or true/false");
                None
            }
            Some(Some(v)) => Some(v),
        };
        let spec = ParamSpec { name, kind: p.kind, description: p.description, default, choices: p.choices };
        if let Some(d) = &spec.default {
            if let Err(message) = spec.check(d) {
                report.add(None, Some(&format!("{field}.default")), message);
            }
        }
        params.push(spec);
    }
    params
}

fn check_schedule(report: &mut Report, raw: RawSchedule, params: &[ParamSpec]) -> Schedule {
    let table = match raw {
        RawSchedule::Cron(cron) => RawScheduleTable { cron, timezone: None, catchup: false, max_catchup_runs: None },
        RawSchedule::Table(t) => t,
    };
    let schedule = Schedule {
        cron: table.cron,
        timezone: table.timezone.unwrap_or_else(|| "UTC".into()),
        catchup: table.catchup,
        max_catchup_runs: table.max_catchup_runs.unwrap_or(if table.catchup { 10 } else { 1 }),
    };
    match Cadence::parse(&schedule.cron, &schedule.timezone) {
        Ok(_) => {}
        Err((field, message)) => report.add(None, Some(field), message),
    }
    if !(1..=MAX_CATCHUP_RUNS).contains(&schedule.max_catchup_runs) {
        report.add(
            None,
            Some("schedule.max_catchup_runs"),
            format!("must be 1 to {MAX_CATCHUP_RUNS}; got {}", schedule.max_catchup_runs),
        );
    }
    for p in params.iter().filter(|p| p.default.is_none()) {
        report.add(
            None,
            Some(&format!("params.{}.default", p.name)),
            "a scheduled pipeline runs with its parameters' defaults; this one has none",
        );
    }
    schedule
}

fn trigger_rule(report: &mut Report, task: Option<&str>, field: &str, raw: Option<&str>) -> Option<TriggerRule> {
    let raw = raw?;
    let rule = TriggerRule::parse(raw);
    if rule.is_none() {
        let all: Vec<&str> = TriggerRule::ALL.iter().map(|r| r.as_str()).collect();
        report.add(task, Some(field), format!("unknown trigger rule '{raw}' (the rules: {})", all.join(", ")));
    }
    rule
}

/// A task's retry policy: its own fields, else the pipeline's defaults, else okrflow's.
fn retry_policy(report: &mut Report, task: Option<&str>, own: &RawDefaults, defaults: &RawDefaults) -> RetryPolicy {
    let base = RetryPolicy::default();
    let policy = RetryPolicy {
        retries: own.retries.or(defaults.retries).unwrap_or(base.retries),
        delay_ms: own.retry_delay.or(defaults.retry_delay).map(|m| m.0).unwrap_or(base.delay_ms),
        backoff: own.retry_backoff.or(defaults.retry_backoff).unwrap_or(base.backoff),
        max_delay_ms: own.max_retry_delay.or(defaults.max_retry_delay).map(|m| m.0).unwrap_or(base.max_delay_ms),
        jitter: own.retry_jitter.or(defaults.retry_jitter).unwrap_or(base.jitter),
    };
    let prefix = if task.is_some() { "" } else { "defaults." };
    if policy.retries > 100 {
        report.add(task, Some(&format!("{prefix}retries")), format!("must be 0 to 100; got {}", policy.retries));
    }
    if !(1.0..=10.0).contains(&policy.backoff) {
        report.add(task, Some(&format!("{prefix}retry_backoff")), format!("must be 1 to 10; got {}", policy.backoff));
    }
    if policy.max_delay_ms < policy.delay_ms {
        report.add(task, Some(&format!("{prefix}max_retry_delay")), "must not be shorter than retry_delay");
    }
    policy
}

fn check_task(
    report: &mut Report,
    raw: RawTask,
    defaults: &RawDefaults,
    base_retry: &RetryPolicy,
    base_rule: TriggerRule,
) -> Option<TaskSpec> {
    let id = raw.id.clone();
    let t = Some(id.as_str());
    if !valid_id(&id) {
        report.add(t, Some("id"), format!("'{id}' is not a valid id: 1 to {MAX_ID} letters, digits, '_', '-' or '.', starting with a letter or digit"));
    }
    let own = RawDefaults {
        retries: raw.retries,
        retry_delay: raw.retry_delay,
        retry_backoff: raw.retry_backoff,
        max_retry_delay: raw.max_retry_delay,
        retry_jitter: raw.retry_jitter,
        timeout: raw.timeout,
        trigger_rule: raw.trigger_rule.clone(),
    };
    let retry = if own.retries.is_some()
        || own.retry_delay.is_some()
        || own.retry_backoff.is_some()
        || own.max_retry_delay.is_some()
        || own.retry_jitter.is_some()
    {
        retry_policy(report, t, &own, defaults)
    } else {
        base_retry.clone()
    };
    let trigger_rule = trigger_rule(report, t, "trigger_rule", raw.trigger_rule.as_deref()).unwrap_or(base_rule);
    let timeout_ms = raw.timeout.or(defaults.timeout).map(|m| m.0).unwrap_or(0);

    if !TaskType::NAMES.contains(&raw.kind.as_str()) {
        report.add(t, Some("type"), format!("unknown type '{}' (the types: {})", raw.kind, TaskType::NAMES.join(", ")));
        return None;
    }
    let config = raw.config.unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    let task = match task_type(&raw.kind, config) {
        Ok(task) => task,
        Err((field, message)) => {
            report.add(t, Some(field.as_deref().unwrap_or("config")), message);
            return None;
        }
    };
    check_config(report, &id, &task, &raw.upstream);
    Some(TaskSpec { id, task, upstream: raw.upstream, retry, timeout_ms, trigger_rule })
}

/// The config read as its type's (each type on its own, so a failure names the field inside).
fn task_type(kind: &str, config: toml::Value) -> Result<TaskType, (Option<String>, String)> {
    const AT: &str = "config";
    Ok(match kind {
        "read_file" => TaskType::ReadFile(typed(config, AT)?),
        "http_fetch" => TaskType::HttpFetch(typed(config, AT)?),
        "validate" => TaskType::Validate(typed(config, AT)?),
        "transform" => TaskType::Transform(typed(config, AT)?),
        "dedupe" => TaskType::Dedupe(typed(config, AT)?),
        "write_table" => TaskType::WriteTable(typed(config, AT)?),
        "write_file" => TaskType::WriteFile(typed(config, AT)?),
        "branch" => TaskType::Branch(typed(config, AT)?),
        "command" => TaskType::Command(typed(config, AT)?),
        "noop" => TaskType::Noop(typed(config, AT)?),
        other => return Err((Some("type".into()), format!("unknown type '{other}'"))),
    })
}

/// What serde cannot check of a task's config.
fn check_config(report: &mut Report, id: &str, task: &TaskType, upstream: &[String]) {
    let t = Some(id);
    let mut bad = |field: &str, message: String| report.add(t, Some(&format!("config.{field}")), message);
    if let Some(input) = task.input() {
        match input {
            Some(name) if !upstream.contains(name) => {
                bad("input", format!("'{name}' is not among this task's upstream tasks"));
            }
            Some(_) => {}
            None if upstream.len() != 1 => bad(
                "input",
                format!(
                    "a {} task reads one upstream table; it has {} upstream tasks, so name the one to read",
                    task.name(),
                    upstream.len()
                ),
            ),
            None => {}
        }
    }
    match task {
        TaskType::ReadFile(c) => {
            let given = [c.id.is_some(), c.name.is_some(), c.glob.is_some()].iter().filter(|b| **b).count();
            if given != 1 {
                bad("id", format!("give exactly one of id, name or glob; {given} given"));
            }
            if let Some(IdOrTemplate::Id(n)) = c.id {
                if n < 1 {
                    bad("id", format!("a file id is a whole number from 1; got {n}"));
                }
            }
            if let Some(IdOrTemplate::Template(text)) = &c.id {
                if !text.contains("{{") && text.trim().parse::<i64>().is_err() {
                    bad("id", format!("'{text}' is not a file id (or a {{{{ params.… }}}} that gives one)"));
                }
            }
        }
        TaskType::HttpFetch(c) => {
            let url = template::blank(&c.url);
            if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(&url).is_err() {
                bad("url", format!("'{}' is not an http:// or https:// address", c.url));
            }
            if c.method == HttpMethod::Get && c.body.is_some() {
                bad("body", "a GET sends no body; use method = \"POST\"".into());
            }
            if let Some(body) = c.body.as_deref().filter(|b| !b.contains("{{")) {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(body) {
                    bad("body", format!("is not JSON: {e}"));
                }
            }
            for name in c.headers.keys() {
                if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    bad("headers", format!("'{name}' is not a header name"));
                }
            }
            match &c.auth {
                Some(HttpAuth::Bearer { secret } | HttpAuth::Basic { secret }) if !valid_id(secret) => {
                    bad("auth.secret", format!("'{secret}' is not a secret's name"));
                }
                Some(HttpAuth::Header { name, secret }) => {
                    if !valid_id(secret) {
                        bad("auth.secret", format!("'{secret}' is not a secret's name"));
                    }
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        bad("auth.name", format!("'{name}' is not a header name"));
                    }
                }
                _ => {}
            }
            if let Some(Pagination::Cursor { param, field }) = &c.pagination {
                if param.is_empty() {
                    bad("pagination.param", "names the query parameter the cursor goes in".into());
                }
                if !field.starts_with('/') {
                    bad("pagination.field", format!("'{field}' is not a JSON pointer (such as /next)"));
                }
            }
            if let Some(records) = c.records.as_deref().filter(|r| !r.is_empty() && !r.starts_with('/')) {
                bad("records", format!("'{records}' is not a JSON pointer (such as /data)"));
            }
            if !(1..=10_000).contains(&c.max_pages) {
                bad("max_pages", format!("must be 1 to 10,000; got {}", c.max_pages));
            }
            if c.retries > 10 {
                bad("retries", format!("must be 0 to 10; got {}", c.retries));
            }
            if let Some(rate) = c.rate_limit.filter(|r| !(r.is_finite() && *r > 0.0)) {
                bad("rate_limit", format!("must be more than 0 requests a second; got {rate}"));
            }
            if let Some(Err(message)) = c.timeout.as_deref().map(parse_duration) {
                bad("timeout", message);
            }
        }
        TaskType::Validate(c) => {
            if c.rules.is_empty() {
                bad("rules", "a validate task needs at least one rule".into());
            }
            for (i, rule) in c.rules.iter().enumerate() {
                let at = |f: &str| format!("rules[{i}].{f}");
                if rule.column.is_empty() {
                    report.add(t, Some(&format!("config.{}", at("column"))), "names a column");
                }
                if let (Some(lo), Some(hi)) = (rule.min, rule.max) {
                    if lo > hi {
                        report.add(t, Some(&format!("config.{}", at("min"))), format!("{lo} is above max {hi}"));
                    }
                }
                if let Some(share) = rule.max_null_share.filter(|s| !(0.0..=1.0).contains(s)) {
                    report.add(
                        t,
                        Some(&format!("config.{}", at("max_null_share"))),
                        format!("must be 0 to 1; got {share}"),
                    );
                }
            }
            if !(0.0..=1.0).contains(&c.max_failed_share) {
                report.add(t, Some("config.max_failed_share"), format!("must be 0 to 1; got {}", c.max_failed_share));
            }
        }
        TaskType::Transform(c) => {
            if c.sql.trim().is_empty() {
                bad("sql", "a transform needs SQL over its upstream tables".into());
            }
            if upstream.is_empty() {
                bad("sql", "a transform reads its upstream tasks' tables; it has none".into());
            }
        }
        TaskType::Dedupe(c) => {
            if c.columns.is_empty() || c.columns.iter().any(|c| c.is_empty()) {
                bad("columns", "names the columns whose values make a row distinct".into());
            }
        }
        TaskType::WriteTable(c) => {
            if !valid_id(&c.name) {
                bad(
                    "name",
                    format!("'{}' is not a dataset name: 1 to {MAX_ID} letters, digits, '_', '-' or '.'", c.name),
                );
            }
        }
        TaskType::WriteFile(c) => {
            let name = template::blank(&c.name);
            if name.trim().is_empty() || name.contains(['/', '\\']) || name.chars().count() > 255 {
                bad("name", format!("'{}' is not a file name (no folders, at most 255 characters)", c.name));
            }
        }
        TaskType::Branch(c) => {
            if c.field.is_empty() {
                bad("field", "names the field of the upstream's result to branch on".into());
            }
            if c.cases.is_empty() {
                bad("cases", "a branch needs at least one case".into());
            }
            // Checked against the graph in `check_graph`, where every task is known.
        }
        TaskType::Command(c) => {
            if c.program.trim().is_empty() {
                bad("program", "names the program to run".into());
            }
            for key in c.env.keys() {
                if !valid_param_name(key) {
                    bad("env", format!("'{key}' is not an environment variable's name"));
                }
            }
            if let Some(dir) = &c.workdir {
                let path = std::path::Path::new(dir);
                let escapes = path.is_absolute()
                    || dir.contains('\\')
                    || path.components().any(|p| !matches!(p, std::path::Component::Normal(_)));
                if escapes || dir.is_empty() {
                    bad("workdir", format!("'{dir}' must be a folder inside the run's folder (relative, no '..')"));
                }
            }
        }
        TaskType::Noop(_) => {}
    }
}

/// Checks upstream names, duplicates and cycles, and orders the tasks so that each comes after
/// its upstreams (Kahn's algorithm, keeping the file's order among equals).
fn check_graph(report: &mut Report, tasks: Vec<TaskSpec>) -> Vec<TaskSpec> {
    let mut seen = HashSet::new();
    for t in &tasks {
        if !seen.insert(t.id.as_str()) {
            report.add(Some(&t.id), Some("id"), "another task has this id");
        }
    }
    let ids: HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    for t in &tasks {
        let mut listed = HashSet::new();
        for u in &t.upstream {
            if u == &t.id {
                report.add(Some(&t.id), Some("upstream"), "a task cannot be its own upstream");
            } else if !ids.contains(u.as_str()) {
                report.add(Some(&t.id), Some("upstream"), format!("unknown task '{u}'"));
            } else if !listed.insert(u.as_str()) {
                report.add(Some(&t.id), Some("upstream"), format!("'{u}' is listed twice"));
            }
        }
        if let TaskType::Branch(b) = &t.task {
            for (case, targets) in
                b.cases.iter().map(|(k, v)| (format!("cases.{k}"), v)).chain([("default".to_string(), &b.default)])
            {
                for target in targets {
                    let below = tasks.iter().any(|d| &d.id == target && d.upstream.contains(&t.id));
                    if !below {
                        report.add(
                            Some(&t.id),
                            Some(&format!("config.{case}")),
                            format!("'{target}' is not a task downstream of this branch"),
                        );
                    }
                }
            }
        }
    }
    if !report.problems.is_empty() {
        return tasks;
    }
    let index: HashMap<&str, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let mut waiting: Vec<usize> = tasks.iter().map(|t| t.upstream.len()).collect();
    let mut below: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    for (i, t) in tasks.iter().enumerate() {
        for u in &t.upstream {
            below[index[u.as_str()]].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..tasks.len()).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &below[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() < tasks.len() {
        let cycle = find_cycle(&tasks, &index, &waiting);
        report.add(Some(&cycle[0]), Some("upstream"), format!("the tasks form a cycle: {}", cycle.join(" → ")));
        return tasks;
    }
    let mut slots: Vec<Option<TaskSpec>> = tasks.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// One cycle among the tasks Kahn's algorithm could not order, as ids ending where they start.
fn find_cycle(tasks: &[TaskSpec], index: &HashMap<&str, usize>, waiting: &[usize]) -> Vec<String> {
    // Walk upstream from a stuck task through stuck tasks: in a finite graph it must return to
    // a task it has seen, and the walk from there is the cycle.
    let mut at = (0..tasks.len()).find(|i| waiting[*i] > 0).unwrap_or(0);
    let mut path: Vec<usize> = Vec::new();
    let mut position: HashMap<usize, usize> = HashMap::new();
    loop {
        if let Some(&start) = position.get(&at) {
            // Downstream order, from the task that comes first in the file.
            let mut members: Vec<usize> = path[start..].iter().rev().copied().collect();
            let first = members.iter().enumerate().min_by_key(|(_, i)| **i).map(|(k, _)| k).unwrap_or(0);
            members.rotate_left(first);
            let mut cycle: Vec<String> = members.iter().map(|i| tasks[*i].id.clone()).collect();
            cycle.push(cycle[0].clone());
            return cycle;
        }
        position.insert(at, path.len());
        path.push(at);
        let next = tasks[at].upstream.iter().map(|u| index[u.as_str()]).find(|u| waiting[*u] > 0);
        match next {
            Some(n) => at = n,
            None => return vec![tasks[at].id.clone(), tasks[at].id.clone()],
        }
    }
}

/// Every `{{ … }}` in a task's config must name a parameter of the pipeline or a fact of the run.
fn check_templates(report: &mut Report, definition: &Definition) {
    let known: Vec<&str> = definition.params.iter().map(|p| p.name.as_str()).collect();
    for task in &definition.tasks {
        let Ok(config) = serde_json::to_value(&task.task) else { continue };
        let mut strings = Vec::new();
        template::strings(config.get("config").unwrap_or(&serde_json::Value::Null), "config", &mut strings);
        for (field, text) in strings {
            if let Err(message) = template::check(&text, &known) {
                report.add(Some(&task.id), Some(&field), message);
            }
        }
    }
}
