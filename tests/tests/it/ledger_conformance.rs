//! The ledger's rules, run identically on SQLite and on a real PostgreSQL.
//!
//! Each scenario is one async fn taking a fresh ledger; `on_both!` makes a
//! `sqlite` and a `postgres` test of it. Every rejection is checked to leave
//! the ledger exactly as it was (same journal head, same master ledger).

use anyhow::{ensure, Result};
use fundsync_node::import::{self, ImportError};
use fundsync_node::ledger::query::{AllocationFilter, GroupBy, Page, PaymentFilter};
use fundsync_node::ledger::{Identity, Ledger, LedgerError, Outcome};
use fundsync_protocol::body::*;
use fundsync_protocol::{Body, EntryId, Hash};
use fundsync_tests::build::*;
use fundsync_tests::fixtures::{self, code, county, prefecture, region, Engine, TestLedger};
use rust_decimal::Decimal;

fundsync_tests::on_both!(
    identity_is_fixed_at_init,
    allocations_follow_the_rules,
    allocation_rejections_change_nothing,
    top_node_and_categories,
    payments_need_targets_and_balance,
    vouchers_are_idempotent,
    reversals_are_new_entries,
    csv_import_is_all_or_nothing,
    vouchers_in_any_order_are_recognized,
    journal_is_a_hash_chain,
    lists_filter_and_page,
    awkward_text_is_stored_verbatim,
);

/// Journal head and the full master ledger: equal snapshots mean nothing changed.
async fn snapshot(l: &Ledger) -> Result<String> {
    let j = l.journal(l.identity().code, 0, 1000).await?;
    let s = l
        .summary(
            day("2099-12-31"),
            &[GroupBy::Node, GroupBy::FundCategory],
            None,
        )
        .await?;
    Ok(format!("{}|{}", j.len(), serde_json::to_string(&s)?))
}

/// Submits a body that must be refused, and checks nothing changed.
async fn refused(l: &Ledger, body: Body) -> Result<LedgerError> {
    let before = snapshot(l).await?;
    let err = match l.submit_one(body, &clerk()).await {
        Ok(o) => anyhow::bail!("accepted {o:?}, expected a rejection"),
        Err(e) => e,
    };
    ensure!(
        snapshot(l).await? == before,
        "ledger changed by a rejected submission: {err}"
    );
    Ok(err)
}

/// A prefecture with two counties and 1,000,000.00 yuan of its own budget.
async fn prefecture_with_budget(engine: Engine) -> Result<(TestLedger, EntryId)> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    for (c, n) in [("652822", "轮台县"), ("652823", "尉犁县")] {
        t.ledger
            .submit_one(
                Body::ChildRegistered(ChildRegistered {
                    code: code(c),
                    name: n.into(),
                }),
                &clerk(),
            )
            .await?;
    }
    let own = t
        .ledger
        .submit_one(
            own_budget("巴财农〔2020〕1号", "X-05", "1000000.00", "2020-01-30"),
            &clerk(),
        )
        .await?;
    Ok((t, own.id()))
}

async fn identity_is_fixed_at_init(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    // The same identity again is harmless; another is refused.
    Ledger::init(t.ledger.db(), &prefecture()).await?;
    let other = Identity {
        name: "别的州".into(),
        ..prefecture()
    };
    let e = Ledger::init(t.ledger.db(), &other).await;
    ensure!(matches!(e, Err(LedgerError::WrongNode { .. })), "{e:?}");
    let e = Ledger::open(
        t.ledger.db().clone(),
        Some(code("652900")),
        t.ledger.clock().clone(),
    )
    .await;
    ensure!(matches!(e, Err(LedgerError::WrongNode { .. })), "{e:?}");
    // The shipped catalog is loaded: central 41 and region 20 of seed 000.
    let cats = t.ledger.categories().await?;
    ensure!(cats.iter().filter(|c| c.code.starts_with("C-")).count() == 41);
    ensure!(cats.iter().filter(|c| c.code.starts_with("R-")).count() == 20);
    Ok(())
}

