//! MLflow's REST API over the engine's `Tracking`, so the MLflow client and the tools built on it
//! work against okrflow unchanged: `/api/2.0/mlflow/…` (and `/ajax-api/2.0/mlflow/…`, which
//! MLflow's own UI calls), `/api/3.0/mlflow/server-info`, `/health` and `/version`. MLflow's
//! conventions: GET requests carry their message as query parameters (repeated keys for lists),
//! the others as JSON; `run_uuid` is another name of `run_id`; numbers may come as strings;
//! unset fields are left out of answers; errors are `{"error_code", "message"}` with MLflow's
//! status for the code, and a route okrflow does not serve answers 404 `ENDPOINT_NOT_FOUND`.
//! Each handler reads its arguments and calls one engine method.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodFilter, MethodRouter};
use axum::Router;
use okrflow_engine::accounts::Role;
use okrflow_engine::error::{ErrorKind, Failure};
use okrflow_engine::tracking::{
    double, DatasetInput, ExperimentQuery, Metric, ModelInput, ModelOutput, NewLoggedModel, NewModelVersion, NewRun,
    RunQuery, RunStatus, Tag, TrackingError, ViewType,
};
use okrflow_engine::Actor;
use serde_json::{json, Map, Value};

use app::access::Access;

use super::Caller;
use crate::state::AppState;

/// The prefixes MLflow serves its API under; both answer alike.
pub const PREFIXES: [&str; 2] = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"];

/// The artifact proxy's prefixes (`mlflow-artifacts:/` URIs resolve under them).
pub const ARTIFACT_PREFIXES: [&str; 2] = ["/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts"];

/// Paths that answer in MLflow's error format (the access layer's refusals included).
pub fn is_mlflow_path(path: &str) -> bool {
    ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow", "/ajax-api/3.0/mlflow"].iter().any(|p| {
        path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('-'))
    }) || path == "/health"
        || path == "/version"
}

/// The largest JSON body okrflow reads: a full log-batch of long values fits many times over.
const MAX_BODY: usize = 16 << 20;

/// Every operation okrflow serves, with its method, its path under the prefixes and the role
/// it needs (viewers read, editors write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    CreateExperiment,
    GetExperiment,
    GetExperimentByName,
    SearchExperiments,
    UpdateExperiment,
    DeleteExperiment,
    RestoreExperiment,
    SetExperimentTag,
    DeleteExperimentTag,
    CreateRun,
    GetRun,
    UpdateRun,
    DeleteRun,
    RestoreRun,
    SearchRuns,
    LogMetric,
    LogParam,
    LogBatch,
    SetTag,
    DeleteTag,
    GetHistory,
    GetHistoryBulkInterval,
    LogInputs,
    LogOutputs,
    CreateLoggedModel,
    GetLoggedModel,
    FinalizeLoggedModel,
    DeleteLoggedModel,
    SearchLoggedModels,
    SetLoggedModelTags,
    DeleteLoggedModelTag,
    LogLoggedModelParams,
    CreateRegisteredModel,
    GetRegisteredModel,
    RenameRegisteredModel,
    UpdateRegisteredModel,
    DeleteRegisteredModel,
    SearchRegisteredModels,
    GetLatestVersions,
    SetRegisteredModelTag,
    DeleteRegisteredModelTag,
    SetAlias,
    DeleteAlias,
    GetByAlias,
    CreateModelVersion,
    GetModelVersion,
    UpdateModelVersion,
    DeleteModelVersion,
    TransitionStage,
    SearchModelVersions,
    GetDownloadUri,
    SetModelVersionTag,
    DeleteModelVersionTag,
}

