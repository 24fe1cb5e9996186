//! 办理, the money forms, from outside: a real prefecture node on port 0,
//! people signed in with a session cookie and the CSRF token their pages
//! carry, the forms POSTed as a browser posts them. Success through the
//! confirmation page; over-allocation, a negative and an over-precise
//! amount, a missing CSRF token and a role without the form's permission
//! refused with the ledger unchanged; a double and a concurrent submission
//! recording once. Then the same in a real browser.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::ledger::query::{AllocationFilter, Page};
use fundsync_node::ledger::{FormKey, Keyed, Ledger};
use fundsync_protocol::EntryId;
use fundsync_tests::build::{child, clerk, issue, own_budget, project, target};
use fundsync_tests::fixtures::{self, prefecture, Engine, TestNode};
use fundsync_tests::on_both;
use fundsync_tests::webdriver::Driver;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

const PASSWORD: &str = "Kongque-River-2020-desk";

/// The prefecture with two counties and an own budget of 1,000,000 元
/// (`巴财农〔2020〕1号`), and one user per login and role.
async fn start(engine: Engine, users: &[(&str, Role)]) -> Result<(TestNode, EntryId)> {
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let l = &node.ledger.ledger;
    for (c, n) in [("652822", "轮台县"), ("652823", "尉犁县")] {
        l.submit_one(child(c, n), &clerk()).await?;
    }
    let own = l
        .submit_one(
            own_budget("巴财农〔2020〕1号", "X-05", "1000000.00", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    let acc = Accounts::new(l.db().clone(), l.clock().clone(), node.cfg.accounts.clone());
    for (login, role) in users {
        acc.create_user(NewUser {
            login: (*login).into(),
            name: format!("{login} 的名字"),
            password: PASSWORD.into(),
            department: Some("农财所".into()),
            roles: vec![*role],
            classified: false,
        })
        .await?;
    }
    Ok((node, own))
}

/// The journal's heads: what a refused form must leave as it was.
async fn heads(l: &Ledger) -> Result<String> {
    Ok(format!("{:?}", l.heads().await?))
}

/// How many allocations the node holds or issued.
async fn allocations(l: &Ledger) -> Result<usize> {
    Ok(l.allocations(
        AllocationFilter::default(),
        Page {
            page: 1,
            page_size: 1000,
        },
    )
    .await?
    .items
    .len())
}

/// A person's HTTP client: the session cookie kept by hand, no redirects.
#[derive(Clone)]
struct Person {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

/// The value of the hidden (or any) field `name` in a page.
fn field_value(body: &str, name: &str) -> Result<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let at = body
        .find(&needle)
        .with_context(|| format!("a field {name} in:\n{body}"))?;
    let rest = &body[at + needle.len()..];
    Ok(rest[..rest.find('"').context("end of the value")?].to_owned())
}

impl Person {
    async fn sign_in(node: &TestNode, login: &str) -> Result<Person> {
        let mut p = Person {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: node.base.clone(),
            cookie: None,
        };
        let a = p
            .post(
                "/login",
                &[("login", login), ("password", PASSWORD), ("next", "/desk")],
            )
            .await?;
        ensure!(
            a.status == StatusCode::SEE_OTHER && p.cookie.is_some(),
            "{login} signs in: {}",
            a.status
        );
        Ok(p)
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<Answer> {
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

    async fn get(&mut self, path: &str) -> Result<Answer> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Result<Answer> {
        let req = self.http.post(format!("{}{path}", self.base)).form(pairs);
        self.send(req).await
    }

    /// Opens the form at `path`: its CSRF token and key.
    async fn open(&mut self, path: &str) -> Result<(String, String, String)> {
        let a = self.get(path).await?;
        ensure!(a.status == StatusCode::OK, "{path}: {}", a.status);
        Ok((
            field_value(&a.body, "csrf_token")?,
            field_value(&a.body, "form_key")?,
            a.body,
        ))
    }
}

/// The allocation form's fields, with `amount` and the document number.
fn allocation<'a>(
    csrf: &'a str,
    key: &'a str,
    source: &'a str,
    amount: &'a str,
    doc: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf_token", csrf),
        ("form_key", key),
        ("source", source),
        ("to", "652822"),
        ("amount", amount),
        ("doc_no", doc),
        ("issued_on", "2020-05-01"),
        ("category", ""),
        ("title", "扶贫发展"),
    ]
}

fn with_step<'a>(mut v: Vec<(&'a str, &'a str)>, step: &'a str) -> Vec<(&'a str, &'a str)> {
    v.push(("step", step));
    v
}

/// The error shown by `field`, as the page has it.
fn error_by(body: &str, field: &str) -> Option<String> {
    let needle = format!("id=\"f-{field}-error\">");
    let at = body.find(&needle)?;
    let rest = &body[at + needle.len()..];
    Some(rest[..rest.find('<')?].to_owned())
}

async fn an_allocation_is_checked_confirmed_and_recorded_once(engine: Engine) -> Result<()> {
    let (node, own) = start(engine, &[("yusuan", Role::AllocationDesk)]).await?;
    let l = &node.ledger.ledger;
    let mut p = Person::sign_in(&node, "yusuan").await?;
    let own = own.to_string();

    // The navigation offers 办理, the desk lists the allocation form.
    let desk = p.get("/desk").await?;
    ensure!(desk.status == StatusCode::OK, "/desk: {}", desk.status);
    ensure!(
        desk.body.contains(">办理</a>") && desk.body.contains("href=\"/desk/allocation\""),
        "{}",
        desk.body
    );
    // The source is chosen by 文号, with its available balance.
    let (csrf, key, form) = p.open("/desk/allocation").await?;
    ensure!(
        form.contains(&format!("<option value=\"{own}\">巴财农〔2020〕1号"))
            && form.contains("可用 1,000,000.00 元（100.00 万元）")
            && form.contains("<option value=\"652822\">轮台县 652822</option>"),
        "{form}"
    );
    for f in ["source", "to", "amount", "doc_no", "issued_on"] {
        ensure!(
            form.contains(&format!("<label for=\"f-{f}\">")),
            "label of {f}"
        );
    }

    // First the confirmation page: nothing recorded yet.
    let before = heads(l).await?;
    let fields = allocation(&csrf, &key, &own, "123,456.78", "巴财农〔2020〕9号");
    let a = p.post("/desk/allocation", &fields).await?;
    ensure!(a.status == StatusCode::OK, "check: {} {}", a.status, a.body);
    ensure!(
        a.body.contains("123,456.78 元")
            && a.body.contains("12.345678")
            && a.body.contains("巴财农〔2020〕9号")
            && a.body.contains("轮台县 652822")
            && a.body.contains("value=\"confirm\"")
            && a.body.contains("返回修改"),
        "{}",
        a.body
    );
    ensure!(heads(l).await? == before, "the check recorded something");
    // 返回修改: the form again, as typed.
    let a = p
        .post("/desk/allocation", &with_step(fields.clone(), "edit"))
        .await?;
    ensure!(
        a.status == StatusCode::OK && a.body.contains("value=\"123,456.78\""),
        "{}",
        a.body
    );
    ensure!(heads(l).await? == before);

    // 确认: recorded, and shown.
    let n = allocations(l).await?;
    let confirm = with_step(fields.clone(), "confirm");
    let a = p.post("/desk/allocation", &confirm).await?;
    let done = format!("/desk/done/{key}");
    ensure!(
        a.status == StatusCode::SEE_OTHER && a.location == done,
        "{} {} {}",
        a.status,
        a.location,
        a.body
    );
    ensure!(allocations(l).await? == n + 1, "one allocation more");
    let shown = p.get(&done).await?;
    ensure!(
        shown.status == StatusCode::OK
            && shown.body.contains("已登记")
            && shown.body.contains("巴财农〔2020〕9号")
            && shown.body.contains("123,456.78 元"),
        "{}",
        shown.body
    );
    // A refresh, a double click, the first step again: the same result,
    // nothing more recorded.
    let after = heads(l).await?;
    for again in [&confirm, &fields] {
        let a = p.post("/desk/allocation", again).await?;
        ensure!(
            a.status == StatusCode::SEE_OTHER && a.location == done,
            "again: {} {}",
            a.status,
            a.location
        );
    }
    ensure!(heads(l).await? == after && allocations(l).await? == n + 1);
    // Concurrent duplicates of a new form: one records.
    let (csrf, key, _) = p.open("/desk/allocation").await?;
    let fields = with_step(
        allocation(&csrf, &key, &own, "1000", "巴财农〔2020〕10号"),
        "confirm",
    );
    let owned: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut p = p.clone();
        let owned = owned.clone();
        tasks.push(tokio::spawn(async move {
            let pairs: Vec<(&str, &str)> = owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            p.post("/desk/allocation", &pairs).await
        }));
    }
    for t in tasks {
        let a = t.await??;
        ensure!(
            a.status == StatusCode::SEE_OTHER && a.location == format!("/desk/done/{key}"),
            "{} {}",
            a.status,
            a.body
        );
    }
    ensure!(allocations(l).await? == n + 2, "six clicks, one allocation");
    node.stop().await
}

