//! The rules as pure functions: plain facts in, findings out; then the plan
//! that turns findings and the warnings already raised into entries.
//!
//! Money is integer fen with checked arithmetic; percentages are `Decimal`.
//! A threshold is crossed only when exceeded ("more than N days"), so a
//! batch issued on the fifth day after receipt is on time.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use fundsync_protocol::body::{ProjectStatus, TargetOp, TEXT_CHARS_MAX};
use fundsync_protocol::money::fen_to_yuan;
use fundsync_protocol::{EntryId, NodeCode};
use rust_decimal::Decimal;

use super::render::{self, params, Params};
use super::{Rule, WarningsConfig};

/// Why the rules could not be evaluated. The rules are pure arithmetic over
/// facts, so the only failure is a sum that does not fit; the caller maps
/// it to its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("a sum of amounts overflows")]
    Overflow,
}

/// What kind of money an allocation row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocKind {
    /// Funds from the centre, registered by the top node.
    Received,
    /// The node's own budget (本级安排).
    OwnBudget,
    /// Issued to this node by its parent.
    Issued,
}

/// An allocation this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocFacts {
    pub id: EntryId,
    pub kind: AllocKind,
    pub doc_no: String,
    pub category: String,
    pub dated: NaiveDate,
    pub amount_fen: i64,
    pub issued_fen: i64,
    pub paid_fen: i64,
    /// Allocations issued down from it: (date, fen).
    pub issues: Vec<(NaiveDate, i64)>,
    /// Paid from it per day, net of reversals (a reversal counts on its date).
    pub paid_days: Vec<(NaiveDate, i64)>,
}

impl AllocFacts {
    fn balance_fen(&self) -> Result<i64, RuleError> {
        self.amount_fen
            .checked_sub(self.issued_fen)
            .and_then(|v| v.checked_sub(self.paid_fen))
            .ok_or(RuleError::Overflow)
    }

    /// The values naming it in a warning.
    fn named(&self) -> [(&'static str, String); 2] {
        [
            ("doc_no", self.doc_no.clone()),
            ("category", self.category.clone()),
        ]
    }

    /// Issues and payments from it, by date.
    fn outflows(&self) -> impl Iterator<Item = &(NaiveDate, i64)> {
        self.issues.iter().chain(self.paid_days.iter())
    }
}

/// A project of this node's library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFacts {
    pub id: EntryId,
    pub code: String,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub budget_fen: i64,
    pub paid_fen: i64,
    pub cancelled: bool,
    pub target_count: i64,
}

/// A performance target of one of this node's projects, with its latest
/// actual (the value in force: an adjustment counts once approved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFacts {
    pub id: EntryId,
    pub project: String,
    pub project_name: String,
    /// The project's status (`completed`, `in_progress`, …).
    pub status: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub indicator: String,
    pub op: TargetOp,
    pub value: Decimal,
    pub unit: String,
    pub actual: Option<Decimal>,
}

/// A payment this node recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFacts {
    pub id: EntryId,
    pub voucher_no: String,
    pub paid_on: NaiveDate,
    pub amount_fen: i64,
    pub allocation: EntryId,
    pub project: String,
    pub payee_name: String,
    pub payee_account: String,
    pub reversed: bool,
}

impl PaymentFacts {
    /// Who was paid: the account if the voucher names one, else the name.
    fn payee_key(&self) -> &str {
        let a = self.payee_account.trim();
        if a.is_empty() {
            self.payee_name.trim()
        } else {
            a
        }
    }

    fn payee(&self) -> String {
        if self.payee_account.trim().is_empty() {
            self.payee_name.trim().to_owned()
        } else {
            format!("{} ({})", self.payee_name.trim(), self.payee_account.trim())
        }
    }
}

/// A direct child of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFacts {
    pub code: NodeCode,
    pub name: String,
    /// When its latest entry was written (its clock), or, if none has
    /// arrived, when it was registered.
    pub last_heard_ms: Option<i64>,
    pub revoked: bool,
}

/// Everything the rules look at, for one node.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub me: NodeCode,
    pub has_children: bool,
    /// The business date the rules take as today.
    pub today: NaiveDate,
    /// Wall-clock time, for `node_silent`.
    pub now_ms: i64,
    pub allocations: &'a [AllocFacts],
    pub projects: &'a [ProjectFacts],
    pub targets: &'a [TargetFacts],
    pub payments: &'a [PaymentFacts],
    pub children: &'a [ChildFacts],
}

/// A rule's finding: a condition that holds now, or held in the past only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub subject: String,
    pub node: NodeCode,
    /// What the rule found, as named values: what readers render.
    pub params: Params,
    /// The English rendering of `params`, for the entry's `message`.
    pub message: String,
    pub amount_fen: Option<i64>,
    /// `Some(why it is over)` if the condition held only in the past: it is
    /// recorded once, raised and resolved together.
    pub past: Option<String>,
}

/// Runs every rule.
pub fn evaluate(f: &Facts<'_>, cfg: &WarningsConfig) -> Result<Vec<Finding>, RuleError> {
    let mut out = Vec::new();
    issue_deadline(f, cfg, &mut out)?;
    idle_funds(f, cfg, &mut out)?;
    slow_spending(f, cfg, &mut out)?;
    overspend(f, &mut out)?;
    unmatched_payment(f, &mut out);
    duplicate_payment(f, &mut out)?;
    split_payments(f, cfg, &mut out)?;
    negative_list(f, cfg, &mut out);
    missing_target(f, cfg, &mut out);
    node_silent(f, cfg, &mut out);
    target_deviation(f, cfg, &mut out);
    Ok(out)
}

fn sum(mut it: impl Iterator<Item = i64>) -> Result<i64, RuleError> {
    it.try_fold(0i64, |a, b| a.checked_add(b))
        .ok_or(RuleError::Overflow)
}

fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    to.signed_duration_since(from).num_days()
}

fn add_days(d: NaiveDate, n: u32) -> Option<NaiveDate> {
    d.checked_add_days(Days::new(u64::from(n)))
}

/// `part` as a percentage of `whole` (> 0).
fn pct(part: i64, whole: i64) -> Option<Decimal> {
    Decimal::from(part)
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(Decimal::from(whole))
}

fn finding(rule: Rule, subject: String, node: NodeCode, params: Params) -> Finding {
    let message = render::render(rule.as_str(), &params, render::Lang::En).unwrap_or_default();
    Finding {
        rule,
        subject: clip(&subject),
        node,
        // A value too long for an entry is cut; the message says the rest.
        params: params.into_iter().map(|(k, v)| (k, clip(&v))).collect(),
        message: clip(&message),
        amount_fen: None,
        past: None,
    }
}

fn yuan(fen: i64) -> String {
    fen_to_yuan(fen).to_string()
}

/// Fits text into a body's text field: no control characters, at most
/// `TEXT_CHARS_MAX` characters (cut with "…").
pub fn clip(s: &str) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= TEXT_CHARS_MAX {
        return clean;
    }
    let mut out: String = clean.chars().take(TEXT_CHARS_MAX - 1).collect();
    out.push('…');
    out
}

