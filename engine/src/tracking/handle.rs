//! [`Tracking`]: the tracking capability as the MLflow routes, the pages and okrflow's own
//! pipelines use it. Each action takes the [`Actor`], checks its role (viewers read, editors
//! write), validates at MLflow's limits and writes its own audit record for a change.

use super::experiments::{self, DEFAULT_ID};
use super::filter::Subject;
use super::tokens::Signer;
use super::{
    filter, Experiment, ExperimentPage, ExperimentQuery, Lifecycle, Metric, MetricPage, NewRun, Run, RunInfo, RunPage,
    RunQuery, RunStatus, Tag, DEFAULT_HISTORY_RESULTS, DEFAULT_SEARCH_RESULTS, MAX_BATCH_ENTITIES, MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS, MAX_BATCH_TAGS, MAX_EXPERIMENT_NAME, MAX_EXPERIMENT_TAG_VALUE, MAX_KEY, MAX_PARAM_VALUE,
    MAX_RUN_TAG_VALUE, MAX_SEARCH_RESULTS, RUN_NAME_TAG,
};
use super::{metrics, runs};
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
    /// The artifact store failed (or is missing), with the kind its error has.
    #[error("the artifact store failed: {0}")]
    Store(String, ErrorKind),
}

impl Failure for TrackingError {
    fn kind(&self) -> ErrorKind {
        match self {
            TrackingError::NotFound(_) => ErrorKind::NotFound,
            // MLflow answers a duplicate with 400, and its client depends on that status.
            TrackingError::AlreadyExists(_) | TrackingError::Invalid(_) => ErrorKind::Invalid,
            TrackingError::Db(e) => crate::db::error_kind(e),
            TrackingError::Denied(d) => d.kind(),
            TrackingError::Store(_, kind) => *kind,
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
            TrackingError::Db(_) | TrackingError::Store(..) => match self.kind() {
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
    tokens: Signer,
    /// Where artifacts are kept; none in tests that need no artifacts.
    storage: Option<crate::storage::Storage>,
}

fn no_run(id: &str) -> TrackingError {
    TrackingError::NotFound(format!("Run with id={} not found", crate::accounts::audit::bounded(id, 40)))
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

/// A key as MLflow takes it: 1 to [`MAX_KEY`] characters of letters, digits, `_ - . : /` and
/// spaces, read as a relative path that stays as it is (no empty, `.` or `..` part).
fn key_ok(key: &str) -> bool {
    !key.is_empty()
        && key.chars().count() <= MAX_KEY
        && key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/'))
        && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A key ([`key_ok`]) and a value within `max`.
pub(super) fn check_pair(what: &str, tag: &Tag, max: usize) -> Result<(), TrackingError> {
    if !key_ok(&tag.key) {
        let why = if tag.key.chars().count() > MAX_KEY {
            format!("exceeds the maximum length of {MAX_KEY} characters")
        } else {
            "is not valid: keys are 1 to 250 letters, digits, '_', '-', '.', ' ', ':' or '/', and no part of a \
             '/'-separated key may be empty, '.' or '..'"
                .to_string()
        };
        return Err(TrackingError::Invalid(format!(
            "Invalid {what} key '{}': it {why}",
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

/// Run params and tags as MLflow 3 keeps them: the key checked ([`check_pair`]), a value over
/// `max` characters cut to `max` (MLflow's server truncates these two rather than refusing, and
/// clients rely on it), with a warning in the log.
fn fitted(what: &str, pairs: &[Tag], max: usize) -> Result<Vec<Tag>, TrackingError> {
    pairs
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if p.value.chars().count() > max {
                tracing::warn!(key = %p.key, chars = p.value.chars().count(), "a {what} value is truncated to {max} characters, as MLflow does");
                p.value = p.value.chars().take(max).collect();
            }
            check_pair(what, &p, max)?;
            Ok(p)
        })
        .collect()
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

pub(super) fn check_limit(max_results: Option<i64>, default: i64) -> Result<i64, TrackingError> {
    let limit = max_results.unwrap_or(default);
    if !(1..=MAX_SEARCH_RESULTS).contains(&limit) {
        return Err(TrackingError::Invalid(format!(
            "max_results must be between 1 and {MAX_SEARCH_RESULTS}; got {limit}"
        )));
    }
    Ok(limit)
}

/// A metric point as a caller sent it: a key within MLflow's limits and a timestamp from 0.
fn check_metric(m: &Metric) -> Result<(), TrackingError> {
    check_pair("metric", &Tag { key: m.key.clone(), value: String::new() }, 0)?;
    if m.timestamp < 0 {
        return Err(TrackingError::Invalid(format!(
            "the timestamp of metric '{}' must be 0 or more (epoch ms); got {}",
            m.key, m.timestamp
        )));
    }
    Ok(())
}

impl Tracking {
    /// The capability over `db`, making the Default experiment if it is missing.
    pub async fn open(db: Database) -> Result<Tracking, TrackingError> {
        experiments::ensure_default(&db, crate::now_ms()).await?;
        let tokens = Signer::open(&db).await?;
        Ok(Tracking { db, tokens, storage: None })
    }

    /// The same capability, keeping artifacts in `storage`.
    pub fn with_artifacts(self, storage: crate::storage::Storage) -> Tracking {
        Tracking { storage: Some(storage), ..self }
    }

    /// The offset a page token of search `scope` carries (0 without one).
    fn offset_of(&self, scope: &str, token: Option<&str>) -> Result<i64, TrackingError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
        let payload = self.tokens.check(scope, token).map_err(TrackingError::Invalid)?;
        payload
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| TrackingError::Invalid("invalid page_token".into()))
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
        let limit = check_limit(q.max_results, DEFAULT_SEARCH_RESULTS)?;
        let clauses = filter::parse(q.filter.as_deref().unwrap_or("")).map_err(TrackingError::Invalid)?;
        let order = order_of(&q.order_by)?;
        let scope = format!("experiments|{:?}|{:?}|{:?}", q.view_type, q.filter.as_deref().unwrap_or(""), q.order_by);
        let offset = self.offset_of(&scope, q.page_token.as_deref())?;
        let (experiments, more) = experiments::search(&self.db, q, &clauses, &order, offset).await?;
        let next_page_token = more.then(|| self.tokens.sign(&scope, &(offset + limit).to_string()));
        Ok(ExperimentPage { experiments, next_page_token })
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
        found.ok_or_else(|| no_run(id))
    }

    /// Checks that run `id` exists and is not deleted, as every write to it must: one column of
    /// one row, since a write needs nothing else of the run.
    async fn active_run(&self, id: &str) -> Result<(), TrackingError> {
        let stage = if runs::is_id(id) { runs::lifecycle(&self.db, id).await? } else { None };
        match stage {
            None => Err(no_run(id)),
            Some(Lifecycle::Deleted) => {
                Err(TrackingError::Invalid(format!("run '{id}' is deleted; restore it to change it")))
            }
            Some(Lifecycle::Active) => Ok(()),
        }
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
        let tags = fitted("run tag", &new.tags, MAX_RUN_TAG_VALUE)?;
        let tagged = tags.iter().find(|t| t.key == RUN_NAME_TAG).map(|t| t.value.as_str());
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
            tags: &tags,
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

    /// Several runs by id, in the order asked (the Compare page); the first unknown id is the
    /// error.
    pub async fn runs_by_id(&self, actor: &Actor, ids: &[&str]) -> Result<Vec<Run>, TrackingError> {
        actor.require(Role::Viewer)?;
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            runs.push(self.existing_run(id).await?);
        }
        Ok(runs)
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
        let param = &fitted("param", std::slice::from_ref(param), MAX_PARAM_VALUE)?[0];
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
        let tag = &fitted("run tag", std::slice::from_ref(tag), MAX_RUN_TAG_VALUE)?[0];
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

    /// Removes a tag if the run has it (the pages' note and tag editors): clearing what is not
    /// there is done already, so only the run must exist; false when there was nothing to remove.
    /// Audited when a tag went.
    pub async fn clear_run_tag(&self, actor: &Actor, id: &str, key: &str) -> Result<bool, TrackingError> {
        actor.require(Role::Editor)?;
        self.active_run(id).await?;
        let removed = runs::delete_tag(&self.db, id, key).await?;
        if removed {
            self.audit(actor, "run.delete_tag", &format!("run {id}"), key).await;
        }
        Ok(removed)
    }

    /// Logs one metric point (MLflow's `log-metric`): a batch of one.
    pub async fn log_metric(&self, actor: &Actor, id: &str, metric: &Metric) -> Result<(), TrackingError> {
        self.log_batch(actor, id, std::slice::from_ref(metric), &[], &[]).await
    }

    /// Logs metrics, params and tags in one transaction at MLflow's limits (1000 metrics, 100
    /// params, 100 tags, 1000 in all): everything is checked first, and a refused or failed batch
    /// writes nothing. Params keep their first value; the same value again is fine. One audit
    /// record for the batch.
    pub async fn log_batch(
        &self,
        actor: &Actor,
        id: &str,
        metrics: &[Metric],
        params: &[Tag],
        tags: &[Tag],
    ) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        for (what, n, max) in [
            ("metrics", metrics.len(), MAX_BATCH_METRICS),
            ("params", params.len(), MAX_BATCH_PARAMS),
            ("tags", tags.len(), MAX_BATCH_TAGS),
        ] {
            if n > max {
                return Err(TrackingError::Invalid(format!(
                    "A batch logging request can contain at most {max} {what}. Got {n} {what}. Please split up {what} across multiple requests and try again."
                )));
            }
        }
        let total = metrics.len() + params.len() + tags.len();
        if total > MAX_BATCH_ENTITIES {
            return Err(TrackingError::Invalid(format!(
                "A batch logging request can contain at most {MAX_BATCH_ENTITIES} metrics, params, and tags in total. Got {total}."
            )));
        }
        metrics.iter().try_for_each(check_metric)?;
        let params = fitted("param", params, MAX_PARAM_VALUE)?;
        let tags = fitted("run tag", tags, MAX_RUN_TAG_VALUE)?;
        let (params, tags) = (params.as_slice(), tags.as_slice());
        let mut seen = std::collections::HashMap::new();
        for p in params {
            if seen.insert(p.key.as_str(), p.value.as_str()).is_some() {
                return Err(TrackingError::Invalid(format!(
                    "Duplicate parameter keys have been submitted: ['{}']. Please ensure the request contains only one param value per param key.",
                    p.key
                )));
            }
        }
        self.active_run(id).await?;
        // A metric for a logged model that does not exist is the caller's mistake (404), not a
        // foreign-key failure halfway through the batch.
        let mut models: Vec<&str> = metrics.iter().filter_map(|m| m.model_id.as_deref()).collect();
        models.sort_unstable();
        models.dedup();
        for model in models {
            self.existing_logged_model(model, false).await?;
        }
        let keys: Vec<&str> = seen.keys().copied().collect();
        for old in runs::params_among(&self.db, id, &keys).await? {
            let new = seen.get(old.key.as_str()).copied().unwrap_or_default();
            if new != old.value {
                return Err(TrackingError::Invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' \
                     for run ID='{id}'. Attempted logging new value '{new}'.",
                    old.key, old.value
                )));
            }
        }
        // The audit record goes in the batch's own transaction: one commit, and no record of a
        // batch that failed.
        let detail = format!("{} metrics, {} params, {} tags", metrics.len(), params.len(), tags.len());
        let target = format!("run {id}");
        let audit = (total > 0).then(|| crate::accounts::audit::Record {
            actor: actor.name(),
            action: "run.log_batch",
            target: &target,
            ip: actor.address(),
            outcome: Outcome::Ok,
            detail: &detail,
        });
        runs::log_batch(&self.db, id, metrics, params, tags, audit).await?;
        Ok(())
    }

    /// A page of one metric's history in step order (MLflow's `get-history`; 25,000 points by
    /// default, up to [`MAX_SEARCH_RESULTS`]). An unknown key is an empty history.
    pub async fn metric_history(
        &self,
        actor: &Actor,
        id: &str,
        key: &str,
        max_results: Option<i64>,
        page_token: Option<&str>,
    ) -> Result<MetricPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = check_limit(max_results, DEFAULT_HISTORY_RESULTS)?;
        // An unknown run has no history (MLflow answers it empty too).
        let scope = format!("history|{id}|{key}");
        let after = match page_token.filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => {
                let payload = self.tokens.check(&scope, token).map_err(TrackingError::Invalid)?;
                Some(
                    metrics::After::decode(&payload)
                        .ok_or_else(|| TrackingError::Invalid("invalid page_token".into()))?,
                )
            }
        };
        let (points, more) = if runs::is_id(id) {
            metrics::history(&self.db, id, key, after, limit).await?
        } else {
            (Vec::new(), false)
        };
        let next_page_token = match (more, points.last()) {
            (true, Some(last)) => Some(self.tokens.sign(&scope, &metrics::After::of(last).encode())),
            _ => None,
        };
        Ok(MetricPage { metrics: points, next_page_token })
    }

    /// One metric of several runs for a chart (MLflow's `get-history-bulk-interval`): at most
    /// about `max_results` points per run (320 by default), sampled by the database over evenly
    /// spaced steps, each point carrying its run id. At most 100 runs.
    pub async fn metric_history_sampled(
        &self,
        actor: &Actor,
        run_ids: &[String],
        key: &str,
        steps: (Option<i64>, Option<i64>),
        max_results: Option<i64>,
    ) -> Result<Vec<Metric>, TrackingError> {
        actor.require(Role::Viewer)?;
        if run_ids.is_empty() || run_ids.len() > 100 {
            return Err(TrackingError::Invalid(format!("run_ids must name 1 to 100 runs; got {}", run_ids.len())));
        }
        if key.is_empty() {
            return Err(TrackingError::Invalid("metric_key must be given".into()));
        }
        let points = max_results.unwrap_or(320);
        if !(1..=10_000).contains(&points) {
            return Err(TrackingError::Invalid(format!("max_results must be between 1 and 10000; got {points}")));
        }
        if let (Some(a), Some(b)) = steps {
            if a > b {
                return Err(TrackingError::Invalid(format!("start_step {a} is after end_step {b}")));
            }
        }
        let mut out = Vec::new();
        for id in run_ids {
            self.existing_run(id).await?;
            for mut m in metrics::sampled(&self.db, id, key, steps, points).await? {
                m.run_id = Some(id.clone());
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Runs of some experiments (MLflow's `runs/search`): the filter grammar of
    /// [`filter::parse_for`], `order_by` on metrics, params, tags and attributes (then newest
    /// first), pages of up to 50,000 with tokens signed for this very query.
    pub async fn search_runs(&self, actor: &Actor, q: &RunQuery) -> Result<RunPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = check_limit(q.max_results, DEFAULT_SEARCH_RESULTS)?;
        let mut experiments = Vec::with_capacity(q.experiment_ids.len());
        for id in &q.experiment_ids {
            let n = id.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                TrackingError::Invalid(format!(
                    "experiment_ids holds '{}', which is not an experiment id",
                    crate::accounts::audit::bounded(id, 40)
                ))
            })?;
            experiments.push(n);
        }
        experiments.sort_unstable();
        experiments.dedup();
        let filter_text = q.filter.as_deref().unwrap_or("");
        let clauses = filter::parse_for(Subject::Runs, filter_text).map_err(TrackingError::Invalid)?;
        let order = q
            .order_by
            .iter()
            .map(|o| filter::run_order(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(TrackingError::Invalid)?;
        let scope = format!("runs|{experiments:?}|{:?}|{filter_text:?}|{:?}", q.view_type, q.order_by);
        let offset = self.offset_of(&scope, q.page_token.as_deref())?;
        let (runs, more) = runs::search(&self.db, &experiments, q.view_type, &clauses, &order, offset, limit).await?;
        let next_page_token = more.then(|| self.tokens.sign(&scope, &(offset + limit).to_string()));
        Ok(RunPage { runs, next_page_token })
    }
}

mod artifacts;
mod models;
mod views;

#[cfg(test)]
mod tests;
