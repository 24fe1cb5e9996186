//! The `/evaluation` page's forms (绩效自评, 汇总报告, 抽查, 抽查结论) as a
//! browser sends them: a real node on port 0, people signed in through the
//! login page (session cookie, CSRF field, form key). Each form shows only
//! to a role holding its permission; every refusal is a 422 page with the
//! Chinese reason next to its field and the journal's heads unchanged; a
//! form sent twice under one key records once. One test drives Chromium
//! through the self-evaluation form, its refusal and its success.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_protocol::body::{ProjectRegistered, TargetActualRecorded};
use fundsync_protocol::{Body, EntryId, NodeKey};
use fundsync_tests::build::{amount, child, clerk, day, project, target};
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine, TestNode};
use reqwest::StatusCode;
use serde_json::Value;

use super::access::{accounts, add_user, heads, token, PASSWORD};
use super::evaluation::{created, dec, evaluation, up_into};
use super::targets::{field_value, Answer, Person};

const PAGE: &str = "/evaluation?year=2020";

fn actual(target: EntryId, value: &str) -> Body {
    Body::TargetActualRecorded(TargetActualRecorded {
        target,
        actual: dec(value),
        recorded_on: day("2020-10-20"),
        note: String::new(),
        evidence: String::new(),
    })
}

/// A project of 农业局 (another department than `build::project`'s 交通局).
fn farm_project(code: &str) -> Body {
    Body::ProjectRegistered(ProjectRegistered {
        code: code.into(),
        name: "设施农业大棚".into(),
        township: "轮台镇".into(),
        village: "二村".into(),
        department: "农业局".into(),
        starts_on: day("2020-03-01"),
        ends_on: day("2020-10-31"),
        budget: amount("300000"),
        status: fundsync_protocol::body::ProjectStatus::InProgress,
    })
}

/// A county on port 0 with P1 (交通局, 9 of ≥ 12 公里: short), P2 (交通局,
/// no actual yet) and P3 (农业局, 13 公里), and its desks: wang (交通局),
/// liu (农业局), li (牵头科室), zhao (国库).
async fn county_node(engine: Engine) -> Result<(TestNode, String)> {
    let node = TestNode::start_on(engine, &county("652822", "轮台县")).await?;
    let l = node.ledger.ledger.clone();
    let out = l
        .submit(
            &[
                project("P1", "800000"),
                target("P1"),
                project("P2", "200000"),
                target("P2"),
                farm_project("P3"),
                target("P3"),
            ],
            &clerk(),
        )
        .await?;
    l.submit(
        &[actual(out[1].id(), "9"), actual(out[5].id(), "13")],
        &clerk(),
    )
    .await?;
    let acc = accounts(&node);
    let mut lead_token = String::new();
    for (login, role, dept) in [
        ("wang", Role::Department, Some("交通局")),
        ("liu", Role::Department, Some("农业局")),
        ("li", Role::Lead, None),
        ("zhao", Role::Treasury, None),
    ] {
        let u = add_user(&acc, login, &[role], dept, false).await?;
        if login == "li" {
            lead_token = token(&acc, &u).await?;
        }
    }
    Ok((node, lead_token))
}

async fn year(node: &TestNode, tok: &str) -> Result<Value> {
    Ok(reqwest::Client::new()
        .get(node.url("/api/v1/evaluation?year=2020"))
        .bearer_auth(tok)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Refused on the page: 422 and every `texts` on it.
fn refused_with(what: &str, a: &Answer, texts: &[&str]) -> Result<()> {
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {} {}",
        a.status,
        a.body
    );
    for t in texts {
        ensure!(a.body.contains(t), "{what}: no {t:?} in\n{}", a.body);
    }
    ensure!(
        a.body.contains("class=\"field-error\"") || a.body.contains("class=\"error\""),
        "{what}: the reason is not by a field"
    );
    Ok(())
}

/// A form's fields, the CSRF token and key of `page` first.
fn with<'a>(csrf: &'a str, key: &'a str, rest: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("csrf_token", csrf), ("form_key", key)];
    v.extend_from_slice(rest);
    v
}

