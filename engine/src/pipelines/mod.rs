//! Pipelines (issue 13): DAG definitions with typed parameters, a schedule and typed tasks.
//! These types compile for the browser too (the pages render definitions and build the trigger
//! form from the parameters); with `runtime`, [`definition`] reads and validates TOML and
//! [`schedule`] computes cron times in a time zone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[cfg(feature = "runtime")]
pub mod attempt_log;
#[cfg(feature = "runtime")]
pub mod catalog;
#[cfg(feature = "runtime")]
pub mod component;
#[cfg(feature = "runtime")]
pub mod dag;
#[cfg(feature = "runtime")]
pub mod definition;
#[cfg(all(test, feature = "runtime"))]
mod definition_tests;
#[cfg(feature = "runtime")]
pub mod executor;
#[cfg(all(test, feature = "runtime"))]
mod executor_tests;
#[cfg(feature = "runtime")]
mod handle;
#[cfg(feature = "runtime")]
pub mod runs;
#[cfg(feature = "runtime")]
pub mod schedule;
#[cfg(feature = "runtime")]
pub mod scheduler;
#[cfg(feature = "runtime")]
pub mod template;
#[cfg(feature = "runtime")]
pub mod versions;

#[cfg(feature = "runtime")]
pub use handle::{check_params, PipelineError, Pipelines};

/// The longest id of a pipeline, task or parameter.
pub const MAX_ID: usize = 64;
/// The most tasks one pipeline may have.
pub const MAX_TASKS: usize = 1_000;
/// The most runs a bounded catch-up may create at once.
pub const MAX_CATCHUP_RUNS: u32 = 1_000;

/// What a parameter holds; the trigger form shows a field of this kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    String,
    Number,
    Boolean,
    /// One of the parameter's `choices`.
    Choice,
    /// A file from Files, by its id.
    File,
}

impl ParamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::String => "string",
            ParamKind::Number => "number",
            ParamKind::Boolean => "boolean",
            ParamKind::Choice => "choice",
            ParamKind::File => "file",
        }
    }
}

/// A parameter's value, as a trigger gives it and tasks read it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Number(f64),
    Text(String),
}

impl ParamValue {
    /// The value as text, as a task's config receives it in place of `{{ params.name }}`.
    pub fn as_text(&self) -> String {
        match self {
            ParamValue::Bool(b) => b.to_string(),
            // Whole numbers read as integers (a file id, a count), not as 42.0.
            ParamValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            ParamValue::Number(n) => n.to_string(),
            ParamValue::Text(t) => t.clone(),
        }
    }
}

/// A typed parameter of a pipeline. Without a default it is required.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub description: String,
    pub default: Option<ParamValue>,
    /// The allowed values of a `choice`.
    pub choices: Vec<String>,
}

impl ParamSpec {
    /// Checks a value against the kind (and the choices), naming the parameter and the rule.
    pub fn check(&self, value: &ParamValue) -> Result<(), String> {
        let name = &self.name;
        match (self.kind, value) {
            (ParamKind::String, ParamValue::Text(_)) => Ok(()),
            (ParamKind::Number, ParamValue::Number(n)) if n.is_finite() => Ok(()),
            (ParamKind::Boolean, ParamValue::Bool(_)) => Ok(()),
            (ParamKind::Choice, ParamValue::Text(t)) if self.choices.contains(t) => Ok(()),
            (ParamKind::Choice, _) => Err(format!("parameter '{name}' must be one of {}", self.choices.join(", "))),
            (ParamKind::File, ParamValue::Number(n)) if *n >= 1.0 && n.fract() == 0.0 => Ok(()),
            (ParamKind::File, _) => Err(format!("parameter '{name}' must be a file id (a whole number from 1)")),
            (kind, _) => Err(format!("parameter '{name}' must be a {}", kind.as_str())),
        }
    }
}

/// When a task runs, given how its upstream tasks ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// Every upstream succeeded (skipped ones count as not run: the task is skipped too).
    #[default]
    AllSuccess,
    /// Every upstream ended, however.
    AllDone,
    /// At least one upstream failed (a clean-up or an alert).
    OneFailed,
    /// No upstream failed; skipped ones are fine.
    NoneFailed,
}

