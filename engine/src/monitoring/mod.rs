//! Live monitoring: what the sampler measures each second, the charts' series and ranges, the
//! Services page's view of components and external checks.
//!
//! The types and the series arithmetic here compile without `runtime`, so the browser draws and
//! extends charts with the same code the server uses. With `runtime`:
//! - [`rates`]: per-second rates from byte counters that may wrap or reset;
//! - [`sampler`]: the one sysinfo task, its in-memory hour, the broadcast to live subscribers;
//! - [`history`]: one-minute min/avg/max rows in the database, kept seven days;
//! - [`checks`]: external TCP and HTTP checks the user configures, each on its own schedule;
//! - [`services`]: the registry of components (built in and registered later) with controls;
//! - [`handle`]: [`handle::Services`], the capability's actions (list, controls, checks) with
//!   the caller's right checked and the audit record written.

pub mod series;

#[cfg(feature = "runtime")]
pub mod checks;
#[cfg(feature = "runtime")]
pub mod handle;
#[cfg(feature = "runtime")]
pub mod history;
#[cfg(feature = "runtime")]
pub mod rates;
#[cfg(feature = "runtime")]
pub mod sampler;
#[cfg(feature = "runtime")]
pub mod services;

use serde::{Deserialize, Serialize};

use crate::health::Health;

/// The in-memory history: one hour of one-second samples (the browser keeps as many).
pub const LIVE_SAMPLES: usize = 3600;
/// How many points a chart gets at most: about one per two pixels of a wide chart.
pub const CHART_POINTS: usize = 360;

/// One second of measurements. Rates are bytes per second over the interval since the previous
/// sample; percentages are 0–100.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, ms since the Unix epoch.
    pub t_ms: i64,
    pub cpu_percent: f32,
    pub cpu_per_core: Vec<f32>,
    /// 1, 5 and 15 minute load averages (0 where the platform has none).
    pub load: [f64; 3],
    pub memory_used: u64,
    pub memory_total: u64,
    pub swap_used: u64,
    pub swap_total: u64,
    pub disks: Vec<DiskSample>,
    pub networks: Vec<NetworkSample>,
    /// Seconds since the machine booted.
    pub uptime_secs: u64,
    pub process: ProcessSample,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskSample {
    pub mount: String,
    pub used: u64,
    pub total: u64,
    pub read_per_sec: f64,
    pub write_per_sec: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSample {
    pub interface: String,
    pub receive_per_sec: f64,
    pub transmit_per_sec: f64,
}

impl NetworkSample {
    pub fn is_loopback(&self) -> bool {
        self.interface == "lo" || self.interface.starts_with("lo0")
    }
}

/// okrflow's own process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    /// Percent of one core (may exceed 100 on several cores).
    pub cpu_percent: f32,
    pub rss: u64,
    pub threads: u32,
    /// `None` where the platform does not tell.
    pub open_files: Option<u32>,
}

impl Sample {
    pub fn memory_percent(&self) -> f64 {
        percent(self.memory_used, self.memory_total)
    }

    pub fn swap_percent(&self) -> f64 {
        percent(self.swap_used, self.swap_total)
    }

    /// Used space over all listed disks, as a percentage of their capacity.
    pub fn disk_used_percent(&self) -> f64 {
        percent(self.disks.iter().map(|d| d.used).sum(), self.disks.iter().map(|d| d.total).sum())
    }

    pub fn disk_read_per_sec(&self) -> f64 {
        self.disks.iter().map(|d| d.read_per_sec).sum()
    }

    pub fn disk_write_per_sec(&self) -> f64 {
        self.disks.iter().map(|d| d.write_per_sec).sum()
    }

    /// Received over every interface but loopback (okrflow talking to itself is not traffic).
    pub fn network_receive_per_sec(&self) -> f64 {
        self.networks.iter().filter(|n| !n.is_loopback()).map(|n| n.receive_per_sec).sum()
    }

    pub fn network_transmit_per_sec(&self) -> f64 {
        self.networks.iter().filter(|n| !n.is_loopback()).map(|n| n.transmit_per_sec).sum()
    }

