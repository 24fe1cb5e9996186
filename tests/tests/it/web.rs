//! The web pages of a node, as officers see them: the 2020 Bayingol demo runs
//! in-process, the region's pages are fetched over HTTP (with the
//! launcher's token), then a person signs in with a real headless Chromium
//! driven through chromedriver, whose DOM must show the same figures, signs
//! out, and whose screenshots are kept under `<target>/test-artifacts/web/`
//! for a person to look at.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_demo::run::{Demo, DemoOptions};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::ledger::query::{Page, PaymentFilter};
use fundsync_tests::webdriver::Driver;

/// The password of the person who signs in.
const PASSWORD: &str = "Bayingol-2020-lead-office";

/// The nine counties of seed 002.
const COUNTIES: [&str; 9] = [
    "库尔勒市",
    "轮台县",
    "尉犁县",
    "若羌县",
    "且末县",
    "焉耆回族自治县",
    "和静县",
    "和硕县",
    "博湖县",
];

struct Fetched {
    status: u16,
    cookie: Option<String>,
    body: String,
}

async fn get(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> Result<Fetched> {
    let mut req = http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.with_context(|| format!("GET {url}"))?;
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure!(
        ctype.starts_with("text/html"),
        "{url}: content-type {ctype}"
    );
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Fetched {
        status,
        cookie,
        body: res.text().await?,
    })
}

fn must_contain(page: &str, body: &str, needles: &[&str]) -> Result<()> {
    let missing: Vec<_> = needles.iter().filter(|n| !body.contains(*n)).collect();
    ensure!(
        missing.is_empty(),
        "{page} lacks {missing:?}; it reads:\n{body}"
    );
    Ok(())
}

