//! The one metrics sampler: a task that reads the machine and okrflow's own process with sysinfo
//! once a second, keeps the last hour in memory, hands every sample to live subscribers through
//! one broadcast (serialised once, shared by all), and folds each minute into the stored history.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sysinfo::{
    CpuRefreshKind, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate,
    System,
};
use tokio::sync::{broadcast, watch};

use super::rates::Counters;
use super::series::{downsample, summarise};
use super::{
    history, DiskSample, Metric, MetricHistory, NetworkSample, Point, ProcessSample, Range, Sample, Series,
    CHART_POINTS, LIVE_SAMPLES as RING,
};
use crate::db::Database;

/// One sample a second.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Subscribers more than this many samples behind skip ahead to the newest.
const CHANNEL: usize = 16;
/// The disk list (mounts) is read again this often; usage and I/O every second.
const DISK_LIST_EVERY: u64 = 60;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What the sampler has done, for the Services page, `/metrics` and the benchmark.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplerStats {
    pub samples: u64,
    /// Who paused it and when (ms), while paused.
    pub paused: Option<(String, i64)>,
    /// Time spent measuring, summarising and serialising, in total.
    pub busy: Duration,
    pub last_sample_ms: Option<i64>,
    pub subscribers: usize,
    /// The last failure to store the minute history, if the latest write failed.
    pub last_error: Option<String>,
}

struct Shared {
    ring: Mutex<VecDeque<Arc<Sample>>>,
    /// Each sample as one JSON line, the form the live stream sends.
    tx: broadcast::Sender<Arc<str>>,
    paused: AtomicBool,
    paused_by: Mutex<Option<(String, i64)>>,
    samples: AtomicU64,
    busy_nanos: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Set when okrflow is shutting down: live streams end so the server can stop.
    closing: watch::Sender<bool>,
}

/// Handle to the running sampler. Cloning shares it.
#[derive(Clone)]
pub struct Sampler {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sampler {
    /// Starts the sampler on the current tokio runtime; history goes to `db` (when given).
    pub fn spawn(db: Option<Database>) -> Sampler {
        let (tx, _) = broadcast::channel(CHANNEL);
        let (closing, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            tx,
            paused: AtomicBool::new(false),
            paused_by: Mutex::new(None),
            samples: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            last_error: Mutex::new(None),
            closing,
        });
        tokio::spawn(run(shared.clone(), db));
        Sampler { shared }
    }