async fn refused_forms_say_why_by_the_field_and_record_nothing(engine: Engine) -> Result<()> {
    let (node, own) = start(
        engine,
        &[
            ("yusuan", Role::AllocationDesk),
            ("shenji", Role::Auditor),
            ("guoku", Role::Treasury),
        ],
    )
    .await?;
    let l = &node.ledger.ledger;
    let own = own.to_string();
    let mut p = Person::sign_in(&node, "yusuan").await?;
    let before = heads(l).await?;
    let (csrf, key, _) = p.open("/desk/allocation").await?;

    // Over-allocation: the ledger's refusal, by the amount, in Chinese, at
    // the check and at the confirmation alike.
    for step in ["", "confirm"] {
        let f = with_step(
            allocation(&csrf, &key, &own, "1000000.01", "巴财农〔2020〕11号"),
            step,
        );
        let a = p.post("/desk/allocation", &f).await?;
        ensure!(
            a.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{step}: {}",
            a.status
        );
        ensure!(
            error_by(&a.body, "amount").as_deref()
                == Some("超出可用余额：来源指标可用 1,000,000.00 元（100.00 万元），本次 1,000,000.01 元"),
            "{}",
            a.body
        );
        // The form keeps what was typed and its key.
        ensure!(a.body.contains("value=\"1000000.01\"") && a.body.contains(&key));
    }
    // Negative, over-precise, not a number, an impossible date.
    for (amount, why) in [
        ("-5", "金额必须大于零"),
        ("10.001", "金额最多两位小数（精确到分）"),
        ("十万", "请输入金额（元），如 1234.56"),
    ] {
        let f = with_step(
            allocation(&csrf, &key, &own, amount, "巴财农〔2020〕12号"),
            "confirm",
        );
        let a = p.post("/desk/allocation", &f).await?;
        ensure!(
            a.status == StatusCode::UNPROCESSABLE_ENTITY
                && error_by(&a.body, "amount").as_deref() == Some(why),
            "{amount}: {} {:?}",
            a.status,
            error_by(&a.body, "amount")
        );
    }
    let mut f = allocation(&csrf, &key, &own, "10", "");
    f.retain(|(k, _)| *k != "issued_on");
    f.push(("issued_on", "2020-02-30"));
    let a = p.post("/desk/allocation", &f).await?;
    ensure!(a.status == StatusCode::UNPROCESSABLE_ENTITY);
    ensure!(error_by(&a.body, "doc_no").as_deref() == Some("必填"));
    ensure!(error_by(&a.body, "issued_on").is_some_and(|e| e.starts_with("请输入日期")));
    // Before its source's date: the ledger's date rule, by the date.
    let mut f = allocation(&csrf, &key, &own, "10", "巴财农〔2020〕13号");
    f.retain(|(k, _)| *k != "issued_on");
    f.push(("issued_on", "2020-01-01"));
    let a = p.post("/desk/allocation", &f).await?;
    ensure!(
        error_by(&a.body, "issued_on").as_deref()
            == Some("下达日期早于来源指标的日期（2020-01-30）"),
        "{}",
        a.body
    );
    ensure!(
        heads(l).await? == before,
        "a refused form recorded something"
    );

    // Without the CSRF token, or with another: refused before anything.
    let f = with_step(
        allocation("", &key, &own, "10", "巴财农〔2020〕14号"),
        "confirm",
    );
    let f: Vec<_> = f.into_iter().filter(|(k, _)| *k != "csrf_token").collect();
    let a = p.post("/desk/allocation", &f).await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN && a.body.contains("表单已过期或来源不明"),
        "{} {}",
        a.status,
        a.body
    );
    let f = with_step(
        allocation("wrong", &key, &own, "10", "巴财农〔2020〕14号"),
        "confirm",
    );
    let a = p.post("/desk/allocation", &f).await?;
    ensure!(a.status == StatusCode::FORBIDDEN);
    // A stale or made-up key: the form again, with a new key.
    let f = with_step(
        allocation(&csrf, "1-abc", &own, "10", "巴财农〔2020〕14号"),
        "confirm",
    );
    let a = p.post("/desk/allocation", &f).await?;
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY && a.body.contains("表单已过期或不完整"),
        "{}",
        a.body
    );
    // The wrong role: the auditor reads, but opens and posts no form, and
    // is offered no 办理.
    let mut audit = Person::sign_in(&node, "shenji").await?;
    let a = audit.get("/desk/allocation").await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN && a.body.contains("您的角色无权访问此页"),
        "{}",
        a.status
    );
    let overview = audit.get("/desk").await?;
    ensure!(
        overview.status == StatusCode::OK && !overview.body.contains(">办理</a>"),
        "{}",
        overview.body
    );
    let acsrf = field_value(&overview.body, "csrf_token")?;
    let f = with_step(
        allocation(&acsrf, &key, &own, "10", "巴财农〔2020〕15号"),
        "confirm",
    );
    let a = audit.post("/desk/allocation", &f).await?;
    ensure!(a.status == StatusCode::FORBIDDEN, "{}", a.status);
    // The treasury pays but does not allocate; the allocation desk does
    // not pay.
    let mut guoku = Person::sign_in(&node, "guoku").await?;
    ensure!(guoku.get("/desk/allocation").await?.status == StatusCode::FORBIDDEN);
    ensure!(p.get("/desk/payment").await?.status == StatusCode::FORBIDDEN);
    ensure!(
        heads(l).await? == before,
        "a refused form recorded something"
    );
    node.stop().await
}

