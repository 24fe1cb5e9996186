//! The API's description, made from the routes themselves: an OpenAPI 3.1
//! document at `GET /api/v1/openapi.json` and a page that lists it,
//! `/api/docs` (接口说明), served by the node with no external script.
//!
//! Every path, method, path parameter and permission comes from the same
//! `http::Routes` table the router is built from, so the description cannot
//! leave a route out or name a permission the route does not check. What it
//! does not describe yet is the shape of each request and answer body: those
//! are named only by their media type (the error body, `{error, message}`
//! with its codes, is described exactly).

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use fundsync_protocol::{ErrorCode, PROTOCOL_VERSION};
use maud::html;
use serde_json::{json, Map, Value};

use crate::access::{Permission, Role};
use crate::http::{AppState, Json, RouteInfo, Routes};
use crate::web::layout::{page, Nav};
use crate::web::Ctx;

/// The JSON description and its page.
pub fn router() -> Routes {
    let api = Routes::api("/api/v1").get("/openapi.json", Permission::SignedIn, spec);
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

async fn spec(State(_): State<Arc<AppState>>) -> Response {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(DOC.get_or_init(|| document(api_routes())).clone()).into_response()
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

/// The OpenAPI 3.1 document of `routes`.
pub fn document(routes: &[RouteInfo]) -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let refusal = |why: &str| json!({"description": why, "content": {"application/json": {"schema": error.clone()}}});
    let mut paths: Map<String, Value> = Map::new();
    for r in routes {
        let tag = r
            .path
            .trim_start_matches("/api/v1/")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
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
                "200": {"description": "Done", "content": {"application/json": {}}},
                "400": refusal("Malformed request or parameter"),
                "401": refusal("No credentials, or they are not valid"),
                "403": refusal("The account's roles or scope do not allow it"),
                "404": refusal("No such record at this node"),
                "413": refusal("The body is too large"),
                "422": refusal("Refused by the ledger's rules; nothing recorded"),
            },
        });
        if r.permission == Permission::Public {
            op["security"] = json!([]);
        }
        if matches!(r.method, Method::POST | Method::PUT) {
            op["requestBody"] = json!({"content": {"application/json": {}}});
            op["responses"]["201"] =
                json!({"description": "Recorded", "content": {"application/json": {}}});
            op["responses"]["409"] = refusal("Conflicts with what is recorded");
        }
        let entry = paths
            .entry(r.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.as_str().to_ascii_lowercase()] = op;
    }
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    })
}

/// `/api/docs`: the description as a page, grouped by tag.
async fn docs_page(ctx: Ctx) -> Response {
    let l = ctx.chrome.lang;
    let routes = api_routes();
    let mut tags: Vec<&str> = Vec::new();
    for r in routes {
        let t = r
            .path
            .trim_start_matches("/api/v1/")
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    let body = html! {
        p class="sub" {
            (l.t(
                "本节点的 JSON 接口，由路由表生成。机器可读版本：",
                "This node's JSON API, made from its route table. Machine-readable: "
            ))
            a href="/api/v1/openapi.json" { "/api/v1/openapi.json" } " (OpenAPI 3.1)"
        }
        @for t in &tags {
            h2 { (t) }
            div class="scroll" {
                table {
                    thead { tr {
                        th { (l.t("方法", "Method")) }
                        th { (l.t("路径", "Path")) }
                        th { (l.t("权限", "Permission")) }
                        th { (l.t("角色", "Roles")) }
                    } }
                    tbody {
                        @for r in routes.iter().filter(|r| r.path.trim_start_matches("/api/v1/").trim_start_matches('/').split('/').next() == Some(*t)) {
                            tr {
                                td class="nowrap" { code { (r.method) } }
                                td { code { (r.path) } }
                                td class="nowrap" { (r.permission.zh()) " " span class="muted" { (r.permission) } }
                                td {
                                    @match r.permission {
                                        Permission::Public => { (l.t("任何人", "anyone")) }
                                        Permission::SignedIn => { (l.t("已登录", "signed in")) }
                                        p => {
                                            (holders(p).iter().map(|h| h.parse::<Role>().map_or((*h).to_owned(), |r| r.zh().to_owned())).collect::<Vec<_>>().join("、"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
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
