//! Latency of the server-rendered overview page under concurrency: `.ci/bench` starts a
//! release okrflow and points this at it with OKRFLOW_BENCH_URL. Prints figures; asserts none.
//!
//! Defaults: 2,000 requests, 50 concurrent clients with keep-alive, after 200 warm-up requests.
//! Override with OKRFLOW_BENCH_REQUESTS and OKRFLOW_BENCH_CONCURRENCY. The page is fetched as a
//! logged-in user (a session cookie, as a browser would): OKRFLOW_BENCH_USER and
//! OKRFLOW_BENCH_PASSWORD name the account.

mod support;
use support::percentile;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn agent() -> ureq::Agent {
    // No redirects: a redirect to the login page would be measured instead of the overview.
    ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(30))).max_redirects(0).build().into()
}

/// Logs in through the login server function; returns the session cookie.
fn login(base: &str, user: &str, password: &str) -> String {
    let origin = base.trim_end_matches('/');
    let origin = origin.split('/').take(3).collect::<Vec<_>>().join("/");
    let response = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&format!("{origin}/api/login"))
        .header("Origin", &origin)
        .send_form([("username", user), ("password", password)])
        .unwrap_or_else(|e| panic!("logging in: {e}"));
    let cookies = response.headers().get_all("set-cookie");
    support::session_cookie(cookies.iter().filter_map(|v| v.to_str().ok()))
        .unwrap_or_else(|| panic!("login as {user} failed: status {}", response.status()))
}

fn fetch(agent: &ureq::Agent, url: &str, cookie: &str) -> usize {
    let mut response = agent.get(url).header("Cookie", cookie).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status(), 200, "GET {url}");
    response.body_mut().read_to_vec().expect("body").len()
}

fn main() {
    let Ok(url) = std::env::var("OKRFLOW_BENCH_URL") else {
        eprintln!("OKRFLOW_BENCH_URL is not set: run .ci/bench, which starts a release server first");
        return;
    };
    let total = env_usize("OKRFLOW_BENCH_REQUESTS", 2_000);
    let clients = env_usize("OKRFLOW_BENCH_CONCURRENCY", 50).max(1);

    let user = std::env::var("OKRFLOW_BENCH_USER").unwrap_or_else(|_| "admin".into());
    let password = std::env::var("OKRFLOW_BENCH_PASSWORD").unwrap_or_default();
    let cookie = login(&url, &user, &password);
    let warm = agent();
    let mut page_bytes = 0;
    for _ in 0..200 {
        page_bytes = fetch(&warm, &url, &cookie);
    }

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (next, url, cookie) = (next.clone(), url.clone(), cookie.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    fetch(&agent, &url, &cookie);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().expect("worker")).collect();
    let wall = started.elapsed();
    all.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("overview page: {url} ({page_bytes} bytes of HTML)");
    println!(
        "requests {} at {} concurrent in {:.2} s = {:.0} req/s",
        all.len(),
        clients,
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 90.0)),
        ms(percentile(&all, 99.0)),
        ms(*all.last().expect("at least one request"))
    );
    println!("target: p50 <= 5 ms");
}
