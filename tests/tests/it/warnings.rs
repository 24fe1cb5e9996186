//! Early warnings end to end: the evaluator on both engines with a clock the
//! test moves, the ledger's checks of warning entries (every rejection
//! changes nothing), warnings rolling up (a signed batch at the ledger, and
//! a running tree over TLS), the API's list and its refusals, and the 2020
//! demo, which passes every batch on within 5 days: no deadline warning.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_demo::run::{Demo, DemoOptions};
use fundsync_node::clock::Clock as _;
use fundsync_node::config::Config;
use fundsync_node::ledger::query::Page;
use fundsync_node::ledger::replica::ReplicaError;
use fundsync_node::ledger::{Ledger, LedgerError, Outcome};
use fundsync_node::warnings::{
    self, AsOf, Evaluator, Rule, WarningFilter, WarningView, WarningsConfig,
};
use fundsync_protocol::body::*;
use fundsync_protocol::{checkpoint_for, Batch, Body, Entry, EntryId, Hash, NodeKey};
use fundsync_tests::build::*;
use fundsync_tests::cluster::{eventually, small_tree, Cluster};
use fundsync_tests::fixtures::{
    self, code, county, prefecture, region, Engine, TestLedger, TestNode,
};
use rust_decimal::Decimal;

fundsync_tests::on_both!(
    deadline_warnings_are_raised_once_and_resolved,
    payment_and_project_rules_fire_and_clear,
    the_ledger_checks_warning_entries,
    warnings_roll_up_in_signed_batches,
    silent_children_are_warned_about,
    the_open_warnings_gauge_returns_to_zero,
);

const DAY_MS: i64 = 24 * 3_600_000;
const WAIT: Duration = Duration::from_secs(30);

fn all() -> Page {
    Page {
        page: 1,
        page_size: 1000,
    }
}

/// The thresholds the tests use: the defaults, a 5000-yuan split limit and
/// a negative list.
fn cfg() -> WarningsConfig {
    WarningsConfig {
        split_payment_limit: amount("5000"),
        negative_list: vec!["黑名单公司".into()],
        ..WarningsConfig::default()
    }
}

async fn listed(l: &Ledger, rule: Rule, open: Option<bool>) -> Result<Vec<WarningView>> {
    let f = WarningFilter {
        rule: Some(rule.as_str().into()),
        open,
        ..WarningFilter::default()
    };
    Ok(l.warnings(&f, all()).await?.items)
}

async fn journal_len(l: &Ledger) -> Result<usize> {
    Ok(l.journal(l.identity().code, 0, 1000).await?.len())
}

/// Evaluates and checks how many warnings were raised and resolved.
async fn evaluated(ev: &mut Evaluator, raised: usize, resolved: usize) -> Result<()> {
    let r = ev.evaluate().await?;
    ensure!(
        (r.raised, r.resolved) == (raised, resolved),
        "expected {raised} raised and {resolved} resolved, got {r:?}"
    );
    Ok(())
}

