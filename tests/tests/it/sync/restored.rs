//! What the people and the tools of a node restored from an old backup meet
//! while it takes its own chain back from its parent (issue 17): the money
//! form and the operations page, the security events it holds, and the
//! imports over HTTP and at the command line. Each is refused (or held)
//! with the ledger unchanged while restored, and goes through once the
//! refusal lifts by itself.

use fundsync_node::access::Role;
use fundsync_node::accounts::{Accounts, NewUser};
use fundsync_node::ledger::query::SecurityFilter;
use fundsync_node::ledger::restored::Restored;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use super::restore::{restorable, Restorable};
use super::*;
use crate::targets::{field_value, Answer, Person};

const PASSWORD: &str = "Tarim-Poplar-2020-river";
const COUNTY: &str = "652822";
/// The county's allocation, as `fund_county` issued it.
const DOC: &str = "巴财农〔2020〕652822号";

/// The text of the element with `id`, up to its first tag.
fn text_of(body: &str, id: &str) -> Option<String> {
    let at = body.find(&format!("id=\"{id}\""))?;
    let rest = &body[at..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(rest[..rest.find('<')?].trim().to_owned())
}

/// `login` signed in to `node`'s pages (the pages' `Person` of
/// `targets`, on a node of a cluster).
async fn sign_in(c: &Cluster, node: &str, login: &str) -> Result<Person> {
    Person::sign_in_at(&format!("http://{}", c.node(node).api), login, PASSWORD).await
}

impl Person {
    /// Uploads `bytes` as the import form's file, with the CSRF token as
    /// the body's first part, as the page's form sends it.
    async fn upload(&mut self, path: &str, csrf: &str, bytes: &[u8]) -> Result<Answer> {
        let b = "----fundsync-restored-3a9c";
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"凭证.csv\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={b}"))
            .body(body);
        self.send(req).await
    }
}

/// People with passwords at the county: a treasury clerk and an operator.
async fn people(c: &Cluster) -> Result<()> {
    let n = c.node(COUNTY);
    let l = c.ledger(COUNTY);
    let a = Accounts::new(l.db().clone(), l.clock().clone(), n.cfg.accounts.clone());
    for (login, role) in [("guoku", Role::Treasury), ("yunwei", Role::Operator)] {
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
    Ok(())
}

/// The county restored (its own head k, its parent holding n), started
/// again with its parent stopped: restored until the parent is back.
struct Alone {
    c: Cluster,
    /// The stopped parent.
    pref: fundsync_tests::cluster::ClusterNode,
    alloc: EntryId,
    k: u64,
    n: (u64, Hash),
}

async fn restored_alone(engine: Engine) -> Result<Alone> {
    let Restorable {
        mut c,
        county,
        alloc,
        k,
        n,
    } = restorable(engine).await?;
    let pref = c.stop("652800").await?;
    c.restart(county).await?;
    let now = c.ledger(COUNTY).restored();
    ensure!(
        now == Some(Restored {
            own_head: k,
            acknowledged: n.0
        }),
        "the county restored: {now:?}"
    );
    Ok(Alone {
        c,
        pref,
        alloc,
        k,
        n,
    })
}

/// The county's payments with `voucher`, counted at `node`.
async fn vouchers(c: &Cluster, node: &str, voucher: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM payments WHERE origin = '652822' AND voucher_no = $1",
    )
    .bind(voucher)
    .fetch_one(c.ledger(node).db().read())
    .await?;
    Ok(n)
}

/// Waits until the county holds its own chain to the mark again and
/// records: the refusal lifted by itself.
async fn lifted(c: &Cluster) -> Result<()> {
    let l = c.ledger(COUNTY).clone();
    eventually(WAIT, "the refusal lifting", || async {
        Ok(l.restored().is_none().then_some(()))
    })
    .await
}

