//! Deny by default, checked from outside: a real node on port 0, one user
//! per role (made through `Accounts`), every route of
//! `server::route_table()` asked by nobody and by each role. Then every way
//! in that must be refused: a wrong password, a locked or disabled account,
//! an idle or expired session, a session after logout, a form without or
//! with a wrong CSRF token, a revoked, expired or malformed token, a
//! department officer acting for another department, a reader without the
//! 涉密 grant; each answer checked, and the journal unchanged.

use std::collections::BTreeMap;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::{Permission, Role};
use fundsync_node::accounts::{Accounts, NewUser, User};
use fundsync_node::config::Config;
use fundsync_node::server::route_table;
use fundsync_tests::fixtures::{prefecture, Engine, TestNode};
use fundsync_tests::on_both;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub(crate) const PASSWORD: &str = "Tarim-Poplar-2020-river";
const DAY_MS: i64 = 24 * 3600 * 1000;

pub(crate) fn accounts(node: &TestNode) -> Accounts {
    Accounts::new(
        node.ledger.ledger.db().clone(),
        node.ledger.ledger.clock().clone(),
        node.cfg.accounts.clone(),
    )
}

pub(crate) async fn add_user(
    a: &Accounts,
    login: &str,
    roles: &[Role],
    department: Option<&str>,
    classified: bool,
) -> Result<User> {
    Ok(a.create_user(NewUser {
        login: login.into(),
        name: format!("{login} 的名字"),
        password: PASSWORD.into(),
        department: department.map(str::to_owned),
        roles: roles.to_vec(),
        classified,
    })
    .await?)
}

pub(crate) async fn token(a: &Accounts, u: &User) -> Result<String> {
    Ok(a.create_token(u.id, "test", Some(30))
        .await?
        .secret
        .to_string())
}

/// The journal's heads: what a refused request must leave as it was.
pub(crate) async fn heads(node: &TestNode) -> Result<String> {
    Ok(format!("{:?}", node.ledger.ledger.heads().await?))
}

fn no_redirects() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// A route's path with every `{parameter}` filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every route × {nobody, each role}: nobody gets 401 (pages: 303 to the
/// login page) unless the route is public; a role without the route's
/// permission 403, naming it; a role with it neither. No refused request
/// changes the journal.
async fn every_route_answers_every_role_as_the_table_says(engine: Engine) -> Result<()> {
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let acc = accounts(&node);
    let mut tokens = BTreeMap::new();
    for r in Role::ALL {
        // Granted 涉密, so that only the role decides (the department limit
        // still holds for the department officer: see the journal below).
        let u = add_user(
            &acc,
            &format!("u-{}", r.as_str()),
            &[r],
            Some("农财所"),
            true,
        )
        .await?;
        tokens.insert(r, token(&acc, &u).await?);
    }
    let table = route_table();
    ensure!(table.len() > 40, "only {} routes", table.len());
    // Every permission but the security log's and the export's has a route
    // of its own (the target cycle's since protocol version 5).
    let routeless = [Permission::ReadSecurityLog, Permission::Export];
    for p in Permission::ALL {
        if !routeless.contains(&p) {
            ensure!(
                table.iter().any(|r| r.permission == p),
                "no route needs {p}"
            );
        }
    }
    let http = no_redirects()?;
    let mut asked = 0;
    for route in &table {
        let path = concrete(&route.path);
        let url = node.url(&path);
        let callers: Vec<(Option<Role>, Option<&String>)> = std::iter::once((None, None))
            .chain(tokens.iter().map(|(r, t)| (Some(*r), Some(t))))
            .collect();
        for (role, tok) in callers {
            let before = heads(&node).await?;
            let mut req = http.request(route.method.clone(), &url);
            if let Some(t) = tok {
                req = req.header(AUTHORIZATION, format!("Bearer {t}"));
            }
            if route.method == Method::POST || route.method == Method::DELETE {
                req = if route.page {
                    req.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body("")
                } else {
                    req.json(&json!({}))
                };
            }
            let res = req.send().await?;
            let status = res.status();
            let location = res
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = res.text().await?;
            let who = role.map_or("nobody", Role::as_str);
            let what = format!("{} {} as {who}", route.method, route.path);
            asked += 1;
            let permitted = match role {
                None => route.permission == Permission::Public,
                Some(r) => route.permission.granted_by(&[r]),
            };
            // The raw journal holds every category: a reader limited to
            // one department is refused it by scope, not by role.
            if permitted && role == Some(Role::Department) && route.path == "/api/v1/journal" {
                ensure!(
                    status == StatusCode::FORBIDDEN && body.contains("read the lists instead"),
                    "{what}: {status} {body}"
                );
                continue;
            }
            if permitted {
                ensure!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{what}: {status} {body}"
                );
                continue;
            }
            match (role, route.page) {
                (None, false) => {
                    let v: Value = serde_json::from_str(&body).with_context(|| what.clone())?;
                    ensure!(
                        status == StatusCode::UNAUTHORIZED && v["error"] == "unauthenticated",
                        "{what}: {status} {v}"
                    );
                    ensure!(
                        v["message"].as_str().is_some_and(|m| !m.is_empty()),
                        "{what}: {v}"
                    );
                }
                (None, true) => ensure!(
                    status == StatusCode::SEE_OTHER && location.starts_with("/login?next="),
                    "{what}: {status} to {location:?}"
                ),
                (Some(_), false) => {
                    let v: Value = serde_json::from_str(&body).with_context(|| what.clone())?;
                    ensure!(
                        status == StatusCode::FORBIDDEN
                            && v["error"] == "forbidden"
                            && v["message"]
                                .as_str()
                                .is_some_and(|m| m.contains(&route.permission.to_string())),
                        "{what}: {status} {v}"
                    );
                }
                (Some(_), true) => ensure!(
                    status == StatusCode::FORBIDDEN && body.contains("您的角色无权访问此页"),
                    "{what}: {status} {body}"
                ),
            }
            ensure!(heads(&node).await? == before, "{what} changed the journal");
        }
    }
    ensure!(asked == table.len() * 8);
    node.stop().await
}