    /// A live subscription: each new sample as a JSON line.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.shared.tx.subscribe()
    }

    /// The live stream one subscriber gets: the newest sample at once, then every new one, until
    /// okrflow shuts down. A subscriber that falls behind skips to the newest sample; one that
    /// goes away is dropped from the broadcast with its receiver.
    ///
    /// The stream also ends after `max_age`: the caller's right to it was checked when it opened,
    /// and a client that is still allowed simply opens the next one.
    pub fn live_lines(&self, max_age: Duration) -> impl futures::Stream<Item = Arc<str>> + Send + 'static {
        let deadline = tokio::time::Instant::now() + max_age;
        let first = self.latest().and_then(|s| serde_json::to_string(&*s).ok()).map(|mut json| {
            json.push('\n');
            Arc::<str>::from(json)
        });
        let state = (first, self.subscribe(), self.closing());
        futures::stream::unfold(state, move |(first, mut rx, mut closing)| async move {
            if let Some(line) = first {
                return Some((line, (None, rx, closing)));
            }
            loop {
                let received = tokio::select! {
                    received = rx.recv() => received,
                    _ = closing.wait_for(|c| *c) => return None,
                    _ = tokio::time::sleep_until(deadline) => return None,
                };
                match received {
                    Ok(line) => return Some((line, (None, rx, closing))),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// Resolves when okrflow begins to shut down (live streams end then).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.shared.closing.subscribe()
    }

    /// Ends the task and every live stream.
    pub fn close(&self) {
        self.shared.closing.send_replace(true);
    }

    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::SeqCst)
    }

    /// Stops sampling until [`Sampler::resume`]; returns false when it was already paused.
    pub fn pause(&self, by: &str) -> bool {
        let was = self.shared.paused.swap(true, Ordering::SeqCst);
        if !was {
            *lock(&self.shared.paused_by) = Some((by.to_string(), crate::now_ms()));
        }
        !was
    }

    /// Samples again; returns false when it was not paused.
    pub fn resume(&self) -> bool {
        let was = self.shared.paused.swap(false, Ordering::SeqCst);
        *lock(&self.shared.paused_by) = None;
        was
    }

    pub fn stats(&self) -> SamplerStats {
        SamplerStats {
            samples: self.shared.samples.load(Ordering::Relaxed),
            paused: lock(&self.shared.paused_by).clone(),
            busy: Duration::from_nanos(self.shared.busy_nanos.load(Ordering::Relaxed)),
            last_sample_ms: lock(&self.shared.ring).back().map(|s| s.t_ms),
            subscribers: self.shared.tx.receiver_count(),
            last_error: lock(&self.shared.last_error).clone(),
        }
    }

    pub fn latest(&self) -> Option<Arc<Sample>> {
        lock(&self.shared.ring).back().cloned()
    }

    /// The in-memory samples taken at or after `from_ms`, oldest first.
    pub fn since(&self, from_ms: i64) -> Vec<Arc<Sample>> {
        let ring = lock(&self.shared.ring);
        let start = ring.partition_point(|s| s.t_ms < from_ms);
        ring.range(start..).cloned().collect()
    }

    /// What the charts show for `range`: live ranges from memory at one-second resolution,
    /// longer ones from the stored minutes; each series at most [`CHART_POINTS`] points. Only
    /// `metrics` are included (every metric when empty).
    pub async fn history(&self, db: &Database, range: Range, metrics: &[Metric]) -> Result<MetricHistory, sqlx::Error> {
        let wanted = |m: Metric| metrics.is_empty() || metrics.contains(&m);
        let latest = self.latest();
        let end_ms = latest.as_ref().map(|s| s.t_ms).unwrap_or_else(crate::now_ms);
        let from_ms = end_ms - range.millis();
        let series: Vec<Series> = if range.is_live() {
            let samples = self.since(from_ms);
            Metric::ALL
                .into_iter()
                .filter(|m| wanted(*m))
                .map(|metric| {
                    let points: Vec<Point> = samples.iter().map(|s| Point::exact(s.t_ms, s.metric(metric))).collect();
                    Series { metric, points: downsample(&points, from_ms, end_ms, CHART_POINTS) }
                })
                .collect()
        } else {
            history::read(db, from_ms)
                .await?
                .into_iter()
                .filter(|s| wanted(s.metric))
                .map(|s| Series { points: downsample(&s.points, from_ms, end_ms, CHART_POINTS), ..s })
                .collect()
        };
        let series = series
            .into_iter()
            .map(|s: Series| Series { points: s.points.into_iter().map(Point::rounded).collect(), ..s })
            .collect();
        Ok(MetricHistory { range, end_ms, series, latest: latest.map(|s| (*s).clone()) })
    }

    fn record(&self, mut sample: Sample) {
        // Sample times never go backwards, even when the wall clock is stepped back: the ring,
        // the stored minutes and the browsers' charts all rely on their order.
        if let Some(previous) = self.latest() {
            sample.t_ms = sample.t_ms.max(previous.t_ms + 1);
        }
        let line: Arc<str> = match serde_json::to_string(&sample) {
            Ok(mut json) => {
                json.push('\n');
                json.into()
            }
            Err(_) => return, // plain numbers and strings always serialise
        };
        {
            let mut ring = lock(&self.shared.ring);
            if ring.len() == RING {
                ring.pop_front();
            }
            ring.push_back(Arc::new(sample));
        }
        self.shared.samples.fetch_add(1, Ordering::Relaxed);
        // No subscribers is not an error.
        let _ = self.shared.tx.send(line);
    }
}

/// The sysinfo readers and the previous counter readings, kept between samples.
struct Probe {
    system: System,
    disks: Disks,
    networks: Networks,
    pid: Option<Pid>,
    counters: Counters,
    last: Instant,
    rounds: u64,
}

impl Probe {
    fn new() -> Result<Probe, String> {
        let failed = |what: &str, e: sysinfo::Error| format!("cannot read {what} on this system: {e:?}");
        let mut probe = Probe {
            system: System::new().map_err(|e| failed("CPU and memory", e))?,
            disks: Disks::new_with_refreshed_list().map_err(|e| failed("disks", e))?,
            networks: Networks::new_with_refreshed_list().map_err(|e| failed("network interfaces", e))?,
            pid: sysinfo::get_current_pid().ok(),
            counters: Counters::default(),
            last: Instant::now(),
            rounds: 0,
        };
        // CPU usage is a difference between two readings: take the first one now, and leave the
        // minimum interval sysinfo needs before the next (sooner gives NaN).
        probe.measure();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        Ok(probe)
    }

