//! [`Pipelines`]: the pipelines capability as the pages, the REST API and the scheduler use it.
//! Each action takes the [`Actor`] and checks its role (viewers read; editors save definitions
//! and pause; only admins save a definition that runs programs) and audits its changes.

use std::sync::Arc;

use super::catalog::{display_name, Catalog, Loaded};
use super::definition::{self, valid_id};
use super::{versions, Definition, Origin, PipelineSummary, PipelineVersion, PipelineView, Problem, VersionInfo};
use crate::accounts::audit::Outcome;
use crate::accounts::{self, Role};
use crate::actor::{Actor, Denied};
use crate::db::Database;
use crate::error::{ErrorKind, Failure};

/// Why a pipelines action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    NotFound(String),
    /// A definition with problems: each names its file, task and field.
    #[error("{}", problems_text(.0))]
    Definition(Vec<Problem>),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Allowed to others, not to this caller (a `command` task saved by a non-admin).
    #[error("{0}")]
    Forbidden(String),
    #[error("the pipeline store failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Io(String),
}

fn problems_text(problems: &[Problem]) -> String {
    problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
}

impl Failure for PipelineError {
    fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::NotFound(_) => ErrorKind::NotFound,
            PipelineError::Definition(_) | PipelineError::Invalid(_) => ErrorKind::Invalid,
            PipelineError::Denied(d) => d.kind(),
            PipelineError::Forbidden(_) => ErrorKind::Forbidden,
            PipelineError::Db(e) => crate::db::error_kind(e),
            PipelineError::Io(_) => ErrorKind::Internal,
        }
    }
}

/// The largest definition saved from the page.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Pipelines {
    db: Database,
    catalog: Arc<Catalog>,
}

fn no_pipeline(id: &str) -> PipelineError {
    PipelineError::NotFound(format!("no pipeline '{}'", crate::accounts::audit::bounded(id, 64)))
}

impl Pipelines {
    /// The pipelines of `dir` (`<data-dir>/pipelines`, made if missing), read once now.
    pub async fn open(db: Database, dir: std::path::PathBuf) -> Result<Pipelines, PipelineError> {
        let catalog = Catalog::open(db.clone(), dir.clone())
            .await
            .map_err(|e| PipelineError::Io(format!("cannot open {}: {e}", dir.display())))?;
        Ok(Pipelines { db, catalog })
    }

    /// Watches the folder for changed definitions (serve processes; workers read versions from
    /// the database).
    pub fn spawn_watch(&self) -> tokio::task::JoinHandle<()> {
        self.catalog.clone().spawn_watch(std::time::Duration::from_secs(2))
    }

    /// Reads the folder now (tests, and after a save elsewhere).
    pub async fn rescan(&self) -> Result<bool, PipelineError> {
        self.catalog.scan().await.map_err(PipelineError::Io)
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, detail: &str) {
        accounts::record(&self.db, actor, action, target, Outcome::Ok, detail).await;
    }

    fn loaded(&self, id: &str) -> Result<Loaded, PipelineError> {
        self.catalog.get(id).ok_or_else(|| no_pipeline(id))
    }

