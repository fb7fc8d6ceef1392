//! Tracking: MLflow-compatible experiment tracking. This part owns experiments (names unique,
//! tags, rename, soft delete and restore; `0`/`Default` always exists); runs, metrics, artifacts
//! and the registry come next. The plain types compile for the browser; with `runtime`, the
//! store (`experiments.rs`), the search filter (`filter.rs`) and the [`Tracking`] handle.

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

/// A run's params and tags (metrics come with the metrics store).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunData {
    pub params: Vec<Tag>,
    pub tags: Vec<Tag>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
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
pub mod runs;

#[cfg(feature = "runtime")]
pub use handle::{Tracking, TrackingError};