on_both!(
    an_allocation_is_checked_confirmed_and_recorded_once,
    refused_forms_say_why_by_the_field_and_record_nothing,
);

/// The ledger's keyed write on its own: a key records once, even when the
/// same key races itself; another person's same key is theirs.
async fn a_form_key_records_once(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let l = t.ledger.clone();
    let body = own_budget("巴财农〔2020〕2号", "X-05", "500", "2020-02-01");
    let key = FormKey {
        login: "yusuan",
        key: "k-1",
        form: "own-budget",
    };
    let first = l
        .submit_keyed(&key, std::slice::from_ref(&body), &clerk())
        .await?;
    let Keyed::Recorded(out) = first else {
        anyhow::bail!("first: {first:?}")
    };
    let id = out[0].id();
    let again = l
        .submit_keyed(
            &key,
            &[own_budget("巴财农〔2020〕3号", "X-05", "7", "2020-02-01")],
            &clerk(),
        )
        .await?;
    ensure!(
        matches!(&again, Keyed::Repeated(r) if r.entries == vec![id] && r.form == "own-budget"),
        "{again:?}"
    );
    let found = l.form_result("yusuan", "k-1").await?;
    ensure!(found.is_some_and(|r| r.entries == vec![id]));
    ensure!(l.form_result("someone", "k-1").await?.is_none());
    let n = allocations(&l).await?;
    ensure!(n == 1, "{n}");

    // Six at once with one new key: one records, five find it.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            let key = FormKey {
                login: "yusuan",
                key: "k-2",
                form: "own-budget",
            };
            let doc = format!("巴财农〔2020〕{}号", 20 + i);
            l.submit_keyed(
                &key,
                &[own_budget(&doc, "X-05", "1", "2020-02-01")],
                &clerk(),
            )
            .await
        }));
    }
    let mut recorded = 0;
    for t in tasks {
        if matches!(t.await??, Keyed::Recorded(_)) {
            recorded += 1;
        }
    }
    ensure!(recorded == 1, "{recorded} recorded");
    ensure!(allocations(&l).await? == 2);
    // A refused body stores no key: the same key may then record.
    let over = issue(
        "巴财农〔2020〕30号",
        id,
        "X-05",
        "652822",
        "1000",
        "2020-03-01",
    );
    let key3 = FormKey {
        login: "yusuan",
        key: "k-3",
        form: "allocation",
    };
    ensure!(l.submit_keyed(&key3, &[over], &clerk()).await.is_err());
    ensure!(l.form_result("yusuan", "k-3").await?.is_none());
    // A rehearsal records nothing.
    let before = format!("{:?}", l.heads().await?);
    l.rehearse(
        &[own_budget("巴财农〔2020〕40号", "X-05", "1", "2020-02-01")],
        &clerk(),
    )
    .await?;
    ensure!(format!("{:?}", l.heads().await?) == before);
    ensure!(allocations(&l).await? == 2);
    Ok(())
}

