//! The access policy: the minimum role of every route and server function, in one table.
//! The server enforces it on every request, and anything not in it is denied; the sidebar reads
//! it to hide what the user's role cannot open. A new page or server function must be added
//! here, or nobody can reach it (and the access test names it).

use leptos::server_fn::ServerFn;
use okrflow_engine::accounts::Role;

use crate::nav::NAV;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, logged in or not.
    Anonymous,
    /// Users with this role or a higher one.
    AtLeast(Role),
}

impl Access {
    pub fn allows(self, role: Option<Role>) -> bool {
        match self {
            Access::Anonymous => true,
            Access::AtLeast(min) => role.is_some_and(|r| r >= min),
        }
    }
}

fn path<T: ServerFn>() -> String {
    T::PATH.to_string()
}

/// Every route and server function with its minimum role.
pub fn policy() -> Vec<(String, Access)> {
    use crate::pages::{
        account, admin, experiments, files, login, logs, models, monitoring, overview, pipelines, services,
    };
    use Access::*;
    use Role::*;

    let mut rules: Vec<(String, Access)> = vec![
        // Operational endpoints. `/metrics` becomes anonymous with --metrics-public.
        ("/healthz".into(), Anonymous),
        ("/readyz".into(), Anonymous),
        ("/metrics".into(), AtLeast(Viewer)),
        // Pages outside the sidebar.
        ("/login".into(), Anonymous),
        ("/account".into(), AtLeast(Viewer)),
        ("/experiments/{id}".into(), AtLeast(Viewer)),
        ("/runs/{id}".into(), AtLeast(Viewer)),
        ("/compare".into(), AtLeast(Viewer)),
        ("/models/{name}".into(), AtLeast(Viewer)),
        ("/pipelines/{id}".into(), AtLeast(Viewer)),
        ("/pipelines/{id}/trigger".into(), AtLeast(Editor)),
        ("/pipelines/{id}/runs/{run}".into(), AtLeast(Viewer)),
        // Server functions.
        (path::<login::GetSession>(), Anonymous),
        (path::<login::Login>(), Anonymous),
        (path::<login::Logout>(), AtLeast(Viewer)),
        // Anonymous callers get `None` (the login page's layout asks too).
        (path::<crate::components::status_pill::GetSystemStatus>(), Anonymous),
        (path::<overview::GetOverview>(), AtLeast(Viewer)),
        (path::<logs::ListLogs>(), AtLeast(Viewer)),
        (path::<crate::live::StreamMetrics>(), AtLeast(Viewer)),
        (path::<monitoring::GetMetricHistory>(), AtLeast(Viewer)),
        (path::<services::ListServices>(), AtLeast(Viewer)),
        (path::<services::RunServiceControl>(), AtLeast(Admin)),
        (path::<services::AddServiceCheck>(), AtLeast(Admin)),
        (path::<services::RemoveServiceCheck>(), AtLeast(Admin)),
        (path::<account::LogoutEverywhere>(), AtLeast(Viewer)),
        (path::<account::ChangePassword>(), AtLeast(Viewer)),
        (path::<account::ListTokens>(), AtLeast(Viewer)),
        (path::<account::CreateToken>(), AtLeast(Viewer)),
        (path::<account::RevokeToken>(), AtLeast(Viewer)),
        (path::<admin::ListUsers>(), AtLeast(Admin)),
        (path::<admin::CreateUser>(), AtLeast(Admin)),
        (path::<admin::SetUserRole>(), AtLeast(Admin)),
        (path::<admin::SetUserDisabled>(), AtLeast(Admin)),
        (path::<admin::ResetUserPassword>(), AtLeast(Admin)),
        (path::<admin::ListAudit>(), AtLeast(Admin)),
        (path::<files::ListFiles>(), AtLeast(Viewer)),
        (path::<files::GetFile>(), AtLeast(Viewer)),
        (path::<files::ReprocessFile>(), AtLeast(Editor)),
        (path::<files::ConvertFile>(), AtLeast(Editor)),
        (path::<files::DeleteFile>(), AtLeast(Editor)),
        (path::<experiments::ListExperiments>(), AtLeast(Viewer)),
        (path::<experiments::CreateExperiment>(), AtLeast(Editor)),
        (path::<experiments::SetExperimentDeleted>(), AtLeast(Editor)),
        (path::<experiments::GetExperiment>(), AtLeast(Viewer)),
        (path::<experiments::SearchRuns>(), AtLeast(Viewer)),
        (path::<experiments::GetRun>(), AtLeast(Viewer)),
        (path::<experiments::MetricPoints>(), AtLeast(Viewer)),
        (path::<experiments::RunArtifacts>(), AtLeast(Viewer)),
        (path::<experiments::PreviewArtifact>(), AtLeast(Viewer)),
        (path::<experiments::SetRunTag>(), AtLeast(Editor)),
        (path::<experiments::CompareRuns>(), AtLeast(Viewer)),
        (path::<models::ListModels>(), AtLeast(Viewer)),
        (path::<models::GetModel>(), AtLeast(Viewer)),
        (path::<models::SetModelAlias>(), AtLeast(Editor)),
        (path::<models::SetModelTag>(), AtLeast(Editor)),
        (path::<models::SetModelDescription>(), AtLeast(Editor)),
        (path::<pipelines::ListPipelines>(), AtLeast(Viewer)),
        (path::<pipelines::SetPipelinePaused>(), AtLeast(Editor)),
        (path::<pipelines::pipeline::GetPipeline>(), AtLeast(Viewer)),
        (path::<pipelines::pipeline::GetPipelineVersion>(), AtLeast(Viewer)),
        (path::<pipelines::trigger::GetPipelineParams>(), AtLeast(Viewer)),
        (path::<pipelines::trigger::TriggerPipeline>(), AtLeast(Editor)),
        (path::<pipelines::run::GetPipelineRun>(), AtLeast(Viewer)),
        (path::<pipelines::run::PipelineRunAction>(), AtLeast(Editor)),
        (path::<pipelines::run::PipelineTaskLog>(), AtLeast(Viewer)),
    ];
    // The REST API carries its rules in its declarations (`api.rs`); keys with a method win
    // over the bare route.
    rules.extend(crate::api::ENDPOINTS.iter().map(|e| (e.key(), e.access)));
    // Sidebar pages carry their role in the navigation table.
    rules.extend(NAV.iter().flat_map(|g| g.items).map(|item| (item.path.to_string(), AtLeast(item.min_role))));
    rules
}

/// The minimum role of a page path, for hiding links; pages not in the table are hidden.
pub fn page_access(path: &str) -> Option<Access> {
    NAV.iter().flat_map(|g| g.items).find(|i| i.path == path).map(|i| Access::AtLeast(i.min_role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_anonymous_is_open() {
        assert!(Access::AtLeast(Role::Editor).allows(Some(Role::Admin)));
        assert!(!Access::AtLeast(Role::Editor).allows(Some(Role::Viewer)));
        assert!(!Access::AtLeast(Role::Viewer).allows(None));
        assert!(Access::Anonymous.allows(None));
    }

    #[test]
    fn every_route_is_declared_once() {
        let rules = policy();
        let mut paths: Vec<_> = rules.iter().map(|(p, _)| p.as_str()).collect();
        let n = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), n, "a path is declared twice");
    }
}