impl TriggerRule {
    pub const ALL: [TriggerRule; 4] =
        [TriggerRule::AllSuccess, TriggerRule::AllDone, TriggerRule::OneFailed, TriggerRule::NoneFailed];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllDone => "all_done",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::NoneFailed => "none_failed",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerRule> {
        TriggerRule::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// How a failed attempt is tried again: `retries` more attempts, the n-th after
/// `delay × backoffⁿ⁻¹` capped at `max_delay`, with jitter drawing from its upper half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryPolicy {
    pub retries: u32,
    pub delay_ms: u64,
    pub backoff: f64,
    pub max_delay_ms: u64,
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { retries: 0, delay_ms: 30_000, backoff: 2.0, max_delay_ms: 600_000, jitter: true }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first), given `unit` in [0, 1) from a
    /// random source (the engine's tests pass fixed ones).
    pub fn delay_before(&self, retry: u32, unit: f64) -> u64 {
        let exponent = retry.saturating_sub(1).min(63) as i32;
        let full = (self.delay_ms as f64 * self.backoff.max(1.0).powi(exponent)).min(self.max_delay_ms as f64);
        let wait = if self.jitter { full / 2.0 + full / 2.0 * unit.clamp(0.0, 1.0) } else { full };
        wait.round().max(0.0) as u64
    }
}

/// A cron schedule in a time zone. Missed times (okrflow was down, or the pipeline paused) are
/// skipped but for the latest, unless `catchup` asks for up to `max_catchup_runs` of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub cron: String,
    /// An IANA time zone name (`Europe/Berlin`); `UTC` unless given.
    pub timezone: String,
    pub catchup: bool,
    pub max_catchup_runs: u32,
}

/// Where a table of an upstream task comes from when a task names none: the only upstream.
pub type Input = Option<String>;

/// A file of Files: by id (or a parameter giving one), by name (the newest of that name), or the
/// newest whose name matches a glob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReadFile {
    #[serde(default)]
    pub id: Option<IdOrTemplate>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub glob: Option<String>,
}

/// A whole number, or text that becomes one once its `{{ params.… }}` are filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum IdOrTemplate {
    Id(i64),
    Template(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

/// How a request proves who it is, from a stored secret (never written in the definition).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    Bearer {
        secret: String,
    },
    /// `user:password` in the secret.
    Basic {
        secret: String,
    },
    Header {
        name: String,
        secret: String,
    },
}

/// How further pages are found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// The `Link: <…>; rel="next"` header.
    Link,
    /// A page number in a query parameter, counting from `start`, until a page comes back empty.
    Page {
        #[serde(default = "page_param")]
        param: String,
        #[serde(default = "one")]
        start: u64,
    },
    /// A cursor read from the answer (a JSON pointer) and sent back in a query parameter.
    Cursor { param: String, field: String },
}

fn page_param() -> String {
    "page".into()
}

fn one() -> u64 {
    1
}

fn default_max_pages() -> u32 {
    100
}

fn default_fetch_retries() -> u32 {
    3
}

/// An HTTP GET or POST whose JSON answer becomes a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HttpFetch {
    pub url: String,
    #[serde(default)]
    pub method: HttpMethod,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    /// A JSON body for a POST.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// A JSON pointer to the array of records in each answer (`/data`); the answer itself
    /// when it is an array.
    #[serde(default)]
    pub records: Option<String>,
    /// Tries after a 5xx, a 429 or a dropped connection (honouring Retry-After).
    #[serde(default = "default_fetch_retries")]
    pub retries: u32,
    /// Requests a second at most.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Per request, as `30s`; the task's own timeout bounds them all.
    #[serde(default)]
    pub timeout: Option<String>,
}

/// A column's expected type in a `validate` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Integer,
    Float,
    Boolean,
    Date,
    Datetime,
}

/// What one column must satisfy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    pub column: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, rename = "type")]
    pub column_type: Option<ColumnType>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub unique: bool,
    /// The largest share of empty values, 0 to 1.
    #[serde(default)]
    pub max_null_share: Option<f64>,
}

/// Rules over a table → a report; the task fails when more than `max_failed_share` of the rows
/// break a rule, or a column rule (required, type, unique, null share) fails.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Validate {
    #[serde(default)]
    pub input: Input,
    pub rules: Vec<ColumnRule>,
    #[serde(default)]
    pub max_failed_share: f64,
}

/// Polars SQL over the upstream tables, each named by its task's id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Transform {
    pub sql: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    #[default]
    First,
    Last,
}

/// One row per distinct value of `columns`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Dedupe {
    #[serde(default)]
    pub input: Input,
    pub columns: Vec<String>,
    #[serde(default)]
    pub keep: Keep,
}

