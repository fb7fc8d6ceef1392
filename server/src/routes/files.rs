//! The Files REST API under `/api/v1/files`: streaming multipart upload, the file table,
//! details with profiles, reprocess, convert, delete, and downloads with Range support and an
//! RFC 6266 Content-Disposition. The browser's upload uses it too (for its progress events);
//! the page's other actions are server functions over the same engine calls.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use okrflow_engine::accounts::audit::{self, Outcome, Record};
use okrflow_engine::accounts::Principal;
use okrflow_engine::files::{ColumnWindow, Conversion, FileError, FileKind, FileQuery, FileSort, FileView};
use okrflow_engine::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use app::server::ClientIp;

use crate::state::AppState;

/// The REST routes with their methods, as the access policy names them.
pub const LIST: &str = "/api/v1/files";
pub const ONE: &str = "/api/v1/files/{id}";
pub const CONTENT: &str = "/api/v1/files/{id}/content";
pub const REPROCESS: &str = "/api/v1/files/{id}/reprocess";
pub const CONVERT: &str = "/api/v1/files/{id}/convert";

pub fn routes() -> Router<AppState> {
    Router::new()
        // The body limit is the engine's, enforced per file while streaming.
        .route(LIST, get(list).post(upload).layer(DefaultBodyLimit::disable()))
        .route(ONE, get(detail).delete(remove))
        .route(CONTENT, get(content))
        .route(REPROCESS, post(reprocess))
        .route(CONVERT, post(convert))
}

/// A refusal or failure as JSON: `{"error": "...", "status": 4xx}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.1, "status": self.0.as_u16() });
        (self.0, Json(body)).into_response()
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %e, "file action failed");
        }
        ApiError(status, e.to_string())
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

async fn record(
    engine: &Engine,
    who: &Principal,
    ip: &ClientIp,
    action: &str,
    target: &str,
    outcome: Outcome,
    detail: &str,
) {
    let r = Record { actor: &who.username, action, target, ip: &ip.0, outcome, detail };
    audit::record_or_log(engine.db(), r).await;
}

#[derive(Deserialize)]
struct ListParams {
    name: Option<String>,
    kind: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// The query a list request asks for, or the rule it broke.
fn file_query(p: ListParams) -> Result<FileQuery, String> {
    let defaults = FileQuery::default();
    let descending = match p.order.as_deref() {
        None => defaults.descending,
        Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(format!("order '{other}' is neither asc nor desc")),
    };
    let query = FileQuery {
        name: p.name.filter(|n| !n.trim().is_empty()),
        kind: p.kind.filter(|k| !k.is_empty()).map(|k| FileKind::parse(&k)).transpose()?,
        sort: p.sort.map(|s| FileSort::parse(&s)).transpose()?.unwrap_or(defaults.sort),
        descending,
        page: p.page.unwrap_or(defaults.page),
        per_page: p.per_page.unwrap_or(defaults.per_page),
    };
    query.validate()?;
    Ok(query)
}

async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| bad_request(format!("the query string is not valid: {}", e.body_text())))?;
    let query = file_query(params).map_err(bad_request)?;
    Ok(Json(state.engine.files().list(&query).await?).into_response())
}

/// `multipart/form-data` with one or more file parts. Each is streamed to disk; if any is
/// refused, the ones stored before it in the same request are removed too, so a request
/// stores all its files or none.
async fn upload(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = form.map_err(|e| {
        bad_request(format!("send the files as multipart/form-data (one part per file): {}", e.body_text()))
    })?;
    let files = state.engine.files();
    let mut stored: Vec<FileView> = Vec::new();
    let outcome = async {
        while let Some(field) =
            form.next_field().await.map_err(|e| bad_request(format!("the form is malformed: {e}")))?
        {
            let Some(raw_name) = field.file_name().map(str::to_owned) else {
                // Plain form fields carry nothing we need.
                continue;
            };
            let view = files.upload(&raw_name, field, &who.username).await?;
            stored.push(view);
        }
        Ok::<(), ApiError>(())
    }
    .await;
    match outcome {
        Err(e) => {
            for earlier in &stored {
                let _ = files.delete(&earlier.id).await;
            }
            record(&state.engine, &who, &ip, "file.upload", "", Outcome::Failed, &e.1).await;
            Err(e)
        }
        Ok(()) if stored.is_empty() => {
            Err(bad_request("the form has no file part; send each file as a part with a filename"))
        }
        Ok(()) => {
            for file in &stored {
                let detail = format!("{} bytes, sha256 {}", file.size_bytes, file.sha256);
                record(&state.engine, &who, &ip, "file.upload", &file.audit_target(), Outcome::Ok, &detail).await;
            }
            Ok((StatusCode::CREATED, Json(serde_json::json!({ "files": stored }))).into_response())
        }
    }
}

#[derive(Deserialize)]
struct DetailParams {
    columns_offset: Option<u64>,
    columns_limit: Option<u64>,
}

