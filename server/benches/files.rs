//! Files benchmark (figures, not pass/fail), run by `.ci/bench` against a release server:
//! 1. profiling a generated CSV with OKR-like columns (1 GB by default) with `okrflow profile`
//!    and, in the same run, with pandas (`read_csv`, then `describe`): wall time and peak RSS of
//!    each process, and the ratios (goal: at least 5× faster with at most half the memory);
//! 2. uploading the same file over loopback to the running server (goal: at least 300 MB/s),
//!    then how long the server's own background profile of it took.
//!
//! Environment: OKRFLOW_BIN (the okrflow binary), OKRFLOW_BENCH_URL, OKRFLOW_BENCH_USER,
//! OKRFLOW_BENCH_PASSWORD, OKRFLOW_BENCH_FILE_MB (default 1000), OKRFLOW_BENCH_DIR (where the
//! CSV is written; default the system temp dir), PYTHON (default python3).

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A small, fast, deterministic generator (xorshift64*): the same file every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TEAMS: [&str; 12] = [
    "Platform", "Growth", "Payments", "Search", "Mobile", "Data", "Security", "Support", "Sales", "Design", "Infra",
    "ML",
];
const STATUSES: [&str; 4] = ["on_track", "at_risk", "off_track", "done"];

/// Writes OKR-like rows until the file reaches `bytes`; returns the row count.
fn generate(path: &Path, bytes: u64) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(b"objective_id,objective,key_result_id,key_result,owner,team,quarter,target,actual,progress,confidence,status,updated_at\n")?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut written = 0u64;
    let mut rows = 0u64;
    let mut line = String::with_capacity(256);
    while written < bytes {
        use std::fmt::Write as _;
        line.clear();
        let objective = rng.below(5_000);
        let team = TEAMS[(objective % TEAMS.len() as u64) as usize];
        let target = 10 + rng.below(990);
        let actual = rng.below(target * 12 / 10 + 1);
        let progress = actual as f64 / target as f64;
        let _ = writeln!(
            line,
            "{objective},Objective {objective} for {team},{rows},Key result {rows} of objective {objective},owner{}@example.com,{team},2026-Q{},{target},{actual},{progress:.4},{:.2},{},2026-{:02}-{:02}",
            rng.below(800),
            1 + rng.below(4),
            rng.below(100) as f64 / 100.0,
            STATUSES[rng.below(4) as usize],
            1 + rng.below(12),
            1 + rng.below(28),
        );
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        rows += 1;
    }
    out.flush()?;
    Ok(rows)
}

/// Wall time and peak RSS (bytes) of a child process, from wait4's rusage.
fn measure(cmd: &mut Command) -> (Duration, u64, bool) {
    let started = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    std::mem::forget(child); // already reaped
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (took, usage.ru_maxrss as u64 * 1024, ok)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// Streams `path` as one multipart part over a plain TCP connection; returns the status line,
/// the response body and the time from the first byte sent to the response.
fn upload(addr: &str, auth: &str, path: &Path, name: &str) -> (String, String, Duration) {
    let boundary = "okrflow-bench-boundary";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let size = std::fs::metadata(path).unwrap().len();
    let length = head.len() as u64 + size + tail.len() as u64;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).ok();
    let request = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).unwrap();
    }
    stream.write_all(tail.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let took = started.elapsed();
    let status = response.lines().next().unwrap_or_default().to_string();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body, took)
}

fn get(addr: &str, auth: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // The JSON API answers without chunking when it knows the length; strip chunk sizes if not.
    if response.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = body.as_str();
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        body
    }
}

