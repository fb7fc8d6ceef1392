//! Hostile files against the real `okrflow` binary: files built to crash a parser, exhaust
//! memory or bloat a profile each end as a failed or bounded profile with a reason, while the
//! server keeps answering `/healthz` quickly with a small RSS, and a restart with such files
//! queued, or with an upload cut off by SIGKILL, neither crashes nor leaves anything behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

const PASSWORD: &str = "hostile-admin-password";

fn auth() -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}")))
}

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `okrflow serve` on a free port over `data` (and `database`, when the suite runs
    /// on Postgres), with a 1 GB profiling memory limit.
    fn start(data: &Path, database: Option<&str>) -> Server {
        let bin = std::env::var_os("OKRFLOW_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_okrflow").into());
        let mut child = Command::new(bin)
            .args(["serve", "--addr", "127.0.0.1:0", "--log", "info", "--max-upload-mb", "1000"])
            .args(["--profile-memory-mb", "1000", "--data-dir"])
            .arg(data)
            .args(database.map(|url| format!("--database-url={url}")))
            .env("OKRFLOW_ADMIN_PASSWORD", PASSWORD)
            .env_remove("DATABASE_URL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("okrflow did not log its address within 30 s");
            };
            if let Some(i) = line.find("listening on http://") {
                let addr = line[i + "listening on http://".len()..].trim().to_string();
                // Keep draining its log so it never blocks on a full pipe.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return Server { child, addr };
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn get_json(server: &Server, path: &str) -> (u16, Value, usize) {
    let mut res = agent().get(&server.url(path)).header("authorization", &auth()).call().unwrap();
    let status = res.status().as_u16();
    let body = res.body_mut().with_config().limit(u64::MAX).read_to_vec().unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null), body.len())
}

fn post(server: &Server, path: &str) -> u16 {
    agent().post(&server.url(path)).header("authorization", &auth()).send_empty().unwrap().status().as_u16()
}

fn upload(server: &Server, name: &str, bytes: &[u8]) -> String {
    let boundary = "hostile-boundary-7d1e";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut res = agent()
        .post(&server.url("/api/v1/files"))
        .header("authorization", &auth())
        .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])
        .unwrap();
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap();
    assert_eq!(status, 201, "{name}: {text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    json["files"][0]["id"].as_str().unwrap().to_string()
}

/// The file's detail once it is no longer queued or being profiled.
fn settled(server: &Server, id: &str) -> (Value, usize) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, detail, bytes) = get_json(server, &format!("/api/v1/files/{id}"));
        assert_eq!(status, 200, "{detail}");
        let state = detail["file"]["status"].as_str().unwrap_or_default().to_string();
        if state == "Ready" || state == "Failed" {
            return (detail, bytes);
        }
        assert!(Instant::now() < deadline, "{id} still {state} after 180 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Watches the server while the test runs: the slowest `/healthz` answer and the largest RSS.
struct Watch {
    stop: Arc<AtomicBool>,
    worst: Arc<Mutex<(Duration, u64, u32)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    fn start(server: &Server) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let worst = Arc::new(Mutex::new((Duration::ZERO, 0u64, 0u32)));
        let (url, pid) = (server.url("/healthz"), server.child.id());
        let (s, w) = (stop.clone(), worst.clone());
        let thread = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            while !s.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ok = agent.get(&url).call().map(|r| r.status().as_u16() == 200).unwrap_or(false);
                let took = started.elapsed();
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                    .map_or(0, |kb| kb * 1024);
                let mut worst = w.lock().unwrap();
                worst.0 = worst.0.max(took);
                worst.1 = worst.1.max(rss);
                if !ok {
                    worst.2 += 1;
                }
                drop(worst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watch { stop, worst, thread: Some(thread) }
    }

    fn finish(mut self) -> (Duration, u64, u32) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        *self.worst.lock().unwrap()
    }
}

// ---- the hostile samples ---------------------------------------------------------------------

fn nested_arrays(depth: usize) -> Vec<u8> {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
}

fn nested_objects(depth: usize) -> Vec<u8> {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes()
}

