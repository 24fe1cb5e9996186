//! Property tests of the ledger's invariants over random sequences of
//! entries, on both engines.
//!
//! A region with two prefectures receives funds, budgets its own money,
//! allocates to its children, registers projects and targets, pays and
//! reverses payments, in a random order and with random amounts, so that
//! some entries are refused (over-allocation, over-payment, a voucher number
//! used for a different payment, unknown projects, payments without
//! targets, reversing twice). A model of the node's money predicts every
//! outcome. After each entry:
//!
//! - the ledger accepted or refused it as the model says;
//! - money is conserved at the node: received + own budget = issued down +
//!   paid + balance, each figure equal to the model's, the balance never
//!   negative, and each child's received equal to what was issued to it;
//! - a refused entry changed nothing (journal heads and the summary are
//!   equal before and after).
//!
//! At the end, a prefix of the accepted bodies recorded into a fresh ledger
//! gives the state the original had after that prefix, recording the rest
//! gives the same journal (heads, hashes and all), and submitting the
//! prefix's bodies again is idempotent: every one is found, nothing changes.
//! Amounts that are negative, zero or finer than a fen never reach a
//! ledger: they are refused when parsed.
//!
//! 24 cases on SQLite and 8 on PostgreSQL, up to 30 entries each;
//! `FUNDSYNC_PROPTEST_CASES` sets both.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context as _, Result};
use fundsync_node::ledger::query::{GroupBy, Summary, SummaryRow};
use fundsync_node::ledger::{Ledger, LedgerError, Outcome};
use fundsync_protocol::{Amount, Body, EntryId};
use fundsync_tests::build::*;
use fundsync_tests::fixtures::{self, region, Engine, TestLedger};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

const CHILDREN: [(&str, &str); 2] = [("652800", "巴音郭楞蒙古自治州"), ("653100", "喀什地区")];
const CENTRAL: &str = "X-01";
const REGION: &str = "X-04";
const OPS_MAX: usize = 30;

/// One thing a user of the region's node might do. Indices pick among what
/// exists when the operation runs (modulo its length).
#[derive(Debug, Clone)]
enum Op {
    Receive {
        fen: i64,
    },
    OwnBudget {
        fen: i64,
    },
    Issue {
        source: usize,
        to: usize,
        fen: i64,
    },
    Project {
        n: u8,
    },
    Target {
        n: u8,
    },
    Pay {
        voucher: u8,
        alloc: usize,
        project: u8,
        fen: i64,
    },
    Reverse {
        voucher: u8,
    },
    /// An amount the parser must refuse.
    BadAmount(String),
}

fn bad_amount() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..100_000, 0u32..100).prop_map(|(y, f)| format!("-{y}.{f:02}")),
        (0u32..100_000, 0u32..100, 1u32..10).prop_map(|(y, f, x)| format!("{y}.{f:02}{x}")),
        Just("0".to_owned()),
        Just("0.00".to_owned()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let fen = 1i64..2_000_000;
    prop_oneof![
        2 => (1i64..5_000_000).prop_map(|fen| Op::Receive { fen }),
        1 => (1i64..2_000_000).prop_map(|fen| Op::OwnBudget { fen }),
        4 => (any::<usize>(), 0usize..2, fen.clone())
            .prop_map(|(source, to, fen)| Op::Issue { source, to, fen }),
        2 => (0u8..3).prop_map(|n| Op::Project { n }),
        2 => (0u8..3).prop_map(|n| Op::Target { n }),
        5 => (0u8..6, any::<usize>(), 0u8..3, fen)
            .prop_map(|(voucher, alloc, project, fen)| Op::Pay { voucher, alloc, project, fen }),
        2 => (0u8..6).prop_map(|voucher| Op::Reverse { voucher }),
        1 => bad_amount().prop_map(Op::BadAmount),
    ]
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn dec(fen: i64) -> Decimal {
    Decimal::new(fen, 2)
}

/// What the node holds, as the rules say it should be.
#[derive(Debug, Default)]
struct Model {
    /// Allocations in the order they were made: id, held here, available,
    /// category.
    allocs: Vec<(EntryId, bool, i64, &'static str)>,
    /// Registered projects and whether they have a target.
    projects: BTreeMap<u8, bool>,
    /// Vouchers: the body recorded, its allocation index, amount, reversed.
    vouchers: BTreeMap<u8, (Body, usize, i64, bool)>,
    received: i64,
    own: i64,
    issued: [i64; 2],
    paid: i64,
}

/// What the ledger should do with a body.
#[derive(Debug, PartialEq)]
enum Expect {
    Created,
    Existing,
    Refused,
}

/// Journal heads and the master ledger by node: equal snapshots, equal state.
async fn snapshot(l: &Ledger) -> Result<String> {
    let heads = l.heads().await?;
    let s = by_node(l).await?;
    Ok(format!(
        "{}|{}",
        serde_json::to_string(&heads)?,
        serde_json::to_string(&s)?
    ))
}

async fn by_node(l: &Ledger) -> Result<Summary> {
    Ok(l.summary(day("2099-12-31"), &[GroupBy::Node], None).await?)
}

fn row<'a>(s: &'a Summary, node: &str) -> Option<&'a SummaryRow> {
    s.rows
        .iter()
        .find(|r| r.group.get("node").map(String::as_str) == Some(node))
}