    /// Every pipeline in force, by id.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<PipelineSummary>, PipelineError> {
        actor.require(Role::Viewer)?;
        let paused = versions::paused(&self.db).await?;
        let problems = self.catalog.problems();
        Ok(self
            .catalog
            .all()
            .into_iter()
            .map(|l| {
                let d = &l.definition;
                PipelineSummary {
                    id: d.id.clone(),
                    description: d.description.clone(),
                    owner: d.owner.clone(),
                    tags: d.tags.clone(),
                    schedule: d.schedule.clone(),
                    paused: paused.contains(&d.id),
                    version: l.version,
                    tasks: d.tasks.len(),
                    origin: d.origin,
                    has_problems: problems.iter().any(|p| p.file == l.file),
                }
            })
            .collect())
    }

    /// What is wrong with the definition files that do not read (admins and editors fix them).
    pub async fn problems(&self, actor: &Actor) -> Result<Vec<Problem>, PipelineError> {
        actor.require(Role::Viewer)?;
        Ok(self.catalog.problems())
    }

    /// A pipeline in force with its source.
    pub async fn get(&self, actor: &Actor, id: &str) -> Result<PipelineView, PipelineError> {
        actor.require(Role::Viewer)?;
        let l = self.loaded(id)?;
        let paused = versions::paused(&self.db).await?.contains(&l.definition.id);
        let problems = self.catalog.problems().into_iter().filter(|p| p.file == l.file).collect();
        Ok(PipelineView {
            definition: (*l.definition).clone(),
            version: l.version,
            source: l.source,
            file: l.file,
            paused,
            problems,
        })
    }

    /// The definition in force, for the scheduler and the runs (no role: okrflow's own use).
    pub fn definition(&self, id: &str) -> Option<(Arc<Definition>, i64)> {
        self.catalog.get(id).map(|l| (l.definition, l.version))
    }

    /// Every recorded version of a pipeline, newest first.
    pub async fn versions(&self, actor: &Actor, id: &str) -> Result<Vec<VersionInfo>, PipelineError> {
        actor.require(Role::Viewer)?;
        let found = versions::list(&self.db, id).await?;
        if found.is_empty() {
            return Err(no_pipeline(id));
        }
        Ok(found)
    }

    /// One past version with its source (and its definition, read again).
    pub async fn version(&self, actor: &Actor, id: &str, version: i64) -> Result<PipelineVersion, PipelineError> {
        actor.require(Role::Viewer)?;
        let (info, source) = versions::get(&self.db, id, version)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("pipeline '{id}' has no version {version}")))?;
        let definition = definition::parse(&display_name(id), &source, Origin::File).ok();
        Ok(PipelineVersion { info, source, definition })
    }

    /// Checks a definition as `save` would, without saving it: the definition, or every problem.
    pub async fn check(&self, actor: &Actor, id: &str, text: &str) -> Result<Definition, PipelineError> {
        actor.require(Role::Editor)?;
        self.checked(actor, id, text)
    }

    fn checked(&self, actor: &Actor, id: &str, text: &str) -> Result<Definition, PipelineError> {
        if !valid_id(id) {
            return Err(PipelineError::Invalid(format!(
                "'{}' is not a valid pipeline id: 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit",
                crate::accounts::audit::bounded(id, 64)
            )));
        }
        if text.len() > MAX_SOURCE_BYTES {
            return Err(PipelineError::Invalid(format!(
                "the definition is {} bytes; at most {MAX_SOURCE_BYTES}",
                text.len()
            )));
        }
        let definition = definition::parse(&display_name(id), text, Origin::File).map_err(PipelineError::Definition)?;
        if definition.has_commands() {
            actor.require(Role::Admin).map_err(|d| {
                let tasks: Vec<&str> = definition
                    .tasks
                    .iter()
                    .filter(|t| matches!(t.task, super::TaskType::Command(_)))
                    .map(|t| t.id.as_str())
                    .collect();
                PipelineError::Forbidden(format!(
                    "{}: task '{}' runs a program (type command), and only admins may save such a definition ({d})",
                    display_name(id),
                    tasks.join("', '")
                ))
            })?;
        }
        Ok(definition)
    }

    /// Saves a definition from the page into its file and puts it in force as the next version.
    /// A definition with problems is refused whole, the version in force staying; one with a
    /// `command` task needs an admin.
    pub async fn save(&self, actor: &Actor, id: &str, text: &str) -> Result<i64, PipelineError> {
        actor.require(Role::Editor)?;
        let definition = self.checked(actor, id, text)?;
        if self.catalog.get(id).is_some_and(|l| l.definition.origin == Origin::BuiltIn) {
            return Err(PipelineError::Invalid(format!("pipeline '{id}' is built into okrflow and cannot be edited")));
        }
        let version = self.catalog.save(definition, text, actor.name()).await.map_err(PipelineError::Io)?;
        self.audit(actor, "pipeline.save", &format!("pipeline {id}"), &format!("version {version}")).await;
        Ok(version)
    }

    /// Pauses or resumes a pipeline's schedule (manual triggers still run).
    pub async fn set_paused(&self, actor: &Actor, id: &str, paused: bool) -> Result<(), PipelineError> {
        actor.require(Role::Editor)?;
        self.loaded(id)?;
        if !versions::set_paused(&self.db, id, paused).await? {
            return Err(no_pipeline(id));
        }
        let action = if paused { "pipeline.pause" } else { "pipeline.resume" };
        self.audit(actor, action, &format!("pipeline {id}"), "").await;
        Ok(())
    }
}

#[cfg(test)]
#[path = "handle_tests.rs"]
mod tests;
