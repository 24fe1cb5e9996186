//! 公告公示 end to end, on both engines: a region that holds a classified
//! (涉密) allocation and project, payments to a person with a bank account,
//! and entries recorded by named officers publishes some of its results;
//! every refusal of a publication answers `{error, message}` and records
//! nothing; every public route (pages, files, API) is swept for what must
//! never be public; publications roll up to the parent with what each
//! notice showed; and a real browser opens `/public` without signing in.

use anyhow::{ensure, Context as _, Result};
use calamine::Data;
use fundsync_node::access::{Permission, Role};
use fundsync_node::ledger::query::{Page, PublicProjectFilter, PublicationFilter};
use fundsync_node::ledger::replica::ReplicaError;
use fundsync_node::ledger::{Ledger, LedgerError};
use fundsync_node::server::route_table;
use fundsync_protocol::body::*;
use fundsync_protocol::{checkpoint_for, Batch, Body, Entry, EntryId, Hash, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::fixtures::{self, code, prefecture, region, Engine, TestNode};
use fundsync_tests::webdriver::Driver;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::access::{accounts, add_user, heads, token};

fundsync_tests::on_both!(
    publishing_is_checked_and_a_refusal_records_nothing,
    every_public_route_shows_only_what_was_published,
    publications_roll_up_with_what_each_notice_showed,
);

/// Text that must never be on a public page or in a public file: the
/// classified category (name and code) and what is recorded under it, a
/// result not published, a payee's name, account and bank, and the
/// officers who recorded and published.
const NEVER_PUBLIC: &[&str] = &[
    "护边员",
    "R-08",
    "新财农〔2020〕13号",
    "新财农〔2020〕14号",
    "XM-2",
    "王小明",
    "6222000011112222",
    "农业银行轮台支行",
    "zhangsan",
    "张三",
    fundsync_cluster::TEST_LOGIN,
    "测试",
];

/// What the region recorded, by name.
#[derive(Debug)]
struct World {
    node: TestNode,
    /// Funds received from the centre (not an allocation issued).
    received: EntryId,
    /// Issued to the prefecture, published.
    issued: EntryId,
    /// Issued to the prefecture from the classified own budget.
    secret: EntryId,
    /// Issued to the prefecture, never published.
    unpublished: EntryId,
    /// A project paid from an ordinary own budget.
    road: EntryId,
    /// A project paid from the classified own budget.
    barracks: EntryId,
}

fn titled(mut b: Body, title: &str) -> Body {
    if let Body::AllocationIssued(a) = &mut b {
        a.title = title.into();
    }
    b
}

fn paid_to_a_person(voucher: &str, alloc: EntryId, project: &str, amt: &str) -> Body {
    let mut b = payment(voucher, alloc, project, amt, "2020-03-01");
    if let Body::PaymentRecorded(p) = &mut b {
        p.payee_name = "王小明".into();
    }
    b
}

/// The region with its results recorded by 张三 (the clerk), nothing
/// published yet.
async fn region_with_results(engine: Engine) -> Result<World> {
    let node = TestNode::start_on(engine, &region()).await?;
    let l = &node.ledger.ledger;
    let by = clerk();
    l.submit_one(child("652800", "巴音郭楞蒙古自治州"), &by)
        .await?;
    let received = l
        .submit_one(
            received("财农〔2020〕1号", "C-01", "10000000", "2020-01-10"),
            &by,
        )
        .await?
        .id();
    let classified = l
        .submit_one(
            own_budget("新财农〔2020〕8号", "R-08", "500000", "2020-01-15"),
            &by,
        )
        .await?
        .id();
    let own = l
        .submit_one(
            own_budget("新财农〔2020〕9号", "R-15", "3000000", "2020-01-15"),
            &by,
        )
        .await?
        .id();
    let issued = l
        .submit_one(
            titled(
                issue(
                    "新财农〔2020〕12号",
                    received,
                    "C-01",
                    "652800",
                    "6000000",
                    "2020-02-01",
                ),
                "产业发展补助",
            ),
            &by,
        )
        .await?
        .id();
    let secret = l
        .submit_one(
            issue(
                "新财农〔2020〕13号",
                classified,
                "R-08",
                "652800",
                "200000",
                "2020-02-02",
            ),
            &by,
        )
        .await?
        .id();
    let unpublished = l
        .submit_one(
            issue(
                "新财农〔2020〕14号",
                received,
                "C-01",
                "652800",
                "1000000",
                "2020-02-03",
            ),
            &by,
        )
        .await?
        .id();
    let road = l.submit_one(project("XM-1", "1000000"), &by).await?.id();
    l.submit_one(target("XM-1"), &by).await?;
    l.submit_one(paid_to_a_person("V1", own, "XM-1", "250000"), &by)
        .await?;
    let barracks = l
        .submit_one(
            Body::ProjectRegistered(ProjectRegistered {
                code: "XM-2".into(),
                name: "护边员营房维修".into(),
                township: "若羌镇".into(),
                village: "二村".into(),
                department: "行政政法处".into(),
                starts_on: day("2020-03-01"),
                ends_on: day("2020-10-31"),
                budget: amount("300000"),
                status: ProjectStatus::InProgress,
            }),
            &by,
        )
        .await?
        .id();
    l.submit_one(target("XM-2"), &by).await?;
    l.submit_one(paid_to_a_person("V2", classified, "XM-2", "100000"), &by)
        .await?;
    Ok(World {
        node,
        received,
        issued,
        secret,
        unpublished,
        road,
        barracks,
    })
}

fn notice(doc: &str, scope: &str, on: &str, records: &[EntryId]) -> Value {
    json!({
        "doc_no": doc,
        "title": "2020年扶贫资金分配结果公示",
        "scope": scope,
        "published_on": on,
        "records": records.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

async fn post(
    node: &TestNode,
    token: Option<&str>,
    path: &str,
    body: &Value,
) -> Result<(StatusCode, Value)> {
    let mut req = reqwest::Client::new().post(node.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let status = res.status();
    let text = res.text().await?;
    let v = serde_json::from_str(&text).with_context(|| format!("{status}: {text}"))?;
    Ok((status, v))
}

/// Sends a publication that must be refused with `status` and `error`,
/// and checks the journal did not move.
async fn refused(
    node: &TestNode,
    token: Option<&str>,
    body: &Value,
    status: StatusCode,
    error: &str,
) -> Result<String> {
    let before = heads(node).await?;
    let (s, v) = post(node, token, "/api/v1/publications", body).await?;
    ensure!(
        s == status && v["error"] == error,
        "{body}: expected {status} {error}, got {s} {v}"
    );
    let message = v["message"].as_str().unwrap_or_default().to_owned();
    ensure!(!message.is_empty(), "{v}");
    ensure!(heads(node).await? == before, "{body} changed the journal");
    Ok(message)
}

async fn publishing_is_checked_and_a_refusal_records_nothing(engine: Engine) -> Result<()> {
    let w = region_with_results(engine).await?;
    let node = &w.node;
    let all = Some(node.token.as_str());
    let acc = accounts(node);
    let treasury = add_user(&acc, "li", &[Role::Treasury], None, true).await?;
    let treasury = token(&acc, &treasury).await?;
    let dept = add_user(&acc, "zhao", &[Role::Department], Some("经建处"), true).await?;
    let dept = token(&acc, &dept).await?;
    let lead = add_user(&acc, "wang", &[Role::Lead], None, false).await?;
    let lead = token(&acc, &lead).await?;

    // Who may not: a role without Publish (403 naming it), nobody (401).
    let good = notice(
        "新财公〔2020〕1号",
        "allocations",
        "2020-02-10",
        &[w.issued],
    );
    for t in [&treasury, &dept] {
        let m = refused(node, Some(t), &good, StatusCode::FORBIDDEN, "forbidden").await?;
        ensure!(m.contains(&Permission::Publish.to_string()), "{m}");
    }
    refused(
        node,
        None,
        &good,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await?;

    // What may not be published: classified (an allocation of R-08, a
    // project paid from it), funds received, another node's record, a
    // record dated after the notice.
    for (what, body) in [
        (
            "classified allocation",
            notice(
                "新财公〔2020〕9号",
                "allocations",
                "2020-02-10",
                &[w.secret],
            ),
        ),
        (
            "classified project",
            notice("新财公〔2020〕9号", "projects", "2020-04-01", &[w.barracks]),
        ),
        (
            "funds received",
            notice(
                "新财公〔2020〕9号",
                "allocations",
                "2020-02-10",
                &[w.received],
            ),
        ),
        (
            "another node's",
            notice(
                "新财公〔2020〕9号",
                "allocations",
                "2020-02-10",
                &[id("652800-1")],
            ),
        ),
        (
            "a project as an allocation",
            notice("新财公〔2020〕9号", "allocations", "2020-04-01", &[w.road]),
        ),
        (
            "published before it was issued",
            notice(
                "新财公〔2020〕9号",
                "allocations",
                "2020-01-20",
                &[w.issued],
            ),
        ),
    ] {
        let m = refused(
            node,
            all,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_publishable",
        )
        .await
        .with_context(|| what.to_owned())?;
        ensure!(m.contains("cannot be published"), "{what}: {m}");
    }
    // Bad input.
    refused(
        node,
        all,
        &notice("新财公〔2020〕9号", "allocations", "2020-02-10", &[]),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await?;
    refused(
        node,
        all,
        &notice(
            "新财公〔2020〕9号",
            "allocations",
            "2020-02-10",
            &[w.issued, w.issued],
        ),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await?;
    refused(
        node,
        all,
        &notice("新财公〔2020〕9号", "payees", "2020-02-10", &[w.issued]),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await?;
    let mut extra = good.clone();
    extra["payee"] = json!("王小明");
    refused(node, all, &extra, StatusCode::BAD_REQUEST, "invalid_json").await?;
    refused(
        node,
        all,
        &notice(
            "新财公〔2020〕9号",
            "allocations",
            "1999-02-10",
            &[w.issued],
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "date_out_of_range",
    )
    .await?;

    // The lead office publishes; the same notice again records nothing; the
    // same 文号 with other records is a conflict.
    let (s, v) = post(node, Some(&lead), "/api/v1/publications", &good).await?;
    ensure!(s == StatusCode::CREATED && v["created"] == true, "{s} {v}");
    let published: EntryId = v["id"].as_str().context("id")?.parse()?;
    let before = heads(node).await?;
    let (s, v) = post(node, all, "/api/v1/publications", &good).await?;
    ensure!(
        s == StatusCode::OK && v["created"] == false && v["id"] == published.to_string(),
        "{s} {v}"
    );
    ensure!(heads(node).await? == before, "a retry changed the journal");
    refused(
        node,
        all,
        &notice(
            "新财公〔2020〕1号",
            "allocations",
            "2020-02-10",
            &[w.unpublished],
        ),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await?;

    // The 公示台账 says who published it; the API's twin too.
    let http = node.http();
    let list: Value = http
        .get(node.url("/api/v1/publications"))
        .send()
        .await?
        .json()
        .await?;
    let first = &list["items"][0];
    ensure!(
        first["doc_no"] == "新财公〔2020〕1号"
            && first["records"] == 1
            && first["actor"]["login"] == "wang"
            && first["actor"]["role"] == "lead",
        "{list}"
    );
    let page = http
        .get(node.url("/publications"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("公示台账")
            && page.contains("新财公〔2020〕1号")
            && page.contains("wang 的名字"),
        "{page}"
    );
    let detail = http
        .get(node.url(&format!("/publications/{published}")))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        detail.contains("新财农〔2020〕12号") && detail.contains("产业发展补助"),
        "{detail}"
    );

    // The form: refused by the field, in Chinese, 422, nothing recorded;
    // then published, and the notice's page says so.
    let form = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        http.post(node.url("/publications/new")).form(&pairs)
    };
    let before = heads(node).await?;
    let res = form(&[("scope", "allocations"), ("published_on", "2020-02-10")])
        .send()
        .await?;
    ensure!(res.status() == StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await?;
    ensure!(
        body.contains("请填写公示文号") && body.contains("请至少选择一条要公示的记录"),
        "{body}"
    );
    let secret = w.secret.to_string();
    let res = form(&[
        ("scope", "allocations"),
        ("doc_no", "新财公〔2020〕5号"),
        ("title", "第二批"),
        ("published_on", "2020-02-10"),
        ("record", &secret),
    ])
    .send()
    .await?;
    ensure!(res.status() == StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await?;
    ensure!(body.contains("不能公示"), "{body}");
    ensure!(
        heads(node).await? == before,
        "a refused form changed the journal"
    );
    // The form offers what is left to publish, and not the classified one.
    let offered = http
        .get(node.url("/publications/new?scope=allocations"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        offered.contains(&format!("value=\"{}\" checked", w.unpublished))
            && !offered.contains(&format!("value=\"{}\"", w.issued))
            && !offered.contains(&format!("value=\"{secret}\"")),
        "{offered}"
    );
    let unpublished = w.unpublished.to_string();
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .post(node.url("/publications/new"))
        .bearer_auth(&node.token)
        .form(&[
            ("scope", "allocations"),
            ("doc_no", "新财公〔2020〕5号"),
            ("title", "第二批"),
            ("published_on", "2020-02-10"),
            ("record", unpublished.as_str()),
        ])
        .send()
        .await?;
    let to = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        res.status() == StatusCode::SEE_OTHER && to.ends_with("?done=published"),
        "{} {to}",
        res.status()
    );
    let done = http.get(node.url(&to)).send().await?.text().await?;
    ensure!(
        done.contains("公示已发布") && done.contains("新财农〔2020〕14号"),
        "{done}"
    );
    w.node.stop().await
}

/// A page or file's text: CSV and HTML as they are, a workbook's cells.
async fn text_of(res: reqwest::Response) -> Result<String> {
    let xlsx = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("spreadsheetml"));
    let bytes = res.bytes().await?.to_vec();
    if !xlsx {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    let rows = crate::export::xlsx_rows(bytes)?;
    Ok(rows
        .iter()
        .flatten()
        .map(|d| match d {
            Data::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\t"))
}

async fn every_public_route_shows_only_what_was_published(engine: Engine) -> Result<()> {
    let w = region_with_results(engine).await?;
    let node = &w.node;
    let t = Some(node.token.as_str());
    let (s, v) = post(
        node,
        t,
        "/api/v1/publications",
        &notice(
            "新财公〔2020〕1号",
            "allocations",
            "2020-02-10",
            &[w.issued],
        ),
    )
    .await?;
    ensure!(s == StatusCode::CREATED, "{s} {v}");
    let allocations = v["id"].as_str().context("id")?.to_owned();
    let (s, v) = post(
        node,
        t,
        "/api/v1/publications",
        &notice("新财公〔2020〕2号", "projects", "2020-04-01", &[w.road]),
    )
    .await?;
    ensure!(s == StatusCode::CREATED, "{s} {v}");
    let projects = v["id"].as_str().context("id")?.to_owned();

    // Every public GET route, anonymous, in both languages and with the
    // filters a reader may give.
    let public: Vec<String> = route_table()
        .into_iter()
        .filter(|r| r.permission == Permission::Public && r.method == Method::GET)
        .map(|r| r.path)
        .collect();
    ensure!(
        public.iter().filter(|p| p.contains("/public")).count() >= 10,
        "{public:?}"
    );
    let anon = reqwest::Client::new();
    let mut swept = 0;
    for path in &public {
        ensure!(
            !path.contains('{'),
            "a public route with a parameter: {path}"
        );
        // The API refuses parameters it does not take; the pages ignore them.
        let mut queries = vec![String::new()];
        if !path.starts_with("/api") {
            queries.push("?lang=en".to_owned());
        }
        if path.contains("/public") {
            queries.push("?page=1&page_size=1000".to_owned());
        }
        if path.contains("allocations") {
            queries.push(format!("?publication={allocations}"));
            queries.push("?category=C-01".to_owned());
            queries.push("?node=650000&recipient=652800".to_owned());
        }
        if path.contains("projects") {
            queries.push(format!("?publication={projects}"));
            queries.push("?township=轮台镇&village=一村".to_owned());
        }
        for q in queries {
            let url = node.url(&format!("{path}{q}"));
            let res = anon.get(&url).send().await?;
            let status = res.status();
            let text = text_of(res).await?;
            ensure!(status == StatusCode::OK, "{url}: {status} {text}");
            for never in NEVER_PUBLIC {
                ensure!(!text.contains(never), "{url} shows {never:?}:\n{text}");
            }
            swept += 1;
        }
    }
    ensure!(swept >= 40, "only {swept} answers swept");

    // What was published is there, on the page, in the files and the API.
    for (path, want) in [
        ("/public", "新财公〔2020〕1号"),
        ("/public", "新财公〔2020〕2号"),
        ("/public/allocations", "新财农〔2020〕12号"),
        ("/public/allocations", "产业发展补助"),
        ("/public/allocations", "6,000,000.00"),
        ("/public/allocations.csv", "新财农〔2020〕12号"),
        ("/public/allocations.xlsx", "巴音郭楞蒙古自治州"),
        ("/public/projects", "轮台镇"),
        ("/public/projects", "25.0%"),
        ("/public/projects.xlsx", "村道硬化"),
        ("/api/v1/public/allocations", "\"amount\":\"6000000"),
        ("/api/v1/public/projects", "\"paid\":\"250000"),
        ("/api/v1/public/notices", "新财公〔2020〕2号"),
    ] {
        let res = anon.get(node.url(path)).send().await?;
        let text = text_of(res).await?;
        ensure!(text.contains(want), "{path} lacks {want:?}:\n{text}");
    }

    // A classified category asked for by name is not found, as one that
    // does not exist is, and says nothing of it.
    for path in [
        "/public/allocations",
        "/public/allocations.csv",
        "/public/allocations.xlsx",
        "/api/v1/public/allocations",
    ] {
        let mut bodies = Vec::new();
        for category in ["R-08", "NO-SUCH"] {
            let before = heads(node).await?;
            let url = node.url(&format!("{path}?category={category}"));
            let res = anon.get(&url).send().await?;
            let status = res.status();
            let text = res.text().await?;
            ensure!(status == StatusCode::NOT_FOUND, "{url}: {status} {text}");
            ensure!(!text.contains("护边员"), "{url}: {text}");
            ensure!(heads(node).await? == before);
            if path.starts_with("/api") {
                let v: Value = serde_json::from_str(&text)?;
                ensure!(
                    v["error"] == "not_found"
                        && v["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{v}"
                );
            }
            bodies.push(text.replace(category, ""));
        }
        ensure!(
            bodies[0] == bodies[1],
            "{path}: R-08 and an unknown category answer alike"
        );
    }
    // A bad filter is a bad request, not a leak.
    let res = anon
        .get(node.url("/api/v1/public/allocations?node=nope"))
        .send()
        .await?;
    ensure!(res.status() == StatusCode::BAD_REQUEST);
    // The 公示台账 is not public: nobody is sent to sign in.
    let res = anon.get(node.url("/publications")).send().await?;
    ensure!(res.url().path() == "/login", "{}", res.url());
    w.node.stop().await
}

async fn push_up(l: &Ledger, key: &NodeKey, entries: Vec<Entry>) -> Result<(), ReplicaError> {
    let cp = checkpoint_for(key, &entries, fixtures::NOW_MS).expect("entries");
    let batch = Batch::new(code("652822"), l.identity().code, entries, vec![cp]);
    l.receive_up(code("652822"), &batch).await.map(|_| ())
}

/// The county's chain, signed by it: one entry after another.
struct Chain {
    entries: Vec<Entry>,
}

impl Chain {
    fn add(&mut self, body: Body) -> Entry {
        let (seq, prev) = match self.entries.last() {
            Some(e) => (e.seq + 1, e.hash()),
            None => (1, Hash::ZERO),
        };
        let e = Entry::new(code("652822"), seq, fixtures::NOW_MS, prev, &body, &clerk());
        self.entries.push(e.clone());
        e
    }
}

async fn publications_roll_up_with_what_each_notice_showed(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let l = &t.ledger;
    let key = NodeKey::from_seed(&[23; 32]);
    l.submit(
        &[
            child("652822", "轮台县"),
            Body::KeyRegistered(KeyRegistered::of(code("652822"), &key.verifying_key())),
        ],
        &clerk(),
    )
    .await?;
    let own = l
        .submit_one(
            own_budget("巴财〔2020〕1号", "S1-P-05", "1000000", "2020-01-10"),
            &clerk(),
        )
        .await?
        .id();
    let issued = l
        .submit_one(
            issue(
                "巴财农〔2020〕5号",
                own,
                "S1-P-05",
                "652822",
                "400000",
                "2020-02-01",
            ),
            &clerk(),
        )
        .await?
        .id();
    // The county registers and pays a project, publishes it, pays more and
    // publishes it again.
    let mut c = Chain { entries: vec![] };
    let road = c.add(project("LT-1", "100000")).id();
    c.add(target("LT-1"));
    c.add(payment("V1", issued, "LT-1", "25000", "2020-03-01"));
    let first = c
        .add(Body::ResultsPublished(ResultsPublished {
            doc_no: "轮财公〔2020〕1号".into(),
            title: "项目公示".into(),
            scope: PublicationScope::Projects,
            published_on: day("2020-03-10"),
            records: vec![road],
        }))
        .id();
    c.add(payment("V2", issued, "LT-1", "50000", "2020-04-01"));
    let second = c
        .add(Body::ResultsPublished(ResultsPublished {
            doc_no: "轮财公〔2020〕2号".into(),
            title: "项目公示（二）".into(),
            scope: PublicationScope::Projects,
            published_on: day("2020-04-10"),
            records: vec![road],
        }))
        .id();
    push_up(l, &key, c.entries.clone()).await?;

    // The prefecture holds the county's 公示台账 with who published.
    let list = l
        .publications(
            PublicationFilter {
                origin: Some(code("652822")),
                scope: None,
            },
            Page::default(),
        )
        .await?;
    ensure!(list.items.len() == 2, "{list:?}");
    ensure!(
        list.items[0].notice.id == second.to_string()
            && list.items[0]
                .actor
                .as_ref()
                .is_some_and(|a| a.login == "zhangsan"),
        "{list:?}"
    );
    // The public list shows the latest notice's figures; each notice keeps
    // its own.
    let now = l
        .public_projects(PublicProjectFilter::default(), Page::default())
        .await?;
    ensure!(now.items.len() == 1, "{now:?}");
    ensure!(
        now.items[0].paid == amount("75000").yuan() && now.items[0].notice == second.to_string(),
        "{now:?}"
    );
    let then = l
        .public_projects(
            PublicProjectFilter {
                publication: Some(first),
                ..PublicProjectFilter::default()
            },
            Page::default(),
        )
        .await?;
    ensure!(
        then.items.len() == 1 && then.items[0].paid == amount("25000").yuan(),
        "{then:?}"
    );

    // A county publishes only its own records: one naming the
    // prefecture's allocation is refused, and nothing of the batch lands.
    let before = l.journal(code("652822"), 0, 1000).await?.len();
    let mut bad = Chain {
        entries: c.entries.clone(),
    };
    bad.add(Body::ResultsPublished(ResultsPublished {
        doc_no: "轮财公〔2020〕3号".into(),
        title: "x".into(),
        scope: PublicationScope::Allocations,
        published_on: day("2020-04-10"),
        records: vec![issued],
    }));
    let e = push_up(l, &key, bad.entries.split_off(c.entries.len())).await;
    ensure!(
        matches!(
            e,
            Err(ReplicaError::Ledger(LedgerError::Misdirected { .. }))
        ),
        "{e:?}"
    );
    // Nor a record it does not hold.
    let mut bad = Chain {
        entries: c.entries.clone(),
    };
    bad.add(Body::ResultsPublished(ResultsPublished {
        doc_no: "轮财公〔2020〕3号".into(),
        title: "x".into(),
        scope: PublicationScope::Projects,
        published_on: day("2020-04-10"),
        records: vec![id("652822-99")],
    }));
    let e = push_up(l, &key, bad.entries.split_off(c.entries.len())).await;
    ensure!(
        matches!(
            e,
            Err(ReplicaError::Ledger(LedgerError::Misdirected { .. }))
        ),
        "{e:?}"
    );
    ensure!(l.journal(code("652822"), 0, 1000).await?.len() == before);
    ensure!(
        l.publications(PublicationFilter::default(), Page::default())
            .await?
            .items
            .len()
            == 2
    );

    // The prefecture publishes its own allocation to the county; its
    // public list shows it beside the county's project.
    l.submit_one(
        Body::ResultsPublished(ResultsPublished {
            doc_no: "巴财公〔2020〕1号".into(),
            title: "分配结果".into(),
            scope: PublicationScope::Allocations,
            published_on: day("2020-02-05"),
            records: vec![issued],
        }),
        &clerk(),
    )
    .await?;
    let a = l
        .public_allocations(Default::default(), Page::default())
        .await?;
    ensure!(
        a.items.len() == 1
            && a.items[0].recipient_name == "轮台县"
            && a.items[0].doc_no == "巴财农〔2020〕5号",
        "{a:?}"
    );
    Ok(())
}

fn artifacts_dir() -> Result<std::path::PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::PathBuf::from(t),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("test-artifacts").join("disclosure");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A person with no account opens `/public` in a real browser, follows
/// the notice to the allocation results and the projects, and is never
/// sent to the login page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_pages_open_without_signing_in_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let w = region_with_results(Engine::Sqlite).await?;
    let node = &w.node;
    let t = Some(node.token.as_str());
    for body in [
        notice(
            "新财公〔2020〕1号",
            "allocations",
            "2020-02-10",
            &[w.issued],
        ),
        notice("新财公〔2020〕2号", "projects", "2020-04-01", &[w.road]),
    ] {
        let (s, v) = post(node, t, "/api/v1/publications", &body).await?;
        ensure!(s == StatusCode::CREATED, "{s} {v}");
    }
    let driver = Driver::start().await?;
    let b = driver.browser().await?;
    let dir = artifacts_dir()?;
    b.goto(&node.url("/public")).await?;
    let url = b.current_url().await?;
    ensure!(url.ends_with("/public"), "sent to {url}");
    let src = b.source().await?;
    for want in [
        "<html lang=\"zh-CN\">",
        "扶贫资金公告公示",
        "新财公〔2020〕1号",
        "两个一律",
    ] {
        ensure!(src.contains(want), "/public lacks {want}: {src}");
    }
    ensure!(!src.contains("退出") && !src.contains("总台账"), "{src}");
    b.screenshot(&dir.join("public.png")).await?;

    b.click("a[href='/public/allocations']").await?;
    b.wait_for_url("the allocation results", |u| {
        u.ends_with("/public/allocations")
    })
    .await?;
    let src = b.source().await?;
    ensure!(
        src.contains("扶贫资金分配结果公示") && src.contains("新财农〔2020〕12号"),
        "{src}"
    );
    for never in NEVER_PUBLIC {
        ensure!(!src.contains(never), "the browser shows {never}");
    }
    b.screenshot(&dir.join("public-allocations.png")).await?;

    b.goto(&node.url("/public/projects?lang=en")).await?;
    let src = b.source().await?;
    ensure!(
        src.contains("<html lang=\"en\">") && src.contains("Projects and their funds"),
        "{src}"
    );
    b.screenshot(&dir.join("public-projects-en.png")).await?;
    b.quit().await?;
    w.node.stop().await
}
