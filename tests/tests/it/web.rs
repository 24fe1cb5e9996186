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

/// The options' values of the select `name` in a page (a plain scan).
fn options_of(page: &str, name: &str) -> Vec<String> {
    let Some(at) = page.find(&format!("<select id=\"f-{name}\"")) else {
        return Vec::new();
    };
    let end = page[at..].find("</select>").map_or(page.len(), |e| at + e);
    page[at..end]
        .split("<option value=\"")
        .skip(1)
        .filter_map(|o| o.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// The codes in the catalog page's table, in order.
fn catalog_codes(page: &str) -> Vec<String> {
    let Some(at) = page.find("<table id=\"catalog\"") else {
        return Vec::new();
    };
    page[at..]
        .split("<tr><td class=\"nowrap\"><code>")
        .skip(1)
        .filter_map(|r| r.split('<').next())
        .map(str::to_owned)
        .collect()
}

/// The catalog offered to a Xinjiang node and to a Shaanxi one: each sees
/// only its province's shipped lists (and the categories nodes defined),
/// in the API, the catalog page, a form's choices and the search filter;
/// R-16 is named without a year; the demo's county funds have their own
/// row; the page narrows by code, name, level and department with a
/// plain GET form, and a bad filter is refused in Chinese.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_node_is_offered_its_provinces_catalog_searchable_without_script() -> Result<()> {
    use fundsync_node::ledger::Identity;
    use fundsync_protocol::Level;
    use fundsync_tests::fixtures::{prefecture, TestNode};
    let node = TestNode::start(&prefecture()).await?;
    let http = node.http();
    let api: serde_json::Value = http
        .get(node.url("/api/v1/catalog"))
        .send()
        .await?
        .json()
        .await?;
    let codes: Vec<&str> = api
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    ensure!(
        codes.len() == 41 + 20 + 6,
        "{} offered: {codes:?}",
        codes.len()
    );
    ensure!(codes.iter().all(|c| !c.starts_with("S1-")), "{codes:?}");
    let bond = api
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["code"] == "R-16")
        .context("R-16")?;
    ensure!(bond["name"] == "地方政府债券用于脱贫攻坚项目资金", "{bond}");
    ensure!(
        api.as_array()
            .into_iter()
            .flatten()
            .any(|c| c["code"] == "X-06" && c["origin"] == "county"),
        "no X-06"
    );
    // A category the node defines is offered with the shipped ones.
    let r = http
        .post(node.url("/api/v1/catalog"))
        .json(&serde_json::json!({"code": "BZ-01", "name": "州本级扶贫小额信贷贴息", "origin": "prefecture", "department": "农财所", "classified": false}))
        .send()
        .await?;
    ensure!(r.status().is_success(), "{}", r.status());

    let page = |q: &str| {
        let http = http.clone();
        let url = node.url(&format!("/catalog{q}"));
        async move { get(&http, &url, None).await }
    };
    let all = page("").await?;
    ensure!(all.status == 200, "{}", all.status);
    must_contain(
        "/catalog",
        &all.body,
        &[
            "资金目录",
            "<form class=\"filters\" method=\"get\" action=\"/catalog\">",
            "<label for=\"f-q\">",
            "<label for=\"f-origin\">",
            "<label for=\"f-department\">",
            "共 68 项（本节点适用 68 项）",
            "本节点属新疆",
        ],
    )?;
    ensure!(!all.body.contains("<script"), "the page has a script");
    let listed = catalog_codes(&all.body);
    ensure!(
        listed.len() == 68 && listed.contains(&"BZ-01".to_owned()),
        "{listed:?}"
    );
    ensure!(!all.body.contains("S1-") && !all.body.contains("2018年"));
    // By name, by code (any case), by level, by department, together.
    let bonds = page("?q=%E5%80%BA%E5%88%B8").await?; // 债券
    ensure!(catalog_codes(&bonds.body) == ["R-16"], "{}", bonds.body);
    must_contain(
        "债券",
        &bonds.body,
        &["地方政府债券用于脱贫攻坚项目资金", "共 1 项"],
    )?;
    let x = page("?q=x-0").await?;
    ensure!(
        catalog_codes(&x.body) == ["X-01", "X-02", "X-03", "X-04", "X-05", "X-06"],
        "{:?}",
        catalog_codes(&x.body)
    );
    let county = page("?origin=county").await?;
    ensure!(
        catalog_codes(&county.body) == ["X-06"],
        "{:?}",
        catalog_codes(&county.body)
    );
    ensure!(county.body.contains("<option value=\"county\" selected>"));
    let dept = page("?department=%E9%A2%84%E7%AE%97%E5%A4%84&origin=central").await?; // 预算处
    ensure!(
        catalog_codes(&dept.body) == ["C-01", "C-02", "C-03"],
        "{:?}",
        catalog_codes(&dept.body)
    );
    // The Shaanxi lists only when asked for every list.
    let none = page("?q=S1-K-02").await?;
    ensure!(catalog_codes(&none.body).is_empty() && none.body.contains("暂无"));
    let other = page("?q=S1-K-02&lists=all").await?;
    ensure!(catalog_codes(&other.body) == ["S1-K-02"], "{}", other.body);
    ensure!(other.body.contains("陕西某县"));
    // A level that does not exist: 400, said in Chinese.
    let bad = page("?origin=township").await?;
    ensure!(bad.status == 400, "{}", bad.status);
    must_contain("a bad level", &bad.body, &["参数有误", "origin"])?;
    let en = page("?lang=en&origin=bond").await?;
    must_contain(
        "in English",
        &en.body,
        &["Fund catalog", "Local government bonds", "R-16"],
    )?;
    // The forms and the search page choose among the same categories.
    let form = get(&http, &node.url("/desk/own-budget"), None).await?;
    let offered = options_of(&form.body, "category");
    ensure!(
        offered.contains(&"X-05".to_owned()) && offered.iter().all(|c| !c.starts_with("S1-")),
        "{offered:?}"
    );
    let search = get(&http, &node.url("/search"), None).await?;
    let offered = options_of(&search.body, "category");
    ensure!(
        offered.contains(&"R-16".to_owned()) && offered.iter().all(|c| !c.starts_with("S1-")),
        "{offered:?}"
    );
    node.stop().await?;

    // A prefecture in Shaanxi (榆林市) is offered seed 001's lists only.
    let yulin = Identity {
        code: "610800".parse()?,
        name: "榆林市".into(),
        level: Level::Prefecture,
        parent: Some("610000".parse()?),
    };
    let node = TestNode::start(&yulin).await?;
    let api: serde_json::Value = node
        .http()
        .get(node.url("/api/v1/catalog"))
        .send()
        .await?
        .json()
        .await?;
    let codes: Vec<&str> = api
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    ensure!(codes.len() == 42 + 36 + 49 + 21, "{}", codes.len());
    ensure!(codes.iter().all(|c| c.starts_with("S1-")), "{codes:?}");
    let p = get(&node.http(), &node.url("/catalog?q=K-02"), None).await?;
    ensure!(catalog_codes(&p.body) == ["S1-K-02"], "{}", p.body);
    ensure!(p.body.contains("本节点属陕西"));
    node.stop().await
}

