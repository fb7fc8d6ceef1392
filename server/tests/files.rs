//! Files through the real server: uploads of every accepted type (samples the tests make
//! themselves), profiles, hostile names, the size limit, signature mismatches, truncated and
//! malformed content, an archive bomb, ten uploads at once, duplicates, downloads with Range
//! and RFC 6266 names, conversions, reprocessing, deletion and who may do what.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{admin_auth, basic, spawn_app, spawn_app_with, TestApp};
use okrflow_engine::accounts::Role;
use serde_json::Value;

const API: &str = "/api/v1/files";

/// A multipart/form-data body with one part per (file name, bytes); the name goes in raw.
fn multipart(parts: &[(&[u8], &[u8])]) -> (String, Vec<u8>) {
    let boundary = "okrflow-test-boundary-7d1e";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"").as_bytes(),
        );
        body.extend_from_slice(name);
        body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, String::from_utf8_lossy(&self.bytes)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    auth: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), app.url(path)).header("authorization", auth);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap().to_vec();
    Answer { status, headers, bytes }
}

async fn upload_as(app: &TestApp, auth: &str, parts: &[(&[u8], &[u8])]) -> Answer {
    let (content_type, body) = multipart(parts);
    call(app, "POST", API, auth, &[("content-type", &content_type)], Some(body)).await
}

/// Uploads one file as the admin; the stored file's JSON.
async fn upload(app: &TestApp, name: &str, bytes: &[u8]) -> Value {
    let answer = upload_as(app, &admin_auth(), &[(name.as_bytes(), bytes)]).await;
    assert_eq!(answer.status, 201, "{name}: {}", answer.text());
    answer.json()["files"][0].clone()
}

