//! Who is calling, and may they: the authentication layer on the API
//! listener and the permission check every route is wrapped in.
//!
//! [`authenticate`] (outer, once per request) resolves the caller, from an
//! `Authorization: Bearer` token (scripts) or else the session cookie
//! (people; `tower-sessions` over the node's database, see
//! `crate::accounts`), and puts an [`Authn`] into the request's extensions.
//! It refuses nothing by itself: what a route needs is the route's to say.
//!
//! [`check`] (inner, per route, added by [`super::Routes`]) compares the
//! caller's roles with the route's [`Permission`]: a public route passes; no
//! caller is 401 (pages: 303 to `/login?next=…`); a caller without the
//! permission is 403 naming it, recorded as a security event; a state-changing
//! request made with a session cookie must carry the session's CSRF token
//! (form field `csrf_token`, header `X-CSRF-Token`, or for a multipart upload
//! the body's first part, `csrf_token`, read without reading the file;
//! never the URL, which logs and `Referer`s keep; bearer requests are
//! exempt, no browser sends those by itself). A permitted request gets the
//! [`Actor`] the journal will name ([`super::Acting`]) and the [`User`] (for
//! department and 涉密 scope checks) in its extensions. Refusals of a
//! signed-in caller go to the accounts' security log
//! (`SecurityEvent::PermissionDenied`; `csrf` as the permission for a
//! missing CSRF token).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fundsync_protocol::{Actor, ErrorCode};
use tower_sessions::Session;

use super::{ApiError, AppState};
use crate::access::{Permission, Role};
use crate::accounts::{SecurityEvent, User};
use crate::net::Peer;

/// How a surface answers a request it refuses: the API with the JSON
/// `{error, message}` body; the pages with a redirect to the login page
/// (no caller) or a page of their own (`refuse`: a Chinese 403 page).
#[derive(Debug, Clone, Copy)]
pub enum Surface {
    Api,
    Pages { refuse: PageRefusal },
}

/// Renders a page's refusal (403, or any other [`ApiError`]) for the
/// request it refuses.
pub type PageRefusal = fn(&axum::http::request::Parts, &AppState, &ApiError) -> Response;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "fundsync_session";
/// The session record's keys: the user (the accounts' store indexes it, so
/// that disabling a user ends their sessions), when they signed in, the CSRF
/// token, and when the session was last seen (to move its idle expiry).
pub const USER_ID_KEY: &str = "user_id";
const LOGIN_MS_KEY: &str = "login_ms";
const CSRF_KEY: &str = "csrf";
const SEEN_MS_KEY: &str = "seen_ms";
/// The form field and the header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The largest form body read to find its CSRF token.
const FORM_BYTES_MAX: usize = 1024 * 1024;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
}

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub via: Via,
    /// The session's CSRF token (sessions only).
    pub csrf: Option<String>,
    /// The client's address: the socket peer.
    pub addr: IpAddr,
}

impl Caller {
    /// Whether any of the caller's roles grants `p`.
    pub fn may(&self, p: Permission) -> bool {
        p.granted_by(&self.user.roles)
    }
}

/// What [`authenticate`] found: a caller, or nobody and why.
#[derive(Debug, Clone)]
pub enum Authn {
    Caller(Box<Caller>),
    /// `why`: what to tell a refused anonymous caller beyond "sign in".
    Anonymous {
        why: Option<&'static str>,
    },
}

impl Authn {
    pub fn caller(&self) -> Option<&Caller> {
        match self {
            Authn::Caller(c) => Some(c),
            Authn::Anonymous { .. } => None,
        }
    }
}

/// Records a refusal of a signed-in caller (a permission they lack, a
/// missing CSRF token) in the accounts' security log, whose hook
/// (`accounts::SecurityLog`) decides where it goes.
fn refused_event(s: Option<&AppState>, caller: &Caller, permission: &str, path: &str) {
    let e = SecurityEvent::PermissionDenied {
        login: caller.user.login.clone(),
        addr: caller.addr.to_string(),
        permission: permission.to_owned(),
        path: path.to_owned(),
    };
    match s {
        Some(s) => s.accounts.record(e),
        None => tracing::warn!(target: "security", event = ?e, "refused"),
    }
}

