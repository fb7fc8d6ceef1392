//! Several real `okrflow` processes over one Postgres database and one bucket (the S3-compatible
//! test server), each with a data directory of its own, so they share nothing else: two
//! `serve --no-jobs` and `worker`s. A file uploaded through one server is profiled by a worker
//! and downloaded (whole and by range), converted and deleted through the other; a session made on one server is valid on the
//! other and a logout on either ends it on both; a worker killed with SIGKILL in the middle of a
//! profile loses its lease and another worker finishes it; every action is audited once.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use okrflow_engine::db::scratch::ScratchDatabase;
use okrflow_engine::storage::testing::TestBucket;
use okrflow_engine::storage::Storage;
use serde_json::Value;

const PASSWORD: &str = "scale-out-admin-password";

struct Process {
    child: Child,
    addr: Option<String>,
}

impl Process {
    /// Starts `okrflow <args>` over `data` and `database` and waits until its log says `ready`
    /// ("listening on http://…" for a server, "running jobs" for a worker).
    fn start(role: &str, data: &Path, database: &str, bucket: &TestBucket, extra: &[&str]) -> Process {
        let mut child = Command::new(common::okrflow_bin())
            .arg(role)
            .args(["--data-dir", data.to_str().unwrap(), "--database-url", database, "--log", "info"])
            .args(["--storage-url", &bucket.url.to_string()])
            .args(extra)
            .envs(bucket.vars.iter().map(|(k, v)| (k, v)))
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
        let mut seen = String::new();
        loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("okrflow {role} did not get ready within 30 s:\n{seen}");
            };
            seen.push_str(&line);
            seen.push('\n');
            let addr =
                line.find("listening on http://").map(|i| line[i + "listening on http://".len()..].trim().to_string());
            if addr.is_some() || line.contains("running jobs") {
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return Process { child, addr };
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.as_deref().expect("a server"))
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn auth() -> String {
    common::basic("admin", PASSWORD)
}

fn get(p: &Process, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = agent().get(&p.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().with_config().limit(1 << 30).read_to_string().unwrap_or_default())
}

fn json(p: &Process, path: &str) -> Value {
    let (status, body) = get(p, path, &[("authorization", &auth())]);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn server_fn(p: &Process, name: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> (u16, String, Vec<String>) {
    let mut req = agent().post(&p.url(&format!("/api/{name}")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.send_form(form.iter().copied()).unwrap();
    let cookies = r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(String::from).collect();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default(), cookies)
}

fn upload(p: &Process, name: &str, bytes: &[u8]) -> String {
    let boundary = "okrflow-scale-out";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut r = agent()
        .post(&p.url("/api/v1/files"))
        .header("authorization", &auth())
        .header("content-type", &format!("multipart/form-data; boundary={boundary}"))
        .send(&body[..])
        .unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    assert_eq!(r.status().as_u16(), 201, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["files"][0]["id"].as_str().unwrap().to_string()
}

fn status_of(p: &Process, id: &str) -> String {
    json(p, &format!("/api/v1/files/{id}"))["file"]["status"].as_str().unwrap_or_default().to_string()
}

fn wait_for(p: &Process, id: &str, wanted: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let detail = json(p, &format!("/api/v1/files/{id}"));
        if detail["file"]["status"] == wanted {
            return detail;
        }
        assert!(Instant::now() < deadline, "{id} is not {wanted} within {within:?}: {}", detail["file"]);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A CSV big enough that profiling it takes seconds (so a worker can be killed mid-way).
fn big_csv(mb: usize) -> Vec<u8> {
    let mut out = b"objective,key_result,owner,target,actual,progress\n".to_vec();
    let mut i = 0u64;
    while out.len() < mb * 1_000_000 {
        out.extend_from_slice(
            format!(
                "Objective {},Key result {},owner{}@example.com,{},{},0.{}\n",
                i % 97,
                i,
                i % 13,
                i % 1000,
                i % 777,
                i % 100
            )
            .as_bytes(),
        );
        i += 1;
    }
    out
}

#[test]
fn two_servers_and_workers_over_one_postgres_database_and_one_bucket() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scratch = rt.block_on(ScratchDatabase::create()).unwrap();
    let db = scratch.url().to_string();
    let bucket = TestBucket::new();
    let dir = tempfile::tempdir().unwrap();
    let data = |name: &str| dir.path().join(name);
    // The first start creates the schema and the admin; start it alone so the others find both.
    let a = Process::start("serve", &data("a"), &db, &bucket, &["--addr", "127.0.0.1:0", "--no-jobs"]);
    let b = Process::start("serve", &data("b"), &db, &bucket, &["--addr", "127.0.0.1:0", "--no-jobs"]);
    let mut w1 = Process::start("worker", &data("w1"), &db, &bucket, &["--job-lease-s", "3"]);

    // The Services page of either server lists all three.
    let (status, body, _) = server_fn(&b, "list_services", &[], &[("authorization", &auth())]);
    assert_eq!(status, 200, "{body}");
    let services: Value = serde_json::from_str(&body).unwrap();
    let roles: Vec<&str> =
        services["processes"].as_array().unwrap().iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["serve", "serve", "worker"], "{}", services["processes"]);
    assert_eq!(services["processes"].as_array().unwrap().iter().filter(|p| p["this"] == true).count(), 1);

    // Uploaded through A, profiled by the worker (the servers run no jobs), read through B.
    let small = upload(&a, "okrs.csv", b"objective,progress\nGrow,0.4\nKeep,0.9\n");
    let detail = wait_for(&b, &small, "Ready", Duration::from_secs(30));
    assert_eq!(detail["file"]["rows"], 2, "{detail}");
    let (status, body) = get(&b, &format!("/api/v1/files/{small}/content"), &[("authorization", &auth())]);
    assert_eq!((status, body.as_str()), (200, "objective,progress\nGrow,0.4\nKeep,0.9\n"));
    let range = [("authorization", auth()), ("range", "bytes=19-26".to_string())];
    let range: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(get(&b, &format!("/api/v1/files/{small}/content"), &range), (206, "Grow,0.4".to_string()));
    // Nothing of the file is in any process's data directory: the bytes are in the bucket.
    for name in ["a", "b", "w1"] {
        assert!(!data(name).join("files").join(&small).exists(), "{name} keeps no copy");
    }
    // Converted through B (the source copied from the bucket, the output put there), profiled
    // by the worker, read through A.
    let r = agent()
        .post(&b.url(&format!("/api/v1/files/{small}/convert?to=parquet")))
        .header("authorization", &auth())
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let converted: Value = serde_json::from_str(&r.into_body().read_to_string().unwrap()).unwrap();
    let parquet = converted["id"].as_str().unwrap().to_string();
    assert_eq!(wait_for(&a, &parquet, "Ready", Duration::from_secs(30))["file"]["rows"], 2);

    // A session made on A is valid on B; a logout on B ends it on A too.
    let origin_a = a.url("").trim_end_matches('/').to_string();
    let (status, body, cookies) =
        server_fn(&a, "login", &[("username", "admin"), ("password", PASSWORD)], &[("origin", &origin_a)]);
    assert!((200..400).contains(&status), "{status} {body}");
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("okrflow_session=") && !c.starts_with("okrflow_session=;"))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a session cookie");
    assert_eq!(get(&b, "/api/v1/files", &[("cookie", &cookie)]).0, 200, "A's session works on B");
    let origin_b = b.url("").trim_end_matches('/').to_string();
    let (status, _, _) = server_fn(&b, "logout", &[], &[("cookie", &cookie), ("origin", &origin_b)]);
    assert!((200..400).contains(&status), "logout answered {status}");
    assert_eq!(get(&a, "/api/v1/files", &[("cookie", &cookie)]).0, 401, "logged out on B, so on A too");

    // A worker killed in the middle of a profile: its lease runs out and another worker
    // (started while the first was alive, so it waits for the lease) finishes the file.
    let big = upload(&a, "big.csv", &big_csv(400));
    wait_for(&a, &big, "Profiling", Duration::from_secs(30));
    let w2 = Process::start("worker", &data("w2"), &db, &bucket, &["--job-lease-s", "3"]);
    w1.kill9();
    assert_eq!(status_of(&b, &big), "Profiling", "killed mid-profile, not after it");
    let detail = wait_for(&b, &big, "Ready", Duration::from_secs(90));
    assert!(detail["file"]["rows"].as_u64().unwrap() > 1_000_000, "{}", detail["file"]);
    let listing = json(&a, "/api/v1/files?per_page=100");
    let stuck: Vec<&Value> =
        listing["files"].as_array().unwrap().iter().filter(|f| f["status"] == "Profiling").collect();
    assert!(stuck.is_empty(), "no file stays profiling: {stuck:?}");

    // Deleted through B: gone for A as well.
    let r = agent().delete(&b.url(&format!("/api/v1/files/{small}"))).header("authorization", &auth()).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, _) = get(&a, &format!("/api/v1/files/{small}"), &[("authorization", &auth())]);
    assert_eq!(status, 404);
    let store = rt.block_on(async {
        let db = okrflow_engine::db::Database::connect(&db).await.unwrap();
        Storage::open_with(bucket.url.clone(), &data("check"), db, "check".into(), &bucket.vars).await.unwrap()
    });
    let mut stored = rt.block_on(store.ids()).unwrap();
    stored.sort();
    let mut expected = vec![big.clone(), parquet.clone()];
    expected.sort();
    assert_eq!(stored, expected, "the deleted file's object is gone from the bucket, the others stay");

    // Each action audited exactly once, whichever process did it.
    let (status, body, _) = server_fn(
        &a,
        "list_audit",
        &[("actor", ""), ("action", ""), ("outcome", ""), ("limit", "100")],
        &[("authorization", &auth())],
    );
    assert_eq!(status, 200, "{body}");
    let audit: Value = serde_json::from_str(&body).unwrap();
    let count = |action: &str, target_has: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["target"].as_str().unwrap_or_default().contains(target_has))
            .count()
    };
    assert_eq!(count("file.upload", &small), 1, "{audit}");
    assert_eq!(count("file.upload", &big), 1, "{audit}");
    assert_eq!(count("file.delete", &small), 1, "{audit}");
    assert_eq!(count("login", "admin"), 1, "{audit}");
    assert_eq!(count("logout", "admin"), 1, "{audit}");
    drop(w2);
    drop((a, b));
}