/// The file's detail once profiling has finished (ready or failed).
async fn profiled(app: &TestApp, id: &str) -> Value {
    for _ in 0..300 {
        let d = call(app, "GET", &format!("{API}/{id}"), &admin_auth(), &[], None).await.json();
        let status = d["file"]["status"].as_str().unwrap().to_string();
        if status == "Ready" || status == "Failed" {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} was not profiled within 30 s");
}

/// What the store holds: every name in a local store's directory (partial uploads too), or the
/// objects in the bucket plus one `pending upload` per multipart upload under way.
async fn stored_names(app: &TestApp) -> Vec<String> {
    let storage = app.engine.storage();
    let mut names: Vec<String> = match storage.local_dir() {
        Some(dir) => {
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        }
        None => {
            let mut names = storage.ids().await.unwrap();
            names.extend((0..storage.uploads_under_way().await.unwrap()).map(|_| "pending upload".to_string()));
            names
        }
    };
    names.sort();
    names
}

fn table(detail: &Value, i: usize) -> &Value {
    &detail["profile"]["Tables"][i]
}

// ---- samples -------------------------------------------------------------------------------

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

fn sheet_xml(rows: &[&[&str]]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, row) in rows.iter().enumerate() {
        xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, cell) in row.iter().enumerate() {
            let reference = format!("{}{}", (b'A' + c as u8) as char, r + 1);
            if cell.parse::<f64>().is_ok() {
                xml.push_str(&format!(r#"<c r="{reference}"><v>{cell}</v></c>"#));
            } else {
                xml.push_str(&format!(r#"<c r="{reference}" t="inlineStr"><is><t>{cell}</t></is></c>"#));
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// A minimal .xlsx with two sheets, "Objectives" and "Key results".
fn workbook() -> Vec<u8> {
    let sheet1 = sheet_xml(&[&["objective", "owner"], &["Grow revenue", "ana"], &["Ship v2", "ben"]]);
    let sheet2 =
        sheet_xml(&[&["key_result", "progress"], &["ARR 10M", "0.4"], &["NPS 50", "0.7"], &["Churn 2%", "0.9"]]);
    zip_of(&[
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Objectives" sheetId="1" r:id="rId1"/><sheet name="Key results" sheetId="2" r:id="rId2"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/></Relationships>"#,
        ),
        ("xl/worksheets/sheet1.xml", sheet1.as_bytes()),
        ("xl/worksheets/sheet2.xml", sheet2.as_bytes()),
    ])
}

/// A two-page PDF titled "OKR review", with a correct cross-reference table.
fn pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        "<< /Title (OKR review) /Producer (okrflow tests) >>",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1)
            .as_bytes(),
    );
    out
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8], inner_name: Option<&str>) -> Vec<u8> {
    let mut builder = flate2::GzBuilder::new();
    if let Some(name) = inner_name {
        builder = builder.filename(name);
    }
    let mut enc = builder.write(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

const OKRS_CSV: &str = "objective,key_result,owner,progress,confidence\n\
    Grow revenue,ARR 10M,ana,0.4,high\n\
    Grow revenue,NPS 50,ben,0.7,medium\n\
    Ship v2,Launch beta,ana,,low\n";

// ---- tests ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_accepted_type_is_stored_and_profiled() {
    let app = spawn_app().await;

    let csv = upload(&app, "okrs.csv", OKRS_CSV.as_bytes()).await;
    assert_eq!(csv["kind"], "Csv");
    assert_eq!(csv["size_bytes"], OKRS_CSV.len());
    assert_eq!(csv["uploaded_by"], "admin");
    let d = profiled(&app, csv["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    assert_eq!((d["file"]["rows"].as_u64(), d["file"]["columns"].as_u64()), (Some(3), Some(5)));
    let columns = &table(&d, 0)["columns"];
    let progress = columns.as_array().unwrap().iter().find(|c| c["name"] == "progress").unwrap();
    assert_eq!(progress["dtype"], "f64");
    assert_eq!(progress["nulls"], 1);
    assert_eq!(progress["numbers"]["min"], 0.4);
    assert_eq!(progress["numbers"]["max"], 0.7);
    let owner = columns.as_array().unwrap().iter().find(|c| c["name"] == "owner").unwrap();
    assert_eq!(owner["distinct"], 2);
    assert_eq!(owner["top"][0], serde_json::json!(["ana", 2]));
    assert_eq!(table(&d, 0)["preview"].as_array().unwrap().len(), 3);
    assert_eq!(table(&d, 0)["preview"][2][3], Value::Null, "a missing value stays missing");

    // A quoted field spanning lines: 4 lines after the header, 2 records.
    let quoted = "id,note\n1,\"first line\nsecond line\"\n2,\"a\nb\"\n";
    let f = upload(&app, "notes.csv", quoted.as_bytes()).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(quoted.lines().count(), 5);
    assert_eq!(d["file"]["rows"], 2, "records, not lines: {d}");
    assert_eq!(table(&d, 0)["preview"][0][1], "first line\nsecond line");

    let tsv = upload(&app, "okrs.tsv", b"team\tscore\nalpha\t1\nbeta\t2\n").await;
    let d = profiled(&app, tsv["id"].as_str().unwrap()).await;
    assert_eq!((d["file"]["rows"].as_u64(), d["file"]["columns"].as_u64()), (Some(2), Some(2)), "{d}");

    let json = upload(&app, "okrs.json", br#"[{"kr":"ARR","progress":0.4},{"kr":"NPS","progress":0.7}]"#).await;
    let d = profiled(&app, json["id"].as_str().unwrap()).await;
    assert_eq!((d["file"]["rows"].as_u64(), d["file"]["columns"].as_u64()), (Some(2), Some(2)), "{d}");

    let ndjson =
        upload(&app, "okrs.ndjson", b"{\"kr\":\"ARR\",\"p\":1}\n{\"kr\":\"NPS\",\"p\":2}\n{\"kr\":\"CSAT\",\"p\":3}\n")
            .await;
    let d = profiled(&app, ndjson["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["rows"], 3, "{d}");

    let xlsx = upload(&app, "plan.xlsx", &workbook()).await;
    let d = profiled(&app, xlsx["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    assert_eq!(table(&d, 0)["sheet"], "Objectives");
    assert_eq!(table(&d, 0)["rows"], 2);
    assert_eq!(table(&d, 1)["sheet"], "Key results");
    assert_eq!(table(&d, 1)["rows"], 3);
    assert_eq!(table(&d, 1)["columns"][1]["dtype"], "f64");
    assert_eq!(table(&d, 1)["columns"][1]["numbers"]["max"], 0.9);

    let xls = upload(&app, "plan.xls", include_bytes!("fixtures/plan.xls")).await;
    let d = profiled(&app, xls["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    assert_eq!((table(&d, 0)["sheet"].as_str(), table(&d, 0)["rows"].as_u64()), (Some("Objectives"), Some(2)));
    assert_eq!((table(&d, 1)["sheet"].as_str(), table(&d, 1)["rows"].as_u64()), (Some("Key results"), Some(3)));
    assert_eq!(table(&d, 1)["columns"][1]["numbers"]["max"], 0.9);

    let txt = upload(&app, "notes.txt", "Objectives and key results\nare measured weekly\n".as_bytes()).await;
    let d = profiled(&app, txt["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Text"], serde_json::json!({ "lines": 2, "words": 7, "encoding": "UTF-8" }));

    let pdf = upload(&app, "review.pdf", &pdf()).await;
    let d = profiled(&app, pdf["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Pdf"], serde_json::json!({ "pages": 2, "title": "OKR review" }), "{d}");

    let zip = upload(&app, "bundle.zip", &zip_of(&[("a.csv", b"x\n1\n"), ("docs/b.txt", b"hello")])).await;
    let d = profiled(&app, zip["id"].as_str().unwrap()).await;
    let archive = &d["profile"]["Archive"];
    assert_eq!(archive["total_entries"], 2, "{d}");
    assert_eq!(archive["entries"][1]["path"], "docs/b.txt");
    assert_eq!(archive["entries"][1]["size"], 5);

    let tar = upload(&app, "bundle.tar", &tar_of(&[("okrs.csv", OKRS_CSV.as_bytes()), ("readme.txt", b"hi")])).await;
    let d = profiled(&app, tar["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Archive"]["total_entries"], 2, "{d}");
    assert_eq!(d["profile"]["Archive"]["entries"][0]["size"], OKRS_CSV.len());

    let gz = upload(&app, "okrs.csv.gz", &gzip(OKRS_CSV.as_bytes(), Some("okrs.csv"))).await;
    let d = profiled(&app, gz["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Archive"]["entries"][0]["path"], "okrs.csv", "{d}");
    assert_eq!(d["profile"]["Archive"]["entries"][0]["size"], OKRS_CSV.len());

    let tgz = upload(&app, "bundle.tgz", &gzip(&tar_of(&[("a.txt", b"abc"), ("b.txt", b"de")]), None)).await;
    let d = profiled(&app, tgz["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Archive"]["total_entries"], 2, "a compressed tar is listed entry by entry: {d}");

    // Parquet: made by converting the CSV, downloaded, and uploaded again as a file of its own.
    let out = call(
        &app,
        "POST",
        &format!("{API}/{}/convert?to=parquet", csv["id"].as_str().unwrap()),
        &admin_auth(),
        &[],
        None,
    )
    .await;
    assert_eq!(out.status, 201, "{}", out.text());
    let parquet_id = out.json()["id"].as_str().unwrap().to_string();
    let bytes = call(&app, "GET", &format!("{API}/{parquet_id}/content"), &admin_auth(), &[], None).await.bytes;
    assert!(bytes.starts_with(b"PAR1"));
    let parquet = upload(&app, "okrs.parquet", &bytes).await;
    let d = profiled(&app, parquet["id"].as_str().unwrap()).await;
    assert_eq!((d["file"]["rows"].as_u64(), d["file"]["columns"].as_u64()), (Some(3), Some(5)), "{d}");
    assert_eq!(d["file"]["duplicate_of"]["id"], parquet_id, "same bytes as the conversion output");

    let page = call(&app, "GET", API, &admin_auth(), &[], None).await.json();
    assert_eq!(page["totals"]["files"], 15, "14 uploads and one conversion output");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_content_fails_profiling_with_the_parsers_message_and_keeps_the_bytes() {
    let app = spawn_app().await;

    let broken = upload(&app, "broken.json", b"[{\"kr\": \"ARR\",\n  \"p\": 1,,}]").await;
    let d = profiled(&app, broken["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Failed");
    let message = d["file"]["status_message"].as_str().unwrap();
    assert!(message.contains("line 2") && message.contains("column"), "{message}");
    let kept =
        call(&app, "GET", &format!("{API}/{}/content", broken["id"].as_str().unwrap()), &admin_auth(), &[], None).await;
    assert_eq!(kept.bytes, b"[{\"kr\": \"ARR\",\n  \"p\": 1,,}]", "the bytes stay");

    let lines = upload(&app, "broken.ndjson", b"{\"a\":1}\n{\"a\":2\n").await;
    let d = profiled(&app, lines["id"].as_str().unwrap()).await;
    assert!(d["file"]["status_message"].as_str().unwrap().contains("line 2"), "{d}");

    // Truncated archives and workbooks pass the signature check and fail in the parser.
    let full_zip = zip_of(&[("a.csv", OKRS_CSV.as_bytes()), ("b.csv", OKRS_CSV.as_bytes())]);
    let zip = upload(&app, "cut.zip", &full_zip[..full_zip.len() / 2]).await;
    let d = profiled(&app, zip["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Failed", "{d}");
    assert!(d["file"]["status_message"].as_str().unwrap().contains("zip"), "{d}");
    let book = workbook();
    let xlsx = upload(&app, "cut.xlsx", &book[..book.len() / 2]).await;
    let d = profiled(&app, xlsx["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Failed", "{d}");
    assert!(d["file"]["status_message"].as_str().unwrap().contains("Excel"), "{d}");

    // NaN and infinity in a number column: counted apart; the profile stays readable.
    let odd = upload(&app, "odd.csv", b"x\n1\nNaN\ninf\n3\n").await;
    let d = profiled(&app, odd["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    let x = &table(&d, 0)["columns"][0]["numbers"];
    assert_eq!((x["mean"].as_f64(), x["non_finite"].as_u64()), (Some(2.0), Some(2)), "{d}");

    // Empty: stored, profiled as empty.
    let empty = upload(&app, "empty.csv", b"").await;
    let d = profiled(&app, empty["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    assert_eq!(d["file"]["rows"], 0);
    assert_eq!(table(&d, 0)["warnings"][0], "the file is empty");

    // Latin-1 bytes in a CSV: read, with the bytes replaced and a warning that says where.
    let latin1 = b"name,city\nJos\xe9,M\xfcnchen\n";
    let f = upload(&app, "latin1.csv", latin1).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    let warning = table(&d, 0)["warnings"][0].as_str().unwrap();
    assert!(warning.contains("not valid UTF-8") && warning.contains("byte 13"), "{warning}");
    // The same bytes as text: the encoding is detected.
    let t = upload(&app, "latin1.txt", b"Jos\xe9 lives in M\xfcnchen and likes caf\xe9\n").await;
    let d = profiled(&app, t["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Text"]["encoding"], "windows-1252", "{d}");
    assert_eq!(d["profile"]["Text"]["words"], 7);

    // Reprocess runs again and reaches the same verdict.
    let again =
        call(&app, "POST", &format!("{API}/{}/reprocess", broken["id"].as_str().unwrap()), &admin_auth(), &[], None)
            .await;
    assert_eq!(again.status, 202, "{}", again.text());
    let d = profiled(&app, broken["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Failed");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_name_the_file_and_the_rule_and_keep_nothing() {
    let app = spawn_app().await;
    let cases: [(&str, &[u8], u16, &[&str]); 6] = [
        ("plan.xlsx", b"objective,owner\n", 415, &["plan.xlsx", "zip signature"]),
        ("review.pdf", b"not a pdf at all", 415, &["review.pdf", "%PDF-"]),
        ("data.parquet", b"a,b\n1,2\n", 415, &["data.parquet", "PAR1"]),
        ("okrs.csv", b"PK\x03\x04zipped", 415, &["okrs.csv", "zip archive"]),
        ("setup.exe", b"MZ", 415, &["setup.exe", ".exe files are not accepted", "csv, tsv, xlsx"]),
        ("README", b"hello", 415, &["README", "no extension"]),
    ];
    for (name, bytes, status, words) in cases {
        let answer = upload_as(&app, &admin_auth(), &[(name.as_bytes(), bytes)]).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.text());
        let error = answer.json()["error"].as_str().unwrap().to_string();
        for w in words {
            assert!(error.contains(w), "{name}: '{error}' should mention '{w}'");
        }
    }
    // A request with a bad file stores none of its files.
    let answer =
        upload_as(&app, &admin_auth(), &[(b"good.csv", OKRS_CSV.as_bytes()), (b"bad.pdf", b"nope".as_slice())]).await;
    assert_eq!(answer.status, 415);
    assert!(answer.text().contains("bad.pdf"));
    // Not multipart, and multipart without a file.
    let plain = call(&app, "POST", API, &admin_auth(), &[("content-type", "text/csv")], Some(OKRS_CSV.into())).await;
    assert_eq!(plain.status, 400);
    assert!(plain.json()["error"].as_str().unwrap().contains("multipart/form-data"), "{}", plain.text());

    assert!(stored_names(&app).await.is_empty(), "nothing on disk: {:?}", stored_names(&app).await);
    assert_eq!(call(&app, "GET", API, &admin_auth(), &[], None).await.json()["totals"]["files"], 0);

    // Unknown ids, bad queries and conversions are 4xx with the rule.
    let missing = call(&app, "GET", &format!("{API}/0123456789abcdef0123456789abcdef"), &admin_auth(), &[], None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("no file with id"));
    let bad_sort = call(&app, "GET", &format!("{API}?sort=colour"), &admin_auth(), &[], None).await;
    assert_eq!(bad_sort.status, 400);
    assert!(bad_sort.text().contains("cannot sort files by 'colour'"), "{}", bad_sort.text());
    let bad_page = call(&app, "GET", &format!("{API}?per_page=100000"), &admin_auth(), &[], None).await;
    assert_eq!(bad_page.status, 400);
    let txt = upload(&app, "notes.txt", b"hello").await;
    let convert = call(
        &app,
        "POST",
        &format!("{API}/{}/convert?to=parquet", txt["id"].as_str().unwrap()),
        &admin_auth(),
        &[],
        None,
    )
    .await;
    assert_eq!(convert.status, 400);
    assert!(convert.text().contains("notes.txt") && convert.text().contains("not a table"), "{}", convert.text());
    let unknown =
        call(&app, "POST", &format!("{API}/{}/convert?to=xml", txt["id"].as_str().unwrap()), &admin_auth(), &[], None)
            .await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.text().contains("choose parquet or clean_csv"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_past_the_limit_stops_and_leaves_nothing() {
    let app = spawn_app_with(|c| c.max_upload_bytes = 1_000).await;
    let big = vec![b'a'; 5_000];
    let answer = upload_as(&app, &admin_auth(), &[(b"big.csv", big.as_slice())]).await;
    assert_eq!(answer.status, 413, "{}", answer.text());
    let error = answer.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("big.csv") && error.contains("limit of 1000 bytes") && error.contains("nothing was kept"),
        "{error}"
    );
    assert!(stored_names(&app).await.is_empty(), "no partial file: {:?}", stored_names(&app).await);
    // At the limit is fine.
    upload(&app, "fits.csv", &vec![b'a'; 1_000]).await;
    assert_eq!(stored_names(&app).await.len(), 1);
    let page = call(&app, "GET", API, &admin_auth(), &[], None).await.json();
    assert_eq!(page["max_upload_bytes"], 1_000);
    assert_eq!(page["totals"]["files"], 1);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_names_are_kept_as_harmless_metadata() {
    let app = spawn_app().await;
    let long = format!("{}.csv", "a".repeat(1_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"../../etc/passwd.csv".to_vec(), "passwd.csv"),
        (b"/etc/cron.d/evil.csv".to_vec(), "evil.csv"),
        (b"..\\..\\windows\\system32\\evil.csv".to_vec(), "evil.csv"),
        (b"%2e%2e%2f%2e%2e%2fetc.csv".to_vec(), "%2e%2e%2f%2e%2e%2fetc.csv"),
        (b"CON.csv".to_vec(), "_CON.csv"),
        ("\u{202E}vsc.exe.csv".as_bytes().to_vec(), "vsc.exe.csv"),
        ("раssword.csv".as_bytes().to_vec(), "раssword.csv"),
        (long.as_bytes().to_vec(), ""),
    ];
    for (raw, expected) in &cases {
        let answer = upload_as(&app, &admin_auth(), &[(raw.as_slice(), b"a\n1\n".as_slice())]).await;
        assert_eq!(answer.status, 201, "{}: {}", String::from_utf8_lossy(raw), answer.text());
        let name = answer.json()["files"][0]["name"].as_str().unwrap().to_string();
        if expected.is_empty() {
            assert!(name.len() <= 255 && name.ends_with(".csv"), "long names are cut, keeping the extension: {name}");
        } else {
            assert_eq!(&name, expected);
        }
    }
    // A NUL in the name: refused by the multipart parser or stored without it, never on disk.
    let nul = upload_as(&app, &admin_auth(), &[(b"evil\0.csv", b"a\n1\n".as_slice())]).await;
    assert!(nul.status == 201 || (400..500).contains(&nul.status), "{} {}", nul.status, nul.text());
    if nul.status == 201 {
        assert!(!nul.json()["files"][0]["name"].as_str().unwrap().contains('\0'));
    }
    // On disk there are only server-chosen ids, all inside the store.
    for name in stored_names(&app).await {
        assert!(name.len() == 32 && name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }
    assert!(!app.dir.path().join("etc").exists() && !app.dir.path().join("data").join("etc").exists());
    // The download suggests the cleaned name, percent-encoded for non-ASCII.
    let page = call(&app, "GET", &format!("{API}?name=ssword"), &admin_auth(), &[], None).await.json();
    let id = page["files"][0]["id"].as_str().unwrap();
    let d = call(&app, "GET", &format!("{API}/{id}/content"), &admin_auth(), &[], None).await;
    assert_eq!(
        d.header("content-disposition"),
        "attachment; filename=\"__ssword.csv\"; filename*=UTF-8''%D1%80%D0%B0ssword.csv"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_bomb_is_listed_without_being_extracted() {
    let app = spawn_app().await;
    let zeros = vec![0u8; 20 << 20];
    let bomb = zip_of(&[("zeros.bin", &zeros), ("more/zeros.bin", &zeros)]);
    assert!(bomb.len() < 200_000, "the sample compresses well: {}", bomb.len());
    let f = upload(&app, "bomb.zip", &bomb).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    let archive = &d["profile"]["Archive"];
    assert_eq!(archive["total_size"], 40u64 << 20, "{d}");
    let notes = archive["notes"].to_string();
    assert!(notes.contains("possible archive bomb") && notes.contains("nothing was extracted"), "{notes}");

    // A gzipped tar must be decompressed to be listed: the counter stops it.
    let tgz = gzip(&tar_of(&[("zeros.bin", &zeros), ("after.txt", b"x")]), None);
    let f = upload(&app, "bomb.tar.gz", &tgz).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    let notes = d["profile"]["Archive"]["notes"].to_string();
    assert!(notes.contains("listing stopped") && notes.contains("archive bomb"), "{notes}");
    assert_eq!(d["profile"]["Archive"]["entries"][0]["path"], "zeros.bin");
    app.stop().await.unwrap();
}

/// Overwrites the little-endian u32 at `at`.
fn patch_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[tokio::test(flavor = "multi_thread")]
async fn archives_that_lie_about_their_sizes_are_flagged() {
    let app = spawn_app().await;
    // A gzip whose trailer says 10 bytes for 50 MB of zeros: the counter finds out.
    let mut lying = gzip(&vec![0u8; 50 << 20], Some("zeros.bin"));
    let end = lying.len();
    patch_u32(&mut lying, end - 4, 10);
    let f = upload(&app, "zeros.bin.gz", &lying).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(d["file"]["status"], "Ready", "{d}");
    let notes = d["profile"]["Archive"]["notes"].to_string();
    assert!(notes.contains("declares 10 B") && notes.contains("possible archive bomb"), "{notes}");

    // A small gzip with a wrong trailer is named as such.
    let mut wrong = gzip(b"objective,owner\nGrow,ana\n", None);
    let end = wrong.len();
    patch_u32(&mut wrong, end - 4, 99);
    let f = upload(&app, "small.csv.gz", &wrong).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    let notes = d["profile"]["Archive"]["notes"].to_string();
    assert!(notes.contains("99 B") && notes.contains("wrong"), "{notes}");

    // A zip whose headers declare 10 bytes for 1 MB of zeros.
    let zeros = vec![0u8; 1 << 20];
    let mut zip = zip_of(&[("zeros.bin", &zeros)]);
    assert_eq!(&zip[..4], b"PK\x03\x04");
    patch_u32(&mut zip, 22, 10);
    let cd = zip.windows(4).position(|w| w == b"PK\x01\x02").expect("a central directory");
    patch_u32(&mut zip, cd + 24, 10);
    let f = upload(&app, "lying.zip", &zip).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Archive"]["entries"][0]["size"], 10, "the declared size is listed: {d}");
    let notes = d["profile"]["Archive"]["notes"].to_string();
    assert!(
        notes.contains("'zeros.bin'")
            && (notes.contains("decompresses to more") || notes.contains("does not decompress")),
        "{notes}"
    );

    // An honest archive gets no such note.
    let honest = zip_of(&[("a.txt", b"hello")]);
    let f = upload(&app, "honest.zip", &honest).await;
    let d = profiled(&app, f["id"].as_str().unwrap()).await;
    assert_eq!(d["profile"]["Archive"]["notes"], serde_json::json!([]), "{d}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_uploads_at_once_are_all_stored() {
    let app = std::sync::Arc::new(spawn_app().await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let app = app.clone();
        tasks.spawn(async move {
            let body = format!("n,value\n{i},{}\n", "x".repeat(200_000 + i * 1000));
            let answer = upload_as(&app, &admin_auth(), &[(format!("part-{i}.csv").as_bytes(), body.as_bytes())]).await;
            assert_eq!(answer.status, 201, "{}", answer.text());
            (answer.json()["files"][0]["id"].as_str().unwrap().to_string(), body.len())
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(done) = tasks.join_next().await {
        let (id, len) = done.unwrap();
        let bytes = call(&app, "GET", &format!("{API}/{id}/content"), &admin_auth(), &[], None).await.bytes;
        assert_eq!(bytes.len(), len);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 10);
    assert_eq!(stored_names(&app).await.len(), 10);
    for id in &ids {
        assert_eq!(profiled(&app, id).await["file"]["rows"], 1);
    }
    let app = std::sync::Arc::into_inner(app).expect("tasks are done");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_downloads_conversions_and_deletion() {
    let app = spawn_app().await;
    let first = upload(&app, "okrs.csv", OKRS_CSV.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = upload(&app, "okrs copy.csv", OKRS_CSV.as_bytes()).await;
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["duplicate_of"], Value::Null);
    assert_eq!(second["duplicate_of"]["id"], id.as_str(), "identical content is recognised by its hash");
    assert_eq!(second["duplicate_of"]["name"], "okrs.csv");

    // The whole file.
    let whole = call(&app, "GET", &format!("{API}/{id}/content"), &admin_auth(), &[], None).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.bytes, OKRS_CSV.as_bytes());
    assert_eq!(whole.header("content-type"), "text/csv");
    assert_eq!(whole.header("content-length"), OKRS_CSV.len().to_string());
    assert_eq!(whole.header("content-disposition"), "attachment; filename=\"okrs.csv\"; filename*=UTF-8''okrs.csv");
    assert_eq!(whole.header("accept-ranges"), "bytes");
    // A range from the middle: 206, the slice, not counted as another download.
    let part =
        call(&app, "GET", &format!("{API}/{id}/content"), &admin_auth(), &[("range", "bytes=10-19")], None).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, &OKRS_CSV.as_bytes()[10..20]);
    assert_eq!(part.header("content-range"), format!("bytes 10-19/{}", OKRS_CSV.len()));
    let beyond =
        call(&app, "GET", &format!("{API}/{id}/content"), &admin_auth(), &[("range", "bytes=99999-")], None).await;
    assert_eq!(beyond.status, 416);
    let d = call(&app, "GET", &format!("{API}/{id}"), &admin_auth(), &[], None).await.json();
    assert_eq!(d["file"]["downloads"], 1);
    assert_eq!(d["file"]["last_download_by"], "admin");
    assert_eq!(d["downloads"][0]["by"], "admin");
    let page = call(&app, "GET", API, &admin_auth(), &[], None).await.json();
    assert_eq!(page["recent_downloads"][0]["file_name"], "okrs.csv");

    // Clean CSV: normalised names, UTF-8.
    let messy = "Key Result,Owner (email),2026 Q1,\nARR,ana@example.com,1,x\n";
    let messy = upload(&app, "Messy Names.csv", messy.as_bytes()).await;
    let out = call(
        &app,
        "POST",
        &format!("{API}/{}/convert?to=clean_csv", messy["id"].as_str().unwrap()),
        &admin_auth(),
        &[],
        None,
    )
    .await;
    assert_eq!(out.status, 201, "{}", out.text());
    let output = out.json();
    assert_eq!(output["name"], "Messy Names.clean.csv");
    assert_eq!(output["source"]["name"], "Messy Names.csv");
    assert_eq!(output["conversion"], "CleanCsv");
    let bytes =
        call(&app, "GET", &format!("{API}/{}/content", output["id"].as_str().unwrap()), &admin_auth(), &[], None).await;
    assert!(bytes.text().starts_with("key_result,owner_email,c_2026_q1,column_4\n"), "{}", bytes.text());
    let d =
        call(&app, "GET", &format!("{API}/{}", messy["id"].as_str().unwrap()), &admin_auth(), &[], None).await.json();
    assert_eq!(d["outputs"][0]["id"], output["id"], "the source lists its outputs");

    // Excel: one sheet by name, or the first.
    let xlsx = upload(&app, "plan.xlsx", &workbook()).await;
    let xid = xlsx["id"].as_str().unwrap();
    let sheet =
        call(&app, "POST", &format!("{API}/{xid}/convert?to=clean_csv&sheet=Key%20results"), &admin_auth(), &[], None)
            .await;
    assert_eq!(sheet.status, 201, "{}", sheet.text());
    assert_eq!(sheet.json()["name"], "plan-Key results.clean.csv");
    let text =
        call(&app, "GET", &format!("{API}/{}/content", sheet.json()["id"].as_str().unwrap()), &admin_auth(), &[], None)
            .await;
    assert!(text.text().starts_with("key_result,progress\nARR 10M,0.4\n"), "{}", text.text());
    let nosheet =
        call(&app, "POST", &format!("{API}/{xid}/convert?to=parquet&sheet=Budget"), &admin_auth(), &[], None).await;
    assert_eq!(nosheet.status, 400);
    assert!(
        nosheet.text().contains("no sheet 'Budget'") && nosheet.text().contains("Objectives, Key results"),
        "{}",
        nosheet.text()
    );

    // Delete: the source goes, its output stays and remembers the source's name.
    let gone =
        call(&app, "DELETE", &format!("{API}/{}", messy["id"].as_str().unwrap()), &admin_auth(), &[], None).await;
    assert_eq!(gone.status, 200, "{}", gone.text());
    let again =
        call(&app, "DELETE", &format!("{API}/{}", messy["id"].as_str().unwrap()), &admin_auth(), &[], None).await;
    assert_eq!(again.status, 404);
    let kept =
        call(&app, "GET", &format!("{API}/{}", output["id"].as_str().unwrap()), &admin_auth(), &[], None).await.json();
    assert_eq!(kept["file"]["source"], serde_json::json!({ "id": "", "name": "Messy Names.csv" }));
    assert!(!stored_names(&app).await.contains(&messy["id"].as_str().unwrap().to_string()), "the bytes are gone");

    // Filter, sort, paging.
    let csvs = call(&app, "GET", &format!("{API}?kind=csv&sort=name&order=asc"), &admin_auth(), &[], None).await.json();
    let names: Vec<&str> = csvs["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Messy Names.clean.csv", "okrs copy.csv", "okrs.csv", "plan-Key results.clean.csv"]);
    let paged = call(&app, "GET", &format!("{API}?sort=name&order=asc&per_page=2&page=2"), &admin_auth(), &[], None)
        .await
        .json();
    assert_eq!(paged["matching"], 5);
    assert_eq!(paged["files"][0]["name"], "okrs.csv");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_read_and_download_editors_change() {
    let app = spawn_app().await;
    app.create_user("vic", "a long password", Role::Viewer).await;
    app.create_user("eve", "a long password", Role::Editor).await;
    let viewer = basic("vic", "a long password");
    let editor = basic("eve", "a long password");

    let refused = upload_as(&app, &viewer, &[(b"okrs.csv", OKRS_CSV.as_bytes())]).await;
    assert_eq!(refused.status, 403);
    assert!(refused.json()["error"].as_str().unwrap().contains("needs the editor role"), "{}", refused.text());
    let stored = upload_as(&app, &editor, &[(b"okrs.csv", OKRS_CSV.as_bytes())]).await;
    assert_eq!(stored.status, 201);
    let id = stored.json()["files"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(call(&app, "GET", API, &viewer, &[], None).await.status, 200);
    let got = call(&app, "GET", &format!("{API}/{id}/content"), &viewer, &[], None).await;
    assert_eq!(got.bytes, OKRS_CSV.as_bytes());
    assert_eq!(call(&app, "DELETE", &format!("{API}/{id}"), &viewer, &[], None).await.status, 403);
    assert_eq!(call(&app, "POST", &format!("{API}/{id}/reprocess"), &viewer, &[], None).await.status, 403);
    let anonymous = reqwest::get(app.url(API)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.text().await.unwrap().contains("\"error\""), "REST refusals are JSON");
    assert_eq!(call(&app, "DELETE", &format!("{API}/{id}"), &editor, &[], None).await.status, 200);

    let audit = okrflow_engine::accounts::audit::query(
        app.engine.db(),
        &okrflow_engine::accounts::AuditQuery { actor: Some("eve".into()), ..Default::default() },
    )
    .await
    .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"file.upload") && actions.contains(&"file.delete"), "{actions:?}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_cut_off_midway_leaves_nothing() {
    let app = spawn_app().await;
    let addr = app.addr;
    let auth = admin_auth();
    // Announce 10 MB, send 1 MB, then hang up, as a cancelled browser upload does.
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let boundary = "cut-off";
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
        );
        let length = head.len() + 10_000_000;
        write!(
            stream,
            "POST {API} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n{head}"
        )
        .unwrap();
        stream.write_all(&vec![b'x'; 1_000_000]).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(stream);
    })
    .await
    .unwrap();
    // The server notices the broken body and removes the partial file.
    let mut left = stored_names(&app).await;
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = stored_names(&app).await;
    }
    assert!(left.is_empty(), "nothing on disk: {left:?}");
    assert_eq!(call(&app, "GET", API, &admin_auth(), &[], None).await.json()["totals"]["files"], 0);
    let audit = okrflow_engine::accounts::audit::query(
        app.engine.db(),
        &okrflow_engine::accounts::AuditQuery { actor: Some("admin".into()), ..Default::default() },
    )
    .await
    .unwrap();
    let failed = audit.iter().find(|e| e.action == "file.upload").expect("the failed upload is audited");
    assert!(failed.detail.contains("big.csv") && failed.detail.contains("broke off"), "{}", failed.detail);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_is_described_and_errors_carry_their_kind() {
    let app = spawn_app().await;
    // Anyone may read the description; it lists every route the router serves for files.
    let doc = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(doc.status(), 200);
    let doc: Value = serde_json::from_slice(&doc.bytes().await.unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        (API, "get"),
        (API, "post"),
        ("/api/v1/files/{id}", "get"),
        ("/api/v1/files/{id}", "delete"),
        ("/api/v1/files/{id}/content", "get"),
        ("/api/v1/files/{id}/reprocess", "post"),
        ("/api/v1/files/{id}/convert", "post"),
    ] {
        assert!(doc["paths"][path][method]["responses"].is_object(), "{method} {path} is described");
    }
    assert!(doc["components"]["schemas"]["FileView"]["properties"]["sha256"].is_object(), "{}", doc["components"]);

    let missing = call(&app, "GET", &format!("{API}/0123456789abcdef0123456789abcdef"), &admin_auth(), &[], None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["kind"], "not_found");
    assert_eq!(missing.json()["status"], 404);
    // Text no stored id can be is answered 404 without a query (a NUL would break Postgres).
    let odd = call(&app, "GET", &format!("{API}/%00%01"), &admin_auth(), &[], None).await;
    assert_eq!(odd.status, 404, "{}", odd.text());
    let nul = call(&app, "GET", &format!("{API}?name=%00"), &admin_auth(), &[], None).await;
    assert_eq!(nul.status, 200, "no stored name has a control character: {}", nul.text());
    assert_eq!(nul.json()["matching"], 0);
    let anonymous = reqwest::get(app.url(API)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let refusal: Value = serde_json::from_slice(&anonymous.bytes().await.unwrap()).unwrap();
    assert_eq!(refusal["kind"], "unauthenticated");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_route_does_not_have_is_405_with_the_ones_it_has() {
    let app = spawn_app().await;
    let put = call(&app, "PUT", API, &admin_auth(), &[], Some(Vec::new())).await;
    assert_eq!(put.status, 405, "{}", put.text());
    assert_eq!(put.header("allow"), "GET, HEAD, POST");
    assert_eq!(put.json()["kind"], "method_not_allowed");
    let patch = call(&app, "PATCH", &format!("{API}/0123456789abcdef0123456789abcdef"), &admin_auth(), &[], None).await;
    assert_eq!(patch.header("allow"), "DELETE, GET, HEAD");
    app.stop().await.unwrap();
}