/// The payment form as a signed-in clerk submits it on a restored county:
/// the Chinese restored message by the form, nothing recorded; the
/// operations page shows the restored banner; once the county has taken
/// its chain back the same form records, once, and reaches the region.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restored_countys_pages_refuse_then_record_after_the_take_back() -> Result<()> {
    let Alone {
        mut c,
        pref,
        alloc,
        k,
        n,
    } = restored_alone(Engine::Sqlite).await?;
    people(&c).await?;
    let said = Restored {
        own_head: k,
        acknowledged: n.0,
    }
    .zh();
    let before = fingerprint(c.ledger(COUNTY), COUNTY).await?;

    let mut t = sign_in(&c, COUNTY, "guoku").await?;
    let a = t.get("/desk/payment").await?;
    ensure!(a.status == StatusCode::OK, "/desk/payment: {}", a.status);
    let (csrf, key) = (
        field_value(&a.body, "csrf_token")?,
        field_value(&a.body, "form_key")?,
    );
    let alloc = alloc.to_string();
    let f = vec![
        ("csrf_token", csrf.as_str()),
        ("form_key", key.as_str()),
        ("allocation", alloc.as_str()),
        ("project", "P1"),
        ("voucher_no", "WEB-1"),
        ("paid_on", "2020-05-10"),
        ("amount", "12.34"),
        ("payer", "轮台县财政局"),
        ("payee_name", "某某建设公司"),
    ];
    let mut confirm = f.clone();
    confirm.push(("step", "confirm"));
    // Checked (the first step) and confirmed: both say why, by the form.
    for (step, fields) in [("check", &f), ("confirm", &confirm)] {
        let a = t.post("/desk/payment", fields).await?;
        ensure!(
            a.status.is_client_error() || a.status.is_server_error(),
            "{step}: a payment on a restored county answered {}: {}",
            a.status,
            a.body
        );
        ensure!(
            text_of(&a.body, "form-error").as_deref() == Some(said.as_str()),
            "{step}: the form says {:?}, not {said:?}:\n{}",
            text_of(&a.body, "form-error"),
            a.body
        );
        // The form keeps what was typed, to submit again later.
        ensure!(a.body.contains("value=\"WEB-1\""), "{}", a.body);
    }
    ensure!(
        fingerprint(c.ledger(COUNTY), COUNTY).await? == before,
        "a refused payment changed the county's ledger"
    );
    ensure!(vouchers(&c, COUNTY, "WEB-1").await? == 0);

    // The operations page says so, in Chinese, and in English with ?lang=en.
    let mut ops = sign_in(&c, COUNTY, "yunwei").await?;
    let a = ops.get("/operations").await?;
    ensure!(a.status == StatusCode::OK, "/operations: {}", a.status);
    ensure!(
        text_of(&a.body, "restored").as_deref() == Some(said.as_str()),
        "the banner says {:?}:\n{}",
        text_of(&a.body, "restored"),
        a.body
    );
    let a = ops.get("/operations?lang=en").await?;
    ensure!(
        text_of(&a.body, "restored")
            .is_some_and(|t| t.contains(&format!("held up to seq {k} of {} acknowledged", n.0))),
        "{}",
        a.body
    );

    // The parent back: the county takes its chain back, the banner goes,
    // and the same form, submitted again, records.
    c.restart(pref).await?;
    lifted(&c).await?;
    let a = ops.get("/operations").await?;
    ensure!(
        a.status == StatusCode::OK && text_of(&a.body, "restored").is_none(),
        "the banner after the take-back:\n{}",
        a.body
    );
    let a = t.post("/desk/payment", &confirm).await?;
    ensure!(
        a.status == StatusCode::SEE_OTHER && a.location == format!("/desk/done/{key}"),
        "{} {}: {}",
        a.status,
        a.location,
        a.body
    );
    // Sent again (a reload): the form key records it once.
    let a = t.post("/desk/payment", &confirm).await?;
    ensure!(a.status == StatusCode::SEE_OTHER, "{} {}", a.status, a.body);
    c.converged(WAIT).await?;
    for node in [COUNTY, "652800", "650000"] {
        let v = vouchers(&c, node, "WEB-1").await?;
        ensure!(v == 1, "{node} holds WEB-1 ×{v}");
    }
    let paid = paid_of(&summary_by_node(c.ledger("650000"), None).await?, COUNTY);
    ensure!(
        paid == "95.69".parse::<Decimal>()?,
        "the region counts {paid}"
    );
    c.shutdown().await
}

