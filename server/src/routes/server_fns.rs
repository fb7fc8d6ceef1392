//! Status codes for server-function calls that fail before our code runs. server_fn answers
//! every error with 500, including arguments that do not deserialize; MLflow-style clients and
//! people alike need a 4xx for their own mistakes, so this layer maps those to 400 (bad
//! arguments) and 405 (wrong method), keeping the message.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::StatusCode;

/// Server-function error bodies are `Kind|message`; these kinds are the caller's fault.
fn caller_error_status(body: &[u8]) -> Option<StatusCode> {
    let kind = body.split(|b| *b == b'|').next()?;
    match kind {
        b"Args" | b"MissingArg" | b"Deserialization" => Some(StatusCode::BAD_REQUEST),
        b"UnsupportedRequestMethod" => Some(StatusCode::METHOD_NOT_ALLOWED),
        _ => None,
    }
}

/// Error bodies are short; anything longer than this is passed through untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Server functions live under this prefix (Leptos's default).
const PREFIX: &str = "/api/";

pub async fn caller_errors_are_4xx(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::from_parts(parts, Body::empty()),
    };
    if let Some(status) = caller_error_status(&bytes) {
        parts.status = status;
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_argument_and_method_errors_are_the_callers() {
        assert_eq!(caller_error_status(b"Args|unknown variant"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(caller_error_status(b"MissingArg|source"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(caller_error_status(b"UnsupportedRequestMethod|GET"), Some(StatusCode::METHOD_NOT_ALLOWED));
        assert_eq!(caller_error_status(b"ServerError|database down"), None);
        assert_eq!(caller_error_status(b""), None);
    }
}