async fn deadline_warnings_are_raised_once_and_resolved(engine: Engine) -> Result<()> {
    // The clock stands at 2020-06-30 (China Standard Time).
    let t = fixtures::ledger(engine, &region()).await?;
    let l = &t.ledger;
    l.submit_one(child("652800", "巴音郭楞蒙古自治州"), &clerk())
        .await?;
    let a = l
        .submit_one(
            received("财农〔2020〕50号", "X-01", "1000", "2020-06-25"),
            &clerk(),
        )
        .await?
        .id();
    let mut ev = Evaluator::new(l.clone(), cfg());
    // The fifth day after receipt: not late yet.
    evaluated(&mut ev, 0, 0).await?;
    ensure!(listed(l, Rule::IssueDeadline, None).await?.is_empty());

    // A day later it is; evaluating again changes nothing.
    t.clock.advance(DAY_MS);
    evaluated(&mut ev, 1, 0).await?;
    let w = listed(l, Rule::IssueDeadline, Some(true)).await?;
    ensure!(w.len() == 1, "{w:?}");
    ensure!(w[0].subject == format!("allocation:{a}") && w[0].node == "650000");
    ensure!(w[0].amount == Some(Decimal::from(1000)) && w[0].as_of == "2020-07-01");
    ensure!(
        w[0].message.contains("not passed on 6 days after receipt"),
        "{}",
        w[0].message
    );
    let n = journal_len(l).await?;
    evaluated(&mut ev, 0, 0).await?;
    ensure!(
        journal_len(l).await? == n,
        "a second evaluation recorded something"
    );

    // Part passed on: still open. All of it: resolved, saying when.
    l.submit_one(
        issue(
            "新财农〔2020〕60号",
            a,
            "X-01",
            "652800",
            "400",
            "2020-07-01",
        ),
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 0, 0).await?;
    l.submit_one(
        issue(
            "新财农〔2020〕61号",
            a,
            "X-01",
            "652800",
            "600",
            "2020-07-01",
        ),
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 0, 1).await?;
    let w = listed(l, Rule::IssueDeadline, None).await?;
    ensure!(w.len() == 1 && !w[0].open, "{w:?}");
    let why = w[0].resolution.as_deref().unwrap_or_default();
    ensure!(
        why.contains("passed on in full on 2020-07-01, 6 days after receipt"),
        "{why}"
    );
    evaluated(&mut ev, 0, 0).await?;

    // Recorded after the fact: passed on 9 days after receipt. The late
    // batch is recorded once, raised and resolved together; one passed on
    // on the fifth day is not.
    let late = l
        .submit_one(
            received("财农〔2020〕40号", "X-01", "500", "2020-06-01"),
            &clerk(),
        )
        .await?
        .id();
    l.submit_one(
        issue(
            "新财农〔2020〕45号",
            late,
            "X-01",
            "652800",
            "500",
            "2020-06-10",
        ),
        &clerk(),
    )
    .await?;
    let on_time = l
        .submit_one(
            received("财农〔2020〕41号", "X-01", "700", "2020-06-01"),
            &clerk(),
        )
        .await?
        .id();
    l.submit_one(
        issue(
            "新财农〔2020〕46号",
            on_time,
            "X-01",
            "652800",
            "700",
            "2020-06-06",
        ),
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 1, 1).await?;
    let w = listed(l, Rule::IssueDeadline, None).await?;
    let past: Vec<_> = w
        .iter()
        .filter(|w| w.subject == format!("allocation:{late}"))
        .collect();
    ensure!(past.len() == 1 && !past[0].open, "{w:?}");
    ensure!(past[0].amount == Some(Decimal::from(500)));
    ensure!(w
        .iter()
        .all(|w| w.subject != format!("allocation:{on_time}")));
    evaluated(&mut ev, 0, 0).await?;
    Ok(())
}

/// A county holding 100,000.00 yuan of its own money (dated 2020-02-01),
/// with projects P1 (budget 80,000) and P2 (budget 1,000), both with a
/// target, and P3 without one; all start 2020-03-01.
async fn county_with_projects(engine: Engine) -> Result<(TestLedger, EntryId)> {
    let t = fixtures::ledger(engine, &county("652822", "轮台县")).await?;
    let l = &t.ledger;
    l.submit_one(
        Body::CategoryDefined(CategoryDefined {
            code: "LT-01".into(),
            name: "县级配套".into(),
            origin: fundsync_protocol::FundOrigin::County,
            department: String::new(),
            classified: false,
        }),
        &clerk(),
    )
    .await?;
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
    for (code_, budget) in [("P1", "80000"), ("P2", "1000"), ("P3", "5000")] {
        l.submit_one(
            Body::ProjectRegistered(ProjectRegistered {
                code: code_.into(),
                name: format!("项目{code_}"),
                township: "轮台镇".into(),
                village: String::new(),
                department: "交通局".into(),
                starts_on: day("2020-03-01"),
                ends_on: day("2020-10-31"),
                budget: amount(budget),
                status: ProjectStatus::InProgress,
            }),
            &clerk(),
        )
        .await?;
        if code_ != "P3" {
            l.submit_one(target(code_), &clerk()).await?;
        }
    }
    Ok((t, alloc))
}

fn pay(voucher: &str, alloc: EntryId, on: &str, amt: &str, payee: &str, project: &str) -> Body {
    let mut b = payment(voucher, alloc, project, amt, on);
    if let Body::PaymentRecorded(p) = &mut b {
        p.payee_name = payee.into();
        p.payee_account = String::new();
    }
    b
}