/// Money is conserved at the region and the figures are the model's.
fn conserved(s: &Summary, m: &Model) -> Result<()> {
    let zero = SummaryRow::default();
    let me = row(s, "650000").unwrap_or(&zero);
    ensure!(
        me.received + me.own_budget == me.issued_down + me.paid + me.balance,
        "money not conserved at the region: {me:?}"
    );
    let want = (
        dec(m.received),
        dec(m.own),
        dec(m.issued[0] + m.issued[1]),
        dec(m.paid),
    );
    let got = (me.received, me.own_budget, me.issued_down, me.paid);
    ensure!(got == want, "region figures {got:?}, model {want:?}");
    ensure!(me.balance >= Decimal::ZERO, "negative balance: {me:?}");
    for (i, (c, _)) in CHILDREN.iter().enumerate() {
        let got = row(s, c).map(|r| r.received).unwrap_or_default();
        ensure!(
            got == dec(m.issued[i]),
            "{c} received {got}, issued to it {}",
            dec(m.issued[i])
        );
    }
    Ok(())
}

/// The body an operation submits and what the model expects of it, or
/// `None` when there is nothing to submit (a bad amount, or an index into
/// an empty list).
fn plan(m: &Model, i: usize, op: &Op) -> Result<Option<(Body, Expect)>> {
    let doc = |what: &str| format!("新财{what}〔2020〕{i}号");
    Ok(Some(match op {
        Op::BadAmount(s) => {
            ensure!(s.parse::<Amount>().is_err(), "{s:?} parsed as an amount");
            ensure!(
                serde_json::from_value::<Amount>(serde_json::json!(s)).is_err(),
                "{s:?} deserialized as an amount"
            );
            return Ok(None);
        }
        Op::Receive { fen } => (
            received(&doc("农"), CENTRAL, &yuan(*fen), "2020-01-10"),
            Expect::Created,
        ),
        Op::OwnBudget { fen } => (
            own_budget(&doc("预"), REGION, &yuan(*fen), "2020-01-20"),
            Expect::Created,
        ),
        Op::Issue { source, to, fen } => {
            if m.allocs.is_empty() {
                return Ok(None);
            }
            let (src, mine, available, category) = m.allocs[source % m.allocs.len()];
            let ok = mine && *fen <= available;
            (
                issue(
                    &doc("下"),
                    src,
                    category,
                    CHILDREN[*to].0,
                    &yuan(*fen),
                    "2020-02-04",
                ),
                if ok { Expect::Created } else { Expect::Refused },
            )
        }
        Op::Project { n } => (
            project(&format!("P{n}"), "800000"),
            if m.projects.contains_key(n) {
                Expect::Existing
            } else {
                Expect::Created
            },
        ),
        Op::Target { n } => (
            target(&format!("P{n}")),
            if m.projects.contains_key(n) {
                Expect::Created
            } else {
                Expect::Refused
            },
        ),
        Op::Pay {
            voucher,
            alloc,
            project,
            fen,
        } => {
            if m.allocs.is_empty() {
                return Ok(None);
            }
            let (a, mine, available, _) = m.allocs[alloc % m.allocs.len()];
            let body = payment(
                &format!("V{voucher}"),
                a,
                &format!("P{project}"),
                &yuan(*fen),
                "2020-05-10",
            );
            let expect = if let Some((b, ..)) = m.vouchers.get(voucher) {
                if *b == body {
                    Expect::Existing
                } else {
                    Expect::Refused
                }
            } else if m.projects.get(project) != Some(&true) || !mine || *fen > available {
                Expect::Refused
            } else {
                Expect::Created
            };
            (body, expect)
        }
        Op::Reverse { voucher } => (
            reversal(&format!("V{voucher}"), "2020-06-30"),
            match m.vouchers.get(voucher) {
                Some((.., false)) => Expect::Created,
                _ => Expect::Refused,
            },
        ),
    }))
}

