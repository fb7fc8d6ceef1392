//! The pipelines as a component on the Services page and in the status pill: how many runs
//! are queued and running, what this process runs, and whether its scheduler keeps looking.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::executor::Local;
use crate::db::Database;
use crate::health::Health;
use crate::monitoring::services::{BoxFuture, Component, ComponentState};

/// A scheduler that has not looked for this long is reported degraded.
const STALE_MS: i64 = 10_000;

pub struct PipelinesComponent {
    pub db: Database,
    pub local: Arc<Local>,
    /// Whether this process schedules (serve) and how many attempts it runs at once.
    pub schedules: bool,
    pub slots: usize,
    pub started: Instant,
}

impl Component for PipelinesComponent {
    fn name(&self) -> &str {
        "pipelines"
    }

    fn state(&self) -> BoxFuture<'_, ComponentState> {
        Box::pin(async move {
            let uptime_secs = Some(self.started.elapsed().as_secs());
            let counts = match super::runs::counts(&self.db).await {
                Ok(c) => c,
                Err(e) => {
                    return ComponentState {
                        health: Health::Critical,
                        detail: format!("cannot read the runs: {e}"),
                        uptime_secs,
                    }
                }
            };
            let (queued, running) =
                (counts.get("queued").copied().unwrap_or(0), counts.get("running").copied().unwrap_or(0));
            let here = self.local.running();
            let mut detail = format!(
                "{running} runs running, {queued} queued; this process runs {here} of {} task slots",
                self.slots
            );
            let mut health = Health::Healthy;
            if self.schedules {
                let last = self.local.last_tick_ms.load(Ordering::Relaxed);
                let age = crate::now_ms() - last;
                if last == 0 && self.started.elapsed().as_millis() as i64 > STALE_MS || last > 0 && age > STALE_MS {
                    health = Health::Degraded;
                    detail.push_str(&format!("; the scheduler has not looked at the schedules for {} s", age / 1000));
                } else {
                    detail.push_str("; the scheduler looks every second");
                }
            }
            ComponentState { health, detail, uptime_secs }
        })
    }
}
