//! Signing in and out, and a person's own account: `/login` (登录名/密码,
//! the refusal next to the field it is about), `/logout`, `/account` (who I
//! am, my password, my API tokens).
//!
//! The session itself (cookie, store, expiry) is `http::auth`'s and the
//! accounts' (`crate::accounts`); these handlers only ask them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use fundsync_protocol::ErrorCode;
use maud::{html, Markup};
use serde::Deserialize;
use tower_sessions::Session;

use super::form::{field, post_form, submit, Field, FieldError, InputKind};
use super::layout::{page, Chrome, Nav};
use super::text::{datetime, Lang};
use super::{Ctx, WebError};
use crate::access::Permission;
use crate::accounts::{LoginError, SecurityEvent, User};
use crate::http::auth::{safe_next, see_other, start_session, Caller};
use crate::http::{ApiError, AppState, Routes};

type S = State<Arc<AppState>>;

/// The login and account pages, added to the other pages.
pub fn routes(r: Routes) -> Routes {
    use Permission as P;
    r.get("/login", P::Public, login_page)
        .post("/login", P::Public, login_submit)
        .post("/logout", P::SignedIn, logout)
        .get("/account", P::SignedIn, account_page)
        .post("/account/password", P::SignedIn, change_password)
        .post("/account/tokens", P::SignedIn, create_token)
        .post("/account/tokens/{id}/revoke", P::SignedIn, revoke_token)
}

/// The login form as typed, and why it was refused.
#[derive(Debug, Default)]
pub struct LoginView {
    pub login: String,
    pub next: String,
    pub login_error: Option<FieldError>,
    pub password_error: Option<FieldError>,
}

/// The login page.
pub fn login_render(c: &Chrome, v: &LoginView) -> Markup {
    let l = c.lang;
    let body = html! {
        div class="card" {
            form class="stack" method="post" action="/login" {
                input type="hidden" name="next" value=(v.next);
                (field(l, &Field::input("login", l.t("登录名", "Login"), InputKind::Text)
                    .value(&v.login).required().error(v.login_error.as_ref())))
                (field(l, &Field::input("password", l.t("密码", "Password"), InputKind::Password)
                    .required().error(v.password_error.as_ref())))
                div { (submit(l.t("登录", "Sign in"))) }
            }
        }
    };
    page(c, Nav::None, l.t("登录", "Sign in"), body)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login_page(ctx: Ctx) -> Response {
    let v = LoginView {
        next: safe_next(ctx.param("next")),
        ..LoginView::default()
    };
    let r = Ok(login_render(&ctx.chrome, &v));
    ctx.respond(r)
}

/// HH:MM in China Standard Time.
fn hh_mm(ms: i64) -> String {
    let t = datetime(ms);
    t.get(11..16).unwrap_or(&t).to_owned()
}

async fn login_submit(
    ctx: Ctx,
    State(s): S,
    session: Session,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    // Login CSRF: another site's form must not sign a browser in to an
    // account of the attacker's choosing. There is no session yet to hold a
    // token, so the browser's own word on where the form came from decides.
    if let Some(why) = cross_site(&headers) {
        tracing::debug!(why, "sign-in form from another site refused");
        return ctx.respond(Err(WebError {
            error: ApiError::new(StatusCode::FORBIDDEN, ErrorCode::CsrfFailed, why),
            zh: "登录表单来自其他网站，已拒绝；请在本系统的登录页登录",
            en: "The sign-in form came from another site; sign in on this site's page",
        }));
    }
    let next = safe_next(Some(&f.next));
    let login = f.login.trim().to_owned();
    let mut view = LoginView {
        login: login.clone(),
        next: next.clone(),
        ..LoginView::default()
    };
    let (status, why) = match s.accounts.authenticate(&login, &f.password, ctx.addr).await {
        Ok(user) => {
            if let Err(e) = start_session(&s, &session, &user).await {
                return ctx.respond(Err(internal(e)));
            }
            return see_other(&next);
        }
        Err(LoginError::BadCredentials) => {
            view.password_error = Some(FieldError::new(
                "用户名或密码错误",
                "Wrong login or password",
            ));
            (StatusCode::UNAUTHORIZED, "bad credentials")
        }
        Err(LoginError::Locked { until_ms }) => {
            let at = hh_mm(until_ms);
            view.login_error = Some(FieldError::new(
                format!("账户已锁定，请于 {at} 后重试"),
                format!("The account is locked; try again after {at}"),
            ));
            (StatusCode::TOO_MANY_REQUESTS, "locked")
        }
        Err(LoginError::Disabled) => {
            view.login_error = Some(FieldError::new("账户已停用", "The account is disabled"));
            (StatusCode::FORBIDDEN, "disabled")
        }
        #[allow(unreachable_patterns)]
        Err(e) => return ctx.respond(Err(internal(e))),
    };
    tracing::debug!(login, why, "sign-in refused");
    let markup = login_render(&ctx.chrome, &view);
    let mut r = ctx.respond(Ok(markup));
    *r.status_mut() = status;
    r
}

/// Why a form post came from another site, if it did: `Sec-Fetch-Site`
/// says so, or `Origin` names another host than the one asked. A client that
/// sends neither (a script, an old browser) is let through: forging needs a
/// victim's browser, and browsers send `Origin` with every form post.
fn cross_site(h: &HeaderMap) -> Option<&'static str> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Some("Sec-Fetch-Site is not same-origin");
        }
    }
    let origin = get("origin")?;
    if origin == "null" {
        return Some("Origin is null");
    }
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    match get("host") {
        Some(host) if host.eq_ignore_ascii_case(origin_host) => None,
        _ => Some("Origin is another host"),
    }
}

