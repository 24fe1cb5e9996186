//! The evaluator: reads the facts, runs the rules, records the plan.
//!
//! Reads go through the read pool; the raises and resolutions of one
//! evaluation are recorded in one write transaction of the evaluator's own,
//! so they land together or not at all, and a failure changes nothing and
//! is tried again on the next trigger.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::NaiveDate;
use fundsync_protocol::body::{PaymentRecorded, ProjectStatus, WarningRaised, WarningResolved};
use fundsync_protocol::{Amount, Body, EntryId, NodeCode};
use tokio::sync::watch;

use super::rules::{self, Action, AllocFacts, AllocKind, ChildFacts, Facts, PaymentFacts};
use super::{AsOf, WarningsConfig};
use crate::ledger::rows::corrupt;
use crate::ledger::{Ledger, LedgerError};

/// Payment entries read from the journal per query.
const PAYMENT_ROWS_PER_READ: i64 = 5000;
/// The shortest schedule accepted.
const EVALUATE_EVERY_MS_MIN: u64 = 1000;

/// What one evaluation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The business date the rules took as today.
    pub as_of: NaiveDate,
    pub raised: usize,
    pub resolved: usize,
    /// Whether actions were left for the next evaluation.
    pub more: bool,
}

/// Evaluates the rules for one node. Keeps a compact copy of the node's own
/// payments (read once from the journal, then only the new ones), since the
/// payee rules need fields the `payments` table does not keep.
#[derive(Debug)]
pub struct Evaluator {
    ledger: Ledger,
    cfg: WarningsConfig,
    payments: Vec<PaymentFacts>,
    payments_after: u64,
}

impl Evaluator {
    pub fn new(ledger: Ledger, cfg: WarningsConfig) -> Evaluator {
        Evaluator {
            ledger,
            cfg,
            payments: Vec::new(),
            payments_after: 0,
        }
    }

    /// The business date the rules take as today.
    pub async fn as_of(&self) -> Result<NaiveDate, LedgerError> {
        let today = self.ledger.clock().today();
        Ok(match self.cfg.as_of {
            AsOf::Today => today,
            AsOf::Date(d) => d,
            AsOf::Latest => match self.ledger.latest_business_date().await? {
                Some(d) => d.min(today),
                None => today,
            },
        })
    }

    /// Runs the rules once and records what changed.
    pub async fn evaluate(&mut self) -> Result<Report, LedgerError> {
        let today = self.as_of().await?;
        let me = self.ledger.identity().code;
        let allocations = self.allocations(me).await?;
        let projects = self.projects(me).await?;
        let targets = self.targets(me).await?;
        self.refresh_payments(me).await?;
        let children = self.children(me).await?;
        let findings = rules::evaluate(
            &Facts {
                me,
                has_children: self.ledger.identity().level.child().is_some(),
                today,
                now_ms: self.ledger.clock().now_ms(),
                allocations: &allocations,
                projects: &projects,
                targets: &targets,
                payments: &self.payments,
                children: &children,
            },
            &self.cfg,
        )
        .map_err(|rules::RuleError::Overflow| LedgerError::Overflow)?;
        let known = super::store::known(&self.ledger, me).await?;
        let mut actions = rules::plan(findings, &known, today);
        // At least one, or a backlog would be evaluated again and again.
        let max = self.cfg.entries_per_evaluation_max.max(1);
        let more = actions.len() > max;
        actions.truncate(max);
        let (raised, resolved) = self.record(actions, today).await?;
        Ok(Report {
            as_of: today,
            raised,
            resolved,
            more,
        })
    }

    async fn record(
        &self,
        actions: Vec<Action>,
        today: NaiveDate,
    ) -> Result<(usize, usize), LedgerError> {
        if actions.is_empty() {
            return Ok((0, 0));
        }
        let raise = |f: rules::Finding| {
            Body::WarningRaised(WarningRaised {
                rule: f.rule.as_str().to_owned(),
                subject: f.subject,
                node: f.node,
                message: f.message,
                as_of: today,
                amount: f.amount_fen.and_then(|fen| Amount::from_fen(fen).ok()),
                params: Some(f.params),
            })
        };
        let resolve = |warning: EntryId, reason: String| {
            Body::WarningResolved(WarningResolved {
                warning,
                reason,
                as_of: today,
            })
        };
        let (mut raised, mut resolved) = (0, 0);
        // Warnings are the node's own doing, not a person's.
        let system = fundsync_protocol::Actor::system();
        let mut work = self.ledger.begin().await?;
        for a in actions {
            match a {
                Action::Raise(f) => {
                    work.record(raise(f), &system).await?;
                    raised += 1;
                }
                Action::RaiseResolved(f, reason) => {
                    let id = work.record(raise(f), &system).await?.id();
                    work.record(resolve(id, reason), &system).await?;
                    raised += 1;
                    resolved += 1;
                }
                Action::Resolve { warning, reason } => {
                    work.record(resolve(warning, reason), &system).await?;
                    resolved += 1;
                }
            }
        }
        work.commit().await?;
        Ok((raised, resolved))
    }

