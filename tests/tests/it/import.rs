//! Imports as treasuries and bureaus have them, from outside: a GBK CSV and
//! an XLSX uploaded over HTTP by a signed-in person with the session's CSRF
//! token, the preview listing bad rows by line in Chinese with nothing
//! applied, the confirm applying once (a second confirm records nothing),
//! the refusals (wrong role, no token, a body over the limit) leaving the
//! journal as it was; back-entered allocations named by 文号 on both
//! engines; and one upload through a real browser.

use anyhow::{ensure, Context as _, Result};
use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::import::{self, ImportError, Kind, Mode, Options};
use fundsync_node::ledger::query::{AllocationFilter, Page, PaymentFilter};

use fundsync_tests::build::{child, clerk, county_category, own_budget, project, target};
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine, TestNode};
use fundsync_tests::on_both;
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::StatusCode;

const PASSWORD: &str = "Tarim-Poplar-2020-river";
const DOC: &str = "轮财〔2020〕1号";

/// A county with 100,000.00 yuan of own budget (文号 [`DOC`]), project P1
/// with a target, a treasury clerk and a lead officer.
async fn county_node(tweak: impl FnOnce(&mut fundsync_node::config::Config)) -> Result<TestNode> {
    let node = TestNode::start_with(Engine::Sqlite, &county("652822", "轮台县"), tweak).await?;
    let l = &node.ledger.ledger;
    l.submit(
        &[
            county_category(),
            own_budget(DOC, "LT-01", "100000", "2020-02-01"),
            project("P1", "80000"),
            target("P1"),
        ],
        &clerk(),
    )
    .await?;
    let a = Accounts::new(l.db().clone(), l.clock().clone(), node.cfg.accounts.clone());
    for (login, role) in [("guoku", Role::Treasury), ("wang", Role::Lead)] {
        a.create_user(NewUser {
            login: login.into(),
            name: format!("{login} 的名字"),
            password: PASSWORD.into(),
            department: None,
            roles: vec![role],
            classified: false,
        })
        .await?;
    }
    Ok(node)
}

/// A person's HTTP client: the session cookie kept by hand, no redirects.
struct Person {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Person {
    async fn sign_in(node: &TestNode, login: &str) -> Result<Person> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let mut p = Person {
            http,
            base: node.base.clone(),
            cookie: None,
            csrf: String::new(),
        };
        let req = p.http.post(format!("{}/login", p.base)).form(&[
            ("login", login),
            ("password", PASSWORD),
            ("next", "/account"),
        ]);
        let a = p.send(req).await?;
        ensure!(a.status == StatusCode::SEE_OTHER, "login: {}", a.status);
        let a = p.get("/account").await?;
        let body = a.text();
        let at = body
            .find("name=\"csrf_token\" value=\"")
            .context("a form with the CSRF field")?;
        let rest = &body[at + "name=\"csrf_token\" value=\"".len()..];
        p.csrf = rest[..rest.find('"').context("end of the value")?].to_owned();
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
            if let Some(value) = pair.strip_prefix("fundsync_session=") {
                self.cookie = (!value.is_empty()).then(|| pair.to_owned());
            }
        }
        let header = |n: reqwest::header::HeaderName| {
            res.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let content_type = header(CONTENT_TYPE);
        Ok(Answer {
            status: res.status(),
            content_type,
            body: res.bytes().await?.to_vec(),
        })
    }

