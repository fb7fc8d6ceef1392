//! [`Tracking`]: the tracking capability as the MLflow routes, the pages and okrflow's own
//! pipelines use it. Each action takes the [`Actor`], checks its role (viewers read, editors
//! write), validates at MLflow's limits and writes its own audit record for a change.

use super::experiments::{self, DEFAULT_ID};
use super::runs;
use super::{
    filter, Experiment, ExperimentPage, ExperimentQuery, Lifecycle, NewRun, Run, RunInfo, RunStatus, Tag,
    DEFAULT_SEARCH_RESULTS, MAX_EXPERIMENT_NAME, MAX_EXPERIMENT_TAG_VALUE, MAX_KEY, MAX_PARAM_VALUE, MAX_RUN_TAG_VALUE,
    MAX_SEARCH_RESULTS, RUN_NAME_TAG,
};
use crate::accounts::audit::Outcome;
use crate::accounts::{self, Role};
use crate::actor::{Actor, Denied};
use crate::db::Database;
use crate::error::{ErrorKind, Failure};

/// Why a tracking action was refused or failed; [`TrackingError::code`] is MLflow's name for it.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the tracking store failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Denied(#[from] Denied),
}

impl Failure for TrackingError {
    fn kind(&self) -> ErrorKind {
        match self {
            TrackingError::NotFound(_) => ErrorKind::NotFound,
            // MLflow answers a duplicate with 400, and its client depends on that status.
            TrackingError::AlreadyExists(_) | TrackingError::Invalid(_) => ErrorKind::Invalid,
            TrackingError::Db(e) => crate::db::error_kind(e),
            TrackingError::Denied(d) => d.kind(),
        }
    }
}

impl TrackingError {
    /// MLflow's `error_code`, which its client reads (`RESOURCE_DOES_NOT_EXIST` makes
    /// `get_experiment_by_name` answer `None`; `RESOURCE_ALREADY_EXISTS` settles races).
    pub fn code(&self) -> &'static str {
        match self {
            TrackingError::NotFound(_) => "RESOURCE_DOES_NOT_EXIST",
            TrackingError::AlreadyExists(_) => "RESOURCE_ALREADY_EXISTS",
            TrackingError::Invalid(_) => "INVALID_PARAMETER_VALUE",
            TrackingError::Db(_) => match self.kind() {
                ErrorKind::Unavailable => "TEMPORARILY_UNAVAILABLE",
                _ => "INTERNAL_ERROR",
            },
            TrackingError::Denied(d) => match d.kind() {
                ErrorKind::Unauthenticated => "UNAUTHENTICATED",
                _ => "PERMISSION_DENIED",
            },
        }
    }
}

#[derive(Clone)]
pub struct Tracking {
    db: Database,
}

fn no_experiment(id: &str) -> TrackingError {
    TrackingError::NotFound(format!("no experiment with id '{}'", crate::accounts::audit::bounded(id, 40)))
}

/// An experiment id as the API sends it (decimal digits); anything else names no experiment.
fn parse_id(id: &str) -> Result<i64, TrackingError> {
    id.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| no_experiment(id))
}

