//! The ledger's date rules (issue 15, item 9), on SQLite and PostgreSQL:
//! a business date outside the node's window (`[rules]`, 2000-01-01 to
//! 2100-12-31 by default), a payment dated before the allocation it draws
//! on, a reversal dated before its payment, an allocation dated before its
//! source. Each is refused with its own code and a message naming the
//! dates, and leaves the journal heads and the balances as they were. They
//! are the recording node's rules: an ancestor with other settings still
//! takes its descendants' entries.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use fundsync_node::ledger::query::GroupBy;
use fundsync_node::ledger::{DateWindow, Ledger, LedgerRules};
use fundsync_protocol::body::*;
use fundsync_protocol::{Body, EntryId};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{self, code, county, prefecture, region, Engine, TestNode};
use reqwest::StatusCode;
use serde_json::{json, Value};

fundsync_tests::on_both!(
    every_dated_field_is_held_to_the_window,
    the_window_is_the_nodes_own_setting,
    payments_are_not_dated_before_their_allocation,
    reversals_are_not_dated_before_their_payment,
    allocations_are_not_dated_before_their_source,
    an_ancestor_takes_history_outside_its_own_window,
);

/// Journal heads and the master ledger: equal snapshots, nothing changed.
async fn snapshot(l: &Ledger) -> Result<String> {
    let heads = l.heads().await?;
    let s = l
        .summary(
            day("2999-12-31"),
            &[GroupBy::Node, GroupBy::FundCategory],
            None,
        )
        .await?;
    Ok(format!(
        "{}|{}",
        serde_json::to_string(&heads)?,
        serde_json::to_string(&s)?
    ))
}

/// Submits `body`, which must be refused with `code` and `message`, and
/// checks that nothing changed.
async fn refused(l: &Ledger, body: Body, code: &str, message: &str) -> Result<()> {
    let before = snapshot(l).await?;
    let e = match l.submit_one(body.clone(), &clerk()).await {
        Ok(o) => anyhow::bail!("{body:?} accepted as {o:?}, expected {code}"),
        Err(e) => e,
    };
    ensure!(
        e.code() == code && e.to_string() == message,
        "{body:?}: got {} {e}, expected {code} {message}",
        e.code()
    );
    ensure!(
        snapshot(l).await? == before,
        "ledger changed by a refused {}: {e}",
        body.kind()
    );
    Ok(())
}

/// Dates just outside the default window and far outside it.
const OUTSIDE: [&str; 4] = ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"];

fn out_of_range(field: &str, date: &str) -> String {
    format!("{field} {date} is outside the dates this node accepts (2000-01-01 to 2100-12-31)")
}

/// Sets `body`'s date field named `field` to `on`.
fn dated(mut body: Body, field: &str, on: &str) -> Body {
    let d = day(on);
    match (&mut body, field) {
        (Body::FundsReceived(b), "received_on") => b.received_on = d,
        (Body::OwnBudgetAdded(b), "budgeted_on") => b.budgeted_on = d,
        (Body::AllocationIssued(b), "issued_on") => b.issued_on = d,
        (Body::ProjectRegistered(b), "starts_on") => b.starts_on = d,
        (Body::ProjectRegistered(b), "ends_on") => b.ends_on = d,
        (Body::TargetActualRecorded(b), "recorded_on") => b.recorded_on = d,
        (Body::PaymentRecorded(b), "paid_on") => b.paid_on = d,
        (Body::PaymentReversed(b), "reversed_on") => b.reversed_on = d,
        (Body::WarningRaised(b), "as_of") => b.as_of = d,
        (Body::WarningResolved(b), "as_of") => b.as_of = d,
        (b, f) => panic!("{} has no date {f}", b.kind()),
    }
    body
}

fn actual(target: EntryId, on: &str) -> Body {
    Body::TargetActualRecorded(TargetActualRecorded {
        target,
        actual: 12.into(),
        recorded_on: day(on),
        note: String::new(),
        evidence: String::new(),
    })
}

fn warning(node: &str, subject: &str, on: &str) -> Body {
    Body::WarningRaised(WarningRaised {
        rule: "idle_funds".into(),
        subject: subject.into(),
        node: code(node),
        message: "闲置".into(),
        as_of: day(on),
        amount: None,
        params: None,
    })
}