on_both!(workers = 4; a_form_key_records_once);

/// The other money forms over HTTP: own budget, a payment and its reversal
/// from the trace's link, a fund category (no confirmation), and funds
/// from the centre refused below the region, next to nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_budget_payment_reversal_and_category_forms() -> Result<()> {
    let (node, own) = start(
        Engine::Sqlite,
        &[
            ("yusuan", Role::AllocationDesk),
            ("guoku", Role::Treasury),
            ("guanli", Role::Admin),
        ],
    )
    .await?;
    let l = &node.ledger.ledger;
    l.submit_one(project("XM-1", "50000"), &clerk()).await?;
    l.submit_one(target("XM-1"), &clerk()).await?;

    // Own budget, through its confirmation.
    let mut p = Person::sign_in(&node, "yusuan").await?;
    let (csrf, key, _) = p.open("/desk/own-budget").await?;
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("doc_no", "巴财农〔2020〕5号"),
        ("category", "X-05"),
        ("amount", "20000"),
        ("budgeted_on", "2020-03-01"),
        ("title", "本级配套"),
    ];
    let a = p.post("/desk/own-budget", &f).await?;
    ensure!(a.status == StatusCode::OK && a.body.contains("20,000.00 元"));
    let a = p.post("/desk/own-budget", &with_step(f, "confirm")).await?;
    ensure!(a.status == StatusCode::SEE_OTHER, "{}", a.body);
    // Funds from the centre: the region's alone, said above the form.
    let (csrf, key, _) = p.open("/desk/funds-received").await?;
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("doc_no", "财农〔2020〕7号"),
        ("category", "X-01"),
        ("amount", "100"),
        ("received_on", "2020-03-01"),
    ];
    let before = heads(l).await?;
    let a = p.post("/desk/funds-received", &f).await?;
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY
            && a.body.contains("只有顶层节点（自治区）登记中央到账资金"),
        "{}",
        a.body
    );
    ensure!(heads(l).await? == before);

    // A payment from the own budget, by 文号, then its reversal.
    let mut t = Person::sign_in(&node, "guoku").await?;
    let (csrf, key, form) = t.open("/desk/payment").await?;
    ensure!(form.contains("巴财农〔2020〕1号") && form.contains("XM-1"));
    let own = own.to_string();
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("allocation", own.as_str()),
        ("project", "XM-1"),
        ("voucher_no", "PZ-0001"),
        ("paid_on", "2020-04-01"),
        ("amount", "3000.50"),
        ("payer", "巴州财政局"),
        ("payee_name", "某某建设公司"),
    ];
    let a = t.post("/desk/payment", &f).await?;
    ensure!(
        a.status == StatusCode::OK
            && a.body.contains("3,000.50 元")
            && a.body.contains("某某建设公司"),
        "{}",
        a.body
    );
    let a = t.post("/desk/payment", &with_step(f, "confirm")).await?;
    ensure!(a.status == StatusCode::SEE_OTHER, "{}", a.body);
    let done = t.get(&a.location).await?;
    let at = done.body.find("href=\"/trace/").context("a trace link")?;
    let rest = &done.body[at + "href=\"".len()..];
    let trace = rest[..rest.find('"').context("end")?].to_owned();
    let page = t.get(&trace).await?;
    ensure!(
        page.body
            .contains("href=\"/desk/reversal?voucher_no=PZ-0001\""),
        "{}",
        page.body
    );
    let (csrf, key, form) = t.open("/desk/reversal?voucher_no=PZ-0001").await?;
    ensure!(form.contains("value=\"PZ-0001\""));
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("voucher_no", "PZ-0001"),
        ("reversed_on", "2020-04-02"),
        ("reason", "收款账号错误"),
    ];
    let a = t
        .post("/desk/reversal", &with_step(f.clone(), "confirm"))
        .await?;
    ensure!(a.status == StatusCode::SEE_OTHER, "{}", a.body);
    let page = t.get(&trace).await?;
    ensure!(page.body.contains("已冲销") && !page.body.contains("/desk/reversal"));
    // Reversed twice: by the voucher, in Chinese.
    let (csrf, key, _) = t.open("/desk/reversal").await?;
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("voucher_no", "PZ-0001"),
        ("reversed_on", "2020-04-03"),
        ("reason", "重复"),
    ];
    let a = t.post("/desk/reversal", &f).await?;
    ensure!(error_by(&a.body, "voucher_no").as_deref() == Some("该支付已冲销"));
    // A fund category: no confirmation, recorded at once, once.
    let mut g = Person::sign_in(&node, "guanli").await?;
    let (csrf, key, _) = g.open("/desk/category").await?;
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("code", "BZ-01"),
        ("name", "州级以工代赈"),
        ("origin", "prefecture"),
        ("department", ""),
        ("classified", "no"),
    ];
    let a = g.post("/desk/category", &f).await?;
    ensure!(a.status == StatusCode::SEE_OTHER, "{} {}", a.status, a.body);
    let a = g.post("/desk/category", &f).await?;
    ensure!(a.status == StatusCode::SEE_OTHER);
    let cats = l.categories().await?;
    ensure!(cats.iter().filter(|c| c.code == "BZ-01").count() == 1);
    node.stop().await
}

