//! The performance-target cycle (seed 003 第七–九条, protocol version 5)
//! from outside: a real node on port 0 with the node's default rule
//! (`target_approval_required` on), people made through `Accounts`, the API
//! and the pages as a browser sends them (session cookie, CSRF field, form
//! key); a county and its prefecture over real TLS for the filing upward
//! (备案). Every refusal leaves the journal's heads as they were.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::Accounts;
use fundsync_node::ledger::query::{FilingFilter, Page};
use fundsync_node::ledger::verify::Check;
use fundsync_node::ledger::LedgerError;
use fundsync_protocol::body::{CategoryDefined, ProjectStatus, TargetsApproved, TargetsReviewed};
use fundsync_protocol::{Body, EntryId};
use fundsync_tests::build::{clerk, day, own_budget, project, target};
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{prefecture, Engine, TestNode};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::access::{accounts, add_user, heads, token, PASSWORD};

/// A prefecture node (652800) that runs as a node does by default: a
/// project is paid and started only with every target approved.
async fn node(engine: Engine) -> Result<TestNode> {
    TestNode::start_with(engine, &prefecture(), |c| {
        c.rules.target_approval_required = true;
    })
    .await
}

struct Desks {
    acc: Accounts,
    /// 业务股室 of 农财所: registers projects, sets and adjusts targets.
    department: String,
    /// 牵头科室: reviews and approves.
    lead: String,
    /// 国库支付: pays.
    treasury: String,
}

async fn desks(node: &TestNode) -> Result<Desks> {
    let acc = accounts(node);
    let d = add_user(&acc, "dept", &[Role::Department], Some("农财所"), false).await?;
    let l = add_user(&acc, "lead", &[Role::Lead], None, false).await?;
    let t = add_user(&acc, "pay", &[Role::Treasury], None, false).await?;
    Ok(Desks {
        department: token(&acc, &d).await?,
        lead: token(&acc, &l).await?,
        treasury: token(&acc, &t).await?,
        acc,
    })
}