async fn allocations_follow_the_rules(engine: Engine) -> Result<()> {
    let (t, own) = prefecture_with_budget(engine).await?;
    let l = &t.ledger;
    let a = l
        .submit_one(
            issue(
                "巴财农〔2020〕2号",
                own,
                "X-05",
                "652822",
                "600000.00",
                "2020-02-04",
            ),
            &clerk(),
        )
        .await?;
    ensure!(matches!(a, Outcome::Created(_)));
    // Exactly what is left may still be issued.
    l.submit_one(
        issue(
            "巴财农〔2020〕3号",
            own,
            "X-05",
            "652823",
            "400000.00",
            "2020-02-04",
        ),
        &clerk(),
    )
    .await?;
    let src = l.allocation(own).await?.expect("own budget");
    ensure!(src.available == Decimal::ZERO && src.issued == Decimal::from(1_000_000));
    // The same document again is a retry, not a second allocation.
    let again = l
        .submit_one(
            issue(
                "巴财农〔2020〕2号",
                own,
                "X-05",
                "652822",
                "600000.00",
                "2020-02-04",
            ),
            &clerk(),
        )
        .await?;
    ensure!(again == Outcome::Existing(a.id()), "{again:?}");
    let s = l.summary(day("2020-12-31"), &[GroupBy::Node], None).await?;
    let row = |c: &str| {
        s.rows
            .iter()
            .find(|r| r.group.get("node").map(String::as_str) == Some(c))
            .cloned()
    };
    let p = row("652800").expect("prefecture row");
    ensure!(p.own_budget == Decimal::from(1_000_000) && p.issued_down == Decimal::from(1_000_000));
    ensure!(p.balance == Decimal::ZERO);
    ensure!(row("652822").expect("county").received == Decimal::from(600_000));
    // Before the issue date nothing was issued yet.
    let early = l.summary(day("2020-02-01"), &[GroupBy::Node], None).await?;
    ensure!(
        early.total.issued_down == Decimal::ZERO
            && early.total.own_budget == Decimal::from(1_000_000)
    );
    Ok(())
}

async fn allocation_rejections_change_nothing(engine: Engine) -> Result<()> {
    let (t, own) = prefecture_with_budget(engine).await?;
    let l = &t.ledger;
    l.submit_one(
        issue("doc-1", own, "X-05", "652822", "999999.99", "2020-02-04"),
        &clerk(),
    )
    .await?;
    // Over-allocation: one fen too many.
    let e = refused(
        l,
        issue("doc-2", own, "X-05", "652823", "0.02", "2020-02-04"),
    )
    .await?;
    ensure!(matches!(e, LedgerError::OverAllocation { .. }), "{e}");
    ensure!(
        e.to_string().contains("0.01"),
        "names what is available: {e}"
    );
    // Not a child: a county of another prefecture, and an unregistered one.
    let e = refused(
        l,
        issue("doc-3", own, "X-05", "653101", "1.00", "2020-02-04"),
    )
    .await?;
    ensure!(matches!(e, LedgerError::NotAChild { .. }), "{e}");
    let e = refused(
        l,
        issue("doc-3", own, "X-05", "652824", "1.00", "2020-02-04"),
    )
    .await?;
    ensure!(matches!(e, LedgerError::NotAChild { .. }), "{e}");
    // The source must exist and be held here.
    let e = refused(
        l,
        issue(
            "doc-4",
            id("652800-999"),
            "X-05",
            "652823",
            "1.00",
            "2020-02-04",
        ),
    )
    .await?;
    ensure!(matches!(e, LedgerError::UnknownAllocation(_)), "{e}");
    let child_alloc = id("652800-4");
    let e = refused(
        l,
        issue("doc-5", child_alloc, "X-05", "652823", "1.00", "2020-02-04"),
    )
    .await?;
    ensure!(matches!(e, LedgerError::NotHolder { .. }), "{e}");
    // The category travels with the money.
    let mut wrong = issue("doc-6", own, "X-05", "652823", "0.01", "2020-02-04");
    if let Body::AllocationIssued(a) = &mut wrong {
        a.category = "X-01".into();
    }
    let e = refused(l, wrong).await?;
    ensure!(matches!(e, LedgerError::CategoryMismatch { .. }), "{e}");
    // The same document with another amount is a conflict, not a retry.
    let e = refused(
        l,
        issue("doc-1", own, "X-05", "652822", "5.00", "2020-02-04"),
    )
    .await?;
    ensure!(matches!(e, LedgerError::Conflict { .. }), "{e}");
    // Children: inside the division only, counties have none.
    let e = refused(
        l,
        Body::ChildRegistered(ChildRegistered {
            code: code("653101"),
            name: "外州的县".into(),
        }),
    )
    .await?;
    ensure!(matches!(e, LedgerError::OutsideDivision { .. }), "{e}");
    let c = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let e = refused(
        &c.ledger,
        Body::ChildRegistered(ChildRegistered {
            code: code("652899"),
            name: "乡".into(),
        }),
    )
    .await?;
    ensure!(matches!(e, LedgerError::NoChildren), "{e}");
    Ok(())
}

