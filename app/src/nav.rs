//! The one table of pages: the sidebar, the navbar title and the routes all read it, so a page
//! is added in one place.

use okrflow_engine::accounts::Role;

use crate::components::icons::Icon;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NavItem {
    pub path: &'static str,
    pub title: &'static str,
    pub icon: Icon,
    /// Who may open it; the sidebar hides it from everyone else.
    pub min_role: Role,
}

#[derive(Clone, Copy, Debug)]
pub struct NavGroup {
    pub name: &'static str,
    pub items: &'static [NavItem],
}

const fn item(path: &'static str, title: &'static str, icon: Icon, min_role: Role) -> NavItem {
    NavItem { path, title, icon, min_role }
}

pub const NAV: &[NavGroup] = &[
    NavGroup {
        name: "Main",
        items: &[
            item("/", "Overview", Icon::Overview, Role::Viewer),
            item("/services", "Services", Icon::Services, Role::Viewer),
            item("/pipelines", "Pipelines", Icon::Pipelines, Role::Viewer),
        ],
    },
    NavGroup {
        name: "Data",
        items: &[
            item("/files", "Files", Icon::Files, Role::Viewer),
            item("/monitoring", "Monitoring", Icon::Monitoring, Role::Viewer),
        ],
    },
    NavGroup {
        name: "ML",
        items: &[
            item("/experiments", "Experiments", Icon::Experiments, Role::Viewer),
            item("/models", "Models", Icon::Models, Role::Viewer),
        ],
    },
    NavGroup { name: "Tools", items: &[item("/logs", "Logs", Icon::Logs, Role::Viewer)] },
    NavGroup {
        name: "Admin",
        items: &[
            item("/admin/users", "Users", Icon::Users, Role::Admin),
            item("/admin/audit", "Audit log", Icon::Audit, Role::Admin),
        ],
    },
];

/// Pages that are not in the sidebar, with their titles.
const OTHER_TITLES: &[(&str, &str)] = &[("/login", "Sign in"), ("/account", "Account"), ("/compare", "Compare runs")];
/// Pages below a path, by their prefix.
const PREFIX_TITLES: &[(&str, &str)] = &[("/experiments/", "Experiment"), ("/runs/", "Run"), ("/models/", "Model")];

/// Pages of a shape, `*` standing for any one segment.
const PATTERN_TITLES: &[(&str, &str)] =
    &[("/pipelines/*", "Pipeline"), ("/pipelines/*/trigger", "Trigger a run"), ("/pipelines/*/runs/*", "Pipeline run")];

fn matches_pattern(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some("*"), Some(seg)) if !seg.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The title of the page at `path`, or "Page not found".
pub fn title_for(path: &str) -> &'static str {
    let trimmed = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    NAV.iter()
        .flat_map(|g| g.items)
        .find(|item| item.path == trimmed)
        .map(|item| item.title)
        .or_else(|| OTHER_TITLES.iter().find(|(p, _)| *p == trimmed).map(|(_, t)| *t))
        .or_else(|| {
            PREFIX_TITLES
                .iter()
                .find(|(p, _)| trimmed.strip_prefix(p).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')))
                .map(|(_, t)| *t)
        })
        .or_else(|| PATTERN_TITLES.iter().find(|(p, _)| matches_pattern(p, trimmed)).map(|(_, t)| *t))
        .unwrap_or("Page not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_the_table() {
        assert_eq!(title_for("/"), "Overview");
        assert_eq!(title_for("/logs/"), "Logs");
        assert_eq!(title_for("/nope"), "Page not found");
        assert_eq!(title_for("/experiments/3"), "Experiment");
        assert_eq!(title_for("/runs/abc"), "Run");
        assert_eq!(title_for("/runs/abc/x"), "Page not found");
        assert_eq!(title_for("/pipelines/okr_daily"), "Pipeline");
        assert_eq!(title_for("/pipelines/okr_daily/runs/12"), "Pipeline run");
        assert_eq!(title_for("/pipelines/okr_daily/trigger"), "Trigger a run");
        assert_eq!(title_for("/pipelines/okr_daily/runs"), "Page not found");
    }

    #[test]
    fn paths_are_unique() {
        let mut paths: Vec<_> = NAV.iter().flat_map(|g| g.items).map(|i| i.path).collect();
        let n = paths.len();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), n);
    }
}
