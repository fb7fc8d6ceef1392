//! The live metrics stream under load: `.ci/bench` starts a release okrflow and points this at
//! it. N subscribers (default 500) follow `/api/stream_metrics` on loopback for S seconds
//! (default 60); prints okrflow's CPU over the window (from /proc, as a share of one core), the
//! delivery delay of every sample (sampled → read by the subscriber; p50/p99/max), samples per
//! subscriber, and the sampler's own cost from its `/metrics` counters. Asserts nothing.
//!
//! Environment: OKRFLOW_BENCH_URL (base URL), OKRFLOW_BENCH_PID (the server's pid),
//! OKRFLOW_BENCH_USER / OKRFLOW_BENCH_PASSWORD, OKRFLOW_BENCH_SUBSCRIBERS, OKRFLOW_BENCH_SECONDS.

mod support;
use support::percentile;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's /proc stat");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A counter's value from the OpenMetrics text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

async fn login(client: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let response = client
        .post(format!("{base}/api/login"))
        .header("origin", base)
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .expect("login request");
    let cookies = response.headers().get_all("set-cookie");
    support::session_cookie(cookies.iter().filter_map(|v| v.to_str().ok()))
        .unwrap_or_else(|| panic!("login as {user} failed"))
}

fn main() {
    let Ok(base) = std::env::var("OKRFLOW_BENCH_URL") else {
        eprintln!("OKRFLOW_BENCH_URL is not set: run .ci/bench, which starts a release server first");
        return;
    };
    let base = base.trim_end_matches('/').to_string();
    let pid: u32 = env_or("OKRFLOW_BENCH_PID", 0);
    let subscribers: usize = env_or("OKRFLOW_BENCH_SUBSCRIBERS", 500);
    let seconds: u64 = env_or("OKRFLOW_BENCH_SECONDS", 60);
    let user: String = env_or("OKRFLOW_BENCH_USER", "admin".to_string());
    let password: String = env_or("OKRFLOW_BENCH_PASSWORD", String::new());
    // One client thread: the load generator shares the machine's two cores with the server.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let cookie = login(&client, &base, &user, &password).await;
        let delays = Arc::new(Mutex::new(Vec::<i64>::with_capacity(subscribers * seconds as usize)));
        let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        let mut tasks = Vec::new();
        for _ in 0..subscribers {
            let (client, base, cookie) = (client.clone(), base.clone(), cookie.clone());
            let (delays, counting, received) = (delays.clone(), counting.clone(), received.clone());
            tasks.push(tokio::spawn(async move {
                let mut response = client
                    .post(format!("{base}/api/stream_metrics"))
                    .header("cookie", cookie)
                    .header("origin", &base)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .send()
                    .await
                    .expect("subscribing");
                assert_eq!(response.status(), 200, "subscribing");
                let mut pending = String::new();
                let mut mine = Vec::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    let at = now_ms();
                    pending.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        // Each line starts with {"t_ms":<sampled at>, …
                        let t: Option<i64> = line
                            .strip_prefix("{\"t_ms\":")
                            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                            .and_then(|d| d.parse().ok());
                        if let (Some(t), true) = (t, counting.load(std::sync::atomic::Ordering::Relaxed)) {
                            mine.push(at - t);
                            received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    if mine.len() > 16 {
                        delays.lock().unwrap().append(&mut mine);
                    }
                }
                delays.lock().unwrap().append(&mut mine);
            }));
        }
        // Let every subscriber connect and the first samples settle.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let metrics = |client: reqwest::Client, base: String, cookie: String| async move {
            client.get(format!("{base}/metrics")).header("cookie", cookie).send().await.unwrap().text().await.unwrap()
        };
        let m0 = metrics(client.clone(), base.clone(), cookie.clone()).await;
        let live = metric(&m0, "okrflow_live_subscribers");
        let cpu0 = if pid > 0 { cpu_seconds(pid) } else { f64::NAN };
        counting.store(true, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        counting.store(false, std::sync::atomic::Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let cpu1 = if pid > 0 { cpu_seconds(pid) } else { f64::NAN };
        let m1 = metrics(client.clone(), base.clone(), cookie.clone()).await;
        for t in &tasks {
            t.abort();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        let mut delays = std::mem::take(&mut *delays.lock().unwrap());
        delays.sort_unstable();
        let n = received.load(std::sync::atomic::Ordering::Relaxed);
        let server_share = (cpu1 - cpu0) / elapsed * 100.0;
        let busy = metric(&m1, "okrflow_sampler_busy_seconds") - metric(&m0, "okrflow_sampler_busy_seconds");
        let samples = metric(&m1, "okrflow_sampler_samples") - metric(&m0, "okrflow_sampler_samples");
        println!("live subscribers {live:.0} (asked {subscribers}), window {elapsed:.1} s");
        println!(
            "live samples received {n}: {:.1} per subscriber (sampler took {samples:.0})",
            n as f64 / subscribers as f64
        );
        if !delays.is_empty() {
            println!(
                "live delivery delay ms: p50 {} p99 {} max {} (goal p99 <= 50)",
                percentile(&delays, 50.0),
                percentile(&delays, 99.0),
                delays[delays.len() - 1]
            );
        }
        println!("live okrflow CPU: {server_share:.2} % of one core (goal <= 10 %)");
        println!(
            "live sampler: {:.3} ms per sample, {:.3} % of one core (goal <= 1 %)",
            if samples > 0.0 { busy * 1e3 / samples } else { f64::NAN },
            busy / elapsed * 100.0
        );
    });
}