    /// Allocations this node holds, with what was issued and paid from each,
    /// by date.
    async fn allocations(&self, me: NodeCode) -> Result<Vec<AllocFacts>, LedgerError> {
        let held = self.ledger.held_allocations(me).await?;
        let mut out = Vec::with_capacity(held.len());
        let mut index: HashMap<EntryId, usize> = HashMap::new();
        for a in held {
            let kind = match a.kind.as_str() {
                "received" => AllocKind::Received,
                "own_budget" => AllocKind::OwnBudget,
                "issued" => AllocKind::Issued,
                other => return Err(corrupt(format!("allocation kind {other:?}"))),
            };
            index.insert(a.id, out.len());
            out.push(AllocFacts {
                id: a.id,
                kind,
                doc_no: a.doc_no,
                category: a.category,
                dated: a.dated,
                amount_fen: a.amount_fen,
                issued_fen: a.issued_fen,
                paid_fen: a.paid_fen,
                issues: Vec::new(),
                paid_days: Vec::new(),
            });
        }
        for r in self.ledger.issued_from(me).await? {
            if let Some(&i) = index.get(&r.source) {
                out[i].issues.push((r.dated, r.amount_fen));
            }
        }
        for r in self.ledger.paid_days(me).await? {
            if let Some(&i) = index.get(&r.allocation) {
                out[i].paid_days.push((r.day, r.paid_fen));
            }
        }
        Ok(out)
    }

    async fn projects(&self, me: NodeCode) -> Result<Vec<rules::ProjectFacts>, LedgerError> {
        Ok(self
            .ledger
            .project_records(me)
            .await?
            .into_iter()
            .map(|p| rules::ProjectFacts {
                id: p.id,
                code: p.code,
                name: p.name,
                starts_on: p.starts_on,
                ends_on: p.ends_on,
                budget_fen: p.budget_fen,
                paid_fen: p.paid_fen,
                cancelled: p.status == ProjectStatus::Cancelled.as_str(),
                target_count: p.target_count,
            })
            .collect())
    }

    async fn targets(&self, me: NodeCode) -> Result<Vec<rules::TargetFacts>, LedgerError> {
        Ok(self
            .ledger
            .target_records(me)
            .await?
            .into_iter()
            .filter_map(|t| {
                Some(rules::TargetFacts {
                    id: t.id,
                    op: serde_json::from_value(serde_json::Value::String(t.op)).ok()?,
                    project: t.project,
                    project_name: t.project_name,
                    status: t.status,
                    starts_on: t.starts_on,
                    ends_on: t.ends_on,
                    indicator: t.indicator,
                    value: t.value,
                    unit: t.unit,
                    actual: t.actual,
                })
            })
            .collect())
    }

    /// Reads this node's payments recorded since the last call from the
    /// journal, and which of all of them are reversed now.
    async fn refresh_payments(&mut self, me: NodeCode) -> Result<(), LedgerError> {
        loop {
            let rows = self
                .ledger
                .payment_bodies(me, self.payments_after, PAYMENT_ROWS_PER_READ)
                .await?;
            let n = rows.len();
            for r in rows {
                let seq = r.seq;
                // The payment's own fields, whoever recorded it.
                let inner = fundsync_protocol::body::inner_bytes(&r.body);
                let p: PaymentRecorded = serde_json::from_slice(inner)
                    .map_err(|e| corrupt(format!("payment {me}-{seq}: {e}")))?;
                self.payments.push(PaymentFacts {
                    id: EntryId { origin: me, seq },
                    voucher_no: p.voucher_no,
                    paid_on: p.paid_on,
                    amount_fen: p.amount.fen(),
                    allocation: p.allocation,
                    project: p.project,
                    payee_name: p.payee_name,
                    payee_account: p.payee_account,
                    reversed: false,
                });
                self.payments_after = seq;
            }
            if i64::try_from(n).unwrap_or(i64::MAX) < PAYMENT_ROWS_PER_READ {
                break;
            }
        }
        let reversed: HashSet<i64> = self
            .ledger
            .reversed_payments(me)
            .await?
            .into_iter()
            .collect();
        for p in &mut self.payments {
            p.reversed = i64::try_from(p.id.seq).is_ok_and(|s| reversed.contains(&s));
        }
        Ok(())
    }