async fn payment_and_project_rules_fire_and_clear(engine: Engine) -> Result<()> {
    let (t, a) = county_with_projects(engine).await?;
    let l = &t.ledger;
    l.submit(
        &[
            // The same claim twice.
            pay("V1", a, "2020-05-10", "1000", "甲合作社", "P1"),
            pay("V2", a, "2020-05-10", "1000", "甲合作社", "P1"),
            // Three payments just under 5000 to one payee within 30 days.
            pay("V3", a, "2020-05-01", "4600", "丙公司", "P1"),
            pay("V4", a, "2020-05-15", "4700", "丙公司", "P1"),
            pay("V5", a, "2020-05-30", "4999.99", "丙公司", "P1"),
            // A payee on the negative list.
            pay("V6", a, "2020-05-20", "100", "黑名单公司", "P1"),
            // Above P2's budget of 1000.
            pay("V7", a, "2020-05-20", "1500", "乙公司", "P2"),
            // Before its project starts.
            pay("V8", a, "2020-02-15", "200", "丁公司", "P1"),
            // Near misses: another day; 4499.99 is below "just under".
            pay("V9", a, "2020-05-11", "1000", "甲合作社", "P1"),
            pay("V10", a, "2020-05-16", "4499.99", "丙公司", "P1"),
        ],
        &clerk(),
    )
    .await?;
    let mut ev = Evaluator::new(l.clone(), cfg());
    let r = ev.evaluate().await?;
    let counts = warnings::open_counts(l).await?;
    let expect = [
        ("duplicate_payment", 1),
        ("split_payments", 1),
        ("negative_list", 1),
        ("overspend", 1),
        ("unmatched_payment", 1),
        // P3 started 2020-03-01 and still has no target on 2020-06-30.
        ("missing_target", 1),
        // 45% of the time since 2020-02-01 gone, 23% spent.
        ("slow_spending", 1),
    ];
    ensure!(
        counts.len() == expect.len() && expect.iter().all(|(k, n)| counts.get(*k) == Some(n)),
        "{counts:?}"
    );
    ensure!(r.raised == expect.len() && r.resolved == 0, "{r:?}");
    let dup = listed(l, Rule::DuplicatePayment, Some(true)).await?;
    ensure!(dup[0].message.contains("V1, V2") && dup[0].amount == Some(Decimal::from(1000)));
    let split = listed(l, Rule::SplitPayments, Some(true)).await?;
    ensure!(split[0].subject == "payee:丙公司" && split[0].message.contains("V3, V4, V5"));
    evaluated(&mut ev, 0, 0).await?;

    // Each cleared condition resolves its warning, and only that one.
    l.submit_one(reversal("V2", "2020-06-30"), &clerk()).await?;
    evaluated(&mut ev, 0, 1).await?;
    ensure!(listed(l, Rule::DuplicatePayment, Some(true))
        .await?
        .is_empty());
    l.submit(
        &[
            reversal("V6", "2020-06-30"),
            reversal("V7", "2020-06-30"),
            reversal("V8", "2020-06-30"),
        ],
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 0, 3).await?;
    l.submit_one(reversal("V4", "2020-06-30"), &clerk()).await?;
    l.submit_one(target("P3"), &clerk()).await?;
    evaluated(&mut ev, 0, 2).await?;
    let counts = warnings::open_counts(l).await?;
    ensure!(
        counts.keys().map(String::as_str).collect::<Vec<_>>() == ["slow_spending"],
        "{counts:?}"
    );
    let resolved = l
        .warnings(
            &WarningFilter {
                open: Some(false),
                ..WarningFilter::default()
            },
            all(),
        )
        .await?
        .items;
    ensure!(resolved.len() == 6, "{resolved:?}");
    ensure!(resolved.iter().all(|w| w
        .resolution
        .as_deref()
        .is_some_and(|r| r.ends_with("(as of 2020-06-30)"))));

    // A condition that comes back is a new warning.
    l.submit_one(
        pay("V11", a, "2020-05-20", "4800", "丙公司", "P1"),
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 1, 0).await?;
    ensure!(listed(l, Rule::SplitPayments, None).await?.len() == 2);
    Ok(())
}

