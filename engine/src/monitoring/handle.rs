//! [`Services`]: the Services capability as the web layer uses it: okrflow's components and the
//! external checks, measured; their controls and the checks' definitions, changed by admins
//! with the caller's right checked and the audit record written here.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::checks::{CheckError, CheckSpec, Checks};
use super::services::{ComponentState, Registry};
use super::{ServiceKind, ServiceView};
use crate::accounts::audit::Outcome;
use crate::accounts::{self, Role};
use crate::actor::{Actor, Denied};
use crate::db::Database;
use crate::error::{ErrorKind, Failure};
use crate::health::ComponentHealth;

/// Every page shows the status pill (and the overview shows it again): one measurement serves
/// all of them for this long, instead of a database ping per render. `/readyz` always pings.
const STATUS_TTL: Duration = Duration::from_secs(1);

/// Why a Services action was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no service named '{0}'")]
    UnknownService(String),
    #[error("service '{service}' has no control '{control}'; it offers: {offered}")]
    UnknownControl { service: String, control: String, offered: String },
    /// The control ran and could not do it now (e.g. pausing a paused sampler).
    #[error("{service}: {message}")]
    Failed { service: String, message: String },
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Denied(#[from] Denied),
}

impl Failure for ServiceError {
    fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::UnknownService(_) => ErrorKind::NotFound,
            ServiceError::UnknownControl { .. } => ErrorKind::Invalid,
            ServiceError::Failed { .. } => ErrorKind::Conflict,
            ServiceError::Check(CheckError::Invalid(_)) => ErrorKind::Invalid,
            ServiceError::Check(CheckError::Conflict(_)) => ErrorKind::Conflict,
            ServiceError::Check(CheckError::NotFound(_)) => ErrorKind::NotFound,
            ServiceError::Check(CheckError::Db(e)) => crate::db::error_kind(e),
            ServiceError::Denied(d) => d.kind(),
        }
    }
}

#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    components: Registry,
    checks: Checks,
    /// The last measured components and when.
    status: Mutex<Option<(Instant, Vec<ComponentHealth>)>>,
}

impl Services {
    pub fn new(db: Database, components: Registry, checks: Checks) -> Services {
        Services { inner: Arc::new(Inner { db, components, checks, status: Mutex::new(None) }) }
    }

    /// Where capabilities (and the server) register their components.
    pub fn components(&self) -> &Registry {
        &self.inner.components
    }

    pub fn checks(&self) -> &Checks {
        &self.inner.checks
    }

    async fn audit(&self, actor: &Actor, action: &str, target: &str, outcome: Outcome, detail: &str) {
        accounts::record(&self.inner.db, actor, action, target, outcome, detail).await;
    }