/// `<target>/test-artifacts/web`: under `CARGO_TARGET_DIR` when set, else
/// the workspace's `target/`.
fn artifacts_dir() -> Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("test-artifacts").join("web");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_region_pages_show_the_tree_the_ledger_and_a_trace_in_a_real_browser() -> Result<()> {
    // Fail first, before the slow part, if there is no browser.
    fundsync_tests::webdriver::binaries()?;
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(&DemoOptions {
        dir: dir.path().to_owned(),
        port_base: 0,
        host: "127.0.0.1".into(),
    })
    .await?;
    demo.replay().await?;
    demo.converged(Duration::from_secs(60)).await?;
    let region = demo.region().context("the demo has a region")?;
    let base = format!("http://{}", region.api);
    let http = region.http();

    // (a) Over HTTP.
    let overview = get(&http, &format!("{base}/"), None).await?;
    ensure!(overview.status == 200, "/ answered {}", overview.status);
    must_contain(
        "/",
        &overview.body,
        &[
            "<html lang=\"zh-CN\">",
            "新疆维吾尔自治区",
            "node=652800",
            "巴音郭楞蒙古自治州",
            "总览",
            "总台账",
            "到位资金",
            "支出进度",
            "序时进度",
            "分级汇总",
            "下级汇总",
            "href=\"/operations\"",
        ],
    )?;
    ensure!(overview.cookie.is_none(), "no ?lang=, no cookie");
    // The replication console, for operators.
    let ops = get(&http, &format!("{base}/operations"), None).await?;
    ensure!(ops.status == 200, "/operations answered {}", ops.status);
    let mut want = vec!["运行监控", "652800", "巴音郭楞蒙古自治州", "正常"];
    want.extend(COUNTIES);
    must_contain("/operations", &ops.body, &want)?;

    let ledger = get(&http, &format!("{base}/ledger?as_of=2020-12-31"), None).await?;
    ensure!(ledger.status == 200, "/ledger answered {}", ledger.status);
    must_contain(
        "/ledger?as_of=2020-12-31",
        &ledger.body,
        &[
            "扶贫资金总台账",
            // The prefecture issued 107941 万元 to its counties in 2020.
            "title=\"1,079,410,000.00 元\">107,941.00</td>",
            "/allocations?holder=652822",
            "/payments?origin=652822",
            "<svg",
            "轮台县",
        ],
    )?;

    let en = get(&http, &format!("{base}/ledger?lang=en"), None).await?;
    ensure!(en.status == 200, "/ledger?lang=en answered {}", en.status);
    must_contain(
        "/ledger?lang=en",
        &en.body,
        &[
            "<html lang=\"en\">",
            "Master ledger",
            "Overview",
            "Issued down",
        ],
    )?;
    let cookie = en.cookie.context("?lang=en sets the lang cookie")?;
    ensure!(cookie.starts_with("lang=en"), "cookie {cookie}");
    let remembered = get(&http, &format!("{base}/operations"), Some("lang=en")).await?;
    must_contain(
        "/operations with lang=en",
        &remembered.body,
        &["<html lang=\"en\">", "Nodes below"],
    )?;

    // A payment of 轮台县 funded from above, so the region holds its whole
    // chain: county → prefecture → region → the centre's document.
    let pays = region
        .ledger
        .payments(
            PaymentFilter {
                origin: Some("652822".parse()?),
                ..PaymentFilter::default()
            },
            Page {
                page: 1,
                page_size: 1000,
            },
        )
        .await?;
    let mut chosen = None;
    for p in &pays.items {
        let t = region
            .ledger
            .trace_payment(p.id.parse()?)
            .await?
            .context("a listed payment has a trace")?;
        if t.complete && t.allocations.len() >= 3 {
            chosen = Some(p);
            break;
        }
    }
    let pay = chosen.context("轮台县 has a payment from funds issued by the region")?;
    let payments = get(&http, &format!("{base}/payments?origin=652822"), None).await?;
    let trace_href = format!("href=\"/trace/{}\"", pay.id);
    must_contain("/payments?origin=652822", &payments.body, &[&trace_href])?;
    let trace_url = format!("{base}/trace/{}", pay.id);
    let trace = get(&http, &trace_url, None).await?;
    ensure!(trace.status == 200, "trace answered {}", trace.status);
    must_contain(
        "the trace",
        &trace.body,
        &[
            "支付凭证",
            "项目（绩效目标）",
            "县级指标",
            "地州指标",
            "自治区",
            "轮台县",
            "巴音郭楞蒙古自治州",
            "新疆维吾尔自治区",
            "追溯完整",
            &pay.voucher_no,
        ],
    )?;

    let missing = get(&http, &format!("{base}/trace/652822-999999"), None).await?;
    ensure!(missing.status == 404, "unknown payment: {}", missing.status);
    let bad = get(&http, &format!("{base}/ledger?as_of=yesterday"), None).await?;
    ensure!(bad.status == 400, "bad date: {}", bad.status);
    must_contain("the error page", &bad.body, &["参数有误"])?;
    // The demo ends with 若羌's year-end balances flagged as idle funds; the
    // county's evaluator raises them and they roll up, so wait for them.
    let url = format!("{base}/warnings");
    let warnings = fundsync_tests::cluster::eventually(
        std::time::Duration::from_secs(60),
        "若羌's idle-funds warnings at the region",
        || async {
            let page = get(&http, &url, None).await?;
            Ok(page.body.contains("若羌县").then_some(page))
        },
    )
    .await?;
    must_contain(
        "/warnings",
        &warnings.body,
        &["未处理预警", "资金闲置", "若羌县"],
    )?;

    // (b) In a real browser, signed in as a person: the login page, the
    // overview with their name, the ledger, a trace, then out again.
    let accounts = Accounts::new(
        region.ledger.db().clone(),
        region.ledger.clock().clone(),
        region.cfg.accounts.clone(),
    );
    accounts
        .create_user(NewUser {
            login: "wangfang".into(),
            name: "王芳".into(),
            password: PASSWORD.into(),
            department: Some("农财所".into()),
            roles: vec![Role::Lead],
            classified: false,
        })
        .await?;
    let driver = Driver::start().await?;
    let browser = driver.browser().await?;
    browser
        .goto(&format!("{base}/ledger?as_of=2020-12-31"))
        .await?;
    let url = browser.current_url().await?;
    ensure!(
        url.contains("/login?next="),
        "not sent to the login page: {url}"
    );
    let dom = browser.source().await?;
    must_contain("Chromium's login page", &dom, &["登录名", "密码"])?;
    browser.type_into("#f-login", "wangfang").await?;
    browser.type_into("#f-password", PASSWORD).await?;
    browser.click("button[type=submit]").await?;
    browser
        .wait_for_url("back where it was going after signing in", |u| {
            u.ends_with("/ledger?as_of=2020-12-31")
        })
        .await?;
    let dom = browser.source().await?;
    must_contain(
        "Chromium's DOM of /ledger",
        &dom,
        &[
            "王芳",
            "退出",
            "107,941.00",
            "1,079,410,000.00",
            "轮台县",
            "<svg",
        ],
    )?;
    let out = artifacts_dir()?;
    browser.screenshot(&out.join("ledger.png")).await?;
    browser.goto(&format!("{base}/")).await?;
    let dom = browser.source().await?;
    must_contain(
        "Chromium's DOM of /",
        &dom,
        &[
            "王芳",
            "牵头科室",
            "巴音郭楞蒙古自治州",
            "到位资金",
            "序时进度",
        ],
    )?;
    browser.screenshot(&out.join("overview.png")).await?;
    browser.goto(&format!("{base}/operations")).await?;
    let dom = browser.source().await?;
    let mut want = vec!["运行监控", "652800", "巴音郭楞蒙古自治州"];
    want.extend(COUNTIES);
    must_contain("Chromium's DOM of /operations", &dom, &want)?;
    browser.screenshot(&out.join("operations.png")).await?;
    browser.goto(&trace_url).await?;
    browser.screenshot(&out.join("trace.png")).await?;
    browser
        .goto(&format!(
            "{base}/ledger?as_of=2020-12-31&group_by=node,fund_origin&lang=en"
        ))
        .await?;
    browser.screenshot(&out.join("ledger-en.png")).await?;
    browser.goto(&format!("{base}/?lang=zh")).await?;
    browser.click("form[action='/logout'] button").await?;
    browser
        .wait_for_url("the login page after 退出", |u| u.ends_with("/login"))
        .await?;
    browser.goto(&format!("{base}/")).await?;
    let url = browser.current_url().await?;
    ensure!(url.contains("/login?next="), "signed out, yet {url} opened");
    browser.screenshot(&out.join("login.png")).await?;
    browser.quit().await?;

    demo.stop().await;
    Ok(())
}