/// A 2 KB workbook whose only cells are A1 and XFD1048576: read as a grid, 17 billion cells.
fn sparse_workbook() -> Vec<u8> {
    let sheet = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData></worksheet>"#;
    let parts: [(&str, &str); 5] = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sparse" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in parts {
            zip.start_file(name, options).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

/// A CSV of 1.5 MB with 100,000 columns and one record.
fn wide_csv(columns: usize) -> Vec<u8> {
    let header: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let record: Vec<&str> = (0..columns).map(|_| "7").collect();
    format!("{}\n{}\n", header.join(","), record.join(",")).into_bytes()
}

/// One NDJSON line of `mb` megabytes: a single record whose one value is a huge string.
fn one_line_ndjson(mb: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(mb * 1_000_000 + 16);
    out.extend_from_slice(b"{\"text\":\"");
    out.resize(out.len() + mb * 1_000_000, b'x');
    out.extend_from_slice(b"\"}\n");
    out
}

#[test]
fn hostile_files_fail_or_stay_bounded_and_the_server_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let scratch = tokio::runtime::Runtime::new().unwrap().block_on(common::scratch_database());
    let database = scratch.as_ref().map(|s| s.url().to_string());
    let server = Server::start(&data, database.as_deref());
    let watch = Watch::start(&server);

    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("deep-arrays.json", nested_arrays(200_000)),
        ("deep-objects.json", nested_objects(100_000)),
        ("deep.ndjson", [b"{\"a\": 1}\n".to_vec(), nested_arrays(200_000), b"\n".to_vec()].concat()),
        ("sparse.xlsx", sparse_workbook()),
        ("wide.csv", wide_csv(100_000)),
        ("one-line.ndjson", one_line_ndjson(300)),
    ];
    let ids: Vec<(String, String)> =
        samples.iter().map(|(name, bytes)| (name.to_string(), upload(&server, name, bytes))).collect();
    drop(samples);

    let mut outcomes = std::collections::HashMap::new();
    for (name, id) in &ids {
        let (detail, bytes) = settled(&server, id);
        let status = detail["file"]["status"].as_str().unwrap().to_string();
        let message = detail["file"]["status_message"].as_str().unwrap_or_default().to_string();
        eprintln!("{name}: {status} ({bytes} bytes of detail) {message}");
        assert!(bytes < 1_000_000, "{name}: a detail answer of {bytes} bytes");
        outcomes.insert(name.clone(), (status, message, detail));
    }
    for name in ["deep-arrays.json", "deep-objects.json", "deep.ndjson"] {
        let (status, message, _) = &outcomes[name];
        assert_eq!(status, "Failed", "{name}");
        assert!(message.contains("nested more than 64 levels"), "{name}: {message}");
    }
    let (status, message, _) = &outcomes["deep.ndjson"];
    assert!(status == "Failed" && message.contains("line 2"), "{message}");
    let (status, message, _) = &outcomes["sparse.xlsx"];
    assert_eq!(status, "Failed");
    assert!(message.contains("spans 1048576 rows × 16384 columns") && message.contains("XFD1048576"), "{message}");
    let (status, _, detail) = &outcomes["wide.csv"];
    assert_eq!(status, "Ready");
    assert_eq!(detail["file"]["columns"], 100_000, "the file table shows the table's real width");
    let table = &detail["profile"]["Tables"][0];
    assert_eq!(table["profiled_columns"], 1_000);
    assert_eq!(table["columns"].as_array().unwrap().len(), 100, "the detail answer is one window of columns");
    assert!(table["warnings"].to_string().contains("100000 columns; the first 1000 are profiled"), "{table}");
    let (_, window, _) = get_json(&server, &format!("/api/v1/files/{}?columns_offset=950&columns_limit=500", ids[4].1));
    let t = &window["profile"]["Tables"][0];
    assert_eq!((t["column_offset"].as_u64(), t["columns"].as_array().unwrap().len()), (Some(950), 50));
    assert_eq!(t["columns"][0]["name"], "c950");
    let (status, bad, _) = get_json(&server, &format!("/api/v1/files/{}?columns_limit=100000", ids[4].1));
    assert_eq!(status, 400);
    assert!(bad.to_string().contains("columns_limit must be between 1 and 500"), "{bad}");
    // The one-line 300 MB record needs more than the 1 GB allowed here.
    let (status, message, _) = &outcomes["one-line.ndjson"];
    assert_eq!(status, "Failed");
    assert!(message.contains("needed more than the 1.0 GB of memory allowed for profiling"), "{message}");

    let (slowest, rss, failures) = watch.finish();
    eprintln!("slowest /healthz {slowest:?}, largest server RSS {} MB, failed checks {failures}", rss / 1_000_000);
    assert_eq!(failures, 0, "/healthz always answered 200");
    assert!(slowest < Duration::from_millis(100), "/healthz took {slowest:?}");
    assert!(rss < 500_000_000, "server RSS reached {rss} bytes");
    assert!(server.rss_bytes() > 0);

    // Queue every hostile file again, start an upload that is cut off by SIGKILL, and kill
    // the server while all of that is pending.
    for (_, id) in &ids {
        assert_eq!(post(&server, &format!("/api/v1/files/{id}/reprocess")), 202);
    }
    let mut cut = TcpStream::connect(&server.addr).unwrap();
    let boundary = "cut-off";
    let head = format!(
        "POST /api/v1/files HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000000\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.csv\"\r\n\r\na,b\n",
        server.addr,
        auth()
    );
    cut.write_all(head.as_bytes()).unwrap();
    cut.write_all(&b"1,2\n".repeat(100_000)).unwrap();
    let files_dir = data.join("files");
    let has_part =
        || std::fs::read_dir(&files_dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".part"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_part() {
        assert!(Instant::now() < deadline, "the cut-off upload never reached the disk");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    drop(cut);
    assert!(has_part(), "the killed server left its partial upload");

    let server = Server::start(&data, database.as_deref());
    assert!(!has_part(), "the partial upload is swept at start");
    let (status, _, _) = get_json(&server, "/healthz");
    assert_eq!(status, 200);
    for (name, id) in &ids {
        let (detail, _) = settled(&server, id);
        let (before, ..) = &outcomes[name];
        assert_eq!(detail["file"]["status"].as_str().unwrap(), before, "{name} ends as before after the restart");
    }
    let (_, list, _) = get_json(&server, "/api/v1/files?per_page=200");
    assert_eq!(list["files"].as_array().unwrap().len(), ids.len(), "the cut-off upload left no file: {list}");
    let mut tail = String::new();
    let _ = TcpStream::connect(&server.addr).and_then(|mut s| {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        s.read_to_string(&mut tail)
    });
    assert!(tail.starts_with("HTTP/1.1 200"), "{tail}");
}
