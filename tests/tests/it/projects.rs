//! The project library (项目库) from outside: a real node on port 0, people
//! made through `Accounts`, pages read and forms sent as a browser sends
//! them (session cookie, CSRF field), and once in a real Chromium. What a
//! reader sees is narrowed to their scope (another department's project and
//! a classified one are not there, in the pages and the JSON API alike);
//! every refused form leaves the journal as it was, and a form sent twice
//! records once.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::Accounts;
use fundsync_protocol::body::CategoryDefined;
use fundsync_protocol::{Body, EntryId};
use fundsync_tests::build::{clerk, own_budget, payment, project, target};
use fundsync_tests::fixtures::{prefecture, Engine, TestNode};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

// The accounts helpers of the access tests: one way to make a user and a
// token, and to read the journal's heads.
use super::access::{accounts, add_user, heads, token, PASSWORD};

/// The library of the tests, at the prefecture (652800):
/// - `NC-1` of 农财所, 2,000,000 元, paid 500,000 from `BZ-01`; a target
///   with an actual and its note;
/// - `SB-1` of 社保股, paid from `BZ-02`;
/// - `HB-1` of 农财所, paid from the classified `BZ-09` (so it is 涉密).
struct Library {
    node: TestNode,
    acc: Accounts,
    /// The target of NC-1 and of SB-1.
    nc_target: EntryId,
    sb_target: EntryId,
}

fn category(code: &str, dept: &str, classified: bool) -> Result<Body> {
    Ok(Body::CategoryDefined(serde_json::from_value::<
        CategoryDefined,
    >(
        json!({"code": code, "name": format!("{code} 资金"), "origin": "prefecture",
               "department": dept, "classified": classified}),
    )?))
}

fn created(o: &fundsync_node::ledger::Outcome) -> Result<EntryId> {
    match o {
        fundsync_node::ledger::Outcome::Created(id) => Ok(*id),
        o => anyhow::bail!("not created: {o:?}"),
    }
}

async fn library(engine: Engine) -> Result<Library> {
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let acc = accounts(&node);
    let l = &node.ledger.ledger;
    let who = clerk();
    let mut budgets = Vec::new();
    for (code, dept, classified) in [
        ("BZ-01", "农财所", false),
        ("BZ-02", "社保股", false),
        ("BZ-09", "农财所", true),
    ] {
        l.submit_one(category(code, dept, classified)?, &who)
            .await?;
        let o = l
            .submit_one(
                own_budget(
                    &format!("巴财〔2020〕{code}号"),
                    code,
                    "5000000",
                    "2020-01-30",
                ),
                &who,
            )
            .await?;
        budgets.push(created(&o)?);
    }
    let mut targets = Vec::new();
    for (code, dept, budget, voucher) in [
        ("NC-1", "农财所", 0, "V-NC-1"),
        ("SB-1", "社保股", 1, "V-SB-1"),
        ("HB-1", "农财所", 2, "V-HB-1"),
    ] {
        let mut p = project(code, "2000000");
        if let Body::ProjectRegistered(b) = &mut p {
            b.department = dept.into();
            b.name = format!("{code} 项目");
        }
        l.submit_one(p, &who).await?;
        let t = l.submit_one(target(code), &who).await?;
        targets.push(created(&t)?);
        l.submit_one(
            payment(voucher, budgets[budget], code, "500000", "2020-05-01"),
            &who,
        )
        .await?;
    }
    l.submit_one(
        Body::TargetActualRecorded(fundsync_protocol::body::TargetActualRecorded {
            target: targets[0],
            actual: "12.5".parse()?,
            recorded_on: "2020-09-25".parse()?,
            note: "竣工验收报告第3页".into(),
            evidence: String::new(),
        }),
        &who,
    )
    .await?;
    Ok(Library {
        node,
        acc,
        nc_target: targets[0],
        sb_target: targets[1],
    })
}