    /// The value of one charted metric.
    pub fn metric(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Cpu => self.cpu_percent as f64,
            // A share of the whole machine, so it shares the CPU chart's 0–100 axis (the process
            // figure itself is per core and may exceed 100).
            Metric::ProcessCpu => self.process.cpu_percent as f64 / self.cpu_per_core.len().max(1) as f64,
            Metric::Memory => self.memory_percent(),
            Metric::Swap => self.swap_percent(),
            Metric::DiskUsage => self.disk_used_percent(),
            Metric::DiskRead => self.disk_read_per_sec(),
            Metric::DiskWrite => self.disk_write_per_sec(),
            Metric::NetReceive => self.network_receive_per_sec(),
            Metric::NetTransmit => self.network_transmit_per_sec(),
            Metric::Load1 => self.load[0],
            Metric::ProcessRss => self.process.rss as f64,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Every metric kept in the history and drawn on a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Metric {
    Cpu,
    ProcessCpu,
    Memory,
    Swap,
    DiskUsage,
    DiskRead,
    DiskWrite,
    NetReceive,
    NetTransmit,
    Load1,
    ProcessRss,
}

/// How a value is shown: the unit decides axis labels and hover text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unit {
    Percent,
    BytesPerSec,
    Bytes,
    Plain,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::Cpu,
        Metric::ProcessCpu,
        Metric::Memory,
        Metric::Swap,
        Metric::DiskUsage,
        Metric::DiskRead,
        Metric::DiskWrite,
        Metric::NetReceive,
        Metric::NetTransmit,
        Metric::Load1,
        Metric::ProcessRss,
    ];

    /// The stable key stored in the database and used in `/metrics` help.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::ProcessCpu => "process_cpu",
            Metric::Memory => "memory",
            Metric::Swap => "swap",
            Metric::DiskUsage => "disk_usage",
            Metric::DiskRead => "disk_read",
            Metric::DiskWrite => "disk_write",
            Metric::NetReceive => "net_receive",
            Metric::NetTransmit => "net_transmit",
            Metric::Load1 => "load1",
            Metric::ProcessRss => "process_rss",
        }
    }

    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// A comma-separated list of keys (`cpu, memory`); empty means none were named. The error
    /// names the unknown key and lists the known ones.
    pub fn parse_list(list: &str) -> Result<Vec<Metric>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|key| {
                Metric::from_key(key).ok_or_else(|| {
                    let keys: Vec<_> = Metric::ALL.iter().map(|m| m.key()).collect();
                    format!("metric '{key}': use any of {}", keys.join(", "))
                })
            })
            .collect()
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::Cpu => "CPU (all cores)",
            Metric::ProcessCpu => "okrflow (share of all cores)",
            Metric::Memory => "memory",
            Metric::Swap => "swap",
            Metric::DiskUsage => "disk space used",
            Metric::DiskRead => "read",
            Metric::DiskWrite => "write",
            Metric::NetReceive => "receive",
            Metric::NetTransmit => "transmit",
            Metric::Load1 => "load (1 min)",
            Metric::ProcessRss => "okrflow memory",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::Cpu | Metric::ProcessCpu | Metric::Memory | Metric::Swap | Metric::DiskUsage => Unit::Percent,
            Metric::DiskRead | Metric::DiskWrite | Metric::NetReceive | Metric::NetTransmit => Unit::BytesPerSec,
            Metric::ProcessRss => Unit::Bytes,
            Metric::Load1 => Unit::Plain,
        }
    }
}

/// The chart range switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Range {
    #[default]
    FiveMinutes,
    Hour,
    Day,
    Week,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::FiveMinutes, Range::Hour, Range::Day, Range::Week];

    pub fn millis(self) -> i64 {
        match self {
            Range::FiveMinutes => 5 * 60_000,
            Range::Hour => 3_600_000,
            Range::Day => 24 * 3_600_000,
            Range::Week => 7 * 24 * 3_600_000,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::FiveMinutes => "5 min",
            Range::Hour => "1 hour",
            Range::Day => "24 hours",
            Range::Week => "7 days",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Range::FiveMinutes => "5m",
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
        }
    }

    pub fn from_key(key: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Ranges within the in-memory hour are drawn from one-second samples and move live; longer
    /// ones read the stored one-minute history.
    pub fn is_live(self) -> bool {
        matches!(self, Range::FiveMinutes | Range::Hour)
    }
}

/// One point of a chart: time, value, and for aggregated points the spread it summarises.
///
/// On the wire a point is a short array, `[t_ms, value]` when exact or `[t_ms, avg, min, max]`
/// when aggregated, with values rounded to three decimals: a chart's history is thousands of
/// points, and field names would triple what every page sends and hydrates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub t_ms: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

impl Point {
    /// The point as it travels: values rounded to three decimals. The server draws with this too,
    /// so its render and the browser's hydration see the same numbers.
    pub fn rounded(self) -> Point {
        Point { t_ms: self.t_ms, avg: round3(self.avg), min: round3(self.min), max: round3(self.max) }
    }
}

