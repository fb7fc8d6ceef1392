//! Background jobs across processes: `.ci/bench-scale` starts `okrflow serve --no-jobs` with one
//! or two `okrflow worker`s over one database and points this at the server with
//! OKRFLOW_BENCH_URL. It uploads OKRFLOW_BENCH_JOBS files (default 40 CSVs of
//! OKRFLOW_BENCH_JOB_MB = 5 MB each) while no worker runs, then (after the script starts the
//! workers) times how long they take to profile the whole queue; then, unless
//! OKRFLOW_BENCH_UPLOAD_MB=0, the throughput of one upload of that many MB (default 1000) into
//! the local store. Prints figures; asserts none.

use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(600)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn auth() -> String {
    use base64::Engine as _;
    let user = std::env::var("OKRFLOW_BENCH_USER").unwrap_or_else(|_| "admin".into());
    let password = std::env::var("OKRFLOW_BENCH_PASSWORD").unwrap_or_default();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A CSV of OKR-like rows, `mb` megabytes, different per `seed` (so no two are duplicates).
fn csv(mb: usize, seed: usize) -> Vec<u8> {
    let mut out = format!("objective,key_result,owner,target,actual,progress,seed{seed}\n").into_bytes();
    let mut i = 0usize;
    while out.len() < mb * 1_000_000 {
        let line = format!(
            "Objective {},Key result {},owner{}@example.com,{},{},0.{},{}\n",
            i % 97,
            i,
            i % 13,
            i % 1000,
            (i * 7) % 1000,
            i % 100,
            seed
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}

fn upload(base: &str, name: &str, bytes: &[u8]) -> Duration {
    let boundary = "okrflow-bench-jobs";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let started = Instant::now();
    let mut r = agent()
        .post(&format!("{base}/api/v1/files"))
        .header("authorization", &auth())
        .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])
        .unwrap_or_else(|e| panic!("uploading {name}: {e}"));
    let took = started.elapsed();
    assert_eq!(r.status().as_u16(), 201, "{name}: {}", r.body_mut().read_to_string().unwrap_or_default());
    took
}

/// How many files are not yet settled (queued or profiling), how many failed, how many in all.
fn pending(base: &str) -> (usize, usize, usize) {
    // One page holds every file of the run (at most 200, the API's page limit).
    let mut r = agent()
        .get(&format!("{base}/api/v1/files?per_page=200"))
        .header("authorization", &auth())
        .call()
        .expect("listing files");
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 200, "listing files: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let files = v["files"].as_array().cloned().unwrap_or_default();
    let open = files.iter().filter(|f| f["status"] == "Queued" || f["status"] == "Profiling").count();
    let failed = files.iter().filter(|f| f["status"] == "Failed").count();
    (open, failed, files.len())
}

/// Waits until no file is queued or being profiled; returns (files settled, failed).
fn drain(base: &str) -> (usize, usize) {
    loop {
        let (open, failed, total) = pending(base);
        if open == 0 {
            return (total, failed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let Ok(base) = std::env::var("OKRFLOW_BENCH_URL") else {
        eprintln!("OKRFLOW_BENCH_URL is not set: run .ci/bench-scale, which starts the processes first");
        return;
    };
    let base = base.trim_end_matches('/').to_string();
    let label = std::env::var("OKRFLOW_BENCH_LABEL").unwrap_or_default();
    // `upload` queues the files (no worker running yet), `drain` times the workers emptying the
    // queue, `big` times one large upload; unset runs all three in that order.
    let phase = std::env::var("OKRFLOW_BENCH_PHASE").unwrap_or_default();
    let runs = |p: &str| phase.is_empty() || phase == p;
    let jobs = env_usize("OKRFLOW_BENCH_JOBS", 40);
    let mb = env_usize("OKRFLOW_BENCH_JOB_MB", 5);
    if runs("upload") {
        let files: Vec<Vec<u8>> = (0..jobs).map(|i| csv(mb, i)).collect();
        let started = Instant::now();
        for (i, f) in files.iter().enumerate() {
            upload(&base, &format!("job-{i:03}.csv"), f);
        }
        println!("queued {label}: {jobs} CSVs of {mb} MB uploaded in {:.2} s", started.elapsed().as_secs_f64());
    }
    if runs("drain") {
        // From when the script started the workers (OKRFLOW_BENCH_SINCE_MS), else from now.
        let since_ms = std::env::var("OKRFLOW_BENCH_SINCE_MS").ok().and_then(|v| v.parse::<u128>().ok());
        let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let started = since_ms.unwrap_or_else(now_ms);
        let (settled, failed) = drain(&base);
        let took = Duration::from_millis((now_ms().saturating_sub(started)) as u64);
        println!(
            "jobs {label}: {settled} profiles of {mb} MB CSVs in {:.2} s: {:.0} jobs/min; {failed} failed",
            took.as_secs_f64(),
            settled as f64 / took.as_secs_f64() * 60.0
        );
    }
    let upload_mb = env_usize("OKRFLOW_BENCH_UPLOAD_MB", 1000);
    if runs("big") && upload_mb > 0 {
        let big = csv(upload_mb, 9_999);
        let took = upload(&base, "upload-bench.csv", &big);
        let store = std::env::var("OKRFLOW_BENCH_STORE").unwrap_or_else(|_| "the local store".into());
        println!(
            "upload {label}: {upload_mb} MB in {:.2} s, {:.0} MB/s (multipart over loopback into {store})",
            took.as_secs_f64(),
            big.len() as f64 / 1e6 / took.as_secs_f64()
        );
    }
}