    async fn get(&mut self, path: &str) -> Result<Answer> {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// Uploads `bytes` as the form's file field, with the token as the
    /// body's first part as the page's form sends it (`csrf` false: a wrong
    /// one).
    async fn upload(&mut self, path: &str, name: &str, bytes: &[u8], csrf: bool) -> Result<Answer> {
        let token = if csrf {
            self.csrf.clone()
        } else {
            "x".to_owned()
        };
        let (ct, body) = multipart(&token, name, bytes);
        let url = format!("{}{path}", self.base);
        let req = self.http.post(url).header(CONTENT_TYPE, ct).body(body);
        self.send(req).await
    }

    /// The upload as the form sent it before: the right token in the URL,
    /// a wrong one in the body. Refused now: a token in a URL is kept by
    /// logs and `Referer`s.
    async fn upload_token_in_url(
        &mut self,
        path: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<Answer> {
        let (ct, body) = multipart("x", name, bytes);
        let url = format!("{}{path}?csrf_token={}", self.base, self.csrf);
        let req = self.http.post(url).header(CONTENT_TYPE, ct).body(body);
        self.send(req).await
    }

    async fn confirm(&mut self, path: &str, upload: &str) -> Result<Answer> {
        let csrf = self.csrf.clone();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .form(&[("csrf_token", csrf.as_str()), ("upload", upload)]);
        self.send(req).await
    }
}

/// A `multipart/form-data` body with the CSRF field and one file, as a
/// browser sends the upload form.
fn multipart(token: &str, file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let b = "----fundsync-test-7d1f0c";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable, "GBK can say {text}");
    bytes.into_owned()
}

/// The upload id of a good preview's confirm form.
fn upload_id(page: &str) -> Result<String> {
    let at = page
        .find("name=\"upload\" value=\"")
        .with_context(|| format!("a confirm form in:\n{page}"))?;
    let rest = &page[at + "name=\"upload\" value=\"".len()..];
    Ok(rest[..rest.find('"').context("end of the value")?].to_owned())
}

async fn heads(node: &TestNode) -> Result<String> {
    Ok(format!("{:?}", node.ledger.ledger.heads().await?))
}

async fn payments(node: &TestNode) -> Result<Vec<(String, String)>> {
    let p = node
        .ledger
        .ledger
        .payments(
            PaymentFilter::default(),
            Page {
                page: 1,
                page_size: 1000,
            },
        )
        .await?;
    Ok(p.items
        .into_iter()
        .map(|v| (v.voucher_no, v.amount.to_string()))
        .collect())
}

const ZH_HEADER: &str = "凭证号,支付日期,付款人,收款人,金额(元),指标文号,项目编码,用途\n";

#[tokio::test]
async fn a_gbk_csv_is_previewed_by_line_then_applied_once() -> Result<()> {
    let node = county_node(|_| {}).await?;
    let mut p = Person::sign_in(&node, "guoku").await?;
    let before = heads(&node).await?;

    // Bad rows: each listed by its line with a Chinese reason; nothing kept.
    let bad = gbk(&format!(
        "{ZH_HEADER}\
         V1,2020-05-10,轮台县财政局,某合作社,\"30,000.00\",{DOC},P1,种植\n\
         V2,2020-05-10,轮台县财政局,某合作社,1.001,{DOC},P1,种植\n\
         V3,2020-05-10,轮台县财政局,某合作社,100,新财农〔2099〕1号,P1,种植\n\
         V4,2020/5/11,轮台县财政局,某合作社,-5,{DOC},P1,种植\n"
    ));
    let a = p.upload("/import", "凭证.csv", &bad, true).await?;
    let page = a.text();
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{} {page}",
        a.status
    );
    for needle in [
        "<td class=\"num\">3</td>",
        "超过 2 位小数",
        "<td class=\"num\">4</td>",
        "在本节点持有的指标中找不到",
        "<td class=\"num\">5</td>",
        "负数",
        "未导入任何数据",
    ] {
        ensure!(page.contains(needle), "the preview lacks {needle}:\n{page}");
    }
    ensure!(
        !page.contains("<td class=\"num\">2</td>"),
        "line 2 is good: {page}"
    );
    ensure!(
        !page.contains("/import/confirm"),
        "no confirm for a bad file: {page}"
    );
    ensure!(
        heads(&node).await? == before,
        "a bad preview changed the journal"
    );