/// Submits a body that must be refused, and checks nothing changed.
async fn refused(l: &Ledger, body: Body) -> Result<LedgerError> {
    let before = (
        journal_len(l).await?,
        l.warnings(&WarningFilter::default(), all())
            .await?
            .items
            .len(),
    );
    let err = match l.submit_one(body, &clerk()).await {
        Ok(o) => anyhow::bail!("accepted {o:?}, expected a rejection"),
        Err(e) => e,
    };
    let after = (
        journal_len(l).await?,
        l.warnings(&WarningFilter::default(), all())
            .await?
            .items
            .len(),
    );
    ensure!(
        after == before,
        "a rejected submission changed the ledger: {err}"
    );
    Ok(err)
}

fn raised(node: &str, rule: &str, subject: &str, message: &str) -> Body {
    Body::WarningRaised(WarningRaised {
        rule: rule.into(),
        subject: subject.into(),
        node: code(node),
        message: message.into(),
        as_of: day("2020-06-30"),
        amount: None,
        params: None,
    })
}

fn resolved(warning: EntryId, reason: &str) -> Body {
    Body::WarningResolved(WarningResolved {
        warning,
        reason: reason.into(),
        as_of: day("2020-06-30"),
    })
}

/// The value of `fundsync_warnings_open` for `rule` at `node`'s `/metrics`.
async fn open_gauge(node: &TestNode, rule: &str) -> Result<Option<String>> {
    let text = node
        .http()
        .get(node.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let series = format!(
        "fundsync_warnings_open{{node=\"{}\",rule=\"{rule}\"}} ",
        node.cfg.code
    );
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(str::to_owned))
}

/// `fundsync_warnings_open{rule}` counts the open warnings of each rule and
/// goes back to 0 when the last of them resolves (it used to keep its last
/// value, so an alert on it never cleared); a rule with no warning yet reads
/// 0 too.
async fn the_open_warnings_gauge_returns_to_zero(engine: Engine) -> Result<()> {
    let node = TestNode::start_on(engine, &prefecture()).await?;
    let l = &node.ledger.ledger;
    l.submit_one(child("652822", "轮台县"), &clerk()).await?;
    l.submit_one(child("652823", "尉犁县"), &clerk()).await?;
    ensure!(open_gauge(&node, "node_silent").await?.as_deref() == Some("0"));
    let w1 = l
        .submit_one(
            raised("652822", "node_silent", "node:652822", "silent"),
            &clerk(),
        )
        .await?;
    let w2 = l
        .submit_one(
            raised("652823", "node_silent", "node:652823", "silent"),
            &clerk(),
        )
        .await?;
    ensure!(open_gauge(&node, "node_silent").await?.as_deref() == Some("2"));
    l.submit_one(resolved(w1.id(), "heard from"), &clerk())
        .await?;
    ensure!(open_gauge(&node, "node_silent").await?.as_deref() == Some("1"));
    l.submit_one(resolved(w2.id(), "heard from"), &clerk())
        .await?;
    let after = open_gauge(&node, "node_silent").await?;
    ensure!(
        after.as_deref() == Some("0"),
        "after the last resolution: {after:?}"
    );
    ensure!(open_gauge(&node, "idle_funds").await?.as_deref() == Some("0"));
    node.stop().await
}