/// A person's HTTP client: the session cookie kept by hand, no redirects
/// followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(node: &TestNode) -> Result<Browser> {
        Ok(Browser {
            http: no_redirects()?,
            base: node.base.clone(),
            cookie: None,
        })
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some(value) = pair.strip_prefix("fundsync_session=") {
                // A removal has an empty value (a Max-Age of 0 alone is a
                // session shorter than a second, as the idle test makes).
                let gone = value.is_empty();
                self.cookie = (!gone).then(|| pair.to_owned());
            }
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<(StatusCode, String, String)> {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c),
            None => req,
        };
        let res = req.send().await?;
        self.keep(&res);
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok((status, location, res.text().await?))
    }

    async fn get(&mut self, path: &str) -> Result<(StatusCode, String, String)> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn form(
        &mut self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> Result<(StatusCode, String, String)> {
        let req = self.http.post(format!("{}{path}", self.base)).form(pairs);
        self.send(req).await
    }

    async fn login(&mut self, login: &str, password: &str) -> Result<(StatusCode, String, String)> {
        self.form(
            "/login",
            &[
                ("login", login),
                ("password", password),
                ("next", "/account"),
            ],
        )
        .await
    }

    /// The session's CSRF token, as the account page's forms carry it.
    async fn csrf(&mut self) -> Result<String> {
        let (s, _, body) = self.get("/account").await?;
        ensure!(s == StatusCode::OK, "/account: {s}");
        let at = body
            .find("name=\"csrf_token\" value=\"")
            .context("a form with the CSRF field")?;
        let rest = &body[at + "name=\"csrf_token\" value=\"".len()..];
        Ok(rest[..rest.find('"').context("end of the value")?].to_owned())
    }
}

async fn start(engine: Engine, tweak: impl FnOnce(&mut Config)) -> Result<(TestNode, Accounts)> {
    let node = TestNode::start_with(engine, &prefecture(), |c| {
        c.accounts.lock_failures = 3;
        tweak(c);
    })
    .await?;
    let acc = accounts(&node);
    Ok((node, acc))
}

