//! Who did what, seen from the top (issue 15): the actor a county records
//! an entry with is what the region's API and pages show after sync, and
//! the security log a county keeps rolls up to the region's 操作日志.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_protocol::body::SecurityEventKind;
use fundsync_protocol::{Actor, EntryId};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{small_tree, Cluster};
use fundsync_tests::fixtures::Engine;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fundsync_tests::on_both!(
    workers = 4;
    the_region_shows_who_recorded_at_a_county,
    a_county_security_event_shows_on_the_regions_operations_log,
);

fn three_nodes() -> Vec<fundsync_node::ledger::Identity> {
    small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800", "652822"].contains(&n.code.as_str()))
        .collect()
}

fn person(login: &str, name: &str, role: &str) -> Actor {
    Actor {
        login: login.into(),
        name: name.into(),
        role: role.into(),
        addr: "10.8.0.2".into(),
    }
}

async fn json(http: &reqwest::Client, url: &str) -> Result<Value> {
    let res = http.get(url).send().await?;
    ensure!(res.status().is_success(), "{url}: {}", res.status());
    Ok(res.json().await?)
}

async fn text(http: &reqwest::Client, url: &str) -> Result<String> {
    let res = http.get(url).send().await?;
    ensure!(res.status().is_success(), "{url}: {}", res.status());
    Ok(res.text().await?)
}

/// A list page's rows (the filter form's choices name every event too).
fn tbody(html: &str) -> &str {
    let from = html.find("<tbody>").unwrap_or(0);
    let to = html.rfind("</tbody>").unwrap_or(html.len());
    &html[from..to.max(from)]
}

fn actor_is(v: &Value, a: &Actor) -> bool {
    v["login"] == a.login.as_str()
        && v["name"] == a.name.as_str()
        && v["role"] == a.role.as_str()
        && v["addr"] == a.addr.as_str()
}

/// Money from the region to a county, a project and a payment there, each
/// by its own desk; the region's API (payments, the payment, its trace,
/// allocations, projects, journal) and its pages (payments, allocations,
/// trace) name the county's people.
async fn the_region_shows_who_recorded_at_a_county(engine: Engine) -> Result<()> {
    let c = Cluster::start(engine, &three_nodes()).await?;
    let http = c.node("650000").http();
    let budget = person("yusuan", "预算股王五", "allocation");
    let dept = person("nongye", "农业股赵六", "department");
    let cashier = person("guoku", "国库股钱七", "treasury");
    let region = c.ledger("650000");
    let received = region
        .submit_one(
            received("财农〔2020〕7号", "X-01", "1000000", "2020-04-20"),
            &budget,
        )
        .await?
        .id();
    let to_bz = region
        .submit_one(
            issue(
                "新财农〔2020〕12号",
                received,
                "X-01",
                "652800",
                "600000",
                "2020-04-26",
            ),
            &budget,
        )
        .await?
        .id();
    let pref = c.ledger("652800");
    fundsync_tests::cluster::eventually(WAIT, "the allocation at the prefecture", || async {
        Ok(pref.allocation(to_bz).await?.map(|_| ()))
    })
    .await?;
    let to_lt = pref
        .submit_one(
            issue(
                "巴财农〔2020〕21号",
                to_bz,
                "X-01",
                "652822",
                "250000",
                "2020-04-26",
            ),
            &budget,
        )
        .await?
        .id();
    let county = c.ledger("652822");
    fundsync_tests::cluster::eventually(WAIT, "the allocation at the county", || async {
        Ok(county.allocation(to_lt).await?.map(|_| ()))
    })
    .await?;
    county
        .submit(&[project("P1", "800000"), target("P1")], &dept)
        .await?;
    let paid = county
        .submit_one(payment("V1", to_lt, "P1", "1000", "2020-05-10"), &cashier)
        .await?
        .id();
    c.converged(WAIT).await?;

    let api = |p: &str| c.node("650000").api_url(p);
    let p = json(&http, &api(&format!("/payments/{paid}"))).await?;
    ensure!(actor_is(&p["actor"], &cashier), "{p}");
    let list = json(&http, &api("/payments?origin=652822")).await?;
    ensure!(actor_is(&list["items"][0]["actor"], &cashier), "{list}");
    let t = json(&http, &api(&format!("/trace/payments/{paid}"))).await?;
    ensure!(actor_is(&t["payment"]["actor"], &cashier), "{t}");
    ensure!(actor_is(&t["project"]["actor"], &dept), "{t}");
    ensure!(
        actor_is(&t["allocations"][0]["allocation"]["actor"], &budget),
        "{t}"
    );
    let a = json(&http, &api(&format!("/allocations/{to_lt}"))).await?;
    ensure!(actor_is(&a["actor"], &budget), "{a}");
    let pr = json(&http, &api("/projects/652822/P1")).await?;
    ensure!(actor_is(&pr["actor"], &dept), "{pr}");
    let projects = json(&http, &api("/projects?origin=652822")).await?;
    ensure!(
        actor_is(&projects["items"][0]["actor"], &dept),
        "{projects}"
    );
    let j = json(&http, &api("/journal?origin=652822&after=0")).await?;
    let entries = j.as_array().context("journal entries")?;
    let pay = entries
        .iter()
        .find(|e| e["kind"] == "payment_recorded")
        .context("the payment in the journal")?;
    ensure!(actor_is(&pay["actor"], &cashier), "{pay}");
    ensure!(
        pay["body"]["voucher_no"] == "V1",
        "the body is the kind's own: {pay}"
    );

    let page = |p: &str| format!("http://{}{p}", c.node("650000").api);
    let trace = text(&http, &page(&format!("/trace/{paid}"))).await?;
    for who in [&cashier, &dept, &budget] {
        ensure!(
            trace.contains(&format!(
                "{} <span class=\"muted\">({} · ",
                who.name, who.login
            )),
            "the trace page does not name {}: {trace}",
            who.login
        );
    }
    ensure!(trace.contains("录入人"), "{trace}");
    let payments = text(&http, &page("/payments?origin=652822")).await?;
    ensure!(
        payments.contains("国库股钱七 <span class=\"muted\">(guoku · 国库支付)</span>"),
        "{payments}"
    );
    let allocations = text(&http, &page("/allocations?holder=652822")).await?;
    ensure!(
        allocations.contains("预算股王五 <span class=\"muted\">(yusuan · 指标总收发)</span>"),
        "{allocations}"
    );
    c.shutdown().await
}