/// In a real browser: sign in, fill the allocation form (the source by its
/// 文号 and balance), check, confirm, see the result; then ask for more
/// than is left and see the Chinese refusal by the amount, nothing recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_allocation_form_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let (node, own) = start(Engine::Sqlite, &[("yusuan", Role::AllocationDesk)]).await?;
    let l = &node.ledger.ledger;
    let base = node.base.clone();
    let driver = Driver::start().await?;
    let b = driver.browser().await?;
    b.goto(&format!("{base}/desk/allocation")).await?;
    b.type_into("#f-login", "yusuan").await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("button[type=submit]").await?;
    b.wait_for_url("the form after signing in", |u| {
        u.ends_with("/desk/allocation")
    })
    .await?;
    let dom = b.source().await?;
    ensure!(dom.contains("下达指标") && dom.contains("可用 1,000,000.00 元"));
    // Every control has its label.
    for f in [
        "source",
        "to",
        "amount",
        "doc_no",
        "issued_on",
        "category",
        "title",
    ] {
        ensure!(dom.contains(&format!("<label for=\"f-{f}\">")), "label {f}");
    }
    b.click(&format!("#f-source option[value='{own}']")).await?;
    b.click("#f-to option[value='652822']").await?;
    b.type_into("#f-amount", "250000").await?;
    b.type_into("#f-doc_no", "巴财农〔2020〕21号").await?;
    let n = allocations(l).await?;
    b.click("form button[type=submit]:not(.out)").await?;
    wait_for_text(&b, "请核对以下内容").await?;
    let dom = b.source().await?;
    ensure!(
        dom.contains("250,000.00 元") && dom.contains("25.00"),
        "{dom}"
    );
    let out = artifacts()?;
    b.screenshot(&out.join("desk-confirm.png")).await?;
    b.click("#confirm").await?;
    b.wait_for_url("the result", |u| u.contains("/desk/done/"))
        .await?;
    let dom = b.source().await?;
    ensure!(dom.contains("已登记") && dom.contains("巴财农〔2020〕21号"));
    ensure!(allocations(l).await? == n + 1);
    b.screenshot(&out.join("desk-done.png")).await?;

    // Over-allocation: 750,000 left, 800,000 asked.
    b.goto(&format!("{base}/desk/allocation")).await?;
    b.click(&format!("#f-source option[value='{own}']")).await?;
    b.click("#f-to option[value='652823']").await?;
    b.type_into("#f-amount", "800000").await?;
    b.type_into("#f-doc_no", "巴财农〔2020〕22号").await?;
    let before = heads(l).await?;
    b.click("form button[type=submit]:not(.out)").await?;
    wait_for_text(&b, "超出可用余额").await?;
    let dom = b.source().await?;
    ensure!(
        dom.contains(
            "id=\"f-amount-error\">超出可用余额：来源指标可用 750,000.00 元（75.00 万元），本次 800,000.00 元"
        ),
        "{dom}"
    );
    b.screenshot(&out.join("desk-over-allocation.png")).await?;
    ensure!(
        heads(l).await? == before,
        "the refused form recorded something"
    );
    b.quit().await?;
    node.stop().await
}

/// Waits (up to 30 s) until the page holds `text`.
async fn wait_for_text(b: &fundsync_tests::webdriver::Browser, text: &str) -> Result<()> {
    fundsync_tests::cluster::eventually(Duration::from_secs(30), text, || async {
        Ok(b.source().await?.contains(text).then_some(()))
    })
    .await
}