    // A good file: the preview counts and totals, records nothing.
    let good = gbk(&format!(
        "{ZH_HEADER}\
         V1,2020-05-10,轮台县财政局,某合作社,\"30,000.00\",{DOC},P1,种植\n\
         V2,2020年5月11日,轮台县财政局,某合作社,￥1.50,{DOC},P1,种植\n"
    ));
    let a = p.upload("/import", "凭证.csv", &good, true).await?;
    let page = a.text();
    ensure!(a.status == StatusCode::OK, "{} {page}", a.status);
    ensure!(
        page.contains("确认导入") && page.contains("30,001.50"),
        "{page}"
    );
    ensure!(
        heads(&node).await? == before,
        "a preview changed the journal"
    );
    let id = upload_id(&page)?;

    // Confirm: both rows at once; a second confirm records nothing.
    let a = p.confirm("/import/confirm", &id).await?;
    ensure!(
        a.status == StatusCode::OK && a.text().contains("已导入"),
        "{} {}",
        a.status,
        a.text()
    );
    let mut got = payments(&node).await?;
    got.sort();
    ensure!(
        got == [
            ("V1".into(), "30000.00".into()),
            ("V2".into(), "1.50".into())
        ],
        "{got:?}"
    );
    let after = heads(&node).await?;
    let a = p.confirm("/import/confirm", &id).await?;
    ensure!(
        a.status == StatusCode::CONFLICT,
        "{} {}",
        a.status,
        a.text()
    );
    ensure!(
        heads(&node).await? == after,
        "a second confirm changed the journal"
    );
    // Another person cannot see or confirm the upload by its id.
    let mut q = Person::sign_in(&node, "guoku").await?;
    let a = q.get(&format!("/import/preview/{id}")).await?;
    ensure!(a.status == StatusCode::NOT_FOUND, "{}", a.status);
    node.stop().await
}

#[tokio::test]
async fn an_xlsx_in_wan_imports_after_its_preview() -> Result<()> {
    let node = county_node(|_| {}).await?;
    let mut p = Person::sign_in(&node, "guoku").await?;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "2020年国库集中支付明细")?;
    let header = [
        "凭证号",
        "支付日期",
        "付款人",
        "收款人",
        "金额（万元）",
        "指标文号",
        "项目编码",
    ];
    for (i, h) in header.iter().enumerate() {
        ws.write_string(1, u16::try_from(i)?, *h)?;
    }
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2020, 6, 1)?;
    let fmt = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    ws.write_string(2, 0, "X1")?;
    ws.write_datetime_with_format(2, 1, &date, &fmt)?;
    ws.write_string(2, 2, "轮台县财政局")?;
    ws.write_string(2, 3, "某合作社")?;
    ws.write_number(2, 4, 3.5)?;
    ws.write_string(2, 5, DOC)?;
    ws.write_string(2, 6, "P1")?;
    let bytes = wb.save_to_buffer()?;
    let before = heads(&node).await?;
    let a = p.upload("/import", "凭证.xlsx", &bytes, true).await?;
    let page = a.text();
    ensure!(
        a.status == StatusCode::OK && page.contains("35,000.00"),
        "{} {page}",
        a.status
    );
    ensure!(
        heads(&node).await? == before,
        "a preview changed the journal"
    );
    let a = p.confirm("/import/confirm", &upload_id(&page)?).await?;
    ensure!(a.status == StatusCode::OK, "{} {}", a.status, a.text());
    ensure!(
        payments(&node).await? == [("X1".to_owned(), "35000.00".to_owned())],
        "{:?}",
        payments(&node).await?
    );
    // The template downloads as a workbook.
    let a = p.get("/import/template.xlsx").await?;
    ensure!(
        a.status == StatusCode::OK
            && a.content_type.contains("spreadsheetml")
            && a.body.starts_with(b"PK\x03\x04"),
        "{} {}",
        a.status,
        a.content_type
    );
    node.stop().await
}