fn resolution(warning: EntryId, on: &str) -> Body {
    Body::WarningResolved(WarningResolved {
        warning,
        reason: "已支出".into(),
        as_of: day(on),
    })
}

/// A region with child 652800 and central funds 650000-3 received on
/// 2020-01-10; a county with its own budget (dated 2020-02-01), project P1
/// with a target and a payment V1 of 2020-05-10. Returns the region, the
/// county, the funds, the county's budget and its target.
async fn two_nodes(
    engine: Engine,
) -> Result<(
    fixtures::TestLedger,
    fixtures::TestLedger,
    EntryId,
    EntryId,
    EntryId,
)> {
    let r = fixtures::ledger(engine, &region()).await?;
    r.ledger
        .submit_one(child("652800", "巴州"), &clerk())
        .await?;
    r.ledger
        .submit_one(
            own_budget("新财预〔2020〕1号", "X-04", "100", "2020-01-05"),
            &clerk(),
        )
        .await?;
    let funds = r
        .ledger
        .submit_one(
            received("财农〔2020〕1号", "X-01", "1000000", "2020-01-10"),
            &clerk(),
        )
        .await?
        .id();
    let c = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    c.ledger.submit_one(county_category(), &clerk()).await?;
    let budget = c
        .ledger
        .submit_one(
            own_budget("轮财〔2020〕1号", "LT-01", "100000", "2020-02-01"),
            &clerk(),
        )
        .await?
        .id();
    c.ledger
        .submit_one(project("P1", "80000"), &clerk())
        .await?;
    let t = c.ledger.submit_one(target("P1"), &clerk()).await?.id();
    c.ledger
        .submit_one(payment("V1", budget, "P1", "100", "2020-05-10"), &clerk())
        .await?;
    Ok((r, c, funds, budget, t))
}

async fn every_dated_field_is_held_to_the_window(engine: Engine) -> Result<()> {
    let (r, c, funds, budget, t) = two_nodes(engine).await?;
    let raised = c
        .ledger
        .submit_one(
            warning("652822", "allocation:652822-2", "2020-06-01"),
            &clerk(),
        )
        .await?
        .id();
    // Every dated field of every kind a node records, at every date outside.
    let cases: Vec<(&Ledger, Body, &str)> = vec![
        (
            &r.ledger,
            received("财农〔2020〕2号", "X-01", "1", "2020-01-10"),
            "received_on",
        ),
        (
            &r.ledger,
            own_budget("新财预〔2020〕2号", "X-04", "1", "2020-01-10"),
            "budgeted_on",
        ),
        (
            &r.ledger,
            issue(
                "新财农〔2020〕1号",
                funds,
                "X-01",
                "652800",
                "1",
                "2020-02-04",
            ),
            "issued_on",
        ),
        (&c.ledger, project("P2", "1"), "starts_on"),
        (&c.ledger, project("P3", "1"), "ends_on"),
        (&c.ledger, actual(t, "2020-11-30"), "recorded_on"),
        (
            &c.ledger,
            payment("V2", budget, "P1", "1", "2020-05-10"),
            "paid_on",
        ),
        (&c.ledger, reversal("V1", "2020-06-30"), "reversed_on"),
        (
            &c.ledger,
            warning("652822", "project:P1", "2020-06-01"),
            "as_of",
        ),
        (&c.ledger, resolution(raised, "2020-06-02"), "as_of"),
    ];
    for (l, body, field) in &cases {
        for on in OUTSIDE {
            let mut b = dated(body.clone(), field, on);
            let mut named = *field;
            // A project ends on or after it starts (or it is invalid input):
            // the other date moves along, and the start, checked first, is
            // then the date named.
            if let Body::ProjectRegistered(p) = &mut b {
                if p.ends_on < p.starts_on {
                    (p.starts_on, p.ends_on) = (day(on), day(on));
                    named = "starts_on";
                }
            }
            refused(l, b, "date_out_of_range", &out_of_range(named, on)).await?;
        }
    }
    // The window's edges are inside it.
    for (l, body, field) in cases {
        let on = if field == "starts_on" {
            "2000-01-01"
        } else {
            "2100-12-31"
        };
        l.submit_one(dated(body, field, on), &clerk())
            .await
            .with_context(|| format!("{field} on {on}"))?;
    }
    Ok(())
}