    fn measure(&mut self) -> Sample {
        let secs = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        self.rounds += 1;
        let system = &mut self.system;
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        system.refresh_memory_specifics(MemoryRefreshKind::everything());
        let process = self.pid.and_then(|pid| {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory().with_tasks(),
            );
            let p = system.process(pid)?;
            Some(ProcessSample {
                cpu_percent: if p.cpu_usage().is_finite() { p.cpu_usage() } else { 0.0 },
                rss: p.memory(),
                threads: p.tasks().map(|t| t.len() as u32).unwrap_or(1),
                open_files: p.open_files().map(|n| n as u32),
            })
        });

        if self.rounds % DISK_LIST_EVERY == 1 {
            self.disks.refresh(true);
        } else {
            self.disks.refresh_specifics(false, DiskRefreshKind::nothing().with_storage().with_io_usage());
        }
        self.networks.refresh(true);

        let mut seen = HashSet::new();
        // Containers mount one device many times (/, /etc/hosts, …): one row per device, at its
        // shortest mount point.
        let mut disks: Vec<(String, DiskSample)> = Vec::new();
        for disk in self.disks.iter() {
            let device = disk.name().to_string_lossy().into_owned();
            let mount = disk.mount_point().to_string_lossy().into_owned();
            if let Some((_, existing)) = disks.iter_mut().find(|(d, _)| *d == device) {
                if mount.len() < existing.mount.len() {
                    existing.mount = mount;
                }
                continue;
            }
            let usage = disk.usage();
            let (read_key, write_key) = (format!("disk:{device}:r"), format!("disk:{device}:w"));
            let read_per_sec = self.counters.rate(&read_key, usage.total_read_bytes, secs);
            let write_per_sec = self.counters.rate(&write_key, usage.total_written_bytes, secs);
            seen.insert(read_key);
            seen.insert(write_key);
            let total = disk.total_space();
            disks.push((
                device,
                DiskSample {
                    mount,
                    used: total.saturating_sub(disk.available_space()),
                    total,
                    read_per_sec,
                    write_per_sec,
                },
            ));
        }
        let mut networks: Vec<NetworkSample> = Vec::new();
        for (name, data) in self.networks.iter() {
            let name = name.to_string_lossy();
            let (rx_key, tx_key) = (format!("net:{name}:rx"), format!("net:{name}:tx"));
            let receive_per_sec = self.counters.rate(&rx_key, data.total_received(), secs);
            let transmit_per_sec = self.counters.rate(&tx_key, data.total_transmitted(), secs);
            seen.insert(rx_key);
            seen.insert(tx_key);
            networks.push(NetworkSample { interface: name.into_owned(), receive_per_sec, transmit_per_sec });
        }
        networks.sort_by(|a, b| a.interface.cmp(&b.interface));
        self.counters.retain(&seen);

        let load = System::load_average().map(|l| [l.one, l.five, l.fifteen]).unwrap_or_default();
        // JSON has no NaN (it would arrive as null and fail to parse): a reading that is not a
        // number counts as 0.
        let finite = |v: f32| if v.is_finite() { v } else { 0.0 };
        Sample {
            t_ms: crate::now_ms(),
            cpu_percent: finite(system.global_cpu_usage()),
            cpu_per_core: system.cpus().iter().map(|c| finite(c.usage())).collect(),
            load: load.map(|v| if v.is_finite() { v } else { 0.0 }),
            memory_used: system.used_memory(),
            memory_total: system.total_memory(),
            swap_used: system.used_swap(),
            swap_total: system.total_swap(),
            disks: disks.into_iter().map(|(_, d)| d).collect(),
            networks,
            uptime_secs: System::uptime().unwrap_or_default(),
            process: process.unwrap_or_default(),
        }
    }
}

/// The values of the current minute, folded into one stored row per metric when it ends.
#[derive(Default)]
struct Minute {
    start_ms: i64,
    values: Vec<(Metric, f64)>,
}

impl Minute {
    fn take_if_ended(&mut self, t_ms: i64) -> Option<Vec<(Metric, Point)>> {
        let minute = t_ms - t_ms.rem_euclid(60_000);
        if minute == self.start_ms {
            return None;
        }
        let ended = std::mem::replace(self, Minute { start_ms: minute, values: Vec::new() });
        if ended.values.is_empty() {
            return None;
        }
        let rows = Metric::ALL
            .into_iter()
            .filter_map(|m| {
                let values = ended.values.iter().filter(|(k, _)| *k == m).map(|(_, v)| *v);
                summarise(ended.start_ms, values).map(|p| (m, p))
            })
            .collect();
        Some(rows)
    }
}