async fn call(node: &TestNode, tok: &str, path: &str, body: Value) -> Result<(StatusCode, Value)> {
    let res = reqwest::Client::new()
        .post(node.url(path))
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await?;
    let s = res.status();
    let text = res.text().await?;
    Ok((
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn read(node: &TestNode, tok: &str, path: &str) -> Result<Value> {
    let res = reqwest::Client::new()
        .get(node.url(path))
        .bearer_auth(tok)
        .send()
        .await?;
    ensure!(res.status() == StatusCode::OK, "{path}: {}", res.status());
    Ok(res.json().await?)
}

/// A refusal with `status` and `code`, the journal unchanged.
async fn refused(
    node: &TestNode,
    tok: &str,
    path: &str,
    body: Value,
    status: StatusCode,
    code: &str,
) -> Result<Value> {
    let before = heads(node).await?;
    let (s, v) = call(node, tok, path, body.clone()).await?;
    ensure!(
        s == status && v["error"] == code,
        "{path} {body}: want {status} {code}, got {s} {v}"
    );
    ensure!(heads(node).await? == before, "{path}: the journal moved");
    Ok(v)
}

async fn ok(
    node: &TestNode,
    tok: &str,
    path: &str,
    body: Value,
    status: StatusCode,
) -> Result<String> {
    let (s, v) = call(node, tok, path, body.clone()).await?;
    ensure!(s == status, "{path} {body}: want {status}, got {s} {v}");
    Ok(v["id"].as_str().context("an id")?.to_owned())
}

/// A category of 农财所 with an own budget to pay from.
async fn budget(node: &TestNode) -> Result<EntryId> {
    let l = &node.ledger.ledger;
    let cat: CategoryDefined = serde_json::from_value(json!({
        "code": "BZ-01", "name": "扶贫资金", "origin": "prefecture",
        "department": "农财所", "classified": false}))?;
    l.submit_one(Body::CategoryDefined(cat), &clerk()).await?;
    let o = l
        .submit_one(
            own_budget("巴财〔2020〕1号", "BZ-01", "5000000", "2020-01-30"),
            &clerk(),
        )
        .await?;
    Ok(o.id())
}

fn new_project(code: &str, status: &str) -> Value {
    json!({"code": code, "name": "村道硬化", "township": "轮台镇", "village": "一村",
           "department": "农财所", "starts_on": "2020-03-01", "ends_on": "2020-10-31",
           "budget": "2000000", "status": status})
}

fn pay(voucher: &str, alloc: EntryId, project: &str) -> Value {
    json!({"voucher_no": voucher, "paid_on": "2020-05-01", "payer": "农财所",
           "payee_name": "某建筑公司", "amount": "1000", "allocation": alloc.to_string(),
           "project": project, "purpose": "村道硬化工程款"})
}

fn km(value: &str) -> Value {
    json!({"level1": "output", "level2": "quantity", "indicator": "硬化道路里程",
           "op": ">=", "value": value, "unit": "公里"})
}

fn target_of(project: &Value, id: &str) -> Result<Value> {
    project["targets"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .cloned()
        .context("the target on the project")
}

/// The whole cycle over the API, and each refusal on the way.
async fn submitted_reviewed_approved_adjusted_and_paid(engine: Engine) -> Result<()> {
    let node = node(engine).await?;
    let d = desks(&node).await?;
    let alloc = budget(&node).await?;
    // seed 003 §7: a new project enters as planned, not as 实施.
    refused(
        &node,
        &d.department,
        "/api/v1/projects",
        new_project("P-2", "in_progress"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "targets_not_approved",
    )
    .await?;
    ok(
        &node,
        &d.department,
        "/api/v1/projects",
        new_project("P-1", "planned"),
        StatusCode::CREATED,
    )
    .await?;
    let t = ok(
        &node,
        &d.department,
        "/api/v1/projects/P-1/targets",
        km("12"),
        StatusCode::CREATED,
    )
    .await?;

    // Submitted only: no funds, no start, no approval without review.
    let v = refused(
        &node,
        &d.treasury,
        "/api/v1/payments",
        pay("V-1", alloc, "P-1"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "targets_not_approved",
    )
    .await?;
    ensure!(
        v["message"].as_str().unwrap_or("").contains("1 of its 1"),
        "{v}"
    );
    refused(
        &node,
        &d.department,
        "/api/v1/projects/P-1/status",
        json!({"status": "in_progress"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "targets_not_approved",
    )
    .await?;
    refused(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        json!({"submissions": [t], "doc_no": "巴财绩〔2020〕1号", "approved_on": "2020-03-05"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "target_not_reviewed",
    )
    .await?;
    // Review and approval are the finance bureau's, not the department's.
    let review_ok =
        json!({"reviewed_on": "2020-03-03", "necessity": true, "relevance": true, "fit": true});
    refused(
        &node,
        &d.department,
        "/api/v1/projects/P-1/targets/review",
        review_ok.clone(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    refused(
        &node,
        &d.treasury,
        "/api/v1/projects/P-1/targets/approval",
        json!({"doc_no": "巴财绩〔2020〕1号", "approved_on": "2020-03-05"}),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    // Returned without reasons is refused; with them, recorded.
    let fails =
        json!({"reviewed_on": "2020-03-02", "necessity": true, "relevance": true, "fit": false});
    refused(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/review",
        fails.clone(),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await?;
    let mut returned = fails.clone();
    returned["reasons"] = json!("12 公里与 200 万元不匹配，请按 15 公里测算");
    ok(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/review",
        returned,
        StatusCode::CREATED,
    )
    .await?;
    let p = read(&node, &d.lead, "/api/v1/projects/652800/P-1").await?;
    ensure!(target_of(&p, &t)?["approval"] == "returned", "{p}");
    refused(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        json!({"submissions": [t], "doc_no": "巴财绩〔2020〕1号", "approved_on": "2020-03-05"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "target_not_reviewed",
    )
    .await?;
    // The department revises it; a second revision while it is open is refused.
    let revise =
        json!({"op": ">=", "value": "15", "reason": "按审核意见调整", "adjusted_on": "2020-03-03"});
    let r1 = ok(
        &node,
        &d.department,
        &format!("/api/v1/targets/{t}/adjustment"),
        revise.clone(),
        StatusCode::CREATED,
    )
    .await?;
    // The same adjustment again is a retry (200, the same entry).
    ensure!(
        ok(
            &node,
            &d.department,
            &format!("/api/v1/targets/{t}/adjustment"),
            revise,
            StatusCode::OK
        )
        .await?
            == r1
    );
    refused(
        &node,
        &d.department,
        &format!("/api/v1/targets/{t}/adjustment"),
        json!({"op": ">=", "value": "16", "reason": "再调", "adjusted_on": "2020-03-03"}),
        StatusCode::CONFLICT,
        "target_not_pending",
    )
    .await?;
    // Reviewed and approved; the same review and approval again are retries.
    let rv = ok(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/review",
        review_ok.clone(),
        StatusCode::CREATED,
    )
    .await?;
    let again = json!({"submissions": [r1], "reviewed_on": "2020-03-03", "necessity": true, "relevance": true, "fit": true});
    ensure!(
        ok(
            &node,
            &d.lead,
            "/api/v1/projects/P-1/targets/review",
            again,
            StatusCode::OK
        )
        .await?
            == rv
    );
    let approve =
        json!({"submissions": [r1], "doc_no": "巴财绩〔2020〕1号", "approved_on": "2020-03-05"});
    let ap = ok(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        approve.clone(),
        StatusCode::CREATED,
    )
    .await?;
    ensure!(
        ok(
            &node,
            &d.lead,
            "/api/v1/projects/P-1/targets/approval",
            approve,
            StatusCode::OK
        )
        .await?
            == ap
    );
    // Approving it again under another 文号 is a conflict.
    refused(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        json!({"submissions": [r1], "doc_no": "巴财绩〔2020〕2号", "approved_on": "2020-03-06"}),
        StatusCode::CONFLICT,
        "already_approved",
    )
    .await?;
    let p = read(&node, &d.lead, "/api/v1/projects/652800/P-1").await?;
    let tv = target_of(&p, &t)?;
    ensure!(
        tv["approval"] == "approved"
            && tv["value"] == "15"
            && tv["approved_doc"] == "巴财绩〔2020〕1号",
        "{tv}"
    );

    // Approved: paid and started.
    ok(
        &node,
        &d.treasury,
        "/api/v1/payments",
        pay("V-1", alloc, "P-1"),
        StatusCode::CREATED,
    )
    .await?;
    ok(
        &node,
        &d.department,
        "/api/v1/projects/P-1/status",
        json!({"status": "in_progress"}),
        StatusCode::CREATED,
    )
    .await?;

    // An adjustment of an approved target: the old value stays in force
    // (and funds keep flowing) until it is reviewed and approved; approving
    // it without review is refused.
    let a2 = ok(&node, &d.department, &format!("/api/v1/targets/{t}/adjustment"),
        json!({"op": ">=", "value": "18", "reason": "追加投资 50 万元", "adjusted_on": "2020-06-01"}),
        StatusCode::CREATED).await?;
    refused(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        json!({"submissions": [a2], "doc_no": "巴财绩〔2020〕9号", "approved_on": "2020-06-05"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "target_not_reviewed",
    )
    .await?;
    let p = read(&node, &d.lead, "/api/v1/projects/652800/P-1").await?;
    ensure!(
        target_of(&p, &t)?["value"] == "15" && target_of(&p, &t)?["approval"] == "approved",
        "{p}"
    );
    ok(
        &node,
        &d.treasury,
        "/api/v1/payments",
        pay("V-2", alloc, "P-1"),
        StatusCode::CREATED,
    )
    .await?;
    ok(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/review",
        json!({"reviewed_on": "2020-06-02", "necessity": true, "relevance": true, "fit": true}),
        StatusCode::CREATED,
    )
    .await?;
    ok(
        &node,
        &d.lead,
        "/api/v1/projects/P-1/targets/approval",
        json!({"doc_no": "巴财绩〔2020〕9号", "approved_on": "2020-06-05"}),
        StatusCode::CREATED,
    )
    .await?;
    let p = read(&node, &d.lead, "/api/v1/projects/652800/P-1").await?;
    ensure!(target_of(&p, &t)?["value"] == "18", "{p}");
    // History: the first submission, the revision (12 → 15), the
    // adjustment (15 → 18), each with its review and approval.
    let subs = read(&node, &d.lead, "/api/v1/projects/652800/P-1/submissions").await?;
    let subs = subs.as_array().context("a list")?;
    ensure!(subs.len() == 3, "{subs:?}");
    ensure!(
        subs[0]["state"] == "returned" && subs[0]["value"] == "12" && subs[0]["fit"] == 0,
        "{:?}",
        subs[0]
    );
    ensure!(
        subs[1]["old_value"] == "12" && subs[1]["value"] == "15" && subs[1]["state"] == "approved",
        "{:?}",
        subs[1]
    );
    ensure!(
        subs[2]["old_value"] == "15"
            && subs[2]["value"] == "18"
            && subs[2]["doc_no"] == "巴财绩〔2020〕9号",
        "{:?}",
        subs[2]
    );
    ensure!(subs[2]["approved_by"]["login"] == "lead", "{:?}", subs[2]);
    // 备案: the approved submissions.
    let filed = read(&node, &d.lead, "/api/v1/targets/filings").await?;
    ensure!(
        filed["items"].as_array().map(Vec::len) == Some(2),
        "{filed}"
    );
    // A reviewer may not name another project's submission.
    ok(
        &node,
        &d.department,
        "/api/v1/projects",
        new_project("P-3", "planned"),
        StatusCode::CREATED,
    )
    .await?;
    let t3 = ok(
        &node,
        &d.department,
        "/api/v1/projects/P-3/targets",
        km("3"),
        StatusCode::CREATED,
    )
    .await?;
    refused(&node, &d.lead, "/api/v1/projects/P-1/targets/review",
        json!({"submissions": [t3], "reviewed_on": "2020-06-02", "necessity": true, "relevance": true, "fit": true}),
        StatusCode::UNPROCESSABLE_ENTITY, "unknown_target").await?;

    // The auditor's check recomputes the cycle's standing: tampering with
    // the count that lets a project be paid is found.
    let l = &node.ledger.ledger;
    let report = l.verify().await?;
    ensure!(report.ok(), "{:?}", report.problems);
    sqlx::query("UPDATE projects SET targets_unapproved = 0 WHERE code = 'P-3'")
        .execute(l.db().read())
        .await?;
    let report = l.verify().await?;
    ensure!(
        report
            .problems
            .iter()
            .any(|p| p.check == Check::Target && p.subject == "652800 P-3"),
        "{:?}",
        report.problems
    );
    drop(d.acc);
    node.stop().await
}

fundsync_tests::on_both!(submitted_reviewed_approved_adjusted_and_paid);

/// A county's approved targets are filed upward (备案): the prefecture and
/// the region hold them; an ancestor cannot review or approve them.
async fn approved_targets_roll_up_and_only_their_node_decides_them(engine: Engine) -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start_with(engine, &tree, |cfg| {
        cfg.rules.target_approval_required = true;
    })
    .await?;
    let county = c.ledger("652822");
    let who = clerk();
    let mut p = project("LT2020-001", "2000000");
    if let Body::ProjectRegistered(b) = &mut p {
        b.status = ProjectStatus::Planned;
    }
    county.submit_one(p, &who).await?;
    let t = county.submit_one(target("LT2020-001"), &who).await?.id();
    county
        .submit_one(
            Body::TargetsReviewed(TargetsReviewed {
                project: "LT2020-001".into(),
                submissions: vec![t],
                reviewed_on: day("2020-03-02"),
                necessity: true,
                relevance: true,
                fit: true,
                reasons: String::new(),
            }),
            &who,
        )
        .await?;
    let approve = |doc: &str| {
        Body::TargetsApproved(TargetsApproved {
            project: "LT2020-001".into(),
            submissions: vec![t],
            doc_no: doc.into(),
            approved_on: day("2020-03-05"),
        })
    };
    county
        .submit_one(approve("轮财绩〔2020〕1号"), &who)
        .await?;
    c.converged(Duration::from_secs(30)).await?;
    for up in ["652800", "650000"] {
        let l = c.ledger(up);
        let filed = eventually(Duration::from_secs(10), "the filing upward", || async {
            let f = l
                .target_filings(
                    FilingFilter {
                        origin: None,
                        project: None,
                        scope: fundsync_node::access::Scope::all(),
                    },
                    Page::default(),
                )
                .await?;
            Ok((!f.items.is_empty()).then_some(f.items))
        })
        .await?;
        ensure!(
            filed.len() == 1
                && filed[0].origin == "652822"
                && filed[0].doc_no.as_deref() == Some("轮财绩〔2020〕1号"),
            "{up}: {filed:?}"
        );
    }
    // The prefecture, holding the county's target, may not approve it.
    let pref = c.ledger("652800");
    let before = format!("{:?}", pref.heads().await?);
    let e = pref
        .submit_one(approve("巴财绩〔2020〕1号"), &who)
        .await
        .expect_err("another node's target");
    ensure!(
        matches!(e, LedgerError::NotOwnTarget(id) if id == t),
        "{e:?}"
    );
    ensure!(
        format!("{:?}", pref.heads().await?) == before,
        "the journal moved"
    );
    c.shutdown().await
}

fundsync_tests::on_both!(approved_targets_roll_up_and_only_their_node_decides_them);

// ---------------------------------------------------------------- pages

/// A person signed in through the login page, the session cookie kept by
/// hand, redirects not followed.
pub(crate) struct Person {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    cookie: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Person {
    pub(crate) async fn sign_in(node: &TestNode, login: &str) -> Result<Person> {
        Person::sign_in_at(&node.base, login, PASSWORD).await
    }

    /// Signs `login` in with `password` at the pages under `base`.
    pub(crate) async fn sign_in_at(base: &str, login: &str, password: &str) -> Result<Person> {
        let mut p = Person {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: base.to_owned(),
            cookie: None,
        };
        let a = p
            .post(
                "/login",
                &[("login", login), ("password", password), ("next", "/")],
            )
            .await?;
        ensure!(
            a.status == StatusCode::SEE_OTHER && p.cookie.is_some(),
            "{login}: {}",
            a.status
        );
        Ok(p)
    }

    pub(crate) async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<Answer> {
        let req = match &self.cookie {
            Some(c) => req.header(COOKIE, c),
            None => req,
        };
        let res = req.send().await?;
        for v in res.headers().get_all(SET_COOKIE) {
            let pair = v.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if pair.starts_with("fundsync_session=") {
                self.cookie = Some(pair.to_owned());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok(Answer {
            status,
            location,
            body: res.text().await?,
        })
    }

    pub(crate) async fn get(&mut self, path: &str) -> Result<Answer> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(crate) async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Result<Answer> {
        let req = self.http.post(format!("{}{path}", self.base)).form(pairs);
        self.send(req).await
    }
}

/// The value of the first `name` field of a page.
pub(crate) fn field_value(page: &str, name: &str) -> Result<String> {
    let at = page
        .find(&format!("name=\"{name}\" value=\""))
        .with_context(|| format!("a field {name}"))?;
    let rest = &page[at + name.len() + "name=\"\" value=\"".len()..];
    Ok(rest[..rest.find('"').context("end of the value")?].to_owned())
}

/// The pages' forms: refusals by the field in Chinese, nothing recorded;
/// a form sent twice (its key) records once; the project page links the
/// cycle and shows where each target stands.
async fn the_forms_review_approve_and_adjust_once(engine: Engine) -> Result<()> {
    let node = node(engine).await?;
    let d = desks(&node).await?;
    ok(
        &node,
        &d.department,
        "/api/v1/projects",
        new_project("P-1", "planned"),
        StatusCode::CREATED,
    )
    .await?;
    let t = ok(
        &node,
        &d.department,
        "/api/v1/projects/P-1/targets",
        km("12"),
        StatusCode::CREATED,
    )
    .await?;
    let page = "/projects/652800/P-1/targets";
    let mut lead = Person::sign_in(&node, "lead").await?;
    let a = lead.get(page).await?;
    ensure!(a.status == StatusCode::OK, "{}", a.status);
    ensure!(
        a.body.contains("待审核") && a.body.contains("必要性") && a.body.contains("相关性"),
        "{}",
        a.body
    );
    let csrf = field_value(&a.body, "csrf_token")?;
    let key = field_value(&a.body, "form_key")?;
    // Nothing chosen: each criterion refused by its field, in Chinese.
    let before = heads(&node).await?;
    let r = lead
        .post(
            &format!("{page}/review"),
            &[
                ("csrf_token", &csrf),
                ("form_key", &key),
                ("reviewed_on", "2020-03-02"),
            ],
        )
        .await?;
    ensure!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY && r.body.contains("请选择通过或不通过"),
        "{} {}",
        r.status,
        r.body
    );
    // Failed without reasons.
    let r = lead
        .post(
            &format!("{page}/review"),
            &[
                ("csrf_token", &csrf),
                ("form_key", &key),
                ("necessity", "pass"),
                ("relevance", "pass"),
                ("fit", "fail"),
                ("reviewed_on", "2020-03-02"),
            ],
        )
        .await?;
    ensure!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY && r.body.contains("须填写退回理由"),
        "{}",
        r.status
    );
    // Approval before review: refused on the form.
    let r = lead
        .post(
            &format!("{page}/approval"),
            &[
                ("csrf_token", &csrf),
                ("form_key", &key),
                ("doc_no", "巴财绩〔2020〕1号"),
                ("approved_on", "2020-03-05"),
            ],
        )
        .await?;
    ensure!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY && r.body.contains("须先审核"),
        "{}",
        r.status
    );
    // Without the CSRF token: refused before anything is read.
    let r = lead
        .post(
            &format!("{page}/review"),
            &[
                ("form_key", key.as_str()),
                ("necessity", "pass"),
                ("relevance", "pass"),
                ("fit", "pass"),
                ("reviewed_on", "2020-03-02"),
            ],
        )
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{}", r.status);
    ensure!(
        heads(&node).await? == before,
        "a refused form moved the journal"
    );
    // Passed, sent twice with one key: recorded once.
    let pass = [
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("necessity", "pass"),
        ("relevance", "pass"),
        ("fit", "pass"),
        ("reviewed_on", "2020-03-02"),
    ];
    for _ in 0..2 {
        let r = lead.post(&format!("{page}/review"), &pass).await?;
        ensure!(
            r.status == StatusCode::SEE_OTHER && r.location.contains("done=review"),
            "{} {}",
            r.status,
            r.body
        );
    }
    let subs = read(&node, &d.lead, "/api/v1/projects/652800/P-1/submissions").await?;
    ensure!(subs[0]["state"] == "reviewed", "{subs}");
    let a = lead.get(page).await?;
    let key2 = field_value(&a.body, "form_key")?;
    let approve = [
        ("csrf_token", csrf.as_str()),
        ("form_key", key2.as_str()),
        ("doc_no", "巴财绩〔2020〕1号"),
        ("approved_on", "2020-03-05"),
    ];
    let r = lead.post(&format!("{page}/approval"), &approve).await?;
    ensure!(r.status == StatusCode::SEE_OTHER, "{} {}", r.status, r.body);
    let a = lead.get("/projects/652800/P-1").await?;
    ensure!(
        a.body.contains("已批复") && a.body.contains("/projects/652800/P-1/targets"),
        "{}",
        a.body
    );
    let a = lead.get("/targets/filings").await?;
    ensure!(
        a.status == StatusCode::OK && a.body.contains("巴财绩〔2020〕1号"),
        "{}",
        a.status
    );
    // The lead office has no adjustment form; the department has.
    ensure!(!lead.get(page).await?.body.contains("提交调整"));
    let mut dept = Person::sign_in(&node, "dept").await?;
    let a = dept.get(page).await?;
    ensure!(
        a.body.contains("提交调整") && !a.body.contains("提交审核意见"),
        "{}",
        a.body
    );
    let csrf = field_value(&a.body, "csrf_token")?;
    let key = field_value(&a.body, "form_key")?;
    let before = heads(&node).await?;
    let r = dept
        .post(
            &format!("{page}/adjustment"),
            &[
                ("csrf_token", &csrf),
                ("form_key", &key),
                ("target", &t),
                ("op", ">="),
                ("value", "十五"),
                ("reason", ""),
                ("adjusted_on", "2020-06-01"),
            ],
        )
        .await?;
    ensure!(
        r.status == StatusCode::UNPROCESSABLE_ENTITY
            && r.body.contains("请填写数值")
            && r.body.contains("此项必填"),
        "{}",
        r.status
    );
    ensure!(
        heads(&node).await? == before,
        "a refused adjustment moved the journal"
    );
    let adjust = [
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("target", t.as_str()),
        ("op", ">="),
        ("value", "15"),
        ("reason", "追加投资"),
        ("adjusted_on", "2020-06-01"),
    ];
    for _ in 0..2 {
        let r = dept.post(&format!("{page}/adjustment"), &adjust).await?;
        ensure!(r.status == StatusCode::SEE_OTHER, "{} {}", r.status, r.body);
    }
    let subs = read(&node, &d.lead, "/api/v1/projects/652800/P-1/submissions").await?;
    ensure!(
        subs.as_array().map(Vec::len) == Some(2) && subs[1]["old_value"] == "12",
        "{subs}"
    );
    // The treasury may not review (403 page).
    add_user(&d.acc, "pay2", &[Role::Treasury], None, false).await?;
    let mut payer = Person::sign_in(&node, "pay2").await?;
    let csrf = field_value(&payer.get("/account").await?.body, "csrf_token")?;
    let r = payer
        .post(&format!("{page}/review"), &[("csrf_token", csrf.as_str())])
        .await?;
    ensure!(r.status == StatusCode::FORBIDDEN, "{}", r.status);
    node.stop().await
}

fundsync_tests::on_both!(the_forms_review_approve_and_adjust_once);

// ---------------------------------------------------------------- evidence

/// Issue 16 §2, protocol version 6: an actual carries an evidence reference
/// (佐证材料). Over the API and on the project page's 实际值 form it is
/// recorded and shown; one too long or holding a control character is
/// refused (`{error, message}` in the API, Chinese by the field on the
/// form) and nothing is recorded.
async fn an_actual_carries_its_evidence_and_bad_evidence_is_refused(engine: Engine) -> Result<()> {
    use fundsync_protocol::body::EVIDENCE_CHARS_MAX;
    let node = node(engine).await?;
    let d = desks(&node).await?;
    ok(
        &node,
        &d.department,
        "/api/v1/projects",
        new_project("P-1", "planned"),
        StatusCode::CREATED,
    )
    .await?;
    let t = ok(
        &node,
        &d.department,
        "/api/v1/projects/P-1/targets",
        km("12"),
        StatusCode::CREATED,
    )
    .await?;
    let path = format!("/api/v1/targets/{t}/actual");
    let actual = |evidence: &str| {
        json!({"actual": "12.5", "recorded_on": "2020-09-25", "note": "竣工验收",
               "evidence": evidence})
    };
    let too_long = "证".repeat(EVIDENCE_CHARS_MAX + 1);
    for (what, evidence) in [
        ("too long", too_long.as_str()),
        ("a control character", "轮财验〔2020〕3号\u{7}"),
    ] {
        let v = refused(
            &node,
            &d.department,
            &path,
            actual(evidence),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await?;
        ensure!(
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("evidence")),
            "{what}: {v}"
        );
    }
    // The longest accepted reference, over the API.
    let longest = "证".repeat(EVIDENCE_CHARS_MAX);
    ok(
        &node,
        &d.department,
        &path,
        actual(&longest),
        StatusCode::CREATED,
    )
    .await?;
    let p = read(&node, &d.department, "/api/v1/projects/652800/P-1").await?;
    ensure!(
        target_of(&p, &t)?["actual_evidence"] == longest.as_str(),
        "{p}"
    );
    // And its place in the OpenAPI document.
    let doc = read(&node, &d.department, "/api/v1/openapi.json").await?;
    ensure!(
        doc.to_string().contains("佐证材料"),
        "the evidence is not described in the OpenAPI document"
    );

    // The project page's form.
    let page = "/projects/652800/P-1";
    let mut dept = Person::sign_in(&node, "dept").await?;
    let a = dept.get(page).await?;
    ensure!(
        a.status == StatusCode::OK && a.body.contains("name=\"evidence\""),
        "no evidence field on the actual form: {}",
        a.body
    );
    let csrf = field_value(&a.body, "csrf_token")?;
    let before = heads(&node).await?;
    for (what, evidence) in [
        ("too long", too_long.as_str()),
        ("a control character", "轮财验〔2020〕\u{1}3号"),
    ] {
        let r = dept
            .post(
                &format!("{page}/actual"),
                &[
                    ("csrf_token", csrf.as_str()),
                    ("target", t.as_str()),
                    ("actual", "13"),
                    ("recorded_on", "2020-09-26"),
                    ("note", ""),
                    ("evidence", evidence),
                ],
            )
            .await?;
        ensure!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY
                && r.body
                    .contains(&format!("最多 {EVIDENCE_CHARS_MAX} 个字，且不能含控制字符")),
            "{what}: {} {}",
            r.status,
            r.body
        );
        ensure!(heads(&node).await? == before, "{what}: the journal moved");
    }
    let r = dept
        .post(
            &format!("{page}/actual"),
            &[
                ("csrf_token", csrf.as_str()),
                ("target", t.as_str()),
                ("actual", "13"),
                ("recorded_on", "2020-09-26"),
                ("note", "复核"),
                ("evidence", "轮财验〔2020〕3号；验收报告.pdf"),
            ],
        )
        .await?;
    ensure!(
        r.status == StatusCode::SEE_OTHER && r.location.contains("done=actual"),
        "{} {}",
        r.status,
        r.body
    );
    let a = dept.get(page).await?;
    ensure!(
        a.body.contains("佐证材料") && a.body.contains("轮财验〔2020〕3号；验收报告.pdf"),
        "{}",
        a.body
    );
    let p = read(&node, &d.department, "/api/v1/projects/652800/P-1").await?;
    ensure!(
        target_of(&p, &t)?["actual_evidence"] == "轮财验〔2020〕3号；验收报告.pdf"
            && target_of(&p, &t)?["actual"] == "13",
        "{p}"
    );
    // The evaluation page shows it beside the self-evaluation form, which
    // draws on the latest actual.
    let a = dept.get("/evaluation?year=2020").await?;
    ensure!(
        a.status == StatusCode::OK
            && a.body.contains("佐证材料")
            && a.body.contains("轮财验〔2020〕3号；验收报告.pdf"),
        "{} {}",
        a.status,
        a.body
    );
    node.stop().await
}

fundsync_tests::on_both!(an_actual_carries_its_evidence_and_bad_evidence_is_refused);