const ENDPOINTS: &[(MethodFilter, &str, Role, Op)] = {
    use MethodFilter as M;
    use Op::*;
    use Role::{Editor as E, Viewer as V};
    &[
        (M::POST, "/experiments/create", E, CreateExperiment),
        (M::GET, "/experiments/get", V, GetExperiment),
        (M::GET, "/experiments/get-by-name", V, GetExperimentByName),
        (M::POST, "/experiments/search", V, SearchExperiments),
        (M::GET, "/experiments/search", V, SearchExperiments),
        (M::POST, "/experiments/update", E, UpdateExperiment),
        (M::POST, "/experiments/delete", E, DeleteExperiment),
        (M::POST, "/experiments/restore", E, RestoreExperiment),
        (M::POST, "/experiments/set-experiment-tag", E, SetExperimentTag),
        (M::POST, "/experiments/delete-experiment-tag", E, DeleteExperimentTag),
        (M::POST, "/runs/create", E, CreateRun),
        (M::GET, "/runs/get", V, GetRun),
        (M::POST, "/runs/update", E, UpdateRun),
        (M::POST, "/runs/delete", E, DeleteRun),
        (M::POST, "/runs/restore", E, RestoreRun),
        (M::POST, "/runs/search", V, SearchRuns),
        (M::GET, "/runs/search", V, SearchRuns),
        (M::POST, "/runs/log-metric", E, LogMetric),
        (M::POST, "/runs/log-parameter", E, LogParam),
        (M::POST, "/runs/log-batch", E, LogBatch),
        (M::POST, "/runs/set-tag", E, SetTag),
        (M::POST, "/runs/delete-tag", E, DeleteTag),
        (M::GET, "/metrics/get-history", V, GetHistory),
        (M::GET, "/metrics/get-history-bulk-interval", V, GetHistoryBulkInterval),
        (M::POST, "/runs/log-inputs", E, LogInputs),
        (M::POST, "/runs/outputs", E, LogOutputs),
        (M::POST, "/logged-models", E, CreateLoggedModel),
        (M::POST, "/logged-models/search", V, SearchLoggedModels),
        (M::GET, "/logged-models/{model_id}", V, GetLoggedModel),
        (M::PATCH, "/logged-models/{model_id}", E, FinalizeLoggedModel),
        (M::DELETE, "/logged-models/{model_id}", E, DeleteLoggedModel),
        (M::PATCH, "/logged-models/{model_id}/tags", E, SetLoggedModelTags),
        (M::DELETE, "/logged-models/{model_id}/tags/{tag_key}", E, DeleteLoggedModelTag),
        (M::POST, "/logged-models/{model_id}/params", E, LogLoggedModelParams),
        (M::POST, "/registered-models/create", E, CreateRegisteredModel),
        (M::GET, "/registered-models/get", V, GetRegisteredModel),
        (M::POST, "/registered-models/rename", E, RenameRegisteredModel),
        (M::PATCH, "/registered-models/update", E, UpdateRegisteredModel),
        (M::DELETE, "/registered-models/delete", E, DeleteRegisteredModel),
        (M::GET, "/registered-models/search", V, SearchRegisteredModels),
        (M::POST, "/registered-models/get-latest-versions", V, GetLatestVersions),
        (M::GET, "/registered-models/get-latest-versions", V, GetLatestVersions),
        (M::POST, "/registered-models/set-tag", E, SetRegisteredModelTag),
        (M::DELETE, "/registered-models/delete-tag", E, DeleteRegisteredModelTag),
        (M::POST, "/registered-models/alias", E, SetAlias),
        (M::DELETE, "/registered-models/alias", E, DeleteAlias),
        (M::GET, "/registered-models/alias", V, GetByAlias),
        (M::POST, "/model-versions/create", E, CreateModelVersion),
        (M::GET, "/model-versions/get", V, GetModelVersion),
        (M::PATCH, "/model-versions/update", E, UpdateModelVersion),
        (M::DELETE, "/model-versions/delete", E, DeleteModelVersion),
        (M::POST, "/model-versions/transition-stage", E, TransitionStage),
        (M::GET, "/model-versions/search", V, SearchModelVersions),
        (M::GET, "/model-versions/get-download-uri", V, GetDownloadUri),
        (M::POST, "/model-versions/set-tag", E, SetModelVersionTag),
        (M::DELETE, "/model-versions/delete-tag", E, DeleteModelVersionTag),
    ]
};

fn method_name(m: MethodFilter) -> &'static str {
    if m == MethodFilter::GET {
        "GET"
    } else if m == MethodFilter::POST {
        "POST"
    } else if m == MethodFilter::PUT {
        "PUT"
    } else if m == MethodFilter::PATCH {
        "PATCH"
    } else {
        "DELETE"
    }
}

/// The access rules of these routes ("METHOD path" → role), for the access layer. Anything else
/// under the prefixes is the not-found route, open to viewers; `/health` and `/version` are open
/// to anyone, as on MLflow's server.
pub fn rules() -> Vec<(String, Access)> {
    let mut rules = Vec::new();
    for prefix in PREFIXES {
        for (method, path, role, _) in ENDPOINTS {
            rules.push((format!("{} {prefix}{path}", method_name(*method)), Access::AtLeast(*role)));
        }
    }
    for path in ["/health", "/version"] {
        rules.push((format!("GET {path}"), Access::Anonymous));
    }
    rules.push(("GET /api/3.0/mlflow/server-info".into(), Access::AtLeast(Role::Viewer)));
    for prefix in ARTIFACT_PREFIXES {
        rules.push((format!("GET {prefix}/artifacts"), Access::AtLeast(Role::Viewer)));
        let path = format!("{prefix}/artifacts/{{*path}}");
        rules.push((format!("GET {path}"), Access::AtLeast(Role::Viewer)));
        rules.push((format!("PUT {path}"), Access::AtLeast(Role::Editor)));
        rules.push((format!("DELETE {path}"), Access::AtLeast(Role::Editor)));
    }
    for prefix in PREFIXES {
        rules.push((format!("GET {prefix}/artifacts/list"), Access::AtLeast(Role::Viewer)));
    }
    for wildcard in not_found_routes() {
        rules.push((wildcard, Access::AtLeast(Role::Viewer)));
    }
    rules
}