async fn top_node_and_categories(engine: Engine) -> Result<()> {
    let r = fixtures::ledger(engine, &region()).await?;
    let received = |cat: &str| {
        Body::FundsReceived(FundsReceived {
            doc_no: "财农〔2019〕123号".into(),
            category: cat.into(),
            amount: amount("99900000"),
            received_on: day("2019-11-20"),
            source: "财政部".into(),
            title: String::new(),
        })
    };
    let ok = r.ledger.submit_one(received("X-01"), &clerk()).await?;
    ensure!(matches!(ok, Outcome::Created(_)));
    let e = refused(&r.ledger, received("NO-SUCH")).await?;
    ensure!(matches!(e, LedgerError::UnknownCategory(_)), "{e}");
    let e = refused(&r.ledger, received("X-04")).await?;
    ensure!(
        matches!(e, LedgerError::CategoryOrigin { .. }),
        "region money is not received from the centre: {e}"
    );
    // Only the top node receives from the centre.
    let p = fixtures::ledger(engine, &prefecture()).await?;
    let e = refused(&p.ledger, received("X-01")).await?;
    ensure!(matches!(e, LedgerError::NotTopNode), "{e}");
    // A prefecture budgets only prefecture money.
    let e = refused(
        &p.ledger,
        Body::OwnBudgetAdded(OwnBudgetAdded {
            doc_no: "d".into(),
            category: "X-01".into(),
            amount: amount("1"),
            budgeted_on: day("2020-01-01"),
            title: String::new(),
        }),
    )
    .await?;
    ensure!(matches!(e, LedgerError::CategoryOrigin { .. }), "{e}");
    // Own categories: defined once, shipped ones cannot be redefined.
    let def = CategoryDefined {
        code: "BZ-01".into(),
        name: "州级以工代赈".into(),
        origin: fundsync_protocol::FundOrigin::Prefecture,
        department: "农业科".into(),
        classified: false,
    };
    let first = p
        .ledger
        .submit_one(Body::CategoryDefined(def.clone()), &clerk())
        .await?;
    ensure!(
        p.ledger
            .submit_one(Body::CategoryDefined(def.clone()), &clerk())
            .await?
            == Outcome::Existing(first.id())
    );
    let e = refused(
        &p.ledger,
        Body::CategoryDefined(CategoryDefined {
            name: "别的".into(),
            ..def.clone()
        }),
    )
    .await?;
    ensure!(matches!(e, LedgerError::CategoryExists(_)), "{e}");
    let e = refused(
        &p.ledger,
        Body::CategoryDefined(CategoryDefined {
            code: "C-01".into(),
            ..def
        }),
    )
    .await?;
    ensure!(matches!(e, LedgerError::CategoryExists(_)), "{e}");
    Ok(())
}

/// A county holding 100,000.00 yuan of its own money and project P1.
async fn county_with_project(engine: Engine, with_target: bool) -> Result<(TestLedger, EntryId)> {
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    let cat = CategoryDefined {
        code: "LT-01".into(),
        name: "县级配套".into(),
        origin: fundsync_protocol::FundOrigin::County,
        department: String::new(),
        classified: false,
    };
    l.submit_one(Body::CategoryDefined(cat), &clerk()).await?;
    let alloc = l
        .submit_one(
            Body::OwnBudgetAdded(OwnBudgetAdded {
                doc_no: "轮财〔2020〕1号".into(),
                category: "LT-01".into(),
                amount: amount("100000"),
                budgeted_on: day("2020-02-01"),
                title: String::new(),
            }),
            &clerk(),
        )
        .await?
        .id();
    l.submit_one(
        Body::ProjectRegistered(ProjectRegistered {
            code: "P1".into(),
            name: "村道硬化".into(),
            township: "轮台镇".into(),
            village: "一村".into(),
            department: "交通局".into(),
            starts_on: day("2020-03-01"),
            ends_on: day("2020-10-31"),
            budget: amount("80000"),
            status: ProjectStatus::InProgress,
        }),
        &clerk(),
    )
    .await?;
    if with_target {
        l.submit_one(target("P1"), &clerk()).await?;
    }
    Ok((t, alloc))
}