/// A node set up by an earlier program (R-16 named with the seed's year,
/// no X-06 row) gets this program's catalog when it starts: the new row
/// loaded, the shipped name refreshed, a node's own category untouched,
/// and a second start changes nothing.
async fn an_upgraded_node_gets_the_new_rows_and_names_of_the_catalog(
    engine: fundsync_tests::fixtures::Engine,
) -> Result<()> {
    let t =
        fundsync_tests::fixtures::ledger(engine, &fundsync_tests::fixtures::prefecture()).await?;
    let l = &t.ledger;
    l.submit_one(
        fundsync_protocol::Body::CategoryDefined(fundsync_protocol::body::CategoryDefined {
            code: "BZ-01".into(),
            name: "州本级扶贫小额信贷贴息".into(),
            origin: fundsync_protocol::FundOrigin::Prefecture,
            department: "农财所".into(),
            classified: false,
        }),
        &fundsync_tests::build::clerk(),
    )
    .await?;
    let mut tx = l.db().begin_write().await?;
    sqlx::query("UPDATE fund_categories SET name = $1 WHERE code = 'R-16'")
        .bind("2018年地方政府债券用于脱贫攻坚项目资金")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM fund_categories WHERE code = 'X-06'")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let n = l.refresh_shipped_catalog().await?;
    ensure!(n == 2, "{n} rows changed");
    let cats = l.categories().await?;
    let name = |code: &str| cats.iter().find(|c| c.code == code).map(|c| c.name.clone());
    ensure!(name("R-16").as_deref() == Some("地方政府债券用于脱贫攻坚项目资金"));
    ensure!(name("X-06").as_deref() == Some("县级财政专项扶贫资金"));
    ensure!(name("BZ-01").as_deref() == Some("州本级扶贫小额信贷贴息"));
    ensure!(cats.len() == 216, "{}", cats.len());
    let n = l.refresh_shipped_catalog().await?;
    ensure!(n == 0, "{n} rows changed the second time");
    Ok(())
}
fundsync_tests::on_both!(an_upgraded_node_gets_the_new_rows_and_names_of_the_catalog);
