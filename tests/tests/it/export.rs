//! 导出: the list pages and the master ledger as XLSX and CSV files, over
//! HTTP on a real node, on both engines: a file holds the list's rows under
//! the page's filters, all its pages, in the reader's scope; nobody and
//! other roles are refused; and in a real browser, a search, then an
//! Excel export downloaded and read back.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use calamine::{Data, Reader, Xlsx};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::ledger::query::{Page, PaymentFilter};
use fundsync_node::ledger::Outcome;
use fundsync_protocol::body::{CategoryDefined, ProjectRegistered, ProjectStatus};
use fundsync_protocol::{Body, EntryId, FundOrigin};
use fundsync_tests::build::{self, clerk};
use fundsync_tests::fixtures::{prefecture, Engine, TestNode};
use fundsync_tests::on_both;
use reqwest::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

pub(crate) const PASSWORD: &str = "Tarim-Poplar-2020-export";

/// What the scenario recorded, by name.
#[derive(Debug)]
pub(crate) struct Recorded {
    /// Own budget of each category: BZ-01 (农财所), BZ-02 (社保股), BZ-09
    /// (农财所, 涉密).
    pub budgets: BTreeMap<&'static str, EntryId>,
    /// Payments by voucher: V-1, V-2, V-3 (涉密), V_4.
    pub payments: BTreeMap<&'static str, EntryId>,
}

fn created(o: &Outcome) -> Result<EntryId> {
    match o {
        Outcome::Created(id) => Ok(*id),
        Outcome::Existing(id) => anyhow::bail!("{id} existed"),
    }
}

/// A prefecture with three categories of two departments (one 涉密), an
/// own budget in each, two projects and four payments whose fields hold
/// `%`, `_` and Latin letters.
pub(crate) async fn scenario(engine: Engine) -> Result<(TestNode, Accounts, Recorded)> {
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let ledger = &node.ledger.ledger;
    let who = clerk();
    ledger
        .submit_one(build::child("652822", "轮台县"), &who)
        .await?;
    let mut budgets = BTreeMap::new();
    for (code, dept, classified, doc, title) in [
        (
            "BZ-01",
            "农财所",
            false,
            "巴财农〔2020〕1号",
            "50%配套 产业发展",
        ),
        (
            "BZ-02",
            "社保股",
            false,
            "巴财社〔2020〕2号",
            "社会保障补助",
        ),
        (
            "BZ-09",
            "农财所",
            true,
            "巴财密〔2020〕9号",
            "护边员补助经费",
        ),
    ] {
        ledger
            .submit_one(
                Body::CategoryDefined(CategoryDefined {
                    code: code.into(),
                    name: format!("{code} 资金"),
                    origin: FundOrigin::Prefecture,
                    department: dept.into(),
                    classified,
                }),
                &who,
            )
            .await?;
        let mut b = build::own_budget(doc, code, "1000000.00", "2020-01-10");
        if let Body::OwnBudgetAdded(o) = &mut b {
            o.title = title.into();
        }
        budgets.insert(code, created(&ledger.submit_one(b, &who).await?)?);
    }
    let mut water = build::project("Q-2", "500000.00");
    if let Body::ProjectRegistered(p) = &mut water {
        *p = ProjectRegistered {
            name: "Village_Water 饮水".into(),
            township: "和静镇".into(),
            village: "二村".into(),
            department: "社保股".into(),
            status: ProjectStatus::InProgress,
            ..p.clone()
        };
    }
    ledger
        .submit(
            &[
                build::project("P-1", "800000.00"),
                build::target("P-1"),
                water,
                build::target("Q-2"),
            ],
            &who,
        )
        .await?;
    let mut payments = BTreeMap::new();
    for (voucher, cat, project, amount, on, payee, purpose) in [
        (
            "V-1",
            "BZ-01",
            "P-1",
            "1234.56",
            "2020-03-05",
            "Zhang San Construction",
            "道路硬化",
        ),
        (
            "V-2",
            "BZ-02",
            "Q-2",
            "200.00",
            "2020-04-10",
            "50%折扣公司",
            "饮水_工程",
        ),
        (
            "V-3",
            "BZ-09",
            "P-1",
            "300.00",
            "2020-05-01",
            "护边员",
            "补助",
        ),
        ("V_4", "BZ-01", "P-1", "45.10", "2020-06-01", "李四", "维修"),
    ] {
        let mut b = build::payment(voucher, budgets[cat], project, amount, on);
        if let Body::PaymentRecorded(p) = &mut b {
            p.payee_name = payee.into();
            p.purpose = purpose.into();
        }
        payments.insert(voucher, created(&ledger.submit_one(b, &who).await?)?);
    }
    let acc = Accounts::new(
        ledger.db().clone(),
        ledger.clock().clone(),
        node.cfg.accounts.clone(),
    );
    Ok((node, acc, Recorded { budgets, payments }))
}

