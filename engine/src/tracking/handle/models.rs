//! Logged models (MLflow 3) and the model registry as the MLflow routes and the Models page use
//! them: create, read, search and change, each change audited once; viewers read, editors write.

use super::{check_limit, check_pair, Tracking, TrackingError};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::tracking::filter::{self, Field, Op, Subject, Value};
use crate::tracking::models::{self as logged, ModelField};
use crate::tracking::registry::{self, VersionField};
use crate::tracking::{
    runs, DatasetInput, Lifecycle, LoggedModel, LoggedModelPage, ModelInput, ModelOutput, ModelVersion,
    ModelVersionPage, NewLoggedModel, NewModelVersion, RegisteredModel, RegisteredModelPage, Tag,
    LOGGED_MODEL_STATUSES, MAX_BATCH_PARAMS, MAX_PARAM_VALUE, MAX_RUN_TAG_VALUE,
};

const MAX_MODEL_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 65_535;

fn bounded(s: &str) -> String {
    crate::accounts::audit::bounded(s, 80).into_owned()
}

fn no_model(name: &str) -> TrackingError {
    TrackingError::NotFound(format!("Registered Model with name={} not found", bounded(name)))
}

fn no_logged_model(id: &str) -> TrackingError {
    TrackingError::NotFound(format!("Logged model with ID '{}' not found.", bounded(id)))
}

fn check_model_name(name: &str) -> Result<(), TrackingError> {
    if name.trim().is_empty() {
        return Err(TrackingError::Invalid("Registered model name cannot be empty.".into()));
    }
    if name.chars().count() > MAX_MODEL_NAME || name.chars().any(char::is_control) || name.contains('/') {
        return Err(TrackingError::Invalid(format!(
            "a registered model name has 1 to {MAX_MODEL_NAME} characters, no '/' and no control characters; got '{}'",
            bounded(name)
        )));
    }
    Ok(())
}

fn check_description(d: &str) -> Result<(), TrackingError> {
    if d.chars().count() > MAX_DESCRIPTION || d.contains('\0') {
        return Err(TrackingError::Invalid(format!(
            "a description has at most {MAX_DESCRIPTION} characters and no NUL"
        )));
    }
    Ok(())
}

/// MLflow's alias rules: letters, digits, `_` and `-`, at most 255, not `latest` and not `v<n>`
/// (both name versions already).
fn check_alias(alias: &str) -> Result<(), TrackingError> {
    let lower = alias.to_ascii_lowercase();
    let shaped = !alias.is_empty()
        && alias.len() <= 255
        && alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !shaped {
        return Err(TrackingError::Invalid(format!(
            "Invalid alias name: '{}'. Aliases are 1 to 255 letters, digits, '_' or '-'.",
            bounded(alias)
        )));
    }
    if lower == "latest"
        || (lower.len() > 1 && lower.starts_with('v') && lower[1..].chars().all(|c| c.is_ascii_digit()))
    {
        return Err(TrackingError::Invalid(format!(
            "Invalid alias name: '{alias}'. 'latest' and v<number> are reserved: they name versions already."
        )));
    }
    Ok(())
}

fn version_number(version: &str) -> Result<i64, TrackingError> {
    version.trim().parse::<i64>().ok().filter(|v| *v >= 1).ok_or_else(|| {
        TrackingError::Invalid(format!("Parameter 'version' must be an integer 1 or more; got '{}'", bounded(version)))
    })
}

fn experiment_numbers(ids: &[String]) -> Result<Vec<i64>, TrackingError> {
    ids.iter()
        .map(|id| {
            id.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                TrackingError::Invalid(format!("experiment_ids holds '{}', which is not an experiment id", bounded(id)))
            })
        })
        .collect()
}