async fn a_person_signs_in_and_out_and_is_refused_with_the_reason_by_the_field(
    engine: Engine,
) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    add_user(&acc, "wang", &[Role::Lead], Some("农财所"), false).await?;
    add_user(&acc, "li", &[Role::Lead], None, false).await?;
    acc.set_disabled("li", true).await?;
    let mut b = Browser::new(&node)?;

    // Nobody: the pages send to the login page, keeping where they were.
    let (s, to, _) = b.get("/ledger?as_of=2020-12-31").await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to == "/login?next=%2Fledger%3Fas_of%3D2020-12-31",
        "{s} {to}"
    );
    let (s, _, page) = b.get("/login?next=%2Fledger").await?;
    ensure!(
        s == StatusCode::OK && page.contains("登录名") && page.contains("密码"),
        "{page}"
    );
    ensure!(page.contains("value=\"/ledger\""), "next is kept: {page}");

    // A wrong password: said next to the password, no session.
    let (s, _, page) = b.login("wang", "not-the-password-at-all").await?;
    ensure!(
        s == StatusCode::UNAUTHORIZED && page.contains("用户名或密码错误"),
        "{s} {page}"
    );
    ensure!(b.cookie.is_none() || b.get("/").await?.0 == StatusCode::SEE_OTHER);
    // Disabled: said next to the login.
    let (s, _, page) = b.login("li", PASSWORD).await?;
    ensure!(
        s == StatusCode::FORBIDDEN && page.contains("账户已停用"),
        "{s} {page}"
    );

    // Signed in: the overview with the name, the way out, the roles' menu.
    let (s, to, _) = b.login("wang", PASSWORD).await?;
    ensure!(s == StatusCode::SEE_OTHER && to == "/account", "{s} {to}");
    let (s, _, page) = b.get("/").await?;
    ensure!(
        s == StatusCode::OK && page.contains("wang 的名字") && page.contains("退出"),
        "{page}"
    );
    ensure!(
        page.contains("牵头科室") && page.contains(">总台账</a>"),
        "{page}"
    );
    let (s, _, me) = b.get("/api/v1/me").await?;
    let me: Value = serde_json::from_str(&me)?;
    ensure!(
        s == StatusCode::OK && me["login"] == "wang" && me["via"] == "session",
        "{me}"
    );

    // Out: the session is gone, and the old cookie is worth nothing.
    let old = b.cookie.clone();
    let csrf = b.csrf().await?;
    let (s, _, page) = b.form("/logout", &[]).await?;
    ensure!(
        s == StatusCode::FORBIDDEN && page.contains("表单已过期"),
        "logout without CSRF: {s}"
    );
    let (s, to, _) = b.form("/logout", &[("csrf_token", &csrf)]).await?;
    ensure!(s == StatusCode::SEE_OTHER && to == "/login", "{s} {to}");
    b.cookie = old;
    let (s, to, _) = b.get("/").await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to.starts_with("/login"),
        "after logout: {s} {to}"
    );
    let (s, _, v) = b.get("/api/v1/me").await?;
    ensure!(
        s == StatusCode::UNAUTHORIZED && v.contains("unauthenticated"),
        "{s} {v}"
    );

    // Locked after three failures: said with the time, even with the right
    // password, and nothing opens.
    for _ in 0..3 {
        b.login("wang", "wrong-wrong-wrong-1").await?;
    }
    let (s, _, page) = b.login("wang", PASSWORD).await?;
    ensure!(
        s == StatusCode::TOO_MANY_REQUESTS && page.contains("账户已锁定，请于"),
        "{s} {page}"
    );
    ensure!(b.get("/").await?.0 == StatusCode::SEE_OTHER);
    node.stop().await
}

async fn only_a_local_next_is_followed_after_login(engine: Engine) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    add_user(&acc, "wang", &[Role::Lead], None, false).await?;
    for (next, to) in [
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/ledger", "/ledger"),
    ] {
        let mut b = Browser::new(&node)?;
        let (s, got, _) = b
            .form(
                "/login",
                &[("login", "wang"), ("password", PASSWORD), ("next", next)],
            )
            .await?;
        ensure!(s == StatusCode::SEE_OTHER && got == to, "{next}: {s} {got}");
    }
    node.stop().await
}

async fn a_session_ends_when_idle_and_when_too_old(engine: Engine) -> Result<()> {
    let (idle_ms, absolute_ms) = (400, 1_000);
    let (node, acc) = start(engine, |c| {
        c.accounts.session_idle_ms = idle_ms;
        c.accounts.session_absolute_ms = absolute_ms;
    })
    .await?;
    add_user(&acc, "wang", &[Role::Lead], None, false).await?;
    let mut b = Browser::new(&node)?;
    b.login("wang", PASSWORD).await?;
    ensure!(b.get("/").await?.0 == StatusCode::OK);
    // Idle: nothing asked for longer than the idle timeout, on the node's
    // clock (which the sessions' store and the login time are read from),
    // so nothing sleeps. Just inside the timeout it still opens.
    let clock = &node.ledger.clock;
    clock.advance(i64::try_from(idle_ms)? - 50);
    ensure!(
        b.get("/").await?.0 == StatusCode::OK,
        "inside the idle timeout"
    );
    clock.advance(i64::try_from(idle_ms)? + 1);
    let (s, to, _) = b.get("/").await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to.starts_with("/login"),
        "idle: {s} {to}"
    );

    // Too old: in use all along, never idle, and still over once the
    // absolute limit has passed since signing in.
    b.cookie = None;
    b.login("wang", PASSWORD).await?;
    for _ in 0..3 {
        clock.advance(300);
        ensure!(
            b.get("/").await?.0 == StatusCode::OK,
            "in use, not too old yet"
        );
    }
    clock.advance(300);
    let (s, to, _) = b.get("/").await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to.starts_with("/login"),
        "expired: {s} {to}"
    );
    node.stop().await
}