async fn payments_need_targets_and_balance(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, false).await?;
    let l = &t.ledger;
    let e = refused(l, payment("V1", alloc, "P1", "10", "2020-05-10")).await?;
    ensure!(
        matches!(e, LedgerError::NoTarget(_)),
        "a project without a target gets no money: {e}"
    );
    l.submit_one(target("P1"), &clerk()).await?;
    l.submit_one(
        payment("V1", alloc, "P1", "99999.99", "2020-05-10"),
        &clerk(),
    )
    .await?;
    let e = refused(l, payment("V2", alloc, "P1", "0.02", "2020-05-10")).await?;
    ensure!(matches!(e, LedgerError::OverBalance { .. }), "{e}");
    let e = refused(l, payment("V3", id("652800-1"), "P1", "1", "2020-05-10")).await?;
    ensure!(matches!(e, LedgerError::UnknownAllocation(_)), "{e}");
    let e = refused(l, payment("V4", alloc, "NOPE", "0.01", "2020-05-10")).await?;
    ensure!(matches!(e, LedgerError::UnknownProject(_)), "{e}");
    l.submit_one(payment("V5", alloc, "P1", "0.01", "2020-05-10"), &clerk())
        .await?;
    let a = l.allocation(alloc).await?.expect("allocation");
    ensure!(
        a.available == Decimal::ZERO && a.paid == Decimal::from(100_000),
        "{a:?}"
    );
    let proj = l.project(code("652822"), "P1").await?.expect("project");
    ensure!(proj.paid == Decimal::from(100_000) && proj.targets.map(|t| t.len()) == Some(1));
    // Cancelled projects get nothing more.
    l.submit_one(
        Body::ProjectStatusChanged(ProjectStatusChanged {
            project: "P1".into(),
            status: ProjectStatus::Cancelled,
        }),
        &clerk(),
    )
    .await?;
    let e = refused(l, payment("V6", alloc, "P1", "0.01", "2020-05-10")).await?;
    ensure!(
        matches!(
            e,
            LedgerError::ProjectCancelled(_) | LedgerError::OverBalance { .. }
        ),
        "{e}"
    );
    Ok(())
}

async fn vouchers_are_idempotent(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    let first = l
        .submit_one(payment("V1", alloc, "P1", "100", "2020-05-10"), &clerk())
        .await?;
    let again = l
        .submit_one(payment("V1", alloc, "P1", "100", "2020-05-10"), &clerk())
        .await?;
    ensure!(again == Outcome::Existing(first.id()), "{again:?}");
    let e = refused(l, payment("V1", alloc, "P1", "101", "2020-05-10")).await?;
    ensure!(matches!(e, LedgerError::DuplicateVoucher(_)), "{e}");
    // Twice in one submission: still one payment.
    let both = l
        .submit(
            &[
                payment("V2", alloc, "P1", "5", "2020-05-10"),
                payment("V2", alloc, "P1", "5", "2020-05-10"),
            ],
            &clerk(),
        )
        .await?;
    ensure!(
        matches!(both[..], [Outcome::Created(a), Outcome::Existing(b)] if a == b),
        "{both:?}"
    );
    let paid = l
        .payments(PaymentFilter::default(), Page::default())
        .await?;
    ensure!(paid.items.len() == 2, "{}", paid.items.len());
    ensure!(l.allocation(alloc).await?.expect("a").paid == Decimal::from(105));
    Ok(())
}

async fn reversals_are_new_entries(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    l.submit_one(payment("V1", alloc, "P1", "300", "2020-05-10"), &clerk())
        .await?;
    let rev = |no: &str| {
        Body::PaymentReversed(PaymentReversed {
            voucher_no: no.into(),
            reversed_on: day("2020-06-01"),
            reason: "收款人账号错误".into(),
        })
    };
    l.submit_one(rev("V1"), &clerk()).await?;
    let e = refused(l, rev("V1")).await?;
    ensure!(matches!(e, LedgerError::AlreadyReversed(_)), "{e}");
    let e = refused(l, rev("V9")).await?;
    ensure!(matches!(e, LedgerError::UnknownVoucher(_)), "{e}");
    ensure!(l.allocation(alloc).await?.expect("a").paid == Decimal::ZERO);
    // The original payment is still there, marked reversed.
    let p = l
        .payments(PaymentFilter::default(), Page::default())
        .await?;
    ensure!(p.items.len() == 1 && p.items[0].reversed_on.as_deref() == Some("2020-06-01"));
    // As of a day between payment and reversal, the money was paid.
    let mid = l.summary(day("2020-05-20"), &[GroupBy::Node], None).await?;
    ensure!(mid.total.paid == Decimal::from(300), "{:?}", mid.total);
    let after = l.summary(day("2020-06-02"), &[GroupBy::Node], None).await?;
    ensure!(after.total.paid == Decimal::ZERO, "{:?}", after.total);
    Ok(())
}