fn not_found_routes() -> Vec<String> {
    [
        "/api/2.0/mlflow",
        "/ajax-api/2.0/mlflow",
        "/api/3.0/mlflow",
        "/ajax-api/3.0/mlflow",
        "/api/2.0/mlflow-artifacts",
        "/ajax-api/2.0/mlflow-artifacts",
    ]
    .iter()
    .map(|p| format!("{p}/{{*rest}}"))
    .collect()
}

pub fn routes() -> Router<AppState> {
    let mut by_path: std::collections::BTreeMap<String, MethodRouter<AppState>> = Default::default();
    for prefix in PREFIXES {
        for (method, path, _, op) in ENDPOINTS {
            let op = *op;
            let handler = move |State(state): State<AppState>, Caller(actor): Caller, req: Request| async move {
                answer(serve(op, &state, &actor, req).await)
            };
            let full = format!("{prefix}{path}");
            let route = by_path.remove(&full).unwrap_or_default();
            by_path.insert(full, route.on(*method, handler));
        }
    }
    let mut router = Router::new();
    for (path, route) in by_path {
        router = router.route(&path, route);
    }
    for wildcard in not_found_routes() {
        router = router.route(&wildcard, any(not_found));
    }
    for prefix in ARTIFACT_PREFIXES {
        router = router.route(&format!("{prefix}/artifacts"), get(list_artifacts)).route(
            &format!("{prefix}/artifacts/{{*path}}"),
            get(download_artifact).put(upload_artifact).delete(delete_artifact),
        );
    }
    for prefix in PREFIXES {
        router = router.route(&format!("{prefix}/artifacts/list"), get(list_run_artifacts));
    }
    router
        .route("/health", get(|| async { "OK" }))
        .route("/version", get(|| async { env!("CARGO_PKG_VERSION") }))
        .route("/api/3.0/mlflow/server-info", get(server_info))
}

async fn server_info() -> Response {
    answer(Ok(json!({
        "store_type": "SqlStore",
        "workspaces_enabled": false,
        "trace_archival_enabled": false,
        "multipart_uploads_enabled": false,
        "multipart_downloads_enabled": false,
        "presigned_upload_run_id_supported": false,
        "presigned_upload_model_id_supported": false,
        "features_enabled": {"gateway": false},
    })))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    MlflowError::new(
        StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        format!("okrflow does not serve {method} {}", uri.path()),
    )
    .into_response()
}