impl Serialize for Point {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let exact = self.min == self.avg && self.max == self.avg;
        let mut tuple = serializer.serialize_tuple(if exact { 2 } else { 4 })?;
        tuple.serialize_element(&self.t_ms)?;
        tuple.serialize_element(&round3(self.avg))?;
        if !exact {
            tuple.serialize_element(&round3(self.min))?;
            tuple.serialize_element(&round3(self.max))?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Point, D::Error> {
        let values: Vec<f64> = Vec::deserialize(deserializer)?;
        match values[..] {
            [t, v] => Ok(Point::exact(t as i64, v)),
            [t, avg, min, max] => Ok(Point { t_ms: t as i64, avg, min, max }),
            _ => Err(serde::de::Error::custom("a point is [t_ms, value] or [t_ms, avg, min, max]")),
        }
    }
}

impl Point {
    pub fn exact(t_ms: i64, value: f64) -> Point {
        Point { t_ms, avg: value, min: value, max: value }
    }
}

/// A metric's points over a range, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric: Metric,
    pub points: Vec<Point>,
}

/// What a range of the charts shows: every metric's series, the window and its resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricHistory {
    pub range: Range,
    /// The window ends here (the newest sample, or now).
    pub end_ms: i64,
    pub series: Vec<Series>,
    /// The newest full sample, for the cards and per-core, per-disk and per-interface tables.
    pub latest: Option<Sample>,
}

impl MetricHistory {
    pub fn series(&self, metric: Metric) -> Option<&Series> {
        self.series.iter().find(|s| s.metric == metric)
    }
}

/// A control on the Services page: what a button is called and does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlView {
    /// Sent back to run it: "pause", "resume", "checkpoint".
    pub id: String,
    pub label: String,
    /// What the button does, for its title.
    pub help: String,
}

/// Whether a service is part of okrflow or something it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceKind {
    Internal,
    External,
}

/// One row of the Services page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub name: String,
    pub kind: ServiceKind,
    pub health: Health,
    pub detail: String,
    /// Seconds since it started (internal) or since its state last changed (external).
    pub uptime_secs: Option<u64>,
    pub controls: Vec<ControlView>,
    /// External checks: their definition and results.
    pub check: Option<CheckView>,
}

/// What an external check probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// Connect to `host:port`.
    Tcp,
    /// GET the URL and expect a status.
    Http,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http => "http",
        }
    }

    pub fn parse(s: &str) -> Option<CheckKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(CheckKind::Tcp),
            "http" => Some(CheckKind::Http),
            _ => None,
        }
    }
}

/// A configured external check with its latest results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckView {
    pub id: i64,
    pub kind: CheckKind,
    /// `host:port` for TCP, the URL for HTTP.
    pub target: String,
    /// HTTP only.
    pub expected_status: Option<u16>,
    pub interval_secs: u32,
    pub timeout_ms: u32,
    /// Newest last, at most [`CHECK_HISTORY`].
    pub results: Vec<CheckResult>,
    pub last_error: Option<String>,
}

/// How many results of each check the Services page can show.
pub const CHECK_HISTORY: usize = 120;

/// One run of an external check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub t_ms: i64,
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lists_parse_or_name_the_unknown_key() {
        assert_eq!(Metric::parse_list(" cpu, memory ,"), Ok(vec![Metric::Cpu, Metric::Memory]));
        assert_eq!(Metric::parse_list(""), Ok(vec![]));
        assert!(Metric::parse_list("cpu,gpu").unwrap_err().starts_with("metric 'gpu': use any of cpu"));
    }

    #[test]
    fn points_travel_as_short_arrays() {
        let exact = Point::exact(1_700_000_000_123, 12.345_678);
        assert_eq!(serde_json::to_string(&exact).unwrap(), "[1700000000123,12.346]");
        let spread = Point { t_ms: 5, avg: 2.0, min: 1.0, max: 3.5 };
        assert_eq!(serde_json::to_string(&spread).unwrap(), "[5,2.0,1.0,3.5]");
        let back: Point = serde_json::from_str("[5,2.0,1.0,3.5]").unwrap();
        assert_eq!(back, spread);
        let back: Point = serde_json::from_str("[1700000000123,12.346]").unwrap();
        assert_eq!(back, Point::exact(1_700_000_000_123, 12.346));
        assert!(serde_json::from_str::<Point>("[1,2,3]").is_err());
    }
}