/// An import looks up only the vouchers not above the largest number it
/// knows of (SQLite); numbers above, below and equal to it, in one file
/// and across files, must all resolve as before.
async fn vouchers_in_any_order_are_recognized(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    let file = |rows: &[(&str, &str)]| {
        let mut s = String::from(HEADER);
        for (v, amt) in rows {
            s.push_str(&csv_row(v, alloc, amt));
        }
        std::io::Cursor::new(s.into_bytes())
    };
    let r = import::import_payments(l, file(&[("V5", "1")]), &clerk()).await?;
    ensure!(r.created == 1, "{r:?}");
    // Above the largest (V9), equal to it (V5), below it (V1), and the new
    // largest again (V9).
    let r = import::import_payments(
        l,
        file(&[("V9", "2"), ("V5", "1"), ("V1", "3"), ("V9", "2")]),
        &clerk(),
    )
    .await?;
    ensure!(r.created == 2 && r.existing == 2, "{r:?}");
    // Bytewise, V10 sorts below V9: new. V1 below it: held already.
    let r = import::import_payments(l, file(&[("V10", "4"), ("V1", "3")]), &clerk()).await?;
    ensure!(r.created == 1 && r.existing == 1, "{r:?}");
    let before = snapshot(l).await?;
    for (v, amt) in [("V9", "7"), ("V5", "7"), ("V10", "7"), ("V1", "7")] {
        let e = import::import_payments(l, file(&[("W1", "1"), (v, amt)]), &clerk()).await;
        let Err(ImportError::Rows(rows)) = e else {
            anyhow::bail!("{v} with other fields: expected a row error, got {e:?}");
        };
        ensure!(
            rows.len() == 1 && rows[0].line == 3 && rows[0].message.contains(v),
            "{rows:?}"
        );
    }
    ensure!(
        snapshot(l).await? == before,
        "a refused import changed the ledger"
    );
    ensure!(l.allocation(alloc).await?.expect("a").paid == Decimal::from(10));
    // Imports hash their rows ahead on the parser thread, guessing each
    // becomes the next entry; a held row (V5, V1 above) breaks the guess
    // for the rows after it. Every stored hash must still be the entry's.
    let me = code("652822");
    let head = l
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin == me)
        .expect("own head");
    let mut prev = Hash::ZERO;
    for e in l.entries(me, 0, head.seq).await? {
        ensure!(
            e.prev_hash == prev,
            "entry {} links to its predecessor",
            e.seq
        );
        prev = e.hash();
    }
    ensure!(prev == head.hash, "the head is the hash of the last entry");
    Ok(())
}

const HEADER: &str = "voucher_no,paid_on,payer,payee_name,payee_account,payee_bank,amount,function_class,allocation,project,purpose\n";

fn csv_row(v: &str, alloc: EntryId, amt: &str) -> String {
    format!("{v},2020-05-10,轮台县财政局,某合作社,62220001,农行,{amt},2130505,{alloc},P1,种植\n")
}