/// Security events on a restored county (users created over the API by an
/// administrator) wait: nothing enters its journal while restored; once it
/// has taken its chain back they are written after it, exactly once, in
/// the order they happened, and reach the parent and the region. (Failed
/// sign-ins would be the natural events here, but none reaches a journal
/// today: `accounts::failed_sign_ins_never_reach_the_journal`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn security_events_held_while_restored_are_written_once_in_order() -> Result<()> {
    let Alone { mut c, pref, n, .. } = restored_alone(Engine::Sqlite).await?;
    let before = fingerprint(c.ledger(COUNTY), COUNTY).await?;
    let logins: Vec<String> = (1..=4).map(|i| format!("ren-{i}")).collect();
    let node = c.node(COUNTY);
    let (http, users) = (node.http(), node.api_url("/users"));
    for login in &logins {
        let r = http
            .post(users.as_str())
            .json(&serde_json::json!({
                "login": login,
                "name": format!("{login} 的名字"),
                "password": PASSWORD,
                "roles": ["treasury"],
            }))
            .send()
            .await?;
        let status = r.status();
        ensure!(status.is_success(), "{login}: {status} {}", r.text().await?);
    }
    let created = |origin: &str| SecurityFilter {
        origin: Some(code(origin)),
        events: vec![fundsync_protocol::body::SecurityEventKind::UserCreated],
        limit: 100,
        ..Default::default()
    };
    // Held: the county's journal is as it was.
    ensure!(
        c.ledger(COUNTY)
            .security_log(&created(COUNTY))
            .await?
            .is_empty(),
        "a security event entered a restored journal"
    );
    ensure!(fingerprint(c.ledger(COUNTY), COUNTY).await? == before);

    c.restart(pref).await?;
    lifted(&c).await?;
    let l = c.ledger(COUNTY).clone();
    let rows = eventually(WAIT, "the held events in the journal", || async {
        let rows = l.security_log(&created(COUNTY)).await?;
        Ok((rows.len() >= logins.len()).then_some(rows))
    })
    .await?;
    // Oldest first, by seq.
    let mut rows = rows;
    rows.sort_by_key(|r| r.seq);
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    ensure!(subjects == logins, "{subjects:?}");
    ensure!(
        rows.iter().all(|r| r.actor_role == "admin"),
        "attributed to the administrator: {rows:?}"
    );
    ensure!(
        rows.first()
            .is_some_and(|r| r.seq > i64::try_from(n.0).unwrap_or(i64::MAX)),
        "written before the chain taken back: {rows:?}"
    );
    c.converged(WAIT).await?;
    for node in [COUNTY, "652800", "650000"] {
        let mut at = c.ledger(node).security_log(&created(COUNTY)).await?;
        at.sort_by_key(|r| r.seq);
        ensure!(at == rows, "{node} holds {at:?}, the county {rows:?}");
    }
    c.shutdown().await
}