/// `<target>/test-artifacts/web`, where the screenshots go.
fn artifacts() -> Result<std::path::PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::PathBuf::from(t),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("test-artifacts").join("web");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The pages with a form of their own, besides 办理's (the desk's forms
/// come from the route table).
const FORM_PAGES: [&str; 4] = [
    "/import",
    "/import/allocations",
    "/projects/new",
    "/publications/new",
];

/// In a real browser, each role signs in and sees exactly the menu entries
/// and the forms its permissions allow: the navigation (`layout::NAV`,
/// 办理 only with a form to open), the list of 办理, and each form page
/// (a form to post, or the refusal without one). Screenshots of each
/// role's overview and 办理 under `<target>/test-artifacts/web/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_role_sees_the_menu_and_forms_its_permissions_allow_in_a_real_browser() -> Result<()> {
    use fundsync_node::access::Permission;
    use fundsync_node::web::layout::{Nav, DESK_PERMISSIONS, NAV};
    fundsync_tests::webdriver::binaries()?;
    let logins: Vec<(String, Role)> = Role::ALL
        .iter()
        .map(|r| (format!("role-{}", r.as_str()), *r))
        .collect();
    let users: Vec<(&str, Role)> = logins.iter().map(|(l, r)| (l.as_str(), *r)).collect();
    let (node, _) = start(Engine::Sqlite, &users).await?;
    let base = node.base.clone();
    let table = fundsync_node::server::route_table();
    let form_pages: Vec<(String, Permission)> = table
        .iter()
        .filter(|r| {
            r.page
                && r.method.as_str() == "GET"
                && ((r.path.starts_with("/desk/") && !r.path.contains('{'))
                    || FORM_PAGES.contains(&r.path.as_str()))
        })
        .map(|r| (r.path.clone(), r.permission))
        .collect();
    ensure!(form_pages.len() >= 6 + FORM_PAGES.len(), "{form_pages:?}");
    let out = artifacts()?;
    let driver = Driver::start().await?;
    for (login, role) in &users {
        let roles = [*role];
        let b = driver.browser().await?;
        b.goto(&format!("{base}/login")).await?;
        b.type_into("#f-login", login).await?;
        b.type_into("#f-password", PASSWORD).await?;
        b.click("main button[type=submit]").await?;
        b.wait_for_url("the overview after signing in", |u| !u.contains("/login"))
            .await?;
        let nav = hrefs(&b, "header nav a").await?;
        let want: Vec<String> = NAV
            .iter()
            .filter(|(which, _, p, _)| {
                p.granted_by(&roles)
                    && (*which != Nav::Desk
                        || DESK_PERMISSIONS.iter().any(|d| d.granted_by(&roles)))
            })
            .map(|(_, href, _, _)| (*href).to_owned())
            .collect();
        ensure!(nav == want, "{role}: the menu {nav:?}, allowed {want:?}");
        b.screenshot(&out.join(format!("role-{}-overview.png", role.as_str())))
            .await?;
        b.goto(&format!("{base}/desk")).await?;
        let mut desk = hrefs(&b, "main ul.desk-list a").await?;
        desk.sort();
        let mut want: Vec<String> = form_pages
            .iter()
            .filter(|(path, p)| path.starts_with("/desk/") && p.granted_by(&roles))
            .map(|(path, _)| path.clone())
            .collect();
        want.sort();
        ensure!(
            desk == want,
            "{role}: 办理 lists {desk:?}, allowed {want:?}"
        );
        b.screenshot(&out.join(format!("role-{}-desk.png", role.as_str())))
            .await?;
        for (path, p) in &form_pages {
            b.goto(&format!("{base}{path}")).await?;
            let forms = b
                .script("return document.querySelectorAll('main form[method=post]').length;")
                .await?
                .as_u64()
                .unwrap_or(0);
            let allowed = p.granted_by(&roles);
            ensure!(
                (forms > 0) == allowed,
                "{role} at {path}: {forms} form(s), {} allowed",
                if allowed { "is" } else { "not" }
            );
        }
        b.quit().await?;
    }
    node.stop().await
}