/// A person's API token (pages take bearer tokens too).
pub(crate) async fn person(
    acc: &Accounts,
    login: &str,
    roles: &[Role],
    department: Option<&str>,
    classified: bool,
) -> Result<String> {
    let u = acc
        .create_user(NewUser {
            login: login.into(),
            name: format!("{login} 的名字"),
            password: PASSWORD.into(),
            department: department.map(str::to_owned),
            roles: roles.to_vec(),
            classified,
        })
        .await?;
    Ok(acc
        .create_token(u.id, "test", Some(30))
        .await?
        .secret
        .to_string())
}

/// A file and its headers, fetched with `token` (`None`: the node's
/// all-roles token).
pub(crate) async fn fetch(
    node: &TestNode,
    path: &str,
    token: Option<&str>,
) -> Result<(StatusCode, String, Vec<u8>)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let t = token.unwrap_or(&node.token);
    let r = http
        .get(node.url(path))
        .header(AUTHORIZATION, format!("Bearer {t}"))
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = r.status();
    let ctype = r
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((status, ctype, r.bytes().await?.to_vec()))
}

/// A CSV export's records, the header first; it must begin with the BOM.
pub(crate) fn csv_rows(bytes: &[u8]) -> Result<Vec<Vec<String>>> {
    let text = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .context("a CSV export starts with the UTF-8 byte-order mark")?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text);
    let mut out = Vec::new();
    for rec in r.records() {
        out.push(rec?.iter().map(str::to_owned).collect());
    }
    Ok(out)
}

/// A workbook's first sheet as cells, rows × columns.
pub(crate) fn xlsx_rows(bytes: Vec<u8>) -> Result<Cells> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))?;
    let name = book.sheet_names().first().cloned().context("a worksheet")?;
    let range = book.worksheet_range(&name)?;
    Ok(range.rows().map(<[Data]>::to_vec).collect())
}

/// A worksheet's cells, rows × columns.
type Cells = Vec<Vec<Data>>;