async fn csv_import_is_all_or_nothing(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    let mut good = String::from(HEADER);
    for i in 0..50 {
        good.push_str(&csv_row(&format!("V{i}"), alloc, "10.50"));
    }
    good.push_str(&csv_row("V0", alloc, "10.50")); // the same voucher again
    let r = import::import_payments(l, std::io::Cursor::new(good.clone().into_bytes()), &clerk())
        .await?;
    ensure!(r.rows == 51 && r.created == 50 && r.existing == 1, "{r:?}");
    // Importing the same file again records nothing new.
    let r = import::import_payments(l, std::io::Cursor::new(good.into_bytes()), &clerk()).await?;
    ensure!(r.created == 0 && r.existing == 51, "{r:?}");

    let before = snapshot(l).await?;
    let mut bad = String::from(HEADER);
    bad.push_str(&csv_row("W1", alloc, "1.00"));
    bad.push_str(&csv_row("W2", alloc, "-5")); // line 3
    bad.push_str(&csv_row("W3", alloc, "2017年3100元")); // line 4: the seed's slip
    bad.push_str(&csv_row("W4", alloc, "1.001")); // line 5
    bad.push_str("W5,2020-13-01,a,b,c,d,1,x,652822-2,P1,z\n"); // line 6
    bad.push_str("W6,2020-05-01,only,three\n"); // line 7
    bad.push_str(&csv_row("V1", alloc, "99")); // line 8: same number, other fields
    bad.push_str(&csv_row("W7", alloc, "1000000")); // line 9: over balance
    let e = import::import_payments(l, std::io::Cursor::new(bad.into_bytes()), &clerk()).await;
    let Err(ImportError::Rows(rows)) = e else {
        anyhow::bail!("expected row errors, got {e:?}");
    };
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    ensure!(lines == vec![3, 4, 5, 6, 7, 8, 9], "{rows:?}");
    ensure!(
        snapshot(l).await? == before,
        "a failed import changed the ledger"
    );

    // Rule errors are reported by line too, and roll back the good rows.
    let mut rule = String::from(HEADER);
    rule.push_str(&csv_row("X1", alloc, "1.00"));
    rule.push_str(&csv_row("V1", alloc, "99")); // line 3
    rule.push_str(&csv_row("X2", alloc, "1000000")); // line 4
    let e = import::import_payments(l, std::io::Cursor::new(rule.into_bytes()), &clerk()).await;
    let Err(ImportError::Rows(rows)) = e else {
        anyhow::bail!("expected row errors, got {e:?}");
    };
    ensure!(
        rows.iter().map(|r| r.line).collect::<Vec<_>>() == vec![3, 4],
        "{rows:?}"
    );
    ensure!(
        rows[0].message.contains("V1") && rows[1].message.contains("超过指标"),
        "{rows:?}"
    );
    ensure!(snapshot(l).await? == before);

    // Chinese headers, a BOM, and a file in GBK (what treasury systems on
    // Chinese Windows save) read as the same text.
    let zh = format!(
        "\u{feff}凭证号,支付日期,付款人,收款人名称,收款人账号,收款人开户行,金额,功能分类,指标,项目,用途\n{}",
        csv_row("Z1", alloc, "3.00")
    );
    let r = import::import_payments(l, std::io::Cursor::new(zh.into_bytes()), &clerk()).await?;
    ensure!(r.created == 1, "{r:?}");
    let mut gbk = HEADER.as_bytes().to_vec();
    gbk.extend_from_slice(
        format!("G1,2020-05-10,PAYER,b,c,d,1,x,{alloc},P1,z\n")
            .replace("PAYER", "\u{fffd}")
            .as_bytes(),
    );
    // 中文 in GBK where the payer goes.
    let at = gbk
        .windows(3)
        .position(|w| w == "\u{fffd}".as_bytes())
        .ok_or_else(|| anyhow::anyhow!("marker"))?;
    gbk.splice(at..at + 3, *b"\xd6\xd0\xce\xc4");
    let r = import::import_payments(l, std::io::Cursor::new(gbk), &clerk()).await?;
    ensure!(r.created == 1, "{r:?}");
    let p = l
        .payments(
            fundsync_node::ledger::query::PaymentFilter {
                voucher_no: Some("G1".into()),
                ..Default::default()
            },
            Default::default(),
        )
        .await?;
    ensure!(
        p.items.len() == 1 && p.items[0].payer == "中文",
        "{:?}",
        p.items
    );
    let e = import::import_payments(
        l,
        std::io::Cursor::new(HEADER.as_bytes().to_vec()),
        &clerk(),
    )
    .await;
    ensure!(matches!(e, Err(ImportError::Empty)), "{e:?}");
    Ok(())
}

