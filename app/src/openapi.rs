//! The OpenAPI 3.1 document of the REST API (`/api/v1/openapi.json`), generated from the
//! declarations in [`crate::api`] and the JSON schemas utoipa derives from the engine's types,
//! so the document cannot drift from what the router serves. A property-based fuzzer
//! (schemathesis, in `.ci/run`) checks every answer against it.

use serde_json::{json, Map, Value as Json};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::access::Access;
use crate::api::{Body, Content, Endpoint, In, Value, ENDPOINTS};
use crate::errors::ErrorBody;

type Schemas = Vec<(String, RefOr<Schema>)>;

fn add<T: ToSchema>(schemas: &mut Schemas) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// Every schema an answer names, with the ones they refer to.
fn schemas() -> Map<String, Json> {
    use okrflow_engine::files::{Deleted, FileDetail, FilePage, FileView, Uploaded};
    let mut all = Schemas::new();
    add::<FilePage>(&mut all);
    add::<FileDetail>(&mut all);
    add::<FileView>(&mut all);
    add::<Uploaded>(&mut all);
    add::<Deleted>(&mut all);
    add::<ErrorBody>(&mut all);
    use okrflow_engine::pipelines::{
        LogPiece, MarkRequest, PipelineList, PipelineView, RunList, RunView, TriggerRequest, Triggered,
    };
    add::<PipelineList>(&mut all);
    add::<PipelineView>(&mut all);
    add::<RunList>(&mut all);
    add::<RunView>(&mut all);
    add::<TriggerRequest>(&mut all);
    add::<Triggered>(&mut all);
    add::<MarkRequest>(&mut all);
    add::<LogPiece>(&mut all);
    all.into_iter().map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Json::Null))).collect()
}

fn schema_ref(name: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn value_schema(value: Value) -> Json {
    match value {
        Value::Text | Value::FileId => json!({ "type": "string" }),
        Value::Integer { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Value::Boolean => json!({ "type": "boolean" }),
        Value::OneOf(names) => json!({ "type": "string", "enum": names() }),
    }
}

fn content(content: Content) -> Option<Json> {
    match content {
        Content::Json(name) => Some(json!({ "application/json": { "schema": schema_ref(name) } })),
        // A stored file is sent with its own type (text/csv, application/pdf, …).
        Content::Bytes => Some(json!({ "*/*": { "schema": { "type": "string", "format": "binary" } } })),
        Content::Nothing => None,
    }
}

fn error(about: &str) -> Json {
    json!({ "description": about, "content": { "application/json": { "schema": schema_ref("ErrorBody") } } })
}

fn operation(e: &Endpoint) -> Json {
    let mut responses = Map::new();
    for answer in e.answers {
        let mut r = json!({ "description": answer.about });
        if let Some(c) = content(answer.content) {
            r["content"] = c;
        }
        responses.insert(answer.status.to_string(), r);
    }
    // What any endpoint may answer, besides its own.
    responses.entry("400").or_insert_with(|| error("A parameter breaks a rule; the message names it."));
    if let Access::AtLeast(role) = e.access {
        responses.entry("401").or_insert_with(|| error("Not logged in, or the credentials are wrong."));
        let forbidden = format!("Needs the {} role.", role.as_str());
        responses.entry("403").or_insert_with(|| error(&forbidden));
        responses.entry("429").or_insert_with(|| error("Too many failed logins; try later."));
    }
    let params: Vec<Json> = e
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.at { In::Path => "path", In::Query => "query" },
                "required": p.required,
                "description": p.about,
                "schema": value_schema(p.value),
            })
        })
        .collect();
    let mut op = json!({
        "operationId": e.name,
        "summary": e.summary,
        "parameters": params,
        "responses": responses,
    });
    match e.access {
        Access::Anonymous => op["security"] = json!([]),
        Access::AtLeast(_) => op["security"] = json!([{ "bearer": [] }, { "basic": [] }]),
    }
    if let Body::Json(name) = e.body {
        op["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": schema_ref(name) } },
        });
    }
    if e.body == Body::Files {
        op["requestBody"] = json!({
            "required": true,
            "content": { "multipart/form-data": { "schema": {
                "type": "object",
                "properties": { "file": { "type": "array", "items": { "type": "string", "format": "binary" } } },
            } } },
        });
    }
    op
}

/// The whole document.
pub fn document() -> Json {
    let mut paths: Map<String, Json> = Map::new();
    for e in ENDPOINTS {
        let path = paths.entry(e.path).or_insert_with(|| json!({}));
        path[e.method.as_str().to_ascii_lowercase()] = operation(e);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "okrflow",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST API of okrflow. Authenticate with an API token (`Authorization: Bearer …`, made on the Account page) or Basic with a user name and password (or a token as the password). Errors are JSON: `{\"error\": message, \"kind\": kind, \"status\": status}`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "basic": { "type": "http", "scheme": "basic" },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_described_and_every_schema_it_names_exists() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for e in ENDPOINTS {
            let op = &doc["paths"][e.path][e.method.as_str().to_ascii_lowercase()];
            assert_eq!(op["operationId"], e.name, "{}", e.key());
            for answer in e.answers {
                if let Content::Json(name) = answer.content {
                    assert!(schemas.contains_key(name), "{} answers with {name}, which is not described", e.key());
                }
            }
        }
        // Referenced schemas exist too (nested types are collected with their parents).
        let text = doc.to_string();
        for name in text.split("#/components/schemas/").skip(1) {
            let name = name.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "{name} is referred to but not described");
        }
        assert_eq!(
            doc["paths"]["/api/v1/files/{id}"]["delete"]["responses"]["403"]["description"],
            "Needs the editor role."
        );
    }
}