/// The rows under the header row whose first cell is `first_header`, and
/// the rows above it (title, filters).
fn split_at_header(rows: Cells, first_header: &str) -> Result<(Cells, Cells)> {
    // The last such row: the filters above it may start alike ("节点").
    let at = rows
        .iter()
        .rposition(|r| r.first() == Some(&Data::String(first_header.into())))
        .with_context(|| format!("no header row starting {first_header}: {rows:?}"))?;
    let mut top = rows;
    let body = top.split_off(at + 1);
    Ok((top, body))
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn column(rows: &[Vec<String>], header: &str) -> Result<Vec<String>> {
    let at = rows
        .first()
        .and_then(|h| h.iter().position(|c| c == header))
        .with_context(|| format!("no column {header}"))?;
    Ok(rows[1..].iter().map(|r| r[at].clone()).collect())
}

async fn exports_hold_the_lists_rows_with_the_pages_filters(engine: Engine) -> Result<()> {
    let (node, _acc, rec) = scenario(engine).await?;

    // Payments, CSV: every payment in the list's order, amounts plain.
    let (s, ctype, bytes) = fetch(&node, "/payments.csv", None).await?;
    ensure!(
        s == StatusCode::OK && ctype.starts_with("text/csv"),
        "{s} {ctype}"
    );
    let rows = csv_rows(&bytes)?;
    ensure!(
        rows[0][0] == "支付日期" && rows[0][1] == "凭证号",
        "{:?}",
        rows[0]
    );
    let listed: Vec<String> = node
        .ledger
        .ledger
        .payments(
            PaymentFilter::default(),
            Page {
                page: 1,
                page_size: 1000,
            },
        )
        .await?
        .items
        .into_iter()
        .map(|p| p.voucher_no)
        .collect();
    ensure!(column(&rows, "凭证号")? == listed, "{rows:?}");
    ensure!(listed == ["V-1", "V-2", "V-3", "V_4"], "{listed:?}");
    ensure!(column(&rows, "金额（元）")?[0] == "1234.56", "{rows:?}");
    ensure!(column(&rows, "收款人")?[1] == "50%折扣公司", "{rows:?}");

    // The page's filter narrows the file as it narrows the page.
    let (_, _, bytes) = fetch(&node, "/payments.csv?as_of=2020-04-30", None).await?;
    ensure!(
        column(&csv_rows(&bytes)?, "凭证号")? == ["V-1", "V-2"],
        "as_of"
    );
    let v2 = rec.payments["V-2"].to_string();
    let (_, _, bytes) = fetch(
        &node,
        &format!("/payments.csv?allocation={}", rec.budgets["BZ-02"]),
        None,
    )
    .await?;
    ensure!(column(&csv_rows(&bytes)?, "编号")? == [v2], "allocation");

    // Allocations, XLSX: title, the filter written at the top, the header
    // row, the figures as numbers.
    let (s, ctype, bytes) = fetch(&node, "/allocations.xlsx?category=BZ-01", None).await?;
    ensure!(
        s == StatusCode::OK && ctype.contains("spreadsheetml"),
        "{s} {ctype}"
    );
    let (top, body) = split_at_header(xlsx_rows(bytes)?, "日期")?;
    ensure!(text(&top[0][0]).starts_with("预算指标"), "{top:?}");
    ensure!(
        top.iter()
            .any(|r| text(&r[0]) == "资金类别" && text(&r[1]) == "BZ-01 资金 (BZ-01)"),
        "the filter is written at the top: {top:?}"
    );
    ensure!(body.len() == 1, "one BZ-01 allocation: {body:?}");
    ensure!(text(&body[0][1]) == "巴财农〔2020〕1号", "{body:?}");
    ensure!(body[0][10] == Data::Float(1_000_000.0), "{body:?}");
    // 1234.56 + 45.10 paid from it.
    ensure!(body[0][12] == Data::Float(1279.66), "{body:?}");

    // The master ledger: the total row's paid is every payment.
    let (s, _, bytes) = fetch(&node, "/ledger.xlsx?as_of=2020-12-31", None).await?;
    ensure!(s == StatusCode::OK, "{s}");
    let (top, body) = split_at_header(xlsx_rows(bytes)?, "节点")?;
    ensure!(
        top.iter()
            .any(|r| text(&r[0]) == "截至" && text(&r[1]) == "2020-12-31"),
        "{top:?}"
    );
    let total = body.last().context("a total row")?;
    ensure!(text(&total[0]) == "合计", "{total:?}");
    ensure!(
        total[4] == Data::Float(3_000_000.0),
        "own budgets: {total:?}"
    );
    ensure!(total[6] == Data::Float(1779.66), "paid: {total:?}");
    let (s, _, bytes) = fetch(
        &node,
        "/ledger.csv?as_of=2020-12-31&group_by=fund_category",
        None,
    )
    .await?;
    ensure!(s == StatusCode::OK, "{s}");
    let rows = csv_rows(&bytes)?;
    ensure!(rows[0][0] == "资金类别" && rows.len() == 5, "{rows:?}");

    // Warnings: none yet, still the header.
    let (s, _, bytes) = fetch(&node, "/warnings.csv", None).await?;
    ensure!(s == StatusCode::OK, "{s}");
    ensure!(csv_rows(&bytes)?.len() == 1, "header only");

    // A filter the page refuses, the export refuses alike (an error page).
    let (s, ctype, _) = fetch(&node, "/payments.xlsx?as_of=yesterday", None).await?;
    ensure!(
        s == StatusCode::BAD_REQUEST && ctype.starts_with("text/html"),
        "{s} {ctype}"
    );

    // English headers under ?lang=en.
    let (_, _, bytes) = fetch(&node, "/payments.csv?lang=en", None).await?;
    ensure!(csv_rows(&bytes)?[0][1] == "Voucher", "lang=en");
    node.stop().await
}

async fn exports_keep_to_the_readers_scope(engine: Engine) -> Result<()> {
    let (node, acc, _) = scenario(engine).await?;
    // A 社保股 officer sees 社保股's money only.
    let social = person(&acc, "sun", &[Role::Department], Some("社保股"), false).await?;
    let (s, _, bytes) = fetch(&node, "/payments.csv", Some(&social)).await?;
    ensure!(s == StatusCode::OK, "{s}");
    ensure!(
        column(&csv_rows(&bytes)?, "凭证号")? == ["V-2"],
        "社保股's payments"
    );
    let (_, _, bytes) = fetch(&node, "/allocations.xlsx", Some(&social)).await?;
    let (_, body) = split_at_header(xlsx_rows(bytes)?, "日期")?;
    let docs: Vec<String> = body.iter().map(|r| text(&r[1])).collect();
    ensure!(docs == ["巴财社〔2020〕2号"], "{docs:?}");
    // A lead office without the 涉密 grant: everything but BZ-09.
    let lead = person(&acc, "wang", &[Role::Lead], Some("农财所"), false).await?;
    let (_, _, bytes) = fetch(&node, "/payments.csv", Some(&lead)).await?;
    ensure!(
        column(&csv_rows(&bytes)?, "凭证号")? == ["V-1", "V-2", "V_4"],
        "no 涉密 payment"
    );
    let (_, _, bytes) = fetch(&node, "/ledger.csv?as_of=2020-12-31", Some(&lead)).await?;
    let rows = csv_rows(&bytes)?;
    let total = rows.last().context("total")?;
    ensure!(total[0] == "合计" && total[6] == "1479.66", "{total:?}");
    node.stop().await
}

/// More payments than one page of the ledger holds: the keyset pages join
/// up, in order, nothing twice, nothing left out.
async fn a_large_export_reads_page_after_page(engine: Engine) -> Result<()> {
    let (node, _, rec) = scenario(engine).await?;
    let n = 2345;
    let bodies: Vec<Body> = (0..n)
        .map(|i| {
            build::payment(
                &format!("B{i:05}"),
                rec.budgets["BZ-02"],
                "Q-2",
                "1.00",
                "2020-07-01",
            )
        })
        .collect();
    node.ledger.ledger.submit(&bodies, &clerk()).await?;
    let (s, _, bytes) = fetch(&node, "/payments.csv?project=Q-2", None).await?;
    ensure!(s == StatusCode::OK, "{s}");
    let vouchers = column(&csv_rows(&bytes)?, "凭证号")?;
    let mut want = vec!["V-2".to_owned()];
    want.extend((0..n).map(|i| format!("B{i:05}")));
    ensure!(vouchers == want, "{} rows", vouchers.len());
    let (s, _, bytes) = fetch(&node, "/payments.xlsx?project=Q-2", None).await?;
    ensure!(s == StatusCode::OK, "{s}");
    let (_, body) = split_at_header(xlsx_rows(bytes)?, "支付日期")?;
    let got: Vec<String> = body.iter().map(|r| text(&r[1])).collect();
    ensure!(got == want, "{} rows", got.len());
    node.stop().await
}

on_both!(
    exports_hold_the_lists_rows_with_the_pages_filters,
    exports_keep_to_the_readers_scope,
    a_large_export_reads_page_after_page,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_refused_to_nobody_and_to_roles_without_the_page() -> Result<()> {
    let (node, acc, _) = scenario(Engine::Sqlite).await?;
    let before = format!("{:?}", node.ledger.ledger.heads().await?);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let operator = person(&acc, "ops", &[Role::Operator], None, false).await?;
    for path in [
        "/ledger.xlsx",
        "/ledger.csv",
        "/allocations.xlsx",
        "/allocations.csv",
        "/payments.xlsx?origin=652800",
        "/payments.csv",
        "/warnings.xlsx",
        "/warnings.csv",
    ] {
        let r = http.get(node.url(path)).send().await?;
        let to = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        ensure!(
            r.status() == StatusCode::SEE_OTHER && to.starts_with("/login?next=%2F"),
            "nobody {path}: {} {to}",
            r.status()
        );
        let (s, ctype, _) = fetch(&node, path, Some(&operator)).await?;
        ensure!(
            s == StatusCode::FORBIDDEN && ctype.starts_with("text/html"),
            "operator {path}: {s}"
        );
        let (s, _, _) = fetch(&node, path, None).await?;
        ensure!(s == StatusCode::OK, "all roles {path}: {s}");
    }
    // An attachment, with a file name.
    let r = http
        .get(node.url("/payments.xlsx"))
        .header(AUTHORIZATION, format!("Bearer {}", node.token))
        .send()
        .await?;
    let cd = r
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        cd.starts_with("attachment; filename=\"payments-652800-") && cd.ends_with(".xlsx\""),
        "{cd}"
    );
    ensure!(
        format!("{:?}", node.ledger.ledger.heads().await?) == before,
        "reading changed the journal"
    );
    node.stop().await
}

/// Exports beyond `exports_concurrent_max` are refused with 429 "busy"
/// and a Chinese page, and record nothing; at the limit's edge (one at a
/// time) exports one after the other are served, the permit of each
/// released when its file is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_beyond_the_limit_are_refused_as_busy() -> Result<()> {
    let node = TestNode::start_with(Engine::Sqlite, &prefecture(), |c| {
        c.exports_concurrent_max = 0
    })
    .await?;
    let before = format!("{:?}", node.ledger.ledger.heads().await?);
    for path in [
        "/payments.csv",
        "/payments.xlsx",
        "/ledger.xlsx",
        "/public/projects.csv",
    ] {
        let r = node.http().get(node.url(path)).send().await?;
        let status = r.status();
        let ctype = r
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = r.text().await?;
        ensure!(
            status == StatusCode::TOO_MANY_REQUESTS
                && ctype.starts_with("text/html")
                && text.contains("同时进行的导出过多，请稍后再试"),
            "{path}: {status} {ctype} {text}"
        );
    }
    ensure!(format!("{:?}", node.ledger.ledger.heads().await?) == before);
    node.stop().await?;

    let node = TestNode::start_with(Engine::Sqlite, &prefecture(), |c| {
        c.exports_concurrent_max = 1
    })
    .await?;
    for path in [
        "/payments.csv",
        "/payments.xlsx",
        "/payments.csv",
        "/ledger.xlsx",
    ] {
        // The previous file is read whole; its permit goes as the server
        // finishes sending, so the next one may have to ask again briefly.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = node.http().get(node.url(path)).send().await?;
            let status = r.status();
            let body = r.bytes().await?;
            if status == StatusCode::OK {
                ensure!(!body.is_empty(), "{path}: empty");
                break;
            }
            ensure!(
                status == StatusCode::TOO_MANY_REQUESTS && std::time::Instant::now() < deadline,
                "{path}: {status}"
            );
            tokio::task::yield_now().await;
        }
    }
    node.stop().await
}