fn check_name(name: &str) -> Result<&str, TrackingError> {
    if name.trim().is_empty() {
        return Err(TrackingError::Invalid("an experiment needs a name".into()));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME {
        return Err(TrackingError::Invalid(format!(
            "an experiment name has at most {MAX_EXPERIMENT_NAME} characters; this one has {}",
            name.chars().count()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(TrackingError::Invalid("an experiment name has no control characters".into()));
    }
    Ok(name)
}

fn check_tag(tag: &Tag) -> Result<(), TrackingError> {
    check_pair("experiment tag", tag, MAX_EXPERIMENT_TAG_VALUE)
}

/// A key (1 to [`MAX_KEY`] characters, no control characters) and a value within `max`.
fn check_pair(what: &str, tag: &Tag, max: usize) -> Result<(), TrackingError> {
    if tag.key.is_empty() || tag.key.chars().count() > MAX_KEY || tag.key.chars().any(char::is_control) {
        return Err(TrackingError::Invalid(format!(
            "{what} keys are 1 to {MAX_KEY} characters without control characters; got '{}'",
            crate::accounts::audit::bounded(&tag.key, 40)
        )));
    }
    if tag.value.chars().count() > max {
        return Err(TrackingError::Invalid(format!(
            "the value of {what} '{}' has more than {max} characters",
            tag.key
        )));
    }
    if tag.value.contains('\0') {
        return Err(TrackingError::Invalid(format!("the value of {what} '{}' holds a NUL", tag.key)));
    }
    Ok(())
}

/// A duplicate name, told apart from other failures of an insert or update.
fn duplicate_name(e: sqlx::Error, name: &str) -> TrackingError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            TrackingError::AlreadyExists(format!("an experiment named '{name}' already exists"))
        }
        _ => TrackingError::Db(e),
    }
}

/// `order_by` entries as (column, ascending).
fn order_of(order_by: &[String]) -> Result<Vec<(&'static str, bool)>, TrackingError> {
    let mut order = Vec::new();
    for entry in order_by {
        let mut words = entry.split_whitespace();
        let field = words.next().unwrap_or_default().to_ascii_lowercase();
        let field = ["attributes.", "attribute.", "attr."].iter().find_map(|p| field.strip_prefix(p)).unwrap_or(&field);
        let column = match field {
            "name" => "e.name",
            "experiment_id" => "e.id",
            "creation_time" => "e.creation_time",
            "last_update_time" => "e.last_update_time",
            _ => {
                return Err(TrackingError::Invalid(format!(
                    "invalid order_by '{entry}': experiments sort by name, experiment_id, creation_time or last_update_time"
                )))
            }
        };
        let ascending = match words.next().map(|w| w.to_ascii_uppercase()) {
            None => true,
            Some(w) if w == "ASC" => true,
            Some(w) if w == "DESC" => false,
            Some(_) => return Err(TrackingError::Invalid(format!("invalid order_by '{entry}': use ASC or DESC"))),
        };
        if words.next().is_some() {
            return Err(TrackingError::Invalid(format!("invalid order_by '{entry}'")));
        }
        order.push((column, ascending));
    }
    if order.is_empty() {
        // MLflow's default: newest first.
        order.push(("e.creation_time", false));
    }
    Ok(order)
}

/// Page tokens are the offset of the next page; opaque to clients.
fn offset_of(token: Option<&str>) -> Result<i64, TrackingError> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("o")
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| TrackingError::Invalid("invalid page_token: use the next_page_token of a search".into())),
    }
}

impl Tracking {
    /// The capability over `db`, making the Default experiment if it is missing.
    pub async fn open(db: Database) -> Result<Tracking, TrackingError> {
        experiments::ensure_default(&db, crate::now_ms()).await?;
        Ok(Tracking { db })
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, detail: &str) {
        accounts::record(&self.db, actor, action, target, Outcome::Ok, detail).await;
    }

    async fn existing(&self, id: &str) -> Result<Experiment, TrackingError> {
        experiments::get(&self.db, parse_id(id)?).await?.ok_or_else(|| no_experiment(id))
    }

    /// Creates an experiment; its id. okrflow serves every experiment's artifacts itself, so an
    /// `artifact_location` may only be empty or okrflow's own.
    pub async fn create_experiment(
        &self,
        actor: &Actor,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
    ) -> Result<String, TrackingError> {
        actor.require(Role::Editor)?;
        let name = check_name(name)?;
        tags.iter().try_for_each(check_tag)?;
        if let Some(location) = artifact_location.filter(|l| !l.is_empty()) {
            if !location.starts_with("mlflow-artifacts:") {
                return Err(TrackingError::Invalid(format!(
                    "artifact_location '{}' is not okrflow's: okrflow keeps artifacts in its own store; leave it empty",
                    crate::accounts::audit::bounded(location, 80)
                )));
            }
        }
        let id =
            experiments::create(&self.db, name, tags, crate::now_ms()).await.map_err(|e| duplicate_name(e, name))?;
        self.audit(actor, "experiment.create", &format!("experiment {id} '{name}'"), "").await;
        Ok(id.to_string())
    }