async fn a_change_with_a_session_needs_its_csrf_token_and_a_bearer_token_none(
    engine: Engine,
) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    let u = add_user(&acc, "ma", &[Role::AllocationDesk], None, false).await?;
    let tok = token(&acc, &u).await?;
    let mut b = Browser::new(&node)?;
    b.login("ma", PASSWORD).await?;
    let csrf = b.csrf().await?;
    let budget = |doc: &str| json!({"doc_no": doc, "category": "X-05", "amount": "1000.00", "budgeted_on": "2020-01-30"});
    let before = heads(&node).await?;
    for header in [None, Some("wrong")] {
        let mut req = b
            .http
            .post(node.url("/api/v1/own-budgets"))
            .json(&budget("巴财〔2020〕1号"));
        if let Some(h) = header {
            req = req.header("x-csrf-token", h);
        }
        let (s, _, v) = b.send(req).await?;
        let v: Value = serde_json::from_str(&v)?;
        ensure!(
            s == StatusCode::FORBIDDEN && v["error"] == "csrf_failed",
            "{header:?}: {s} {v}"
        );
        ensure!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A form with a wrong token: the Chinese page, nothing changed.
    let (s, _, page) = b
        .form(
            "/account/tokens",
            &[("csrf_token", "wrong"), ("name", "x"), ("days", "3")],
        )
        .await?;
    ensure!(
        s == StatusCode::FORBIDDEN && page.contains("表单已过期"),
        "{s}"
    );
    ensure!(acc.tokens(u.id).await?.len() == 1, "a token was made");
    ensure!(
        heads(&node).await? == before,
        "a refused change changed the journal"
    );
    // With the token: done.
    let req = b
        .http
        .post(node.url("/api/v1/own-budgets"))
        .header("x-csrf-token", &csrf)
        .json(&budget("巴财〔2020〕1号"));
    let (s, _, v) = b.send(req).await?;
    ensure!(s == StatusCode::CREATED, "{s} {v}");
    // A bearer token needs none.
    let r = reqwest::Client::new()
        .post(node.url("/api/v1/own-budgets"))
        .bearer_auth(&tok)
        .json(&budget("巴财〔2020〕2号"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    node.stop().await
}

/// `Authorization: …` on `GET /api/v1/me`: the status and body.
async fn me_with(node: &TestNode, auth: &str) -> Result<(StatusCode, Value)> {
    let r = reqwest::Client::new()
        .get(node.url("/api/v1/me"))
        .header(AUTHORIZATION, auth)
        .send()
        .await?;
    Ok((r.status(), r.json().await?))
}

async fn tokens_are_made_shown_once_listed_and_refused_when_revoked_expired_or_malformed(
    engine: Engine,
) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    let u = add_user(&acc, "zhao", &[Role::Treasury], None, false).await?;
    let first = token(&acc, &u).await?;
    let http = reqwest::Client::new();
    let r = http
        .post(node.url("/api/v1/tokens"))
        .bearer_auth(&first)
        .json(&json!({"name": "import script", "days": 2}))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let made: Value = r.json().await?;
    let second = made["secret"]
        .as_str()
        .context("the secret, once")?
        .to_owned();
    let (s, me) = me_with(&node, &format!("Bearer {second}")).await?;
    ensure!(
        s == StatusCode::OK && me["login"] == "zhao" && me["via"] == "token",
        "{me}"
    );
    let list: Value = http
        .get(node.url("/api/v1/tokens"))
        .bearer_auth(&first)
        .send()
        .await?
        .json()
        .await?;
    ensure!(list.as_array().is_some_and(|a| a.len() == 2), "{list}");
    ensure!(
        !list.to_string().contains(&second),
        "a listed token shows no secret"
    );

    // Revoked.
    let r = http
        .delete(node.url(&format!("/api/v1/tokens/{}", made["id"])))
        .bearer_auth(&first)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::NO_CONTENT, "{}", r.status());
    let (s, v) = me_with(&node, &format!("Bearer {second}")).await?;
    ensure!(
        s == StatusCode::UNAUTHORIZED && v["error"] == "unauthenticated",
        "{v}"
    );
    // Malformed, and unknown.
    for auth in [
        "Basic emhhbzpwdw==",
        "Bearer",
        "Bearer fsk_nothing-like-a-token",
    ] {
        let (s, v) = me_with(&node, auth).await?;
        ensure!(
            s == StatusCode::UNAUTHORIZED
                && v["error"] == "unauthenticated"
                && v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{auth}: {s} {v}"
        );
    }
    // Expired: the node's clock moves past its expiry.
    let short = acc
        .create_token(u.id, "short", Some(1))
        .await?
        .secret
        .to_string();
    ensure!(me_with(&node, &format!("Bearer {short}")).await?.0 == StatusCode::OK);
    node.ledger.clock.advance(DAY_MS + 1);
    let (s, v) = me_with(&node, &format!("Bearer {short}")).await?;
    ensure!(
        s == StatusCode::UNAUTHORIZED && v["error"] == "unauthenticated",
        "{v}"
    );
    // A refused token changes nothing: still two left, one of them usable.
    ensure!(me_with(&node, &format!("Bearer {first}")).await?.0 == StatusCode::OK);
    node.stop().await
}

