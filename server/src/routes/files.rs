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
use axum::{Json, Router};
use okrflow_engine::files::{ColumnWindow, Conversion, FileQuery};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

pub use app::errors::ApiError;

use super::Caller;
use crate::state::AppState;

use app::api::files::{CONTENT, CONVERT, DETAIL, LIST, REPROCESS};

/// The routes on the paths `app::api` declares (the access policy and the OpenAPI document
/// read the same declarations).
pub fn routes() -> Router<AppState> {
    Router::new()
        // The body limit is the engine's, enforced per file while streaming.
        .route(LIST.path, get(list).post(upload).layer(DefaultBodyLimit::disable()))
        .route(DETAIL.path, get(detail).delete(remove))
        .route(CONTENT.path, get(content))
        .route(REPROCESS.path, post(reprocess))
        .route(CONVERT.path, post(convert))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message)
}

/// The query string, or a 400 saying what is wrong with it.
fn query<T>(params: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(p)| p).map_err(|e| bad_request(format!("the query string is not valid: {}", e.body_text())))
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

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let descending = match p.order.as_deref() {
        None | Some("") => None,
        Some("desc") => Some(true),
        Some("asc") => Some(false),
        Some(other) => return Err(bad_request(format!("order '{other}' is neither asc nor desc"))),
    };
    let q = FileQuery::parse(p.name.as_deref(), p.kind.as_deref(), p.sort.as_deref(), descending, p.page, p.per_page)
        .map_err(bad_request)?;
    Ok(Json(state.engine.files().list(&caller.0, &q).await?).into_response())
}

/// `multipart/form-data` with one or more file parts. Each is streamed to disk; if any is
/// refused, or the form breaks off, the ones stored before it in the same request are removed
/// too, so a request stores all its files or none.
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut batch = state.engine.files().uploads(&caller.0)?;
    let mut form = match form {
        Ok(form) => form,
        Err(e) => {
            let e =
                bad_request(format!("send the files as multipart/form-data (one part per file): {}", e.body_text()));
            batch.abort(&e.message).await;
            return Err(e);
        }
    };
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                let e = bad_request(format!("the form is malformed: {e}"));
                batch.abort(&e.message).await;
                return Err(e);
            }
        };
        // Plain form fields carry nothing we need.
        if let Some(raw_name) = field.file_name().map(str::to_owned) {
            batch.add(&raw_name, field).await?;
        }
    }
    Ok((StatusCode::CREATED, Json(batch.finish().await?)).into_response())
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
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<DetailParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let defaults = ColumnWindow::default();
    let window =
        ColumnWindow::new(p.columns_offset.unwrap_or(defaults.offset), p.columns_limit.unwrap_or(defaults.limit))
            .map_err(bad_request)?;
    Ok(Json(state.engine.files().detail(&caller.0, &id, window).await?).into_response())
}

async fn remove(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(Json(state.engine.files().delete(&caller.0, &id).await?).into_response())
}

async fn reprocess(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let file = state.engine.files().reprocess(&caller.0, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(file)).into_response())
}

#[derive(Deserialize)]
struct ConvertParams {
    to: Option<String>,
    sheet: Option<String>,
}

async fn convert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<ConvertParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let to = p.to.ok_or_else(|| bad_request("say what to convert to: ?to=parquet or ?to=clean_csv"))?;
    let to = Conversion::parse(&to).map_err(bad_request)?;
    let file = state.engine.files().convert(&caller.0, &id, to, p.sheet).await?;
    Ok((StatusCode::CREATED, Json(file)).into_response())
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

/// Streams the stored bytes from wherever the store keeps them: Content-Length, one byte range
/// (206, or 416 outside the file; several ranges or a malformed header get the whole file, as
/// RFC 9110 allows), an ETag from the SHA-256 (If-None-Match → 304, If-Range) and
/// Last-Modified. A GET of the whole file counts as a download (also as one range from byte 0
/// to the end, as download managers ask); other ranges and probes do not.
async fn content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let files = state.engine.files();
    let download = files.download(&caller.0, &id).await?;
    let file = &download.file;
    let (size, etag) = (file.size_bytes, format!("\"{}\"", file.sha256));
    let headers = req.headers();
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, file.kind.mime())
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "private, no-cache");
    if let Some(modified) = http_date(file.uploaded_at_ms) {
        response = response.header(header::LAST_MODIFIED, modified);
    }
    if let Ok(value) = HeaderValue::from_str(&content_disposition(&file.name)) {
        response = response.header(header::CONTENT_DISPOSITION, value);
    }
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::IF_NONE_MATCH).is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        return Ok(response.status(StatusCode::NOT_MODIFIED).body(Body::empty()).expect("valid headers"));
    }
    // If-Range with another validator: the file changed, so the whole of it.
    let range_applies = text(header::IF_RANGE).is_none_or(|tag| tag.trim() == etag);
    let range = match text(header::RANGE).filter(|_| range_applies) {
        None => None,
        Some(spec) => match http_range_header::parse_range_header(spec).map(|r| r.validate(size)) {
            Ok(Ok(ranges)) if ranges.len() == 1 => Some(ranges[0].clone()),
            Ok(Err(_)) => {
                return Ok(response
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::empty())
                    .expect("valid headers"));
            }
            _ => None,
        },
    };
    let whole = range.as_ref().is_none_or(|r| *r.start() == 0 && *r.end() + 1 >= size);
    let (status, length, asked) = match &range {
        Some(r) => {
            response = response.header(header::CONTENT_RANGE, format!("bytes {}-{}/{size}", r.start(), r.end()));
            (StatusCode::PARTIAL_CONTENT, r.end() - r.start() + 1, Some(*r.start()..*r.end() + 1))
        }
        None => (StatusCode::OK, size, None),
    };
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        let body = Body::from_stream(download.open(asked).await?);
        if whole {
            files.record_download(&caller.0, file).await?;
        }
        body
    };
    Ok(response.status(status).header(header::CONTENT_LENGTH, length).body(body).expect("valid headers"))
}

/// An HTTP date (RFC 9110 IMF-fixdate) from milliseconds since the epoch.
fn http_date(ms: i64) -> Option<String> {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)?;
    Some(at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
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
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777_000).as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    }
}