/// The `href`s of the links matching `css`, in page order.
async fn hrefs(b: &fundsync_tests::webdriver::Browser, css: &str) -> Result<Vec<String>> {
    let js = format!(
        "return Array.from(document.querySelectorAll({css:?})).map(a => a.getAttribute('href'));"
    );
    let v = b.script(&js).await?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// In a real browser, by keyboard only: every control of the own-budget
/// form
/// has a label; Tab reaches each field in order, the amount and 文号 are
/// typed where the focus is, Enter asks for the confirmation, Tab reaches
/// 确认 and Enter records it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_money_form_is_filled_and_confirmed_by_keyboard_alone() -> Result<()> {
    use fundsync_tests::webdriver::{ENTER, TAB};
    fundsync_tests::webdriver::binaries()?;
    let (node, _) = start(Engine::Sqlite, &[("shouzhi", Role::AllocationDesk)]).await?;
    let l = &node.ledger.ledger;
    let base = node.base.clone();
    let driver = Driver::start().await?;
    let b = driver.browser().await?;
    b.goto(&format!("{base}/desk/own-budget")).await?;
    b.type_into("#f-login", "shouzhi").await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("main button[type=submit]").await?;
    b.wait_for_url("the form after signing in", |u| {
        u.ends_with("/desk/own-budget")
    })
    .await?;
    // Every control in the page's body has a label that names it.
    let unlabelled = b
        .script(
            "return Array.from(document.querySelectorAll(\
             'main input:not([type=hidden]), main select, main textarea'))\
             .filter(e => !e.labels || e.labels.length === 0 || !e.labels[0].textContent.trim())\
             .map(e => e.name);",
        )
        .await?;
    ensure!(
        unlabelled == serde_json::json!([]),
        "without a label: {unlabelled}"
    );
    let before = heads(l).await?;
    let mut order = Vec::new();
    let mut reached_submit = false;
    for _ in 0..60 {
        b.keys(TAB).await?;
        let f = b.focused().await?;
        match f.as_str() {
            "f-doc_no" => b.keys("KB-2026-1").await?,
            "f-amount" => b.keys("1234.5").await?,
            // A select is chosen by typing the start of its option.
            "f-category" => b.keys("X-05").await?,
            "button:submit" if !order.is_empty() => {
                reached_submit = true;
                break;
            }
            _ => {}
        }
        // A date input takes a Tab stop per part (year, month, day).
        if f.starts_with("f-") && order.last() != Some(&f) {
            order.push(f);
        }
    }
    ensure!(
        reached_submit,
        "Tab never reached the submit button: {order:?}"
    );
    ensure!(
        order
            == [
                "f-doc_no",
                "f-category",
                "f-amount",
                "f-budgeted_on",
                "f-title"
            ],
        "the fields in Tab order: {order:?}"
    );
    let out = artifacts()?;
    b.screenshot(&out.join("keyboard-form.png")).await?;
    b.keys(ENTER).await?;
    if let Err(e) = wait_for_text(&b, "请核对以下内容").await {
        b.screenshot(&out.join("keyboard-refused.png")).await?;
        anyhow::bail!("{e}: {}", b.source().await?);
    }
    let dom = b.source().await?;
    ensure!(
        dom.contains("1,234.50") && dom.contains("KB-2026-1"),
        "{dom}"
    );
    ensure!(
        heads(l).await? == before,
        "the confirmation recorded something"
    );
    let mut on_confirm = false;
    for _ in 0..60 {
        b.keys(TAB).await?;
        if b.focused().await? == "confirm" {
            on_confirm = true;
            break;
        }
    }
    ensure!(on_confirm, "Tab never reached 确认");
    b.screenshot(&out.join("keyboard-confirm.png")).await?;
    b.keys(ENTER).await?;
    b.wait_for_url("the result", |u| u.contains("/desk/done/"))
        .await?;
    let dom = b.source().await?;
    ensure!(dom.contains("已登记") && dom.contains("KB-2026-1"), "{dom}");
    ensure!(heads(l).await? != before, "nothing recorded");
    b.screenshot(&out.join("keyboard-done.png")).await?;
    b.quit().await?;
    node.stop().await
}

/// Every control in the page's body that has no label naming it.
async fn unlabelled(b: &fundsync_tests::webdriver::Browser) -> Result<serde_json::Value> {
    b.script(
        "return Array.from(document.querySelectorAll(\
         'main input:not([type=hidden]), main select, main textarea'))\
         .filter(e => !e.labels || e.labels.length === 0 || !e.labels[0].textContent.trim())\
         .map(e => e.name);",
    )
    .await
}

/// Presses Tab from where the focus is until the form's submit button has
/// it, typing `answers` into the fields the focus lands on (a select whose
/// answer is [`ARROW_DOWN`](fundsync_tests::webdriver::ARROW_DOWN) gets
/// the arrow until it holds a value, as a person picks the first choice).
/// Returns the fields (`f-…` ids) in the order Tab reached them.
async fn tab_through(
    b: &fundsync_tests::webdriver::Browser,
    answers: &[(&str, &str)],
) -> Result<Vec<String>> {
    use fundsync_tests::webdriver::{ARROW_DOWN, TAB};
    let mut order: Vec<String> = Vec::new();
    for _ in 0..100 {
        b.keys(TAB).await?;
        let f = b.focused().await?;
        if f == "button:submit" && !order.is_empty() {
            return Ok(order);
        }
        // A date input takes a Tab stop per part (year, month, day).
        if !f.starts_with("f-") || order.last() == Some(&f) {
            continue;
        }
        if let Some((_, answer)) = answers.iter().find(|(id, _)| *id == f) {
            if *answer == ARROW_DOWN {
                for _ in 0..5 {
                    let v = b.script("return document.activeElement.value;").await?;
                    if v.as_str().is_some_and(|v| !v.is_empty()) {
                        break;
                    }
                    b.keys(ARROW_DOWN).await?;
                }
            } else {
                b.keys(answer).await?;
            }
        }
        order.push(f);
    }
    anyhow::bail!("Tab never reached the submit button: {order:?}")
}