    pub async fn experiment(&self, actor: &Actor, id: &str) -> Result<Experiment, TrackingError> {
        actor.require(Role::Viewer)?;
        self.existing(id).await
    }

    pub async fn experiment_by_name(&self, actor: &Actor, name: &str) -> Result<Experiment, TrackingError> {
        actor.require(Role::Viewer)?;
        experiments::get_by_name(&self.db, name).await?.ok_or_else(|| {
            TrackingError::NotFound(format!(
                "no experiment named '{}'",
                crate::accounts::audit::bounded(name, MAX_EXPERIMENT_NAME)
            ))
        })
    }

    pub async fn search_experiments(
        &self,
        actor: &Actor,
        q: &ExperimentQuery,
    ) -> Result<ExperimentPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = q.max_results.unwrap_or(DEFAULT_SEARCH_RESULTS);
        if !(1..=MAX_SEARCH_RESULTS).contains(&limit) {
            return Err(TrackingError::Invalid(format!(
                "max_results must be between 1 and {MAX_SEARCH_RESULTS}; got {limit}"
            )));
        }
        let clauses = filter::parse(q.filter.as_deref().unwrap_or("")).map_err(TrackingError::Invalid)?;
        let order = order_of(&q.order_by)?;
        let offset = offset_of(q.page_token.as_deref())?;
        let (experiments, more) = experiments::search(&self.db, q, &clauses, &order, offset).await?;
        Ok(ExperimentPage { experiments, next_page_token: more.then(|| format!("o{}", offset + limit)) })
    }

    pub async fn rename_experiment(&self, actor: &Actor, id: &str, new_name: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let name = check_name(new_name)?;
        let before = self.existing(id).await?;
        let id_n = parse_id(id)?;
        experiments::rename(&self.db, id_n, name, crate::now_ms()).await.map_err(|e| duplicate_name(e, name))?;
        let detail = format!("'{}' → '{name}'", before.name);
        self.audit(actor, "experiment.rename", &format!("experiment {id_n}"), &detail).await;
        Ok(())
    }

    /// Soft-deletes: the experiment and its runs stay, listed as deleted, until restored.
    pub async fn delete_experiment(&self, actor: &Actor, id: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let experiment = self.existing(id).await?;
        let id_n = parse_id(id)?;
        if id_n == DEFAULT_ID {
            return Err(TrackingError::Invalid("the Default experiment (id 0) cannot be deleted".into()));
        }
        if experiment.lifecycle_stage == Lifecycle::Deleted {
            return Err(TrackingError::Invalid(format!("experiment {id_n} '{}' is already deleted", experiment.name)));
        }
        experiments::set_lifecycle(&self.db, id_n, Lifecycle::Deleted, crate::now_ms()).await?;
        self.audit(actor, "experiment.delete", &format!("experiment {id_n} '{}'", experiment.name), "").await;
        Ok(())
    }

    pub async fn restore_experiment(&self, actor: &Actor, id: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let experiment = self.existing(id).await?;
        let id_n = parse_id(id)?;
        if experiment.lifecycle_stage == Lifecycle::Active {
            return Err(TrackingError::Invalid(format!("experiment {id_n} '{}' is not deleted", experiment.name)));
        }
        experiments::set_lifecycle(&self.db, id_n, Lifecycle::Active, crate::now_ms()).await?;
        self.audit(actor, "experiment.restore", &format!("experiment {id_n} '{}'", experiment.name), "").await;
        Ok(())
    }

    pub async fn set_experiment_tag(&self, actor: &Actor, id: &str, tag: &Tag) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_tag(tag)?;
        let experiment = self.existing(id).await?;
        if experiment.lifecycle_stage == Lifecycle::Deleted {
            return Err(TrackingError::Invalid(format!("experiment {id} is deleted; restore it to change its tags")));
        }
        experiments::set_tag(&self.db, parse_id(id)?, tag, crate::now_ms()).await?;
        self.audit(actor, "experiment.set_tag", &format!("experiment {id}"), &tag.key).await;
        Ok(())
    }

    pub async fn delete_experiment_tag(&self, actor: &Actor, id: &str, key: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.existing(id).await?;
        if !experiments::delete_tag(&self.db, parse_id(id)?, key).await? {
            return Err(TrackingError::NotFound(format!(
                "experiment {id} has no tag '{}'",
                crate::accounts::audit::bounded(key, MAX_KEY)
            )));
        }
        self.audit(actor, "experiment.delete_tag", &format!("experiment {id}"), key).await;
        Ok(())
    }

    async fn existing_run(&self, id: &str) -> Result<Run, TrackingError> {
        let found = if runs::is_id(id) { runs::get(&self.db, id).await? } else { None };
        found.ok_or_else(|| {
            TrackingError::NotFound(format!("no run with id '{}'", crate::accounts::audit::bounded(id, 40)))
        })
    }

    async fn active_run(&self, id: &str) -> Result<Run, TrackingError> {
        let run = self.existing_run(id).await?;
        if run.info.lifecycle_stage == Lifecycle::Deleted {
            return Err(TrackingError::Invalid(format!("run '{id}' is deleted; restore it to change it")));
        }
        Ok(run)
    }

    /// Starts a run (RUNNING) in an active experiment. Its name is `run_name`, or its
    /// `mlflow.runName` tag (both given must agree), or a generated one; the name is also kept
    /// as that tag, as MLflow does.
    pub async fn create_run(&self, actor: &Actor, new: &NewRun) -> Result<Run, TrackingError> {
        actor.require(Role::Editor)?;
        let experiment = self.existing(&new.experiment_id).await?;
        if experiment.lifecycle_stage == Lifecycle::Deleted {
            return Err(TrackingError::Invalid(format!(
                "experiment {} '{}' is deleted; restore it to start runs in it",
                experiment.experiment_id, experiment.name
            )));
        }
        new.tags.iter().try_for_each(|t| check_pair("run tag", t, MAX_RUN_TAG_VALUE))?;
        let tagged = new.tags.iter().find(|t| t.key == RUN_NAME_TAG).map(|t| t.value.as_str());
        let given = new.run_name.as_deref().filter(|n| !n.is_empty());
        if let (Some(given), Some(tagged)) = (given, tagged) {
            if given != tagged {
                return Err(TrackingError::Invalid(format!(
                    "the run name '{given}' and its {RUN_NAME_TAG} tag '{tagged}' differ; give one"
                )));
            }
        }
        let start_time = new.start_time.unwrap_or_else(crate::now_ms);
        if start_time < 0 {
            return Err(TrackingError::Invalid(format!("start_time must be 0 or more; got {start_time}")));
        }
        let id = crate::storage::new_file_id();
        let name = given.or(tagged).map(String::from).unwrap_or_else(|| runs::generated_name(&id));
        if name.chars().count() > MAX_RUN_TAG_VALUE || name.chars().any(char::is_control) {
            return Err(TrackingError::Invalid(
                "a run name has at most 8000 characters and no control characters".into(),
            ));
        }
        let user = new.user_id.as_deref().filter(|u| !u.is_empty()).unwrap_or(actor.name()).to_string();
        let artifact_uri = format!("{}/{id}/artifacts", experiment.artifact_location);
        let insert = runs::Insert {
            id: &id,
            experiment_id: parse_id(&experiment.experiment_id)?,
            name: &name,
            user_id: &user,
            start_time,
            artifact_uri: &artifact_uri,
            tags: &new.tags,
        };
        runs::insert(&self.db, &insert).await?;
        let target = format!("run {id} '{name}' in experiment {}", experiment.experiment_id);
        self.audit(actor, "run.create", &target, "").await;
        self.existing_run(&id).await
    }

    pub async fn run(&self, actor: &Actor, id: &str) -> Result<Run, TrackingError> {
        actor.require(Role::Viewer)?;
        self.existing_run(id).await
    }

    /// Changes a run's status, end time or name (what is `Some`).
    pub async fn update_run(
        &self,
        actor: &Actor,
        id: &str,
        status: Option<RunStatus>,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<RunInfo, TrackingError> {
        actor.require(Role::Editor)?;
        self.active_run(id).await?;
        if end_time.is_some_and(|t| t < 0) {
            return Err(TrackingError::Invalid("end_time must be 0 or more".into()));
        }
        let run_name = run_name.filter(|n| !n.is_empty());
        if let Some(name) = run_name {
            check_pair("run tag", &Tag { key: RUN_NAME_TAG.into(), value: name.into() }, MAX_RUN_TAG_VALUE)?;
        }
        runs::update(&self.db, id, status, end_time, run_name).await?;
        let detail = status.map(|s| s.as_str()).unwrap_or_default();
        self.audit(actor, "run.update", &format!("run {id}"), detail).await;
        Ok(self.existing_run(id).await?.info)
    }

    pub async fn delete_run(&self, actor: &Actor, id: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.active_run(id).await?;
        runs::set_lifecycle(&self.db, id, Lifecycle::Deleted).await?;
        self.audit(actor, "run.delete", &format!("run {id}"), "").await;
        Ok(())
    }

    pub async fn restore_run(&self, actor: &Actor, id: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let run = self.existing_run(id).await?;
        if run.info.lifecycle_stage == Lifecycle::Active {
            return Err(TrackingError::Invalid(format!("run '{id}' is not deleted")));
        }
        runs::set_lifecycle(&self.db, id, Lifecycle::Active).await?;
        self.audit(actor, "run.restore", &format!("run {id}"), "").await;
        Ok(())
    }

    /// Logs a param. Params do not change: the same value again is fine, another is refused.
    pub async fn log_param(&self, actor: &Actor, id: &str, param: &Tag) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_pair("param", param, MAX_PARAM_VALUE)?;
        self.active_run(id).await?;
        match runs::param(&self.db, id, &param.key).await? {
            Some(old) if old == param.value => return Ok(()),
            Some(old) => {
                return Err(TrackingError::Invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{old}' \
                     for run ID='{id}'. Attempted logging new value '{}'.",
                    param.key, param.value
                )))
            }
            None => {}
        }
        runs::log_param(&self.db, id, param).await?;
        self.audit(actor, "run.log_param", &format!("run {id}"), &param.key).await;
        Ok(())
    }

    pub async fn set_run_tag(&self, actor: &Actor, id: &str, tag: &Tag) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_pair("run tag", tag, MAX_RUN_TAG_VALUE)?;
        self.active_run(id).await?;
        runs::set_tag(&self.db, id, tag).await?;
        self.audit(actor, "run.set_tag", &format!("run {id}"), &tag.key).await;
        Ok(())
    }

    pub async fn delete_run_tag(&self, actor: &Actor, id: &str, key: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.active_run(id).await?;
        if !runs::delete_tag(&self.db, id, key).await? {
            return Err(TrackingError::NotFound(format!(
                "run '{id}' has no tag '{}'",
                crate::accounts::audit::bounded(key, MAX_KEY)
            )));
        }
        self.audit(actor, "run.delete_tag", &format!("run {id}"), key).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