async fn the_ledger_checks_warning_entries(engine: Engine) -> Result<()> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let l = &t.ledger;
    l.submit_one(child("652822", "轮台县"), &clerk()).await?;
    // About itself or a registered child only.
    let e = refused(l, raised("652823", "node_silent", "node:652823", "m")).await?;
    ensure!(matches!(e, LedgerError::WarningNode { .. }), "{e}");
    ensure!(e.code() == "not_a_child");
    let e = refused(l, raised("650000", "node_silent", "node:650000", "m")).await?;
    ensure!(matches!(e, LedgerError::WarningNode { .. }), "{e}");
    // Shapes.
    let e = refused(l, raised("652800", "Idle Funds", "s", "m")).await?;
    ensure!(matches!(e, LedgerError::Body(BodyError::Invalid(_))), "{e}");
    let e = refused(l, raised("652800", "idle_funds", " ", "m")).await?;
    ensure!(
        matches!(e, LedgerError::Body(BodyError::Empty { .. })),
        "{e}"
    );
    let e = refused(l, raised("652800", "idle_funds", "s", "")).await?;
    ensure!(
        matches!(e, LedgerError::Body(BodyError::Empty { .. })),
        "{e}"
    );
    let long = "x".repeat(TEXT_CHARS_MAX + 1);
    let e = refused(l, raised("652800", "idle_funds", &long, "m")).await?;
    ensure!(
        matches!(e, LedgerError::Body(BodyError::TooLong { .. })),
        "{e}"
    );
    let e = refused(l, resolved("652800-99".parse()?, "done")).await?;
    ensure!(matches!(e, LedgerError::UnknownWarning(_)), "{e}");
    ensure!(e.code() == "unknown_warning");

    // Raising the open warning again returns it; so does resolving twice.
    let w = l
        .submit_one(
            raised("652822", "node_silent", "node:652822", "silent"),
            &clerk(),
        )
        .await?;
    ensure!(matches!(w, Outcome::Created(_)));
    let again = l
        .submit_one(
            raised("652822", "node_silent", "node:652822", "other words"),
            &clerk(),
        )
        .await?;
    ensure!(again == Outcome::Existing(w.id()), "{again:?}");
    let e = refused(l, resolved(w.id(), "")).await?;
    ensure!(
        matches!(e, LedgerError::Body(BodyError::Empty { .. })),
        "{e}"
    );
    let r = l
        .submit_one(resolved(w.id(), "heard from"), &clerk())
        .await?;
    ensure!(matches!(r, Outcome::Created(_)));
    ensure!(l.submit_one(resolved(w.id(), "again"), &clerk()).await? == Outcome::Existing(r.id()));
    let v = l.warning(w.id(), None).await?.context("the warning")?;
    ensure!(
        !v.open
            && v.resolved_by == Some(r.id().to_string())
            && v.resolution.as_deref() == Some("heard from")
    );
    // Resolved, the same warning may be raised anew.
    let w2 = l
        .submit_one(
            raised("652822", "node_silent", "node:652822", "silent again"),
            &clerk(),
        )
        .await?;
    ensure!(matches!(w2, Outcome::Created(id) if id != w.id()));
    Ok(())
}

/// Signs `entries` as their origin and hands them to `l` as if `from` had
/// pushed them.
async fn push_up(
    l: &Ledger,
    key: &NodeKey,
    from: &str,
    entries: Vec<Entry>,
) -> Result<(), ReplicaError> {
    let cp = checkpoint_for(key, &entries, fixtures::NOW_MS).expect("entries");
    let batch = Batch::new(code(from), l.identity().code, entries, vec![cp]);
    l.receive_up(code(from), &batch).await.map(|_| ())
}

/// A prefecture with counties 652822 and 652823; 652822's signing key is
/// registered, so the test can speak for it.
async fn prefecture_with_county(engine: Engine) -> Result<(TestLedger, NodeKey)> {
    let t = fixtures::ledger(engine, &prefecture()).await?;
    let key = NodeKey::from_seed(&[22; 32]);
    t.ledger
        .submit(
            &[
                child("652822", "轮台县"),
                child("652823", "尉犁县"),
                Body::KeyRegistered(KeyRegistered::of(code("652822"), &key.verifying_key())),
            ],
            &clerk(),
        )
        .await?;
    Ok((t, key))
}