/// An error as MLflow's server sends it; its client reads `error_code`.
#[derive(Debug)]
pub struct MlflowError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl MlflowError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> MlflowError {
        MlflowError { status, code, message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> MlflowError {
        MlflowError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    /// MLflow's code for one of okrflow's error kinds (the access layer's refusals).
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> MlflowError {
        let code = match kind {
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::Forbidden => "PERMISSION_DENIED",
            ErrorKind::NotFound => "RESOURCE_DOES_NOT_EXIST",
            // The client tries the next of several endpoints on this code.
            ErrorKind::MethodNotAllowed => "ENDPOINT_NOT_FOUND",
            ErrorKind::RateLimited => "REQUEST_LIMIT_EXCEEDED",
            ErrorKind::Unavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorKind::Internal | ErrorKind::InsufficientStorage => "INTERNAL_ERROR",
            _ => "INVALID_PARAMETER_VALUE",
        };
        MlflowError::new(status_of(kind), code, message)
    }
}

fn status_of(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<TrackingError> for MlflowError {
    fn from(e: TrackingError) -> MlflowError {
        let status = status_of(e.kind());
        if status.is_server_error() {
            tracing::error!(error = %e, "an MLflow request failed");
        }
        MlflowError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code, "message": self.message});
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// An answer: the JSON object without its unset fields (nulls and empty lists), as MLflow's
/// proto2 messages are written.
fn answer(result: Result<Value, MlflowError>) -> Response {
    match result {
        Ok(mut value) => {
            strip_nulls(&mut value);
            ([(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !(v.is_null() || v.as_array().is_some_and(Vec::is_empty)));
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Serialising the engine's plain types cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A request's arguments: the query string of a GET (a repeated key is a list), the JSON object
/// of anything else.
struct Args(Map<String, Value>);

/// The query string as arguments: a repeated key is a list.
fn query_args(uri: &axum::http::Uri) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let value = Value::String(value.into_owned());
        match map.get_mut(key.as_ref()) {
            Some(Value::Array(items)) => items.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                map.insert(key.into_owned(), value);
            }
        }
    }
    map
}

/// The decoded path segment after `marker` (`/logged-models/` → the model id).
fn segment(path: &str, marker: &str, index: usize) -> Result<String, MlflowError> {
    let rest = path.split_once(marker).map(|(_, r)| r).unwrap_or_default();
    let raw = rest.split('/').nth(index).unwrap_or_default();
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| MlflowError::invalid("a path segment is not valid UTF-8"))
}

impl Args {
    async fn of(req: Request) -> Result<Args, MlflowError> {
        let query = query_args(req.uri());
        if req.method() == Method::GET {
            return Ok(Args(query));
        }
        let body: Bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| {
            MlflowError::invalid(format!("the request body is over {} MiB or was cut off", MAX_BODY >> 20))
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Args(Map::new()));
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut map)) => {
                // Query arguments too (some clients send DELETE's that way); the body wins.
                for (k, v) in query {
                    map.entry(k).or_insert(v);
                }
                Ok(Args(map))
            }
            // MLflow reads a body it cannot parse as no arguments, so its clients see
            // INVALID_PARAMETER_VALUE; the message says what was wrong.
            Ok(_) => Err(MlflowError::invalid("the request body must be a JSON object")),
            Err(e) => Err(MlflowError::invalid(format!("the request body is not valid JSON: {e}"))),
        }
    }

    /// A string field (MLflow's proto refuses a number where a string belongs).
    fn text(&self, name: &str) -> Result<Option<String>, MlflowError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(MlflowError::invalid(format!(
                "Invalid value {v} for parameter '{name}' supplied: it must be a string"
            ))),
        }
    }

    /// An enum field: its name, or its number.
    fn enumerated(&self, name: &str) -> Result<Option<String>, MlflowError> {
        match self.0.get(name) {
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            _ => self.text(name),
        }
    }

    fn required(&self, name: &str) -> Result<String, MlflowError> {
        self.text(name)?.ok_or_else(|| {
            MlflowError::invalid(format!("Missing value for required parameter '{name}'. See the API docs for more information about request parameters."))
        })
    }

    /// An integer field, as a JSON number or a string of digits (int64s come both ways).
    fn int(&self, name: &str) -> Result<Option<i64>, MlflowError> {
        let bad = || MlflowError::invalid(format!("'{name}' must be a whole number"));
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(bad),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
            Some(_) => Err(bad()),
        }
    }

    /// A list of texts: a JSON array, a repeated query key, or one value.
    fn texts(&self, name: &str) -> Result<Vec<String>, MlflowError> {
        let item = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(MlflowError::invalid(format!("'{name}' must be a list of strings"))),
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items.iter().map(item).collect(),
            Some(v) => Ok(vec![item(v)?]),
        }
    }

    /// A list of `{key, value}` objects.
    fn pairs(&self, name: &str) -> Result<Vec<Tag>, MlflowError> {
        let Some(v) = self.0.get(name).filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
        let items = v.as_array().ok_or_else(|| MlflowError::invalid(format!("'{name}' must be a list")))?;
        items
            .iter()
            .map(|item| {
                let key = item.get("key").and_then(Value::as_str);
                let value = match item.get("value") {
                    None | Some(Value::Null) => Some(String::new()),
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                };
                match (key, value) {
                    (Some(key), Some(value)) => Ok(Tag { key: key.to_string(), value }),
                    _ => Err(MlflowError::invalid(format!("each of '{name}' needs a string key and value"))),
                }
            })
            .collect()
    }

    /// A list of objects of MLflow's shape (datasets, models), read with serde.
    fn list_of<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, MlflowError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| MlflowError::invalid(format!("'{name}' is not a list of the expected objects: {e}"))),
        }
    }

    /// The run id under either of its names; both given must agree.
    fn run_id(&self) -> Result<String, MlflowError> {
        match (self.text("run_id")?, self.text("run_uuid")?) {
            (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() && a != b => Err(MlflowError::invalid(format!(
                "run_id '{a}' and run_uuid '{b}' name different runs; send one, or the same in both"
            ))),
            (Some(a), _) if !a.is_empty() => Ok(a),
            (_, Some(b)) if !b.is_empty() => Ok(b),
            _ => Err(MlflowError::invalid("Missing value for required parameter 'run_id'.")),
        }
    }

    fn view_type(&self, name: &str) -> Result<ViewType, MlflowError> {
        match self.enumerated(name)? {
            None => Ok(ViewType::ActiveOnly),
            Some(v) => ViewType::parse(&v).ok_or_else(|| {
                MlflowError::invalid(format!("'{name}' is ACTIVE_ONLY, DELETED_ONLY or ALL; got '{v}'"))
            }),
        }
    }
}

/// A metric as log-metric and log-batch send it.
fn metric_of(v: Value) -> Result<Metric, MlflowError> {
    let Value::Object(obj) = v else { return Err(MlflowError::invalid("each metric must be an object")) };
    metric_from(&Args(obj))
}

