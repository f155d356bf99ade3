//! The batch service's OpenAPI document (`swagger/docs/v1`) and a page that reads it
//! out (`swagger/ui/index`, where Loymax's own service shows its Swagger UI), with
//! nothing loaded from elsewhere.

use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn row_schema() -> Value {
    json!({"type": "object", "required": ["memberNo", "pointsAmount"], "properties": {
        "memberNo": {"type": "string", "description": "A card number, phone or external id, as the program looks members up"},
        "Description": {"type": "string", "description": "What the member's history says"},
        "operationDate": {"type": "string", "example": "2013-08-14 12:26:14", "description": "Shown as the time of the history row (program's local time)"},
        "merchantName": {"type": "string", "description": "Shown as the place of the history row"},
        "transactionAmount": {"type": "number"},
        "pointsAmount": {"type": "number", "description": "Points to accrue (types 2, 4) or take back (3, 5)"}}})
}

fn answer_schema() -> Value {
    json!({"type": "object", "properties": {
        "requestId": {"type": "string"}, "type": {"type": "integer"},
        "status": {"type": "integer", "description": "0: every row posted; 1: not"},
        "message": {"type": "string"}}})
}

fn document_value() -> Value {
    let key = json!([{"batch_key": []}]);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Accrue batch balance operations (Loymax protocol)", "version": "v1"},
        "components": {"securitySchemes": {"batch_key": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Row": row_schema(), "Answer": answer_schema()}},
        "paths": {
            "/loytech.batchoperationsservice/api/batch": {"post": {
                "summary": "A batch of accruals (type 2, 4) or write-offs (3, 5), posted before the answer",
                "security": key,
                "requestBody": {"content": {"application/json": {"schema": {"type": "object",
                    "required": ["requestId", "type", "accrue"], "properties": {
                        "requestId": {"type": "string", "description": "The same id again answers the first answer"},
                        "type": {"type": "integer", "enum": [2, 3, 4, 5]},
                        "accrueDescription": {"type": "string"},
                        "currencyExternalId": {"type": "string", "description": "The program's default currency when absent"},
                        "lifeTimeDefinitionExternalId": {"type": "string", "description": "The program's default lifetime when absent"},
                        "mode": {"type": "string", "enum": ["all_or_nothing", "row_by_row"], "default": "all_or_nothing",
                                 "description": "all_or_nothing: at most 1000 rows"},
                        "accrue": {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/Row"}}}}}}},
                "responses": {"200": {"description": "Done", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}},
                              "400": {"description": "Refused whole"}, "401": {"description": "No or wrong key"},
                              "409": {"description": "The requestId was used for another request"}}}},
            "/loytech.batchoperationsservice/api/batch/file": {"post": {
                "summary": "A large batch as a file (CSV with a header line, or JSON lines), posted row by row in the background",
                "security": key,
                "parameters": [
                    {"name": "requestId", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "type", "in": "query", "required": true, "schema": {"type": "integer", "enum": [2, 3, 4, 5]}},
                    {"name": "accrueDescription", "in": "query", "schema": {"type": "string"}},
                    {"name": "currencyExternalId", "in": "query", "schema": {"type": "string"}},
                    {"name": "lifeTimeDefinitionExternalId", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"content": {"text/csv": {"example": "memberNo,pointsAmount,description,operationDate,merchantName,transactionAmount"},
                                            "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/Row"}}}},
                "responses": {"202": {"description": "Kept; see its progress"}}}},
            "/loytech.batchoperationsservice/api/batch/{requestId}": {"get": {
                "summary": "A request's progress, and its answer once done", "security": key,
                "parameters": [{"name": "requestId", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "Progress"}, "404": {"description": "No such request"}}}},
            "/loytech.batchoperationsservice/api/batch/{requestId}/rows": {"get": {
                "summary": "Rows with their outcomes: posted, member_unknown, member_blocked, bad_amount, insufficient_points, not_posted",
                "security": key,
                "parameters": [{"name": "requestId", "in": "path", "required": true, "schema": {"type": "string"}},
                               {"name": "from", "in": "query", "schema": {"type": "integer", "default": 1}},
                               {"name": "count", "in": "query", "schema": {"type": "integer", "default": 100, "maximum": 1000}}],
                "responses": {"200": {"description": "Rows"}}}}
        }
    })
}

pub(super) async fn document() -> Json<Value> {
    Json(document_value())
}

/// The document read out as a page.
pub(super) async fn page() -> Response {
    let doc = document_value();
    let mut sections = String::new();
    for (path, methods) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in methods.as_object().into_iter().flatten() {
            sections.push_str(&format!(
                "<section><h2><code>{} {}</code></h2><p>{}</p></section>",
                method.to_uppercase(),
                escape(path),
                escape(op["summary"].as_str().unwrap_or_default())
            ));
        }
    }
    let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Batch balance operations</title>\
         </head><body><h1>Batch balance operations</h1><p>OpenAPI document: \
         <a href=\"../docs/v1\">swagger/docs/v1</a></p>{sections}<h2>Document</h2><pre>{}</pre></body></html>",
        escape(&json)
    ))
    .into_response()
}

fn escape(text: &str) -> String {
    accrue_core::mustache::escape_html(text)
}