async fn warnings_roll_up_in_signed_batches(engine: Engine) -> Result<()> {
    let (t, key) = prefecture_with_county(engine).await?;
    let l = &t.ledger;
    let own = l
        .submit_one(
            raised("652800", "idle_funds", "allocation:650000-3", "own"),
            &clerk(),
        )
        .await?
        .id();
    let w1 = Entry::new(
        code("652822"),
        1,
        fixtures::NOW_MS,
        Hash::ZERO,
        &raised(
            "652822",
            "idle_funds",
            "allocation:652800-9",
            "a county's warning",
        ),
        &clerk(),
    );
    push_up(l, &key, "652822", vec![w1.clone()]).await?;
    let from_county = l
        .warnings(
            &WarningFilter {
                origin: Some(code("652822")),
                ..WarningFilter::default()
            },
            all(),
        )
        .await?
        .items;
    ensure!(from_county.len() == 1 && from_county[0].open && from_county[0].id == "652822-1");

    // A county warns about itself only: a warning about its sibling is
    // refused and nothing of the batch is applied.
    let sibling = Entry::new(
        code("652822"),
        2,
        fixtures::NOW_MS,
        w1.hash(),
        &raised("652823", "node_silent", "node:652823", "not mine to say"),
        &clerk(),
    );
    let before = journal_len(l).await?;
    let e = push_up(l, &key, "652822", vec![sibling]).await;
    ensure!(
        matches!(
            e,
            Err(ReplicaError::Ledger(LedgerError::Misdirected { .. }))
        ),
        "{e:?}"
    );
    ensure!(l
        .heads()
        .await?
        .iter()
        .any(|h| h.origin == code("652822") && h.seq == 1));
    ensure!(journal_len(l).await? == before);

    // The county resolves its own warning; resolving the prefecture's is
    // not in its power (applied as an entry, it changes nothing).
    let r1 = Entry::new(
        code("652822"),
        2,
        fixtures::NOW_MS,
        w1.hash(),
        &resolved(w1.id(), "spent"),
        &clerk(),
    );
    let r2 = Entry::new(
        code("652822"),
        3,
        fixtures::NOW_MS,
        r1.hash(),
        &resolved(own, "not yours"),
        &clerk(),
    );
    push_up(l, &key, "652822", vec![r1, r2]).await?;
    let v = l.warning(w1.id(), None).await?.context("county warning")?;
    ensure!(
        !v.open && v.resolved_by.as_deref() == Some("652822-2"),
        "{v:?}"
    );
    ensure!(l.warning(own, None).await?.context("own warning")?.open);
    // Nor may the prefecture resolve the county's.
    let e = refused(l, resolved(w1.id(), "mine now")).await?;
    ensure!(matches!(e, LedgerError::UnknownWarning(_)), "{e}");
    Ok(())
}

async fn silent_children_are_warned_about(engine: Engine) -> Result<()> {
    let (t, key) = prefecture_with_county(engine).await?;
    let l = &t.ledger;
    // Registered at the clock's now; nothing arrived from either county.
    let mut ev = Evaluator::new(l.clone(), cfg());
    evaluated(&mut ev, 0, 0).await?;
    t.clock.advance(DAY_MS);
    evaluated(&mut ev, 0, 0).await?;
    t.clock.advance(1);
    evaluated(&mut ev, 2, 0).await?;
    let w = listed(l, Rule::NodeSilent, Some(true)).await?;
    ensure!(
        w.len() == 2 && w.iter().all(|w| w.origin == "652800"),
        "{w:?}"
    );
    ensure!(w
        .iter()
        .any(|w| w.node == "652822" && w.subject == "node:652822"));

    // 652822 is heard from again; 652823 is revoked.
    let e = Entry::new(
        code("652822"),
        1,
        t.clock.now_ms(),
        Hash::ZERO,
        &Body::ProjectStatusChanged(ProjectStatusChanged {
            project: "P1".into(),
            status: ProjectStatus::Completed,
        }),
        &clerk(),
    );
    push_up(l, &key, "652822", vec![e]).await?;
    l.submit_one(
        Body::ChildRevoked(ChildRevoked {
            code: code("652823"),
            reason: "decommissioned".into(),
        }),
        &clerk(),
    )
    .await?;
    evaluated(&mut ev, 0, 2).await?;
    ensure!(listed(l, Rule::NodeSilent, Some(true)).await?.is_empty());
    // Silent again a day later.
    t.clock.advance(DAY_MS + 1);
    evaluated(&mut ev, 1, 0).await?;
    Ok(())
}

// ---- a running node: evaluated on change and on schedule; the API ----

