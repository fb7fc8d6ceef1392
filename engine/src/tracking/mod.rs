//! Tracking: MLflow-compatible experiment tracking: experiments (names unique, tags, rename, soft
//! delete and restore; `0`/`Default` always exists), runs with params, tags and metrics, run
//! search; artifacts and the registry come next. The plain types compile for the browser; with
//! `runtime`, the stores (`experiments.rs`, `runs.rs`, `metrics.rs`), the search filter
//! (`filter.rs`), signed page tokens (`tokens.rs`) and the [`Tracking`] handle.

use serde::{Deserialize, Serialize};

/// A key and a value, as MLflow sends and answers them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Whether an experiment (or later a run) is live or soft-deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Active,
    Deleted,
}

impl Lifecycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Active => "active",
            Lifecycle::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Lifecycle> {
        match s {
            "active" => Some(Lifecycle::Active),
            "deleted" => Some(Lifecycle::Deleted),
            _ => None,
        }
    }
}

/// Which experiments a search returns (MLflow's `view_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    /// MLflow's enum names, or their numbers (1, 2, 3).
    pub fn parse(s: &str) -> Option<ViewType> {
        match s {
            "ACTIVE_ONLY" | "1" => Some(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Some(ViewType::DeletedOnly),
            "ALL" | "3" => Some(ViewType::All),
            _ => None,
        }
    }
}

/// An experiment as MLflow's `Experiment` message has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    pub name: String,
    pub artifact_location: String,
    pub lifecycle_stage: Lifecycle,
    /// Epoch milliseconds.
    pub creation_time: i64,
    pub last_update_time: i64,
    pub tags: Vec<Tag>,
}

/// One page of a search, with the token of the next if there is one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentPage {
    pub experiments: Vec<Experiment>,
    pub next_page_token: Option<String>,
}

/// What a search asks for (MLflow's `SearchExperiments`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExperimentQuery {
    pub view_type: ViewType,
    /// At most [`MAX_SEARCH_RESULTS`]; `None` is MLflow's default of 1000.
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
    /// MLflow's filter: `name`, `tags.<key>`, `creation_time`, `last_update_time` clauses
    /// joined by `AND`.
    pub filter: Option<String>,
    /// `name`, `experiment_id`, `creation_time` or `last_update_time`, each optionally `ASC`/`DESC`.
    pub order_by: Vec<String>,
}

/// Where a run is in its life (MLflow's `RunStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    Running,
    Scheduled,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] =
        [RunStatus::Running, RunStatus::Scheduled, RunStatus::Finished, RunStatus::Failed, RunStatus::Killed];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// MLflow's names, or their numbers (1 to 5).
    pub fn parse(s: &str) -> Option<RunStatus> {
        let by_number = s.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| RunStatus::ALL.get(i));
        by_number.copied().or_else(|| RunStatus::ALL.into_iter().find(|r| r.as_str() == s))
    }
}

/// A run's metadata (MLflow's `RunInfo`; `run_uuid` is the same id, for older clients).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub run_uuid: String,
    pub run_name: String,
    pub experiment_id: String,
    pub user_id: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub artifact_uri: String,
    pub lifecycle_stage: Lifecycle,
}

/// A run's latest metric values, params and tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    pub metrics: Vec<Metric>,
    pub params: Vec<Tag>,
    pub tags: Vec<Tag>,
}

/// One point of a metric (MLflow's `Metric`). NaN and ±∞ are values like any other; in JSON
/// they are the strings MLflow uses ([`double`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    #[serde(with = "double")]
    pub value: f64,
    /// Epoch ms.
    pub timestamp: i64,
    #[serde(default)]
    pub step: i64,
    /// Set where points of several runs come together (the bulk history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The logged model (MLflow 3) and dataset a point was measured for, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

/// One page of a metric's history, in step order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPage {
    pub metrics: Vec<Metric>,
    pub next_page_token: Option<String>,
}

