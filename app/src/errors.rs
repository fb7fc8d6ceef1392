//! The one mapping from an engine error to what a caller receives: the HTTP status of its kind,
//! the REST API's JSON body `{"error": message, "kind": "not_found", "status": 404}`, and the
//! server-function error with the same status. okrflow's own failures (5xx) are logged here.

use http::StatusCode;
use leptos::prelude::ServerFnError;
use okrflow_engine::{ErrorKind, Failure};

/// The REST API's error body.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the thing and the rule.
    pub error: String,
    pub kind: ErrorKind,
    /// The HTTP status, again.
    pub status: u16,
}

/// A refusal or failure on its way to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError { kind, message: message.into() }
    }

    /// The caller broke a rule (400).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Invalid, message)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The REST API's error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.message.clone(), kind: self.kind, status: self.kind.status() }
    }

    /// The same error for a server function: the response gets the kind's status.
    pub fn into_server_fn_error(self) -> ServerFnError {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(self.status());
        }
        ServerFnError::new(self.message)
    }
}

impl<E: Failure> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        let kind = e.kind();
        if kind.is_server_error() {
            tracing::error!(kind = kind.as_str(), "{e}");
        }
        ApiError::new(kind, e.to_string())
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

/// An engine error as a server function's error (`.map_err(failed)?`).
pub fn failed<E: Failure>(e: E) -> ServerFnError {
    ApiError::from(e).into_server_fn_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use okrflow_engine::Denied;

    #[test]
    fn an_engine_error_keeps_its_message_and_gets_its_kinds_status() {
        let e = ApiError::from(Denied::NotLoggedIn);
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body, serde_json::json!({ "error": "log in first", "kind": "unauthenticated", "status": 401 }));
        assert_eq!(ApiError::invalid("x").status(), StatusCode::BAD_REQUEST);
    }
}
