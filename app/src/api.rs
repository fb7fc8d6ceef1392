//! The REST API's endpoints, declared once: method, path, who may call it, parameters, body and
//! answers. The router mounts its handlers on these paths, the access policy reads its rules
//! from them, the pages build their links with them, and the OpenAPI document
//! (`/api/v1/openapi.json`, see `openapi.rs`) is generated from them.

use okrflow_engine::accounts::Role;
use okrflow_engine::files::{ColumnWindow, Conversion, FileKind, FileSort, MAX_PER_PAGE};

use crate::access::Access;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// What a parameter's value may be.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    Text,
    /// A stored file's id: 32 lower-case hex digits (any text is answered, unknown ones 404).
    FileId,
    Integer {
        min: i64,
        max: i64,
    },
    Boolean,
    /// One of the names the function lists.
    OneOf(fn() -> Vec<&'static str>),
}

#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub at: In,
    pub required: bool,
    pub value: Value,
    pub about: &'static str,
}

/// What a request carries in its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    None,
    /// `multipart/form-data`, one part per file.
    Files,
    /// JSON of the named schema.
    Json(&'static str),
}

/// What an answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Content {
    /// JSON of the named schema (a type of the engine's; see `openapi.rs`).
    Json(&'static str),
    /// The stored bytes.
    Bytes,
    Nothing,
}

#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    pub about: &'static str,
    pub content: Content,
}

/// One REST endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub method: Method,
    /// In axum's and OpenAPI's form: `/api/v1/files/{id}`.
    pub path: &'static str,
    pub access: Access,
    /// The OpenAPI operation id.
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [Param],
    pub body: Body,
    /// The answers besides the errors every endpoint may give (400, 401, 403, 429, 500).
    pub answers: &'static [Answer],
}

impl Endpoint {
    /// The access policy's key: `GET /api/v1/files`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method.as_str(), self.path)
    }

    /// The path with `{id}` filled in.
    pub fn url(&self, id: &str) -> String {
        self.path.replace("{id}", id)
    }
}

const ID: Param = Param { name: "id", at: In::Path, required: true, value: Value::FileId, about: "The file's id." };
const FILE: Answer = Answer { status: 200, about: "The file.", content: Content::Json("FileView") };
const NOT_FOUND: Answer = Answer { status: 404, about: "No file has this id.", content: Content::Json("ErrorBody") };

// Filters and sort orders also take the empty value forms send, meaning any or the default.
fn kinds() -> Vec<&'static str> {
    std::iter::once("").chain(FileKind::ALL.iter().map(|k| k.as_str())).collect()
}

fn sorts() -> Vec<&'static str> {
    std::iter::once("").chain(FileSort::ALL.iter().map(|s| s.as_str())).collect()
}

fn orders() -> Vec<&'static str> {
    vec!["", "asc", "desc"]
}

fn conversions() -> Vec<&'static str> {
    Conversion::ALL.iter().map(|c| c.as_str()).collect()
}

/// The Files API: reading is for viewers, changing for editors.
pub mod files {
    use super::*;