async fn the_window_is_the_nodes_own_setting(engine: Engine) -> Result<()> {
    let (_r, c, _, budget, _) = two_nodes(engine).await?;
    // The same ledger under a window of 2020 only: what it holds stays, what
    // it records is held to the new window.
    let narrow = LedgerRules {
        dates: DateWindow {
            from: day("2020-01-01"),
            to: day("2020-12-31"),
        },
        ..*c.ledger.rules()
    };
    let l = c.ledger.clone().with_rules(narrow);
    ensure!(*l.rules() == narrow && c.ledger.rules().dates == LedgerRules::default().dates);
    let msg = |on: &str| {
        format!("paid_on {on} is outside the dates this node accepts (2020-01-01 to 2020-12-31)")
    };
    for on in ["2019-12-31", "2021-01-01"] {
        refused(
            &l,
            payment("V2", budget, "P1", "1", on),
            "date_out_of_range",
            &msg(on),
        )
        .await?;
    }
    l.submit_one(payment("V2", budget, "P1", "1", "2020-12-31"), &clerk())
        .await?;
    // The default handle still takes 2021.
    c.ledger
        .submit_one(payment("V3", budget, "P1", "1", "2021-01-01"), &clerk())
        .await?;
    Ok(())
}

async fn payments_are_not_dated_before_their_allocation(engine: Engine) -> Result<()> {
    let (r, c, funds, budget, _) = two_nodes(engine).await?;
    // From the county's own budget (2020-02-01).
    refused(
        &c.ledger,
        payment("V2", budget, "P1", "1", "2020-01-31"),
        "payment_before_allocation",
        &format!(
            "payment \"V2\" dated 2020-01-31 is before allocation {budget} it draws on, \
             dated 2020-02-01"
        ),
    )
    .await?;
    c.ledger
        .submit_one(payment("V2", budget, "P1", "1", "2020-02-01"), &clerk())
        .await?;
    // From funds received (2020-01-10), at the region.
    r.ledger.submit_one(project("R1", "10"), &clerk()).await?;
    r.ledger.submit_one(target("R1"), &clerk()).await?;
    refused(
        &r.ledger,
        payment("RV1", funds, "R1", "1", "2020-01-09"),
        "payment_before_allocation",
        &format!(
            "payment \"RV1\" dated 2020-01-09 is before allocation {funds} it draws on, \
             dated 2020-01-10"
        ),
    )
    .await?;
    r.ledger
        .submit_one(payment("RV1", funds, "R1", "1", "2020-01-10"), &clerk())
        .await?;
    Ok(())
}

async fn reversals_are_not_dated_before_their_payment(engine: Engine) -> Result<()> {
    let (_r, c, _, _, _) = two_nodes(engine).await?;
    // V1 was paid on 2020-05-10.
    refused(
        &c.ledger,
        reversal("V1", "2020-05-09"),
        "reversal_before_payment",
        "reversal of \"V1\" dated 2020-05-09 is before the payment it reverses, dated 2020-05-10",
    )
    .await?;
    c.ledger
        .submit_one(reversal("V1", "2020-05-10"), &clerk())
        .await?;
    Ok(())
}

async fn allocations_are_not_dated_before_their_source(engine: Engine) -> Result<()> {
    let (r, _c, funds, _, _) = two_nodes(engine).await?;
    refused(
        &r.ledger,
        issue(
            "新财农〔2020〕1号",
            funds,
            "X-01",
            "652800",
            "1",
            "2020-01-09",
        ),
        "allocation_before_source",
        &format!(
            "allocation \"新财农〔2020〕1号\" dated 2020-01-09 is before {funds} it is carved \
             from, dated 2020-01-10"
        ),
    )
    .await?;
    r.ledger
        .submit_one(
            issue(
                "新财农〔2020〕1号",
                funds,
                "X-01",
                "652800",
                "1",
                "2020-01-10",
            ),
            &clerk(),
        )
        .await?;
    Ok(())
}