/// A role granted at a county is on the region's 操作日志 (and its CSV),
/// with the administrator who granted it; not on its 登录日志.
async fn a_county_security_event_shows_on_the_regions_operations_log(engine: Engine) -> Result<()> {
    let c = Cluster::start(engine, &three_nodes()).await?;
    let http = c.node("650000").http();
    let admin = person("admin652822", "轮台县管理员", "admin");
    let county = c.ledger("652822");
    let granted: EntryId = county
        .record_security(SecurityEventKind::RoleGranted, "guoku", "treasury", &admin)
        .await?
        .id();
    county
        .record_security(
            SecurityEventKind::LoginFailed,
            "nobody",
            "wrong password",
            &Actor::system(),
        )
        .await?;
    c.converged(WAIT).await?;

    let region = c.ledger("650000");
    let rows = region
        .security_log(&fundsync_node::ledger::query::SecurityFilter {
            origin: Some(fundsync_tests::fixtures::code("652822")),
            events: vec![SecurityEventKind::RoleGranted],
            limit: 10,
            ..Default::default()
        })
        .await?;
    ensure!(rows.len() == 1, "{rows:?}");
    let r = &rows[0];
    ensure!(
        r.origin == "652822"
            && r.seq == i64::try_from(granted.seq)?
            && r.actor_login == "admin652822"
            && r.actor_name == "轮台县管理员"
            && r.actor_role == "admin"
            && r.actor_addr == "10.8.0.2"
            && r.subject == "guoku"
            && r.detail == "treasury",
        "{r:?}"
    );

    let page = |p: &str| format!("http://{}{p}", c.node("650000").api);
    let ops = text(&http, &page("/security/operations")).await?;
    let ops = tbody(&ops);
    ensure!(
        ops.contains("授予角色")
            && ops.contains("轮台县管理员 <span class=\"muted\">(admin652822 · 系统管理员)</span>")
            && ops.contains("guoku"),
        "{ops}"
    );
    ensure!(
        !ops.contains("登录失败"),
        "a login event on the operations log: {ops}"
    );
    let logins = text(&http, &page("/security/logins?login=nobody")).await?;
    let logins = tbody(&logins);
    ensure!(
        logins.contains("登录失败") && !logins.contains("授予角色"),
        "{logins}"
    );
    let filtered = text(&http, &page("/security/operations?login=someone-else")).await?;
    let filtered = tbody(&filtered);
    ensure!(!filtered.contains("授予角色"), "{filtered}");

    let res = http
        .get(page("/security/operations?format=csv&origin=652822"))
        .send()
        .await?;
    ensure!(res.status().is_success());
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ensure!(ctype.starts_with("text/csv"), "{ctype}");
    let bytes = res.bytes().await?;
    ensure!(bytes.starts_with("\u{feff}".as_bytes()), "no BOM");
    let csv = String::from_utf8(bytes.to_vec())?;
    ensure!(
        csv.contains(&format!(",652822,轮台县,授予角色,admin652822,轮台县管理员,系统管理员,10.8.0.2,guoku,treasury,{granted}")),
        "{csv}"
    );

    // A bad filter is refused with the page's error, and changes nothing.
    let res = http
        .get(page("/security/operations?event=login_failed"))
        .send()
        .await?;
    ensure!(res.status().as_u16() == 400, "{}", res.status());
    let res = http
        .get(page("/security/operations?from=yesterday"))
        .send()
        .await?;
    ensure!(res.status().as_u16() == 400, "{}", res.status());
    c.shutdown().await
}
