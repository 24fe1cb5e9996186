//! The API's description, made from the routes themselves: an OpenAPI 3.1
//! document at `GET /api/v1/openapi.json` and a page that lists it,
//! `/api/docs` (接口说明), served by the node with no external script.
//!
//! Every path, method, path parameter and permission comes from the same
//! `http::Routes` table the router is built from, so the description cannot
//! leave a route out or name a permission the route does not check. Each
//! route states its request and answer bodies by their Rust types
//! (`Routes::json`, `answers`, `bodies`), and their JSON Schemas (2020-12,
//! as OpenAPI 3.1 has them) are generated from those types' `schemars`
//! derives, the protocol's bodies through `fundsync-protocol`'s `schema`
//! feature: a field added to a body is in the description at the next
//! build. Requests are described as they are read (`serde(default)` fields
//! optional), answers as they are written; decimals are strings with a
//! pattern, dates `format: date`.

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use fundsync_protocol::{ErrorCode, PROTOCOL_VERSION};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

mod docs;

use crate::access::{Permission, Role};
use crate::http::{AppState, Json, Media, RouteInfo, Routes};
use crate::web::layout::{page, Nav};
use crate::web::Ctx;

/// The JSON description and its page.
pub fn router() -> Routes {
    let api = Routes::api("/api/v1")
        .get("/openapi.json", Permission::SignedIn, spec)
        .answers::<serde_json::Value>();
    let pages =
        Routes::pages(crate::web::refused).get("/api/docs", Permission::SignedIn, docs_page);
    api.merge(pages)
}

/// The API's routes (pages left out), this module's own included.
fn api_routes() -> &'static [RouteInfo] {
    static TABLE: OnceLock<Vec<RouteInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::api::router(0)
            .merge(router())
            .into_parts()
            .1
            .into_iter()
            .filter(|r| !r.page)
            .collect()
    })
}

/// The document of this node's API routes, made once.
fn the_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| document(api_routes()))
}

async fn spec(State(_): State<Arc<AppState>>) -> Response {
    Json(the_document().clone()).into_response()
}

/// The roles that hold `p`, by their wire names.
fn holders(p: Permission) -> Vec<&'static str> {
    Role::ALL
        .iter()
        .filter(|r| r.permits(p))
        .map(|r| r.as_str())
        .collect()
}

/// `{name}` segments of an axum path.
fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for part in path.trim_start_matches("/api/v1").split('/') {
        let part = part.trim_start_matches('{').trim_end_matches('}');
        if part.is_empty() {
            continue;
        }
        id.push('_');
        id.extend(
            part.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// The schemas of the bodies: one generator for requests (as serde reads
/// them) and one for answers (as serde writes them), each collecting the
/// named types it meets under `#/components/schemas/`.
struct Schemas {
    read: SchemaGenerator,
    written: SchemaGenerator,
}

/// Schema names changed: `(from, to)`.
type Renames = Vec<(String, String)>;

/// Where the generators put named schemas, as a JSON pointer.
const SCHEMAS: &str = "/components/schemas/";

impl Schemas {
    fn new() -> Schemas {
        let settings = || {
            let mut s = SchemaSettings::draft2020_12();
            s.definitions_path = SCHEMAS.into();
            s.meta_schema = None;
            s
        };
        Schemas {
            read: settings().for_deserialize().into_generator(),
            written: settings().for_serialize().into_generator(),
        }
    }

    /// `{media type: {schema}}` for a body.
    fn content(&mut self, m: &Media, request: bool) -> Value {
        let g = if request {
            &mut self.read
        } else {
            &mut self.written
        };
        let mut body = Map::new();
        if let Some(f) = m.schema {
            body.insert("schema".into(), f(g).into());
        }
        let mut content = Map::new();
        content.insert(m.media_type.to_owned(), Value::Object(body));
        Value::Object(content)
    }

    /// Both generators' named schemas, merged into `schemas`. A type read
    /// and written differently (a field optional on the way in, always
    /// written on the way out) keeps its name for the request and gets
    /// `…_answer` for the answer; names are made safe for OpenAPI's
    /// component keys (`^[A-Za-z0-9._-]+$`). Returns the renames to apply
    /// to the whole document's `$ref`s, read side first.
    fn finish(mut self, schemas: &mut Map<String, Value>) -> (Renames, Renames) {
        let safe = |n: &str| -> String {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let read = self.read.take_definitions(true);
        let written = self.written.take_definitions(true);
        let read_renames: Vec<(String, String)> = read
            .keys()
            .filter(|n| safe(n) != **n)
            .map(|n| (n.clone(), safe(n)))
            .collect();
        let written_renames: Vec<(String, String)> = written
            .iter()
            .map(|(n, schema)| {
                let mut to = safe(n);
                if read.get(n).is_some_and(|r| r != schema) {
                    to = format!("{to}_answer");
                }
                (n.clone(), to)
            })
            .filter(|(n, to)| n != to)
            .collect();
        for (renames, defs) in [(&read_renames, read), (&written_renames, written)] {
            for (name, mut schema) in defs {
                rename_refs(&mut schema, renames);
                let to = renames
                    .iter()
                    .find(|(from, _)| *from == name)
                    .map_or(name, |(_, to)| to.clone());
                schemas.insert(to, schema);
            }
        }
        (read_renames, written_renames)
    }
}

/// Rewrites the `$ref`s under `v` by `renames`.
fn rename_refs(v: &mut Value, renames: &[(String, String)]) {
    if renames.is_empty() {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    if let Some((_, to)) = renames.iter().find(|(from, _)| from == name) {
                        *r = format!("#/components/schemas/{to}");
                    }
                }
            }
            for x in m.values_mut() {
                rename_refs(x, renames);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_refs(x, renames)),
        _ => {}
    }
}

/// `rust_decimal`'s schema for reading admits a JSON number; ours do not
/// (amounts are strings, and the API refuses a number), so every decimal
/// is described as a string with its pattern.
fn decimals_are_strings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let number_too = m.get("type") == Some(&json!(["string", "number"]))
                || m.get("type") == Some(&json!(["number", "string"]));
            if number_too && m.get("pattern").is_some() {
                m.insert("type".into(), json!("string"));
                m.insert(
                    "pattern".into(),
                    json!(fundsync_protocol::schema::DECIMAL_PATTERN),
                );
            }
            m.values_mut().for_each(decimals_are_strings);
        }
        Value::Array(a) => a.iter_mut().for_each(decimals_are_strings),
        _ => {}
    }
}

