//! The one table of pages: the sidebar, the navbar title and the routes all read it, so a page
//! is added in one place.

use crate::components::icons::Icon;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NavItem {
    pub path: &'static str,
    pub title: &'static str,
    pub icon: Icon,
}

#[derive(Clone, Copy, Debug)]
pub struct NavGroup {
    pub name: &'static str,
    pub items: &'static [NavItem],
}

pub const NAV: &[NavGroup] = &[
    NavGroup {
        name: "Main",
        items: &[
            NavItem {
                path: "/",
                title: "Overview",
                icon: Icon::Overview,
            },
            NavItem {
                path: "/services",
                title: "Services",
                icon: Icon::Services,
            },
            NavItem {
                path: "/pipelines",
                title: "Pipelines",
                icon: Icon::Pipelines,
            },
        ],
    },
    NavGroup {
        name: "Data",
        items: &[
            NavItem {
                path: "/files",
                title: "Files",
                icon: Icon::Files,
            },
            NavItem {
                path: "/monitoring",
                title: "Monitoring",
                icon: Icon::Monitoring,
            },
        ],
    },
    NavGroup {
        name: "ML",
        items: &[
            NavItem {
                path: "/experiments",
                title: "Experiments",
                icon: Icon::Experiments,
            },
            NavItem {
                path: "/models",
                title: "Models",
                icon: Icon::Models,
            },
        ],
    },
    NavGroup {
        name: "Tools",
        items: &[NavItem {
            path: "/logs",
            title: "Logs",
            icon: Icon::Logs,
        }],
    },
];

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
