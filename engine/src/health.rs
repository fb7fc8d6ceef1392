//! Health of okrflow's components, and the one overall status (the navbar pill) derived from them.

use serde::{Deserialize, Serialize};

/// How one component is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Health {
    Healthy,
    Degraded,
    Critical,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Critical => "critical",
        }
    }
}

/// One component's state as a person reads it on the Services page and in the pill.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// Stable name: "web server", "database", "log store".
    pub name: String,
    pub health: Health,
    /// What was measured, e.g. "SQLite answered in 0.4 ms" or the error.
    pub detail: String,
}

/// The status of the whole system: the worst component decides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub overall: Health,
    pub components: Vec<ComponentHealth>,
    /// Seconds since this okrflow process started.
    pub uptime_secs: u64,
    pub version: String,
}

impl SystemStatus {
    /// Builds the status from its components; an empty list is healthy by definition.
    pub fn from_components(components: Vec<ComponentHealth>, uptime_secs: u64, version: &str) -> Self {
        let overall = components.iter().map(|c| c.health).max().unwrap_or(Health::Healthy);
        SystemStatus { overall, components, uptime_secs, version: version.to_string() }
    }

    /// The pill's text: "All systems healthy", or which components are degraded or critical.
    pub fn headline(&self) -> String {
        let named = |h: Health| {
            self.components.iter().filter(|c| c.health == h).map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
        };
        match self.overall {
            Health::Healthy => "All systems healthy".to_string(),
            Health::Degraded => format!("Degraded: {}", named(Health::Degraded)),
            Health::Critical => format!("Critical: {}", named(Health::Critical)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, health: Health) -> ComponentHealth {
        ComponentHealth { name: name.into(), health, detail: String::new() }
    }

    #[test]
    fn worst_component_decides_and_is_named() {
        let s = SystemStatus::from_components(
            vec![c("web server", Health::Healthy), c("log store", Health::Degraded)],
            5,
            "0.1.0",
        );
        assert_eq!(s.overall, Health::Degraded);
        assert_eq!(s.headline(), "Degraded: log store");

        let s = SystemStatus::from_components(
            vec![c("database", Health::Critical), c("log store", Health::Degraded)],
            5,
            "0.1.0",
        );
        assert_eq!(s.overall, Health::Critical);
        assert_eq!(s.headline(), "Critical: database");
    }

    #[test]
    fn all_healthy_reads_so() {
        let s = SystemStatus::from_components(vec![c("database", Health::Healthy)], 0, "x");
        assert_eq!(s.headline(), "All systems healthy");
    }
}