/// The region accepts only 2021 and later, the prefecture the default:
/// the prefecture's 2020 entries reach the region all the same, and the
/// region's API refuses a 2020 entry of its own with `{error, message}`.
async fn an_ancestor_takes_history_outside_its_own_window(engine: Engine) -> Result<()> {
    let tree: Vec<_> = small_tree()
        .into_iter()
        .filter(|n| ["650000", "652800"].contains(&n.code.as_str()))
        .collect();
    let c = Cluster::start_with(engine, &tree, |cfg| {
        if cfg.code == code("650000") {
            cfg.rules.dates_from = fundsync_node::settings::ConfigDate(day("2021-01-01"));
        }
    })
    .await?;
    let p = c.ledger("652800");
    let own = p
        .submit_one(
            own_budget("巴财农〔2020〕1号", "X-05", "1000", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    let region = c.ledger("650000");
    eventually(
        Duration::from_secs(30),
        "the prefecture's 2020 budget reaches the region",
        || async move { Ok(region.allocation(own).await?.map(|_| ())) },
    )
    .await?;

    // The region records warnings of its own as it runs: compare what a
    // refused `funds_received` could have changed.
    let received = || async {
        let mine = region.journal(code("650000"), 0, 100_000).await?;
        let n = mine.iter().filter(|e| e.kind == "funds_received").count();
        let s = region
            .summary(day("2999-12-31"), &[GroupBy::Node], None)
            .await?;
        anyhow::Ok((n, s.total.received))
    };
    let before = received().await?;
    let http = c.node("650000").http();
    let r = http
        .post(c.node("650000").api_url("/funds-received"))
        .json(&json!({"doc_no": "财农〔2020〕1号", "category": "X-01", "amount": "1000.00", "received_on": "2020-12-31"}))
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(
        status == StatusCode::UNPROCESSABLE_ENTITY
            && v == json!({
                "error": "date_out_of_range",
                "message": "received_on 2020-12-31 is outside the dates this node accepts \
                            (2021-01-01 to 2100-12-31)"
            }),
        "{status} {v}"
    );
    ensure!(
        received().await? == before,
        "the refusal changed the ledger"
    );
    c.shutdown().await
}

/// The API's answer to a payment before its allocation and a date outside
/// the window: 422 with `{error, message}`, nothing recorded.
#[tokio::test]
async fn the_api_answers_date_refusals_with_422() -> Result<()> {
    let node = TestNode::start(&prefecture()).await?;
    let http = node.http();
    let post = |path: &str, body: Value| {
        let req = http.post(node.url(path)).json(&body);
        async move {
            let r = req.send().await?;
            let status = r.status();
            anyhow::Ok((status, r.json::<Value>().await?))
        }
    };
    let state = || async {
        let j: Value = http
            .get(node.url("/api/v1/journal?limit=1000"))
            .send()
            .await?
            .json()
            .await?;
        let s: Value = http
            .get(node.url("/api/v1/ledger/summary?as_of=2999-12-31&group_by=node"))
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(json!([j, s]))
    };
    let (s, _) = post("/api/v1/nodes", json!({"code": "652822", "name": "轮台县"})).await?;
    ensure!(s == StatusCode::CREATED);
    let (s, v) = post(
        "/api/v1/own-budgets",
        json!({"doc_no": "巴财农〔2020〕1号", "category": "X-05", "amount": "1000.00", "budgeted_on": "2020-01-30"}),
    )
    .await?;
    ensure!(s == StatusCode::CREATED, "{s} {v}");
    let own = v["id"].as_str().context("id")?.to_owned();

    let before = state().await?;
    let (s, v) = post(
        "/api/v1/own-budgets",
        json!({"doc_no": "巴财农〔2020〕2号", "category": "X-05", "amount": "1.00", "budgeted_on": "9999-12-31"}),
    )
    .await?;
    ensure!(
        s == StatusCode::UNPROCESSABLE_ENTITY
            && v == json!({
                "error": "date_out_of_range",
                "message": "budgeted_on 9999-12-31 is outside the dates this node accepts \
                            (2000-01-01 to 2100-12-31)"
            }),
        "{s} {v}"
    );
    let (s, v) = post(
        "/api/v1/allocations",
        json!({"doc_no": "巴财农〔2020〕3号", "source": own, "to": "652822", "amount": "1.00", "issued_on": "2020-01-29"}),
    )
    .await?;
    ensure!(
        s == StatusCode::UNPROCESSABLE_ENTITY
            && v == json!({
                "error": "allocation_before_source",
                "message": format!(
                    "allocation \"巴财农〔2020〕3号\" dated 2020-01-29 is before {own} it is \
                     carved from, dated 2020-01-30"
                )
            }),
        "{s} {v}"
    );
    ensure!(state().await? == before, "a refusal changed the ledger");
    node.stop().await
}