fn main() {
    let bin = PathBuf::from(env("OKRFLOW_BIN", env!("CARGO_BIN_EXE_okrflow")));
    let megabytes: u64 = env("OKRFLOW_BENCH_FILE_MB", "1000").parse().expect("OKRFLOW_BENCH_FILE_MB is a number");
    let dir = PathBuf::from(env("OKRFLOW_BENCH_DIR", &std::env::temp_dir().to_string_lossy()));
    let python = env("PYTHON", "python3");
    let csv = dir.join("okrflow-bench-okrs.csv");

    let started = Instant::now();
    let rows = generate(&csv, megabytes * 1_000_000).expect("writing the sample CSV");
    let size = std::fs::metadata(&csv).unwrap().len();
    println!(
        "files: generated {:.0} MB, {rows} rows, 13 columns in {:.1} s",
        mb(size),
        started.elapsed().as_secs_f64()
    );

    // Page cache warm for both: each reads the file once before it is measured.
    let _ = Command::new("cat").arg(&csv).stdout(std::process::Stdio::null()).status();

    let (ours, ours_rss, ok) = measure(Command::new(&bin).arg("profile").arg(&csv).stdout(std::process::Stdio::null()));
    assert!(ok, "okrflow profile failed");
    println!(
        "files profile {:.0} MB CSV: okrflow {:.2} s, peak RSS {:.0} MB (every column: nulls, exact distinct, top values; numbers: min/max/mean/std)",
        mb(size),
        ours.as_secs_f64(),
        mb(ours_rss)
    );
    // The peer, pandas read_csv then describe() (numeric columns only), and the
    // like-for-like describe(include="all") (also unique/top/freq of the text columns).
    for (label, describe) in
        [("describe()", "df.describe()"), ("describe(include=\"all\")", "df.describe(include='all')")]
    {
        let script =
            format!("import sys, pandas as pd\ndf = pd.read_csv(sys.argv[1])\nd = {describe}\nprint(len(df), d.shape)");
        let (theirs, theirs_rss, ok) =
            measure(Command::new(&python).arg("-c").arg(&script).arg(&csv).stdout(std::process::Stdio::null()));
        assert!(ok, "pandas failed (is pandas installed for {python}?)");
        println!(
            "files pandas read_csv + {label}: {:.2} s, peak RSS {:.0} MB; okrflow is {:.1}x faster (goal >= 5x) with {:.2} of the memory (goal <= 0.5)",
            theirs.as_secs_f64(),
            mb(theirs_rss),
            theirs.as_secs_f64() / ours.as_secs_f64(),
            ours_rss as f64 / theirs_rss as f64
        );
    }
    let version = Command::new(&python).args(["-c", "import pandas; print(pandas.__version__)"]).output();
    if let Ok(out) = version {
        println!("files pandas version: {}", String::from_utf8_lossy(&out.stdout).trim());
    }

    if let Ok(url) = std::env::var("OKRFLOW_BENCH_URL") {
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let auth = basic(&env("OKRFLOW_BENCH_USER", "admin"), &env("OKRFLOW_BENCH_PASSWORD", ""));
        let (status, body, took) = upload(&addr, &auth, &csv, "bench-okrs.csv");
        assert!(status.contains(" 201 "), "upload failed: {status} {body}");
        println!(
            "files upload {:.0} MB over loopback: {:.2} s, {:.0} MB/s (goal >= 300 MB/s)",
            mb(size),
            took.as_secs_f64(),
            mb(size) / took.as_secs_f64()
        );
        let id =
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["files"][0]["id"].as_str().unwrap().to_string();
        let waited = Instant::now();
        loop {
            let detail: serde_json::Value =
                serde_json::from_str(&get(&addr, &auth, &format!("/api/v1/files/{id}"))).unwrap_or_default();
            let status = detail["file"]["status"].as_str().unwrap_or("").to_string();
            if status == "Ready" || status == "Failed" {
                println!(
                    "files server-side profile: {status}, {} rows, {:.2} s",
                    detail["file"]["rows"],
                    detail["profiled_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
                );
                break;
            }
            if waited.elapsed() > Duration::from_secs(600) {
                println!("files server-side profile: not finished after 600 s");
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let _ = std::fs::remove_file(&csv);
}