/// 绩效自评 and 汇总报告 through the county's page: who sees which form,
/// every refusal by its field with nothing recorded, once per key.
async fn the_evaluation_and_report_forms_record_once_and_refuse_by_the_field(
    engine: Engine,
) -> Result<()> {
    let (node, lead_tok) = county_node(engine).await?;

    // Who sees which form.
    let mut wang = Person::sign_in(&node, "wang").await?;
    let a = wang.get(PAGE).await?;
    ensure!(a.status == StatusCode::OK, "{}", a.status);
    ensure!(
        a.body.contains("action=\"/evaluation/self?year=2020\"")
            && a.body.contains("action=\"/evaluation/reports?year=2020\"")
            && !a.body.contains("action=\"/evaluation/spot-checks")
            && a.body.contains("value=\"P1\"")
            && !a.body.contains("value=\"P3\""),
        "the department officer's forms: {}",
        a.body
    );
    let mut zhao = Person::sign_in(&node, "zhao").await?;
    let z = zhao.get(PAGE).await?;
    ensure!(
        z.status == StatusCode::OK && !z.body.contains("action=\"/evaluation/"),
        "the treasury sees no form"
    );
    let mut li = Person::sign_in(&node, "li").await?;
    let la = li.get(PAGE).await?;
    ensure!(
        !la.body.contains("action=\"/evaluation/self")
            && la.body.contains("action=\"/evaluation/reports")
            && la.body.contains("action=\"/evaluation/spot-checks"),
        "the lead office compiles and spot-checks, does not evaluate"
    );

    // Every refusal of the self-evaluation, by its field, nothing recorded.
    let csrf = field_value(&a.body, "csrf_token")?;
    let key = field_value(&a.body, "form_key")?;
    let post = "/evaluation/self?year=2020";
    let before = heads(&node).await?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("measures", "x")]))
        .await?;
    refused_with("no project", &r, &["请选择要自评的项目"])?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("project", "P2")]))
        .await?;
    refused_with("no actual", &r, &["尚未填报实际完成值"])?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("project", "P3")]))
        .await?;
    refused_with("another department's", &r, &["超出本人职责范围"])?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("project", "NOPE")]))
        .await?;
    refused_with("unknown project", &r, &["本节点没有这个项目"])?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("project", "P1")]))
        .await?;
    refused_with("short without reasons", &r, &["须填写未完成原因"])?;
    let long = "长".repeat(2_001);
    let r = wang
        .post(
            post,
            &with(&csrf, &key, &[("project", "P1"), ("shortfall", &long)]),
        )
        .await?;
    refused_with("too long", &r, &["最多"])?;
    let r = wang
        .post(
            post,
            &with(
                &csrf,
                "0-00000000000000000000000000000000",
                &[("project", "P1"), ("shortfall", "工期延误")],
            ),
        )
        .await?;
    refused_with("stale key", &r, &["表单已过期"])?;
    let r = wang
        .post(
            post,
            &[
                ("form_key", key.as_str()),
                ("project", "P1"),
                ("shortfall", "工期延误"),
            ],
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "no CSRF: {}", r.status);
    let zcsrf = field_value(&z.body, "csrf_token")?;
    let r = zhao
        .post(
            post,
            &with(
                &zcsrf,
                &key,
                &[("project", "P1"), ("shortfall", "工期延误")],
            ),
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "treasury: {}", r.status);
    ensure!(
        heads(&node).await? == before,
        "a refused self-evaluation moved the journal"
    );

    // Recorded, sent twice under one key: once.
    let ok = with(
        &csrf,
        &key,
        &[
            ("project", "P1"),
            ("shortfall", "冬季停工，工期延误"),
            ("measures", "加强项目调度"),
        ],
    );
    for _ in 0..2 {
        let r = wang.post(post, &ok).await?;
        ensure!(
            r.status == StatusCode::SEE_OTHER && r.location == "/evaluation?year=2020&done=self",
            "{} {} {}",
            r.status,
            r.location,
            r.body
        );
    }
    let y = year(&node, &lead_tok).await?;
    ensure!(y["evaluated"] == 1, "one self-evaluation: {y}");
    let a = wang.get("/evaluation?year=2020&done=self").await?;
    ensure!(
        a.body.contains("自评已记录") && a.body.contains("冬季停工，工期延误"),
        "the page shows it"
    );
    // A different one for the same project and year: refused, kept as was.
    let key2 = field_value(&a.body, "form_key")?;
    let before = heads(&node).await?;
    let r = wang
        .post(
            post,
            &with(
                &csrf,
                &key2,
                &[("project", "P1"), ("shortfall", "资金未到位")],
            ),
        )
        .await?;
    refused_with("a second, different one", &r, &["已有不同内容的自评"])?;
    ensure!(
        heads(&node).await? == before,
        "a conflict moved the journal"
    );

    // 汇总报告: every refusal by its field.
    let post = "/evaluation/reports?year=2020";
    let key = field_value(&a.body, "form_key")?;
    let before = heads(&node).await?;
    let r = wang
        .post(
            post,
            &with(&csrf, &key, &[("scope", "node"), ("summary", "本县汇总")]),
        )
        .await?;
    refused_with("a node report by a department", &r, &["由牵头科室办理"])?;
    let r = wang
        .post(
            post,
            &with(
                &csrf,
                &key,
                &[
                    ("scope", "department"),
                    ("department", "农业局"),
                    ("summary", "x"),
                ],
            ),
        )
        .await?;
    refused_with(
        "another department's report",
        &r,
        &["您只能汇总交通局的部门报告"],
    )?;
    let r = wang
        .post(post, &with(&csrf, &key, &[("scope", "department")]))
        .await?;
    refused_with("no summary", &r, &["此项必填"])?;
    let r = wang
        .post(
            post,
            &with(&csrf, &key, &[("scope", "whole"), ("summary", "x")]),
        )
        .await?;
    refused_with("no scope", &r, &["请选择报告类型"])?;
    let mut liu = Person::sign_in(&node, "liu").await?;
    let la2 = liu.get(PAGE).await?;
    let (lcsrf, lkey) = (
        field_value(&la2.body, "csrf_token")?,
        field_value(&la2.body, "form_key")?,
    );
    let r = liu
        .post(
            post,
            &with(
                &lcsrf,
                &lkey,
                &[("scope", "department"), ("summary", "农业局汇总")],
            ),
        )
        .await?;
    refused_with("nothing to compile", &r, &["没有可汇总的自评或报告"])?;
    let la = li.get(PAGE).await?;
    let (icsrf, ikey) = (
        field_value(&la.body, "csrf_token")?,
        field_value(&la.body, "form_key")?,
    );
    let r = li
        .post(
            post,
            &with(&icsrf, &ikey, &[("scope", "department"), ("summary", "x")]),
        )
        .await?;
    refused_with("a department report naming none", &r, &["此项必填"])?;
    let r = zhao
        .post(
            post,
            &with(&zcsrf, &ikey, &[("scope", "node"), ("summary", "x")]),
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "treasury: {}", r.status);
    ensure!(
        heads(&node).await? == before,
        "a refused report moved the journal"
    );

    // The department's, then the node's over it, each once.
    let dept = with(
        &csrf,
        &key,
        &[("scope", "department"), ("summary", "交通局项目基本完成")],
    );
    for _ in 0..2 {
        let r = wang.post(post, &dept).await?;
        ensure!(
            r.status == StatusCode::SEE_OTHER && r.location.ends_with("done=report"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let whole = with(
        &icsrf,
        &ikey,
        &[("scope", "node"), ("summary", "本县项目基本完成")],
    );
    let r = li.post(post, &whole).await?;
    ensure!(r.status == StatusCode::SEE_OTHER, "{} {}", r.status, r.body);
    let y = year(&node, &lead_tok).await?;
    let reports = y["reports"].as_array().context("reports")?;
    ensure!(reports.len() == 2, "two reports: {y}");
    let n = reports
        .iter()
        .find(|r| r["scope"] == "node")
        .context("the node's")?;
    ensure!(
        n["evaluations"] == 1 && n["reports"] == 1 && n["funds"] == "800000.00",
        "the node's report over the department's: {n}"
    );
    node.stop().await
}

fundsync_tests::on_both!(the_evaluation_and_report_forms_record_once_and_refuse_by_the_field);

/// 抽查 and its findings through the prefecture's page, over a county's
/// evaluations carried up in a signed bundle.
async fn the_spot_check_and_finding_forms_refuse_by_the_field(engine: Engine) -> Result<()> {
    let (cc, name) = ("652822", "轮台县");
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let p = node.ledger.ledger.clone();
    let pk = NodeKey::from_seed(&[28; 32]);
    let ck = NodeKey::from_seed(&[40; 32]);
    p.submit(
        &[
            child(cc, name),
            Body::KeyRegistered(fundsync_protocol::body::KeyRegistered::of(
                code(cc),
                &ck.verifying_key(),
            )),
        ],
        &clerk(),
    )
    .await?;
    let c = fixtures::ledger(engine, &county(cc, name)).await?;
    c.ledger.trust_parent_keys(&[pk.verifying_key()]).await?;
    let out = c
        .ledger
        .submit(
            &[
                project("P1", "800000"),
                target("P1"),
                project("P2", "200000"),
                target("P2"),
            ],
            &clerk(),
        )
        .await?;
    let mut evaluations = Vec::new();
    for (project, t) in [("P1", out[1].id()), ("P2", out[3].id())] {
        evaluations.push(created(&c.ledger, evaluation(project, 2020, t, "12", "")).await?);
    }
    up_into(&c.ledger, &ck, &p, &pk).await?;
    let acc = accounts(&node);
    let li = add_user(&acc, "li", &[Role::Lead], None, false).await?;
    let tok = token(&acc, &li).await?;
    add_user(&acc, "sun", &[Role::Auditor], None, false).await?;

    let mut li = Person::sign_in(&node, "li").await?;
    let a = li.get(PAGE).await?;
    ensure!(
        a.body
            .contains("action=\"/evaluation/spot-checks?year=2020\"")
            && a.body.contains("没有待检查的抽查样本"),
        "{}",
        a.body
    );
    let mut sun = Person::sign_in(&node, "sun").await?;
    let s = sun.get(PAGE).await?;
    ensure!(
        s.status == StatusCode::OK && !s.body.contains("action=\"/evaluation/"),
        "the auditor reads, records nothing"
    );
    let csrf = field_value(&a.body, "csrf_token")?;
    let key = field_value(&a.body, "form_key")?;
    let post = "/evaluation/spot-checks?year=2020";
    let before = heads(&node).await?;
    let r = li
        .post(post, &with(&csrf, &key, &[("seed", "7"), ("size", "1")]))
        .await?;
    refused_with("no title", &r, &["此项必填"])?;
    let r = li
        .post(
            post,
            &with(
                &csrf,
                &key,
                &[("title", "抽查"), ("seed", "七"), ("size", "1")],
            ),
        )
        .await?;
    refused_with("a seed not a number", &r, &["请填写非负整数作为随机种子"])?;
    for size in ["0", "201", "x"] {
        let r = li
            .post(
                post,
                &with(
                    &csrf,
                    &key,
                    &[("title", "抽查"), ("seed", "7"), ("size", size)],
                ),
            )
            .await?;
        refused_with(size, &r, &["抽取数量须为 1 至 200 的整数"])?;
    }
    let r = li
        .post(
            "/evaluation/spot-checks?year=2019",
            &with(
                &csrf,
                &key,
                &[("title", "抽查"), ("seed", "7"), ("size", "1")],
            ),
        )
        .await?;
    refused_with(
        "a year with nothing to sample",
        &r,
        &["尚无可抽查的绩效自评"],
    )?;
    let scsrf = field_value(&s.body, "csrf_token")?;
    let r = sun
        .post(
            post,
            &with(
                &scsrf,
                &key,
                &[("title", "抽查"), ("seed", "7"), ("size", "1")],
            ),
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "auditor: {}", r.status);
    ensure!(
        heads(&node).await? == before,
        "a refused spot check moved the journal"
    );
    let draw = with(
        &csrf,
        &key,
        &[("title", "2020 年度抽查"), ("seed", "7"), ("size", "1")],
    );
    for _ in 0..2 {
        let r = li.post(post, &draw).await?;
        ensure!(
            r.status == StatusCode::SEE_OTHER && r.location.ends_with("done=spot-check"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let y = year(&node, &tok).await?;
    let checks = y["spot_checks"].as_array().context("spot checks")?;
    ensure!(checks.len() == 1, "one spot check: {y}");
    let sc = checks[0]["id"].as_str().context("id")?.to_owned();
    let sampled = checks[0]["sample"][0]["evaluation"]
        .as_str()
        .context("sampled")?
        .to_owned();
    let other = evaluations
        .iter()
        .map(ToString::to_string)
        .find(|e| *e != sampled)
        .context("the other")?;
    // The same title, another draw: refused.
    let a = li.get(PAGE).await?;
    let key = field_value(&a.body, "form_key")?;
    let before = heads(&node).await?;
    let r = li
        .post(
            post,
            &with(
                &csrf,
                &key,
                &[("title", "2020 年度抽查"), ("seed", "8"), ("size", "2")],
            ),
        )
        .await?;
    refused_with("the same title", &r, &["本年度已有同名抽查"])?;

    // Findings.
    ensure!(
        a.body.contains(&format!("value=\"{sc}/{sampled}\"")),
        "the sampled evaluation is offered"
    );
    let post = "/evaluation/findings?year=2020";
    let r = li.post(post, &with(&csrf, &key, &[])).await?;
    refused_with(
        "nothing chosen",
        &r,
        &["请选择抽查样本", "请选择符合或不符合"],
    )?;
    let item = format!("{sc}/{sampled}");
    let r = li
        .post(
            post,
            &with(
                &csrf,
                &key,
                &[("item", &item), ("verdict", "non_conforming")],
            ),
        )
        .await?;
    refused_with("不符合 without notes", &r, &["须填写检查意见"])?;
    let not_sampled = format!("{sc}/{other}");
    let r = li
        .post(
            post,
            &with(
                &csrf,
                &key,
                &[("item", &not_sampled), ("verdict", "conforming")],
            ),
        )
        .await?;
    refused_with("not in the sample", &r, &["请选择本节点抽查样本中的自评"])?;
    let r = sun
        .post(
            post,
            &with(&scsrf, &key, &[("item", &item), ("verdict", "conforming")]),
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "auditor: {}", r.status);
    ensure!(
        heads(&node).await? == before,
        "a refused finding moved the journal"
    );
    let found = with(
        &csrf,
        &key,
        &[
            ("item", &item),
            ("verdict", "non_conforming"),
            ("notes", "佐证材料不全"),
        ],
    );
    for _ in 0..2 {
        let r = li.post(post, &found).await?;
        ensure!(
            r.status == StatusCode::SEE_OTHER && r.location.ends_with("done=finding"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let a = li.get("/evaluation?year=2020&done=finding").await?;
    ensure!(
        a.body.contains("抽查结论已登记")
            && a.body.contains("佐证材料不全")
            && a.body.contains("尚未指派")
            && a.body.contains("没有待检查的抽查样本"),
        "{}",
        a.body
    );
    node.stop().await
}

fundsync_tests::on_both!(the_spot_check_and_finding_forms_refuse_by_the_field);

/// A department officer records a self-evaluation in Chromium: refused
/// first (a shortfall without its reasons, said next to the field), then
/// recorded and shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_self_evaluation_is_recorded_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let (node, lead_tok) = county_node(Engine::Sqlite).await?;
    let driver = fundsync_tests::webdriver::Driver::start().await?;
    let b = driver.browser().await?;
    let base = node.base.clone();
    b.goto(&format!("{base}/login?next=/evaluation")).await?;
    b.type_into("#f-login", "wang").await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("button[type=submit]").await?;
    b.wait_for_url("the evaluation page", |u| u.contains("/evaluation"))
        .await?;
    b.goto(&format!("{base}{PAGE}")).await?;
    b.click("#f-project option[value=P1]").await?;
    b.type_into("#f-measures", "加强项目调度").await?;
    b.click("#evaluate button[type=submit]").await?;
    let refused = |src: &str| src.contains("id=\"f-shortfall-error\"");
    fundsync_tests::cluster::eventually(Duration::from_secs(30), "the refusal", || async {
        Ok(refused(&b.source().await?).then_some(()))
    })
    .await?;
    let page = b.source().await?;
    ensure!(
        page.contains("有绩效指标未完成，须填写未完成原因"),
        "the reason by the field: {page}"
    );
    ensure!(
        year(&node, &lead_tok).await?["evaluated"] == 0,
        "nothing recorded"
    );
    // The refused form keeps what was typed; the reason is added.
    b.type_into("#f-shortfall", "冬季停工，工期延误").await?;
    b.click("#evaluate button[type=submit]").await?;
    let at = match b
        .wait_for_url("the recorded page", |u| u.contains("done=self"))
        .await
    {
        Ok(at) => at,
        Err(e) => {
            let page = b.source().await.unwrap_or_default();
            anyhow::bail!("{e}; the browser shows:\n{page}");
        }
    };
    ensure!(at.ends_with("/evaluation?year=2020&done=self"), "{at}");
    let page = b.source().await?;
    ensure!(
        page.contains("自评已记录")
            && page.contains("冬季停工，工期延误")
            && page.contains("0 / 1"),
        "{page}"
    );
    ensure!(year(&node, &lead_tok).await?["evaluated"] == 1, "recorded");
    b.quit().await?;
    node.stop().await
}