async fn logout(
    ctx: Ctx,
    State(s): S,
    session: Session,
    caller: axum::Extension<Caller>,
) -> Response {
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "cannot end a session");
    }
    s.accounts.record(SecurityEvent::LoggedOut {
        login: caller.user.login.clone(),
        addr: ctx.addr.to_string(),
    });
    see_other("/login")
}

/// What the account page shows besides the user.
#[derive(Debug, Default)]
pub struct AccountView {
    pub tokens: Vec<TokenRow>,
    /// A token just created: its secret, shown this once.
    pub new_secret: Option<(String, String)>,
    pub password_error: Option<FieldError>,
    pub password_changed: bool,
    pub token_error: Option<FieldError>,
}

/// One of the user's API tokens.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub expires_ms: i64,
}

/// The account page.
pub fn account_render(c: &Chrome, u: &User, v: &AccountView) -> Markup {
    let l = c.lang;
    let csrf = c.who.as_ref().map(|w| w.csrf.as_str()).unwrap_or("");
    let body = html! {
        div class="card" {
            dl class="grid" {
                dt { (l.t("姓名", "Name")) } dd { (u.name) }
                dt { (l.t("登录名", "Login")) } dd { (u.login) }
                dt { (l.t("角色", "Roles")) }
                dd {
                    @for (i, r) in u.roles.iter().enumerate() {
                        @if i > 0 { "、" }
                        (match l { Lang::Zh => r.zh(), Lang::En => r.as_str() })
                    }
                }
                dt { (l.t("科室", "Department")) }
                dd { (u.department.as_deref().unwrap_or("—")) }
                dt { (l.t("涉密资金", "Classified funds")) }
                dd { (if u.classified { l.t("已授权", "granted") } else { l.t("未授权", "not granted") }) }
            }
        }
        h2 { (l.t("修改密码", "Change my password")) }
        @if v.password_changed {
            div class="note" { (l.t("密码已修改，其他会话已退出。", "Password changed; your other sessions were ended.")) }
        }
        div class="card" {
            (post_form("/account/password", csrf, html! {
                div class="stack" {
                    (field(l, &Field::input("old", l.t("原密码", "Current password"), InputKind::Password).required()))
                    (field(l, &Field::input("new", l.t("新密码", "New password"), InputKind::Password)
                        .required().error(v.password_error.as_ref())))
                    (field(l, &Field::input("again", l.t("再次输入新密码", "New password again"), InputKind::Password).required()))
                    div { (submit(l.t("修改密码", "Change password"))) }
                }
            }))
        }
        h2 { (l.t("API 令牌", "API tokens")) }
        @if let Some((name, secret)) = &v.new_secret {
            div class="note" {
                p { (l.t("新令牌", "New token")) " " b { (name) } " " (l.t("（仅显示这一次，请妥善保存）：", "(shown this once; keep it safe):")) }
                p class="secret" { (secret) }
            }
        }
        @if v.tokens.is_empty() {
            p class="muted" { (l.t("暂无令牌。", "No tokens.")) }
        } @else {
            table {
                thead { tr {
                    th { (l.t("名称", "Name")) }
                    th { (l.t("到期", "Expires")) }
                    th {}
                } }
                tbody {
                    @for t in &v.tokens {
                        tr {
                            td { (t.name) }
                            td { (datetime(t.expires_ms)) }
                            td {
                                (post_form(&format!("/account/tokens/{}/revoke", t.id), csrf,
                                    submit(l.t("吊销", "Revoke"))))
                            }
                        }
                    }
                }
            }
        }
        div class="card" {
            (post_form("/account/tokens", csrf, html! {
                div class="stack" {
                    (field(l, &Field::input("name", l.t("令牌名称", "Token name"), InputKind::Text)
                        .required().error(v.token_error.as_ref())))
                    (field(l, &Field::input("days", l.t("有效天数", "Valid for (days)"), InputKind::Number).value("90").required()))
                    div { (submit(l.t("创建令牌", "Create token"))) }
                }
            }))
        }
    };
    page(c, Nav::Account, l.t("我的账户", "My account"), body)
}