fn metric_from(args: &Args) -> Result<Metric, MlflowError> {
    let key = args.required("key")?;
    let value = match args.0.get("value") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => double::parse(s),
        _ => None,
    }
    .ok_or_else(|| {
        MlflowError::invalid(format!(
            "metric '{key}' needs a numeric value (a number, \"NaN\", \"Infinity\" or \"-Infinity\")"
        ))
    })?;
    let timestamp = args
        .int("timestamp")?
        .ok_or_else(|| MlflowError::invalid(format!("metric '{key}' needs a timestamp (epoch ms)")))?;
    Ok(Metric {
        key,
        value,
        timestamp,
        step: args.int("step")?.unwrap_or(0),
        run_id: None,
        model_id: args.text("model_id")?.filter(|m| !m.is_empty()),
        dataset_name: args.text("dataset_name")?.filter(|m| !m.is_empty()),
        dataset_digest: args.text("dataset_digest")?.filter(|m| !m.is_empty()),
    })
}

fn id_of(args: &Args, name: &str) -> Result<String, MlflowError> {
    args.required(name)
}

async fn serve(op: Op, state: &AppState, actor: &Actor, req: Request) -> Result<Value, MlflowError> {
    let path = req.uri().path().to_string();
    let model_id = || segment(&path, "/logged-models/", 0);
    if op == Op::LogBatch {
        // As MLflow's server: the body is JSON or the request is refused.
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.is_empty() && !content_type.starts_with("application/json") {
            return Err(MlflowError::invalid("Bad Request. Content-Type must be one of ['application/json']."));
        }
    }
    let mut args = Args::of(req).await?;
    let t = state.engine.tracking();
    let done = || Ok(json!({}));
    match op {
        Op::CreateExperiment => {
            let name = args.required("name")?;
            let location = args.text("artifact_location")?;
            let id = t.create_experiment(actor, &name, location.as_deref(), &args.pairs("tags")?).await?;
            Ok(json!({"experiment_id": id}))
        }
        Op::GetExperiment => {
            let e = t.experiment(actor, &id_of(&args, "experiment_id")?).await?;
            Ok(json!({"experiment": to_json(&e)}))
        }
        Op::GetExperimentByName => {
            let e = t.experiment_by_name(actor, &args.required("experiment_name")?).await?;
            Ok(json!({"experiment": to_json(&e)}))
        }
        Op::SearchExperiments => {
            let q = ExperimentQuery {
                view_type: args.view_type("view_type")?,
                max_results: args.int("max_results")?,
                page_token: args.text("page_token")?,
                filter: args.text("filter")?,
                order_by: args.texts("order_by")?,
            };
            let page = t.search_experiments(actor, &q).await?;
            Ok(json!({"experiments": to_json(&page.experiments), "next_page_token": page.next_page_token}))
        }
        Op::UpdateExperiment => {
            t.rename_experiment(actor, &id_of(&args, "experiment_id")?, &args.required("new_name")?).await?;
            done()
        }
        Op::DeleteExperiment => {
            t.delete_experiment(actor, &id_of(&args, "experiment_id")?).await?;
            done()
        }
        Op::RestoreExperiment => {
            t.restore_experiment(actor, &id_of(&args, "experiment_id")?).await?;
            done()
        }
        Op::SetExperimentTag => {
            let tag = Tag { key: args.required("key")?, value: args.text("value")?.unwrap_or_default() };
            t.set_experiment_tag(actor, &id_of(&args, "experiment_id")?, &tag).await?;
            done()
        }
        Op::DeleteExperimentTag => {
            t.delete_experiment_tag(actor, &id_of(&args, "experiment_id")?, &args.required("key")?).await?;
            done()
        }
        Op::CreateRun => {
            let new = NewRun {
                experiment_id: args.text("experiment_id")?.filter(|e| !e.is_empty()).unwrap_or_else(|| "0".into()),
                user_id: args.text("user_id")?,
                run_name: args.text("run_name")?,
                start_time: args.int("start_time")?,
                tags: args.pairs("tags")?,
            };
            let run = t.create_run(actor, &new).await?;
            Ok(json!({"run": to_json(&run)}))
        }
        Op::GetRun => {
            let run = t.run(actor, &args.run_id()?).await?;
            Ok(json!({"run": to_json(&run)}))
        }
        Op::UpdateRun => {
            let status = match args.enumerated("status")? {
                None => None,
                Some(s) => Some(RunStatus::parse(&s).ok_or_else(|| {
                    MlflowError::invalid(format!("status is RUNNING, SCHEDULED, FINISHED, FAILED or KILLED; got '{s}'"))
                })?),
            };
            let name = args.text("run_name")?;
            let info = t.update_run(actor, &args.run_id()?, status, args.int("end_time")?, name.as_deref()).await?;
            Ok(json!({"run_info": to_json(&info)}))
        }
        Op::DeleteRun => {
            t.delete_run(actor, &args.run_id()?).await?;
            done()
        }
        Op::RestoreRun => {
            t.restore_run(actor, &args.run_id()?).await?;
            done()
        }
        Op::SearchRuns => {
            let q = RunQuery {
                experiment_ids: args.texts("experiment_ids")?,
                filter: args.text("filter")?,
                view_type: args.view_type("run_view_type")?,
                max_results: args.int("max_results")?,
                order_by: args.texts("order_by")?,
                page_token: args.text("page_token")?,
            };
            let page = t.search_runs(actor, &q).await?;
            Ok(json!({"runs": to_json(&page.runs), "next_page_token": page.next_page_token}))
        }
        Op::LogMetric => {
            t.log_metric(actor, &args.run_id()?, &metric_from(&args)?).await?;
            done()
        }
        Op::LogParam => {
            let param = Tag { key: args.required("key")?, value: args.text("value")?.unwrap_or_default() };
            t.log_param(actor, &args.run_id()?, &param).await?;
            done()
        }
        Op::LogBatch => {
            // Taken out of the arguments, so no metric's fields are copied on the way.
            let metrics = match args.0.remove("metrics") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items.into_iter().map(metric_of).collect::<Result<_, _>>()?,
                Some(_) => return Err(MlflowError::invalid("'metrics' must be a list")),
            };
            t.log_batch(actor, &args.run_id()?, &metrics, &args.pairs("params")?, &args.pairs("tags")?).await?;
            done()
        }
        Op::SetTag => {
            let tag = Tag { key: args.required("key")?, value: args.text("value")?.unwrap_or_default() };
            t.set_run_tag(actor, &args.run_id()?, &tag).await?;
            done()
        }
        Op::DeleteTag => {
            t.delete_run_tag(actor, &args.run_id()?, &args.required("key")?).await?;
            done()
        }
        Op::GetHistory => {
            let page = t
                .metric_history(
                    actor,
                    &args.run_id()?,
                    &args.required("metric_key")?,
                    args.int("max_results")?,
                    args.text("page_token")?.as_deref(),
                )
                .await?;
            Ok(json!({"metrics": to_json(&page.metrics), "next_page_token": page.next_page_token}))
        }
        Op::GetHistoryBulkInterval => {
            let steps = (args.int("start_step")?, args.int("end_step")?);
            let points = t
                .metric_history_sampled(
                    actor,
                    &args.texts("run_ids")?,
                    &args.required("metric_key")?,
                    steps,
                    args.int("max_results")?,
                )
                .await?;
            Ok(json!({"metrics": to_json(&points)}))
        }
        Op::LogInputs => {
            let datasets: Vec<DatasetInput> = args.list_of("datasets")?;
            let models: Vec<ModelInput> = args.list_of("models")?;
            t.log_inputs(actor, &args.run_id()?, &datasets, &models).await?;
            done()
        }
        Op::LogOutputs => {
            let models: Vec<ModelOutput> = args.list_of("models")?;
            t.log_outputs(actor, &args.run_id()?, &models).await?;
            done()
        }
        Op::CreateLoggedModel => {
            let new = NewLoggedModel {
                experiment_id: args.required("experiment_id")?,
                name: args.text("name")?,
                model_type: args.text("model_type")?,
                source_run_id: args.text("source_run_id")?,
                params: args.pairs("params")?,
                tags: args.pairs("tags")?,
            };
            Ok(json!({"model": to_json(&t.create_logged_model(actor, &new).await?)}))
        }
        Op::GetLoggedModel => {
            let allow_deleted = args.text("allow_deleted")?.is_some_and(|v| v == "true");
            Ok(json!({"model": to_json(&t.logged_model(actor, &model_id()?, allow_deleted).await?)}))
        }
        Op::FinalizeLoggedModel => {
            let status = args.enumerated("status")?.ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'status'."))?;
            let status = match status.as_str() {
                "1" => "LOGGED_MODEL_PENDING".to_string(),
                "2" => "LOGGED_MODEL_READY".to_string(),
                "3" => "LOGGED_MODEL_UPLOAD_FAILED".to_string(),
                _ => status,
            };
            Ok(json!({"model": to_json(&t.finalize_logged_model(actor, &model_id()?, &status).await?)}))
        }
        Op::DeleteLoggedModel => {
            t.delete_logged_model(actor, &model_id()?).await?;
            done()
        }
        Op::SetLoggedModelTags => {
            t.set_logged_model_tags(actor, &model_id()?, &args.pairs("tags")?).await?;
            done()
        }
        Op::DeleteLoggedModelTag => {
            t.delete_logged_model_tag(actor, &model_id()?, &segment(&path, "/logged-models/", 2)?).await?;
            done()
        }
        Op::LogLoggedModelParams => {
            t.log_logged_model_params(actor, &model_id()?, &args.pairs("params")?).await?;
            done()
        }
        Op::SearchLoggedModels => {
            let order: Vec<(String, bool)> = match args.0.get("order_by") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|o| {
                        let field = o.get("field_name").and_then(Value::as_str).ok_or_else(|| {
                            MlflowError::invalid("each order_by entry needs a field_name")
                        })?;
                        Ok((field.to_string(), o.get("ascending").and_then(Value::as_bool).unwrap_or(true)))
                    })
                    .collect::<Result<_, MlflowError>>()?,
                _ => Vec::new(),
            };
            let page = t
                .search_logged_models(
                    actor,
                    &args.texts("experiment_ids")?,
                    args.text("filter")?.as_deref(),
                    args.int("max_results")?,
                    &order,
                    args.text("page_token")?.as_deref(),
                )
                .await?;
            Ok(json!({"models": to_json(&page.models), "next_page_token": page.next_page_token}))
        }
        Op::CreateRegisteredModel => {
            let m = t
                .create_registered_model(actor, &args.required("name")?, args.text("description")?.as_deref(), &args.pairs("tags")?)
                .await?;
            Ok(json!({"registered_model": to_json(&m)}))
        }
        Op::GetRegisteredModel => Ok(json!({"registered_model": to_json(&t.registered_model(actor, &args.required("name")?).await?)})),
        Op::RenameRegisteredModel => {
            let m = t.rename_registered_model(actor, &args.required("name")?, &args.required("new_name")?).await?;
            Ok(json!({"registered_model": to_json(&m)}))
        }
        Op::UpdateRegisteredModel => {
            let description = args.text("description")?.unwrap_or_default();
            let m = t.update_registered_model(actor, &args.required("name")?, &description).await?;
            Ok(json!({"registered_model": to_json(&m)}))
        }
        Op::DeleteRegisteredModel => {
            t.delete_registered_model(actor, &args.required("name")?).await?;
            done()
        }
        Op::SearchRegisteredModels => {
            let page = t
                .search_registered_models(
                    actor,
                    args.text("filter")?.as_deref(),
                    args.int("max_results")?,
                    &args.texts("order_by")?,
                    args.text("page_token")?.as_deref(),
                )
                .await?;
            Ok(json!({"registered_models": to_json(&page.registered_models), "next_page_token": page.next_page_token}))
        }
        Op::GetLatestVersions => {
            let versions = t.latest_versions(actor, &args.required("name")?, &args.texts("stages")?).await?;
            Ok(json!({"model_versions": to_json(&versions)}))
        }
        Op::SetRegisteredModelTag => {
            let tag = Tag { key: args.required("key")?, value: args.text("value")?.unwrap_or_default() };
            t.set_registered_model_tag(actor, &args.required("name")?, &tag).await?;
            done()
        }
        Op::DeleteRegisteredModelTag => {
            t.delete_registered_model_tag(actor, &args.required("name")?, &args.required("key")?).await?;
            done()
        }
        Op::SetAlias => {
            t.set_alias(actor, &args.required("name")?, &args.required("alias")?, &args.required("version")?).await?;
            done()
        }
        Op::DeleteAlias => {
            t.delete_alias(actor, &args.required("name")?, &args.required("alias")?).await?;
            done()
        }
        Op::GetByAlias => {
            let v = t.version_by_alias(actor, &args.required("name")?, &args.required("alias")?).await?;
            Ok(json!({"model_version": to_json(&v)}))
        }
        Op::CreateModelVersion => {
            let new = NewModelVersion {
                name: args.required("name")?,
                source: args.required("source")?,
                run_id: args.text("run_id")?,
                run_link: args.text("run_link")?,
                description: args.text("description")?,
                model_id: args.text("model_id")?,
                tags: args.pairs("tags")?,
            };
            Ok(json!({"model_version": to_json(&t.create_model_version(actor, &new).await?)}))
        }
        Op::GetModelVersion => {
            let v = t.model_version(actor, &args.required("name")?, &args.required("version")?).await?;
            Ok(json!({"model_version": to_json(&v)}))
        }
        Op::UpdateModelVersion => {
            let description = args.text("description")?.unwrap_or_default();
            let v = t.update_model_version(actor, &args.required("name")?, &args.required("version")?, &description).await?;
            Ok(json!({"model_version": to_json(&v)}))
        }
        Op::DeleteModelVersion => {
            t.delete_model_version(actor, &args.required("name")?, &args.required("version")?).await?;
            done()
        }
        Op::TransitionStage => Err(MlflowError::invalid(
            "model stages are retired (MLflow 2.9): set an alias instead, e.g. registered-models/alias with alias 'champion'",
        )),
        Op::SearchModelVersions => {
            let page = t
                .search_model_versions(
                    actor,
                    args.text("filter")?.as_deref(),
                    args.int("max_results")?,
                    &args.texts("order_by")?,
                    args.text("page_token")?.as_deref(),
                )
                .await?;
            Ok(json!({"model_versions": to_json(&page.model_versions), "next_page_token": page.next_page_token}))
        }
        Op::GetDownloadUri => {
            let uri = t.model_version_download_uri(actor, &args.required("name")?, &args.required("version")?).await?;
            Ok(json!({"artifact_uri": uri}))
        }
        Op::SetModelVersionTag => {
            let tag = Tag { key: args.required("key")?, value: args.text("value")?.unwrap_or_default() };
            t.set_model_version_tag(actor, &args.required("name")?, &args.required("version")?, &tag).await?;
            done()
        }
        Op::DeleteModelVersionTag => {
            t.delete_model_version_tag(actor, &args.required("name")?, &args.required("version")?, &args.required("key")?)
                .await?;
            done()
        }
    }
}