/// A GET with a bearer token: status and body.
async fn get(node: &TestNode, token: &str, path: &str) -> Result<(StatusCode, String)> {
    let r = reqwest::Client::new()
        .get(node.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((r.status(), r.text().await?))
}

fn must(page: &str, body: &str, yes: &[&str], no: &[&str]) -> Result<()> {
    let missing: Vec<_> = yes.iter().filter(|n| !body.contains(*n)).collect();
    let present: Vec<_> = no.iter().filter(|n| body.contains(*n)).collect();
    ensure!(
        missing.is_empty() && present.is_empty(),
        "{page} lacks {missing:?} or shows {present:?}; it reads:\n{body}"
    );
    Ok(())
}

async fn the_library_shows_what_the_reader_s_scope_covers(engine: Engine) -> Result<()> {
    let lib = library(engine).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    let zhou = add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let zhou = token(acc, &zhou).await?;
    let lead = add_user(acc, "lead", &[Role::Lead], None, false).await?;
    let lead = token(acc, &lead).await?;
    let zheng = add_user(acc, "zheng", &[Role::Auditor], None, true).await?;
    let zheng = token(acc, &zheng).await?;

    // The department officer: their department's, not the classified one.
    let (s, page) = get(node, &zhou, "/projects").await?;
    ensure!(s == StatusCode::OK, "{s}");
    must(
        "/projects as zhou",
        &page,
        &[
            ">项目库</a>",
            "/projects/652800/NC-1",
            "NC-1 项目",
            "25.0%",
            "实施中",
        ],
        &["SB-1", "HB-1"],
    )?;
    for hidden in ["SB-1", "HB-1"] {
        let (s, _) = get(node, &zhou, &format!("/projects/652800/{hidden}")).await?;
        ensure!(s == StatusCode::NOT_FOUND, "{hidden}: {s}");
    }
    // The lead office: every department's, still not the classified one.
    let (_, page) = get(node, &lead, "/projects").await?;
    must("/projects as lead", &page, &["NC-1", "SB-1"], &["HB-1"])?;
    let (s, _) = get(node, &lead, "/projects/652800/HB-1").await?;
    ensure!(s == StatusCode::NOT_FOUND, "{s}");
    // The cleared auditor: all three.
    let (_, page) = get(node, &zheng, "/projects").await?;
    must("/projects as zheng", &page, &["NC-1", "SB-1", "HB-1"], &[])?;

    // Filters.
    for (q, yes, no) in [
        ("?department=社保股", "SB-1", "NC-1"),
        ("?category=BZ-01", "NC-1", "SB-1"),
        ("?status=in_progress&place=轮台", "NC-1", "暂无"),
    ] {
        let (s, page) = get(node, &lead, &format!("/projects{q}")).await?;
        ensure!(s == StatusCode::OK, "{q}: {s}");
        must(q, &page, &[yes], &[no])?;
    }
    let (_, page) = get(node, &lead, "/projects?place=不存在的村").await?;
    must("an empty list", &page, &[">暂无</td>"], &["NC-1"])?;
    let (s, _) = get(node, &lead, "/projects?status=nonsense").await?;
    ensure!(s == StatusCode::BAD_REQUEST, "{s}");

    // A project's page: targets, actuals with their note, what funds it,
    // its payments with their trace.
    let (s, page) = get(node, &zhou, "/projects/652800/NC-1").await?;
    ensure!(s == StatusCode::OK, "{s}");
    let payments = node
        .ledger
        .ledger
        .payments(
            fundsync_node::ledger::query::PaymentFilter {
                project: Some("NC-1".into()),
                ..Default::default()
            },
            fundsync_node::ledger::query::Page {
                page: 1,
                page_size: 10,
            },
        )
        .await?;
    let trace = format!("href=\"/trace/{}\"", payments.items[0].id);
    must(
        "/projects/652800/NC-1",
        &page,
        &[
            "产出指标",
            "数量指标",
            "硬化道路里程",
            "≥ 12公里",
            "12.5公里",
            "达标",
            "竣工验收报告第3页",
            "巴财〔2020〕BZ-01号",
            "500,000.00",
            "V-NC-1",
            &trace,
            "25.0%",
        ],
        &[],
    )?;

    // The JSON API is narrowed the same way.
    let (s, body) = get(node, &zhou, "/api/v1/projects").await?;
    ensure!(s == StatusCode::OK, "{s}");
    let v: Value = serde_json::from_str(&body)?;
    let codes: Vec<&str> = v["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|p| p["code"].as_str())
        .collect();
    ensure!(codes == ["NC-1"], "{codes:?}");
    let (s, _) = get(node, &zhou, "/api/v1/projects/652800/SB-1").await?;
    ensure!(s == StatusCode::NOT_FOUND, "{s}");
    let (s, _) = get(node, &lead, "/api/v1/projects/652800/HB-1").await?;
    ensure!(s == StatusCode::NOT_FOUND, "{s}");
    let (s, _) = get(node, &zheng, "/api/v1/projects/652800/HB-1").await?;
    ensure!(s == StatusCode::OK, "{s}");
    lib.node.stop().await
}

fundsync_tests::on_both!(the_library_shows_what_the_reader_s_scope_covers);

/// A person's HTTP client: the session cookie kept by hand, no redirects
/// followed.
struct Person {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Person {
    async fn signed_in(node: &TestNode, login: &str) -> Result<Person> {
        let mut p = Person {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: node.base.clone(),
            cookie: None,
        };
        let (s, to, _) = p
            .form(
                "/login",
                &[("login", login), ("password", PASSWORD), ("next", "/")],
            )
            .await?;
        ensure!(s == StatusCode::SEE_OTHER && to == "/", "login: {s} {to}");
        Ok(p)
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<(StatusCode, String, String)> {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c),
            None => req,
        };
        let res = req.send().await?;
        for v in res.headers().get_all(SET_COOKIE) {
            let pair = v.to_str()?.split(';').next().unwrap_or("");
            if pair.starts_with("fundsync_session=") {
                self.cookie = Some(pair.to_owned());
            }
        }
        let status = res.status();
        let to = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok((status, to, res.text().await?))
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

    /// The session's CSRF token, as the account page's forms carry it.
    async fn csrf(&mut self) -> Result<String> {
        let (s, _, body) = self.get("/account").await?;
        ensure!(s == StatusCode::OK, "/account: {s}");
        let key = "name=\"csrf_token\" value=\"";
        let at = body.find(key).context("a form with the CSRF field")?;
        let rest = &body[at + key.len()..];
        Ok(rest[..rest.find('"').context("end of the value")?].to_owned())
    }
}

/// The registration form for `LT-9` with two targets, plus `extra`.
fn registration<'a>(csrf: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf_token", csrf),
        ("rows", "2"),
        ("code", "LT-9"),
        ("name", "托万克库勒村道路硬化"),
        ("township", "轮台镇"),
        ("village", "托万克库勒村"),
        ("department", "农财所"),
        ("starts_on", "2020-03-01"),
        ("ends_on", "2020-10-31"),
        ("budget", "1,200,000.00"),
        ("status", "planned"),
        ("t0_level1", "output"),
        ("t0_level2", "quantity"),
        ("t0_indicator", "硬化道路里程"),
        ("t0_op", ">="),
        ("t0_value", "12.5"),
        ("t0_unit", "公里"),
        ("t1_level1", "satisfaction"),
        ("t1_level2", "beneficiary"),
        ("t1_indicator", "群众满意度"),
        ("t1_op", ">="),
        ("t1_value", "95"),
        ("t1_unit", "%"),
    ];
    for (k, v) in extra {
        f.retain(|(key, _)| key != k);
        f.push((k, v));
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forms_record_once_and_refusals_record_nothing() -> Result<()> {
    let lib = library(Engine::Sqlite).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    add_user(acc, "wang", &[Role::Treasury], None, false).await?;
    let mut zhou = Person::signed_in(node, "zhou").await?;
    let csrf = zhou.csrf().await?;

    // The form, with the officer's department fixed.
    let (s, _, page) = zhou.get("/projects/new").await?;
    ensure!(s == StatusCode::OK, "{s}");
    must(
        "/projects/new",
        &page,
        &[
            "产出指标",
            "服务对象满意度指标",
            "value=\"add\"",
            "value=\"农财所\"",
        ],
        &[],
    )?;

    let before = heads(node).await?;
    // Without the CSRF token: refused, nothing recorded.
    let mut no_csrf = registration("", &[]);
    no_csrf.retain(|(k, _)| *k != "csrf_token");
    let (s, _, _) = zhou.form("/projects/new", &no_csrf).await?;
    ensure!(s == StatusCode::FORBIDDEN, "no CSRF: {s}");
    // Another role (the treasury desk): 403.
    let mut wang = Person::signed_in(node, "wang").await?;
    let wang_csrf = wang.csrf().await?;
    let (s, _, page) = wang
        .form("/projects/new", &registration(&wang_csrf, &[]))
        .await?;
    ensure!(s == StatusCode::FORBIDDEN, "treasury: {s}");
    ensure!(page.contains("您的角色无权访问此页"), "{page}");
    // Bad values: the Chinese reason next to each field.
    let (s, _, page) = zhou
        .form(
            "/projects/new",
            &registration(
                &csrf,
                &[
                    ("budget", "一百万"),
                    ("t0_level1", "effect"),
                    ("ends_on", "2020-02-01"),
                    ("t1_value", "很多"),
                ],
            ),
        )
        .await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "bad values: {s}");
    must(
        "the refused form",
        &page,
        &[
            "id=\"f-budget-error\">请填写大于零的金额",
            "id=\"f-t0_level2-error\">二级指标“数量指标”不属于一级指标“效益指标”",
            "id=\"f-ends_on-error\">完工日期不能早于开工日期",
            "id=\"f-t1_value-error\">请填写数值",
            "value=\"托万克库勒村道路硬化\"",
        ],
        &[],
    )?;
    // No target at all.
    let (s, _, page) = zhou
        .form("/projects/new", &registration(&csrf, &[("rows", "0")]))
        .await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "no targets: {s}");
    ensure!(page.contains("至少填写一个三级指标"), "{page}");
    // "Add a row" only shows the form again, one row longer.
    let (s, _, page) = zhou
        .form("/projects/new", &registration(&csrf, &[("action", "add")]))
        .await?;
    ensure!(s == StatusCode::OK, "add a row: {s}");
    must(
        "one more row",
        &page,
        &[
            "name=\"rows\" value=\"3\"",
            "name=\"t2_indicator\"",
            "群众满意度",
        ],
        &[],
    )?;
    ensure!(
        heads(node).await? == before,
        "a refused form changed the journal"
    );

    // Registered, then the same form again: once.
    let (s, to, _) = zhou
        .form("/projects/new", &registration(&csrf, &[]))
        .await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to == "/projects/652800/LT-9?done=registered",
        "{s} {to}"
    );
    let after = heads(node).await?;
    ensure!(after != before);
    let (s, to, _) = zhou
        .form("/projects/new", &registration(&csrf, &[]))
        .await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to == "/projects/652800/LT-9?done=existing",
        "{s} {to}"
    );
    ensure!(
        heads(node).await? == after,
        "a form sent twice recorded twice"
    );
    let p = node
        .ledger
        .ledger
        .project("652800".parse()?, "LT-9")
        .await?
        .context("registered")?;
    ensure!(p.targets.as_ref().map(Vec::len) == Some(2), "{p:?}");
    ensure!(p.budget.to_string() == "1200000.00", "{}", p.budget);
    // The same code with other fields: the reason by the code.
    let (s, _, page) = zhou
        .form(
            "/projects/new",
            &registration(&csrf, &[("name", "另一个项目")]),
        )
        .await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
    ensure!(
        page.contains("id=\"f-code-error\">项目编码已存在"),
        "{page}"
    );
    ensure!(heads(node).await? == after);

    // Status: changed once, the same again records nothing, nonsense is
    // refused by the field.
    let status = "/projects/652800/LT-9/status";
    let (s, to, _) = zhou
        .form(status, &[("csrf_token", &csrf), ("status", "in_progress")])
        .await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to.ends_with("?done=status"),
        "{s} {to}"
    );
    let after = heads(node).await?;
    let (s, _, _) = zhou
        .form(status, &[("csrf_token", &csrf), ("status", "in_progress")])
        .await?;
    ensure!(s == StatusCode::SEE_OTHER, "{s}");
    let (s, _, page) = zhou
        .form(status, &[("csrf_token", &csrf), ("status", "finished-ish")])
        .await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
    ensure!(
        page.contains("id=\"f-status-error\">请选择项目状态"),
        "{page}"
    );
    let (s, _, _) = zhou.form(status, &[("status", "completed")]).await?;
    ensure!(s == StatusCode::FORBIDDEN, "no CSRF: {s}");
    ensure!(heads(node).await? == after);

    // An actual with its note: once; a bad figure refused by the field.
    let target = p.targets.as_ref().context("targets")?[0].id.clone();
    let actual = "/projects/652800/LT-9/actual";
    let good = [
        ("csrf_token", csrf.as_str()),
        ("target", target.as_str()),
        ("actual", "13"),
        ("recorded_on", "2020-09-25"),
        ("note", "验收报告"),
    ];
    let (s, to, _) = zhou.form(actual, &good).await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to.ends_with("?done=actual"),
        "{s} {to}"
    );
    let after = heads(node).await?;
    let (s, _, _) = zhou.form(actual, &good).await?;
    ensure!(s == StatusCode::SEE_OTHER, "{s}");
    ensure!(
        heads(node).await? == after,
        "an actual sent twice recorded twice"
    );
    let mut bad = good;
    bad[2] = ("actual", "十三");
    bad[3] = ("recorded_on", "2020-13-40");
    let (s, _, page) = zhou.form(actual, &bad).await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "{s}");
    must(
        "the refused actual",
        &page,
        &[
            "id=\"f-actual-error\">请填写数值",
            "id=\"f-recorded_on-error\">请填写日期",
        ],
        &[],
    )?;
    // Another department's project is not theirs to change (nor to see).
    let (s, _, _) = zhou
        .form(
            "/projects/652800/SB-1/status",
            &[("csrf_token", &csrf), ("status", "completed")],
        )
        .await?;
    ensure!(s == StatusCode::NOT_FOUND, "another department's: {s}");
    let other = lib.sb_target.to_string();
    let (s, _, _) = zhou
        .form(
            "/projects/652800/NC-1/actual",
            &[
                ("csrf_token", &csrf),
                ("target", &other),
                ("actual", "1"),
                ("recorded_on", "2020-09-25"),
            ],
        )
        .await?;
    ensure!(
        s == StatusCode::UNPROCESSABLE_ENTITY,
        "a target of another project: {s}"
    );
    ensure!(heads(node).await? == after);

    let (_, _, page) = zhou.get("/projects/652800/LT-9").await?;
    must(
        "the registered project",
        &page,
        &[
            "托万克库勒村道路硬化",
            "群众满意度",
            "验收报告",
            "13公里",
            "实施中",
        ],
        &[],
    )?;
    lib.node.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_officer_records_actuals_for_their_department_only() -> Result<()> {
    let lib = library(Engine::Sqlite).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    let zhou = add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let zhou = token(acc, &zhou).await?;
    let http = reqwest::Client::new();
    let body = json!({"actual": "1", "recorded_on": "2020-09-25", "note": "季度填报"});
    let before = heads(node).await?;
    let r = http
        .post(node.url(&format!("/api/v1/targets/{}/actual", lib.sb_target)))
        .bearer_auth(&zhou)
        .json(&body)
        .send()
        .await?;
    let s = r.status();
    let v: Value = r.json().await?;
    ensure!(
        s == StatusCode::FORBIDDEN
            && v["error"] == "forbidden"
            && v["message"].as_str().is_some_and(|m| m.contains("社保股")),
        "{s} {v}"
    );
    ensure!(
        heads(node).await? == before,
        "a refused actual changed the journal"
    );
    let r = http
        .post(node.url(&format!("/api/v1/targets/{}/actual", lib.nc_target)))
        .bearer_auth(&zhou)
        .json(&body)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let actuals = node
        .ledger
        .ledger
        .project_actuals("652800".parse()?, "NC-1")
        .await?;
    ensure!(
        actuals
            .iter()
            .any(|a| a.note == "季度填报" && a.actual == "1"),
        "{actuals:?}"
    );
    lib.node.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_with_two_targets_is_registered_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let lib = library(Engine::Sqlite).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let driver = fundsync_tests::webdriver::Driver::start().await?;
    let b = driver.browser().await?;
    let base = node.base.clone();
    b.goto(&format!("{base}/login?next=/projects")).await?;
    b.type_into("#f-login", "zhou").await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("button[type=submit]").await?;
    b.wait_for_url("the project list", |u| u.ends_with("/projects"))
        .await?;
    b.click("a[href='/projects/new']").await?;
    b.wait_for_url("the form", |u| u.ends_with("/projects/new"))
        .await?;
    // One more row, by the button (no script on the page).
    b.click("button[value=add]").await?;
    fundsync_tests::cluster::eventually(Duration::from_secs(30), "the second row", || async {
        Ok(b.source()
            .await?
            .contains("name=\"t1_indicator\"")
            .then_some(()))
    })
    .await?;
    b.type_into("#f-code", "LT-20").await?;
    b.type_into("#f-name", "轮台镇饮水安全巩固提升").await?;
    b.type_into("#f-township", "轮台镇").await?;
    // Keys as typed into Chromium's date field (month, day, year here).
    b.type_into("#f-starts_on", "04012020").await?;
    b.type_into("#f-ends_on", "11302020").await?;
    b.type_into("#f-budget", "860000").await?;
    b.type_into("#f-t0_indicator", "受益农户").await?;
    b.type_into("#f-t0_value", "320").await?;
    b.type_into("#f-t0_unit", "户").await?;
    b.click("#f-t1_level1 option[value=effect]").await?;
    b.click("#f-t1_level2 option[value=social]").await?;
    b.type_into("#f-t1_indicator", "饮水达标率").await?;
    b.type_into("#f-t1_value", "98").await?;
    b.type_into("#f-t1_unit", "%").await?;
    b.click("button[value=save]").await?;
    let at = match b
        .wait_for_url("the project's page", |u| {
            u.contains("/projects/652800/LT-20")
        })
        .await
    {
        Ok(at) => at,
        Err(e) => {
            let page = b.source().await.unwrap_or_default();
            anyhow::bail!("{e}; the browser shows:\n{page}");
        }
    };
    ensure!(at.ends_with("?done=registered"), "{at}");
    let page = b.source().await?;
    must(
        "the registered project in the browser",
        &page,
        &[
            "项目已登记",
            "受益农户",
            "饮水达标率",
            "社会效益指标",
            "2020-04-01",
            "860,000.00",
        ],
        &[],
    )?;
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            std::path::PathBuf::from,
        )
        .join("test-artifacts")
        .join("projects");
    std::fs::create_dir_all(&dir)?;
    b.screenshot(&dir.join("registered.png")).await?;
    b.goto(&format!("{base}/projects")).await?;
    let list = b.source().await?;
    must(
        "the list in the browser",
        &list,
        &["LT-20", "轮台镇饮水安全巩固提升", "计划"],
        &["SB-1"],
    )?;
    b.screenshot(&dir.join("list.png")).await?;
    b.quit().await?;
    lib.node.stop().await
}