    /// This node's direct children, and when each was last heard from: the
    /// time its latest entry was written, or, if none has arrived, when this
    /// node registered it.
    async fn children(&self, me: NodeCode) -> Result<Vec<ChildFacts>, LedgerError> {
        let revoked: HashSet<String> = self.ledger.revoked_codes().await?.into_iter().collect();
        Ok(self
            .ledger
            .children_heard(me)
            .await?
            .into_iter()
            .map(|c| ChildFacts {
                revoked: revoked.contains(c.code.as_str()),
                code: c.code,
                name: c.name,
                last_heard_ms: c.last_heard_ms,
            })
            .collect())
    }
}

/// Evaluates `ledger`'s rules until `stop` turns true: at once, after every
/// burst of writes (waiting `debounce_ms` for the burst to end) and every
/// `evaluate_every_ms`. Its own commit does not trigger it again; a write
/// by anyone else during an evaluation does. A failed evaluation is logged;
/// the next trigger tries again.
///
/// With `own_chain` (a node with a parent: [`crate::sync::client::Link::own_chain_checked`]),
/// nothing is evaluated while it is false: raises and resolutions are entries
/// of this node's own chain, and must not reuse sequence numbers the parent
/// holds before a node restored from an old backup has taken its entries back.
pub async fn run(
    ledger: Ledger,
    cfg: WarningsConfig,
    mut stop: watch::Receiver<bool>,
    mut own_chain: Option<watch::Receiver<bool>>,
) {
    let mut changes = ledger.db().changes();
    let every = Duration::from_millis(cfg.evaluate_every_ms.max(EVALUATE_EVERY_MS_MIN));
    let debounce = Duration::from_millis(cfg.debounce_ms);
    let burst_wait = Duration::from_millis(cfg.burst_wait_ms);
    let node = ledger.identity().code;
    // Restored behind its acknowledgement mark, the ledger refuses own
    // entries: wait until it records again rather than fail every tick.
    let mut restored = ledger.ack_mark().watch();
    let mut ev = Evaluator::new(ledger, cfg);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut again = false;
    loop {
        let changed = again
            || tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                _ = tick.tick() => false,
                r = changes.changed() => {
                    if r.is_err() {
                        return;
                    }
                    true
                }
            };
        if changed {
            // Wait for the burst to end: `debounce` without a commit, but no
            // longer than `burst_wait_ms`, so a long sync or import is looked at
            // now and then rather than after every few commits.
            let until = tokio::time::Instant::now() + burst_wait;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    r = changes.changed() => {
                        if r.is_err() {
                            return;
                        }
                        if tokio::time::Instant::now() >= until {
                            break;
                        }
                    }
                    _ = tokio::time::sleep(debounce) => break,
                }
            }
        }
        if let Some(gate) = own_chain.as_mut() {
            if !*gate.borrow_and_update() {
                tokio::select! {
                    _ = stop.wait_for(|v| *v) => return,
                    r = gate.changed() => {
                        if r.is_err() {
                            return;
                        }
                    }
                }
                again = true;
                continue;
            }
        }
        if restored.borrow_and_update().is_some() {
            tokio::select! {
                _ = stop.wait_for(|v| *v) => return,
                r = restored.changed() => {
                    if r.is_err() {
                        return;
                    }
                }
            }
            again = true;
            continue;
        }
        again = false;
        let before = *changes.borrow_and_update();
        match ev.evaluate().await {
            Ok(r) => {
                let wrote = r.raised > 0 || r.resolved > 0;
                if wrote {
                    tracing::info!(
                        node = %node,
                        as_of = %r.as_of,
                        raised = r.raised,
                        resolved = r.resolved,
                        more = r.more,
                        "warnings evaluated"
                    );
                }
                // Commits other than this evaluation's own mean new data.
                let after = *changes.borrow_and_update();
                again = r.more || after != before.wrapping_add(u64::from(wrote));
            }
            Err(e) => tracing::warn!(
                node = %node,
                error = %e,
                "warning evaluation failed; will try again on the next change or tick"
            ),
        }
    }
}