/// Names a few items and counts the rest, so a message stays short: the
/// `vouchers` and `vouchers_more` values.
fn few(items: &[String]) -> [(&'static str, String); 2] {
    const SHOWN: usize = 5;
    let s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if items.len() > SHOWN {
        (items.len() - SHOWN).to_string()
    } else {
        String::new()
    };
    [("vouchers", s), ("vouchers_more", more)]
}

/// 超时滞留: a node with children must pass on (or spend) all of an
/// allocation it receives within `issue_deadline_days` of its date.
/// Compares the allocation's date with the dates of what was issued and
/// paid from it; today only decides whether the deadline has passed.
fn issue_deadline(
    f: &Facts<'_>,
    cfg: &WarningsConfig,
    out: &mut Vec<Finding>,
) -> Result<(), RuleError> {
    if !f.has_children {
        return Ok(());
    }
    let n = cfg.issue_deadline_days;
    for a in f
        .allocations
        .iter()
        .filter(|a| a.kind != AllocKind::OwnBudget)
    {
        let Some(deadline) = add_days(a.dated, n) else {
            continue;
        };
        if f.today <= deadline {
            continue;
        }
        let done_by_deadline = sum(a
            .outflows()
            .filter(|(d, _)| *d <= deadline)
            .map(|(_, fen)| *fen))?;
        let late = a
            .amount_fen
            .checked_sub(done_by_deadline)
            .ok_or(RuleError::Overflow)?;
        if late <= 0 {
            continue;
        }
        let balance = a.balance_fen()?;
        let [doc, cat] = a.named();
        let subject = format!("allocation:{}", a.id);
        let base = |amount: i64, days: String| {
            params([
                doc.clone(),
                cat.clone(),
                ("received", a.dated.to_string()),
                ("amount", yuan(amount)),
                ("days", days),
                ("deadline_days", n.to_string()),
                ("deadline", deadline.to_string()),
            ])
        };
        let w = if balance > 0 {
            let days = days_between(a.dated, f.today).to_string();
            let mut w = finding(Rule::IssueDeadline, subject, f.me, base(balance, days));
            w.amount_fen = Some(balance);
            w
        } else {
            // Passed on in full, but late: when did it complete?
            let mut flows: Vec<(NaiveDate, i64)> = a.outflows().copied().collect();
            flows.sort();
            let mut done = 0i64;
            let mut done_on = f.today;
            for (d, fen) in flows {
                done = done.checked_add(fen).ok_or(RuleError::Overflow)?;
                if done >= a.amount_fen {
                    done_on = d;
                    break;
                }
            }
            let mut w = finding(
                Rule::IssueDeadline,
                subject,
                f.me,
                base(late, String::new()),
            );
            w.amount_fen = Some(late);
            w.past = Some(format!(
                "passed on in full on {done_on}, {} days after receipt",
                days_between(a.dated, done_on)
            ));
            w
        };
        out.push(w);
    }
    Ok(())
}

/// 闲置: a balance with no payment or issue for more than `idle_days`, or
/// still held in the last `year_end_days` of the year.
fn idle_funds(
    f: &Facts<'_>,
    cfg: &WarningsConfig,
    out: &mut Vec<Finding>,
) -> Result<(), RuleError> {
    let dec31 = NaiveDate::from_ymd_opt(f.today.year(), 12, 31);
    let window_start =
        dec31.and_then(|d| d.checked_sub_days(Days::new(u64::from(cfg.year_end_days))));
    for a in f.allocations.iter().filter(|a| a.dated <= f.today) {
        let balance = a.balance_fen()?;
        if balance <= 0 {
            continue;
        }
        let last = a
            .outflows()
            .filter(|(d, fen)| *d <= f.today && *fen != 0)
            .map(|(d, _)| *d)
            .fold(a.dated, NaiveDate::max);
        let idle = days_between(last, f.today);
        let (mut since, mut idle_days, mut year_end) =
            (String::new(), String::new(), String::new());
        if idle > i64::from(cfg.idle_days) {
            since = last.to_string();
            idle_days = idle.to_string();
        }
        if let (Some(start), Some(end)) = (window_start.filter(|_| cfg.year_end_days > 0), dec31) {
            if f.today >= start && a.dated < start {
                year_end = days_between(f.today, end).to_string();
            }
        }
        if since.is_empty() && year_end.is_empty() {
            continue;
        }
        let [doc, cat] = a.named();
        let mut w = finding(
            Rule::IdleFunds,
            format!("allocation:{}", a.id),
            f.me,
            params([
                doc,
                cat,
                ("amount", yuan(balance)),
                ("since", since),
                ("idle_days", idle_days),
                ("year_end_days", year_end),
            ]),
        );
        w.amount_fen = Some(balance);
        out.push(w);
    }
    Ok(())
}

/// 支出进度慢于序时进度: spending progress (issued and paid ÷ amount) trails
/// time-elapsed progress by more than `slow_spending_points`. Time elapses
/// from 1 January, or from the allocation's date if later, to 31 December:
/// money that arrived in June is measured against the rest of the year.
fn slow_spending(
    f: &Facts<'_>,
    cfg: &WarningsConfig,
    out: &mut Vec<Finding>,
) -> Result<(), RuleError> {
    let year = f.today.year();
    let (Some(jan1), Some(dec31)) = (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    ) else {
        return Ok(());
    };
    let points = Decimal::from(cfg.slow_spending_points);
    for a in f
        .allocations
        .iter()
        .filter(|a| a.dated <= f.today && a.amount_fen > 0)
    {
        let balance = a.balance_fen()?;
        if balance <= 0 {
            continue;
        }
        let start = a.dated.max(jan1);
        let total_days = days_between(start, dec31).saturating_add(1);
        let elapsed_days = days_between(start, f.today).saturating_add(1);
        let spent = a
            .issued_fen
            .checked_add(a.paid_fen)
            .ok_or(RuleError::Overflow)?;
        let (Some(elapsed), Some(progress)) =
            (pct(elapsed_days, total_days), pct(spent, a.amount_fen))
        else {
            return Err(RuleError::Overflow);
        };
        let gap = elapsed.checked_sub(progress).ok_or(RuleError::Overflow)?;
        if gap <= points {
            continue;
        }
        let [doc, cat] = a.named();
        let mut w = finding(
            Rule::SlowSpending,
            format!("allocation:{}", a.id),
            f.me,
            params([
                doc,
                cat,
                ("progress", progress.round_dp(2).to_string()),
                ("gap", gap.round_dp(2).to_string()),
                ("elapsed", elapsed.round_dp(2).to_string()),
                ("allowed", cfg.slow_spending_points.to_string()),
                ("amount", yuan(balance)),
            ]),
        );
        w.amount_fen = Some(balance);
        out.push(w);
    }
    Ok(())
}

/// 超支: payments above a project's budget; issued and paid above an
/// allocation's amount (the ledger refuses that, so it would mean a
/// corrupt replica).
fn overspend(f: &Facts<'_>, out: &mut Vec<Finding>) -> Result<(), RuleError> {
    for p in f.projects {
        let over = p
            .paid_fen
            .checked_sub(p.budget_fen)
            .ok_or(RuleError::Overflow)?;
        if over > 0 {
            let mut w = finding(
                Rule::Overspend,
                format!("project:{}", p.code),
                f.me,
                params([
                    ("project", p.code.clone()),
                    ("name", p.name.clone()),
                    ("paid", yuan(p.paid_fen)),
                    ("amount", yuan(over)),
                    ("budget", yuan(p.budget_fen)),
                ]),
            );
            w.amount_fen = Some(over);
            out.push(w);
        }
    }
    for a in f.allocations {
        let over = a.balance_fen()?.checked_neg().ok_or(RuleError::Overflow)?;
        if over > 0 {
            let mut w = finding(Rule::Overspend, format!("allocation:{}", a.id), f.me, {
                let [doc, cat] = a.named();
                params([
                    doc,
                    cat,
                    ("amount", yuan(over)),
                    ("allocated", yuan(a.amount_fen)),
                ])
            });
            w.amount_fen = Some(over);
            out.push(w);
        }
    }
    Ok(())
}

/// A payment that does not match: its allocation is not one this node
/// holds or is dated after the payment; its project is not in the library,
/// was cancelled, or starts after the payment. (The ledger checks the
/// allocation and project exist when a payment is recorded; cancellation
/// and dates it does not judge.)
fn unmatched_payment(f: &Facts<'_>, out: &mut Vec<Finding>) {
    let allocs: HashMap<EntryId, &AllocFacts> = f.allocations.iter().map(|a| (a.id, a)).collect();
    let projects: HashMap<&str, &ProjectFacts> =
        f.projects.iter().map(|p| (p.code.as_str(), p)).collect();
    for p in f.payments.iter().filter(|p| !p.reversed) {
        let mut why = params([
            ("voucher", p.voucher_no.clone()),
            ("paid_on", p.paid_on.to_string()),
            ("amount", yuan(p.amount_fen)),
            ("payee", p.payee()),
        ]);
        let base = why.len();
        let mut put = |k: &str, v: String| {
            why.insert(k.to_owned(), v);
        };
        match allocs.get(&p.allocation) {
            None => put("unknown_allocation", p.allocation.to_string()),
            Some(a) if p.paid_on < a.dated => {
                put("allocation_doc", a.doc_no.clone());
                put("allocation_dated", a.dated.to_string());
            }
            Some(_) => {}
        }
        match projects.get(p.project.as_str()) {
            None => put("unknown_project", p.project.clone()),
            Some(pr) => {
                if pr.cancelled {
                    put("cancelled_project", pr.code.clone());
                }
                if p.paid_on < pr.starts_on {
                    put("late_project", pr.code.clone());
                    put("project_starts_on", pr.starts_on.to_string());
                }
            }
        }
        if why.len() == base {
            continue;
        }
        let mut w = finding(
            Rule::UnmatchedPayment,
            format!("payment:{}", p.id),
            f.me,
            why,
        );
        w.amount_fen = Some(p.amount_fen);
        out.push(w);
    }
}

/// The same payee, amount and day under two or more vouchers (虚报冒领: a
/// claim paid twice). The subject is the first voucher of the group.
fn duplicate_payment(f: &Facts<'_>, out: &mut Vec<Finding>) -> Result<(), RuleError> {
    let mut groups: BTreeMap<(&str, i64, NaiveDate), Vec<&PaymentFacts>> = BTreeMap::new();
    for p in f.payments.iter().filter(|p| !p.reversed) {
        groups
            .entry((p.payee_key(), p.amount_fen, p.paid_on))
            .or_default()
            .push(p);
    }
    for ((_, amount, day), mut ps) in groups {
        if ps.len() < 2 {
            continue;
        }
        ps.sort_by_key(|p| p.id);
        let first = ps[0];
        let extra = i64::try_from(ps.len() - 1).map_err(|_| RuleError::Overflow)?;
        let vouchers: Vec<String> = ps.iter().map(|p| p.voucher_no.clone()).collect();
        let [vs, more] = few(&vouchers);
        let mut w = finding(
            Rule::DuplicatePayment,
            format!("payment:{}", first.id),
            f.me,
            params([
                ("count", ps.len().to_string()),
                ("each", yuan(amount)),
                ("payee", first.payee()),
                ("paid_on", day.to_string()),
                vs,
                more,
            ]),
        );
        w.amount_fen = Some(amount.checked_mul(extra).ok_or(RuleError::Overflow)?);
        out.push(w);
    }
    Ok(())
}

/// 拆分支付: at least `split_count` payments to one payee within
/// `split_window_days`, each within `split_margin_pct` percent below
/// `split_payment_limit`.
fn split_payments(
    f: &Facts<'_>,
    cfg: &WarningsConfig,
    out: &mut Vec<Finding>,
) -> Result<(), RuleError> {
    let limit = cfg.split_payment_limit.fen();
    let margin = i64::from(cfg.split_margin_pct.min(100));
    let low = limit
        .checked_mul(100 - margin)
        .map(|v| v / 100)
        .ok_or(RuleError::Overflow)?;
    let count = usize::try_from(cfg.split_count.max(2)).unwrap_or(usize::MAX);
    let window = i64::from(cfg.split_window_days.max(1));
    let mut by_payee: BTreeMap<&str, Vec<&PaymentFacts>> = BTreeMap::new();
    for p in f
        .payments
        .iter()
        .filter(|p| !p.reversed && p.amount_fen >= low && p.amount_fen < limit)
    {
        by_payee.entry(p.payee_key()).or_default().push(p);
    }
    for (payee, mut ps) in by_payee {
        if ps.len() < count {
            continue;
        }
        ps.sort_by_key(|p| (p.paid_on, p.id));
        // The widest window: most payments within `window` days.
        let mut best: Option<(usize, usize)> = None;
        let mut i = 0;
        for j in 0..ps.len() {
            while days_between(ps[i].paid_on, ps[j].paid_on) >= window {
                i += 1;
            }
            let n = j + 1 - i;
            if n >= count && best.is_none_or(|(bi, bj)| n > bj + 1 - bi) {
                best = Some((i, j));
            }
        }
        let Some((i, j)) = best else { continue };
        let run = &ps[i..=j];
        let total = sum(run.iter().map(|p| p.amount_fen))?;
        let vouchers: Vec<String> = run.iter().map(|p| p.voucher_no.clone()).collect();
        let [vs, more] = few(&vouchers);
        let mut w = finding(
            Rule::SplitPayments,
            format!("payee:{payee}"),
            f.me,
            params([
                ("count", run.len().to_string()),
                ("payee", run[0].payee()),
                ("from", run[0].paid_on.to_string()),
                ("to", run[run.len() - 1].paid_on.to_string()),
                ("limit", yuan(limit)),
                ("amount", yuan(total)),
                vs,
                more,
            ]),
        );
        w.amount_fen = Some(total);
        out.push(w);
    }
    Ok(())
}

fn normal(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// 负面清单: a payment to a payee whose name or account is on the list.
fn negative_list(f: &Facts<'_>, cfg: &WarningsConfig, out: &mut Vec<Finding>) {
    let list: HashSet<String> = cfg
        .negative_list
        .iter()
        .map(|s| normal(s))
        .filter(|s| !s.is_empty())
        .collect();
    if list.is_empty() {
        return;
    }
    for p in f.payments.iter().filter(|p| !p.reversed) {
        let hit = [&p.payee_name, &p.payee_account]
            .into_iter()
            .map(|s| normal(s))
            .find(|s| !s.is_empty() && list.contains(s));
        if let Some(hit) = hit {
            let mut w = finding(
                Rule::NegativeList,
                format!("payment:{}", p.id),
                f.me,
                params([
                    ("voucher", p.voucher_no.clone()),
                    ("paid_on", p.paid_on.to_string()),
                    ("amount", yuan(p.amount_fen)),
                    ("payee", p.payee()),
                    ("listed", hit),
                ]),
            );
            w.amount_fen = Some(p.amount_fen);
            out.push(w);
        }
    }
}

/// 缺少绩效目标: a project (not cancelled) still without a performance
/// target more than `missing_target_days` after it started (seed 003 §7: a
/// project needs one to be in the library at all).
fn missing_target(f: &Facts<'_>, cfg: &WarningsConfig, out: &mut Vec<Finding>) {
    for p in f
        .projects
        .iter()
        .filter(|p| !p.cancelled && p.target_count == 0)
    {
        let days = days_between(p.starts_on, f.today);
        if days > i64::from(cfg.missing_target_days) {
            out.push(finding(
                Rule::MissingTarget,
                format!("project:{}", p.code),
                f.me,
                params([
                    ("project", p.code.clone()),
                    ("name", p.name.clone()),
                    ("starts_on", p.starts_on.to_string()),
                    ("days", days.to_string()),
                ]),
            ));
        }
    }
}

/// 绩效目标偏离 (seed 003 第十条: 实际执行与预期绩效目标发生偏离时，及时予以
/// 纠正), about a target of a project under way or completed:
///
/// - on a completed project, a target whose latest actual does not meet
///   it (short of a floor, ≥ >, or past a ceiling, ≤ <);
/// - during a project (in progress, today within its run), a target to
///   reach (≥, >) whose actual is behind time-elapsed progress (序时进度:
///   days since the start over the project's days) by more than
///   `slow_spending_points`, or a ceiling (≤, <) its actual is already past
///   (`case` `ceiling`);
/// - a target with no actual reported by its due date (`case` `missing`):
///   the project's end or the end of the year it starts in, whichever is
///   first (the year-end self-evaluation needs every actual), or at once
///   when the project is completed.
fn target_deviation(f: &Facts<'_>, cfg: &WarningsConfig, out: &mut Vec<Finding>) {
    let two = |d: Decimal| {
        let mut d = d.round_dp(2);
        d.rescale(2);
        d.to_string()
    };
    let completed = ProjectStatus::Completed.as_str();
    let in_progress = ProjectStatus::InProgress.as_str();
    for t in f.targets {
        let subject = format!("target:{}", t.id);
        let base = |actual: Option<Decimal>| {
            params([
                ("project", t.project.clone()),
                ("name", t.project_name.clone()),
                ("indicator", t.indicator.clone()),
                ("op", t.op.as_str().to_owned()),
                ("target", t.value.normalize().to_string()),
                (
                    "actual",
                    actual
                        .map(|a| a.normalize().to_string())
                        .unwrap_or_default(),
                ),
                ("unit", t.unit.clone()),
            ])
        };
        let Some(actual) = t.actual else {
            if t.status != completed && t.status != in_progress {
                continue;
            }
            let year_end = NaiveDate::from_ymd_opt(t.starts_on.year(), 12, 31);
            let due = year_end.map_or(t.ends_on, |y| y.min(t.ends_on));
            if t.status == completed || f.today > due {
                let mut p = base(None);
                p.extend(params([
                    ("case", "missing".to_owned()),
                    ("due", due.min(f.today).to_string()),
                ]));
                out.push(finding(Rule::TargetDeviation, subject, f.me, p));
            }
            continue;
        };
        let met = t.op.met(actual, t.value);
        if t.status == completed {
            if !met {
                out.push(finding(
                    Rule::TargetDeviation,
                    subject,
                    f.me,
                    base(Some(actual)),
                ));
            }
            continue;
        }
        if t.status != in_progress || f.today < t.starts_on || f.today >= t.ends_on {
            continue;
        }
        if matches!(t.op, TargetOp::AtMost | TargetOp::Below) {
            if !met {
                let mut p = base(Some(actual));
                p.extend(params([("case", "ceiling".to_owned())]));
                out.push(finding(Rule::TargetDeviation, subject, f.me, p));
            }
            continue;
        }
        let reaching = matches!(t.op, TargetOp::AtLeast | TargetOp::Above);
        if !reaching || t.value <= Decimal::ZERO {
            continue;
        }
        let run = days_between(t.starts_on, t.ends_on);
        let (Some(elapsed), Some(progress)) = (
            pct(days_between(t.starts_on, f.today), run.max(1)),
            actual
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|a| a.checked_div(t.value)),
        ) else {
            continue;
        };
        let Some(gap) = elapsed.checked_sub(progress) else {
            continue;
        };
        if gap > Decimal::from(cfg.slow_spending_points) {
            let mut p = base(Some(actual));
            p.extend(params([
                ("elapsed", two(elapsed)),
                ("progress", two(progress)),
                ("gap", two(gap)),
                ("allowed", cfg.slow_spending_points.to_string()),
            ]));
            out.push(finding(Rule::TargetDeviation, subject, f.me, p));
        }
    }
}

/// 失联: a child (not revoked) from which nothing has arrived for more than
/// `node_silent_hours`. Its link reports are a heartbeat, so a healthy
/// child is heard from every few minutes.
fn node_silent(f: &Facts<'_>, cfg: &WarningsConfig, out: &mut Vec<Finding>) {
    let limit_ms = i64::from(cfg.node_silent_hours).saturating_mul(3_600_000);
    for c in f.children.iter().filter(|c| !c.revoked) {
        let Some(last) = c.last_heard_ms else {
            continue;
        };
        let silent_ms = f.now_ms.saturating_sub(last);
        if silent_ms <= limit_ms {
            continue;
        }
        let since = DateTime::<Utc>::from_timestamp_millis(last)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        out.push(finding(
            Rule::NodeSilent,
            format!("node:{}", c.code),
            c.code,
            params([
                ("node", c.code.to_string()),
                ("name", c.name.clone()),
                ("hours", (silent_ms / 3_600_000).to_string()),
                ("since", since),
                ("allowed", cfg.node_silent_hours.to_string()),
            ]),
        ));
    }
}

// ---- the plan ----

/// A warning this node raised before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub id: EntryId,
    pub rule: String,
    pub subject: String,
    pub open: bool,
}

