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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub method: Method,
    /// As axum matches it, `{name}` for a path parameter.
    pub path: String,
    pub permission: Permission,
    /// A page (refusals redirect to `/login` or show a page) rather than
    /// the JSON API.
    pub page: bool,
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
        });
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