/// A named, versioned dataset (Parquet in the object store, with its schema and row count).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WriteTable {
    #[serde(default)]
    pub input: Input,
    pub name: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    #[default]
    Csv,
    Parquet,
    Json,
}

/// A table or report into Files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    #[serde(default)]
    pub input: Input,
    pub name: String,
    #[serde(default)]
    pub format: FileFormat,
}

/// Chooses which of its downstream tasks run from a field of an upstream's result: the tasks of
/// the case equal to the field's value, else `default`; the others are skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Branch {
    #[serde(default)]
    pub input: Input,
    /// A field of the upstream's result (`passed`, `rows`).
    pub field: String,
    pub cases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub default: Vec<String>,
}

/// A program run in the run's folder (definitions saved by admins only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A folder inside the run's folder.
    #[serde(default)]
    pub workdir: Option<String>,
}

/// Does nothing (joins, placeholders, benchmarks).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Noop {}

/// A task's type with its typed config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", content = "config", rename_all = "snake_case")]
pub enum TaskType {
    ReadFile(ReadFile),
    HttpFetch(HttpFetch),
    Validate(Validate),
    Transform(Transform),
    Dedupe(Dedupe),
    WriteTable(WriteTable),
    WriteFile(WriteFile),
    Branch(Branch),
    Command(Command),
    Noop(Noop),
}

impl TaskType {
    pub const NAMES: [&'static str; 10] = [
        "read_file",
        "http_fetch",
        "validate",
        "transform",
        "dedupe",
        "write_table",
        "write_file",
        "branch",
        "command",
        "noop",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            TaskType::ReadFile(_) => "read_file",
            TaskType::HttpFetch(_) => "http_fetch",
            TaskType::Validate(_) => "validate",
            TaskType::Transform(_) => "transform",
            TaskType::Dedupe(_) => "dedupe",
            TaskType::WriteTable(_) => "write_table",
            TaskType::WriteFile(_) => "write_file",
            TaskType::Branch(_) => "branch",
            TaskType::Command(_) => "command",
            TaskType::Noop(_) => "noop",
        }
    }

    /// The upstream a task reads its one table from, when its type reads one.
    pub fn input(&self) -> Option<&Input> {
        match self {
            TaskType::Validate(c) => Some(&c.input),
            TaskType::Dedupe(c) => Some(&c.input),
            TaskType::WriteTable(c) => Some(&c.input),
            TaskType::WriteFile(c) => Some(&c.input),
            TaskType::Branch(c) => Some(&c.input),
            _ => None,
        }
    }
}

/// One task of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskSpec {
    pub id: String,
    pub task: TaskType,
    pub upstream: Vec<String>,
    pub retry: RetryPolicy,
    /// 0: none but the pipeline's.
    pub timeout_ms: u64,
    pub trigger_rule: TriggerRule,
}

/// Where a definition came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Compiled into okrflow.
    BuiltIn,
    /// A TOML file in `<data-dir>/pipelines/`.
    File,
}

/// A validated pipeline: its tasks are in an order where every task comes after its upstreams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Definition {
    pub id: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
    pub params: Vec<ParamSpec>,
    pub schedule: Option<Schedule>,
    pub max_active_runs: u32,
    pub tasks: Vec<TaskSpec>,
    pub origin: Origin,
}

impl Definition {
    pub fn task(&self, id: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// The tasks that list `id` among their upstreams.
    pub fn downstream<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a TaskSpec> + 'a {
        self.tasks.iter().filter(move |t| t.upstream.iter().any(|u| u == id))
    }

    /// Whether it runs programs (only admins may save such a definition).
    pub fn has_commands(&self) -> bool {
        self.tasks.iter().any(|t| matches!(t.task, TaskType::Command(_)))
    }
}

/// One thing wrong with a definition: the file, and the task and field where there is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    pub file: String,
    pub task: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(task) = &self.task {
            write!(f, ": task '{task}'")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One recorded version of a definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: i64,
    pub sha256: String,
    /// Who saved it on the page; None when it was read from its file.
    pub saved_by: Option<String>,
    pub created_ms: i64,
}

/// A pipeline as the list shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineSummary {
    pub id: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
    pub schedule: Option<Schedule>,
    pub paused: bool,
    pub version: i64,
    pub tasks: usize,
    pub origin: Origin,
    /// Its file has problems now (the version shown is the last that read well).
    pub has_problems: bool,
}