/// What a run search asks for (MLflow's `SearchRuns`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub experiment_ids: Vec<String>,
    /// MLflow's run filter: `metrics.`, `params.`, `tags.` and `attributes.` clauses joined by AND.
    pub filter: Option<String>,
    pub view_type: ViewType,
    /// At most [`MAX_SEARCH_RESULTS`]; `None` is 1000.
    pub max_results: Option<i64>,
    /// `metrics.<key>`, `params.<key>`, `tags.<key>` or `attributes.<name>`, then ASC/DESC.
    pub order_by: Vec<String>,
    pub page_token: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<Run>,
    pub next_page_token: Option<String>,
}

/// MLflow's log-batch limits.
pub const MAX_BATCH_METRICS: usize = 1_000;
pub const MAX_BATCH_PARAMS: usize = 100;
pub const MAX_BATCH_TAGS: usize = 100;
pub const MAX_BATCH_ENTITIES: usize = 1_000;
/// The page of a metric history when none is asked (what MLflow's client asks for).
pub const DEFAULT_HISTORY_RESULTS: i64 = 25_000;

/// Doubles as MLflow writes them in JSON: numbers, except NaN, `Infinity` and `-Infinity`, which
/// are strings (plain JSON has no such numbers, and serde would write `null`). Reading accepts
/// both forms, and numbers sent as strings.
pub mod double {
    use serde::{de, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v.is_infinite() {
            s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            s.serialize_f64(*v)
        }
    }

    /// A double's text as MLflow's JSON has it.
    pub fn parse(text: &str) -> Option<f64> {
        match text.trim() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" | "+Infinity" | "+inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            t => t.parse::<f64>().ok().filter(|v| v.is_finite()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = f64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
    #[serde(default)]
    pub inputs: RunInputs,
    #[serde(default)]
    pub outputs: RunOutputs,
}

/// What a run read: datasets (with their tags, such as `mlflow.data.context`) and models.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInputs {
    pub dataset_inputs: Vec<DatasetInput>,
    pub model_inputs: Vec<ModelInput>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInput {
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub dataset: Dataset,
}

/// MLflow's `Dataset`: a name and digest, where it came from, and optionally its schema and
/// profile (JSON text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInput {
    pub model_id: String,
}

/// The models a run produced (MLflow 3's `runs/outputs`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutputs {
    pub model_outputs: Vec<ModelOutput>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutput {
    pub model_id: String,
    #[serde(default)]
    pub step: i64,
}

/// A logged model (MLflow 3): what `log_model` made, with its own artifacts, params, tags and
/// metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoggedModel {
    pub info: LoggedModelInfo,
    pub data: LoggedModelData,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedModelInfo {
    pub model_id: String,
    pub experiment_id: String,
    pub name: String,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: String,
    /// `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    pub tags: Vec<Tag>,
    pub lifecycle_stage: Lifecycle,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggedModelData {
    pub params: Vec<Tag>,
    pub metrics: Vec<Metric>,
}

/// What a new logged model starts with (MLflow's `CreateLoggedModel`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewLoggedModel {
    pub experiment_id: String,
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<Tag>,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggedModelPage {
    pub models: Vec<LoggedModel>,
    pub next_page_token: Option<String>,
}

/// The logged-model statuses MLflow knows.
pub const LOGGED_MODEL_STATUSES: [&str; 3] =
    ["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"];

/// A registered model (MLflow's `RegisteredModel`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub user_id: String,
    pub description: String,
    /// The newest version (MLflow lists the latest per stage; with stages retired, the one).
    pub latest_versions: Vec<ModelVersion>,
    pub tags: Vec<Tag>,
    pub aliases: Vec<Alias>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub alias: String,
    pub version: String,
}

/// A version of a registered model (MLflow's `ModelVersion`). `version` is a string, as MLflow
/// sends it; `status` is always READY (nothing is copied at registration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub user_id: String,
    pub current_stage: String,
    pub description: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub status: String,
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_link: Option<String>,
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// What a new model version is made from (MLflow's `CreateModelVersion`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModelPage {
    pub registered_models: Vec<RegisteredModel>,
    pub next_page_token: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersionPage {
    pub model_versions: Vec<ModelVersion>,
    pub next_page_token: Option<String>,
}

/// What a new run starts with (MLflow's `CreateRun`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRun {
    pub experiment_id: String,
    /// Who ran it; empty means the caller.
    pub user_id: Option<String>,
    pub run_name: Option<String>,
    /// Epoch ms; `None` is now.
    pub start_time: Option<i64>,
    pub tags: Vec<Tag>,
}