/// The client's address: the socket's peer (no proxy header is trusted).
pub fn client_addr(req: &axum::http::request::Parts) -> IpAddr {
    req.extensions
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0 .0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The state the permission check needs, carried to it by [`authenticate`]
/// (the per-route layers are built before the state exists).
#[derive(Debug, Clone)]
struct Shared(Arc<AppState>);

/// The outer layer: resolves the caller (see the module's documentation).
/// Needs the session layer outside it.
pub async fn authenticate(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let addr = client_addr(&parts);
    let authn = resolve(&s, &parts, addr).await;
    parts.extensions.insert(authn);
    parts.extensions.insert(Shared(s));
    next.run(Request::from_parts(parts, body)).await
}

async fn resolve(s: &AppState, parts: &axum::http::request::Parts, addr: IpAddr) -> Authn {
    if let Some(h) = parts.headers.get(header::AUTHORIZATION) {
        let secret = h
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(secret) = secret else {
            return Authn::Anonymous {
                why: Some("malformed Authorization header; send `Authorization: Bearer <token>`"),
            };
        };
        return match s.accounts.token_user(secret).await {
            Ok(Some(user)) if !user.disabled => Authn::Caller(Box::new(Caller {
                user,
                via: Via::Token,
                csrf: None,
                addr,
            })),
            Ok(_) => Authn::Anonymous {
                why: Some("the bearer token is unknown, expired or revoked"),
            },
            Err(e) => {
                tracing::error!(error = %e, "token look-up failed");
                Authn::Anonymous { why: None }
            }
        };
    }
    let Some(session) = parts.extensions.get::<Session>() else {
        return Authn::Anonymous { why: None };
    };
    match from_session(s, session).await {
        Ok(Some((user, csrf))) => Authn::Caller(Box::new(Caller {
            user,
            via: Via::Session,
            csrf: Some(csrf),
            addr,
        })),
        Ok(None) => Authn::Anonymous { why: None },
        Err(why) => {
            // Expired, disabled or unreadable: the session ends here.
            if let Err(e) = session.flush().await {
                tracing::warn!(error = %e, "cannot end a session");
            }
            Authn::Anonymous { why: Some(why) }
        }
    }
}

/// The session's user and CSRF token; `None` without a signed-in session;
/// `Err` when it must end.
async fn from_session(
    s: &AppState,
    session: &Session,
) -> Result<Option<(User, String)>, &'static str> {
    let unreadable = |e: tower_sessions::session::Error| {
        tracing::warn!(error = %e, "cannot read a session");
        "the session could not be read; sign in again"
    };
    let Some(user_id) = session.get(USER_ID_KEY).await.map_err(unreadable)? else {
        return Ok(None);
    };
    let now = s.ledger.clock().now_ms();
    let login_ms: i64 = session
        .get(LOGIN_MS_KEY)
        .await
        .map_err(unreadable)?
        .unwrap_or(0);
    if now.saturating_sub(login_ms) > i64::try_from(s.session_absolute_ms).unwrap_or(i64::MAX) {
        return Err("the session has expired; sign in again");
    }
    let user = match s.accounts.user_by_id(user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err("the account no longer exists"),
        Err(e) => {
            tracing::error!(error = %e, "user look-up failed");
            return Ok(None);
        }
    };
    if user.disabled {
        return Err("the account is disabled");
    }
    let csrf: String = session
        .get(CSRF_KEY)
        .await
        .map_err(unreadable)?
        .ok_or("the session has no CSRF token; sign in again")?;
    // Touch the session now and then, so its idle expiry moves (an
    // unchanged session is not saved again).
    let seen: i64 = session
        .get(SEEN_MS_KEY)
        .await
        .map_err(unreadable)?
        .unwrap_or(0);
    let every = i64::try_from(s.session_idle_ms / 10).unwrap_or(i64::MAX);
    if now.saturating_sub(seen) >= every {
        session.insert(SEEN_MS_KEY, now).await.map_err(unreadable)?;
    }
    Ok(Some((user, csrf)))
}

/// Starts a signed-in session for `user` on `session` (after the password
/// was checked): a new session id, so one planted before the login is
/// worth nothing, the login time and a fresh CSRF token.
pub async fn start_session(
    s: &AppState,
    session: &Session,
    user: &User,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    let now = s.ledger.clock().now_ms();
    session.insert(USER_ID_KEY, user.id).await?;
    session.insert(LOGIN_MS_KEY, now).await?;
    session.insert(SEEN_MS_KEY, now).await?;
    session.insert(CSRF_KEY, new_csrf_token()).await?;
    Ok(())
}

fn new_csrf_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The role a permitted caller acts in: the first of theirs that grants
/// `p`.
pub fn acting_role(roles: &[Role], p: Permission) -> Option<Role> {
    roles.iter().copied().find(|r| r.permits(p))
}