/// What to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Raise a warning.
    Raise(Finding),
    /// Raise a warning about a past condition and resolve it at once.
    RaiseResolved(Finding, String),
    /// Resolve an open warning.
    Resolve { warning: EntryId, reason: String },
}

/// Diffs findings against the warnings raised before: a finding without an
/// open warning is raised; an open warning without a finding is resolved; a
/// past finding resolves its open warning, or is recorded once if there
/// never was one. Warnings of rules this release does not know are left
/// alone.
pub fn plan(findings: Vec<Finding>, known: &[Known], today: NaiveDate) -> Vec<Action> {
    let open: HashMap<(&str, &str), EntryId> = known
        .iter()
        .filter(|k| k.open)
        .map(|k| ((k.rule.as_str(), k.subject.as_str()), k.id))
        .collect();
    let ever: HashSet<(&str, &str)> = known
        .iter()
        .map(|k| (k.rule.as_str(), k.subject.as_str()))
        .collect();
    let mut seen: HashSet<(Rule, String)> = HashSet::new();
    let mut out = Vec::new();
    for f in findings {
        if !seen.insert((f.rule, f.subject.clone())) {
            continue;
        }
        let key = (f.rule.as_str(), f.subject.as_str());
        match (&f.past, open.get(&key)) {
            (None, Some(_)) => {}
            (None, None) => out.push(Action::Raise(f)),
            (Some(why), Some(id)) => out.push(Action::Resolve {
                warning: *id,
                reason: clip(&format!("{why} (as of {today})")),
            }),
            (Some(why), None) if !ever.contains(&key) => {
                let reason = clip(why);
                out.push(Action::RaiseResolved(f, reason));
            }
            (Some(_), None) => {}
        }
    }
    let mut cleared: Vec<(EntryId, Rule)> = known
        .iter()
        .filter(|k| k.open)
        .filter_map(|k| {
            let rule: Rule = k.rule.parse().ok()?;
            (!seen.contains(&(rule, k.subject.clone()))).then_some((k.id, rule))
        })
        .collect();
    cleared.sort();
    for (id, rule) in cleared {
        out.push(Action::Resolve {
            warning: id,
            reason: format!("{} (as of {today})", rule.cleared()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }
    fn id(s: &str) -> EntryId {
        s.parse().expect("entry id")
    }
    fn code(s: &str) -> NodeCode {
        s.parse().expect("code")
    }
    fn yuan(fen: i64) -> i64 {
        fen * 100
    }

    fn alloc(kind: AllocKind, dated: &str, amount: i64) -> AllocFacts {
        AllocFacts {
            id: id("650000-7"),
            kind,
            doc_no: "新财农〔2020〕27号".into(),
            category: "X-01".into(),
            dated: day(dated),
            amount_fen: yuan(amount),
            issued_fen: 0,
            paid_fen: 0,
            issues: Vec::new(),
            paid_days: Vec::new(),
        }
    }

    impl AllocFacts {
        fn issue(mut self, on: &str, amount: i64) -> Self {
            self.issues.push((day(on), yuan(amount)));
            self.issued_fen += yuan(amount);
            self
        }
        fn pay(mut self, on: &str, amount: i64) -> Self {
            self.paid_days.push((day(on), yuan(amount)));
            self.paid_fen += yuan(amount);
            self
        }
    }

    struct World {
        me: NodeCode,
        has_children: bool,
        today: NaiveDate,
        now_ms: i64,
        allocations: Vec<AllocFacts>,
        projects: Vec<ProjectFacts>,
        targets: Vec<TargetFacts>,
        payments: Vec<PaymentFacts>,
        children: Vec<ChildFacts>,
    }

    impl World {
        fn new(me: &str, has_children: bool, today: &str) -> World {
            World {
                me: code(me),
                has_children,
                today: day(today),
                now_ms: 1_600_000_000_000,
                allocations: Vec::new(),
                projects: Vec::new(),
                targets: Vec::new(),
                payments: Vec::new(),
                children: Vec::new(),
            }
        }
        fn run(&self, cfg: &WarningsConfig) -> Vec<Finding> {
            evaluate(
                &Facts {
                    me: self.me,
                    has_children: self.has_children,
                    today: self.today,
                    now_ms: self.now_ms,
                    allocations: &self.allocations,
                    projects: &self.projects,
                    targets: &self.targets,
                    payments: &self.payments,
                    children: &self.children,
                },
                cfg,
            )
            .expect("no overflow")
        }
        fn rule(&self, cfg: &WarningsConfig, rule: Rule) -> Vec<Finding> {
            self.run(cfg)
                .into_iter()
                .filter(|f| f.rule == rule)
                .collect()
        }
    }

    fn cfg() -> WarningsConfig {
        WarningsConfig::default()
    }

    // ---- issue deadline ----

    #[test]
    fn deadline_fires_after_the_fifth_day_not_on_it() {
        let mut w = World::new("650000", true, "2020-04-27");
        w.allocations
            .push(alloc(AllocKind::Received, "2020-04-22", 9547));
        // On the fifth day it is not late yet.
        assert!(w.rule(&cfg(), Rule::IssueDeadline).is_empty());
        w.today = day("2020-04-28");
        let f = w.rule(&cfg(), Rule::IssueDeadline);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "allocation:650000-7");
        assert_eq!(f[0].amount_fen, Some(yuan(9547)));
        assert!(f[0].past.is_none());
        assert!(
            f[0].message.contains("9547.00 yuan not passed on 6 days"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn deadline_counts_what_was_issued_or_paid_by_the_deadline() {
        let mut w = World::new("652800", true, "2020-06-30");
        // Issued in full on day 5: on time.
        w.allocations.push(
            alloc(AllocKind::Issued, "2020-04-22", 1000)
                .issue("2020-04-24", 600)
                .issue("2020-04-27", 400),
        );
        assert!(w.rule(&cfg(), Rule::IssueDeadline).is_empty());
        // Part spent by the node itself counts too.
        w.allocations[0] = alloc(AllocKind::Issued, "2020-04-22", 1000)
            .issue("2020-04-24", 600)
            .pay("2020-04-25", 400);
        assert!(w.rule(&cfg(), Rule::IssueDeadline).is_empty());
        // One yuan short by the deadline, still held: fires for the balance.
        w.allocations[0] = alloc(AllocKind::Issued, "2020-04-22", 1000).issue("2020-04-24", 999);
        let f = w.rule(&cfg(), Rule::IssueDeadline);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].amount_fen, Some(yuan(1)));
    }

    #[test]
    fn deadline_passed_late_in_full_is_a_past_finding() {
        let mut w = World::new("652800", true, "2020-06-30");
        w.allocations.push(
            alloc(AllocKind::Issued, "2020-04-22", 1000)
                .issue("2020-04-24", 600)
                .issue("2020-05-02", 400),
        );
        let f = w.rule(&cfg(), Rule::IssueDeadline);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].amount_fen, Some(yuan(400)));
        assert_eq!(
            f[0].past.as_deref(),
            Some("passed on in full on 2020-05-02, 10 days after receipt")
        );
    }

    #[test]
    fn deadline_is_only_for_received_money_at_nodes_with_children() {
        let mut w = World::new("652800", true, "2020-12-31");
        w.allocations
            .push(alloc(AllocKind::OwnBudget, "2020-01-30", 1000));
        assert!(w.rule(&cfg(), Rule::IssueDeadline).is_empty());
        let mut county = World::new("652822", false, "2020-12-31");
        county
            .allocations
            .push(alloc(AllocKind::Issued, "2020-01-30", 1000));
        assert!(county.rule(&cfg(), Rule::IssueDeadline).is_empty());
        // A longer deadline from the configuration.
        w.allocations[0].kind = AllocKind::Received;
        w.today = day("2020-02-10");
        assert_eq!(w.rule(&cfg(), Rule::IssueDeadline).len(), 1);
        let long = WarningsConfig {
            issue_deadline_days: 30,
            ..cfg()
        };
        assert!(w.rule(&long, Rule::IssueDeadline).is_empty());
    }

    // ---- idle funds ----

    #[test]
    fn idle_after_the_configured_days_without_movement() {
        let mut w = World::new("652822", false, "2020-07-01");
        w.allocations
            .push(alloc(AllocKind::Issued, "2020-01-10", 1000).pay("2020-04-02", 100));
        // 90 days after the last payment: not yet.
        assert!(w.rule(&cfg(), Rule::IdleFunds).is_empty());
        w.today = day("2020-07-02");
        let f = w.rule(&cfg(), Rule::IdleFunds);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].amount_fen, Some(yuan(900)));
        assert!(
            f[0].message.contains("since 2020-04-02 (91 days)"),
            "{}",
            f[0].message
        );
        // Spent in full: nothing idle.
        w.allocations[0] = w.allocations[0].clone().pay("2020-04-03", 900);
        assert!(w.rule(&cfg(), Rule::IdleFunds).is_empty());
    }

    #[test]
    fn idle_near_the_year_end_except_advance_funds() {
        let mut w = World::new("652822", false, "2020-11-30");
        w.allocations
            .push(alloc(AllocKind::Issued, "2020-06-10", 1000).pay("2020-11-20", 100));
        assert!(w.rule(&cfg(), Rule::IdleFunds).is_empty());
        w.today = day("2020-12-01");
        let f = w.rule(&cfg(), Rule::IdleFunds);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.contains("30 days before the year end"),
            "{}",
            f[0].message
        );
        // Issued in advance for next year, inside the window: exempt.
        w.allocations[0] = alloc(AllocKind::Issued, "2020-12-06", 1000);
        w.today = day("2020-12-20");
        assert!(w.rule(&cfg(), Rule::IdleFunds).is_empty());
        // The window can be switched off.
        w.allocations[0] = alloc(AllocKind::Issued, "2020-06-10", 1000).pay("2020-11-20", 100);
        let off = WarningsConfig {
            year_end_days: 0,
            ..cfg()
        };
        assert!(w.rule(&off, Rule::IdleFunds).is_empty());
    }

    // ---- slow spending ----

    #[test]
    fn slow_spending_compares_points_exactly() {
        // 2020 has 366 days; on 2020-07-01 (day 183) half the year is gone.
        let mut w = World::new("652822", false, "2020-07-01");
        w.allocations
            .push(alloc(AllocKind::Issued, "2019-12-06", 1000).pay("2020-03-01", 300));
        // 50% elapsed, 30% spent: exactly 20 points is allowed.
        assert!(w.rule(&cfg(), Rule::SlowSpending).is_empty());
        // One fen less spent: 20.001 points behind.
        w.allocations[0].paid_fen -= 1;
        let f = w.rule(&cfg(), Rule::SlowSpending);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.contains("spending progress 30.00%"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("time-elapsed progress 50%"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn slow_spending_measures_late_money_from_its_date() {
        let mut w = World::new("652822", false, "2020-06-10");
        // Arrived 2020-06-01, nothing spent: 10 of 214 days elapsed.
        w.allocations
            .push(alloc(AllocKind::Issued, "2020-06-01", 1000));
        assert!(w.rule(&cfg(), Rule::SlowSpending).is_empty());
        // Passing money on counts as progress (a prefecture's role).
        w.today = day("2020-12-01");
        assert_eq!(w.rule(&cfg(), Rule::SlowSpending).len(), 1);
        w.allocations[0] = alloc(AllocKind::Issued, "2020-06-01", 1000)
            .issue("2020-06-03", 900)
            .pay("2020-07-01", 50);
        assert!(w.rule(&cfg(), Rule::SlowSpending).is_empty());
    }

    // ---- overspend ----

    fn project(code_: &str, budget: i64, paid: i64) -> ProjectFacts {
        ProjectFacts {
            id: id("652822-3"),
            code: code_.into(),
            name: "道路硬化".into(),
            starts_on: day("2020-03-01"),
            ends_on: day("2020-10-31"),
            budget_fen: yuan(budget),
            paid_fen: yuan(paid),
            cancelled: false,
            target_count: 1,
        }
    }

    #[test]
    fn overspend_above_the_budget_only() {
        let mut w = World::new("652822", false, "2020-07-01");
        w.projects.push(project("LT2020-001", 1000, 1000));
        assert!(w.rule(&cfg(), Rule::Overspend).is_empty());
        w.projects[0].paid_fen += 1;
        let f = w.rule(&cfg(), Rule::Overspend);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "project:LT2020-001");
        assert_eq!(f[0].amount_fen, Some(1));
        // An allocation paid beyond its amount (a corrupt replica).
        w.projects.clear();
        w.allocations
            .push(alloc(AllocKind::Issued, "2020-01-10", 100).pay("2020-02-01", 100));
        assert!(w.rule(&cfg(), Rule::Overspend).is_empty());
        w.allocations[0].paid_fen += 1;
        assert_eq!(w.rule(&cfg(), Rule::Overspend).len(), 1);
    }

    // ---- payments ----

    fn payment(seq: u64, voucher: &str, on: &str, amount_fen: i64, payee: &str) -> PaymentFacts {
        PaymentFacts {
            id: EntryId {
                origin: code("652822"),
                seq,
            },
            voucher_no: voucher.into(),
            paid_on: day(on),
            amount_fen,
            allocation: id("650000-7"),
            project: "LT2020-001".into(),
            payee_name: payee.into(),
            payee_account: String::new(),
            reversed: false,
        }
    }

    fn county_with_payments(payments: Vec<PaymentFacts>) -> World {
        let mut w = World::new("652822", false, "2020-07-01");
        w.allocations
            .push(alloc(AllocKind::Issued, "2020-01-10", 1_000_000));
        w.projects.push(project("LT2020-001", 1_000_000, 0));
        w.payments = payments;
        w
    }

    #[test]
    fn unmatched_payments() {
        let ok = payment(10, "V1", "2020-03-02", 100, "甲合作社");
        let w = county_with_payments(vec![ok.clone()]);
        assert!(w.rule(&cfg(), Rule::UnmatchedPayment).is_empty());
        // Paid before the allocation's date and before the project starts.
        let mut early = ok.clone();
        early.paid_on = day("2020-01-09");
        let w = county_with_payments(vec![early.clone()]);
        let f = w.rule(&cfg(), Rule::UnmatchedPayment);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "payment:652822-10");
        assert!(
            f[0].message.contains("before allocation") && f[0].message.contains("before project")
        );
        // Reversed: no longer a warning.
        early.reversed = true;
        assert!(county_with_payments(vec![early])
            .rule(&cfg(), Rule::UnmatchedPayment)
            .is_empty());
        // A cancelled project; an unknown allocation and project.
        let mut w = county_with_payments(vec![ok.clone()]);
        w.projects[0].cancelled = true;
        assert!(w.rule(&cfg(), Rule::UnmatchedPayment)[0]
            .message
            .contains("cancelled"));
        let mut stray = ok;
        stray.allocation = id("652800-99");
        stray.project = "NOPE".into();
        let f = county_with_payments(vec![stray]).rule(&cfg(), Rule::UnmatchedPayment);
        assert!(
            f[0].message.contains("not one this node holds")
                && f[0].message.contains("not in the library")
        );
    }

    #[test]
    fn duplicate_payments_need_same_payee_amount_and_day() {
        let a = payment(10, "V1", "2020-03-02", 123_456, "甲合作社");
        let mut b = payment(11, "V2", "2020-03-02", 123_456, "甲合作社");
        // Another day, another amount, another payee: no duplicate.
        for change in 0..3 {
            let mut c = b.clone();
            match change {
                0 => c.paid_on = day("2020-03-03"),
                1 => c.amount_fen += 1,
                _ => c.payee_name = "乙合作社".into(),
            }
            let w = county_with_payments(vec![a.clone(), c]);
            assert!(w.rule(&cfg(), Rule::DuplicatePayment).is_empty());
        }
        let w = county_with_payments(vec![b.clone(), a.clone()]);
        let f = w.rule(&cfg(), Rule::DuplicatePayment);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "payment:652822-10");
        assert_eq!(f[0].amount_fen, Some(123_456));
        assert!(f[0].message.contains("V1, V2"), "{}", f[0].message);
        // The account, when given, names the payee (names are spelt loosely).
        let mut a2 = a.clone();
        a2.payee_account = "6222 01".into();
        b.payee_account = " 6222 01 ".into();
        b.payee_name = "甲农民专业合作社".into();
        assert_eq!(
            county_with_payments(vec![a2, b.clone()])
                .rule(&cfg(), Rule::DuplicatePayment)
                .len(),
            1
        );
        b.reversed = true;
        assert!(county_with_payments(vec![a, b])
            .rule(&cfg(), Rule::DuplicatePayment)
            .is_empty());
    }

    #[test]
    fn split_payments_just_under_the_limit_within_the_window() {
        // Limit 50000.00, margin 10%: 45000.00 ≤ amount < 50000.00.
        let p = |seq, on, fen| payment(seq, &format!("V{seq}"), on, fen, "丙公司");
        let three = vec![
            p(1, "2020-03-01", 4_999_999),
            p(2, "2020-03-15", 4_500_000),
            p(3, "2020-03-30", 4_800_000),
        ];
        let f = county_with_payments(three.clone()).rule(&cfg(), Rule::SplitPayments);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "payee:丙公司");
        assert_eq!(f[0].amount_fen, Some(14_299_999));
        // At the limit is not under it; below the margin is not "just" under.
        for (i, fen) in [(0, 5_000_000), (1, 4_499_999)] {
            let mut v = three.clone();
            v[i].amount_fen = fen;
            assert!(county_with_payments(v)
                .rule(&cfg(), Rule::SplitPayments)
                .is_empty());
        }
        // The third 30 days after the first falls outside a 30-day window.
        let mut v = three.clone();
        v[2].paid_on = day("2020-03-31");
        assert!(county_with_payments(v)
            .rule(&cfg(), Rule::SplitPayments)
            .is_empty());
        // Two payments are not a pattern at the default count of 3.
        assert!(county_with_payments(three[..2].to_vec())
            .rule(&cfg(), Rule::SplitPayments)
            .is_empty());
        let two = WarningsConfig {
            split_count: 2,
            ..cfg()
        };
        assert_eq!(
            county_with_payments(three[..2].to_vec())
                .rule(&two, Rule::SplitPayments)
                .len(),
            1
        );
    }

    #[test]
    fn negative_list_matches_name_or_account_exactly() {
        let mut a = payment(10, "V1", "2020-03-02", 100, "某某建筑公司");
        a.payee_account = "6222000011112222".into();
        let listed = |names: &[&str]| WarningsConfig {
            negative_list: names.iter().map(|s| (*s).to_owned()).collect(),
            ..cfg()
        };
        let w = county_with_payments(vec![a.clone()]);
        assert!(w.rule(&cfg(), Rule::NegativeList).is_empty());
        assert!(w
            .rule(&listed(&["某某建筑"]), Rule::NegativeList)
            .is_empty());
        assert_eq!(
            w.rule(&listed(&[" 某某建筑公司 "]), Rule::NegativeList)
                .len(),
            1
        );
        let f = w.rule(&listed(&["6222000011112222"]), Rule::NegativeList);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "payment:652822-10");
        a.reversed = true;
        assert!(county_with_payments(vec![a])
            .rule(&listed(&["某某建筑公司"]), Rule::NegativeList)
            .is_empty());
    }

    // ---- missing target, silent node ----

    #[test]
    fn missing_target_after_the_grace_days() {
        let mut w = World::new("652822", false, "2020-03-31");
        w.projects.push(project("LT2020-002", 1000, 0));
        w.projects[0].target_count = 0;
        // Started 2020-03-01: 30 days is still within the grace.
        assert!(w.rule(&cfg(), Rule::MissingTarget).is_empty());
        w.today = day("2020-04-01");
        assert_eq!(w.rule(&cfg(), Rule::MissingTarget).len(), 1);
        w.projects[0].cancelled = true;
        assert!(w.rule(&cfg(), Rule::MissingTarget).is_empty());
        w.projects[0].cancelled = false;
        w.projects[0].target_count = 1;
        assert!(w.rule(&cfg(), Rule::MissingTarget).is_empty());
    }

    fn target(status: &str, op: TargetOp, value: i64, actual: Option<i64>) -> TargetFacts {
        TargetFacts {
            id: EntryId {
                origin: code("652822"),
                seq: 7,
            },
            project: "LT2020-001".into(),
            project_name: "村道硬化".into(),
            status: status.into(),
            starts_on: day("2020-03-01"),
            ends_on: day("2020-12-31"),
            indicator: "道路硬化里程".into(),
            op,
            value: Decimal::from(value),
            unit: "公里".into(),
            actual: actual.map(Decimal::from),
        }
    }

    #[test]
    fn a_completed_project_short_of_its_target_deviates() {
        let mut w = World::new("652822", false, "2020-12-31");
        w.targets
            .push(target("completed", TargetOp::AtLeast, 12, Some(10)));
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].subject, "target:652822-7");
        let zh = render::render("target_deviation", &f[0].params, render::Lang::Zh).expect("zh");
        assert!(
            zh.contains("已完工") && zh.contains("未达到目标 >= 12公里"),
            "{zh}"
        );
        assert!(
            f[0].message.contains("short of its target"),
            "{}",
            f[0].message
        );
        // Met: nothing.
        w.targets[0].actual = Some(Decimal::from(12));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        // At most: above it is short too.
        w.targets[0] = target("completed", TargetOp::AtMost, 5, Some(6));
        assert_eq!(w.rule(&cfg(), Rule::TargetDeviation).len(), 1);
    }

    #[test]
    fn an_actual_behind_time_elapsed_progress_deviates() {
        // 2020-03-01 … 2020-12-31 is 305 days; on 2020-08-01, 153 days in:
        // 50.16% elapsed. 3 of 12 km is 25%: 25.16 points behind (> 20).
        let mut w = World::new("652822", false, "2020-08-01");
        w.targets
            .push(target("in_progress", TargetOp::AtLeast, 12, Some(3)));
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            f[0].params.get("elapsed").map(String::as_str),
            Some("50.16")
        );
        assert_eq!(
            f[0].params.get("progress").map(String::as_str),
            Some("25.00")
        );
        let zh = render::render("target_deviation", &f[0].params, render::Lang::Zh).expect("zh");
        assert!(
            zh.contains("落后序时进度 50.16% 25.16 个百分点（允许 20 个）"),
            "{zh}"
        );
        // 4 km is 33.33%: 16.83 points, within the 20 allowed.
        w.targets[0].actual = Some(Decimal::from(4));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        // A ceiling (≤) is not a progress: within it, nothing; a planned
        // project is not judged.
        w.targets[0] = target("in_progress", TargetOp::AtMost, 12, Some(0));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        w.targets[0] = target("planned", TargetOp::AtLeast, 12, Some(0));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
    }

    #[test]
    fn a_target_with_no_actual_by_its_due_date_deviates() {
        // The project runs 2020-03-01 … 2020-12-31: no actual is due
        // before its end.
        let mut w = World::new("652822", false, "2020-12-31");
        w.targets
            .push(target("in_progress", TargetOp::AtLeast, 12, None));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        // The day after, nothing reported: it deviates, due on its end.
        w.today = day("2021-01-01");
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "target:652822-7");
        assert_eq!(f[0].params.get("case").map(String::as_str), Some("missing"));
        assert_eq!(
            f[0].params.get("due").map(String::as_str),
            Some("2020-12-31")
        );
        let zh = render::render("target_deviation", &f[0].params, render::Lang::Zh).expect("zh");
        assert_eq!(
            zh,
            "项目 LT2020-001 村道硬化：道路硬化里程（目标 >= 12公里）截至 2020-12-31 仍未填报实际值"
        );
        assert!(f[0].message.contains("no actual"), "{}", f[0].message);
        // A project running into the next year: due at the end of the
        // year it starts in (the year-end self-evaluation).
        w.targets[0].ends_on = day("2021-06-30");
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(
            f[0].params.get("due").map(String::as_str),
            Some("2020-12-31")
        );
        w.today = day("2020-12-31");
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        // Completed with nothing reported: at once.
        w.targets[0] = target("completed", TargetOp::AtLeast, 12, None);
        w.today = day("2020-09-30");
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].params.get("due").map(String::as_str),
            Some("2020-09-30")
        );
        // Reported: nothing; planned or cancelled: not judged.
        w.targets[0].actual = Some(Decimal::from(12));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        w.today = day("2021-03-01");
        for status in ["planned", "cancelled"] {
            w.targets[0] = target(status, TargetOp::AtLeast, 12, None);
            assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty(), "{status}");
        }
    }

    #[test]
    fn a_ceiling_passed_deviates_during_the_project_and_at_its_end() {
        // ≤ 5% loss rate: 6 during the project is already past it.
        let mut w = World::new("652822", false, "2020-08-01");
        w.targets
            .push(target("in_progress", TargetOp::AtMost, 5, Some(6)));
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].params.get("case").map(String::as_str), Some("ceiling"));
        let zh = render::render("target_deviation", &f[0].params, render::Lang::Zh).expect("zh");
        assert_eq!(
            zh,
            "项目 LT2020-001 村道硬化：道路硬化里程 实际 6公里，已超出目标上限 <= 5公里"
        );
        assert!(
            f[0].message.contains("past its ceiling"),
            "{}",
            f[0].message
        );
        // At the ceiling, or under it: nothing; < is strict.
        w.targets[0].actual = Some(Decimal::from(5));
        assert!(w.rule(&cfg(), Rule::TargetDeviation).is_empty());
        w.targets[0] = target("in_progress", TargetOp::Below, 5, Some(5));
        assert_eq!(w.rule(&cfg(), Rule::TargetDeviation).len(), 1);
        // Completed past it: the completed message.
        w.targets[0] = target("completed", TargetOp::AtMost, 5, Some(6));
        let f = w.rule(&cfg(), Rule::TargetDeviation);
        let zh = render::render("target_deviation", &f[0].params, render::Lang::Zh).expect("zh");
        assert!(
            zh.contains("已完工") && zh.contains("未达到目标 <= 5公里"),
            "{zh}"
        );
    }

    #[test]
    fn silent_children_after_the_configured_hours() {
        let mut w = World::new("652800", true, "2020-07-01");
        let hour = 3_600_000;
        w.children.push(ChildFacts {
            code: code("652822"),
            name: "轮台县".into(),
            last_heard_ms: Some(w.now_ms - 24 * hour),
            revoked: false,
        });
        assert!(w.rule(&cfg(), Rule::NodeSilent).is_empty());
        w.children[0].last_heard_ms = Some(w.now_ms - 24 * hour - 1);
        let f = w.rule(&cfg(), Rule::NodeSilent);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].node, f[0].subject.as_str()),
            (code("652822"), "node:652822")
        );
        w.children[0].revoked = true;
        assert!(w.rule(&cfg(), Rule::NodeSilent).is_empty());
    }

    // ---- the plan ----

    fn raised(rule: Rule, subject: &str) -> Finding {
        finding(rule, subject.into(), code("652822"), Params::new())
    }

    #[test]
    fn plan_raises_once_and_resolves_what_cleared() {
        let today = day("2020-07-01");
        let f = raised(Rule::IdleFunds, "allocation:650000-7");
        // Nothing known: raise.
        assert_eq!(
            plan(vec![f.clone()], &[], today),
            vec![Action::Raise(f.clone())]
        );
        let known = |open| Known {
            id: id("652822-50"),
            rule: "idle_funds".into(),
            subject: "allocation:650000-7".into(),
            open,
        };
        // Open already: nothing; twice in one evaluation: still one.
        assert!(plan(vec![f.clone(), f.clone()], &[known(true)], today).is_empty());
        // Cleared: resolved, naming why.
        let a = plan(Vec::new(), &[known(true)], today);
        assert_eq!(
            a,
            vec![Action::Resolve {
                warning: id("652822-50"),
                reason: "the balance is spent, passed on or moving again (as of 2020-07-01)".into()
            }]
        );
        // Resolved before and back again: a new warning.
        assert_eq!(
            plan(vec![f.clone()], &[known(false)], today),
            vec![Action::Raise(f)]
        );
        // A rule this release does not know is left alone.
        let foreign = Known {
            rule: "from_the_future".into(),
            ..known(true)
        };
        assert!(plan(Vec::new(), &[foreign], today).is_empty());
    }

    #[test]
    fn plan_records_a_past_condition_once() {
        let today = day("2020-07-01");
        let mut f = raised(Rule::IssueDeadline, "allocation:650000-7");
        f.past = Some("passed on in full on 2020-05-02".into());
        let a = plan(vec![f.clone()], &[], today);
        assert_eq!(
            a,
            vec![Action::RaiseResolved(
                f.clone(),
                "passed on in full on 2020-05-02".into()
            )]
        );
        let k = Known {
            id: id("652800-9"),
            rule: "issue_deadline".into(),
            subject: "allocation:650000-7".into(),
            open: false,
        };
        assert!(plan(vec![f.clone()], std::slice::from_ref(&k), today).is_empty());
        // Open (raised while it was late): resolved with the past's reason.
        let open = Known { open: true, ..k };
        assert_eq!(
            plan(vec![f], &[open], today),
            vec![Action::Resolve {
                warning: id("652800-9"),
                reason: "passed on in full on 2020-05-02 (as of 2020-07-01)".into()
            }]
        );
    }

    #[test]
    fn text_is_clipped_to_fit_a_body() {
        let long = "款".repeat(TEXT_CHARS_MAX + 10);
        let c = clip(&long);
        assert_eq!(c.chars().count(), TEXT_CHARS_MAX);
        assert!(c.ends_with('…'));
        assert_eq!(clip("a\u{7}b"), "ab");
        let items: Vec<String> = (1..=7).map(|i| format!("V{i}")).collect();
        assert_eq!(
            few(&items),
            [
                ("vouchers", "V1, V2, V3, V4, V5".to_owned()),
                ("vouchers_more", "2".to_owned())
            ]
        );
    }
}
