//! 结转结余 and 收回 end to end, on both engines: a prefecture and its
//! counties as separate ledgers, joined by the same signed batches sync
//! carries (offline bundles, `sync::bundle`), so what a county records is
//! checked where it is recorded and applied where it arrives.
//!
//! - Carry-over reasons: every refusal (no balance, more than the balance,
//!   planned before the day, another node's allocation, unknown project)
//!   with its code and the ledger unchanged; a retry, a correction; the
//!   report at the county and, rolled up, at the prefecture.
//! - Recalls: every refusal (more than the unspent balance, dated before
//!   the allocation, an allocation no parent issued, another node's, a
//!   document number reused), the balance moving from the county to the
//!   prefecture by exactly the amount as of the recall's date, the
//!   prefecture issuing it again, and a forged recall refused on arrival.
//! - A property test: random own budgets, allocations, payments and recalls
//!   at a prefecture and two counties conserve money at every level, at
//!   every step and as of a date before the recalls.
//! - The API and the page (a running node): the report, the forms, who may
//!   record, the export.
//! - The 2020 demo: the region's report holds seed 002 四's carry-over.

use anyhow::{bail, ensure, Context as _, Result};
use fundsync_node::ledger::query::{
    AllocationFilter, CarryOverFilter, CarryOverReport, GroupBy, Page, Summary, SummaryRow,
};
use fundsync_node::ledger::{Ledger, LedgerError, Outcome};
use fundsync_node::sync::{bundle, SyncLimits};
use fundsync_protocol::body::*;
use fundsync_protocol::{checkpoint_for, Batch, Body, Entry, EntryId, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::fixtures::{self, code, county, prefecture, Engine, TestLedger, TestNode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

fundsync_tests::on_both!(
    carry_over_reasons_are_checked_and_reported_up_the_tree,
    recalls_move_unspent_funds_back_to_the_issuer,
    the_api_the_page_and_the_export_of_a_county,
    the_self_evaluation_report_of_a_prefecture,
);

const PREF: &str = "652800";
const COUNTIES: [(&str, &str); 2] = [("652822", "轮台县"), ("652823", "尉犁县")];

/// A prefecture and its counties, each a ledger with its signing key.
struct Tree {
    p: TestLedger,
    pk: NodeKey,
    c: Vec<(TestLedger, NodeKey)>,
}

impl Tree {
    async fn new(engine: Engine, counties: usize) -> Result<Tree> {
        let p = fixtures::ledger(engine, &prefecture()).await?;
        let pk = NodeKey::from_seed(&[28; 32]);
        let mut c = Vec::new();
        for (i, (cc, name)) in COUNTIES.iter().take(counties).enumerate() {
            let k = NodeKey::from_seed(&[40 + u8::try_from(i)?; 32]);
            p.ledger
                .submit(
                    &[
                        child(cc, name),
                        Body::KeyRegistered(KeyRegistered::of(code(cc), &k.verifying_key())),
                    ],
                    &clerk(),
                )
                .await?;
            let l = fixtures::ledger(engine, &county(cc, name)).await?;
            l.ledger.trust_parent_keys(&[pk.verifying_key()]).await?;
            l.ledger
                .submit(&[project("P1", "800000"), target("P1")], &clerk())
                .await?;
            c.push((l, k));
        }
        Ok(Tree { p, pk, c })
    }

    fn county(&self, i: usize) -> &Ledger {
        &self.c[i].0.ledger
    }

    /// The prefecture's down stream to county `i`, applied there.
    async fn down(&self, i: usize) -> Result<()> {
        let limits = SyncLimits::default();
        let (l, k) = &self.c[i];
        let mut bytes = Vec::new();
        bundle::export_down(
            &self.p.ledger,
            &self.pk,
            l.ledger.identity().code,
            &limits,
            None,
            &mut bytes,
        )
        .await?;
        bundle::import(&l.ledger, k.key_id(), &limits, &mut bytes.as_slice()).await?;
        Ok(())
    }

    /// County `i`'s chain, applied at the prefecture.
    async fn up(&self, i: usize) -> Result<()> {
        let limits = SyncLimits::default();
        let (l, k) = &self.c[i];
        let mut bytes = Vec::new();
        bundle::export_up(&l.ledger, k, &limits, None, &mut bytes).await?;
        bundle::import(
            &self.p.ledger,
            self.pk.key_id(),
            &limits,
            &mut bytes.as_slice(),
        )
        .await?;
        Ok(())
    }
}

/// Journal heads and the master ledger by node: equal snapshots, equal state.
async fn snapshot(l: &Ledger) -> Result<String> {
    let heads = l.heads().await?;
    let s = by_node(l, "2099-12-31").await?;
    let c = l
        .carry_over(day("2099-12-31"), &CarryOverFilter::default())
        .await?;
    Ok(format!(
        "{}|{}|{}",
        serde_json::to_string(&heads)?,
        serde_json::to_string(&s)?,
        serde_json::to_string(&c)?
    ))
}

async fn by_node(l: &Ledger, on: &str) -> Result<Summary> {
    Ok(l.summary(day(on), &[GroupBy::Node], None).await?)
}

fn row(s: &Summary, node: &str) -> SummaryRow {
    s.rows
        .iter()
        .find(|r| r.group.get("node").map(String::as_str) == Some(node))
        .cloned()
        .unwrap_or_default()
}

fn yuan(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

/// Submits `body` to `l`, expects the refusal `code`, and that nothing
/// changed.
async fn refused(l: &Ledger, body: Body, code: &str) -> Result<LedgerError> {
    let before = snapshot(l).await?;
    let e = match l.submit_one(body.clone(), &clerk()).await {
        Ok(o) => bail!("{body:?} was recorded ({o:?}); expected {code}"),
        Err(e) => e,
    };
    ensure!(e.code() == code, "{body:?}: expected {code}, got {e}");
    ensure!(
        snapshot(l).await? == before,
        "refused ({e}) but the ledger changed"
    );
    Ok(e)
}

fn reason(
    allocation: EntryId,
    as_of: &str,
    why: CarryOverReason,
    amt: &str,
    planned: &str,
    project: &str,
) -> Body {
    Body::CarryOverExplained(CarryOverExplained {
        allocation,
        as_of: day(as_of),
        reason: why,
        amount: amount(amt),
        planned_on: day(planned),
        project: project.into(),
        note: String::new(),
    })
}

fn recall(allocation: EntryId, doc: &str, amt: &str, on: &str) -> Body {
    Body::FundsRecalled(FundsRecalled {
        allocation,
        doc_no: doc.into(),
        amount: amount(amt),
        recalled_on: day(on),
        purpose: RecallPurpose::Recall,
        reason: "项目调整，结余收回".into(),
    })
}

/// The prefecture's own budget of 100000 and 60000 of it issued to the
/// first county, which has paid 20000 of it by 2020-05-10 and 5000 more on
/// 2020-10-01. Returns (own budget, the county's allocation).
async fn funded(t: &Tree) -> Result<(EntryId, EntryId)> {
    let p = &t.p.ledger;
    let own = p
        .submit_one(
            own_budget("巴财预〔2020〕1号", "X-05", "100000", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    let alloc = p
        .submit_one(
            issue(
                "巴财农〔2020〕1号",
                own,
                "X-05",
                COUNTIES[0].0,
                "60000",
                "2020-02-04",
            ),
            &clerk(),
        )
        .await?
        .id();
    t.down(0).await?;
    t.county(0)
        .submit(
            &[
                payment("V1", alloc, "P1", "20000", "2020-05-10"),
                payment("V2", alloc, "P1", "5000", "2020-10-01"),
            ],
            &clerk(),
        )
        .await?;
    Ok((own, alloc))
}

fn only<'a>(
    r: &'a CarryOverReport,
    node: &str,
) -> Result<&'a fundsync_node::ledger::query::CarryOverLine> {
    r.by_node
        .iter()
        .find(|l| l.node == node)
        .with_context(|| format!("{node} in {:?}", r.by_node))
}

async fn carry_over_reasons_are_checked_and_reported_up_the_tree(engine: Engine) -> Result<()> {
    use CarryOverReason::*;
    let t = Tree::new(engine, 1).await?;
    let (own, alloc) = funded(&t).await?;
    let c = t.county(0);

    // 60000 − 20000 left on 2020-09-25: 15000 is quality-guarantee money
    // of P1, to be paid on 2020-09-30.
    let qg = reason(
        alloc,
        "2020-09-25",
        QualityGuarantee,
        "15000",
        "2020-09-30",
        "P1",
    );
    let first = c.submit_one(qg.clone(), &clerk()).await?;
    ensure!(matches!(first, Outcome::Created(_)), "{first:?}");
    // The same again is a retry.
    let again = c.submit_one(qg, &clerk()).await?;
    ensure!(again == Outcome::Existing(first.id()), "{again:?}");

    // More than what is left to explain (25000).
    let e = refused(
        c,
        reason(
            alloc,
            "2020-09-25",
            FinalPayment,
            "25000.01",
            "2020-10-15",
            "",
        ),
        "over_balance",
    )
    .await?;
    ensure!(e.to_string().contains("40000"), "{e}");
    c.submit_one(
        reason(alloc, "2020-09-25", FinalPayment, "25000", "2020-10-15", ""),
        &clerk(),
    )
    .await?;
    // Nothing left: a reason for a balance that is all explained.
    refused(
        c,
        reason(alloc, "2020-09-25", WrongAccount, "1", "2020-10-15", ""),
        "no_balance",
    )
    .await?;
    // No balance before the allocation was issued.
    refused(
        c,
        reason(alloc, "2020-02-01", FinalPayment, "1", "2020-10-15", ""),
        "no_balance",
    )
    .await?;
    // Planned before the day the balance is taken.
    refused(
        c,
        reason(alloc, "2020-09-25", WrongAccount, "1", "2020-09-24", ""),
        "planned_before_as_of",
    )
    .await?;
    // A project the county's library does not hold.
    refused(
        c,
        reason(
            alloc,
            "2020-09-25",
            QualityGuarantee,
            "1",
            "2020-09-30",
            "P9",
        ),
        "unknown_project",
    )
    .await?;
    // "Other" says what it is.
    let bare_other = reason(alloc, "2020-06-30", Other, "1", "2020-09-30", "");
    let e = c
        .submit_one(bare_other, &clerk())
        .await
        .err()
        .context("other without a note")?;
    ensure!(e.code() == "invalid_input", "{e}");
    // Another node's allocation: the prefecture's own budget is unknown at
    // the county, and the county's allocation is not the prefecture's.
    refused(
        c,
        reason(own, "2020-09-25", FinalPayment, "1", "2020-09-30", ""),
        "unknown_allocation",
    )
    .await?;
    refused(
        &t.p.ledger,
        reason(alloc, "2020-09-25", FinalPayment, "1", "2020-09-30", ""),
        "not_holder",
    )
    .await?;

    // A correction: the guarantee is 10000, not 15000.
    c.submit_one(
        reason(
            alloc,
            "2020-09-25",
            QualityGuarantee,
            "10000",
            "2020-09-30",
            "P1",
        ),
        &clerk(),
    )
    .await?;
    let r = c
        .carry_over(day("2020-09-25"), &CarryOverFilter::default())
        .await?;
    let want = (yuan("40000"), yuan("35000"), yuan("5000"));
    let got = (r.total.balance, r.total.explained, r.total.unexplained);
    ensure!(got == want, "{got:?} != {want:?}: {r:?}");
    ensure!(
        r.allocations.len() == 1 && r.allocations[0].reasons.len() == 2,
        "{r:?}"
    );
    ensure!(
        r.by_reason.get("quality_guarantee") == Some(&yuan("10000"))
            && r.by_reason.get("final_payment") == Some(&yuan("25000")),
        "{:?}",
        r.by_reason
    );
    let p1 = r
        .by_project
        .iter()
        .find(|x| x.project == "P1")
        .context("P1")?;
    ensure!(
        p1.amount == yuan("10000")
            && p1.planned_on == "2020-09-30"
            && p1.project_name == "村道硬化",
        "{p1:?}"
    );
    ensure!(
        r.by_source.len() == 1 && r.by_source[0].fund_origin.as_deref() == Some("prefecture"),
        "{:?}",
        r.by_source
    );
    // On 2020-10-05 (5000 paid since) the reasons of 09-25 still show,
    // dated, and explain at most what is left.
    let later = c
        .carry_over(day("2020-10-05"), &CarryOverFilter::default())
        .await?;
    ensure!(
        later.total.balance == yuan("35000")
            && later.total.explained == yuan("35000")
            && later.allocations[0].explained_as_of.as_deref() == Some("2020-09-25"),
        "{later:?}"
    );
    // Before any reason was given, the balance is all unexplained.
    let before = c
        .carry_over(day("2020-06-30"), &CarryOverFilter::default())
        .await?;
    ensure!(
        before.total.balance == yuan("40000") && before.total.unexplained == yuan("40000"),
        "{before:?}"
    );
    // The report's balance is the master ledger's.
    let s = by_node(c, "2020-09-25").await?;
    ensure!(row(&s, COUNTIES[0].0).balance == r.total.balance, "{s:?}");

    // Rolled up: the prefecture sees the county's reasons beside its own
    // 40000 not issued.
    t.up(0).await?;
    let at_p =
        t.p.ledger
            .carry_over(day("2020-09-25"), &CarryOverFilter::default())
            .await?;
    ensure!(
        only(&at_p, PREF)?.figures.balance == yuan("40000")
            && only(&at_p, COUNTIES[0].0)?.figures.explained == yuan("35000")
            && at_p.total.balance == yuan("80000"),
        "{at_p:?}"
    );
    let county_only =
        t.p.ledger
            .carry_over(
                day("2020-09-25"),
                &CarryOverFilter {
                    under: Some(code(COUNTIES[0].0)),
                    categories: None,
                },
            )
            .await?;
    ensure!(
        county_only.by_node.len() == 1 && county_only.total == r.total,
        "{county_only:?}"
    );
    // A reader limited to other categories sees none of it.
    let narrow =
        t.p.ledger
            .carry_over(
                day("2020-09-25"),
                &CarryOverFilter {
                    under: None,
                    categories: Some(vec!["X-01".into()]),
                },
            )
            .await?;
    ensure!(
        narrow.total.balance == Decimal::ZERO && narrow.allocations.is_empty(),
        "{narrow:?}"
    );
    Ok(())
}

async fn recalls_move_unspent_funds_back_to_the_issuer(engine: Engine) -> Result<()> {
    let t = Tree::new(engine, 1).await?;
    let (own, alloc) = funded(&t).await?;
    let (p, c) = (&t.p.ledger, t.county(0));
    let cc = COUNTIES[0].0;

    // 60000 − 25000 paid: 35000 unspent.
    let e = refused(
        c,
        recall(alloc, "巴财农〔2020〕88号", "35000.01", "2020-06-01"),
        "over_balance",
    )
    .await?;
    ensure!(e.to_string().contains("35000"), "{e}");
    refused(
        c,
        recall(alloc, "巴财农〔2020〕88号", "1", "2020-02-03"),
        "recall_before_allocation",
    )
    .await?;
    // Nobody issued the prefecture's own budget; the county's allocation
    // is not the prefecture's to return; the county does not hold the
    // prefecture's budget.
    refused(
        p,
        recall(own, "巴财农〔2020〕88号", "1", "2020-06-01"),
        "not_recallable",
    )
    .await?;
    refused(
        p,
        recall(alloc, "巴财农〔2020〕88号", "1", "2020-06-01"),
        "not_holder",
    )
    .await?;
    refused(
        c,
        recall(own, "巴财农〔2020〕88号", "1", "2020-06-01"),
        "unknown_allocation",
    )
    .await?;

    let back = recall(alloc, "巴财农〔2020〕88号", "15000", "2020-06-01");
    let first = c.submit_one(back.clone(), &clerk()).await?;
    ensure!(matches!(first, Outcome::Created(_)), "{first:?}");
    ensure!(
        c.submit_one(back, &clerk()).await? == Outcome::Existing(first.id()),
        "a retry recorded again"
    );
    refused(
        c,
        recall(alloc, "巴财农〔2020〕88号", "1", "2020-06-01"),
        "conflict",
    )
    .await?;
    let a = c.allocation(alloc).await?.context("allocation")?;
    ensure!(
        a.available == yuan("20000") && a.recalled == yuan("15000"),
        "{a:?}"
    );
    // Now 20000 is all a further recall may take.
    refused(
        c,
        recall(alloc, "巴财农〔2020〕89号", "20000.01", "2020-06-02"),
        "over_balance",
    )
    .await?;

    // At the prefecture, once it arrives: the source has 15000 more, as of
    // the recall's date, and the county 15000 less.
    t.up(0).await?;
    let src = p.allocation(own).await?.context("own budget")?;
    ensure!(
        src.available == yuan("55000") && src.issued == yuan("45000"),
        "{src:?}"
    );
    let a = p
        .allocation(alloc)
        .await?
        .context("county's at the prefecture")?;
    ensure!(a.available == yuan("20000"), "{a:?}");
    for (on, issued, county_received) in [
        ("2020-05-31", "60000", "60000"),
        ("2020-06-01", "45000", "45000"),
    ] {
        let s = by_node(p, on).await?;
        let (pr, cr) = (row(&s, PREF), row(&s, cc));
        ensure!(
            pr.issued_down == yuan(issued) && cr.received == yuan(county_received),
            "{on}: {s:?}"
        );
        // Conserved: what came in is paid or still held, somewhere.
        ensure!(
            s.total.balance + s.total.paid == yuan("100000"),
            "{on}: {s:?}"
        );
        ensure!(
            pr.received + pr.own_budget == pr.issued_down + pr.paid + pr.balance
                && cr.received + cr.own_budget == cr.issued_down + cr.paid + cr.balance,
            "{on}: {s:?}"
        );
    }
    // The county sees itself as the prefecture does.
    let (mine, theirs) = (
        row(&by_node(c, "2099-12-31").await?, cc),
        row(&by_node(p, "2099-12-31").await?, cc),
    );
    ensure!(
        serde_json::to_string(&mine)? == serde_json::to_string(&theirs)?,
        "{mine:?} != {theirs:?}"
    );
    // The prefecture arranges the returned funds anew: all 55000.
    refused(
        p,
        issue(
            "巴财农〔2020〕90号",
            own,
            "X-05",
            cc,
            "55000.01",
            "2020-06-05",
        ),
        "over_allocation",
    )
    .await?;
    p.submit_one(
        issue("巴财农〔2020〕90号", own, "X-05", cc, "55000", "2020-06-05"),
        &clerk(),
    )
    .await?;

    // A county that returned the prefecture's own budget could only have
    // forged the entry: refused on arrival, nothing of the batch applied.
    let head = c
        .heads()
        .await?
        .into_iter()
        .find(|h| h.origin.as_str() == cc)
        .context("county head")?;
    let forged = Entry::new(
        code(cc),
        head.seq + 1,
        fixtures::NOW_MS,
        head.hash,
        &recall(own, "伪造〔2020〕1号", "1", "2020-06-01"),
        &clerk(),
    );
    let cp = checkpoint_for(&t.c[0].1, std::slice::from_ref(&forged), fixtures::NOW_MS)
        .context("checkpoint")?;
    let batch = Batch::new(code(cc), code(PREF), vec![forged], vec![cp]);
    let before = snapshot(p).await?;
    let e = p
        .receive_up(code(cc), &batch)
        .await
        .err()
        .context("a forged recall was taken")?;
    ensure!(e.code() == "misdirected", "{e}");
    ensure!(
        snapshot(p).await? == before,
        "a refused batch changed the ledger"
    );
    Ok(())
}

// ---------------------------------------------------------------- property

const OPS_MAX: usize = 24;

/// One thing the prefecture or a county does. Indices pick among what
/// exists when the operation runs.
#[derive(Debug, Clone)]
enum Op {
    OwnBudget {
        fen: i64,
    },
    Issue {
        source: usize,
        to: usize,
        fen: i64,
    },
    Pay {
        county: usize,
        alloc: usize,
        fen: i64,
    },
    Recall {
        county: usize,
        alloc: usize,
        fen: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let fen = 1i64..3_000_000;
    prop_oneof![
        2 => (1i64..5_000_000).prop_map(|fen| Op::OwnBudget { fen }),
        4 => (any::<usize>(), 0usize..2, fen.clone())
            .prop_map(|(source, to, fen)| Op::Issue { source, to, fen }),
        3 => (0usize..2, any::<usize>(), fen.clone())
            .prop_map(|(county, alloc, fen)| Op::Pay { county, alloc, fen }),
        3 => (0usize..2, any::<usize>(), fen)
            .prop_map(|(county, alloc, fen)| Op::Recall { county, alloc, fen }),
    ]
}

fn yuan_of(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn dec(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

/// What each node holds, as the rules say it should be.
#[derive(Debug, Default)]
struct Model {
    /// The prefecture's own budgets: id, available.
    own: Vec<(EntryId, i64)>,
    /// Each county's allocations: id, available, the index of its source.
    held: [Vec<(EntryId, i64, usize)>; 2],
    budget: i64,
    /// Per county: issued to it, paid by it, returned by it.
    issued: [i64; 2],
    paid: [i64; 2],
    recalled: [i64; 2],
}

/// Money conserved at every level, each figure the model's.
fn check_levels(at_p: &Summary, before_recalls: &Summary, m: &Model) -> Result<()> {
    let pr = row(at_p, PREF);
    let want_p = (
        Decimal::ZERO,
        dec(m.budget),
        dec(m.issued[0] + m.issued[1] - m.recalled[0] - m.recalled[1]),
        Decimal::ZERO,
        dec(m.own.iter().map(|o| o.1).sum()),
    );
    let got_p = (
        pr.received,
        pr.own_budget,
        pr.issued_down,
        pr.paid,
        pr.balance,
    );
    ensure!(got_p == want_p, "prefecture {got_p:?}, model {want_p:?}");
    let mut held = pr.balance;
    for (i, (c, _)) in COUNTIES.iter().enumerate() {
        let r = row(at_p, c);
        let want = (
            dec(m.issued[i] - m.recalled[i]),
            dec(m.paid[i]),
            dec(m.held[i].iter().map(|a| a.1).sum()),
        );
        let got = (r.received, r.paid, r.balance);
        ensure!(got == want, "{c} at the prefecture {got:?}, model {want:?}");
        ensure!(
            r.received + r.own_budget == r.issued_down + r.paid + r.balance,
            "{c} not conserved: {r:?}"
        );
        held += r.balance + r.paid;
        // Before any recall (dated 2020-06-01) the county had received all
        // that was issued to it.
        let early = row(before_recalls, c);
        ensure!(
            early.received == dec(m.issued[i]),
            "{c} on 2020-05-31 received {}, issued {}",
            early.received,
            dec(m.issued[i])
        );
    }
    ensure!(
        held == dec(m.budget) && at_p.total.balance + at_p.total.paid == dec(m.budget),
        "the tree holds or paid {held}, {} came in",
        dec(m.budget)
    );
    Ok(())
}

/// Every allocation's available balance, at one ledger, is not negative.
async fn none_negative(l: &Ledger) -> Result<()> {
    let got = l
        .allocations(
            AllocationFilter::default(),
            Page {
                page: 1,
                page_size: 1000,
            },
        )
        .await?;
    for a in &got.items {
        ensure!(a.available >= Decimal::ZERO, "negative: {a:?}");
    }
    Ok(())
}

async fn case(engine: Engine, ops: &[Op]) -> Result<()> {
    let t = Tree::new(engine, 2).await?;
    let p = &t.p.ledger;
    let mut m = Model::default();
    for (i, op) in ops.iter().enumerate() {
        // Where it is recorded, the body, whether the model takes it.
        let (at, body, ok): (Option<usize>, Body, bool) = match op {
            Op::OwnBudget { fen } => (
                None,
                own_budget(
                    &format!("巴财预〔2020〕{i}号"),
                    "X-05",
                    &yuan_of(*fen),
                    "2020-01-30",
                ),
                true,
            ),
            Op::Issue { source, to, fen } => {
                if m.own.is_empty() {
                    continue;
                }
                let (src, available) = m.own[source % m.own.len()];
                (
                    None,
                    issue(
                        &format!("巴财农〔2020〕{i}号"),
                        src,
                        "X-05",
                        COUNTIES[*to].0,
                        &yuan_of(*fen),
                        "2020-02-04",
                    ),
                    *fen <= available,
                )
            }
            Op::Pay { county, alloc, fen } => {
                let held = &m.held[*county];
                if held.is_empty() {
                    continue;
                }
                let (a, available, _) = held[alloc % held.len()];
                (
                    Some(*county),
                    payment(&format!("V{i}"), a, "P1", &yuan_of(*fen), "2020-05-10"),
                    *fen <= available,
                )
            }
            Op::Recall { county, alloc, fen } => {
                let held = &m.held[*county];
                if held.is_empty() {
                    continue;
                }
                let (a, available, _) = held[alloc % held.len()];
                (
                    Some(*county),
                    recall(
                        a,
                        &format!("巴财收〔2020〕{i}号"),
                        &yuan_of(*fen),
                        "2020-06-01",
                    ),
                    *fen <= available,
                )
            }
        };
        let l = match at {
            None => p,
            Some(c) => t.county(c),
        };
        let before = snapshot(l).await?;
        match (l.submit_one(body.clone(), &clerk()).await, ok) {
            (Ok(Outcome::Created(id)), true) => match op {
                Op::OwnBudget { fen } => {
                    m.budget += fen;
                    m.own.push((id, *fen));
                }
                Op::Issue { source, to, fen } => {
                    let s = source % m.own.len();
                    m.own[s].1 -= fen;
                    m.issued[*to] += fen;
                    m.held[*to].push((id, *fen, s));
                    t.down(*to).await?;
                }
                Op::Pay { county, alloc, fen } => {
                    let n = m.held[*county].len();
                    m.held[*county][alloc % n].1 -= fen;
                    m.paid[*county] += fen;
                    t.up(*county).await?;
                }
                Op::Recall { county, alloc, fen } => {
                    let n = m.held[*county].len();
                    let a = &mut m.held[*county][alloc % n];
                    a.1 -= fen;
                    let s = a.2;
                    m.own[s].1 += fen;
                    m.recalled[*county] += fen;
                    t.up(*county).await?;
                }
            },
            (Err(e), false) => {
                ensure!(
                    snapshot(l).await? == before,
                    "op {i} {op:?}: refused ({e}) but the ledger changed"
                );
            }
            (got, ok) => bail!("op {i} {op:?}: expected ok={ok}, got {got:?}"),
        }
        let at_p = by_node(p, "2099-12-31").await?;
        let early = by_node(p, "2020-05-31").await?;
        check_levels(&at_p, &early, &m).with_context(|| format!("after op {i} {op:?}"))?;
        none_negative(p).await?;
        for (k, (c, _)) in COUNTIES.iter().enumerate() {
            // Each county sees itself as the prefecture does.
            let own_view = row(&by_node(t.county(k), "2099-12-31").await?, c);
            let theirs = row(&at_p, c);
            ensure!(
                serde_json::to_string(&own_view)? == serde_json::to_string(&theirs)?,
                "after op {i}: {c} sees {own_view:?}, the prefecture {theirs:?}"
            );
            none_negative(t.county(k)).await?;
        }
        // The carry-over report holds what the master ledger holds.
        let report = p
            .carry_over(day("2099-12-31"), &CarryOverFilter::default())
            .await?;
        ensure!(
            report.total.balance == at_p.total.balance,
            "report {} ledger {}",
            report.total.balance,
            at_p.total.balance
        );
    }
    // Every node's books, recalls included, recompute from its journal
    // (`fundsync verify`).
    for l in std::iter::once(p).chain((0..COUNTIES.len()).map(|k| t.county(k))) {
        let r = l.verify().await?;
        ensure!(r.ok(), "{}: {:?}", l.identity().code, r.problems);
    }
    Ok(())
}

fn cases(default: u32) -> u32 {
    std::env::var("FUNDSYNC_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(engine: Engine, default_cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = proptest::collection::vec(op(), 1..=OPS_MAX);
    let result = runner.run(&strategy, |ops| {
        rt.block_on(case(engine, &ops))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn recalls_conserve_money_at_every_level_sqlite() {
    run(Engine::Sqlite, 12);
}

#[test]
fn recalls_conserve_money_at_every_level_postgres() {
    run(Engine::Postgres, 4);
}

// ---------------------------------------------------------------- HTTP

async fn the_api_the_page_and_the_export_of_a_county(engine: Engine) -> Result<()> {
    use reqwest::header::{CONTENT_TYPE, LOCATION};
    use reqwest::StatusCode;
    use serde_json::{json, Value};

    // The prefecture as a ledger; the county as a running node, its
    // allocation carried down to it in a bundle.
    let (cc, name) = COUNTIES[0];
    let p = fixtures::ledger(engine, &prefecture()).await?;
    let pk = NodeKey::from_seed(&[28; 32]);
    let ck = NodeKey::from_seed(&[40; 32]);
    p.ledger
        .submit(
            &[
                child(cc, name),
                Body::KeyRegistered(KeyRegistered::of(code(cc), &ck.verifying_key())),
            ],
            &clerk(),
        )
        .await?;
    let node = TestNode::start_on(engine, &county(cc, name)).await?;
    let c = node.ledger.ledger.clone();
    c.trust_parent_keys(&[pk.verifying_key()]).await?;
    let own = p
        .ledger
        .submit_one(
            own_budget("巴财预〔2020〕1号", "X-05", "100000", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    let alloc = p
        .ledger
        .submit_one(
            issue("巴财农〔2020〕1号", own, "X-05", cc, "60000", "2020-02-04"),
            &clerk(),
        )
        .await?
        .id();
    let limits = SyncLimits::default();
    let mut bytes = Vec::new();
    bundle::export_down(&p.ledger, &pk, code(cc), &limits, None, &mut bytes).await?;
    bundle::import(&c, ck.key_id(), &limits, &mut bytes.as_slice()).await?;
    c.submit(
        &[
            project("P1", "800000"),
            target("P1"),
            payment("V1", alloc, "P1", "20000", "2020-05-10"),
        ],
        &clerk(),
    )
    .await?;
    let http = node.http();
    let heads = || async { anyhow::Ok(serde_json::to_string(&c.heads().await?)?) };

    // The API: a reason, its retry, a refusal that records nothing.
    let body = json!({
        "allocation": alloc.to_string(), "as_of": "2020-09-25", "reason": "quality_guarantee",
        "amount": "15800.00", "planned_on": "2020-09-30", "project": "P1"
    });
    let r = http
        .post(node.url("/api/v1/carryover"))
        .json(&body)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());
    let v: Value = r.json().await?;
    ensure!(v["created"] == true, "{v}");
    let r = http
        .post(node.url("/api/v1/carryover"))
        .json(&body)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "a retry: {}", r.status());
    let before = heads().await?;
    for (b, code) in [
        (
            json!({"allocation": alloc.to_string(), "as_of": "2020-09-25", "reason": "final_payment",
                   "amount": "24200.01", "planned_on": "2020-10-15"}),
            "over_balance",
        ),
        (
            json!({"allocation": alloc.to_string(), "as_of": "2020-09-25", "reason": "final_payment",
                   "amount": "1", "planned_on": "2020-09-01"}),
            "planned_before_as_of",
        ),
        (
            json!({"allocation": alloc.to_string(), "as_of": "2020-01-01", "reason": "final_payment",
                   "amount": "1", "planned_on": "2020-09-01"}),
            "no_balance",
        ),
        (
            json!({"allocation": alloc.to_string(), "doc_no": "巴财农〔2020〕88号", "amount": "40000.01",
                   "recalled_on": "2020-06-01", "purpose": "recall"}),
            "over_balance",
        ),
    ] {
        let path = if b.get("doc_no").is_some() {
            "/api/v1/recalls"
        } else {
            "/api/v1/carryover"
        };
        let r = http.post(node.url(path)).json(&b).send().await?;
        ensure!(
            r.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.status()
        );
        let v: Value = r.json().await?;
        ensure!(v["error"] == code && v["message"].is_string(), "{b}: {v}");
    }
    ensure!(
        heads().await? == before,
        "a refused request changed the journal"
    );
    let r = http
        .post(node.url("/api/v1/recalls"))
        .json(
            &json!({"allocation": alloc.to_string(), "doc_no": "巴财农〔2020〕88号",
                      "amount": "5000", "recalled_on": "2020-06-01", "purpose": "pooling"}),
        )
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{}", r.status());

    // Who may: a department officer of another department and the
    // treasury are refused (403, nothing recorded); an auditor reads.
    {
        use fundsync_node::access::Role;
        let acc = super::access::accounts(&node);
        let mut tokens = Vec::new();
        for (login, role, dept) in [
            ("wang", Role::Department, Some("社保股")),
            ("zhao", Role::Treasury, None),
            ("sun", Role::Auditor, None),
        ] {
            let u = super::access::add_user(&acc, login, &[role], dept, false).await?;
            tokens.push(super::access::token(&acc, &u).await?);
        }
        let before = heads().await?;
        let one = json!({"allocation": alloc.to_string(), "as_of": "2020-09-25",
                         "reason": "final_payment", "amount": "1", "planned_on": "2020-10-15"});
        for t in &tokens {
            let r = reqwest::Client::new()
                .post(node.url("/api/v1/carryover"))
                .bearer_auth(t)
                .json(&one)
                .send()
                .await?;
            ensure!(r.status() == StatusCode::FORBIDDEN, "{}", r.status());
            let v: Value = r.json().await?;
            ensure!(v["error"] == "forbidden", "{v}");
        }
        ensure!(
            heads().await? == before,
            "a refused caller changed the journal"
        );
        let r = reqwest::Client::new()
            .get(node.url("/api/v1/carryover?as_of=2020-09-25"))
            .bearer_auth(&tokens[2])
            .send()
            .await?;
        ensure!(r.status() == StatusCode::OK, "auditor: {}", r.status());
    }

    let v: Value = http
        .get(node.url("/api/v1/carryover?as_of=2020-09-25"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(
        v["total"]["balance"] == "35000.00"
            && v["total"]["explained"] == "15800.00"
            && v["by_reason"]["quality_guarantee"] == "15800.00",
        "{v}"
    );
    let r = http
        .get(node.url("/api/v1/carryover?node=653100"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::NOT_FOUND, "{}", r.status());

    // The page, in Chinese first, then in English.
    let page = http
        .get(node.url("/carryover?as_of=2020-09-25"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    for want in [
        "结转结余",
        "质量保证金",
        "巴财农〔2020〕1号",
        "1.58",
        "2020-09-30",
        "说明结转原因",
        "收回 / 统筹",
    ] {
        ensure!(page.contains(want), "{want} missing from the page");
    }
    let en = http
        .get(node.url("/carryover?as_of=2020-09-25&lang=en"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        en.contains("Quality guarantee") && en.contains("Carry-over"),
        "English page"
    );

    // The form: refused by the field, in Chinese, nothing recorded; then
    // recorded and sent back to the report.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers({
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", node.token).parse()?,
            );
            h
        })
        .build()?;
    let before = heads().await?;
    let form = |planned: &str| {
        vec![
            ("allocation", alloc.to_string()),
            ("as_of", "2020-09-25".to_owned()),
            ("reason", "final_payment".to_owned()),
            ("amount", "19,200.00".to_owned()),
            ("planned_on", planned.to_owned()),
            ("project", String::new()),
            ("note", String::new()),
        ]
    };
    let r = client
        .post(node.url("/carryover"))
        .form(&form("2020-09-01"))
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        r.status()
    );
    let text = r.text().await?;
    ensure!(
        text.contains("计划支付日期 2020-09-01 早于结余日期 2020-09-25"),
        "{text}"
    );
    ensure!(
        heads().await? == before,
        "a refused form changed the journal"
    );
    let r = client
        .post(node.url("/carryover"))
        .form(&form("2020-10-15"))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let to = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ensure!(to == "/carryover?as_of=2020-09-25&done=reason", "{to}");
    let r = client
        .post(node.url("/carryover/recall"))
        .form(&[
            ("allocation", alloc.to_string()),
            ("doc_no", "巴财农〔2020〕89号".to_owned()),
            ("amount", "100".to_owned()),
            ("recalled_on", "2020-06-02".to_owned()),
            ("purpose", "recall".to_owned()),
            ("reason", String::new()),
        ])
        .send()
        .await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "{}", r.status());
    let a = c.allocation(alloc).await?.context("allocation")?;
    ensure!(a.recalled == yuan("5100"), "{a:?}");

    // The export holds the reasons, exact in yuan.
    let r = http
        .get(node.url("/carryover.csv?as_of=2020-09-25"))
        .send()
        .await?
        .error_for_status()?;
    ensure!(
        r.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/csv")),
        "csv type"
    );
    let csv = r.text().await?;
    ensure!(
        csv.contains("质量保证金") && csv.contains("15800.00") && csv.contains("工程尾款"),
        "{csv}"
    );
    let xlsx = http
        .get(node.url("/carryover.xlsx?as_of=2020-09-25"))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    ensure!(xlsx.starts_with(b"PK"), "not a workbook");

    // The self-evaluation report refuses a node outside the tree and a
    // year out of range, with the reason, and records nothing.
    let before = heads().await?;
    for q in ["year=2020&node=659999", "year=1900"] {
        let r = http
            .get(node.url(&format!("/api/v1/report/self-evaluation?{q}")))
            .send()
            .await?;
        ensure!(r.status() == StatusCode::NOT_FOUND, "{q}: {}", r.status());
        let v: Value = r.json().await?;
        ensure!(
            v["error"] == "not_found" && v["message"].is_string(),
            "{q}: {v}"
        );
        let r = http
            .get(node.url(&format!("/report/self-evaluation?{q}")))
            .send()
            .await?;
        ensure!(
            r.status() == StatusCode::NOT_FOUND,
            "page {q}: {}",
            r.status()
        );
        ensure!(
            r.text().await?.contains("不在本辖区") || q.contains("1900"),
            "page {q}"
        );
    }
    ensure!(heads().await? == before, "a report changed the journal");
    node.stop().await
}

/// The self-evaluation report of a prefecture from its ledger: 一 the own
/// budget by year (2016–2020, a year without entries is zero), 二 each day's
/// issues with their parts and whether they went down within 5 days of the
/// funds arriving.
async fn the_self_evaluation_report_of_a_prefecture(engine: Engine) -> Result<()> {
    let p = fixtures::ledger(engine, &prefecture()).await?;
    let (c1, n1) = COUNTIES[0];
    let (c2, n2) = COUNTIES[1];
    p.ledger
        .submit(&[child(c1, n1), child(c2, n2)], &clerk())
        .await?;
    let old = own_budget("巴财预〔2018〕1号", "X-05", "38000000", "2018-02-01");
    p.ledger.submit_one(old, &clerk()).await?;
    let own = p
        .ledger
        .submit_one(
            own_budget("巴财预〔2020〕1号", "X-05", "39000000", "2020-01-30"),
            &clerk(),
        )
        .await?
        .id();
    p.ledger
        .submit(
            &[
                issue(
                    "巴财农〔2020〕1号",
                    own,
                    "X-05",
                    c1,
                    "8730000",
                    "2020-02-04",
                ),
                issue(
                    "巴财农〔2020〕1号",
                    own,
                    "X-05",
                    c2,
                    "3730000",
                    "2020-02-04",
                ),
                issue(
                    "巴财农〔2020〕9号",
                    own,
                    "X-05",
                    c1,
                    "1000000",
                    "2020-02-20",
                ),
            ],
            &clerk(),
        )
        .await?;
    let r = p.ledger.self_evaluation(code(PREF), 2020, None).await?;
    let years: Vec<(i32, Decimal)> = r.own_budget.iter().map(|y| (y.year, y.amount)).collect();
    ensure!(
        years
            == vec![
                (2016, Decimal::ZERO),
                (2017, Decimal::ZERO),
                (2018, yuan("38000000")),
                (2019, Decimal::ZERO),
                (2020, yuan("39000000")),
            ],
        "{years:?}"
    );
    ensure!(
        r.own_budget_total == yuan("77000000"),
        "{}",
        r.own_budget_total
    );
    ensure!(r.batches.len() == 2, "{:?}", r.batches);
    let (a, b) = (&r.batches[0], &r.batches[1]);
    ensure!(
        a.amount == yuan("12460000")
            && a.children == 2
            && a.days == Some(5)
            && a.within_five_days
            && a.parts.len() == 1,
        "{a:?}"
    );
    ensure!(
        b.amount == yuan("1000000") && b.days == Some(21) && !b.within_five_days,
        "{b:?}"
    );
    ensure!(
        !r.all_within_five_days && r.batches_total == yuan("13460000"),
        "{r:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------- demo

/// The generated 2020 self-evaluation report of the prefecture, on the
/// region (`base` is its API): the page shows 一's 2020 own budget, 二's
/// seven batches with their 5-day flags and 四(一)'s 1441.16 万元; its print
/// view stands alone; its workbook parses and holds the same figures in
/// yuan; its JSON twin names every batch on time.
async fn self_evaluation_report(base: &str, token: &str) -> Result<()> {
    use calamine::{Data, Reader as _, Xlsx};
    let root = base.trim_end_matches("/api/v1");
    let http = reqwest::Client::new();
    let get = |path: String| http.get(format!("{root}{path}")).bearer_auth(token).send();
    let q = "year=2020&node=652800";
    let started = std::time::Instant::now();
    let page = get(format!("/report/self-evaluation?{q}"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    // BENCHMARKS.md: the 2020 report generated on the demo's region.
    println!("self-evaluation report 2020 page: {:?}", started.elapsed());
    for must in [
        "绩效自评报告",
        "一、资金投入",
        "二、资金拨付",
        "四、（一）",
        "3,900.00",
        "107,941.00",
        "2019-12-06",
        "2019-12-30",
        "2020-02-04",
        "2020-04-26",
        "2020-04-29",
        "2020-05-22",
        "2020-06-04",
        "均在收到资金 5 日内拨付下达",
        "1,441.16",
        "691.53",
        "质量保证金",
        "收款账号错误",
    ] {
        ensure!(page.contains(must), "the report page lacks {must}");
    }
    let print = get(format!("/report/self-evaluation?{q}&print=1"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    ensure!(
        print.contains("@page") && print.contains("1,441.16") && !print.contains("class=\"top\""),
        "print view"
    );
    let bytes = get(format!("/report/self-evaluation.xlsx?{q}"))
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec()))?;
    let name = book.sheet_names().first().cloned().context("a worksheet")?;
    let range = book.worksheet_range(&name)?;
    // Yuan, exact to the fen in the file.
    let money: Vec<Decimal> = range
        .rows()
        .filter_map(|r| match r.get(5) {
            Some(Data::Float(f)) => Decimal::try_from(*f).ok().map(|d| d.round_dp(2)),
            _ => None,
        })
        .collect();
    for want in [
        "39000000",
        "1079410000",
        "131510000",
        "14411623.02",
        "4754100",
    ] {
        ensure!(
            money.contains(&yuan(want)),
            "the workbook lacks {want}: {money:?}"
        );
    }
    let v: serde_json::Value = get(format!("/api/v1/report/self-evaluation?{q}"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let batches = v["batches"].as_array().context("batches")?;
    ensure!(
        batches.len() == 7 && batches.iter().all(|b| b["within_five_days"] == true),
        "{batches:?}"
    );
    ensure!(
        v["batches_total"].as_str().map(yuan) == Some(yuan("1079410000")),
        "{}",
        v["batches_total"]
    );
    ensure!(
        v["carry_over"]["total"]["balance"].as_str().map(yuan) == Some(yuan("14411623.02")),
        "{}",
        v["carry_over"]["total"]
    );
    Ok(())
}

/// The region's report of the 2020 demo on 2020-09-25 holds seed 002 四's
/// carry-over, county by county (万元 in the seed, yuan here) and, for
/// 轮台, by fund source: the same figures `fundsync demo --check`
/// reconciles from the lists, computed by the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_report_holds_seed_002_carry_over() -> Result<()> {
    use fundsync_demo::run::{self, Demo, DemoOptions};
    use serde_json::Value;

    let dir = tempfile::tempdir()?;
    let demo = Demo::start(&DemoOptions {
        dir: dir.path().to_owned(),
        port_base: 0,
        host: "127.0.0.1".into(),
    })
    .await?;
    demo.replay().await?;
    demo.converged(std::time::Duration::from_secs(60)).await?;
    demo.create_accounts(dir.path()).await?;
    let token = demo.auditor_token().await?;
    let base = run::region_api(&demo).context("region")?;
    let v: Value = reqwest::Client::new()
        .get(format!("{base}/carryover?as_of=2020-09-25&node=652800"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let report = self_evaluation_report(&base, &token).await;
    demo.stop().await;
    report?;
    let line = |node: &str, origin: Option<&str>| -> Decimal {
        let key = if origin.is_some() {
            "by_source"
        } else {
            "by_node"
        };
        v[key]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|l| l["node"] == node && origin.is_none_or(|o| l["fund_origin"] == o))
            })
            .and_then(|l| l["balance"].as_str())
            .map_or(Decimal::ZERO, yuan)
    };
    let mut counties = Decimal::ZERO;
    for (node, want) in [
        ("652801", "0"),
        ("652822", "6915300.00"),
        ("652823", "403760.00"),
        ("652824", "1429223.02"),
        ("652825", "5663340.00"),
        ("652826", "0"),
        ("652827", "0"),
        ("652828", "0"),
        ("652829", "0"),
    ] {
        ensure!(
            line(node, None) == yuan(want),
            "{node}: {} ≠ {want}",
            line(node, None)
        );
        counties += line(node, None);
    }
    // 1441.16 万元 printed; 1441.162302 exactly.
    ensure!(counties == yuan("14411623.02"), "{counties}");
    ensure!(
        yuan(v["total"]["balance"].as_str().unwrap_or("")) == counties + line(PREF, None),
        "{}",
        v["total"]
    );
    // 四(一)'s reasons, recorded by the demo at each county: every yuan of
    // the counties' carry-over is explained (质保金, 工程尾款, 收款账号错误,
    // fees and savings as "other").
    for node in ["652822", "652823", "652824", "652825"] {
        let l = v["by_node"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["node"] == node))
            .context("county line")?;
        ensure!(
            l["unexplained"].as_str().map(yuan) == Some(Decimal::ZERO),
            "{node} leaves carry-over unexplained: {l}"
        );
    }
    ensure!(
        v["by_reason"]["wrong_account"].as_str().map(yuan) == Some(yuan("4754100.00")),
        "{}",
        v["by_reason"]
    );
    for (origin, want) in [
        ("central", "73600.00"),
        ("bond", "1264400.00"),
        ("county", "5577300.00"),
    ] {
        ensure!(
            line("652822", Some(origin)) == yuan(want),
            "轮台 {origin}: {}",
            line("652822", Some(origin))
        );
    }
    Ok(())
}