fn changes_something(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The per-route check (see the module's documentation).
pub async fn check(p: Permission, surface: Surface, req: Request, next: Next) -> Response {
    if p == Permission::Public {
        return next.run(req).await;
    }
    let authn = req
        .extensions()
        .get::<Authn>()
        .cloned()
        .unwrap_or(Authn::Anonymous { why: None });
    let caller = match authn {
        Authn::Caller(c) => c,
        Authn::Anonymous { why } => return unauthenticated(surface, req, why),
    };
    let shared = req.extensions().get::<Shared>().cloned();
    let state = shared.as_ref().map(|s| &*s.0);
    let Some(role) = acting_role(&caller.user.roles, p) else {
        refused_event(
            state,
            &caller,
            &p.to_string(),
            &format!("{} {}", req.method(), req.uri().path()),
        );
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "your roles do not grant the permission {p} ({}) this needs",
                p.zh()
            ),
        );
        return refuse(surface, req, e);
    };
    let mut req = req;
    if caller.via == Via::Session && changes_something(req.method()) {
        let expected = caller.csrf.clone().unwrap_or_default();
        req = match with_csrf(req, &expected).await {
            Ok(r) => r,
            Err((req, e)) => {
                refused_event(
                    state,
                    &caller,
                    "csrf",
                    &format!("{} {}", req.method(), req.uri().path()),
                );
                return refuse(surface, req, e);
            }
        };
    }
    let actor: Actor = caller.user.actor(role, &caller.addr.to_string());
    req.extensions_mut().insert(actor.clone());
    req.extensions_mut().insert(caller.user.clone());
    req.extensions_mut().insert(*caller);
    // Account changes made by this request (an administrator disabling a
    // user) are attributed to the caller in the security log.
    crate::accounts::ACTING.scope(actor, next.run(req)).await
}

/// The request, if it carries `expected` as its CSRF token (header, or
/// field of a form body, which is read and put back).
async fn with_csrf(req: Request, expected: &str) -> Result<Request, (Request, ApiError)> {
    let failed = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::CsrfFailed,
            "missing or wrong CSRF token: reload the page and try again \
             (scripts: send X-CSRF-Token, or use a bearer token)",
        )
    };
    if let Some(h) = req.headers().get(CSRF_HEADER) {
        if !expected.is_empty() && same(h.as_bytes(), expected.as_bytes()) {
            return Ok(req);
        }
        return Err((req, failed()));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A file upload without script cannot set a header, and its body is too
    // large to read twice: its form puts the token first, and only that
    // part is read here (at most `MULTIPART_CSRF_BYTES_MAX`), then put back
    // in front of the rest of the body, which streams on to the handler.
    if content_type.starts_with("multipart/form-data") {
        let Some(boundary) = boundary_of(content_type) else {
            return Err((req, failed()));
        };
        let (parts, body) = req.into_parts();
        let mut stream = body.into_data_stream();
        let mut prefix: Vec<u8> = Vec::new();
        let ok = loop {
            match first_field(&prefix, &boundary, CSRF_FIELD) {
                Scan::Found(v) => break !expected.is_empty() && same(v, expected.as_bytes()),
                Scan::Absent => break false,
                Scan::More if prefix.len() >= MULTIPART_CSRF_BYTES_MAX => break false,
                Scan::More => match tokio_stream::StreamExt::next(&mut stream).await {
                    Some(Ok(chunk)) => prefix.extend_from_slice(&chunk),
                    _ => break false,
                },
            }
        };
        let head = tokio_stream::once(Ok::<_, axum::Error>(axum::body::Bytes::from(prefix)));
        let body = Body::from_stream(tokio_stream::StreamExt::chain(head, stream));
        let req = Request::from_parts(parts, body);
        return if ok { Ok(req) } else { Err((req, failed())) };
    }
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    if !form {
        return Err((req, failed()));
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "request body is too large",
            );
            return Err((Request::from_parts(parts, Body::empty()), e));
        }
    };
    let ok = !expected.is_empty()
        && form_urlencoded::parse(&bytes)
            .any(|(k, v)| k == CSRF_FIELD && same(v.as_bytes(), expected.as_bytes()));
    let req = Request::from_parts(parts, Body::from(bytes));
    if ok {
        Ok(req)
    } else {
        Err((req, failed()))
    }
}

/// Most bytes of a multipart body read to find its CSRF part.
const MULTIPART_CSRF_BYTES_MAX: usize = 8 * 1024;

