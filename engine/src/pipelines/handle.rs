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
    /// The action does not fit the state it found (cancel an ended task).
    #[error("{0}")]
    Conflict(String),
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
            PipelineError::Conflict(_) => ErrorKind::Conflict,
        }
    }
}

/// The largest definition saved from the page.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Pipelines {
    db: Database,
    catalog: Arc<Catalog>,
    /// Where finished attempts' logs go; `None` until [`Pipelines::with_storage`].
    storage: Option<crate::storage::Storage>,
    /// This process's executor: woken when work is queued here, told to stop attempts.
    local: Arc<super::executor::Local>,
    /// Past versions' definitions, read once (a run names the version it uses).
    versions: Arc<std::sync::Mutex<std::collections::HashMap<(String, i64), Arc<Definition>>>>,
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
        Ok(Pipelines { db, catalog, storage: None, local: Default::default(), versions: Default::default() })
    }

    /// Keeps finished attempts' logs in `storage`.
    pub fn with_storage(mut self, storage: crate::storage::Storage) -> Pipelines {
        self.storage = Some(storage);
        self
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

/// Runs: triggers, the runs and their tasks, cancel, clear, mark and logs.
impl Pipelines {
    /// The definition a run of `id` at `version` uses: the one in force, or a past version read
    /// again from the database (cached).
    pub async fn definition_at(&self, id: &str, version: i64) -> Result<Arc<Definition>, PipelineError> {
        if let Some(l) = self.catalog.get(id).filter(|l| l.version == version) {
            return Ok(l.definition);
        }
        let key = (id.to_string(), version);
        if let Some(d) = self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok(d.clone());
        }
        let (_, source) = versions::get(&self.db, id, version)
            .await?
            .ok_or_else(|| PipelineError::NotFound(format!("pipeline '{id}' has no version {version}")))?;
        let definition =
            Arc::new(definition::parse(&display_name(id), &source, Origin::File).map_err(PipelineError::Definition)?);
        self.versions.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, definition.clone());
        Ok(definition)
    }

    /// The executor's shared state (its wake-up and the stop of each attempt it runs).
    pub fn local(&self) -> &Arc<super::executor::Local> {
        &self.local
    }

    /// Starts this process's executor (claims tasks as `owner`, this process's id).
    pub fn spawn_executor(
        &self,
        owner: String,
        config: super::executor::ExecutorConfig,
    ) -> tokio::task::JoinHandle<()> {
        let storage = self.storage.clone().expect("the pipelines' storage is set before the executor starts");
        super::executor::spawn(self.db.clone(), storage, self.clone(), owner, config, self.local.clone())
    }

    /// Starts the scheduler loop: every second, the due runs of scheduled pipelines.
    pub fn spawn_scheduler(&self) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                every.tick().await;
                match me.schedule_tick(crate::now_ms()).await {
                    Ok(t) => {
                        failing = false;
                        me.local.last_tick_ms.store(crate::now_ms(), std::sync::atomic::Ordering::Relaxed);
                        for (pipeline, run) in &t.created {
                            tracing::info!(pipeline = %pipeline, run, "scheduled run created");
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "the scheduler could not look at the schedules; trying again");
                    }
                    Err(_) => {}
                }
            }
        })
    }

    /// One look at the schedules at `now_ms` (the loop's body; tests pass their own time).
    pub async fn schedule_tick(&self, now_ms: i64) -> Result<super::scheduler::Tick, PipelineError> {
        let pipelines: Vec<(Arc<Definition>, i64)> =
            self.catalog.all().into_iter().map(|l| (l.definition, l.version)).collect();
        let paused = versions::paused(&self.db).await?;
        let tick = super::scheduler::tick(&self.db, &pipelines, &paused, now_ms).await?;
        if !tick.created.is_empty() {
            self.local.wake.notify_one();
        }
        Ok(tick)
    }

    /// Starts a run of pipeline `id` with `params` (each checked, defaults filled in); its id.
    pub async fn trigger(
        &self,
        actor: &Actor,
        id: &str,
        params: &std::collections::BTreeMap<String, super::ParamValue>,
    ) -> Result<i64, PipelineError> {
        actor.require(Role::Editor)?;
        let l = self.loaded(id)?;
        let params = check_params(&l.definition, params)?;
        let run = super::runs::NewRun {
            definition: &l.definition,
            version: l.version,
            trigger: super::TriggerKind::Manual,
            triggered_by: actor.name(),
            params: &params,
            scheduled_ms: None,
            now_ms: crate::now_ms(),
        };
        let run_id = super::runs::create(&self.db, &run)
            .await?
            .ok_or_else(|| PipelineError::Conflict(format!("pipeline '{id}' could not start a run")))?;
        self.local.wake.notify_one();
        let detail = format!("run {run_id}, version {}", l.version);
        self.audit(actor, "pipeline.trigger", &format!("pipeline {id}"), &detail).await;
        Ok(run_id)
    }

    /// The newest runs (of one pipeline, or all) before run `before`, at most `limit` (≤ 500).
    pub async fn runs(
        &self,
        actor: &Actor,
        pipeline: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<super::RunSummary>, PipelineError> {
        actor.require(Role::Viewer)?;
        if let Some(id) = pipeline {
            if self.catalog.get(id).is_none() && versions::list(&self.db, id).await?.is_empty() {
                return Err(no_pipeline(id));
            }
        }
        Ok(super::runs::list(&self.db, pipeline, before, limit.clamp(1, 500)).await?)
    }

    /// Every pipeline with its next scheduled time and latest runs (the Pipelines page).
    pub async fn overview(&self, actor: &Actor) -> Result<Vec<super::PipelineRow>, PipelineError> {
        let summaries = self.list(actor).await?;
        let next = super::scheduler::next_times(&self.db).await?;
        let mut recent = super::runs::recent_by_pipeline(&self.db, 10).await?;
        Ok(summaries
            .into_iter()
            .map(|summary| super::PipelineRow {
                next_ms: summary.schedule.as_ref().and_then(|_| next.get(&summary.id).copied()),
                recent: recent.remove(&summary.id).unwrap_or_default(),
                summary,
            })
            .collect())
    }

    /// A pipeline's newest runs by its tasks (at most [`super::GRID_RUNS`]).
    pub async fn grid(&self, actor: &Actor, id: &str) -> Result<super::RunGrid, PipelineError> {
        actor.require(Role::Viewer)?;
        if self.catalog.get(id).is_none() && versions::list(&self.db, id).await?.is_empty() {
            return Err(no_pipeline(id));
        }
        Ok(super::runs::grid(&self.db, id, super::GRID_RUNS).await?)
    }

    /// One run with its tasks and their attempts.
    pub async fn run(&self, actor: &Actor, run_id: i64) -> Result<super::RunView, PipelineError> {
        actor.require(Role::Viewer)?;
        super::runs::get(&self.db, run_id).await?.ok_or_else(|| no_run(run_id))
    }

    /// One run of pipeline `pipeline_id` (the REST API's paths name both).
    pub async fn run_in(&self, actor: &Actor, pipeline_id: &str, run_id: i64) -> Result<super::RunView, PipelineError> {
        let view = self.run(actor, run_id).await?;
        if view.run.pipeline_id != pipeline_id {
            return Err(PipelineError::NotFound(format!(
                "pipeline '{}' has no run {run_id}",
                crate::accounts::audit::bounded(pipeline_id, 64)
            )));
        }
        Ok(view)
    }

    /// A piece of the log of a task's attempt (its latest when `attempt` is None) in a run of
    /// pipeline `pipeline_id`.
    pub async fn log_in(
        &self,
        actor: &Actor,
        pipeline_id: &str,
        run_id: i64,
        task_id: &str,
        attempt: Option<u32>,
        offset: u64,
    ) -> Result<super::LogPiece, PipelineError> {
        let view = self.run_in(actor, pipeline_id, run_id).await?;
        let task = view.tasks.iter().find(|t| t.task_id == task_id).ok_or_else(|| {
            PipelineError::NotFound(format!(
                "run {run_id} has no task '{}'",
                crate::accounts::audit::bounded(task_id, 64)
            ))
        })?;
        let attempt = match attempt {
            Some(a) => a,
            None if task.attempts == 0 => {
                return Err(PipelineError::NotFound(format!("task '{task_id}' of run {run_id} has not started")))
            }
            None => task.attempts,
        };
        self.log(actor, run_id, task_id, attempt, offset).await
    }

    async fn run_definition(&self, run_id: i64) -> Result<Arc<Definition>, PipelineError> {
        let run = super::runs::get(&self.db, run_id).await?.ok_or_else(|| no_run(run_id))?;
        self.definition_at(&run.run.pipeline_id, run.run.version).await
    }

    fn stop_local(&self, run_id: i64, stopped: &[super::runs::Stopped]) {
        for s in stopped {
            self.local.stop(run_id, &s.task_id);
        }
        self.local.wake.notify_one();
    }

    /// Cancels a run: its tasks not ended are cancelled and running ones stopped.
    pub async fn cancel_run(&self, actor: &Actor, run_id: i64) -> Result<(), PipelineError> {
        actor.require(Role::Editor)?;
        let message = format!("cancelled by {}", actor.name());
        let stopped = super::runs::cancel_run(&self.db, run_id, &message, crate::now_ms())
            .await?
            .ok_or_else(|| no_run(run_id))?
            .map_err(|state| {
                PipelineError::Conflict(format!(
                    "run {run_id} has ended ({}); only a queued or running run can be cancelled",
                    state.as_str()
                ))
            })?;
        self.stop_local(run_id, &stopped);
        self.audit(actor, "pipeline.cancel", &format!("run {run_id}"), &format!("{} attempts stopped", stopped.len()))
            .await;
        Ok(())
    }

    /// Cancels one task of a run (stopping its attempt); the run goes on as its rules say.
    pub async fn cancel_task(&self, actor: &Actor, run_id: i64, task_id: &str) -> Result<(), PipelineError> {
        actor.require(Role::Editor)?;
        let message = format!("cancelled by {}", actor.name());
        self.set_task(actor, run_id, task_id, super::TaskState::Cancelled, &message, "pipeline.cancel_task").await
    }

    /// Marks a task success or failed with a note (stopping its attempt if running); the run
    /// goes on from there.
    pub async fn mark(
        &self,
        actor: &Actor,
        run_id: i64,
        task_id: &str,
        success: bool,
        note: &str,
    ) -> Result<(), PipelineError> {
        actor.require(Role::Editor)?;
        let note = note.trim();
        if note.chars().count() > 1000 {
            return Err(PipelineError::Invalid("a note is at most 1000 characters".into()));
        }
        let (state, word) =
            if success { (super::TaskState::Success, "success") } else { (super::TaskState::Failed, "failed") };
        let message = if note.is_empty() {
            format!("marked {word} by {}", actor.name())
        } else {
            format!("marked {word} by {}: {note}", actor.name())
        };
        self.set_task(actor, run_id, task_id, state, &message, "pipeline.mark").await
    }

    async fn set_task(
        &self,
        actor: &Actor,
        run_id: i64,
        task_id: &str,
        state: super::TaskState,
        message: &str,
        action: &str,
    ) -> Result<(), PipelineError> {
        let definition = self.run_definition(run_id).await?;
        let stopped = super::runs::set_task(&self.db, &definition, run_id, task_id, state, message, crate::now_ms())
            .await?
            .map_err(|r| refusal(r, run_id, task_id))?;
        self.stop_local(run_id, &stopped);
        self.audit(actor, action, &format!("run {run_id} task {task_id}"), message).await;
        Ok(())
    }

    /// Clears a task and everything downstream of it so they run again; the tasks reset.
    pub async fn clear(&self, actor: &Actor, run_id: i64, task_id: &str) -> Result<Vec<String>, PipelineError> {
        actor.require(Role::Editor)?;
        let definition = self.run_definition(run_id).await?;
        let message = format!("cleared by {}", actor.name());
        let (reset, stopped) = super::runs::clear(&self.db, &definition, run_id, task_id, &message, crate::now_ms())
            .await?
            .map_err(|r| refusal(r, run_id, task_id))?;
        self.stop_local(run_id, &stopped);
        self.audit(actor, "pipeline.clear", &format!("run {run_id} task {task_id}"), &reset.join(", ")).await;
        Ok(reset)
    }

    /// A piece of an attempt's log from `offset`.
    pub async fn log(
        &self,
        actor: &Actor,
        run_id: i64,
        task_id: &str,
        attempt: u32,
        offset: u64,
    ) -> Result<super::LogPiece, PipelineError> {
        actor.require(Role::Viewer)?;
        let storage = self.storage.as_ref().ok_or_else(|| PipelineError::Io("no storage for logs".into()))?;
        let key = super::attempt_log::LogKey { run_id, task_id: task_id.to_string(), attempt };
        super::attempt_log::read(&self.db, storage, &key, offset).await.map_err(|e| match e {
            super::attempt_log::LogError::NoAttempt { .. } => PipelineError::NotFound(e.to_string()),
            super::attempt_log::LogError::Db(e) => PipelineError::Db(e),
            super::attempt_log::LogError::Storage(m) => PipelineError::Io(m),
        })
    }
}

