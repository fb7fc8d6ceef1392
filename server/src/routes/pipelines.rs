//! The Pipelines REST API under `/api/v1/pipelines`, for scripts: the pipelines, a trigger with
//! parameters, runs with their task instances, an attempt's log, cancel, clear, mark, pause and
//! resume. Each handler is an adapter over one `engine.pipelines()` action, which checks the
//! caller's role and audits the change.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use okrflow_engine::pipelines::{MarkAs, MarkRequest, PipelineList, RunList, TriggerRequest, Triggered};
use serde::Deserialize;

use super::Caller;
use crate::state::AppState;
use app::api::pipelines as api;
use app::errors::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(api::LIST.path, get(list))
        .route(api::GET.path, get(pipeline))
        .route(api::PAUSE.path, post(pause))
        .route(api::RESUME.path, post(resume))
        .route(api::RUNS.path, get(runs).post(trigger))
        .route(api::RUN_GET.path, get(run))
        .route(api::RUN_CANCEL.path, post(cancel_run))
        .route(api::TASK_CANCEL.path, post(cancel_task))
        .route(api::TASK_CLEAR.path, post(clear))
        .route(api::TASK_MARK.path, post(mark))
        .route(api::TASK_LOG.path, get(log))
}

fn query<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(p)| p).map_err(|e| ApiError::invalid(format!("the query string is not valid: {}", e.body_text())))
}

fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(p)| p).map_err(|e| ApiError::invalid(format!("the path is not valid: {}", e.body_text())))
}

fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(b)| b).map_err(|e| ApiError::invalid(format!("the body is not valid: {}", e.body_text())))
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let p = state.engine.pipelines();
    let list = PipelineList { pipelines: p.list(&caller.0).await?, problems: p.problems(&caller.0).await? };
    Ok(Json(list).into_response())
}

async fn pipeline(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path(at)?;
    Ok(Json(state.engine.pipelines().get(&caller.0, &id).await?).into_response())
}

async fn set_paused(state: &AppState, caller: &Caller, id: &str, paused: bool) -> Result<Response, ApiError> {
    let p = state.engine.pipelines();
    p.set_paused(&caller.0, id, paused).await?;
    Ok(Json(p.get(&caller.0, id).await?).into_response())
}

async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path(at)?;
    set_paused(&state, &caller, &id, true).await
}

async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path(at)?;
    set_paused(&state, &caller, &id, false).await
}

#[derive(Deserialize)]
struct RunsParams {
    before: Option<i64>,
    limit: Option<u32>,
}

async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<String>, PathRejection>,
    params: Result<Query<RunsParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = path(at)?;
    let p = query(params)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be 1 to 500; got {limit}")));
    }
    let runs = state.engine.pipelines().runs(&caller.0, Some(&id), p.before, limit).await?;
    let next_before = (runs.len() == limit as usize).then(|| runs.last().map(|r| r.id)).flatten();
    Ok(Json(RunList { runs, next_before }).into_response())
}

async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<String>, PathRejection>,
    json: Result<Json<TriggerRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = path(at)?;
    let request = body(json)?;
    let run_id = state.engine.pipelines().trigger(&caller.0, &id, &request.params).await?;
    Ok((StatusCode::CREATED, Json(Triggered { pipeline_id: id, run_id })).into_response())
}

async fn run(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, run) = path(at)?;
    Ok(Json(state.engine.pipelines().run_in(&caller.0, &id, run).await?).into_response())
}

async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, run) = path(at)?;
    let p = state.engine.pipelines();
    p.run_in(&caller.0, &id, run).await?;
    p.cancel_run(&caller.0, run).await?;
    Ok(Json(p.run_in(&caller.0, &id, run).await?).into_response())
}

async fn cancel_task(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, run, task) = path(at)?;
    let p = state.engine.pipelines();
    p.run_in(&caller.0, &id, run).await?;
    p.cancel_task(&caller.0, run, &task).await?;
    Ok(Json(p.run_in(&caller.0, &id, run).await?).into_response())
}

async fn clear(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, run, task) = path(at)?;
    let p = state.engine.pipelines();
    p.run_in(&caller.0, &id, run).await?;
    p.clear(&caller.0, run, &task).await?;
    Ok(Json(p.run_in(&caller.0, &id, run).await?).into_response())
}

async fn mark(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64, String)>, PathRejection>,
    json: Result<Json<MarkRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let (id, run, task) = path(at)?;
    let request = body(json)?;
    let p = state.engine.pipelines();
    p.run_in(&caller.0, &id, run).await?;
    p.mark(&caller.0, run, &task, request.state == MarkAs::Success, &request.note).await?;
    Ok(Json(p.run_in(&caller.0, &id, run).await?).into_response())
}

#[derive(Deserialize)]
struct LogParams {
    attempt: Option<u32>,
    offset: Option<u64>,
}

async fn log(
    State(state): State<AppState>,
    caller: Caller,
    at: Result<Path<(String, i64, String)>, PathRejection>,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (id, run, task) = path(at)?;
    let p = query(params)?;
    let piece = state.engine.pipelines().log_in(&caller.0, &id, run, &task, p.attempt, p.offset.unwrap_or(0)).await?;
    Ok(Json(piece).into_response())
}