/// The `form_key` the project page's 新增绩效目标 form carries.
fn target_form_key(page: &str) -> Result<String> {
    let form = page
        .find("action=\"/projects/652800/NC-1/targets\"")
        .context("the 新增绩效目标 form")?;
    let key = "name=\"form_key\" value=\"";
    let at = page[form..].find(key).context("its form_key")? + form + key.len();
    Ok(page[at..at + page[at..].find('"').context("end of the key")?].to_owned())
}

async fn a_target_is_added_from_the_project_page_once_and_awaits_review(
    engine: Engine,
) -> Result<()> {
    let lib = library(engine).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    add_user(acc, "li", &[Role::Department], Some("社保股"), false).await?;
    add_user(acc, "wang", &[Role::Treasury], None, false).await?;
    let mut zhou = Person::signed_in(node, "zhou").await?;
    let csrf = zhou.csrf().await?;
    let path = "/projects/652800/NC-1/targets";

    let (s, _, page) = zhou.get("/projects/652800/NC-1").await?;
    ensure!(s == StatusCode::OK, "{s}");
    must(
        "the project page",
        &page,
        &["新增绩效目标", "action=\"/projects/652800/NC-1/targets\""],
        &[],
    )?;
    let key = target_form_key(&page)?;
    let row = |k: &'static str, v: &'static str| (k, v);
    let good: Vec<(&str, &str)> = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        row("level1", "satisfaction"),
        row("level2", "beneficiary"),
        row("indicator", "受益农户满意度"),
        row("op", ">="),
        row("value", "90"),
        row("unit", "%"),
    ];
    let with = |k: &'static str, v: &'static str| {
        let mut f = good.clone();
        f.retain(|(n, _)| *n != k);
        f.push((k, v));
        f
    };

    let before = heads(node).await?;
    // Without the CSRF token: 403.
    let mut no_csrf = good.clone();
    no_csrf.retain(|(k, _)| *k != "csrf_token");
    let (s, _, _) = zhou.form(path, &no_csrf).await?;
    ensure!(s == StatusCode::FORBIDDEN, "no CSRF: {s}");
    // A role without ManageProjects (the treasury desk): 403.
    let mut wang = Person::signed_in(node, "wang").await?;
    let wang_csrf = wang.csrf().await?;
    let mut theirs = good.clone();
    theirs[0] = ("csrf_token", wang_csrf.as_str());
    let (s, _, page) = wang.form(path, &theirs).await?;
    ensure!(s == StatusCode::FORBIDDEN, "treasury: {s}");
    ensure!(page.contains("您的角色无权访问此页"), "{page}");
    // Another department's officer: the project is out of their scope, so
    // it is not there for them (404, as for the status and actual forms).
    let mut li = Person::signed_in(node, "li").await?;
    let li_csrf = li.csrf().await?;
    let mut theirs = good.clone();
    theirs[0] = ("csrf_token", li_csrf.as_str());
    let (s, _, _) = li.form(path, &theirs).await?;
    ensure!(s == StatusCode::NOT_FOUND, "another department's: {s}");
    // A blank indicator, a value that is no number: 422, the reason next
    // to the field, the typed values kept.
    let (s, _, page) = zhou.form(path, &with("indicator", "")).await?;
    ensure!(
        s == StatusCode::UNPROCESSABLE_ENTITY,
        "blank indicator: {s}"
    );
    must(
        "blank indicator",
        &page,
        &["id=\"f-indicator-error\">请填写三级指标"],
        &[],
    )?;
    let (s, _, page) = zhou.form(path, &with("value", "九十")).await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "bad value: {s}");
    must(
        "bad value",
        &page,
        &[
            "id=\"f-value-error\">请填写数值",
            "value=\"受益农户满意度\"",
        ],
        &[],
    )?;
    // A level 2 not under its level 1.
    let (s, _, page) = zhou.form(path, &with("level1", "output")).await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "levels: {s}");
    ensure!(page.contains("id=\"f-level2-error\">二级指标"), "{page}");
    // A key this node never issued: the form is stale.
    let (s, _, page) = zhou.form(path, &with("form_key", "nonsense")).await?;
    ensure!(s == StatusCode::UNPROCESSABLE_ENTITY, "stale key: {s}");
    ensure!(page.contains("表单已过期"), "{page}");
    ensure!(
        heads(node).await? == before,
        "a refused target form changed the journal"
    );

    // Recorded, then the same form again (a double submit): once.
    let (s, to, _) = zhou.form(path, &good).await?;
    ensure!(
        s == StatusCode::SEE_OTHER && to == "/projects/652800/NC-1?done=target",
        "{s} {to}"
    );
    let after = heads(node).await?;
    ensure!(after != before, "nothing recorded");
    let (s, to, _) = zhou.form(path, &good).await?;
    ensure!(s == StatusCode::SEE_OTHER, "again: {s} {to}");
    ensure!(
        heads(node).await? == after,
        "a target form sent twice recorded twice"
    );
    let p = node
        .ledger
        .ledger
        .project("652800".parse()?, "NC-1")
        .await?
        .context("NC-1")?;
    let added: Vec<_> = p
        .targets
        .iter()
        .flatten()
        .filter(|t| t.indicator == "受益农户满意度")
        .collect();
    ensure!(added.len() == 1, "{p:?}");
    ensure!(
        added[0].value == "90" && added[0].unit == "%" && added[0].approval == "submitted",
        "{:?}",
        added[0]
    );
    let (s, _, page) = zhou.get(&to).await?;
    ensure!(s == StatusCode::OK, "{s}");
    must(
        "the project after",
        &page,
        &[
            "绩效目标已新增，待审核。",
            "受益农户满意度",
            "≥ 90%",
            "待审核",
        ],
        &[],
    )?;
    lib.node.stop().await
}
fundsync_tests::on_both!(a_target_is_added_from_the_project_page_once_and_awaits_review);