async fn an_administrator_manages_users_and_others_tokens_and_nobody_else_does(
    engine: Engine,
) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    let admin = add_user(&acc, "root", &[Role::Admin], None, false).await?;
    let admin = token(&acc, &admin).await?;
    let lead = add_user(&acc, "wang", &[Role::Lead], None, false).await?;
    let lead = token(&acc, &lead).await?;
    let http = reqwest::Client::new();
    let new_user = json!({"login": "sun", "name": "孙", "password": PASSWORD,
        "department": "社保股", "roles": ["department"]});
    let r = http
        .post(node.url("/api/v1/users"))
        .bearer_auth(&lead)
        .json(&new_user)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::FORBIDDEN);
    ensure!(
        acc.user("sun").await?.is_none(),
        "a refused create made a user"
    );
    let r = http
        .post(node.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&new_user)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let r = http
        .post(node.url("/api/v1/users/sun/tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "for sun", "days": 5}))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED);
    let sun: Value = r.json().await?;
    let sun = sun["secret"].as_str().context("secret")?.to_owned();
    let (s, me) = me_with(&node, &format!("Bearer {sun}")).await?;
    ensure!(s == StatusCode::OK && me["department"] == "社保股", "{me}");
    // Disabled: the token stops working.
    let r = http
        .post(node.url("/api/v1/users/sun/disable"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    ensure!(me_with(&node, &format!("Bearer {sun}")).await?.0 == StatusCode::UNAUTHORIZED);
    let r = http
        .post(node.url("/api/v1/users/sun/enable"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK);
    let r = http
        .post(node.url("/api/v1/users/sun/roles"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["auditor"]}))
        .send()
        .await?;
    let v: Value = r.json().await?;
    ensure!(v["roles"] == json!(["auditor"]), "{v}");
    let (_, me) = me_with(&node, &format!("Bearer {sun}")).await?;
    ensure!(me["roles"] == json!(["auditor"]), "{me}");
    node.stop().await
}

/// A prefecture with categories of two departments and a classified one,
/// each with an own budget, and a county to allocate to.
async fn scoped(engine: Engine) -> Result<(TestNode, Accounts, BTreeMap<&'static str, String>)> {
    let (node, acc) = start(engine, |_| {}).await?;
    let all = node.http();
    let post = |path: &str, body: Value| {
        let (all, url) = (all.clone(), node.url(path));
        async move {
            let r = all.post(url).json(&body).send().await?;
            let s = r.status();
            let v: Value = r.json().await?;
            ensure!(s == StatusCode::CREATED, "{s} {v}");
            Ok::<Value, anyhow::Error>(v)
        }
    };
    post("/api/v1/nodes", json!({"code": "652822", "name": "轮台县"})).await?;
    let mut budgets = BTreeMap::new();
    for (code, dept, classified) in [
        ("BZ-01", "农财所", false),
        ("BZ-02", "社保股", false),
        ("BZ-09", "农财所", true),
    ] {
        post(
            "/api/v1/catalog",
            json!({"code": code, "name": format!("{code} 资金"), "origin": "prefecture",
                "department": dept, "classified": classified}),
        )
        .await?;
        let v = post(
            "/api/v1/own-budgets",
            json!({"doc_no": format!("巴财〔2020〕{code}"), "category": code,
                "amount": "100000.00", "budgeted_on": "2020-01-30"}),
        )
        .await?;
        budgets.insert(code, v["id"].as_str().context("id")?.to_owned());
    }
    Ok((node, acc, budgets))
}

async fn a_department_officer_acts_only_for_their_departments_categories(
    engine: Engine,
) -> Result<()> {
    let (node, acc, budgets) = scoped(engine).await?;
    let u = add_user(&acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let zhou = token(&acc, &u).await?;
    let http = reqwest::Client::new();
    let alloc = |code: &str, doc: &str| json!({"doc_no": doc, "source": budgets[code], "to": "652822", "amount": "10.00", "issued_on": "2020-02-04"});
    let before = heads(&node).await?;
    let r = http
        .post(node.url("/api/v1/allocations"))
        .bearer_auth(&zhou)
        .json(&alloc("BZ-02", "巴财〔2020〕9号"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::FORBIDDEN);
    let v: Value = r.json().await?;
    ensure!(
        v["error"] == "forbidden" && v["message"].as_str().is_some_and(|m| m.contains("社保股")),
        "{v}"
    );
    // A project of another department, likewise.
    let r = http
        .post(node.url("/api/v1/projects"))
        .bearer_auth(&zhou)
        .json(&json!({"code": "P-1", "name": "社保项目", "department": "社保股",
            "starts_on": "2020-03-01", "ends_on": "2020-12-31", "budget": "10.00", "status": "planned"}))
        .send()
        .await?;
    let s = r.status();
    let v: Value = r.json().await?;
    ensure!(
        s == StatusCode::FORBIDDEN && v["error"] == "forbidden",
        "{s} {v}"
    );
    // Classified, though of their department: not granted.
    let r = http
        .post(node.url("/api/v1/allocations"))
        .bearer_auth(&zhou)
        .json(&alloc("BZ-09", "巴财〔2020〕10号"))
        .send()
        .await?;
    let v: Value = r.json().await?;
    ensure!(
        v["message"].as_str().is_some_and(|m| m.contains("涉密")),
        "{v}"
    );
    ensure!(
        heads(&node).await? == before,
        "a refused allocation changed the journal"
    );
    // Their own department's: done.
    let r = http
        .post(node.url("/api/v1/allocations"))
        .bearer_auth(&zhou)
        .json(&alloc("BZ-01", "巴财〔2020〕11号"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    node.stop().await
}

async fn a_reader_without_the_classified_grant_cannot_open_a_classified_allocation(
    engine: Engine,
) -> Result<()> {
    let (node, acc, budgets) = scoped(engine).await?;
    let plain = add_user(&acc, "wu", &[Role::Auditor], None, false).await?;
    let plain = token(&acc, &plain).await?;
    let cleared = add_user(&acc, "zheng", &[Role::Auditor], None, true).await?;
    let cleared = token(&acc, &cleared).await?;
    let http = reqwest::Client::new();
    let url = node.url(&format!("/api/v1/allocations/{}", budgets["BZ-09"]));
    let r = http.get(&url).bearer_auth(&plain).send().await?;
    ensure!(r.status() == StatusCode::FORBIDDEN);
    let v: Value = r.json().await?;
    ensure!(
        v["error"] == "forbidden" && v["message"].as_str().is_some_and(|m| m.contains("涉密")),
        "{v}"
    );
    let r = http.get(&url).bearer_auth(&cleared).send().await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    // The unclassified one opens for both.
    let url = node.url(&format!("/api/v1/allocations/{}", budgets["BZ-01"]));
    ensure!(http.get(&url).bearer_auth(&plain).send().await?.status() == StatusCode::OK);
    // The lists show the classified one only to the cleared reader.
    let ids = |token: String| {
        let req = http
            .get(node.url("/api/v1/allocations?page_size=500"))
            .bearer_auth(token);
        async move {
            let v: Value = req.send().await?.json().await?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            anyhow::Ok(
                items
                    .iter()
                    .filter_map(|a| a["id"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
            )
        }
    };
    let seen = ids(plain.clone()).await?;
    ensure!(
        seen.contains(&budgets["BZ-01"].to_string())
            && !seen.contains(&budgets["BZ-09"].to_string()),
        "{seen:?}"
    );
    let seen = ids(cleared.clone()).await?;
    ensure!(seen.contains(&budgets["BZ-09"].to_string()), "{seen:?}");
    // So does the master ledger's summary.
    let categories = |token: String| {
        let req = http
            .get(node.url("/api/v1/ledger/summary?as_of=2099-12-31&group_by=fund_category"))
            .bearer_auth(token);
        async move {
            let v: Value = req.send().await?.json().await?;
            anyhow::Ok(v["rows"].to_string())
        }
    };
    let plain_rows = categories(plain.clone()).await?;
    ensure!(
        plain_rows.contains("BZ-01") && !plain_rows.contains("BZ-09"),
        "{plain_rows}"
    );
    let cleared_rows = categories(cleared.clone()).await?;
    ensure!(cleared_rows.contains("BZ-09"), "{cleared_rows}");
    node.stop().await
}

/// The menu shows what the reader's roles open, and what it shows opens.
async fn the_menu_offers_only_what_opens(engine: Engine) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    add_user(&acc, "yunwei", &[Role::Operator], None, false).await?;
    let mut b = Browser::new(&node)?;
    b.login("yunwei", PASSWORD).await?;
    let (s, _, page) = b.get("/").await?;
    ensure!(s == StatusCode::OK, "{s}");
    ensure!(
        page.contains(">总览</a>")
            && page.contains(">运行监控</a>")
            && !page.contains(">总台账</a>")
            && !page.contains("到位资金"),
        "{page}"
    );
    let table = route_table();
    for (_, path, p, _) in fundsync_node::web::layout::NAV {
        let r = table
            .iter()
            .find(|r| r.method == Method::GET && r.path == path)
            .with_context(|| format!("no route {path}"))?;
        ensure!(
            r.permission == p,
            "{path}: menu says {p}, route {}",
            r.permission
        );
    }
    node.stop().await
}

/// The role-by-action table as README.md and ARCHITECTURE.md publish it,
/// made from `access.rs`.
fn role_table() -> String {
    let mut s = String::from("| permission | 匿名 anonymous |");
    for r in Role::ALL {
        s += &format!(" {} {} |", r.zh(), r.as_str());
    }
    s += "\n|---|---|";
    for _ in Role::ALL {
        s += "---|";
    }
    s += "\n";
    for p in Permission::ALL {
        s += &format!(
            "| {p} ({}) |{}",
            p.zh(),
            if p == Permission::Public {
                " ✓ |"
            } else {
                " |"
            }
        );
        for r in Role::ALL {
            s += if p.granted_by(&[r]) { " ✓ |" } else { " |" };
        }
        s += "\n";
    }
    s
}

/// Every route of the API listener under the permission it needs, as
/// ARCHITECTURE.md lists them, made from `server::route_table()`.
fn route_list() -> String {
    let table = route_table();
    let mut s = String::new();
    for p in Permission::ALL {
        let routes: Vec<String> = table
            .iter()
            .filter(|r| r.permission == p)
            .map(|r| format!("`{} {}`", r.method, r.path))
            .collect();
        if !routes.is_empty() {
            s += &format!("- **{p}**: {}\n", routes.join(", "));
        }
    }
    s
}

#[test]
fn the_published_tables_are_the_code_s() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md"))?;
    let roles = role_table();
    let routes = route_list();
    ensure!(
        readme.contains(&roles) && arch.contains(&roles),
        "README.md and ARCHITECTURE.md must show this table (from access.rs):\n\n{roles}"
    );
    ensure!(
        arch.contains(&routes),
        "ARCHITECTURE.md must list the routes by permission (from server::route_table):\n\n{routes}"
    );
    Ok(())
}

/// An administrator's change of another account, made over the API, is in
/// the signed security log under the administrator's name (not the node's),
/// and so is a sign-in failure under the login that was tried.
async fn account_changes_are_logged_under_the_person_who_made_them(engine: Engine) -> Result<()> {
    use fundsync_node::ledger::query::SecurityFilter;
    let (node, acc) = start(engine, |_| {}).await?;
    let admin = add_user(&acc, "guanli", &[Role::Admin], None, false).await?;
    let admin = token(&acc, &admin).await?;
    add_user(&acc, "zhou", &[Role::Treasury], None, false).await?;
    let r = reqwest::Client::new()
        .post(node.url("/api/v1/users/zhou/disable"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(r.status().is_success(), "{}", r.status());
    let row = fundsync_tests::cluster::eventually(
        std::time::Duration::from_secs(10),
        "the user_disabled event in the journal",
        || async {
            let rows = node
                .ledger
                .ledger
                .security_log(&SecurityFilter {
                    login: Some("zhou".into()),
                    limit: 100,
                    ..SecurityFilter::default()
                })
                .await?;
            Ok(rows.into_iter().find(|r| r.event == "user_disabled"))
        },
    )
    .await?;
    ensure!(
        row.actor_login == "guanli" && row.actor_role == "admin" && row.subject == "zhou",
        "{row:?}"
    );
    node.stop().await
}

async fn a_payment_outside_the_readers_scope_is_refused_in_detail_and_trace(
    engine: Engine,
) -> Result<()> {
    let (node, acc, budgets) = scoped(engine).await?;
    let r = node
        .http()
        .post(node.url("/api/v1/projects"))
        .json(&json!({"code": "P-SB", "name": "社保项目", "department": "社保股",
            "starts_on": "2020-03-01", "ends_on": "2020-12-31", "budget": "10.00", "status": "planned"}))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let r = node
        .http()
        .post(node.url("/api/v1/projects/P-SB/targets"))
        .json(
            &json!({"level1": "effect", "level2": "social", "indicator": "参保人数",
            "op": ">=", "value": "120", "unit": "人"}),
        )
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let r = node
        .http()
        .post(node.url("/api/v1/payments"))
        .json(
            &json!({"voucher_no": "V-SB-1", "paid_on": "2020-03-01", "payer": "巴州财政局",
            "payee_name": "某合作社", "amount": "10.00", "allocation": budgets["BZ-02"],
            "project": "P-SB"}),
        )
        .send()
        .await?;
    let s = r.status();
    let v: Value = r.json().await?;
    ensure!(s == StatusCode::CREATED, "{s} {v}");
    let id = v["id"].as_str().context("id")?.to_owned();
    let u = add_user(&acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let zhou = token(&acc, &u).await?;
    let u = add_user(&acc, "qian", &[Role::Department], Some("社保股"), false).await?;
    let qian = token(&acc, &u).await?;
    let http = reqwest::Client::new();
    for path in [
        format!("/api/v1/payments/{id}"),
        format!("/api/v1/trace/payments/{id}"),
    ] {
        let r = http.get(node.url(&path)).bearer_auth(&zhou).send().await?;
        let s = r.status();
        let v: Value = r.json().await?;
        ensure!(
            s == StatusCode::FORBIDDEN
                && v["error"] == "forbidden"
                && v["message"].as_str().is_some_and(|m| m.contains("BZ-02")),
            "{path}: {s} {v}"
        );
        let r = http.get(node.url(&path)).bearer_auth(&qian).send().await?;
        ensure!(r.status() == StatusCode::OK, "{path}: {}", r.status());
    }
    // The trace page likewise, in Chinese.
    let r = http
        .get(node.url(&format!("/trace/{id}")))
        .bearer_auth(&zhou)
        .send()
        .await?;
    let s = r.status();
    let page = r.text().await?;
    ensure!(
        s == StatusCode::FORBIDDEN && page.contains("不在您的职责范围内"),
        "{s} {page}"
    );
    let r = http
        .get(node.url(&format!("/trace/{id}")))
        .bearer_auth(&qian)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    // The overview counts only the reader's categories: 10 yuan paid from
    // 社保股's budget is 0.00 万元 anyway, so compare the own budgets seen.
    let overview = |t: String| {
        let req = http.get(node.url("/?as_of=2020-12-31")).bearer_auth(t);
        async move { anyhow::Ok(req.send().await?.text().await?) }
    };
    let all = overview(
        token(
            &acc,
            &add_user(&acc, "sun", &[Role::Lead], None, true).await?,
        )
        .await?,
    )
    .await?;
    ensure!(all.contains("30.00"), "three budgets of 10 万元: {all}");
    let mine = overview(zhou.clone()).await?;
    ensure!(
        mine.contains("10.00") && !mine.contains("30.00"),
        "only 农财所's unclassified budget: {mine}"
    );
    node.stop().await
}

async fn a_sign_in_form_from_another_site_is_refused(engine: Engine) -> Result<()> {
    let (node, acc) = start(engine, |_| {}).await?;
    add_user(&acc, "wang", &[Role::Lead], None, false).await?;
    let http = no_redirects()?;
    let form = [("login", "wang"), ("password", PASSWORD), ("next", "/")];
    let r = http
        .post(node.url("/login"))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await?;
    let s = r.status();
    let cookie = r.headers().get("set-cookie").is_some();
    let page = r.text().await?;
    ensure!(
        s == StatusCode::FORBIDDEN && page.contains("来自其他网站") && !cookie,
        "{s} cookie={cookie} {page}"
    );
    // The same form from the node's own page signs in.
    let origin = node.url("");
    let r = http
        .post(node.url("/login"))
        .header("origin", origin.trim_end_matches('/'))
        .form(&form)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    node.stop().await
}

async fn the_api_describes_itself_to_signed_in_callers_only(engine: Engine) -> Result<()> {
    let (node, _acc) = start(engine, |_| {}).await?;
    let anon = reqwest::Client::new();
    let r = anon.get(node.url("/api/v1/openapi.json")).send().await?;
    ensure!(r.status() == StatusCode::UNAUTHORIZED, "{}", r.status());
    let http = node.http();
    let r = http.get(node.url("/api/v1/openapi.json")).send().await?;
    ensure!(r.status() == StatusCode::OK, "{}", r.status());
    let doc: Value = r.json().await?;
    ensure!(doc["openapi"] == "3.1.0", "{doc}");
    // Every API route of the table is in it, with the permission it checks.
    for route in route_table().iter().filter(|r| !r.page) {
        let op = &doc["paths"][&route.path][route.method.as_str().to_ascii_lowercase()];
        ensure!(
            op["x-permission"] == route.permission.to_string(),
            "{} {}: {op}",
            route.method,
            route.path
        );
    }
    let r = http.get(node.url("/api/docs")).send().await?;
    let s = r.status();
    let page = r.text().await?;
    ensure!(
        s == StatusCode::OK && page.contains("接口说明") && page.contains("/api/v1/payments"),
        "{s} {page}"
    );
    node.stop().await
}

on_both!(
    every_route_answers_every_role_as_the_table_says,
    a_person_signs_in_and_out_and_is_refused_with_the_reason_by_the_field,
    only_a_local_next_is_followed_after_login,
    a_session_ends_when_idle_and_when_too_old,
    a_change_with_a_session_needs_its_csrf_token_and_a_bearer_token_none,
    tokens_are_made_shown_once_listed_and_refused_when_revoked_expired_or_malformed,
    an_administrator_manages_users_and_others_tokens_and_nobody_else_does,
    a_department_officer_acts_only_for_their_departments_categories,
    a_reader_without_the_classified_grant_cannot_open_a_classified_allocation,
    the_menu_offers_only_what_opens,
    account_changes_are_logged_under_the_person_who_made_them,
    a_payment_outside_the_readers_scope_is_refused_in_detail_and_trace,
    a_sign_in_form_from_another_site_is_refused,
    the_api_describes_itself_to_signed_in_callers_only,
);