    pub const LIST: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/files",
        access: Access::AtLeast(Role::Viewer),
        name: "listFiles",
        summary: "One page of the file table, with totals and recent activity",
        params: &[
            Param {
                name: "name",
                at: In::Query,
                required: false,
                value: Value::Text,
                about: "Part of the name, any case.",
            },
            Param {
                name: "kind",
                at: In::Query,
                required: false,
                value: Value::OneOf(kinds),
                about: "Only files of this type (empty: any).",
            },
            Param {
                name: "sort",
                at: In::Query,
                required: false,
                value: Value::OneOf(sorts),
                about: "Sort by (empty: uploaded).",
            },
            Param {
                name: "order",
                at: In::Query,
                required: false,
                value: Value::OneOf(orders),
                about: "Ascending or descending (empty: desc).",
            },
            Param {
                name: "page",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: u32::MAX as i64 },
                about: "From 1.",
            },
            Param {
                name: "per_page",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: MAX_PER_PAGE as i64 },
                about: "Files per page (default 25).",
            },
        ],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The page.", content: Content::Json("FilePage") }],
    };

    pub const UPLOAD: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/files",
        access: Access::AtLeast(Role::Editor),
        name: "uploadFiles",
        summary: "Stores the files of a multipart form: all of them, or none when one is refused",
        params: &[],
        body: Body::Files,
        answers: &[
            Answer {
                status: 201,
                about: "The stored files, queued for profiling.",
                content: Content::Json("Uploaded"),
            },
            Answer { status: 413, about: "A file is past the upload limit.", content: Content::Json("ErrorBody") },
            Answer {
                status: 415,
                about: "A file's type or content is not accepted.",
                content: Content::Json("ErrorBody"),
            },
            Answer { status: 507, about: "The disk could not take it.", content: Content::Json("ErrorBody") },
        ],
    };

    pub const DETAIL: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/files/{id}",
        access: Access::AtLeast(Role::Viewer),
        name: "getFile",
        summary: "A file with its profile, a window of columns of each table at a time",
        params: &[
            ID,
            Param {
                name: "columns_offset",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 0, max: 1_000_000 },
                about: "The first column (default 0).",
            },
            Param {
                name: "columns_limit",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: ColumnWindow::MAX_LIMIT as i64 },
                about: "Columns per table (default 100).",
            },
        ],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The file.", content: Content::Json("FileDetail") }, NOT_FOUND],
    };

    pub const DELETE: Endpoint = Endpoint {
        method: Method::Delete,
        path: "/api/v1/files/{id}",
        access: Access::AtLeast(Role::Editor),
        name: "deleteFile",
        summary: "Deletes a file (outputs made from it stay)",
        params: &[ID],
        body: Body::None,
        answers: &[Answer { status: 200, about: "What was deleted.", content: Content::Json("Deleted") }, NOT_FOUND],
    };

    pub const CONTENT: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/files/{id}/content",
        access: Access::AtLeast(Role::Viewer),
        name: "downloadFile",
        summary: "The stored bytes (Range requests answered with 206)",
        params: &[ID],
        body: Body::None,
        answers: &[
            Answer { status: 200, about: "The bytes.", content: Content::Bytes },
            Answer { status: 206, about: "The asked range.", content: Content::Bytes },
            Answer { status: 304, about: "Not modified since.", content: Content::Nothing },
            Answer { status: 416, about: "The range is outside the file.", content: Content::Nothing },
            NOT_FOUND,
        ],
    };

    pub const REPROCESS: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/files/{id}/reprocess",
        access: Access::AtLeast(Role::Editor),
        name: "reprocessFile",
        summary: "Profiles the file again",
        params: &[ID],
        body: Body::None,
        answers: &[Answer { status: 202, ..FILE }, NOT_FOUND],
    };

    pub const CONVERT: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/files/{id}/convert",
        access: Access::AtLeast(Role::Editor),
        name: "convertFile",
        summary: "Converts a table into a new Parquet or clean CSV file",
        params: &[
            ID,
            Param {
                name: "to",
                at: In::Query,
                required: true,
                value: Value::OneOf(conversions),
                about: "The output type.",
            },
            Param {
                name: "sheet",
                at: In::Query,
                required: false,
                value: Value::Text,
                about: "The Excel sheet (default the first).",
            },
        ],
        body: Body::None,
        answers: &[Answer { status: 201, about: "The output file.", content: Content::Json("FileView") }, NOT_FOUND],
    };
}

/// The Pipelines API: reading is for viewers; triggering, pausing, cancelling, clearing and
/// marking for editors. Every change is audited.
pub mod pipelines {
    use super::*;

    const PIPELINE: Param =
        Param { name: "id", at: In::Path, required: true, value: Value::Text, about: "The pipeline's id." };
    const RUN: Param = Param {
        name: "run",
        at: In::Path,
        required: true,
        value: Value::Integer { min: 1, max: i64::MAX },
        about: "The run's id.",
    };
    const TASK: Param =
        Param { name: "task", at: In::Path, required: true, value: Value::Text, about: "The task's id." };
    const NOT_FOUND: Answer =
        Answer { status: 404, about: "No such pipeline, run or task.", content: Content::Json("ErrorBody") };
    const CONFLICT: Answer =
        Answer { status: 409, about: "It has ended already.", content: Content::Json("ErrorBody") };
    const RUN_VIEW: Answer =
        Answer { status: 200, about: "The run with its tasks and attempts.", content: Content::Json("RunView") };

