//! The monitoring gauges on `/metrics`: the sampler's newest sample (machine and okrflow's own
//! process), the sampler itself, live subscribers and every service's health. Read from the
//! engine when `/metrics` is scraped, so the exposition is as fresh as the Monitoring page.

use std::sync::atomic::AtomicU64;

use okrflow_engine::health::Health;
use okrflow_engine::Engine;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type F64 = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Core {
    core: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Window {
    window: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Mount {
    mount: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Interface {
    interface: String,
}
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

#[derive(Default)]
pub struct SystemMetrics {
    cpu: F64,
    core: Family<Core, F64>,
    load: Family<Window, F64>,
    memory_used: F64,
    memory_total: F64,
    swap_used: F64,
    swap_total: F64,
    disk_used: Family<Mount, F64>,
    disk_total: Family<Mount, F64>,
    disk_read: Family<Mount, F64>,
    disk_write: Family<Mount, F64>,
    net_rx: Family<Interface, F64>,
    net_tx: Family<Interface, F64>,
    uptime: F64,
    process_cpu: F64,
    process_rss: F64,
    process_threads: F64,
    process_open_files: F64,
    sampler_samples: F64,
    sampler_busy: F64,
    sampler_paused: F64,
    subscribers: F64,
    service_health: Family<Service, F64>,
}

impl SystemMetrics {
    pub fn register(registry: &mut Registry) -> SystemMetrics {
        let m = SystemMetrics::default();
        registry.register("system_cpu_percent", "CPU use over all cores, percent", m.cpu.clone());
        registry.register("system_cpu_core_percent", "CPU use per core, percent", m.core.clone());
        registry.register("system_load", "Load average by window", m.load.clone());
        registry.register("system_memory_used_bytes", "Memory in use", m.memory_used.clone());
        registry.register("system_memory_total_bytes", "Memory installed", m.memory_total.clone());
        registry.register("system_swap_used_bytes", "Swap in use", m.swap_used.clone());
        registry.register("system_swap_total_bytes", "Swap available", m.swap_total.clone());
        registry.register("system_disk_used_bytes", "Disk space used by mount", m.disk_used.clone());
        registry.register("system_disk_total_bytes", "Disk capacity by mount", m.disk_total.clone());
        registry.register("system_disk_read_bytes_per_second", "Disk reads by mount", m.disk_read.clone());
        registry.register("system_disk_write_bytes_per_second", "Disk writes by mount", m.disk_write.clone());
        registry.register("system_network_receive_bytes_per_second", "Received by interface", m.net_rx.clone());
        registry.register("system_network_transmit_bytes_per_second", "Transmitted by interface", m.net_tx.clone());
        registry.register("system_uptime_seconds", "Seconds since the machine booted", m.uptime.clone());
        registry.register("process_cpu_percent", "okrflow's CPU use, percent of one core", m.process_cpu.clone());
        registry.register("process_resident_memory_bytes", "okrflow's resident memory", m.process_rss.clone());
        registry.register("process_threads", "okrflow's threads", m.process_threads.clone());
        registry.register("process_open_files", "okrflow's open file descriptors", m.process_open_files.clone());
        registry.register("sampler_samples", "Samples taken since start", m.sampler_samples.clone());
        registry.register(
            "sampler_busy_seconds",
            "Time the sampler spent measuring since start",
            m.sampler_busy.clone(),
        );
        registry.register("sampler_paused", "1 while the metrics sampler is paused", m.sampler_paused.clone());
        registry.register(
            "live_subscribers",
            "Browsers and clients following the live metrics stream",
            m.subscribers.clone(),
        );
        registry.register(
            "service_health",
            "Health of each service: 0 healthy, 1 degraded, 2 critical",
            m.service_health.clone(),
        );
        m
    }

    /// Copies the engine's newest figures into the gauges.
    pub async fn update(&self, engine: &Engine) {
        let stats = engine.sampler().stats();
        self.sampler_samples.set(stats.samples as f64);
        self.sampler_busy.set(stats.busy.as_secs_f64());
        self.sampler_paused.set(if stats.paused.is_some() { 1.0 } else { 0.0 });
        self.subscribers.set(stats.subscribers as f64);
        if let Some(s) = engine.sampler().latest() {
            self.cpu.set(s.cpu_percent as f64);
            self.core.clear();
            for (i, usage) in s.cpu_per_core.iter().enumerate() {
                self.core.get_or_create(&Core { core: i.to_string() }).set(*usage as f64);
            }
            for (window, v) in ["1m", "5m", "15m"].into_iter().zip(s.load) {
                self.load.get_or_create(&Window { window: window.into() }).set(v);
            }
            self.memory_used.set(s.memory_used as f64);
            self.memory_total.set(s.memory_total as f64);
            self.swap_used.set(s.swap_used as f64);
            self.swap_total.set(s.swap_total as f64);
            for family in [&self.disk_used, &self.disk_total, &self.disk_read, &self.disk_write] {
                family.clear();
            }
            for d in &s.disks {
                let mount = Mount { mount: d.mount.clone() };
                self.disk_used.get_or_create(&mount).set(d.used as f64);
                self.disk_total.get_or_create(&mount).set(d.total as f64);
                self.disk_read.get_or_create(&mount).set(d.read_per_sec);
                self.disk_write.get_or_create(&mount).set(d.write_per_sec);
            }
            self.net_rx.clear();
            self.net_tx.clear();
            for n in &s.networks {
                let interface = Interface { interface: n.interface.clone() };
                self.net_rx.get_or_create(&interface).set(n.receive_per_sec);
                self.net_tx.get_or_create(&interface).set(n.transmit_per_sec);
            }
            self.uptime.set(s.uptime_secs as f64);
            self.process_cpu.set(s.process.cpu_percent as f64);
            self.process_rss.set(s.process.rss as f64);
            self.process_threads.set(s.process.threads as f64);
            self.process_open_files.set(s.process.open_files.map(f64::from).unwrap_or(f64::NAN));
        }
        // Measure first, then clear and refill without an await between, so a concurrent scrape
        // never sees the family empty.
        let components = engine.status().await.components;
        self.service_health.clear();
        for c in components {
            let level = match c.health {
                Health::Healthy => 0.0,
                Health::Degraded => 1.0,
                Health::Critical => 2.0,
            };
            self.service_health.get_or_create(&Service { service: c.name }).set(level);
        }
    }
}