/// In a real browser, the 新增绩效目标 form on a project's page: the
/// officer chooses the levels, types an indicator and a value that is no
/// number, and sees the Chinese reason by the value, the typed indicator
/// kept and nothing recorded; then corrects the value, submits, and sees
/// the target on the page awaiting review (待审核), recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_target_is_added_from_the_project_page_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let lib = library(Engine::Sqlite).await?;
    let (node, acc) = (&lib.node, &lib.acc);
    add_user(acc, "zhou", &[Role::Department], Some("农财所"), false).await?;
    let driver = fundsync_tests::webdriver::Driver::start().await?;
    let b = driver.browser().await?;
    let base = node.base.clone();
    let at = "/projects/652800/NC-1";
    b.goto(&format!("{base}/login?next={at}")).await?;
    b.type_into("#f-login", "zhou").await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("main button[type=submit]").await?;
    b.wait_for_url("the project's page", |u| u.ends_with(at))
        .await?;
    let form = "form[action='/projects/652800/NC-1/targets']";
    // Each control of the form has its label.
    let unlabelled = b
        .script(&format!(
            "return Array.from(document.querySelectorAll(\"{form} input:not([type=hidden]), {form} select\"))\
             .filter(e => !e.labels || e.labels.length === 0 || !e.labels[0].textContent.trim())\
             .map(e => e.name);"
        ))
        .await?;
    ensure!(unlabelled == json!([]), "without a label: {unlabelled}");
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            std::path::PathBuf::from,
        )
        .join("test-artifacts")
        .join("projects");
    std::fs::create_dir_all(&dir)?;
    let before = heads(node).await?;
    b.click(&format!("{form} #f-level1 option[value=satisfaction]"))
        .await?;
    b.click(&format!("{form} #f-level2 option[value=beneficiary]"))
        .await?;
    b.type_into(&format!("{form} #f-indicator"), "受益农户满意度")
        .await?;
    b.click(&format!("{form} #f-op option[value='>=']")).await?;
    b.type_into(&format!("{form} #f-value"), "九十").await?;
    b.type_into(&format!("{form} #f-unit"), "%").await?;
    b.click(&format!("{form} button[type=submit]")).await?;
    let page = fundsync_tests::cluster::eventually(
        Duration::from_secs(30),
        "the refusal by the value",
        || async {
            let p = b.source().await?;
            Ok(p.contains("id=\"f-value-error\"").then_some(p))
        },
    )
    .await?;
    must(
        "the refused target",
        &page,
        &[
            "id=\"f-value-error\">请填写数值",
            "value=\"受益农户满意度\"",
            "aria-invalid=\"true\"",
        ],
        &[],
    )?;
    b.screenshot(&dir.join("target-refused.png")).await?;
    ensure!(
        heads(node).await? == before,
        "a refused target form changed the journal"
    );
    // Corrected: the value typed again, the form sent.
    b.script(&format!(
        "document.querySelector(\"{form} #f-value\").value = ''; return 0;"
    ))
    .await?;
    b.type_into(&format!("{form} #f-value"), "90").await?;
    b.click(&format!("{form} button[type=submit]")).await?;
    let done = b
        .wait_for_url("the page after the target", |u| u.contains("done=target"))
        .await;
    if let Err(e) = done {
        anyhow::bail!("{e}; the browser shows:\n{}", b.source().await?);
    }
    let page = b.source().await?;
    must(
        "the target in the browser",
        &page,
        &[
            "绩效目标已新增，待审核。",
            "受益农户满意度",
            "≥ 90%",
            "待审核",
        ],
        &[],
    )?;
    b.screenshot(&dir.join("target-added.png")).await?;
    let p = node
        .ledger
        .ledger
        .project("652800".parse()?, "NC-1")
        .await?
        .context("NC-1")?;
    let added = p
        .targets
        .iter()
        .flatten()
        .filter(|t| t.indicator == "受益农户满意度")
        .count();
    ensure!(added == 1, "{added} targets recorded");
    b.quit().await?;
    lib.node.stop().await
}