/// A file and its profile; wide tables come a window of columns at a time
/// (`columns_offset`, `columns_limit` up to 500, default 100).
async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DetailParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| bad_request(format!("the query string is not valid: {}", e.body_text())))?;
    let defaults = ColumnWindow::default();
    let window =
        ColumnWindow::new(p.columns_offset.unwrap_or(defaults.offset), p.columns_limit.unwrap_or(defaults.limit))
            .map_err(bad_request)?;
    Ok(Json(state.engine.files().detail(&id, window).await?).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = state.engine.files().delete(&id).await?;
    record(&state.engine, &who, &ip, "file.delete", &file.audit_target(), Outcome::Ok, "").await;
    Ok(Json(serde_json::json!({ "deleted": file })).into_response())
}

async fn reprocess(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = state.engine.files().reprocess(&id).await?;
    record(&state.engine, &who, &ip, "file.reprocess", &file.audit_target(), Outcome::Ok, "").await;
    Ok((StatusCode::ACCEPTED, Json(file)).into_response())
}

#[derive(Deserialize)]
struct ConvertParams {
    to: Option<String>,
    sheet: Option<String>,
}

async fn convert(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    Path(id): Path<String>,
    params: Result<Query<ConvertParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| bad_request(format!("the query string is not valid: {}", e.body_text())))?;
    let to = params.to.ok_or_else(|| bad_request("say what to convert to: ?to=parquet or ?to=clean_csv"))?;
    let to = Conversion::parse(&to).map_err(bad_request)?;
    let output = state.engine.files().convert(&id, to, params.sheet.filter(|s| !s.is_empty()), &who.username).await;
    let target = format!("{id} → {}", to.as_str());
    match output {
        Ok(file) => {
            record(&state.engine, &who, &ip, "file.convert", &target, Outcome::Ok, &file.id).await;
            Ok((StatusCode::CREATED, Json(file)).into_response())
        }
        Err(e) => {
            let e = ApiError::from(e);
            record(&state.engine, &who, &ip, "file.convert", &target, Outcome::Failed, &e.1).await;
            Err(e)
        }
    }
}

/// RFC 5987 `attr-char`s stay as they are in `filename*`; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
}

/// Streams the stored bytes (ServeFile: Content-Length, Range, If-Modified-Since). A GET of the
/// whole file counts as a download (also as one range from byte 0 to the end, as download
/// managers ask); other ranges and probes do not.
async fn content(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let download = state.engine.files().download(&id).await?;
    let counts = req.method() == Method::GET && whole_file(req.headers().get(header::RANGE), download.file.size_bytes);
    let mime = download.file.kind.mime().parse().unwrap_or(mime_guess_fallback());
    let response = ServeFile::new_with_mime(&download.path, &mime).oneshot(req).await.map_err(|e| {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("could not read '{}': {e}", download.file.name))
    })?;
    let (mut parts, body) = response.into_parts();
    if counts && (parts.status == StatusCode::OK || parts.status == StatusCode::PARTIAL_CONTENT) {
        state.engine.files().record_download(&download.file, &who.username).await?;
    }
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&download.file.name)) {
        parts.headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

fn mime_guess_fallback() -> mime::Mime {
    mime::APPLICATION_OCTET_STREAM
}

/// No Range header, or one range from byte 0 to the end of the file.
fn whole_file(range: Option<&HeaderValue>, size: u64) -> bool {
    let Some(range) = range else { return true };
    let Some(spec) = range.to_str().ok().and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return false;
    };
    match spec.trim().split_once('-') {
        Some(("0", "")) => true,
        Some(("0", last)) => last.trim().parse::<u64>().is_ok_and(|last| last.saturating_add(1) >= size),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_has_an_ascii_fallback_and_the_utf8_name() {
        assert_eq!(content_disposition("okrs.csv"), "attachment; filename=\"okrs.csv\"; filename*=UTF-8''okrs.csv");
        assert_eq!(
            content_disposition("Zielvereinbarung Ü \"Q1\".csv"),
            "attachment; filename=\"Zielvereinbarung _ _Q1_.csv\"; filename*=UTF-8''Zielvereinbarung%20%C3%9C%20%22Q1%22.csv"
        );
    }

    #[test]
    fn only_whole_file_downloads_count() {
        let range = |r: &'static str| Some(HeaderValue::from_static(r));
        assert!(whole_file(None, 100));
        assert!(whole_file(range("bytes=0-").as_ref(), 100));
        assert!(whole_file(range("bytes=0-99").as_ref(), 100));
        assert!(!whole_file(range("bytes=0-0").as_ref(), 100), "a probe");
        assert!(!whole_file(range("bytes=100-").as_ref(), 200));
        assert!(!whole_file(range("bytes=0-9, 20-29").as_ref(), 100), "several ranges");
    }
}
