//! `okrflow db copy` with the real binary: a populated SQLite database copied into an empty
//! Postgres one answers every REST listing, server function and page the same afterwards; a
//! second copy into the now non-empty target is refused and changes nothing.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin_auth, server_fn_path, spawn_app_with, TestApp};
use okrflow_engine::db::scratch::ScratchDatabase;
use serde_json::Value;

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "okrflow-copy-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, name: &str, bytes: &[u8]) -> String {
    let (content_type, body) = multipart(name, bytes);
    let url = app.url("/api/v1/files");
    let answer = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent
            .post(&url)
            .header("authorization", &admin_auth())
            .header("content-type", &content_type)
            .send(&body[..])
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(answer.0, 201, "{}", answer.1);
    let v: Value = serde_json::from_str(&answer.1).unwrap();
    v["files"][0]["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

async fn settled(app: &TestApp, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.get_as_admin(&format!("/api/v1/files/{id}")).await;
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let status = v["file"]["status"].as_str().unwrap_or_default().to_string();
        if status == "Ready" || status == "Failed" {
            return;
        }
        assert!(Instant::now() < deadline, "{id} still {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a person or a client sees: REST listings and details, server functions' answers,
/// and which pages render (with the names they show).
async fn observe(app: &TestApp, ids: &[String]) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for path in ["/api/v1/files", "/api/v1/files?sort=name&per_page=1&page=2", "/api/v1/files?name=okr"] {
        let r = app.get_as_admin(path).await;
        seen.push((path.to_string(), format!("{} {}", r.status, r.body)));
    }
    for id in ids {
        let path = format!("/api/v1/files/{id}");
        let r = app.get_as_admin(&path).await;
        seen.push((path, format!("{} {}", r.status, r.body)));
    }
    for (name, form) in [
        ("list_users", vec![]),
        (
            "list_audit",
            vec![
                ("actor".to_string(), String::new()),
                ("action".into(), String::new()),
                ("outcome".into(), String::new()),
            ],
        ),
        (
            "list_files",
            [("name", ""), ("kind", ""), ("sort", "name"), ("descending", "false"), ("page", "1"), ("per_page", "50")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    ] {
        let r = app.post_form(&server_fn_path(name), form).await;
        seen.push((name.to_string(), format!("{} {}", r.status, r.body)));
    }
    for page in ["/files", "/admin", "/logs", "/services"] {
        let r = app.get_as_admin(page).await;
        let names: Vec<&str> = ["okrs.csv", "targets.json", "bob"].into_iter().filter(|n| r.body.contains(n)).collect();
        seen.push((page.to_string(), format!("{} {names:?}", r.status)));
    }
    seen
}

fn okrflow(args: &[&str]) -> std::process::Output {
    Command::new(common::okrflow_bin()).args(args).env_remove("DATABASE_URL").output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_populated_sqlite_database_copied_to_postgres_answers_the_same() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_path_buf();
    let sqlite = format!("sqlite://{}", data_dir.join("okrflow.db").display());

    // On the S3 store both apps use the same prefix of the bucket, as a team moving databases would.
    let bucket = common::on_s3().then(okrflow_engine::storage::testing::TestBucket::new);
    let same_store = move |c: &mut okrflow_server::config::ServeConfig| {
        if let Some(b) = &bucket {
            c.storage_url = Some(b.url.clone());
            c.storage_vars = Some(b.vars.clone());
        }
    };
    let d = data_dir.clone();
    let store = same_store.clone();
    let before = spawn_app_with(move |c| {
        c.data_dir = d;
        c.database_url = None;
        store(c);
    })
    .await;
    before.create_user("bob", "a long password", okrflow_engine::accounts::Role::Editor).await;
    let mut ids = vec![
        upload(&before, "okrs.csv", b"objective,key_result,progress\nGrow,Signups,0.4\nGrow,Revenue,0.7\n").await,
        upload(&before, "targets.json", br#"[{"team":"a","target":3},{"team":"b","target":5}]"#).await,
    ];
    for id in &ids {
        settled(&before, id).await;
    }
    // A conversion makes an output that refers to its source.
    let r = before
        .post_form(
            &server_fn_path("convert_file"),
            vec![("id".into(), ids[0].clone()), ("to".into(), "parquet".into()), ("sheet".into(), String::new())],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let converted: Value = serde_json::from_str(&r.body).unwrap();
    ids.push(converted["id"].as_str().unwrap_or_else(|| panic!("{converted}")).to_string());
    settled(&before, &ids[2]).await;
    let seen_before = observe(&before, &ids).await;
    before.stop().await.unwrap();

    let scratch = ScratchDatabase::create().await.unwrap();
    let out = okrflow(&["db", "copy", "--from", &sqlite, "--to", scratch.url()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("files ") && l.contains(" 3 rows")), "{stdout}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("users ") && l.contains(" 2 rows")), "{stdout}");

    // Into a database that now holds rows: refused, exit 1, nothing changed.
    let again = okrflow(&["db", "copy", "--from", &sqlite, "--to", scratch.url()]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not empty") && stderr.contains("--replace"), "{stderr}");

    let url = scratch.url().to_string();
    let d = data_dir.clone();
    let after = spawn_app_with(move |c| {
        c.data_dir = d;
        c.database_url = Some(url);
        same_store(c);
    })
    .await;
    assert_eq!(after.engine.db().backend(), okrflow_engine::db::Backend::Postgres);
    let seen_after = observe(&after, &ids).await;
    for (b, a) in seen_before.iter().zip(&seen_after) {
        assert_eq!(b, a, "{} answers differently after the copy", b.0);
    }
    // And the copied files are still there to download.
    let r = after.get_as_admin(&format!("/api/v1/files/{}/content", ids[0])).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("objective,key_result"), "{}", r.body);
    after.stop().await.unwrap();
}

#[test]
fn copy_refuses_bad_urls_without_echoing_a_password() {
    let out = okrflow(&["db", "copy", "--from", "mysql://u:hunter2@h/db", "--to", "sqlite://x.db"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--from") && stderr.contains("unsupported scheme"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
