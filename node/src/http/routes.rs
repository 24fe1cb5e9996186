//! Deny by default, route by route: the only way the API and the pages add
//! a route is [`Routes`], whose every method takes the [`Permission`] the
//! route needs. The builder wraps each route in the permission check
//! ([`super::auth::check`]) and records `(method, path, permission)` in a
//! table, which `server::route_table` publishes and
//! `tests/tests/it/access.rs` walks with every role.
//!
//! There is no way around it: `api`, `web` and `warnings::http` get a
//! `Routes`, never an `axum::Router`, and `server` turns the builders into
//! the listener's router (a unit test there checks that those files name
//! no router of their own).

use std::sync::Arc;

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

pub use super::auth::{PageRefusal, Surface};
use super::AppState;
use crate::access::Permission;

/// One route as the table lists it.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    /// As axum matches it, `{name}` for a path parameter.
    pub path: String,
    pub permission: Permission,
    /// A page (refusals redirect to `/login` or show a page) rather than
    /// the JSON API.
    pub page: bool,
    /// What the route reads and answers, for the API's description
    /// (`openapi`); `None` until the route states it ([`Routes::json`] and
    /// its siblings), which `openapi`'s tests require of every API route.
    pub bodies: Option<Bodies>,
}

/// The JSON Schema of a body type, made by `schemars` from the type's
/// derive: a function so the table stays plain data.
pub type SchemaFn = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// A request or answer body: its media type and, for JSON, its schema.
#[derive(Debug, Clone, Copy)]
pub struct Media {
    pub media_type: &'static str,
    pub schema: Option<SchemaFn>,
}

impl Media {
    pub fn json<T: schemars::JsonSchema>() -> Media {
        Media {
            media_type: "application/json",
            schema: Some(schema_of::<T>),
        }
    }

    /// A body that is not JSON (a CSV file, text), described by its type.
    pub fn raw(media_type: &'static str) -> Media {
        Media {
            media_type,
            schema: None,
        }
    }
}

/// A route's request body (none for a read or an action named by its path
/// alone) and its answer (none: an empty answer, such as 204).
#[derive(Debug, Clone, Copy)]
pub struct Bodies {
    pub request: Option<Media>,
    pub response: Option<Media>,
}

/// Routes, each with its permission; see the module's documentation.
#[derive(Debug)]
pub struct Routes {
    surface: Surface,
    prefix: String,
    router: Router<Arc<AppState>>,
    table: Vec<RouteInfo>,
}

impl Routes {
    /// JSON routes under `prefix` (`""` or `/api/v1`).
    pub fn api(prefix: &str) -> Routes {
        Routes::new(Surface::Api, prefix)
    }

    /// Pages; `refuse` renders what a refused signed-in caller sees.
    pub fn pages(refuse: PageRefusal) -> Routes {
        Routes::new(Surface::Pages { refuse }, "")
    }

    fn new(surface: Surface, prefix: &str) -> Routes {
        Routes {
            surface,
            prefix: prefix.to_owned(),
            router: Router::new(),
            table: Vec::new(),
        }
    }

    pub fn get<H, T>(self, path: &str, p: Permission, h: H) -> Routes
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.method(Method::GET, path, p, on(MethodFilter::GET, h))
    }

    pub fn post<H, T>(self, path: &str, p: Permission, h: H) -> Routes
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.method(Method::POST, path, p, on(MethodFilter::POST, h))
    }

    pub fn delete<H, T>(self, path: &str, p: Permission, h: H) -> Routes
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.method(Method::DELETE, path, p, on(MethodFilter::DELETE, h))
    }

    /// A route of one `method` given as a [`MethodRouter`] that answers
    /// only that method (to give it a layer of its own, such as a larger
    /// body limit).
    pub fn method(
        mut self,
        method: Method,
        path: &str,
        p: Permission,
        route: MethodRouter<Arc<AppState>>,
    ) -> Routes {
        let full = format!("{}{}", self.prefix, path);
        let surface = self.surface;
        let route = route.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| super::auth::check(p, surface, req, next),
        ));
        self.router = self.router.route(&full, route);
        self.table.push(RouteInfo {
            method,
            path: full,
            permission: p,
            page: matches!(self.surface, Surface::Pages { .. }),
            bodies: None,
        });
        self
    }

    /// The last route added reads a JSON `Req` and answers a JSON `Res`.
    pub fn json<Req: schemars::JsonSchema, Res: schemars::JsonSchema>(self) -> Routes {
        self.bodies(Some(Media::json::<Req>()), Some(Media::json::<Res>()))
    }

    /// The last route added reads no body and answers a JSON `Res`.
    pub fn answers<Res: schemars::JsonSchema>(self) -> Routes {
        self.bodies(None, Some(Media::json::<Res>()))
    }

    /// The last route added reads `request` and answers `response` (either
    /// may be none, or not JSON: a CSV file, text, an empty 204).
    pub fn bodies(mut self, request: Option<Media>, response: Option<Media>) -> Routes {
        if let Some(last) = self.table.last_mut() {
            last.bodies = Some(Bodies { request, response });
        }
        self
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }

    /// The router and the table, for `server` to serve and publish.
    pub fn into_parts(self) -> (Router<Arc<AppState>>, Vec<RouteInfo>) {
        (self.router, self.table)
    }
}

#[cfg(test)]
mod tests {
    /// The surfaces add routes only through [`super::Routes`]: none of them
    /// names axum's router or adds a route of its own.
    #[test]
    fn the_surfaces_have_no_raw_router() {
        for (file, text) in [
            ("api.rs", include_str!("../api.rs")),
            ("api/people.rs", include_str!("../api/people.rs")),
            ("web/mod.rs", include_str!("../web/mod.rs")),
            ("web/account.rs", include_str!("../web/account.rs")),
            ("web/export/mod.rs", include_str!("../web/export/mod.rs")),
            ("web/search.rs", include_str!("../web/search.rs")),
            ("api/search.rs", include_str!("../api/search.rs")),
            ("warnings/http.rs", include_str!("../warnings/http.rs")),
        ] {
            for raw in ["Router", ".route(", ".nest(", "route_service"] {
                assert!(
                    !text.contains(raw),
                    "{file} uses {raw}: add routes through http::Routes"
                );
            }
        }
    }
}