/// `<target>/test-artifacts/export`.
fn artifacts_dir() -> Result<std::path::PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => std::path::PathBuf::from(t),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("test-artifacts").join("export");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// In a real browser: a person signs in, searches for a payee, follows the
/// hit, then downloads the payments as Excel; the file is read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_searches_and_downloads_an_excel_export_in_a_real_browser() -> Result<()> {
    fundsync_tests::webdriver::binaries()?;
    let (node, acc, rec) = scenario(Engine::Sqlite).await?;
    person(&acc, "zhao", &[Role::Lead], Some("农财所"), true).await?;
    let downloads = tempfile::tempdir()?;
    let driver = fundsync_tests::webdriver::Driver::start().await?;
    let browser = driver.browser_downloading_to(downloads.path()).await?;
    browser.goto(&node.url("/search")).await?;
    browser.type_into("#f-login", "zhao").await?;
    browser.type_into("#f-password", PASSWORD).await?;
    browser.click("button[type=submit]").await?;
    browser
        .wait_for_url("the search page after signing in", |u| {
            u.ends_with("/search")
        })
        .await?;
    browser.type_into("#f-q", "zhang san").await?;
    browser.click("form.filters button[type=submit]").await?;
    browser
        .wait_for_url("the results", |u| u.contains("/search?q=zhang"))
        .await?;
    let dom = browser.source().await?;
    let trace = format!("/trace/{}", rec.payments["V-1"]);
    ensure!(
        dom.contains("Zhang San Construction") && dom.contains(&trace),
        "the hit and its trace link: {dom}"
    );
    let out = artifacts_dir()?;
    browser.screenshot(&out.join("search.png")).await?;
    browser.click(&format!("a[href='{trace}']")).await?;
    browser
        .wait_for_url("the trace", |u| u.ends_with(&trace))
        .await?;

    browser
        .goto(&node.url("/payments?as_of=2020-04-30"))
        .await?;
    browser.screenshot(&out.join("payments.png")).await?;
    browser.click("a[href^='/payments.xlsx']").await?;
    let file = fundsync_tests::cluster::eventually(
        Duration::from_secs(30),
        "the downloaded workbook",
        || async {
            let found = std::fs::read_dir(downloads.path())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|x| x == "xlsx"));
            Ok(found)
        },
    )
    .await?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned();
    ensure!(name.starts_with("payments-652800-"), "{name}");
    let (top, body) = split_at_header(xlsx_rows(std::fs::read(&file)?)?, "支付日期")?;
    ensure!(
        top.iter()
            .any(|r| text(&r[0]) == "截至" && text(&r[1]) == "2020-04-30"),
        "{top:?}"
    );
    let vouchers: Vec<String> = body.iter().map(|r| text(&r[1])).collect();
    ensure!(vouchers == ["V-1", "V-2"], "{vouchers:?}");
    ensure!(body[0][8] == Data::Float(1234.56), "{body:?}");
    browser.quit().await?;
    node.stop().await
}