/// Applies an accepted body to the model.
fn apply(m: &mut Model, op: &Op, body: &Body, id: EntryId) {
    match op {
        Op::Receive { fen } => {
            m.received += fen;
            m.allocs.push((id, true, *fen, CENTRAL));
        }
        Op::OwnBudget { fen } => {
            m.own += fen;
            m.allocs.push((id, true, *fen, REGION));
        }
        Op::Issue { source, to, fen } => {
            let n = m.allocs.len();
            let src = &mut m.allocs[source % n];
            src.2 -= fen;
            let category = src.3;
            m.issued[*to] += fen;
            m.allocs.push((id, false, *fen, category));
        }
        Op::Project { n } => {
            m.projects.entry(*n).or_insert(false);
        }
        Op::Target { n } => {
            m.projects.insert(*n, true);
        }
        Op::Pay {
            voucher,
            alloc,
            fen,
            ..
        } => {
            let i = alloc % m.allocs.len();
            m.allocs[i].2 -= fen;
            m.paid += fen;
            m.vouchers.insert(*voucher, (body.clone(), i, *fen, false));
        }
        Op::Reverse { voucher } => {
            if let Some(v) = m.vouchers.get_mut(voucher) {
                v.3 = true;
                m.allocs[v.1].2 += v.2;
                m.paid -= v.2;
            }
        }
        Op::BadAmount(_) => {}
    }
}

async fn fresh(engine: Engine) -> Result<TestLedger> {
    let t = fixtures::ledger(engine, &region()).await?;
    for (c, n) in CHILDREN {
        t.ledger.submit_one(child(c, n), &clerk()).await?;
    }
    Ok(t)
}

/// One case: runs `ops` against a fresh ledger and the model, then replays.
async fn case(engine: Engine, ops: &[Op], cut: usize) -> Result<()> {
    let t = fresh(engine).await?;
    let l = &t.ledger;
    let mut m = Model::default();
    // Bodies that made entries, and the state after each.
    let mut recorded: Vec<Body> = Vec::new();
    let mut states: Vec<String> = vec![snapshot(l).await?];
    for (i, op) in ops.iter().enumerate() {
        let Some((body, expect)) = plan(&m, i, op)? else {
            continue;
        };
        let before = snapshot(l).await?;
        let got = l.submit_one(body.clone(), &clerk()).await;
        let after = snapshot(l).await?;
        match (got, expect) {
            (Ok(Outcome::Created(id)), Expect::Created) => {
                apply(&mut m, op, &body, id);
                recorded.push(body);
                states.push(after);
            }
            (Ok(Outcome::Existing(_)), Expect::Existing) => {
                ensure!(
                    after == before,
                    "op {i} {op:?}: an idempotent submission changed the ledger"
                );
            }
            (Err(e), Expect::Refused) => {
                ensure!(
                    after == before,
                    "op {i} {op:?}: refused ({e}) but the ledger changed"
                );
            }
            (got, expect) => bail!("op {i} {op:?}: expected {expect:?}, got {got:?}"),
        }
        conserved(&by_node(l).await?, &m).with_context(|| format!("after op {i} {op:?}"))?;
    }

    // Replay a prefix into a fresh ledger through the same apply path.
    let cut = cut % (recorded.len() + 1);
    let r = fresh(engine).await?;
    if cut > 0 {
        r.ledger.submit(&recorded[..cut], &clerk()).await?;
    }
    ensure!(
        snapshot(&r.ledger).await? == states[cut],
        "replaying {cut} of {} entries gave another state",
        recorded.len()
    );
    // Submitting the prefix again finds every body but targets (a target
    // set twice is two targets) and reversals (a voucher is reversed once:
    // a second reversal is refused), and changes nothing.
    let again: Vec<Body> = recorded[..cut]
        .iter()
        .filter(|b| !matches!(b, Body::TargetSet(_) | Body::PaymentReversed(_)))
        .cloned()
        .collect();
    for o in r.ledger.submit(&again, &clerk()).await? {
        ensure!(
            matches!(o, Outcome::Existing(_)),
            "resubmitted and got {o:?}"
        );
    }
    for b in recorded[..cut]
        .iter()
        .filter(|b| matches!(b, Body::PaymentReversed(_)))
    {
        let got = r.ledger.submit_one(b.clone(), &clerk()).await;
        ensure!(
            matches!(got, Err(LedgerError::AlreadyReversed(_))),
            "a reversal resubmitted and got {got:?}"
        );
    }
    ensure!(
        snapshot(&r.ledger).await? == states[cut],
        "a resubmission changed the ledger"
    );
    // The rest: the same journal as the original's.
    if cut < recorded.len() {
        r.ledger.submit(&recorded[cut..], &clerk()).await?;
    }
    let me = l.identity().code;
    let journal = |l: &Ledger| {
        let l = l.clone();
        async move { anyhow::Ok(serde_json::to_string(&l.journal(me, 0, 1000).await?)?) }
    };
    ensure!(
        journal(&r.ledger).await? == journal(l).await?,
        "replaying every entry gave another journal"
    );
    ensure!(
        snapshot(&r.ledger).await? == snapshot(l).await?,
        "replayed state differs"
    );
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
    let strategy = (proptest::collection::vec(op(), 1..=OPS_MAX), any::<usize>());
    let result = runner.run(&strategy, |(ops, cut)| {
        rt.block_on(case(engine, &ops, cut))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn ledger_props_sqlite() {
    run(Engine::Sqlite, 24);
}

#[test]
fn ledger_props_postgres() {
    run(Engine::Postgres, 8);
}