/// Imports on a restored county: the CSV over the API (503
/// `ledger_restored`), the upload page (the Chinese message, no confirm
/// form) and `fundsync import payments` (exit non-zero, the reason said)
/// apply nothing; after the take-back each applies, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_on_a_restored_county_wait_for_the_take_back() -> Result<()> {
    let Alone {
        mut c, pref, k, n, ..
    } = restored_alone(Engine::Sqlite).await?;
    people(&c).await?;
    let said = Restored {
        own_head: k,
        acknowledged: n.0,
    }
    .zh();
    let before = fingerprint(c.ledger(COUNTY), COUNTY).await?;
    let csv = |v: &str| {
        format!(
            "凭证号,支付日期,付款人,收款人,金额(元),指标文号,项目编码,用途\n\
             {v},2020-05-10,轮台县财政局,某合作社,2.00,{DOC},P1,种植\n"
        )
    };
    let node = c.node(COUNTY);
    let (http, import_url) = (node.http(), node.api_url("/payments/import"));
    let (data_dir, db_url) = (node.cfg.data_dir.clone(), node.url.clone());

    // The API.
    let api = |body: String| {
        http.post(import_url.as_str())
            .header(CONTENT_TYPE, "text/csv")
            .body(body)
            .send()
    };
    let res = api(csv("API-1")).await?;
    let status = res.status();
    let v: serde_json::Value = res.json().await?;
    ensure!(
        status == StatusCode::SERVICE_UNAVAILABLE
            && v["error"] == "ledger_restored"
            && v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{status} {v}"
    );

    // The upload page.
    let mut p = sign_in(&c, COUNTY, "guoku").await?;
    let a = p.get("/import").await?;
    ensure!(a.status == StatusCode::OK, "/import: {}", a.status);
    let csrf = field_value(&a.body, "csrf_token")?;
    let a = p.upload("/import", &csrf, csv("WEB-2").as_bytes()).await?;
    ensure!(
        a.status != StatusCode::OK && a.body.contains(&said) && !a.body.contains("/import/confirm"),
        "{}: {}",
        a.status,
        a.body
    );

    // The command line, on the node's own files.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("凭证.csv");
    std::fs::write(&file, csv("CLI-3"))?;
    let cli = || -> Result<std::process::Output> {
        let cfg = dir.path().join("fundsync.toml");
        std::fs::write(
            &cfg,
            format!(
                "code = \"652822\"\nname = \"轮台县\"\nlevel = \"county\"\n\
                 parent_code = \"652800\"\ndata_dir = {:?}\ndatabase_url = {:?}\n",
                data_dir.to_str().context("path")?,
                db_url
            ),
        )?;
        Ok(std::process::Command::new(crate::chaos::fundsync_bin()?)
            .args(["import", "payments"])
            .arg(&file)
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .env("FUNDSYNC_RULES_TARGET_APPROVAL_REQUIRED", "false")
            .env_remove("FUNDSYNC_CONFIG")
            .output()?)
    };
    let out = cli()?;
    let said_cli = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        !out.status.success() && said_cli.contains(&format!("up to seq {k}")),
        "fundsync import on a restored county: {} {said_cli}",
        out.status
    );
    ensure!(
        fingerprint(c.ledger(COUNTY), COUNTY).await? == before,
        "a refused import changed the county's ledger"
    );
    for v in ["API-1", "WEB-2", "CLI-3"] {
        ensure!(vouchers(&c, COUNTY, v).await? == 0, "{v} recorded");
    }

    // The take-back; then each applies once.
    c.restart(pref).await?;
    lifted(&c).await?;
    let res = api(csv("API-1")).await?;
    ensure!(res.status().is_success(), "{}", res.text().await?);
    let a = p.upload("/import", &csrf, csv("WEB-2").as_bytes()).await?;
    ensure!(a.status == StatusCode::OK, "{}: {}", a.status, a.body);
    let upload = field_value(&a.body, "upload")?;
    let a = p
        .post(
            "/import/confirm",
            &[("csrf_token", csrf.as_str()), ("upload", upload.as_str())],
        )
        .await?;
    ensure!(
        a.status.is_success() || a.status.is_redirection(),
        "{}: {}",
        a.status,
        a.body
    );
    let out = cli()?;
    ensure!(
        out.status.success(),
        "fundsync import after the take-back: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    c.converged(WAIT).await?;
    for node in [COUNTY, "652800", "650000"] {
        for v in ["API-1", "WEB-2", "CLI-3"] {
            let got = vouchers(&c, node, v).await?;
            ensure!(got == 1, "{node} holds {v} ×{got}");
        }
    }
    c.shutdown().await
}