/// The OpenAPI 3.1 document of `routes`.
pub fn document(routes: &[RouteInfo]) -> Value {
    let mut schemas = Schemas::new();
    // The request and answer parts of each operation, to rename after.
    let mut read_parts: Vec<(String, String)> = Vec::new();
    let error = json!({"$ref": "#/components/schemas/Error"});
    let refusal = |why: &str| json!({"description": why, "content": {"application/json": {"schema": error.clone()}}});
    let mut paths: Map<String, Value> = Map::new();
    for r in routes {
        let tag = docs::tag_of(&r.path).to_owned();
        let roles = holders(r.permission);
        let mut op = json!({
            "operationId": operation_id(&r.method, &r.path),
            "tags": [tag],
            "summary": format!("{} {}", r.method, r.path),
            "description": match r.permission {
                Permission::Public => "Open to anyone.".to_owned(),
                Permission::SignedIn => "Any signed-in account.".to_owned(),
                p => format!("Needs the permission {p} ({}), held by: {}.", p.zh(), roles.join(", ")),
            },
            "x-permission": r.permission.to_string(),
            "parameters": path_params(&r.path).iter().map(|p| json!({
                "name": p, "in": "path", "required": true, "schema": {"type": "string"}
            })).collect::<Vec<_>>(),
            "responses": {
                "200": {"description": "Done"},
                "400": refusal("Malformed request or parameter"),
                "401": refusal("No credentials, or they are not valid"),
                "403": refusal("The account's roles or scope do not allow it"),
                "404": refusal("No such record at this node"),
                "413": refusal("The body is too large"),
                "422": refusal("Refused by the ledger's rules; nothing recorded"),
                "default": refusal("Any other refusal (415 a body of another type, 429 busy, 503 not ready)"),
            },
        });
        if r.permission == Permission::Public {
            op["security"] = json!([]);
        }
        let bodies = r.bodies.unwrap_or(crate::http::Bodies {
            request: None,
            response: None,
        });
        let answer = bodies.response.map(|m| schemas.content(&m, false));
        match &answer {
            Some(c) => op["responses"]["200"]["content"] = c.clone(),
            None => {
                op["responses"]["204"] = json!({"description": "Done, nothing to answer"});
            }
        }
        if let Some(m) = &bodies.request {
            op["requestBody"] = json!({"required": true, "content": schemas.content(m, true)});
            read_parts.push((r.path.clone(), r.method.as_str().to_ascii_lowercase()));
        }
        if matches!(r.method, Method::POST | Method::PUT) {
            op["responses"]["201"] = json!({"description": "Recorded"});
            if let Some(c) = answer {
                op["responses"]["201"]["content"] = c;
            }
            op["responses"]["409"] = refusal("Conflicts with what is recorded");
        }
        let entry = paths
            .entry(r.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
    let mut components = Map::new();
    let (read_renames, written_renames) = schemas.finish(&mut components);
    components.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                "message": {"type": "string"},
            },
        }),
    );
    // Answers first (everything but the request bodies), then the requests.
    let mut requests = Vec::new();
    for (path, method) in &read_parts {
        if let Some(b) = paths
            .get_mut(path)
            .and_then(|p| p.get_mut(method))
            .and_then(|o| o.as_object_mut())
            .and_then(|o| o.remove("requestBody"))
        {
            requests.push((path, method, b));
        }
    }
    let mut paths = Value::Object(paths);
    rename_refs(&mut paths, &written_renames);
    for (path, method, mut b) in requests {
        rename_refs(&mut b, &read_renames);
        paths[path.as_str()][method.as_str()]["requestBody"] = b;
    }
    let mut components = Value::Object(components);
    decimals_are_strings(&mut components);
    decimals_are_strings(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "fundsync node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The local API of one fundsync node (protocol version {PROTOCOL_VERSION}). \
                 Amounts are decimal strings in yuan with at most two decimals; every refusal \
                 is {{\"error\": code, \"message\": text}}."
            ),
        },
        "paths": paths,
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (fst_…) from `fundsync token create` or the account page"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::http::auth::SESSION_COOKIE,
                    "description": "A signed-in browser; changes also need the X-CSRF-Token header"},
            },
            "schemas": components,
        },
    })
}