/// A pipeline in force: its definition, the version it is, its source, and what is wrong with
/// its file's current text, if anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineView {
    pub definition: Definition,
    pub version: i64,
    pub source: String,
    pub file: String,
    pub paused: bool,
    pub problems: Vec<Problem>,
}

/// A past version: its source, and its definition when this okrflow still reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineVersion {
    pub info: VersionInfo,
    pub source: String,
    pub definition: Option<Definition>,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Waiting for a place under the pipeline's `max_active_runs`.
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
}

impl RunState {
    pub const ALL: [RunState; 5] =
        [RunState::Queued, RunState::Running, RunState::Success, RunState::Failed, RunState::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Success => "success",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_done(self) -> bool {
        matches!(self, RunState::Success | RunState::Failed | RunState::Cancelled)
    }
}

/// Where a task of a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Its upstream tasks have not all ended.
    Pending,
    /// Ready for a worker (a retry waits for its time).
    Queued,
    Running,
    Success,
    Failed,
    /// Not run: a branch chose others, or its trigger rule said no.
    Skipped,
    /// Not run because an upstream failed.
    UpstreamFailed,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 8] = [
        TaskState::Pending,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Success,
        TaskState::Failed,
        TaskState::Skipped,
        TaskState::UpstreamFailed,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Success => "success",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_done(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Queued | TaskState::Running)
    }

    /// Counts as a failure for trigger rules and the run's outcome.
    pub fn is_failure(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::UpstreamFailed)
    }
}

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Schedule,
    Manual,
    /// A file whose name matched the pipeline's upload pattern.
    Upload,
    /// Another pipeline's run succeeded.
    Pipeline,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Manual => "manual",
            TriggerKind::Upload => "upload",
            TriggerKind::Pipeline => "pipeline",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerKind> {
        [TriggerKind::Schedule, TriggerKind::Manual, TriggerKind::Upload, TriggerKind::Pipeline]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A run as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunSummary {
    pub id: i64,
    pub pipeline_id: String,
    pub version: i64,
    pub state: RunState,
    pub trigger: TriggerKind,
    pub triggered_by: String,
    pub params: BTreeMap<String, ParamValue>,
    pub scheduled_ms: Option<i64>,
    pub note: Option<String>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
}

/// One task of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskInstanceView {
    pub task_id: String,
    pub state: TaskState,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When a queued retry may start.
    pub ready_ms: i64,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub message: Option<String>,
    /// Its small JSON result (counts, paths, a branch's choice), as text.
    pub output: Option<String>,
    /// The process running it.
    pub owner: Option<String>,
}

/// One attempt of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptView {
    pub task_id: String,
    pub attempt: u32,
    pub owner: String,
    pub state: TaskState,
    pub message: Option<String>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub log_bytes: u64,
    pub log_cut: bool,
}

/// A run with its tasks and their attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunView {
    pub run: RunSummary,
    pub tasks: Vec<TaskInstanceView>,
    pub attempts: Vec<AttemptView>,
}

/// A piece of an attempt's log from an offset, and where to read on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPiece {
    pub text: String,
    pub next_offset: u64,
    /// The attempt ended and everything was read.
    pub done: bool,
    pub cut: bool,
}

/// The pipelines in force, and what is wrong with the definition files that do not read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineList {
    pub pipelines: Vec<PipelineSummary>,
    pub problems: Vec<Problem>,
}

/// A page of runs, newest first; `next_before` continues the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    pub next_before: Option<i64>,
}

/// A trigger's body: the parameters by name (the defaults fill the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
}

/// The run a trigger started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Triggered {
    pub pipeline_id: String,
    pub run_id: i64,
}

/// How a mark ends a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MarkAs {
    Success,
    Failed,
}

/// A mark's body: the outcome and a note saying why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkRequest {
    pub state: MarkAs,
    #[serde(default)]
    pub note: String,
}

/// A run as a coloured dot in lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDot {
    pub id: i64,
    pub state: RunState,
}

/// A pipeline as the Pipelines page lists it: its summary, its schedule's next time and its
/// latest runs (newest first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRow {
    pub summary: PipelineSummary,
    pub next_ms: Option<i64>,
    pub recent: Vec<RunDot>,
}

/// The recent runs of a pipeline by its tasks: the runs (newest first) and each task's state in
/// each, from one query with a hard limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunGrid {
    pub runs: Vec<RunSummary>,
    /// (run id, task id, state, attempts)
    pub cells: Vec<(i64, String, TaskState, u32)>,
}

/// The most runs the grid shows.
pub const GRID_RUNS: u32 = 25;