/// A filter over models: `(field, op, values)` with the field named by `column` (which also
/// says which attributes the entity has).
fn model_clauses<F>(
    filter: Option<&str>,
    mut column: impl FnMut(&str) -> Option<&'static str>,
    tag: impl Fn(String) -> Option<F>,
    param: impl Fn(String) -> Option<F>,
    named: impl Fn(&'static str) -> F,
    entity: &str,
) -> Result<Vec<(F, Op, Vec<String>)>, TrackingError> {
    let clauses = filter::parse_for(Subject::Models, filter.unwrap_or("")).map_err(TrackingError::Invalid)?;
    clauses
        .into_iter()
        .map(|c| {
            let field = match c.field {
                Field::Named(name) => column(&name).map(&named).ok_or_else(|| {
                    TrackingError::Invalid(format!("invalid filter: {entity} have no attribute '{name}'"))
                })?,
                Field::Tag(key) => {
                    tag(key).ok_or_else(|| TrackingError::Invalid(format!("invalid filter: {entity} have no tags")))?
                }
                Field::Param(key) => param(key)
                    .ok_or_else(|| TrackingError::Invalid(format!("invalid filter: {entity} have no params")))?,
                _ => return Err(TrackingError::Invalid("invalid filter".into())),
            };
            let values = match c.value {
                Value::Text(t) => vec![t],
                Value::List(items) => items,
                _ => {
                    return Err(TrackingError::Invalid(format!(
                        "invalid filter: {entity} compare with =, !=, LIKE, ILIKE, IN or NOT IN"
                    )))
                }
            };
            Ok((field, c.op, values))
        })
        .collect()
}

/// `order_by` entries over named columns: `name ASC`, `last_updated_timestamp DESC`.
fn model_order(
    order_by: &[String],
    column: impl Fn(&str) -> Option<&'static str>,
) -> Result<Vec<(&'static str, bool)>, TrackingError> {
    order_by
        .iter()
        .map(|entry| {
            let mut words = entry.split_whitespace();
            let field = words.next().unwrap_or_default().to_ascii_lowercase();
            let field = field.strip_prefix("attributes.").unwrap_or(&field);
            let col = column(field).ok_or_else(|| TrackingError::Invalid(format!("invalid order_by '{entry}'")))?;
            let ascending = match words.next().map(|w| w.to_ascii_uppercase()).as_deref() {
                None | Some("ASC") => true,
                Some("DESC") => false,
                Some(_) => return Err(TrackingError::Invalid(format!("invalid order_by '{entry}': use ASC or DESC"))),
            };
            Ok((col, ascending))
        })
        .collect()
}

impl Tracking {
    pub(super) async fn existing_logged_model(
        &self,
        id: &str,
        allow_deleted: bool,
    ) -> Result<LoggedModel, TrackingError> {
        let found = if logged::is_id(id) { logged::get(&self.db, id).await? } else { None };
        match found {
            Some(m) if allow_deleted || m.info.lifecycle_stage == Lifecycle::Active => Ok(m),
            _ => Err(no_logged_model(id)),
        }
    }

    async fn registered_id(&self, name: &str) -> Result<i64, TrackingError> {
        registry::id_of(&self.db, name).await?.ok_or_else(|| no_model(name))
    }

    /// Makes a logged model (PENDING until finalized) in an active experiment, with its artifacts
    /// under `mlflow-artifacts:/<exp>/models/<id>/artifacts`.
    pub async fn create_logged_model(&self, actor: &Actor, new: &NewLoggedModel) -> Result<LoggedModel, TrackingError> {
        actor.require(Role::Editor)?;
        let experiment = self.existing(&new.experiment_id).await?;
        if experiment.lifecycle_stage == Lifecycle::Deleted {
            return Err(TrackingError::Invalid(format!("experiment {} is deleted", experiment.experiment_id)));
        }
        if new.params.len() > MAX_BATCH_PARAMS {
            return Err(TrackingError::Invalid(format!(
                "a logged model takes at most {MAX_BATCH_PARAMS} params at once"
            )));
        }
        new.params.iter().try_for_each(|p| check_pair("param", p, MAX_PARAM_VALUE))?;
        new.tags.iter().try_for_each(|t| check_pair("tag", t, MAX_RUN_TAG_VALUE))?;
        if let Some(run) = new.source_run_id.as_deref().filter(|r| !r.is_empty()) {
            self.existing_run(run).await?;
        }
        let id = format!("m-{}", crate::storage::new_file_id());
        let name = new.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| runs::generated_name(&id[2..]));
        check_pair("model", &Tag { key: name.clone(), value: String::new() }, 0)?;
        let artifact_uri = format!("{}/models/{id}/artifacts", experiment.artifact_location);
        let insert = logged::Insert {
            id: &id,
            experiment_id: experiments_id(&experiment.experiment_id)?,
            name: &name,
            artifact_uri: &artifact_uri,
            model_type: new.model_type.as_deref().filter(|t| !t.is_empty()),
            source_run_id: new.source_run_id.as_deref().filter(|r| !r.is_empty()),
            params: &new.params,
            tags: &new.tags,
            now: crate::now_ms(),
        };
        logged::insert(&self.db, &insert).await?;
        self.audit(actor, "model.create", &format!("logged model {id} '{name}'"), "").await;
        self.existing_logged_model(&id, false).await
    }

    pub async fn logged_model(
        &self,
        actor: &Actor,
        id: &str,
        allow_deleted: bool,
    ) -> Result<LoggedModel, TrackingError> {
        actor.require(Role::Viewer)?;
        self.existing_logged_model(id, allow_deleted).await
    }

    /// Sets a logged model's status (`LOGGED_MODEL_READY` once its artifacts are up).
    pub async fn finalize_logged_model(
        &self,
        actor: &Actor,
        id: &str,
        status: &str,
    ) -> Result<LoggedModel, TrackingError> {
        actor.require(Role::Editor)?;
        if !LOGGED_MODEL_STATUSES.contains(&status) {
            return Err(TrackingError::Invalid(format!(
                "status is one of {}; got '{}'",
                LOGGED_MODEL_STATUSES.join(", "),
                bounded(status)
            )));
        }
        self.existing_logged_model(id, false).await?;
        logged::set_status(&self.db, id, status, None, crate::now_ms()).await?;
        self.audit(actor, "model.finalize", &format!("logged model {id}"), status).await;
        self.existing_logged_model(id, false).await
    }

    pub async fn delete_logged_model(&self, actor: &Actor, id: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.existing_logged_model(id, false).await?;
        logged::set_lifecycle(&self.db, id, Lifecycle::Deleted, crate::now_ms()).await?;
        self.audit(actor, "model.delete", &format!("logged model {id}"), "").await;
        Ok(())
    }

    pub async fn set_logged_model_tags(&self, actor: &Actor, id: &str, tags: &[Tag]) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        tags.iter().try_for_each(|t| check_pair("tag", t, MAX_RUN_TAG_VALUE))?;
        self.existing_logged_model(id, false).await?;
        logged::set_pairs(&self.db, "logged_model_tags", id, tags, crate::now_ms()).await?;
        let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
        self.audit(actor, "model.set_tags", &format!("logged model {id}"), &keys.join(", ")).await;
        Ok(())
    }

    pub async fn delete_logged_model_tag(&self, actor: &Actor, id: &str, key: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.existing_logged_model(id, false).await?;
        if !logged::delete_tag(&self.db, id, key).await? {
            return Err(TrackingError::NotFound(format!("logged model {id} has no tag '{}'", bounded(key))));
        }
        self.audit(actor, "model.delete_tag", &format!("logged model {id}"), key).await;
        Ok(())
    }

    pub async fn log_logged_model_params(&self, actor: &Actor, id: &str, params: &[Tag]) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        if params.len() > MAX_BATCH_PARAMS {
            return Err(TrackingError::Invalid(format!("at most {MAX_BATCH_PARAMS} params at once")));
        }
        params.iter().try_for_each(|p| check_pair("param", p, MAX_PARAM_VALUE))?;
        self.existing_logged_model(id, false).await?;
        logged::set_pairs(&self.db, "logged_model_params", id, params, crate::now_ms()).await?;
        self.audit(actor, "model.log_params", &format!("logged model {id}"), &format!("{} params", params.len())).await;
        Ok(())
    }

    /// Logged models of some experiments (MLflow's `logged-models/search`): a filter on `name`,
    /// `source_run_id`, `status`, `model_type`, `model_id`, `tags.<k>`, `params.<k>`; newest first.
    pub async fn search_logged_models(
        &self,
        actor: &Actor,
        experiment_ids: &[String],
        filter: Option<&str>,
        max_results: Option<i64>,
        order_by: &[(String, bool)],
        page_token: Option<&str>,
    ) -> Result<LoggedModelPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = check_limit(max_results, 50)?;
        let experiments = experiment_numbers(experiment_ids)?;
        let column = |name: &str| -> Option<&'static str> {
            Some(match name {
                "name" => "m.name",
                "source_run_id" => "m.source_run_id",
                "status" => "m.status",
                "model_type" => "m.model_type",
                "model_id" => "m.id",
                "creation_timestamp" | "creation_time" => "m.creation_time",
                "last_updated_timestamp" => "m.last_update_time",
                _ => return None,
            })
        };
        let clauses = model_clauses(
            filter,
            column,
            |k| Some(ModelField::Tag(k)),
            |k| Some(ModelField::Param(k)),
            ModelField::Column,
            "logged models",
        )?;
        let clauses: Vec<(ModelField, Op, String)> =
            clauses.into_iter().map(|(f, op, v)| (f, op, v.into_iter().next().unwrap_or_default())).collect();
        let order = order_by
            .iter()
            .map(|(field, asc)| {
                column(field.strip_prefix("attributes.").unwrap_or(field))
                    .map(|c| (c, *asc))
                    .ok_or_else(|| TrackingError::Invalid(format!("invalid order_by field '{}'", bounded(field))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let scope = format!("logged|{experiments:?}|{filter:?}|{order_by:?}");
        let offset = self.offset_of(&scope, page_token)?;
        let (models, more) = logged::search(&self.db, &experiments, &clauses, &order, offset, limit).await?;
        Ok(LoggedModelPage {
            models,
            next_page_token: more.then(|| self.tokens.sign(&scope, &(offset + limit).to_string())),
        })
    }

    /// Records the models a run produced (MLflow 3's `runs/outputs`).
    pub async fn log_outputs(&self, actor: &Actor, run_id: &str, outputs: &[ModelOutput]) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        self.active_run(run_id).await?;
        for o in outputs {
            self.existing_logged_model(&o.model_id, false).await?;
        }
        logged::log_outputs(&self.db, run_id, outputs).await?;
        self.audit(actor, "run.log_outputs", &format!("run {run_id}"), &format!("{} models", outputs.len())).await;
        Ok(())
    }

    /// Records the datasets and models a run read (`log-inputs`).
    pub async fn log_inputs(
        &self,
        actor: &Actor,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        if datasets.len() + models.len() > 1000 {
            return Err(TrackingError::Invalid("at most 1000 inputs at once".into()));
        }
        for d in datasets {
            let ds = &d.dataset;
            for (what, text, max) in [
                ("dataset name", &ds.name, 500),
                ("dataset digest", &ds.digest, 36),
                ("dataset source type", &ds.source_type, 36),
                ("dataset source", &ds.source, 65_535),
            ] {
                if text.is_empty() || text.chars().count() > max {
                    return Err(TrackingError::Invalid(format!("a {what} has 1 to {max} characters")));
                }
            }
            d.tags.iter().try_for_each(|t| check_pair("input tag", t, MAX_RUN_TAG_VALUE))?;
        }
        self.active_run(run_id).await?;
        for m in models {
            self.existing_logged_model(&m.model_id, false).await?;
        }
        logged::log_inputs(&self.db, run_id, datasets, models).await?;
        let detail = format!("{} datasets, {} models", datasets.len(), models.len());
        self.audit(actor, "run.log_inputs", &format!("run {run_id}"), &detail).await;
        Ok(())
    }

    pub async fn create_registered_model(
        &self,
        actor: &Actor,
        name: &str,
        description: Option<&str>,
        tags: &[Tag],
    ) -> Result<RegisteredModel, TrackingError> {
        actor.require(Role::Editor)?;
        check_model_name(name)?;
        let description = description.unwrap_or("");
        check_description(description)?;
        tags.iter().try_for_each(|t| check_pair("tag", t, MAX_RUN_TAG_VALUE))?;
        let id =
            registry::create(&self.db, name, description, actor.name(), tags, crate::now_ms()).await.map_err(|e| {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => TrackingError::AlreadyExists(format!(
                        "Registered Model (name={}) already exists.",
                        bounded(name)
                    )),
                    _ => TrackingError::Db(e),
                }
            })?;
        self.audit(actor, "registry.create", &format!("registered model '{name}'"), "").await;
        registry::model(&self.db, id).await?.ok_or_else(|| no_model(name))
    }

    pub async fn registered_model(&self, actor: &Actor, name: &str) -> Result<RegisteredModel, TrackingError> {
        actor.require(Role::Viewer)?;
        let id = self.registered_id(name).await?;
        registry::model(&self.db, id).await?.ok_or_else(|| no_model(name))
    }

    pub async fn rename_registered_model(
        &self,
        actor: &Actor,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel, TrackingError> {
        actor.require(Role::Editor)?;
        check_model_name(new_name)?;
        let id = self.registered_id(name).await?;
        registry::rename(&self.db, id, new_name, crate::now_ms()).await.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                TrackingError::AlreadyExists(format!("Registered Model (name={}) already exists.", bounded(new_name)))
            }
            _ => TrackingError::Db(e),
        })?;
        self.audit(actor, "registry.rename", &format!("registered model '{name}'"), new_name).await;
        registry::model(&self.db, id).await?.ok_or_else(|| no_model(new_name))
    }

    pub async fn update_registered_model(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel, TrackingError> {
        actor.require(Role::Editor)?;
        check_description(description)?;
        let id = self.registered_id(name).await?;
        registry::describe(&self.db, id, description, crate::now_ms()).await?;
        self.audit(actor, "registry.update", &format!("registered model '{name}'"), "description").await;
        registry::model(&self.db, id).await?.ok_or_else(|| no_model(name))
    }

    pub async fn delete_registered_model(&self, actor: &Actor, name: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let id = self.registered_id(name).await?;
        registry::delete(&self.db, id).await?;
        self.audit(actor, "registry.delete", &format!("registered model '{name}'"), "").await;
        Ok(())
    }

    pub async fn search_registered_models(
        &self,
        actor: &Actor,
        filter: Option<&str>,
        max_results: Option<i64>,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<RegisteredModelPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = check_limit(max_results, 100)?;
        let column = |name: &str| -> Option<&'static str> {
            Some(match name {
                "name" => "m.name",
                "creation_timestamp" => "m.creation_time",
                "last_updated_timestamp" | "timestamp" => "m.last_update_time",
                _ => return None,
            })
        };
        let clauses = model_clauses(
            filter,
            column,
            |k| Some(VersionField::Tag(k)),
            |_| None,
            VersionField::Column,
            "registered models",
        )?;
        let order = model_order(order_by, column)?;
        let scope = format!("registered|{filter:?}|{order_by:?}");
        let offset = self.offset_of(&scope, page_token)?;
        let (models, more) = registry::search_models(&self.db, &clauses, &order, offset, limit).await?;
        let next_page_token = more.then(|| self.tokens.sign(&scope, &(offset + limit).to_string()));
        Ok(RegisteredModelPage { registered_models: models, next_page_token })
    }

    /// The newest version per stage; with stages retired ("None" for every version) that is the
    /// newest version, when "None" is among `stages` or none are named.
    pub async fn latest_versions(
        &self,
        actor: &Actor,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>, TrackingError> {
        let model = self.registered_model(actor, name).await?;
        let wanted = stages.is_empty() || stages.iter().any(|s| s.eq_ignore_ascii_case("none"));
        Ok(if wanted { model.latest_versions } else { Vec::new() })
    }

    pub async fn set_registered_model_tag(&self, actor: &Actor, name: &str, tag: &Tag) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_pair("tag", tag, MAX_RUN_TAG_VALUE)?;
        let id = self.registered_id(name).await?;
        registry::set_model_tag(&self.db, id, tag, crate::now_ms()).await?;
        self.audit(actor, "registry.set_tag", &format!("registered model '{name}'"), &tag.key).await;
        Ok(())
    }

    pub async fn delete_registered_model_tag(&self, actor: &Actor, name: &str, key: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let id = self.registered_id(name).await?;
        if !registry::delete_model_tag(&self.db, id, key).await? {
            return Err(TrackingError::NotFound(format!(
                "registered model '{}' has no tag '{}'",
                bounded(name),
                bounded(key)
            )));
        }
        self.audit(actor, "registry.delete_tag", &format!("registered model '{name}'"), key).await;
        Ok(())
    }

    /// Points `alias` of a model at one of its versions (moving it from another).
    pub async fn set_alias(&self, actor: &Actor, name: &str, alias: &str, version: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_alias(alias)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        self.existing_version(id, name, v).await?;
        registry::set_alias(&self.db, id, alias, v, crate::now_ms()).await?;
        self.audit(actor, "registry.set_alias", &format!("registered model '{name}'"), &format!("{alias} → {v}")).await;
        Ok(())
    }

    pub async fn delete_alias(&self, actor: &Actor, name: &str, alias: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let id = self.registered_id(name).await?;
        // Deleting an alias that is not there is done already, as in MLflow.
        if !registry::delete_alias(&self.db, id, alias).await? {
            return Ok(());
        }
        self.audit(actor, "registry.delete_alias", &format!("registered model '{name}'"), alias).await;
        Ok(())
    }

    pub async fn version_by_alias(
        &self,
        actor: &Actor,
        name: &str,
        alias: &str,
    ) -> Result<ModelVersion, TrackingError> {
        actor.require(Role::Viewer)?;
        let id = self.registered_id(name).await?;
        let v = registry::alias(&self.db, id, alias)
            .await?
            // MLflow answers a missing alias with INVALID_PARAMETER_VALUE, and clients expect that.
            .ok_or_else(|| TrackingError::Invalid(format!("Registered model alias {} not found.", bounded(alias))))?;
        self.existing_version(id, name, v).await
    }

    async fn existing_version(&self, id: i64, name: &str, version: i64) -> Result<ModelVersion, TrackingError> {
        registry::version(&self.db, id, version).await?.ok_or_else(|| {
            TrackingError::NotFound(format!("Model Version (name={}, version={version}) not found", bounded(name)))
        })
    }

    /// Registers a new version, READY at once. Its download location is the logged model's
    /// artifact folder (for `models:/m-…` sources or a `model_id`), a run's folder for
    /// `runs:/<id>/<path>`, or the source itself.
    pub async fn create_model_version(
        &self,
        actor: &Actor,
        new: &NewModelVersion,
    ) -> Result<ModelVersion, TrackingError> {
        actor.require(Role::Editor)?;
        if new.source.is_empty() || new.source.chars().count() > 5_000 || new.source.chars().any(char::is_control) {
            return Err(TrackingError::Invalid("a model version needs a source of at most 5000 characters".into()));
        }
        new.tags.iter().try_for_each(|t| check_pair("tag", t, MAX_RUN_TAG_VALUE))?;
        if let Some(d) = &new.description {
            check_description(d)?;
        }
        let id = self.registered_id(&new.name).await?;
        let model_id = new
            .model_id
            .clone()
            .filter(|m| !m.is_empty())
            .or_else(|| new.source.strip_prefix("models:/").filter(|m| logged::is_id(m)).map(String::from));
        let mut run_id = new.run_id.clone().filter(|r| !r.is_empty());
        let location = if let Some(model_id) = &model_id {
            let logged = self.existing_logged_model(model_id, false).await?;
            // MLflow 3's client names the model, not the run: the run is the model's source.
            run_id = run_id.or(logged.info.source_run_id);
            logged.info.artifact_uri
        } else if let Some(rest) = new.source.strip_prefix("runs:/") {
            let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
            let root = self.existing_run(run).await?.info.artifact_uri;
            run_id = run_id.or_else(|| Some(run.to_string()));
            if path.is_empty() {
                root
            } else {
                format!("{root}/{}", path.trim_matches('/'))
            }
        } else {
            new.source.clone()
        };
        if let Some(run) = &run_id {
            self.existing_run(run).await?;
        }
        let new = NewModelVersion { model_id, run_id, ..new.clone() };
        let version = registry::create_version(&self.db, id, &new, &location, actor.name(), crate::now_ms()).await?;
        self.audit(
            actor,
            "registry.create_version",
            &format!("registered model '{}'", new.name),
            &format!("version {version}"),
        )
        .await;
        self.existing_version(id, &new.name, version).await
    }

    pub async fn model_version(&self, actor: &Actor, name: &str, version: &str) -> Result<ModelVersion, TrackingError> {
        actor.require(Role::Viewer)?;
        let id = self.registered_id(name).await?;
        self.existing_version(id, name, version_number(version)?).await
    }

    pub async fn update_model_version(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion, TrackingError> {
        actor.require(Role::Editor)?;
        check_description(description)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        self.existing_version(id, name, v).await?;
        registry::describe_version(&self.db, id, v, description, crate::now_ms()).await?;
        self.audit(actor, "registry.update_version", &format!("registered model '{name}'"), &format!("version {v}"))
            .await;
        self.existing_version(id, name, v).await
    }

    pub async fn delete_model_version(&self, actor: &Actor, name: &str, version: &str) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        self.existing_version(id, name, v).await?;
        registry::delete_version(&self.db, id, v).await?;
        self.audit(actor, "registry.delete_version", &format!("registered model '{name}'"), &format!("version {v}"))
            .await;
        Ok(())
    }

    pub async fn set_model_version_tag(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        tag: &Tag,
    ) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        check_pair("tag", tag, MAX_RUN_TAG_VALUE)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        self.existing_version(id, name, v).await?;
        registry::set_version_tag(&self.db, id, v, tag).await?;
        self.audit(actor, "registry.set_version_tag", &format!("registered model '{name}' version {v}"), &tag.key)
            .await;
        Ok(())
    }

    pub async fn delete_model_version_tag(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        key: &str,
    ) -> Result<(), TrackingError> {
        actor.require(Role::Editor)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        self.existing_version(id, name, v).await?;
        if !registry::delete_version_tag(&self.db, id, v, key).await? {
            return Err(TrackingError::NotFound(format!(
                "model version {v} of '{}' has no tag '{}'",
                bounded(name),
                bounded(key)
            )));
        }
        self.audit(actor, "registry.delete_version_tag", &format!("registered model '{name}' version {v}"), key).await;
        Ok(())
    }

    /// Where a version's files are (`get-download-uri`).
    pub async fn model_version_download_uri(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
    ) -> Result<String, TrackingError> {
        actor.require(Role::Viewer)?;
        let id = self.registered_id(name).await?;
        let v = version_number(version)?;
        registry::storage_location(&self.db, id, v).await?.ok_or_else(|| {
            TrackingError::NotFound(format!("Model Version (name={}, version={v}) not found", bounded(name)))
        })
    }

    /// Versions passing MLflow's filter (`name = 'x'`, `run_id IN (…)`, `source`,
    /// `version_number`, `tags.<k>`), by name then newest first unless ordered.
    pub async fn search_model_versions(
        &self,
        actor: &Actor,
        filter: Option<&str>,
        max_results: Option<i64>,
        order_by: &[String],
        page_token: Option<&str>,
    ) -> Result<ModelVersionPage, TrackingError> {
        actor.require(Role::Viewer)?;
        let limit = max_results.unwrap_or(10_000);
        if !(1..=200_000).contains(&limit) {
            return Err(TrackingError::Invalid(format!("max_results must be between 1 and 200000; got {limit}")));
        }
        let column = |name: &str| -> Option<&'static str> {
            Some(match name {
                "name" => "r.name",
                "run_id" => "v.run_id",
                "source" | "source_path" => "v.source",
                "version_number" | "version" => "v.version",
                "model_id" => "v.model_id",
                "creation_timestamp" => "v.creation_time",
                "last_updated_timestamp" => "v.last_update_time",
                _ => return None,
            })
        };
        let clauses = model_clauses(
            filter,
            column,
            |k| Some(VersionField::Tag(k)),
            |_| None,
            VersionField::Column,
            "model versions",
        )?;
        for (field, _, values) in &clauses {
            if *field == VersionField::Column("v.version") && values.iter().any(|v| v.parse::<i64>().is_err()) {
                return Err(TrackingError::Invalid(
                    "invalid filter: version_number compares with whole numbers".into(),
                ));
            }
        }
        let order = model_order(order_by, column)?;
        let scope = format!("versions|{filter:?}|{order_by:?}");
        let offset = self.offset_of(&scope, page_token)?;
        let (versions, more) = registry::search_versions(&self.db, &clauses, &order, offset, limit).await?;
        let next_page_token = more.then(|| self.tokens.sign(&scope, &(offset + limit).to_string()));
        Ok(ModelVersionPage { model_versions: versions, next_page_token })
    }
}

fn experiments_id(id: &str) -> Result<i64, TrackingError> {
    id.parse::<i64>().map_err(|_| TrackingError::NotFound(format!("no experiment with id '{}'", bounded(id))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_mlflows_rules() {
        assert!(check_alias("champion").is_ok() && check_alias("prod-2_b").is_ok());
        for bad in ["", "latest", "Latest", "v1", "V22", "has space", "a/b"] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
        assert!(check_alias("v1x").is_ok());
    }
}