async fn journal_is_a_hash_chain(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    l.submit_one(payment("V1", alloc, "P1", "1", "2020-05-10"), &clerk())
        .await?;
    let j = l.journal(code("652822"), 0, 1000).await?;
    ensure!(j.len() == 5, "{}", j.len());
    let mut prev = Hash::ZERO.to_hex();
    for (i, e) in j.iter().enumerate() {
        ensure!(e.seq == i64::try_from(i)? + 1, "dense sequence");
        ensure!(
            e.prev_hash == prev,
            "entry {} links to its predecessor",
            e.seq
        );
        prev = e.hash.clone();
    }
    ensure!(j[4].kind == "payment_recorded" && j[4].body["voucher_no"] == "V1");
    Ok(())
}

/// The lists' optional filters and pages, whose statements are built per
/// request (numbered placeholders on both engines).
async fn lists_filter_and_page(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    for v in ["V1", "V2", "V3"] {
        l.submit_one(payment(v, alloc, "P1", "10", "2020-05-10"), &clerk())
            .await?;
    }
    let me = l.identity().code;
    let page = |page, page_size| Page { page, page_size };
    let one = l
        .payments(
            PaymentFilter {
                origin: Some(me),
                allocation: Some(alloc),
                project: Some("P1".into()),
                voucher_no: Some("V2".into()),
                as_of: Some(day("2020-05-10")),
                categories: None,
            },
            Page::default(),
        )
        .await?;
    ensure!(one.items.len() == 1 && one.items[0].voucher_no == "V2");
    let before = PaymentFilter {
        as_of: Some(day("2020-05-09")),
        ..PaymentFilter::default()
    };
    ensure!(l.payments(before, Page::default()).await?.items.is_empty());
    let first = l.payments(PaymentFilter::default(), page(1, 2)).await?;
    ensure!(first.items.len() == 2 && first.has_more, "{first:?}");
    let second = l.payments(PaymentFilter::default(), page(2, 2)).await?;
    ensure!(
        second.items.len() == 1 && !second.has_more && second.items[0].voucher_no == "V3",
        "{second:?}"
    );
    // A reader's scope narrows the lists to their categories.
    let only = |cats: &[&str]| Some(cats.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
    let scoped = |cats: &[&str]| PaymentFilter {
        categories: only(cats),
        ..PaymentFilter::default()
    };
    ensure!(
        l.payments(scoped(&["LT-01"]), page(1, 10))
            .await?
            .items
            .len()
            == 3
    );
    for none in [&["C-01"][..], &[]] {
        ensure!(l
            .payments(scoped(none), Page::default())
            .await?
            .items
            .is_empty());
        let a = AllocationFilter {
            categories: only(none),
            ..AllocationFilter::default()
        };
        ensure!(l.allocations(a, Page::default()).await?.items.is_empty());
    }
    let held = l
        .allocations(
            AllocationFilter {
                holder: Some(me),
                kind: Some("own_budget".into()),
                category: Some("LT-01".into()),
                as_of: Some(day("2020-02-01")),
                ..AllocationFilter::default()
            },
            Page::default(),
        )
        .await?;
    ensure!(held.items.len() == 1 && held.items[0].paid == Decimal::from(30));
    let early = AllocationFilter {
        as_of: Some(day("2020-01-31")),
        ..AllocationFilter::default()
    };
    ensure!(l
        .allocations(early, Page::default())
        .await?
        .items
        .is_empty());
    let projects = l.projects(Some(me), page(1, 1)).await?;
    ensure!(projects.items.len() == 1 && !projects.has_more);
    let p = l.project(me, "P1").await?.expect("project");
    ensure!(p.targets.as_ref().is_some_and(|t| t.len() == 1), "{p:?}");
    Ok(())
}

/// Voucher numbers are the treasury's text: any printable characters. They
/// are stored exactly as submitted, across several flushes, and found again:
/// both engines skip the look-up of a voucher above the largest stored one
/// (`Dialect::text_orders_bytewise`), so the database must order them as
/// Rust does (PostgreSQL: `COLLATE "C"`, migration 0020), quotes,
/// backslashes, spaces and CJK included.
async fn awkward_text_is_stored_verbatim(engine: Engine) -> Result<()> {
    let (t, alloc) = county_with_project(engine, true).await?;
    let l = &t.ledger;
    let awkward = [
        r#"a"b"#,
        r"c\d",
        r#"\""#,
        "{x,y}",
        "NULL",
        " 空 格 ",
        "'; DROP TABLE payments; --",
        "轮财〔2020〕1号",
    ];
    // More than one flush (4,096 rows) of plain ones around them.
    let mut vouchers: Vec<String> = (0..5000).map(|i| format!("V{i:05}")).collect();
    for (i, a) in awkward.iter().enumerate() {
        vouchers.insert(i * 600, (*a).to_owned());
    }
    let bodies: Vec<Body> = vouchers
        .iter()
        .map(|v| payment(v, alloc, "P1", "0.01", "2020-05-10"))
        .collect();
    l.submit(&bodies, &clerk()).await?;
    let mut stored = Vec::new();
    for page in 1.. {
        let paid = l
            .payments(
                PaymentFilter::default(),
                Page {
                    page,
                    page_size: 1000,
                },
            )
            .await?;
        stored.extend(paid.items.into_iter().map(|p| p.voucher_no));
        if !paid.has_more {
            break;
        }
    }
    ensure!(stored == vouchers, "payments hold other voucher numbers");
    let mut bodies = Vec::new();
    let mut after = 4;
    loop {
        let j = l.journal(code("652822"), after, 1000).await?;
        let Some(last) = j.last() else { break };
        after = u64::try_from(last.seq)?;
        bodies.extend(j.into_iter().map(|e| e.body["voucher_no"].clone()));
    }
    ensure!(bodies.len() == vouchers.len(), "{}", bodies.len());
    for (b, v) in bodies.iter().zip(&vouchers) {
        ensure!(b == v.as_str(), "journal body of {v:?}: {b}");
    }
    // Looked up by the stored text: the same voucher again is the same payment.
    for a in awkward {
        let again = l
            .submit_one(payment(a, alloc, "P1", "0.01", "2020-05-10"), &clerk())
            .await?;
        ensure!(matches!(again, Outcome::Existing(_)), "{a:?}: {again:?}");
    }
    let r = l.verify().await?;
    ensure!(r.ok(), "{r:?}");
    Ok(())
}

/// The voucher number collation of a PostgreSQL ledger (`None`: the
/// database's default).
async fn voucher_collation(url: &str) -> Result<Option<String>> {
    let pool = sqlx::PgPool::connect(url).await?;
    let c = sqlx::query_scalar(
        "SELECT collation_name::text FROM information_schema.columns \
         WHERE table_name = 'payments' AND column_name = 'voucher_no'",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok(c)
}

/// Migration 0020 on a PostgreSQL ledger that already holds payments, as one
/// written before it does: the column changes in place, and every stored
/// voucher is still found (now skipping look-ups above the largest one).
#[tokio::test]
async fn postgres_voucher_collation_upgrades_in_place() -> Result<()> {
    use fundsync_node::store::{Db, PoolLimits};
    let (t, alloc) = county_with_project(Engine::Postgres, true).await?;
    let vouchers = ["V2", r#"a"b"#, "B1", "空 格", "Z9"];
    for v in vouchers {
        t.ledger
            .submit_one(payment(v, alloc, "P1", "1", "2020-05-10"), &clerk())
            .await?;
    }
    t.ledger.db().close().await;
    // Back to the schema before 0020, rows and all.
    let pool = sqlx::PgPool::connect(&t.url).await?;
    sqlx::query(r#"ALTER TABLE payments ALTER COLUMN voucher_no TYPE TEXT COLLATE "default""#)
        .execute(&pool)
        .await?;
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 20")
        .execute(&pool)
        .await?;
    pool.close().await;
    ensure!(voucher_collation(&t.url).await?.is_none());

    let db = Db::open(&t.url, &PoolLimits::default()).await?;
    let l = Ledger::open(db, Some(code("652822")), t.clock.clone())
        .await?
        .with_rules(fixtures::legacy_rules());
    let c = voucher_collation(&t.url).await?;
    ensure!(c.as_deref() == Some("C"), "{c:?}");
    for v in vouchers {
        let again = l
            .submit_one(payment(v, alloc, "P1", "1", "2020-05-10"), &clerk())
            .await?;
        ensure!(matches!(again, Outcome::Existing(_)), "{v:?}: {again:?}");
    }
    let e = refused(&l, payment("B1", alloc, "P1", "2", "2020-05-10")).await?;
    ensure!(matches!(e, LedgerError::DuplicateVoucher(_)), "{e}");
    let created = l
        .submit_one(payment("Z91", alloc, "P1", "1", "2020-05-10"), &clerk())
        .await?;
    ensure!(matches!(created, Outcome::Created(_)), "{created:?}");
    let r = l.verify().await?;
    ensure!(r.ok(), "{r:?}");
    Ok(())
}