    pub const LIST: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/pipelines",
        access: Access::AtLeast(Role::Viewer),
        name: "listPipelines",
        summary: "The pipelines in force, and the problems of definition files that do not read",
        params: &[],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The pipelines.", content: Content::Json("PipelineList") }],
    };

    pub const GET: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/pipelines/{id}",
        access: Access::AtLeast(Role::Viewer),
        name: "getPipeline",
        summary: "A pipeline's definition in force, its source and version",
        params: &[PIPELINE],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The pipeline.", content: Content::Json("PipelineView") }, NOT_FOUND],
    };

    pub const PAUSE: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/pause",
        access: Access::AtLeast(Role::Editor),
        name: "pausePipeline",
        summary: "Pauses the pipeline's schedule (triggers still run)",
        params: &[PIPELINE],
        body: Body::None,
        answers: &[Answer { status: 200, about: "Paused.", content: Content::Json("PipelineView") }, NOT_FOUND],
    };

    pub const RESUME: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/resume",
        access: Access::AtLeast(Role::Editor),
        name: "resumePipeline",
        summary: "Resumes the pipeline's schedule (times missed while paused are not run)",
        params: &[PIPELINE],
        body: Body::None,
        answers: &[Answer { status: 200, about: "Resumed.", content: Content::Json("PipelineView") }, NOT_FOUND],
    };

    pub const RUNS: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/pipelines/{id}/runs",
        access: Access::AtLeast(Role::Viewer),
        name: "listRuns",
        summary: "The pipeline's runs, newest first",
        params: &[
            PIPELINE,
            Param {
                name: "before",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: i64::MAX },
                about: "Only runs older than this run id (the last page's next_before).",
            },
            Param {
                name: "limit",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: 500 },
                about: "Runs per page (default 50).",
            },
        ],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The runs.", content: Content::Json("RunList") }, NOT_FOUND],
    };

    pub const TRIGGER: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/runs",
        access: Access::AtLeast(Role::Editor),
        name: "triggerPipeline",
        summary: "Starts a run with the given parameters (the defaults fill the rest)",
        params: &[PIPELINE],
        body: Body::Json("TriggerRequest"),
        answers: &[Answer { status: 201, about: "The run started.", content: Content::Json("Triggered") }, NOT_FOUND],
    };

    pub const RUN_GET: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/pipelines/{id}/runs/{run}",
        access: Access::AtLeast(Role::Viewer),
        name: "getRun",
        summary: "A run with its task instances and every attempt",
        params: &[PIPELINE, RUN],
        body: Body::None,
        answers: &[RUN_VIEW, NOT_FOUND],
    };

    pub const RUN_CANCEL: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/runs/{run}/cancel",
        access: Access::AtLeast(Role::Editor),
        name: "cancelRun",
        summary: "Cancels a run: its tasks not ended are cancelled, running commands killed",
        params: &[PIPELINE, RUN],
        body: Body::None,
        answers: &[RUN_VIEW, NOT_FOUND, CONFLICT],
    };

    pub const TASK_CANCEL: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/runs/{run}/tasks/{task}/cancel",
        access: Access::AtLeast(Role::Editor),
        name: "cancelTask",
        summary: "Cancels one task of a run (a running command is killed)",
        params: &[PIPELINE, RUN, TASK],
        body: Body::None,
        answers: &[RUN_VIEW, NOT_FOUND, CONFLICT],
    };

    pub const TASK_CLEAR: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/runs/{run}/tasks/{task}/clear",
        access: Access::AtLeast(Role::Editor),
        name: "clearTask",
        summary: "Runs a task and everything downstream of it again",
        params: &[PIPELINE, RUN, TASK],
        body: Body::None,
        answers: &[RUN_VIEW, NOT_FOUND],
    };

    pub const TASK_MARK: Endpoint = Endpoint {
        method: Method::Post,
        path: "/api/v1/pipelines/{id}/runs/{run}/tasks/{task}/mark",
        access: Access::AtLeast(Role::Editor),
        name: "markTask",
        summary: "Marks a task success or failed with a note; the run goes on from there",
        params: &[PIPELINE, RUN, TASK],
        body: Body::Json("MarkRequest"),
        answers: &[RUN_VIEW, NOT_FOUND],
    };

    pub const TASK_LOG: Endpoint = Endpoint {
        method: Method::Get,
        path: "/api/v1/pipelines/{id}/runs/{run}/tasks/{task}/log",
        access: Access::AtLeast(Role::Viewer),
        name: "taskLog",
        summary: "A piece of an attempt's log from an offset (poll with next_offset until done)",
        params: &[
            PIPELINE,
            RUN,
            TASK,
            Param {
                name: "attempt",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 1, max: 1_000_000 },
                about: "The attempt (default the latest).",
            },
            Param {
                name: "offset",
                at: In::Query,
                required: false,
                value: Value::Integer { min: 0, max: i64::MAX },
                about: "The byte to read from (default 0).",
            },
        ],
        body: Body::None,
        answers: &[Answer { status: 200, about: "The piece.", content: Content::Json("LogPiece") }, NOT_FOUND],
    };
}

/// This document.
pub const OPENAPI: Endpoint = Endpoint {
    method: Method::Get,
    path: "/api/v1/openapi.json",
    access: Access::Anonymous,
    name: "openapi",
    summary: "The OpenAPI 3.1 description of this API",
    params: &[],
    body: Body::None,
    answers: &[Answer { status: 200, about: "The document.", content: Content::Nothing }],
};

/// Every REST endpoint.
pub const ENDPOINTS: &[Endpoint] = &[
    files::LIST,
    files::UPLOAD,
    files::DETAIL,
    files::DELETE,
    files::CONTENT,
    files::REPROCESS,
    files::CONVERT,
    pipelines::LIST,
    pipelines::GET,
    pipelines::PAUSE,
    pipelines::RESUME,
    pipelines::RUNS,
    pipelines::TRIGGER,
    pipelines::RUN_GET,
    pipelines::RUN_CANCEL,
    pipelines::TASK_CANCEL,
    pipelines::TASK_CLEAR,
    pipelines::TASK_MARK,
    pipelines::TASK_LOG,
    OPENAPI,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_declared_once_with_its_parameters() {
        let mut keys: Vec<String> = ENDPOINTS.iter().map(Endpoint::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ENDPOINTS.len());
        for e in ENDPOINTS {
            for p in e.params.iter().filter(|p| p.at == In::Path) {
                assert!(e.path.contains(&format!("{{{}}}", p.name)), "{} declares {} in its path", e.key(), p.name);
            }
            assert!(e.answers.iter().any(|a| a.status < 300), "{} says what success is", e.key());
        }
        assert_eq!(files::CONTENT.url("abc"), "/api/v1/files/abc/content");
    }
}