    /// Every service for a viewer, okrflow's own first, then the external checks, each
    /// measured now.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<ServiceView>, ServiceError> {
        actor.require(Role::Viewer)?;
        Ok(self.measure().await)
    }

    async fn measure(&self) -> Vec<ServiceView> {
        let mut views = Vec::new();
        for c in self.inner.components.all() {
            let ComponentState { health, detail, uptime_secs } = c.state().await;
            views.push(ServiceView {
                name: c.name().to_string(),
                kind: ServiceKind::Internal,
                health,
                detail,
                uptime_secs,
                controls: c.controls(),
                check: None,
            });
        }
        let now = crate::now_ms();
        views.extend(self.inner.checks.list().into_iter().map(|c| ServiceView {
            name: c.name,
            kind: ServiceKind::External,
            health: c.health,
            detail: c.detail,
            uptime_secs: c.since_ms.map(|t| ((now - t) / 1000).max(0) as u64),
            controls: Vec::new(),
            check: Some(c.view),
        }));
        views
    }

    /// Runs a control of one of okrflow's components for an admin; says what was done. The
    /// attempt is audited whatever its outcome.
    pub async fn control(&self, actor: &Actor, service: &str, control: &str) -> Result<String, ServiceError> {
        actor.require(Role::Admin)?;
        let target = format!("{service}/{control}");
        let result = self.run_control(service, control, actor.name()).await;
        match &result {
            Ok(said) => self.audit(actor, "service.control", &target, Outcome::Ok, said).await,
            Err(e) => self.audit(actor, "service.control", &target, Outcome::Failed, &e.to_string()).await,
        }
        result
    }

    async fn run_control(&self, service: &str, control: &str, by: &str) -> Result<String, ServiceError> {
        let component =
            self.inner.components.find(service).ok_or_else(|| ServiceError::UnknownService(service.to_string()))?;
        let offered = component.controls();
        if !offered.iter().any(|c| c.id == control) {
            let offered = offered.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ");
            return Err(ServiceError::UnknownControl {
                service: service.to_string(),
                control: control.to_string(),
                offered: if offered.is_empty() { "nothing".into() } else { offered },
            });
        }
        let result = component
            .act(control, by)
            .await
            .map_err(|message| ServiceError::Failed { service: service.to_string(), message });
        self.forget_status();
        result
    }

    /// Adds an external check for an admin; its name must differ from every service's.
    pub async fn add_check(&self, actor: &Actor, spec: CheckSpec) -> Result<i64, ServiceError> {
        actor.require(Role::Admin)?;
        let (name, detail) = (spec.name.clone(), format!("{} {}", spec.kind.as_str(), spec.target));
        let id = self.inner.checks.add(spec, actor.name(), &self.inner.components.names()).await?;
        self.forget_status();
        self.audit(actor, "service_check.create", &name, Outcome::Ok, &detail).await;
        Ok(id)
    }

    /// Removes an external check for an admin; returns its name.
    pub async fn remove_check(&self, actor: &Actor, id: i64) -> Result<String, ServiceError> {
        actor.require(Role::Admin)?;
        let name = self.inner.checks.remove(id).await?;
        self.forget_status();
        self.audit(actor, "service_check.delete", &name, Outcome::Ok, "").await;
        Ok(name)
    }

    /// The next health asks every component again (after a control or a check changed).
    fn forget_status(&self) {
        *self.inner.status.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Every component's health, measured at most [`STATUS_TTL`] ago.
    pub async fn health(&self) -> Vec<ComponentHealth> {
        let cached = self
            .inner
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < STATUS_TTL)
            .map(|(_, c)| c.clone());
        if let Some(components) = cached {
            return components;
        }
        let measured: Vec<ComponentHealth> = self
            .measure()
            .await
            .into_iter()
            .map(|s| ComponentHealth { name: s.name, health: s.health, detail: s.detail })
            .collect();
        *self.inner.status.lock().unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), measured.clone()));
        measured
    }

    /// Ends the background checks (shutdown).
    pub fn stop(&self) {
        self.inner.checks.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AuditQuery, AuthMethod, Principal};
    use crate::db::testing::both_backends;
    use crate::monitoring::sampler::Sampler;
    use crate::monitoring::services::SamplerComponent;

    fn as_role(role: Role) -> Actor {
        Actor::user(
            Principal { user_id: 1, username: role.as_str().into(), role, via: AuthMethod::Session },
            "10.0.0.5",
        )
    }

    both_backends! {
        async fn controls_are_for_admins_and_every_attempt_is_audited(db) {
            let components = Registry::default();
            let sampler = Sampler::spawn(None);
            components.register(Arc::new(SamplerComponent { sampler: sampler.clone(), started: Instant::now() }));
            let services = Services::new(db.clone(), components, Checks::start(db.clone()).await.unwrap());
            let admin = as_role(Role::Admin);

            let viewer = as_role(Role::Viewer);
            assert_eq!(services.list(&viewer).await.unwrap().len(), 1);
            assert_eq!(services.control(&viewer, "metrics sampler", "pause").await.unwrap_err().kind(), ErrorKind::Forbidden);
            let name = services.list(&viewer).await.unwrap()[0].name.clone();
            assert_eq!(services.control(&admin, "nope", "pause").await.unwrap_err().kind(), ErrorKind::NotFound);
            let unknown = services.control(&admin, &name, "explode").await.unwrap_err();
            assert_eq!(unknown.kind(), ErrorKind::Invalid);
            assert!(unknown.to_string().contains("it offers: pause"), "{unknown}");
            services.control(&admin, &name, "pause").await.unwrap();
            assert!(services.list(&admin).await.unwrap()[0].controls.iter().any(|c| c.id == "resume"), "measured again after a control");

            let entries = crate::accounts::audit::query(&db, &AuditQuery::default()).await.unwrap();
            let lines: Vec<String> = entries.iter().rev().map(|e| format!("{} {} {}", e.actor, e.target, e.outcome)).collect();
            assert_eq!(lines, [
                "admin nope/pause failed".to_string(),
                format!("admin {name}/explode failed"),
                format!("admin {name}/pause ok"),
            ]);
            services.stop();
            sampler.close();
        }
    }
}