async fn run(shared: Arc<Shared>, db: Option<Database>) {
    let sampler = Sampler { shared: shared.clone() };
    let mut closing = shared.closing.subscribe();
    let probe = Arc::new(Mutex::new(None::<Probe>));
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut minute = Minute::default();
    let mut last_prune: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = closing.wait_for(|c| *c) => return,
        }
        if sampler.is_paused() {
            continue;
        }
        let probe = probe.clone();
        let measured = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let mut guard = lock(&probe);
            if guard.is_none() {
                *guard = Some(Probe::new()?);
            }
            let sample = guard.as_mut().map(Probe::measure).ok_or("no probe")?;
            Ok::<_, String>((sample, started.elapsed()))
        })
        .await;
        let (sample, took) = match measured {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                *lock(&shared.last_error) = Some(e);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(60)) => continue,
                    _ = closing.wait_for(|c| *c) => return,
                }
            }
            Err(_) => continue, // the blocking task panicked; try again next second
        };
        if sampler.is_paused() {
            continue; // paused while measuring: nothing is sent after a pause
        }
        let started = Instant::now();
        let rows = minute.take_if_ended(sample.t_ms);
        minute.values.extend(Metric::ALL.into_iter().map(|m| (m, sample.metric(m))));
        sampler.record(sample);
        let busy = took + started.elapsed();
        shared.busy_nanos.fetch_add(busy.as_nanos() as u64, Ordering::Relaxed);

        let Some(db) = &db else { continue };
        if let Some(rows) = rows {
            let result = history::write(db, &rows).await;
            *lock(&shared.last_error) = result.err().map(|e| format!("storing the minute history: {e}"));
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            if let Err(e) = history::prune(db, crate::now_ms()).await {
                tracing::warn!(error = %e, "pruning the metric history failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_is_folded_when_the_next_begins() {
        let mut m = Minute::default();
        assert!(m.take_if_ended(60_000).is_none(), "first minute starts");
        m.values.push((Metric::Cpu, 10.0));
        m.values.push((Metric::Cpu, 30.0));
        assert!(m.take_if_ended(119_999).is_none(), "same minute");
        let rows = m.take_if_ended(120_000).unwrap();
        let cpu = rows.iter().find(|(k, _)| *k == Metric::Cpu).unwrap().1;
        assert_eq!((cpu.t_ms, cpu.avg, cpu.min, cpu.max), (60_000, 20.0, 10.0, 30.0));
        assert!(rows.iter().all(|(k, _)| *k == Metric::Cpu), "only metrics with values");
    }

    #[test]
    fn the_probe_measures_this_machine() {
        let mut probe = Probe::new().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let s = probe.measure();
        assert!(s.memory_total > 0 && s.memory_used <= s.memory_total, "{s:?}");
        assert!(!s.cpu_per_core.is_empty());
        assert!((0.0..=100.0).contains(&s.cpu_percent));
        assert!(s.process.rss > 0 && s.process.threads >= 1, "{:?}", s.process);
    }

    #[tokio::test]
    async fn a_live_stream_ends_when_its_time_is_up_or_okrflow_closes() {
        let sampler = Sampler::spawn(None);
        let started = Instant::now();
        let mut lines = Box::pin(sampler.live_lines(Duration::from_millis(1_500)));
        let mut received = 0;
        while futures::StreamExt::next(&mut lines).await.is_some() {
            received += 1;
        }
        assert!(received >= 1, "samples arrived before the end");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

        let mut lines = Box::pin(sampler.live_lines(Duration::from_secs(3600)));
        sampler.close();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while futures::StreamExt::next(&mut lines).await.is_some() {}
        });
        assert!(end.await.is_ok(), "closing ends open streams");
    }

    #[tokio::test]
    async fn samples_reach_every_subscriber_and_pausing_stops_them() {
        let sampler = Sampler::spawn(None);
        let (mut a, mut b) = (sampler.subscribe(), sampler.subscribe());
        let first = tokio::time::timeout(Duration::from_secs(5), a.recv()).await.unwrap().unwrap();
        let same = tokio::time::timeout(Duration::from_secs(5), b.recv()).await.unwrap().unwrap();
        assert_eq!(first, same, "one serialisation shared by all");
        let parsed: Sample = serde_json::from_str(first.trim_end()).unwrap();
        assert!(parsed.t_ms > 0);
        assert_eq!(sampler.stats().subscribers, 2);
        drop(b);
        assert_eq!(sampler.stats().subscribers, 1, "a dropped subscriber is gone");

        assert!(sampler.pause("tester"));
        assert!(!sampler.pause("tester"), "already paused");
        // Nothing arrives for over two intervals.
        while a.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(a.try_recv().is_err(), "paused sampler sent a sample");
        assert_eq!(sampler.stats().paused.unwrap().0, "tester");
        assert!(sampler.resume());
        tokio::time::timeout(Duration::from_secs(5), a.recv()).await.unwrap().unwrap();
        sampler.close();
    }
}