impl super::executor::Definitions for Pipelines {
    async fn definition_at(&self, id: &str, version: i64) -> Result<Arc<Definition>, String> {
        Pipelines::definition_at(self, id, version).await.map_err(|e| e.to_string())
    }
}

fn no_run(run_id: i64) -> PipelineError {
    PipelineError::NotFound(format!("no run {run_id}"))
}

fn refusal(r: super::runs::TaskRefusal, run_id: i64, task_id: &str) -> PipelineError {
    let task = crate::accounts::audit::bounded(task_id, 64);
    match r {
        super::runs::TaskRefusal::NoRun => no_run(run_id),
        super::runs::TaskRefusal::NoTask => PipelineError::NotFound(format!("run {run_id} has no task '{task}'")),
        super::runs::TaskRefusal::State(s) => PipelineError::Conflict(format!(
            "task '{task}' of run {run_id} has ended ({}); only a task not ended can be cancelled",
            s.as_str()
        )),
    }
}

/// A trigger's parameters checked against the definition's: no unknown names, every required
/// one given, each of its kind; the defaults filled in.
pub fn check_params(
    d: &Definition,
    given: &std::collections::BTreeMap<String, super::ParamValue>,
) -> Result<std::collections::BTreeMap<String, super::ParamValue>, PipelineError> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !d.params.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
            let known =
                if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) };
            problems.push(format!(
                "pipeline '{}' has no parameter '{}' ({known})",
                d.id,
                crate::accounts::audit::bounded(name, 64)
            ));
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for p in &d.params {
        match given.get(&p.name).or(p.default.as_ref()) {
            Some(v) => match p.check(v) {
                Ok(()) => {
                    out.insert(p.name.clone(), v.clone());
                }
                Err(e) => problems.push(e),
            },
            None => problems.push(format!("parameter '{}' is required (it has no default)", p.name)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(PipelineError::Invalid(problems.join("; ")))
    }
}