#[tokio::test]
async fn uploads_are_refused_for_a_wrong_role_without_a_token_or_over_the_limit() -> Result<()> {
    let node = county_node(|c| c.import_bytes_max = 256 * 1024).await?;
    let before = heads(&node).await?;
    let file = gbk(&format!(
        "{ZH_HEADER}V1,2020-05-10,轮台县财政局,某合作社,100,{DOC},P1,种植\n"
    ));
    // The lead office reads the ledger but records no payments.
    let mut lead = Person::sign_in(&node, "wang").await?;
    let a = lead.upload("/import", "凭证.csv", &file, true).await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN,
        "{} {}",
        a.status,
        a.text()
    );
    let a = lead.get("/import").await?;
    ensure!(a.status == StatusCode::FORBIDDEN, "{}", a.status);
    // A wrong CSRF token in the body; the right one in the URL only (as
    // the form sent it before), which is no longer taken.
    let mut p = Person::sign_in(&node, "guoku").await?;
    let a = p.upload("/import", "凭证.csv", &file, false).await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN,
        "{} {}",
        a.status,
        a.text()
    );
    let a = p.upload_token_in_url("/import", "凭证.csv", &file).await?;
    ensure!(
        a.status == StatusCode::FORBIDDEN,
        "token in the URL: {} {}",
        a.status,
        a.text()
    );
    // Over the limit: a Chinese page, nothing kept.
    let big = vec![b'x'; 300 * 1024];
    let a = p.upload("/import", "big.csv", &big, true).await?;
    let page = a.text();
    ensure!(
        a.status == StatusCode::PAYLOAD_TOO_LARGE && page.contains("文件超过上限"),
        "{} {page}",
        a.status
    );
    // Not a file upload at all, and an empty file.
    let not_multipart = p
        .http
        .post(format!("{}/import", p.base))
        .form(&[("csrf_token", p.csrf.as_str())]);
    let a = p.send(not_multipart).await?;
    ensure!(
        a.status == StatusCode::BAD_REQUEST,
        "{} {}",
        a.status,
        a.text()
    );
    let a = p.upload("/import", "empty.csv", b"", true).await?;
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY && a.text().contains("请选择"),
        "{}",
        a.status
    );
    // A confirm of an id never uploaded.
    let a = p.confirm("/import/confirm", &"0".repeat(32)).await?;
    ensure!(a.status == StatusCode::CONFLICT, "{}", a.status);
    ensure!(
        heads(&node).await? == before,
        "a refused upload changed the journal"
    );
    ensure!(payments(&node).await?.is_empty());
    node.stop().await
}