/// The `boundary` parameter of a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.eq_ignore_ascii_case("boundary") && !v.is_empty()).then(|| v.to_owned())
    })
}

/// What the start of a multipart body says of its first part.
#[derive(Debug, PartialEq, Eq)]
enum Scan<'a> {
    /// Not enough bytes yet.
    More,
    /// The first part is the field named so, with this value.
    Found(&'a [u8]),
    /// The first part is something else, or the body is not multipart.
    Absent,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether the multipart body beginning with `buf` opens with the field
/// `name`, and its value.
fn first_field<'a>(buf: &'a [u8], boundary: &str, name: &str) -> Scan<'a> {
    let open = format!("--{boundary}\r\n");
    if buf.len() < open.len() {
        return if open.as_bytes().starts_with(buf) {
            Scan::More
        } else {
            Scan::Absent
        };
    }
    let Some(rest) = buf.strip_prefix(open.as_bytes()) else {
        return Scan::Absent;
    };
    let Some(end) = find(rest, b"\r\n\r\n") else {
        return Scan::More;
    };
    let headers = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
    let wanted = format!("name=\"{name}\"");
    let named = headers
        .split("\r\n")
        .any(|h| h.starts_with("content-disposition:") && h.split(';').any(|p| p.trim() == wanted));
    if !named {
        return Scan::Absent;
    }
    let value = &rest[end + 4..];
    match find(value, format!("\r\n--{boundary}").as_bytes()) {
        Some(i) => Scan::Found(&value[..i]),
        None => Scan::More,
    }
}

/// No caller: 401 for the API, to the login page for a page.
fn unauthenticated(surface: Surface, req: Request, why: Option<&'static str>) -> Response {
    match surface {
        Surface::Api => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            why.unwrap_or("sign in first (session cookie or Authorization: Bearer token)"),
        )
        .into_response(),
        Surface::Pages { .. } => {
            let next = if req.method() == Method::GET {
                req.uri()
                    .path_and_query()
                    .map_or("/".to_owned(), |p| p.as_str().to_owned())
            } else {
                "/".to_owned()
            };
            let to = format!(
                "/login?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish()
            );
            see_other(&to)
        }
    }
}

/// A 303 to a local path.
pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn refuse(surface: Surface, req: Request, e: ApiError) -> Response {
    match surface {
        Surface::Api => e.into_response(),
        Surface::Pages { refuse } => {
            let (parts, _) = req.into_parts();
            match parts.extensions.get::<Shared>().cloned() {
                Some(Shared(s)) => refuse(&parts, &s, &e),
                None => e.into_response(),
            }
        }
    }
}

/// A local path to go to after signing in: `next` if it is one (a single
/// leading `/`, no scheme, no backslash), else the overview.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_part_is_found_only_first_and_whole() {
        let b = "XyZ";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n--{b}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx\r\n--{b}--\r\n"
        );
        let whole = body.as_bytes();
        assert_eq!(first_field(whole, b, CSRF_FIELD), Scan::Found(b"tok"));
        // Arriving a byte at a time, it asks for more until the value ends.
        let end = body.find("tok\r\n--").map_or(0, |i| i + 5);
        for n in 0..end {
            assert_eq!(first_field(&whole[..n], b, CSRF_FIELD), Scan::More, "{n}");
        }
        // Another field first, a similar name, another boundary: absent.
        let file_first = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--{b}\r\n\
             Content-Disposition: form-data; name=\"csrf_token\"\r\n\r\ntok\r\n--{b}--\r\n"
        );
        assert_eq!(
            first_field(file_first.as_bytes(), b, CSRF_FIELD),
            Scan::Absent
        );
        let similar = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf_token2\"\r\n\r\ntok\r\n--{b}--\r\n"
        );
        assert_eq!(first_field(similar.as_bytes(), b, CSRF_FIELD), Scan::Absent);
        assert_eq!(first_field(whole, "other", CSRF_FIELD), Scan::Absent);
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ".to_owned())
        );
        assert_eq!(boundary_of("multipart/form-data"), None);
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            safe_next(Some("/ledger?as_of=2020-12-31")),
            "/ledger?as_of=2020-12-31"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn the_acting_role_is_the_first_that_grants() {
        let roles = [Role::Auditor, Role::Treasury];
        assert_eq!(
            acting_role(&roles, Permission::ReadLedger),
            Some(Role::Auditor)
        );
        assert_eq!(acting_role(&roles, Permission::Pay), Some(Role::Treasury));
        assert_eq!(acting_role(&roles, Permission::ManageNodes), None);
    }
}
