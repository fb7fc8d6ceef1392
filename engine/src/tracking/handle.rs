//! [`Tracking`]: the tracking capability as the MLflow routes, the pages and okrflow's own
//! pipelines use it. Each action takes the [`Actor`], checks its role (viewers read, editors
//! write), validates at MLflow's limits and writes its own audit record for a change.

use super::experiments::{self, DEFAULT_ID};
use super::{
    filter, Experiment, ExperimentPage, ExperimentQuery, Lifecycle, Tag, DEFAULT_SEARCH_RESULTS, MAX_EXPERIMENT_NAME,
    MAX_EXPERIMENT_TAG_VALUE, MAX_KEY, MAX_SEARCH_RESULTS,
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
    if tag.key.is_empty() || tag.key.chars().count() > MAX_KEY || tag.key.chars().any(char::is_control) {
        return Err(TrackingError::Invalid(format!(
            "a tag key is 1 to {MAX_KEY} characters without control characters; got '{}'",
            crate::accounts::audit::bounded(&tag.key, 40)
        )));
    }
    if tag.value.chars().count() > MAX_EXPERIMENT_TAG_VALUE {
        return Err(TrackingError::Invalid(format!(
            "the value of experiment tag '{}' has more than {MAX_EXPERIMENT_TAG_VALUE} characters",
            tag.key
        )));
    }
    if tag.value.contains('\0') {
        return Err(TrackingError::Invalid(format!("the value of experiment tag '{}' holds a NUL", tag.key)));
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
}

#[cfg(test)]
mod tests;