/// Back-entered allocations at a prefecture: the source named by 文号, the
/// child by name or code, 万元; a bad file keeps nothing.
async fn allocations_are_back_entered_by_doc_number(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let l = &t.ledger;
    l.submit(
        &[
            child("652822", "轮台县"),
            child("652823", "尉犁县"),
            own_budget("巴财农〔2020〕1号", "X-05", "1000000.00", "2020-01-30"),
        ],
        &clerk(),
    )
    .await?;
    let options = Options::new(&clerk());
    let run = |text: String, mode| {
        import::run(
            l,
            Kind::Allocations,
            Box::new(std::io::Cursor::new(text.into_bytes())),
            &options,
            mode,
        )
    };
    let header = "指标文号,来源指标文号,下达对象,金额(万元),下达日期,标题\n";
    let before = format!("{:?}", l.heads().await?);
    let bad = format!(
        "{header}巴财农〔2020〕2号,巴财农[2020]1号,轮台县,10,2020-02-05,提前下达\n\
         巴财农〔2020〕3号,巴财农〔2020〕9号,尉犁县,5,2020-02-05,\n\
         巴财农〔2020〕4号,巴财农〔2020〕1号,且末县,5,2020-02-05,\n\
         巴财农〔2020〕5号,巴财农〔2020〕1号,652823,1000,2020-02-05,\n"
    );
    let e = run(bad, Mode::Apply).await;
    let Err(ImportError::Rows(rows)) = e else {
        anyhow::bail!("expected row errors, got {e:?}");
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    ensure!(lines == [3, 4, 5], "{rows:?}");
    ensure!(
        rows[0].message.contains("找不到")
            && rows[1].message.contains("不是本节点的下级")
            && rows[2].message.contains("超额下达"),
        "{rows:?}"
    );
    ensure!(
        format!("{:?}", l.heads().await?) == before,
        "a bad file changed the ledger"
    );
    let good = format!(
        "{header}巴财农〔2020〕2号,巴财农[2020]1号,轮台县,10,2020-02-05,提前下达\n\
         巴财农〔2020〕3号,巴财农〔2020〕1号,652823,\"44.16\",2020-02-05,\n"
    );
    let r = run(good.clone(), Mode::Preview).await?;
    ensure!(
        r.created == 2 && r.total == rust_decimal::Decimal::from(541_600),
        "{r:?}"
    );
    ensure!(
        format!("{:?}", l.heads().await?) == before,
        "a preview changed the ledger"
    );
    let r = run(good.clone(), Mode::Apply).await?;
    ensure!(r.created == 2, "{r:?}");
    let issued = l
        .allocations(
            AllocationFilter {
                from_node: Some(code("652800")),
                ..AllocationFilter::default()
            },
            Page::default(),
        )
        .await?;
    let mut got: Vec<(String, String, String)> = issued
        .items
        .iter()
        .map(|a| (a.doc_no.clone(), a.holder.clone(), a.amount.to_string()))
        .collect();
    got.sort();
    ensure!(
        got == [
            (
                "巴财农〔2020〕2号".into(),
                "652822".into(),
                "100000.00".into()
            ),
            (
                "巴财农〔2020〕3号".into(),
                "652823".into(),
                "441600.00".into()
            ),
        ],
        "{got:?}"
    );
    // Again: every row is already recorded, nothing new.
    let r = run(good, Mode::Apply).await?;
    ensure!(r.created == 0 && r.existing == 2, "{r:?}");
    Ok(())
}

on_both!(allocations_are_back_entered_by_doc_number);

/// A treasury clerk in a real browser: signs in, chooses a GBK CSV with
/// the file input, sees the preview, confirms, sees the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_uploads_previews_and_confirms_in_a_real_browser() -> Result<()> {
    let node = county_node(|_| {}).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("国库支付凭证.csv");
    std::fs::write(
        &file,
        gbk(&format!(
            "{ZH_HEADER}B1,2020-05-10,轮台县财政局,某合作社,\"12,345.60\",{DOC},P1,种植\n"
        )),
    )?;
    let driver = fundsync_tests::webdriver::Driver::start().await?;
    let browser = driver.browser().await?;
    browser.goto(&node.url("/import")).await?;
    browser.type_into("#f-login", "guoku").await?;
    browser.type_into("#f-password", PASSWORD).await?;
    browser.click("button[type=submit]").await?;
    browser
        .wait_for_url("the import page after signing in", |u| {
            u.ends_with("/import")
        })
        .await?;
    browser
        .type_into("#f-file", file.to_str().context("a UTF-8 path")?)
        .await?;
    browser
        .click("form[enctype='multipart/form-data'] button[type=submit]")
        .await?;
    let dom = fundsync_tests::cluster::eventually(
        std::time::Duration::from_secs(30),
        "the preview in the browser",
        || async {
            let dom = browser.source().await?;
            Ok(dom.contains("确认导入").then_some(dom))
        },
    )
    .await?;
    ensure!(
        dom.contains("12,345.60") && dom.contains("国库支付凭证.csv"),
        "{dom}"
    );
    ensure!(
        payments(&node).await?.is_empty(),
        "the preview recorded something"
    );
    browser
        .click("form[action='/import/confirm'] button[type=submit]")
        .await?;
    let dom = fundsync_tests::cluster::eventually(
        std::time::Duration::from_secs(30),
        "the result in the browser",
        || async {
            let dom = browser.source().await?;
            Ok(dom.contains("已导入").then_some(dom))
        },
    )
    .await?;
    ensure!(dom.contains("12,345.60"), "{dom}");
    ensure!(
        payments(&node).await? == [("B1".to_owned(), "12345.60".to_owned())],
        "{:?}",
        payments(&node).await?
    );
    browser.quit().await?;
    node.stop().await
}