async fn account_view(s: &AppState, u: &User, mut v: AccountView) -> Result<AccountView, WebError> {
    v.tokens = s
        .accounts
        .tokens(u.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.to_string(),
            name: t.name,
            expires_ms: t.expires_ms,
        })
        .collect();
    Ok(v)
}

fn internal(e: impl std::fmt::Display) -> WebError {
    tracing::error!(error = %e, "accounts failure");
    WebError {
        error: ApiError::internal(),
        zh: "内部错误，请查看节点日志",
        en: "Internal error; see the node's log",
    }
}

async fn show_account(ctx: Ctx, s: &AppState, caller: &Caller, v: AccountView) -> Response {
    let r = account_view(s, &caller.user, v)
        .await
        .map(|v| account_render(&ctx.chrome, &caller.user, &v));
    ctx.respond(r)
}

async fn account_page(ctx: Ctx, State(s): S, caller: axum::Extension<Caller>) -> Response {
    let v = AccountView {
        password_changed: ctx.param("changed").is_some(),
        ..AccountView::default()
    };
    show_account(ctx, &s, &caller, v).await
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    old: String,
    new: String,
    again: String,
}

async fn change_password(
    ctx: Ctx,
    State(s): S,
    session: Session,
    caller: axum::Extension<Caller>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let mut v = AccountView::default();
    if f.new != f.again {
        v.password_error = Some(FieldError::new(
            "两次输入的新密码不一致",
            "The new passwords differ",
        ));
    } else {
        match s
            .accounts
            .change_password(caller.user.id, &f.old, &f.new)
            .await
        {
            Ok(()) => {
                // Every other session of this user ends; this one goes on
                // under a new id.
                if let Err(e) = s.accounts.end_sessions_of(caller.user.id).await {
                    tracing::error!(error = %e, "cannot end sessions");
                }
                if let Err(e) = start_session(&s, &session, &caller.user).await {
                    tracing::error!(error = %e, "cannot start a session");
                }
                return see_other("/account?changed=1");
            }
            Err(e) if e.code() == fundsync_protocol::ErrorCode::Internal => {
                return ctx.respond(Err(internal(e)));
            }
            Err(e) => {
                v.password_error = Some(FieldError::new(e.zh(), e.to_string()));
            }
        }
    }
    let mut r = show_account(ctx, &s, &caller, v).await;
    if r.status() == StatusCode::OK {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    name: String,
    days: String,
}

async fn create_token(
    ctx: Ctx,
    State(s): S,
    caller: axum::Extension<Caller>,
    Form(f): Form<TokenForm>,
) -> Response {
    let mut v = AccountView::default();
    let name = f.name.trim();
    match f.days.trim().parse::<u32>() {
        Ok(days) if !name.is_empty() => {
            match s
                .accounts
                .create_token(caller.user.id, name, Some(days))
                .await
            {
                Ok(t) => v.new_secret = Some((name.to_owned(), t.secret.to_string())),
                Err(e) => v.token_error = Some(FieldError::new(e.zh(), e.to_string())),
            }
        }
        _ => {
            v.token_error = Some(FieldError::new(
                "请填写名称和有效天数",
                "Give a name and a number of days",
            ))
        }
    }
    show_account(ctx, &s, &caller, v).await
}

async fn revoke_token(
    ctx: Ctx,
    State(s): S,
    caller: axum::Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse() else {
        return ctx.respond(Err(WebError::bad_param("id", &id)));
    };
    if let Err(e) = s.accounts.revoke_token(caller.user.id, id).await {
        return ctx.respond(Err(internal(e)));
    }
    see_other("/account")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn sign_in_forms_from_another_site_are_told_apart() {
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(cross_site(&same), None);
        let script = headers(&[("host", "127.0.0.1:8080")]);
        assert_eq!(cross_site(&script), None);
        let typed = headers(&[("host", "x"), ("sec-fetch-site", "none")]);
        assert_eq!(cross_site(&typed), None);
        let other = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert!(cross_site(&other).is_some());
        let null = headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]);
        assert!(cross_site(&null).is_some());
        let fetch = headers(&[
            ("host", "h"),
            ("origin", "http://h"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(cross_site(&fetch).is_some());
    }
}