/// `/api/docs`: the description as a page, grouped by tag, each
/// operation with its bodies' fields (`docs.rs`).
async fn docs_page(ctx: Ctx) -> Response {
    let l = ctx.chrome.lang;
    let body = docs::render(l, the_document(), api_routes());
    let markup = page(
        &ctx.chrome,
        Nav::None,
        l.t("接口说明", "API reference"),
        body,
    );
    ctx.respond(Ok(markup))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_described_with_its_permission() {
        let routes = api_routes();
        let doc = document(routes);
        assert_eq!(doc["openapi"], "3.1.0");
        for r in routes {
            let op = &doc["paths"][&r.path][r.method.as_str().to_ascii_lowercase()];
            assert_eq!(
                op["x-permission"],
                r.permission.to_string(),
                "{} {}",
                r.method,
                r.path
            );
            for p in path_params(&r.path) {
                assert!(
                    op["parameters"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().any(|x| x["name"] == p)),
                    "{} lacks {p}",
                    r.path
                );
            }
        }
        let health = &doc["paths"]["/healthz"]["get"];
        assert_eq!(health["security"], json!([]));
        let pay = &doc["paths"]["/api/v1/payments"]["post"];
        assert!(
            pay["description"]
                .as_str()
                .is_some_and(|d| d.contains("treasury")),
            "{pay}"
        );
        assert!(doc["paths"]["/api/v1/openapi.json"]["get"].is_object());
        assert!(
            doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
                .as_array()
                .is_some_and(|e| e.iter().any(|c| c == "over_allocation"))
        );
    }

    /// The page shows each operation's bodies by their fields: the
    /// payment's request (凭证号 voucher_no, required, its type), the
    /// catalog's answer, the refusal's codes.
    #[test]
    fn the_page_shows_the_fields_of_the_bodies() {
        let routes = api_routes();
        let doc = document(routes);
        let s = docs::render(crate::web::text::Lang::Zh, &doc, routes).into_string();
        let pay = s
            .find("id=\"op-post-api-v1-payments\"")
            .expect("the payment operation");
        let next = s[pay..].find("<section").map_or(s.len(), |n| pay + n);
        let op = &s[pay..next];
        for want in [
            "请求体",
            "<code>voucher_no</code>",
            "凭证号",
            "<b>必填</b>",
            "href=\"#schema-Amount\"",
            "string (date)",
        ] {
            assert!(op.contains(want), "{want} in {op}");
        }
        assert!(s.contains("id=\"schema-Error\""));
        assert!(s.contains("over_allocation"));
        assert!(s.contains("<code>defined_by</code>"));
    }

    #[test]
    fn operation_ids_are_unique() {
        let routes = api_routes();
        let mut ids: Vec<String> = routes
            .iter()
            .map(|r| operation_id(&r.method, &r.path))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