/// MLflow's tag that names a run, and the one that makes it a child.
pub const RUN_NAME_TAG: &str = "mlflow.runName";
pub const PARENT_RUN_TAG: &str = "mlflow.parentRunId";
pub const MAX_PARAM_VALUE: usize = 6_000;
pub const MAX_RUN_TAG_VALUE: usize = 8_000;

/// The largest page a search may ask for (MLflow's limit).
pub const MAX_SEARCH_RESULTS: i64 = 50_000;
/// The default page of a search.
pub const DEFAULT_SEARCH_RESULTS: i64 = 1_000;
/// An entry of an artifact folder: its path relative to what was listed, as MLflow's
/// `FileInfo` has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactEntry {
    pub path: String,
    pub is_dir: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
}

/// An experiment with what its runs say about it, for the Experiments page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExperimentSummary {
    pub experiment: Experiment,
    /// Its runs that are not deleted.
    pub runs: i64,
    /// Of those, the ones running now.
    pub running: i64,
    /// The latest start or end of a run, or the experiment's own last change (epoch ms).
    pub last_activity: i64,
}

/// The keys a runs table can show as columns: those of an experiment's latest runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunColumns {
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub tags: Vec<String>,
}

/// A run named in another's page: its parent or a child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLink {
    pub run_id: String,
    pub run_name: String,
    pub experiment_id: String,
    pub status: RunStatus,
}

/// Everything the Run page shows besides metric charts and artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetail {
    pub run: Run,
    pub experiment: Experiment,
    pub parent: Option<RunLink>,
    pub children: Vec<RunLink>,
    /// The logged models it made (MLflow 3) or used.
    pub logged_models: Vec<LoggedModel>,
    /// Registered model versions made from it.
    pub versions: Vec<ModelVersion>,
}

/// What the Run page's artifact browser shows of a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactPreview {
    /// Relative to the run's artifact folder.
    pub path: String,
    /// Bytes read for the preview (the whole file unless `truncated`).
    pub bytes: u64,
    /// The file is longer than a preview reads; what is shown is its start.
    pub truncated: bool,
    pub body: PreviewBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreviewBody {
    /// Text (JSON pretty-printed when it parses); `syntax` is "json", "yaml" or "text".
    Text { text: String, syntax: String },
    /// A CSV or TSV file's first rows.
    Table { header: Vec<String>, rows: Vec<Vec<String>> },
    /// An image as a `data:` URL (the page's CSP allows those and nothing else remote).
    Image { data_url: String },
    /// Nothing to show; why.
    None { reason: String },
}

/// MLflow's validation limits.
pub const MAX_EXPERIMENT_NAME: usize = 500;
pub const MAX_KEY: usize = 250;
pub const MAX_EXPERIMENT_TAG_VALUE: usize = 20_000;

#[cfg(feature = "runtime")]
pub mod experiments;
#[cfg(feature = "runtime")]
pub mod filter;
#[cfg(feature = "runtime")]
mod handle;
#[cfg(feature = "runtime")]
pub mod metrics;
#[cfg(feature = "runtime")]
pub mod models;
#[cfg(feature = "runtime")]
pub mod registry;
#[cfg(feature = "runtime")]
pub mod runs;
#[cfg(feature = "runtime")]
mod tokens;

#[cfg(feature = "runtime")]
pub use handle::{Tracking, TrackingError};