/// The artifact path of a proxy request: what follows `…/artifacts/` in the raw request path,
/// percent-decoded once.
fn artifact_path(uri: &axum::http::Uri) -> Result<String, MlflowError> {
    let raw = ARTIFACT_PREFIXES
        .iter()
        .find_map(|p| uri.path().strip_prefix(p)?.strip_prefix("/artifacts/"))
        .unwrap_or_default();
    // The engine checks this and every further decoding of it (`%252e%252e`).
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| MlflowError::invalid("the artifact path is not valid UTF-8"))
}

async fn upload_artifact(State(state): State<AppState>, Caller(actor): Caller, req: Request) -> Response {
    let path = match artifact_path(req.uri()) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let body = req.into_body().into_data_stream();
    answer(state.engine.tracking().put_artifact(&actor, &path, body).await.map(|_| json!({})).map_err(Into::into))
}

async fn download_artifact(State(state): State<AppState>, Caller(actor): Caller, uri: axum::http::Uri) -> Response {
    let result = async {
        let path = artifact_path(&uri)?;
        Ok::<_, MlflowError>(state.engine.tracking().artifact(&actor, &path).await?)
    }
    .await;
    match result {
        Ok(stream) => ([(header::CONTENT_TYPE, "application/octet-stream")], axum::body::Body::from_stream(stream))
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_artifact(State(state): State<AppState>, Caller(actor): Caller, uri: axum::http::Uri) -> Response {
    let result = async {
        let path = artifact_path(&uri)?;
        state.engine.tracking().delete_artifact(&actor, &path).await?;
        Ok(json!({}))
    }
    .await;
    answer(result)
}

/// `GET …/mlflow-artifacts/artifacts?path=<folder>`: the names directly in it.
async fn list_artifacts(State(state): State<AppState>, Caller(actor): Caller, req: Request) -> Response {
    let result = async {
        let args = Args::of(req).await?;
        let path = args.text("path")?.unwrap_or_default();
        let files = state.engine.tracking().list_artifacts(&actor, &path).await?;
        // An empty or missing folder is `{}`, as MLflow answers it (`answer` leaves out empty lists).
        Ok(json!({"files": to_json(&files)}))
    }
    .await;
    answer(result)
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id=…&path=…`: paths relative to the run's root.
async fn list_run_artifacts(State(state): State<AppState>, Caller(actor): Caller, req: Request) -> Response {
    let result = async {
        let args = Args::of(req).await?;
        let path = args.text("path")?;
        let (root, files) =
            state.engine.tracking().list_run_artifacts(&actor, &args.run_id()?, path.as_deref()).await?;
        Ok(if files.is_empty() {
            json!({"root_uri": root})
        } else {
            json!({"root_uri": root, "files": to_json(&files)})
        })
    }
    .await;
    answer(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_a_rule_under_both_prefixes() {
        let rules = rules();
        assert_eq!(rules.iter().filter(|(r, _)| r.contains("/ajax-api/2.0/mlflow/runs/log-batch")).count(), 1);
        assert!(rules.contains(&("POST /api/2.0/mlflow/runs/log-batch".into(), Access::AtLeast(Role::Editor))));
        assert!(rules.contains(&("GET /api/2.0/mlflow/runs/get".into(), Access::AtLeast(Role::Viewer))));
        assert!(is_mlflow_path("/api/2.0/mlflow/runs/get") && is_mlflow_path("/api/2.0/mlflow-artifacts/artifacts/x"));
        assert!(!is_mlflow_path("/api/2.0/mlflowx") && !is_mlflow_path("/api/v1/files"));
    }

    #[test]
    fn answers_leave_out_unset_fields() {
        let mut v = json!({"a": null, "b": [{"c": null, "d": 1, "e": []}], "f": {}});
        strip_nulls(&mut v);
        assert_eq!(v, json!({"b": [{"d": 1}], "f": {}}));
    }
}