/// A region node running `server::run` on `t`'s ledger, evaluating every
/// `every_ms`.
struct Running {
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), fundsync_node::server::StartError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(t: &TestLedger, every_ms: u64) -> Result<Running> {
        let dir = tempfile::tempdir()?;
        let id = t.ledger.identity();
        let mut c = Config::new(id.code, id.name.clone(), id.level);
        c.data_dir = dir.path().to_owned();
        c.warnings.debounce_ms = 20;
        c.warnings.evaluate_every_ms = every_ms;
        let token = fundsync_cluster::test_token(&t.ledger, &c).await?;
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/api/v1", api.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let l = t.ledger.clone();
        let task = tokio::spawn(async move {
            fundsync_node::server::run(l, &c, api, None, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Running {
            base,
            http: fundsync_cluster::bearer_client(&token)?,
            stop: Some(stop),
            task,
            _dir: dir,
        })
    }

    /// `GET /api/v1/warnings{q}`: the status and the JSON body.
    async fn get(&self, q: &str) -> Result<(u16, serde_json::Value)> {
        let r = self
            .http
            .get(format!("{}/warnings{q}", self.base))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// Waits until `GET /api/v1/warnings{q}` lists `n` warnings.
    async fn until(&self, q: &str, n: usize, what: &str) -> Result<serde_json::Value> {
        eventually(WAIT, what, || async {
            let (_, v) = self.get(q).await?;
            Ok((count(&v) == n).then_some(v))
        })
        .await
    }

    async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.await??;
        Ok(())
    }
}

fn count(v: &serde_json::Value) -> usize {
    v["items"].as_array().map_or(0, Vec::len)
}

/// A region with a prefecture, and funds received on 2020-06-20 that are
/// late on 2020-06-30 (the clock's today).
async fn region_with_late_funds() -> Result<TestLedger> {
    let t = fixtures::ledger(Engine::Sqlite, &region()).await?;
    t.ledger
        .submit(
            &[
                child("652800", "巴音郭楞蒙古自治州"),
                received("财农〔2020〕30号", "X-01", "800", "2020-06-20"),
            ],
            &clerk(),
        )
        .await?;
    Ok(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_node_evaluates_when_data_changes_and_lists_warnings() -> Result<()> {
    let t = region_with_late_funds().await?;
    // The schedule is an hour: only the first evaluation and writes count.
    let n = Running::start(&t, 3_600_000).await?;
    n.until("?rule=issue_deadline", 1, "the first evaluation")
        .await?;
    // A write: more late funds.
    t.ledger
        .submit_one(
            received("财农〔2020〕31号", "X-01", "900", "2020-06-21"),
            &clerk(),
        )
        .await?;
    let v = n
        .until(
            "?rule=issue_deadline&open=true",
            2,
            "an evaluation after the write",
        )
        .await?;
    ensure!(
        v["page"] == 1 && v["page_size"] == 100 && v["has_more"] == false,
        "{v}"
    );
    let w = &v["items"][0];
    ensure!(
        w["origin"] == "650000" && w["node"] == "650000" && w["open"] == true,
        "{w}"
    );
    ensure!(w["amount"] == "900.00" && w["as_of"] == "2020-06-30", "{w}");
    ensure!(
        w["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("allocation:650000-")),
        "{w}"
    );

    // Filters and pages.
    let (s, v) = n
        .get("?node=650000&origin=650000&open=true&page_size=1")
        .await?;
    ensure!(s == 200 && count(&v) == 1 && v["has_more"] == true, "{v}");
    let (_, v) = n.get("?node=650000&open=true&page=2&page_size=1").await?;
    ensure!(count(&v) == 1 && v["has_more"] == false, "{v}");
    for q in [
        "?node=652800",
        "?origin=652800",
        "?open=false",
        "?rule=node_silent",
    ] {
        let (s, v) = n.get(q).await?;
        ensure!(s == 200 && count(&v) == 0, "{q}: {v}");
    }

    // Refusals: a 400 with {"error", "message"}.
    for (q, says) in [
        ("?rule=idel_funds", "idle_funds"),
        ("?rule=", "unknown warning rule"),
        ("?node=65", ""),
        ("?origin=abcdef", ""),
        ("?open=maybe", ""),
        ("?page=-1", ""),
        ("?page_size=x", ""),
        ("?colour=red", "colour"),
    ] {
        let (s, v) = n.get(q).await?;
        ensure!(s == 400 && v["error"] == "invalid_query", "{q}: {s} {v}");
        let m = v["message"].as_str().unwrap_or_default();
        ensure!(!m.is_empty() && m.contains(says), "{q}: {m}");
    }
    n.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_node_evaluates_on_schedule_when_nothing_is_written() -> Result<()> {
    let t = region_with_late_funds().await?;
    // Due 2020-07-01: not late on 2020-06-30.
    t.ledger
        .submit_one(
            received("财农〔2020〕32号", "X-01", "700", "2020-06-26"),
            &clerk(),
        )
        .await?;
    let n = Running::start(&t, 1000).await?;
    n.until("?rule=issue_deadline", 1, "the first evaluation")
        .await?;
    // Two days pass without a write.
    t.clock.advance(2 * DAY_MS);
    let v = n
        .until("?rule=issue_deadline", 2, "an evaluation on schedule")
        .await?;
    ensure!(
        v["items"][0]["amount"] == "700.00" && v["items"][0]["as_of"] == "2020-07-02",
        "{v}"
    );
    n.stop().await
}

// ---- roll-up through a running tree ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_countys_warning_reaches_the_region() -> Result<()> {
    let c = Cluster::start(Engine::Sqlite, &small_tree()).await?;
    let county = c.ledger("652822");
    county
        .submit(
            &[
                Body::CategoryDefined(CategoryDefined {
                    code: "LT-01".into(),
                    name: "县级配套".into(),
                    origin: fundsync_protocol::FundOrigin::County,
                    department: String::new(),
                    classified: false,
                }),
                // Nodes here run on the real clock: money of 2020 untouched
                // since is idle (and spending is slow).
                Body::OwnBudgetAdded(OwnBudgetAdded {
                    doc_no: "轮财〔2020〕1号".into(),
                    category: "LT-01".into(),
                    amount: amount("50000"),
                    budgeted_on: day("2020-01-10"),
                    title: String::new(),
                }),
            ],
            &clerk(),
        )
        .await?;
    let http = c.node("650000").http();
    let url = format!(
        "{}?node=652822&rule=idle_funds&open=true",
        c.node("650000").api_url("/warnings")
    );
    let w = eventually(WAIT, "the county's warning at the region", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let v: serde_json::Value = http.get(url).send().await?.json().await?;
            Ok(v["items"].as_array().and_then(|a| a.first().cloned()))
        }
    })
    .await?;
    ensure!(w["origin"] == "652822" && w["amount"] == "50000.00", "{w}");
    // The prefecture in between holds it too.
    let at_prefecture = c
        .ledger("652800")
        .warnings(
            &WarningFilter {
                origin: Some(code("652822")),
                rule: Some("idle_funds".into()),
                ..WarningFilter::default()
            },
            all(),
        )
        .await?;
    ensure!(at_prefecture.items.len() == 1);
    c.shutdown().await?;
    Ok(())
}

// ---- the demo ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_2020_demo_raises_no_deadline_warning() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let demo = Demo::start(&DemoOptions {
        dir: dir.path().to_owned(),
        port_base: 0,
        host: "127.0.0.1".into(),
    })
    .await?;
    demo.replay().await?;
    demo.converged(Duration::from_secs(60)).await?;
    // Evaluate every node once more on the final data (the nodes' own
    // evaluators ran during the replay), the way the demo configures them.
    let demo_cfg = WarningsConfig {
        as_of: AsOf::Latest,
        ..WarningsConfig::default()
    };
    let mut summary = Vec::new();
    for n in demo.nodes.values() {
        let r = Evaluator::new(n.ledger.clone(), demo_cfg.clone())
            .evaluate()
            .await?;
        ensure!(
            r.as_of >= day("2020-06-04"),
            "{}: as of {}",
            n.code,
            r.as_of
        );
        let deadline = listed(&n.ledger, Rule::IssueDeadline, None).await?;
        ensure!(deadline.is_empty(), "{}: {deadline:#?}", n.code);
        summary.push(format!(
            "{} {:?}",
            n.code,
            warnings::open_counts(&n.ledger).await?
        ));
    }
    demo.converged(Duration::from_secs(60)).await?;
    let region = demo.region().context("region")?;
    ensure!(listed(&region.ledger, Rule::IssueDeadline, None)
        .await?
        .is_empty());
    eprintln!("open warnings in the demo:\n{}", summary.join("\n"));
    demo.stop().await;
    Ok(())
}