/// One money form filled by keyboard alone in a real browser: signed in as
/// `login` at `path`, every control labelled, Tab reaching the fields in
/// `want_order` (typing `answers`), Enter asking for the confirmation
/// (which shows each of `shown` and records nothing), Tab reaching 确认
/// and Enter recording, once. Screenshots `keyboard-<name>-*.png`.
async fn a_form_by_keyboard(
    node: &TestNode,
    login: &str,
    path: &str,
    answers: &[(&str, &str)],
    want_order: &[&str],
    shown: &[&str],
    name: &str,
) -> Result<()> {
    use fundsync_tests::webdriver::{ENTER, TAB};
    let l = &node.ledger.ledger;
    let driver = Driver::start().await?;
    let b = driver.browser().await?;
    b.goto(&format!("{}{path}", node.base)).await?;
    b.type_into("#f-login", login).await?;
    b.type_into("#f-password", PASSWORD).await?;
    b.click("main button[type=submit]").await?;
    b.wait_for_url("the form after signing in", |u| u.ends_with(path))
        .await?;
    let missing = unlabelled(&b).await?;
    ensure!(
        missing == serde_json::json!([]),
        "{path}: without a label: {missing}"
    );
    let before = heads(l).await?;
    let order = tab_through(&b, answers).await?;
    ensure!(
        order == want_order,
        "{path}: the fields in Tab order: {order:?}"
    );
    let out = artifacts()?;
    b.screenshot(&out.join(format!("keyboard-{name}-form.png")))
        .await?;
    b.keys(ENTER).await?;
    if let Err(e) = wait_for_text(&b, "请核对以下内容").await {
        b.screenshot(&out.join(format!("keyboard-{name}-refused.png")))
            .await?;
        anyhow::bail!("{path}: {e}: {}", b.source().await?);
    }
    let dom = b.source().await?;
    for s in shown {
        ensure!(dom.contains(s), "{path}: the confirmation lacks {s}: {dom}");
    }
    ensure!(
        heads(l).await? == before,
        "{path}: the confirmation recorded something"
    );
    let mut on_confirm = false;
    for _ in 0..60 {
        b.keys(TAB).await?;
        if b.focused().await? == "confirm" {
            on_confirm = true;
            break;
        }
    }
    ensure!(on_confirm, "{path}: Tab never reached 确认");
    b.keys(ENTER).await?;
    b.wait_for_url("the result", |u| u.contains("/desk/done/"))
        .await?;
    let dom = b.source().await?;
    ensure!(dom.contains("已登记"), "{path}: {dom}");
    let after = heads(l).await?;
    ensure!(after != before, "{path}: nothing recorded");
    b.screenshot(&out.join(format!("keyboard-{name}-done.png")))
        .await?;
    // Opening the form again records nothing.
    b.goto(&format!("{}{path}", node.base)).await?;
    ensure!(heads(l).await? == after, "{path}: recorded twice");
    b.quit().await
}

/// The allocation form by keyboard alone: the source allocation and the
/// county chosen with the arrow keys, the amount and 文号 typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_allocation_form_is_filled_and_confirmed_by_keyboard_alone() -> Result<()> {
    use fundsync_tests::webdriver::ARROW_DOWN;
    fundsync_tests::webdriver::binaries()?;
    let (node, _) = start(Engine::Sqlite, &[("zhibiao", Role::AllocationDesk)]).await?;
    a_form_by_keyboard(
        &node,
        "zhibiao",
        "/desk/allocation",
        &[
            ("f-source", ARROW_DOWN),
            ("f-to", ARROW_DOWN),
            ("f-amount", "2500"),
            ("f-doc_no", "KB-XD-1"),
        ],
        &[
            "f-source",
            "f-to",
            "f-amount",
            "f-doc_no",
            "f-issued_on",
            "f-category",
            "f-title",
        ],
        &["2,500.00", "KB-XD-1", "巴财农〔2020〕1号"],
        "allocation",
    )
    .await?;
    let a = allocations(&node.ledger.ledger).await?;
    ensure!(a == 2, "{a} allocations");
    node.stop().await
}

/// The payment form by keyboard alone: the allocation and the project
/// chosen with the arrow keys, the voucher, amount, payer and payee typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_payment_form_is_filled_and_confirmed_by_keyboard_alone() -> Result<()> {
    use fundsync_tests::webdriver::ARROW_DOWN;
    fundsync_tests::webdriver::binaries()?;
    let (node, _) = start(Engine::Sqlite, &[("guoku", Role::Treasury)]).await?;
    let l = &node.ledger.ledger;
    l.submit_one(project("XM-1", "50000"), &clerk()).await?;
    l.submit_one(target("XM-1"), &clerk()).await?;
    a_form_by_keyboard(
        &node,
        "guoku",
        "/desk/payment",
        &[
            ("f-allocation", ARROW_DOWN),
            ("f-project", ARROW_DOWN),
            ("f-voucher_no", "KB-PZ-1"),
            ("f-amount", "1200.5"),
            ("f-payer", "Bazhou finance"),
            ("f-payee_name", "Kongque builders"),
        ],
        &[
            "f-allocation",
            "f-project",
            "f-voucher_no",
            "f-paid_on",
            "f-amount",
            "f-payer",
            "f-payee_name",
            "f-payee_account",
            "f-payee_bank",
            "f-function_class",
            "f-purpose",
        ],
        &["1,200.50", "KB-PZ-1", "Kongque builders", "XM-1"],
        "payment",
    )
    .await?;
    let paid = l
        .payments(
            fundsync_node::ledger::query::PaymentFilter::default(),
            Page {
                page: 1,
                page_size: 10,
            },
        )
        .await?;
    ensure!(paid.items.len() == 1, "{} payments", paid.items.len());
    node.stop().await
}
